"""An arcball camera for the 3D scene: pure numpy, no OpenGL, no window.

World coordinates are those of :mod:`ais_like.mesh`: x = column, y = row, z = slice, in Å.
The camera looks at ``target`` from ``distance`` Å away; ``rotation`` is a 3 x 3 matrix whose
rows are the camera's right, up and backward axes in world coordinates (world -> camera), so the
eye sits at ``target + distance * rotation[2]`` and looks along ``-rotation[2]``.

Dragging follows Shoemake's arcball: the two screen points are lifted onto a unit ball over the
viewport and the scene turns by twice the angle between them, about their cross product. That
rotation is ``q(a, b) = b a^-1`` in quaternions, so consecutive drags compose to ``q(first,
last)``: the result of a drag depends only on where it started and ended, and a closed path
brings the scene back exactly where it was.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


def rotation_about(axis, angle: float) -> np.ndarray:
    """3 x 3 rotation by ``angle`` radians about ``axis`` (right-hand rule)."""
    a = np.asarray(axis, np.float64)
    n = np.linalg.norm(a)
    if n == 0 or angle == 0:
        return np.eye(3)
    x, y, z = a / n
    c, s = math.cos(angle), math.sin(angle)
    C = 1.0 - c
    return np.array([[c + x * x * C, x * y * C - z * s, x * z * C + y * s],
                     [y * x * C + z * s, c + y * y * C, y * z * C - x * s],
                     [z * x * C - y * s, z * y * C + x * s, c + z * z * C]])


def orthonormalise(r: np.ndarray) -> np.ndarray:
    """The nearest rotation matrix (removes drift from many composed rotations)."""
    u, _, vt = np.linalg.svd(np.asarray(r, np.float64))
    m = u @ vt
    if np.linalg.det(m) < 0:
        u[:, -1] *= -1
        m = u @ vt
    return m


def ball_point(p, viewport) -> np.ndarray:
    """Lift screen point ``p`` (x, y; y down) onto the unit arcball over ``viewport`` (x, y, w, h),
    in camera coordinates (x right, y up, z towards the viewer). Points outside the ball land on
    its rim."""
    vx, vy, vw, vh = (float(v) for v in viewport)
    r = max(min(vw, vh), 1.0) / 2.0
    x = (float(p[0]) - (vx + vw / 2.0)) / r
    y = ((vy + vh / 2.0) - float(p[1])) / r
    d2 = x * x + y * y
    if d2 > 1.0:
        d = math.sqrt(d2)
        return np.array([x / d, y / d, 0.0])
    return np.array([x, y, math.sqrt(1.0 - d2)])


def arc_rotation(a, b) -> np.ndarray:
    """The arcball rotation (camera frame) taking unit vector ``a`` towards ``b``: twice their
    angle about ``a x b`` (Shoemake), i.e. the quaternion ``b a^-1`` as a matrix."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    w = float(np.dot(a, b))
    x, y, z = np.cross(a, b)
    # unit quaternion (w, x, y, z) -> matrix
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def default_rotation() -> np.ndarray:
    """Looking down the slices like the slice view (x right, y down on screen), tilted a little
    so the volume reads as 3D."""
    base = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])
    tilt = rotation_about((1, 0, 0), math.radians(-35.0)) @ rotation_about((0, 1, 0), math.radians(20.0))
    return tilt @ base


@dataclass
class Camera:
    """Arcball camera. ``target`` (x, y, z Å), ``distance`` (Å), ``rotation`` (world -> camera),
    ``fov`` (vertical, degrees), ``radius`` (Å, the scene's size, for the clip planes)."""

    target: np.ndarray = field(default_factory=lambda: np.zeros(3))
    distance: float = 1000.0
    rotation: np.ndarray = field(default_factory=default_rotation)
    fov: float = 30.0
    radius: float = 500.0

    def __post_init__(self):
        self.target = np.asarray(self.target, np.float64).reshape(3)
        self.rotation = np.asarray(self.rotation, np.float64).reshape(3, 3)

    # -- geometry ----------------------------------------------------------------------------

    @property
    def eye(self) -> np.ndarray:
        return self.target + self.distance * self.rotation[2]

    def view_matrix(self) -> np.ndarray:
        """4 x 4 world -> camera matrix (row-major numpy; transpose for OpenGL's column order)."""
        m = np.eye(4)
        m[:3, :3] = self.rotation
        m[:3, 3] = -self.rotation @ self.eye
        return m

    def clip_planes(self) -> tuple[float, float]:
        far = self.distance + 2.0 * self.radius
        near = max(self.distance - 2.0 * self.radius, far * 1e-4)
        return near, far

    def projection(self, aspect: float) -> np.ndarray:
        """4 x 4 perspective projection (OpenGL clip space) for a viewport of ``aspect`` = w / h."""
        near, far = self.clip_planes()
        f = 1.0 / math.tan(math.radians(self.fov) / 2.0)
        aspect = max(float(aspect), 1e-6)
        m = np.zeros((4, 4))
        m[0, 0] = f / aspect
        m[1, 1] = f
        m[2, 2] = (far + near) / (near - far)
        m[2, 3] = 2.0 * far * near / (near - far)
        m[3, 2] = -1.0
        return m

    def project(self, points, aspect: float) -> np.ndarray:
        """World points (n, 3) -> normalised device coordinates (n, 3)."""
        p = np.asarray(points, np.float64).reshape(-1, 3)
        h = np.c_[p, np.ones(len(p))] @ (self.projection(aspect) @ self.view_matrix()).T
        return h[:, :3] / h[:, 3:4]

    # -- interaction -------------------------------------------------------------------------

    def rotate_drag(self, p0, p1, viewport) -> None:
        """Turn the scene as if the ball under screen point ``p0`` were dragged to ``p1``."""
        q = arc_rotation(ball_point(p0, viewport), ball_point(p1, viewport))
        self.rotation = orthonormalise(q @ self.rotation)

    def zoom(self, factor: float) -> None:
        """Move closer by ``factor`` (> 1 zooms in)."""
        if factor > 0 and math.isfinite(factor):
            self.distance = float(np.clip(self.distance / factor, self.radius * 1e-3, self.radius * 1e3))

    def pan(self, dx: float, dy: float, viewport_height: float) -> None:
        """Move the scene with the mouse: ``dx, dy`` screen pixels (y down) in a viewport
        ``viewport_height`` pixels tall; the point under the cursor at the target's depth follows."""
        per_px = 2.0 * self.distance * math.tan(math.radians(self.fov) / 2.0) / max(float(viewport_height), 1.0)
        right, up = self.rotation[0], self.rotation[1]
        self.target = self.target - right * dx * per_px + up * dy * per_px

    def fit(self, bounds, aspect: float = 1.0) -> None:
        """Aim at the centre of ``bounds`` ((x0, y0, z0), (x1, y1, z1)) from far enough that
        their bounding sphere fits the view (both ways for a viewport of ``aspect``)."""
        lo, hi = (np.asarray(b, np.float64).reshape(3) for b in bounds)
        self.target = (lo + hi) / 2.0
        self.radius = max(float(np.linalg.norm(hi - lo)) / 2.0, 1e-3)
        half_v = math.radians(self.fov) / 2.0
        half_h = math.atan(math.tan(half_v) * max(float(aspect), 1e-6))
        self.distance = self.radius / math.sin(min(half_v, half_h)) * 1.05

    def reset(self, bounds=None, aspect: float = 1.0) -> None:
        self.rotation = default_rotation()
        if bounds is not None:
            self.fit(bounds, aspect)
