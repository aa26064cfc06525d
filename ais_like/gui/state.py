"""The workbench's one application-state object, and the view arithmetic of the slice canvas.

Nothing here imports imgui, glfw or OpenGL: the state is plain Python over the core's objects,
so tests build it, record actions on it and apply them without a window.

Panels (``ais_like.gui.panels.*``) draw from this state and *record* what the user asked for
with :meth:`AppState.request`; :func:`ais_like.gui.actions.apply_pending` carries the requests
out after the frame's widgets were drawn. Slow work goes to :attr:`AppState.jobs` (background
threads, a synchronous mode for tests) or to the model worker process.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

TABS = ("Datasets", "Annotation", "Models", "Export", "Render")
TOOLS = ("brush", "eraser", "flood", "box+", "box-")
FILTERS = ("none", "gaussian", "bandpass")


# ------------------------------------------------------------------------------------------
# View: image pixel <-> screen pixel


@dataclass
class View:
    """Zoom and pan of the slice canvas.

    ``centre`` is the image position (x, y), in the tomogram's pixels, shown at the canvas
    centre; ``zoom`` is screen pixels per image pixel. Screen and image y both grow downwards.
    """

    zoom: float = 1.0
    centre: tuple[float, float] = (0.0, 0.0)

    def to_screen(self, rect, x: float, y: float) -> tuple[float, float]:
        cx, cy = rect[0] + rect[2] / 2.0, rect[1] + rect[3] / 2.0
        return cx + (x - self.centre[0]) * self.zoom, cy + (y - self.centre[1]) * self.zoom

    def to_image(self, rect, sx: float, sy: float) -> tuple[float, float]:
        cx, cy = rect[0] + rect[2] / 2.0, rect[1] + rect[3] / 2.0
        return self.centre[0] + (sx - cx) / self.zoom, self.centre[1] + (sy - cy) / self.zoom

    def fit(self, rect, shape_yx) -> None:
        """Show the whole (y, x) image in ``rect`` (x, y, w, h), centred."""
        ny, nx = shape_yx
        self.zoom = max(1e-3, 0.95 * min(rect[2] / max(nx, 1), rect[3] / max(ny, 1)))
        self.centre = (nx / 2.0, ny / 2.0)

    def zoom_at(self, rect, sx: float, sy: float, factor: float) -> None:
        """Zoom by ``factor`` keeping the image point under the screen point (sx, sy) fixed."""
        x, y = self.to_image(rect, sx, sy)
        self.zoom = float(np.clip(self.zoom * factor, 0.02, 64.0))
        x2, y2 = self.to_image(rect, sx, sy)
        self.centre = (self.centre[0] + x - x2, self.centre[1] + y - y2)

    def pan(self, dx_screen: float, dy_screen: float) -> None:
        self.centre = (self.centre[0] - dx_screen / self.zoom, self.centre[1] - dy_screen / self.zoom)


# ------------------------------------------------------------------------------------------
# Per-area state


@dataclass
class Display:
    """How the current slice is shown (never changes what models see)."""

    contrast: tuple[float, float] = (0.0, 1.0)  # window in raw data values
    invert: bool = False
    filter: str = "none"  # one of FILTERS
    gaussian_sigma: float = 1.5  # px
    lowpass_a: float = 20.0  # Å
    highpass_a: float = 400.0  # Å
    auto_saturation: float = 0.5  # % of pixels clipped at each end by auto-contrast


@dataclass
class AnnotationUI:
    tool: str = "brush"  # one of TOOLS
    brush_radius: float = 8.0  # tomogram pixels
    flood_tolerance: float = 0.5  # in sigmas of the slice
    ignore: bool = False  # paint "ignore" (2) instead of the feature (1)
    feature: str | None = None  # the active feature
    undo: object = None  # ais_like.painting.UndoStack, created by the state
    stroke_last: tuple[float, float] | None = None  # last brush point (y, x) of the running stroke
    flood_in_brush: bool = True  # the flood fill stays within the brush radius of the click (flood brush)
    stroke_erase: bool = False  # the running stroke erases
    stroke_dataset: str | None = None  # dataset the running stroke paints on


@dataclass
class ModelEntry:
    """A model in the session: trained here or loaded from a .scnm.

    ``key`` is stable for the session; ``version`` bumps when the weights change (training),
    so preview caches keyed by it refresh.
    """

    key: str
    title: str
    architecture: str
    feature: str | None = None
    colour: tuple = (0.3, 0.75, 0.95)
    alpha: float = 0.6
    threshold: float = 0.5
    show: bool = True
    active: bool = True
    version: int = 0
    path: Path | None = None  # the .scnm it was loaded from or last saved to
    file: Path | None = None  # the current .scnm on disk (session temp after training; Export uses it)
    metadata: dict = field(default_factory=dict)
    emit: bool = False
    absorb: bool = False
    status: str = "untrained"  # untrained | loading | training | trained | loaded | error
    previous_status: str = "untrained"  # restored when a training is stopped before it started
    losses: list = field(default_factory=list)  # per-batch loss of the last training
    epoch_losses: list = field(default_factory=list)
    epoch_batches: list = field(default_factory=list)  # batches trained at the end of each epoch (plot x)
    live: int = 0  # batches trained when the preview last asked (intermediate predictions: (version, live))
    progress: float = 0.0  # of the running training, 0..1
    message: str = ""  # one line: what the model is doing / what went wrong
    check: str = ""  # the trained model's check ("ok", "all_background", ...; training.Health), "" unknown
    check_message: str = ""  # its one line, shown beside the model when it failed
    seconds: float = 0.0  # of the last training
    # training settings
    epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 1e-3
    box_size: int = 64
    n_tiles: int = 1000
    positive_fraction: float = 0.5


@dataclass
class ModelsUI:
    entries: list = field(default_factory=list)  # ModelEntry, in display order
    interactions: list = field(default_factory=list)  # dicts {parent, partner, kind, radius_nm, threshold}
    interaction_mode: str = "2d"
    selected: str | None = None  # key of the selected entry
    new_architecture: str = "UNet S"
    new_feature: str | None = None  # feature chosen for the next new model (None: the active one)
    next_key: int = 1
    preview_interval: float = 1.0  # s between intermediate predictions during training
    crash_reloads: int = 3  # automatic reloads after worker crashes left


@dataclass
class ExportUI:
    """The Export tab's choices; pick / mesh options have the names and defaults of ``ais-like
    pick`` / ``ais-like mesh`` (0 = not given for sizes, margin, counts and decimation)."""

    out_dir: str = ""
    datasets: set = field(default_factory=set)  # names chosen for export
    models: set = field(default_factory=set)  # model keys chosen
    z_range: tuple[int, int] | None = None  # (start, stop) slices; None: every slice
    crop_x: tuple[int, int] | None = None  # (start, stop) columns; None: no crop
    crop_y: tuple[int, int] | None = None  # (start, stop) rows
    tta: int = 1
    workers: int = 1  # local Dask worker processes
    pick: bool = False
    pick_threshold: float = 0.5
    pick_min_volume: float = 0.0  # Å³
    pick_min_spacing: float = 0.0  # Å
    pick_bin: int = 1
    pick_margin: float = 0.0  # Å
    pick_max_particles: int = 0
    pick_position: str = "centroid"  # centroid | maximum
    pick_format: str = "star"  # star | star5 | txt
    mesh: bool = False
    mesh_threshold: float = 0.5
    mesh_bin: int = 1
    mesh_dust: float = 0.0  # Å³
    mesh_smooth: int = 0
    mesh_decimate: int = 0  # faces
    mesh_frame: str = "voxel"  # voxel | header
    queue: list = field(default_factory=list)  # ais_like.gui.exporting.ExportJob, in queue order
    existing: list = field(default_factory=list)  # segmentation files found in out_dir
    existing_chosen: set = field(default_factory=set)  # those chosen to pick / mesh


@dataclass
class RenderUI:
    surfaces: list = field(default_factory=list)  # dicts per segmentation: path, feature, level, dust, bin, colour, alpha, show (ais_like.gui.scene.new_surface)
    particles: list = field(default_factory=list)  # dicts: path, colour, radius, show (ais_like.gui.scene.new_particles)
    show_slice: bool = True
    show_box: bool = True  # the tomogram's outline
    camera: object = None  # ais_like.gui.camera.Camera (pure numpy), created on first use
    auto_fit: bool = True  # refit the camera when items are added, until the user pans or zooms
    next_id: int = 0


@dataclass
class Notification:
    level: str  # "info" | "warning" | "error"
    text: str  # one line
    details: str = ""
    time: float = field(default_factory=time.time)
    seen: bool = False


# ------------------------------------------------------------------------------------------


class AppState:
    """Everything the workbench shows and edits.

    The project (:class:`ais_like.project.Project`) holds datasets, features, annotations and
    model references; this object adds what is open, what is shown, the tools, the models of
    the session, the job manager and the notifications.
    """

    def __init__(self, project=None, project_path: Path | None = None, *, sync_jobs: bool = False):
        from ..painting import UndoStack
        from ..project import Project
        from .jobs import JobManager

        self.project = project if project is not None else Project()
        self.project_path = Path(project_path) if project_path else self.project.path
        self.tab = "Datasets"
        self.current: str | None = None  # the shown dataset's name
        self.z = 0
        self.view = View()
        self.view_fitted = False
        self.display = Display()
        self.annotation = AnnotationUI(undo=UndoStack())
        self.models = ModelsUI()
        self.export = ExportUI()
        self.render = RenderUI()
        self.notifications: list[Notification] = []
        self.jobs = JobManager(sync=sync_jobs)
        self.pending: list[tuple[str, dict]] = []
        self.canvas_rect = (0.0, 0.0, 1.0, 1.0)  # x, y, w, h in framebuffer pixels
        self.quit = False
        self.frame = 0
        self.autosave_interval = 5.0  # seconds
        self.last_autosave = time.time()
        self._volumes: dict[str, object] = {}
        self._slice_cache: dict[tuple, np.ndarray] = {}
        self.worker = None  # ais_like.gui.worker.ModelWorker, started on first use
        self.preview = None  # ais_like.gui.preview.Preview, created on first use
        self.extra: dict = {}  # free room for panels' transient values
        if self.project.datasets:
            self.current = next(iter(self.project.datasets))
        if self.project.features:
            self.annotation.feature = next(iter(self.project.features))

    # -- intents -----------------------------------------------------------------------------

    def request(self, name: str, /, **kwargs) -> None:
        """Record an action (see ais_like.gui.actions) to be applied after drawing."""
        self.pending.append((name, kwargs))

    def notify(self, text: str, level: str = "info", details: str = "") -> None:
        text = " ".join(str(text).split())
        self.notifications.append(Notification(level, text, details))
        del self.notifications[:-50]

    def error(self, text: str, details: str = "") -> None:
        self.notify(text, "error", details)

    # -- datasets ----------------------------------------------------------------------------

    @property
    def dataset(self):
        """The shown ais_like.project.Dataset, or None."""
        if self.current is None:
            return None
        return self.project.datasets.get(self.current)

    def volume(self, name: str | None = None):
        """The opened ais_like.volume.Volume of a dataset (opened once, memory-mapped)."""
        name = name or self.current
        if name is None:
            return None
        vol = self._volumes.get(name)
        if vol is None:
            vol = self.project.dataset(name).open()
            self._volumes[name] = vol
        return vol

    def close_volume(self, name: str) -> None:
        vol = self._volumes.pop(name, None)
        if vol is not None:
            vol.close()
        self._slice_cache = {k: v for k, v in self._slice_cache.items() if k[0] != name}

    @property
    def shape(self) -> tuple[int, int, int] | None:
        ds = self.dataset
        return None if ds is None else ds.shape

    @property
    def apix(self) -> float | None:
        vol = self.volume()
        return None if vol is None else vol.apix

    def raw_slice(self, z: int | None = None, name: str | None = None) -> np.ndarray:
        """The raw (y, x) float32 slice of a dataset (a small cache of recent slices)."""
        name = name or self.current
        z = self.z if z is None else int(z)
        key = (name, z)
        a = self._slice_cache.get(key)
        if a is None:
            a = np.asarray(self.volume(name).slice(z), np.float32)
            if len(self._slice_cache) > 16:
                self._slice_cache.pop(next(iter(self._slice_cache)))
            self._slice_cache[key] = a
        return a

    def set_z(self, z: int) -> None:
        shape = self.shape
        if shape is None:
            return
        self.z = int(np.clip(int(z), 0, shape[0] - 1))

    # -- models ------------------------------------------------------------------------------

    def model(self, key: str) -> ModelEntry | None:
        for m in self.models.entries:
            if m.key == key:
                return m
        return None

    def new_model_key(self) -> str:
        k = f"m{self.models.next_key}"
        self.models.next_key += 1
        return k

    def close(self) -> None:
        """Stop background work (jobs, the model worker, export pools) and close files."""
        self.jobs.shutdown()
        for closer in self.extra.pop("closers", []):
            try:
                closer()
            except Exception as exc:  # closing must go on whatever one closer does
                self.notify(f"closing: {type(exc).__name__}: {exc}", "warning")
        if self.worker is not None:
            self.worker.close()
            self.worker = None
        for name in list(self._volumes):
            self.close_volume(name)
