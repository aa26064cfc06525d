"""Surface meshes of segmentation volumes: marching cubes per connected piece, dust removal,
Taubin smoothing, decimation, vertex normals, Wavefront .obj export.

Frame: vertices are x, y, z in Å. By default the origin is the centre of voxel (0, 0, 0), so
voxel ``(z, y, x)`` of the volume is at ``(x * apix, y * apix, z * apix)``; with
``frame="header"`` the MRC header's origin (or, when it is zero, ``nxstart/nystart/nzstart *
apix``, as ChimeraX places maps) is added, so the mesh overlays the map in ChimeraX. Faces are
counter-clockwise seen from outside and normals point outward (towards lower prediction).

Each connected piece (26-connected voxels above the threshold) is meshed on its own bounding
box, with the voxels of other pieces set to 0: one object per piece in the .obj, and the same
surface as marching cubes over the whole volume gives. Pieces are found slab by slab
(:func:`ais_like.picking.iter_components`), so the volume is never loaded whole; memory is
bounded by the slab plus the largest piece's bounding box.
"""

from __future__ import annotations

import math
import os
import re
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import InputError
from .interactions import as_prediction, check_threshold
from .interactions import value_max as dtype_value_max
from .picking import binned, check_folder, default_block, iter_components, output_path, to_pixels
from .progress import ProgressFn, null_progress

# Ais's default model colours (RGB 0..1); a feature gets one by a stable hash of its name.
PALETTE = ((0.259, 0.839, 0.643), (1.0, 0.953, 0.0), (1.0, 0.408, 0.0), (1.0, 0.051, 0.0),
           (0.682, 0.0, 1.0), (0.082, 0.0, 1.0), (0.0, 0.533, 1.0), (0.0, 0.969, 1.0), (0.0, 1.0, 0.0))
TAUBIN_LAMBDA = 0.5
TAUBIN_MU = -0.53
MIN_LEVEL = 1e-3  # marching cubes needs a level above the zeros around each piece


@dataclass
class MeshPiece:
    """One connected piece.

    vertices : float32 (n, 3) x, y, z in Å. faces : int32 (m, 3) indices into ``vertices``,
    counter-clockwise seen from outside. normals : float32 (n, 3) unit vertex normals,
    outward. volume_A3 : the piece's voxel volume (voxels above threshold x voxel volume).
    """

    vertices: np.ndarray
    faces: np.ndarray
    normals: np.ndarray
    volume_A3: float = 0.0


@dataclass
class Mesh:
    pieces: list
    apix: float
    params: dict = field(default_factory=dict)

    @property
    def n_faces(self) -> int:
        return int(sum(len(p.faces) for p in self.pieces))

    @property
    def n_vertices(self) -> int:
        return int(sum(len(p.vertices) for p in self.pieces))

    def combined(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All pieces as one (vertices, faces, normals) triple (for drawing in one call)."""
        if not self.pieces:
            return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int32), np.zeros((0, 3), np.float32)
        offs = np.cumsum([0] + [len(p.vertices) for p in self.pieces[:-1]])
        v = np.concatenate([p.vertices for p in self.pieces])
        f = np.concatenate([p.faces + o for p, o in zip(self.pieces, offs)]).astype(np.int32)
        n = np.concatenate([p.normals for p in self.pieces])
        return v, f, n


# ---------------------------------------------------------------------------------------------
# Geometry helpers


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals (float32 (n, 3)); right-hand rule on the face order."""
    v = np.asarray(vertices, np.float64)
    f = np.asarray(faces, np.int64)
    out = np.zeros_like(v)
    if len(f):
        fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])  # length = 2 * area
        for k in range(3):
            np.add.at(out, f[:, k], fn)
    norm = np.linalg.norm(out, axis=1, keepdims=True)
    return (out / np.where(norm > 0, norm, 1.0)).astype(np.float32)


def signed_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    """Enclosed volume of a closed mesh (positive when faces are counter-clockwise from outside)."""
    v = np.asarray(vertices, np.float64)
    f = np.asarray(faces, np.int64)
    if not len(f):
        return 0.0
    return float(np.einsum("ij,ij->i", v[f[:, 0]], np.cross(v[f[:, 1]], v[f[:, 2]])).sum() / 6.0)


def _adjacency(n: int, faces: np.ndarray):
    from scipy.sparse import coo_matrix

    f = np.asarray(faces, np.int64)
    i = np.concatenate([f[:, 0], f[:, 1], f[:, 2], f[:, 1], f[:, 2], f[:, 0]])
    j = np.concatenate([f[:, 1], f[:, 2], f[:, 0], f[:, 0], f[:, 1], f[:, 2]])
    a = coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n)).tocsr()
    a.data[:] = 1.0  # each edge once, whatever its multiplicity
    return a


def taubin_smooth(vertices: np.ndarray, faces: np.ndarray, iterations: int,
                  lam: float = TAUBIN_LAMBDA, mu: float = TAUBIN_MU) -> np.ndarray:
    """Taubin's lambda|mu smoothing (uniform Laplacian): smooths without shrinking.

    Each iteration moves every vertex by ``lam`` times the mean offset to its neighbours, then by
    ``mu`` (< -lam) times it. Returns new float64 vertices; the input is not modified.
    """
    v = np.asarray(vertices, np.float64).copy()
    if iterations <= 0 or not len(faces):
        return v
    a = _adjacency(len(v), faces)
    deg = np.asarray(a.sum(axis=1)).ravel()
    inv = np.where(deg > 0, 1.0 / np.where(deg > 0, deg, 1.0), 0.0)[:, None]
    for _ in range(int(iterations)):
        for factor in (lam, mu):
            lap = (a @ v) * inv - v
            lap[deg == 0] = 0.0
            v += factor * lap
    return v


def _cluster_ids(v: np.ndarray, cell: float, base: np.ndarray, group: np.ndarray | None = None) -> np.ndarray:
    """Cluster index of every vertex: its grid cell (and its piece, ``group``), numbered 0..k-1."""
    keys = np.floor((v - base) / cell).astype(np.int64)
    keys -= keys.min(axis=0)
    dims = keys.max(axis=0) + 1
    flat = (keys[:, 0] * dims[1] + keys[:, 1]) * dims[2] + keys[:, 2]
    if group is not None:
        flat = flat + group.astype(np.int64) * int(dims.prod())
    _, inv = np.unique(flat, return_inverse=True)
    return inv.ravel()


def _clustered_faces(ids: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Faces between three different clusters, each set of three clusters once (either winding)."""
    f = ids[faces]
    f = f[(f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])]
    if not len(f):
        return f.reshape(0, 3)
    s = np.sort(f, axis=1).astype(np.int64)
    n = int(s.max()) + 1
    if n < (1 << 21):
        key = (s[:, 0] << 42) | (s[:, 1] << 21) | s[:, 2]
        _, first = np.unique(key, return_index=True)
    else:
        _, first = np.unique(s, axis=0, return_index=True)
    return f[np.sort(first)]


def _quadric_positions(v: np.ndarray, faces: np.ndarray, ids: np.ndarray, n: int, cell: float) -> np.ndarray:
    """Cluster representatives minimising the summed squared distance to the original faces'
    planes (Lindstrom 2000), pulled towards the cluster mean where that is ill-determined."""
    counts = np.bincount(ids, minlength=n).astype(np.float64)
    mean = np.stack([np.bincount(ids, weights=v[:, k], minlength=n) for k in range(3)], 1) / np.maximum(counts, 1)[:, None]
    p0 = v[faces[:, 0]]
    nrm = np.cross(v[faces[:, 1]] - p0, v[faces[:, 2]] - p0)
    area2 = np.linalg.norm(nrm, axis=1)
    good = area2 > 0
    unit = np.zeros_like(nrm)
    unit[good] = nrm[good] / area2[good, None]
    d = -np.einsum("ij,ij->i", unit, p0)
    w = area2 / 2.0
    a_mat = np.zeros((n, 3, 3))
    b_vec = np.zeros((n, 3))
    outer = unit[:, :, None] * unit[:, None, :] * w[:, None, None]
    lin = unit * (d * w)[:, None]
    for k in range(3):
        cid = ids[faces[:, k]]
        np.add.at(a_mat, cid, outer)
        np.add.at(b_vec, cid, lin)
    reg = np.maximum(np.trace(a_mat, axis1=1, axis2=2) / 3.0, 1e-12) * 1e-2
    lhs = a_mat + reg[:, None, None] * np.eye(3)
    rhs = -b_vec + reg[:, None] * mean
    pos = np.linalg.solve(lhs, rhs[:, :, None])[:, :, 0]
    # A representative never leaves its cell's neighbourhood (thin or flat clusters).
    far = np.linalg.norm(pos - mean, axis=1) > math.sqrt(3.0) * cell
    pos[far] = mean[far]
    return pos


def decimate_pieces(pieces: list[tuple[np.ndarray, np.ndarray]], target_faces: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Reduce meshes to at most ``target_faces`` faces in all, by vertex clustering.

    One grid (cell size found by bisection) is shared by all pieces, so detail is reduced
    evenly; each cluster's vertex is placed by quadric error minimisation. Pieces smaller than a
    cell vanish. Returns new (vertices float64, faces int64) pairs (empty pieces dropped).
    """
    target = int(target_faces)
    total = sum(len(f) for _, f in pieces)
    if target <= 0:
        raise InputError(f"decimate: the target face count must be > 0, got {target_faces}")
    if total <= target:
        return [(np.asarray(v, np.float64), np.asarray(f, np.int64)) for v, f in pieces]
    allv = np.concatenate([np.asarray(v, np.float64) for v, _ in pieces])
    base = allv.min(axis=0)
    # Mean edge length of the input: the smallest useful cell.
    v0, f0 = pieces[0]
    edge = float(np.mean(np.linalg.norm(np.asarray(v0)[f0[:, 0]] - np.asarray(v0)[f0[:, 1]], axis=1))) or 1.0
    extent = float(np.max(allv.max(axis=0) - base)) or 1.0

    allf = np.concatenate([np.asarray(f, np.int64) + o for (_, f), o in
                           zip(pieces, np.cumsum([0] + [len(v) for v, _ in pieces[:-1]]))])
    group = np.concatenate([np.full(len(v), i, np.int64) for i, (v, _) in enumerate(pieces)])

    def count(cell):
        return len(_clustered_faces(_cluster_ids(allv, cell, base, group), allf))

    lo, hi = edge * 0.5, max(edge, extent)
    while count(hi) > target and hi < extent * 1e3:
        hi *= 2.0
    for _ in range(18):  # bisection on the log scale: faces fall as the cell grows
        mid = math.sqrt(lo * hi)
        if count(mid) > target:
            lo = mid
        else:
            hi = mid
        if hi / lo < 1.02:
            break
    out = []
    for v, f in pieces:
        v = np.asarray(v, np.float64)
        f = np.asarray(f, np.int64)
        ids = _cluster_ids(v, hi, base)
        nf = _clustered_faces(ids, f)
        if not len(nf):
            out.append((np.zeros((0, 3)), np.zeros((0, 3), np.int64)))
            continue
        pos = _quadric_positions(v, f, ids, int(ids.max()) + 1, hi)
        used = np.unique(nf)
        remap = np.full(len(pos), -1, np.int64)
        remap[used] = np.arange(len(used))
        out.append((pos[used], remap[nf]))
    return out


# ---------------------------------------------------------------------------------------------
# Meshing


def mesh_volume(volume, apix: float, *, threshold: float = 0.5, bin: int = 1,
                dust: float | None = None, dust_px: float | None = None, smooth: int = 0,
                decimate: int | None = None, origin: tuple = (0.0, 0.0, 0.0),
                value_max: float | None = None, block: int | None = None,
                progress: ProgressFn | None = None, name: str = "segmentation") -> Mesh:
    """Mesh the surface ``prediction = threshold`` of each connected piece.

    Parameters
    ----------
    volume : array-like (z, y, x), uint8/uint16 0..255 or float 0..1; read in slabs.
    apix : voxel size in Å (vertices are in Å).
    threshold : 0..1 (whatever the dtype).
    bin : mesh the volume averaged over ``bin``^3 blocks (faster, coarser).
    dust, dust_px : drop pieces whose voxel volume is below this (Å^3, or unbinned voxels).
    smooth : Taubin smoothing iterations (0: none).
    decimate : at most this many faces in all (None: keep every face).
    origin : (x, y, z) Å added to every vertex (the frame's origin, see the module docstring).
    value_max : the stored value of probability 1 (default by dtype: 255 integers, 1 floats).

    Returns
    -------
    Mesh : pieces largest first; zero pieces is a valid result.
    """
    from skimage.measure import marching_cubes

    progress = progress or null_progress
    threshold = check_threshold(threshold, f"{name}: threshold")
    if apix is None or not (math.isfinite(apix) and apix > 0):
        raise InputError(f"{name}: the voxel size is unknown; pass --apix (Å per pixel)")
    b = int(bin)
    if b < 1 or b != bin:
        raise InputError(f"bin must be a whole number >= 1, got {bin}")
    smooth = int(smooth)
    if smooth < 0:
        raise InputError(f"smooth: the number of iterations must be >= 0, got {smooth}")
    if decimate is not None and int(decimate) <= 0:
        raise InputError(f"decimate: the target face count must be > 0, got {decimate}")
    shape = tuple(int(n) for n in volume.shape)
    if len(shape) != 3:
        raise InputError(f"{name}: expected a (z, y, x) volume, got shape {shape}")
    block = default_block(shape) if block is None else int(block)
    dust_v = to_pixels(dust, dust_px, apix, 3, "dust")
    dtype = as_prediction(np.empty(0, np.dtype(volume.dtype)), name).dtype
    scale = float(value_max) if value_max is not None else dtype_value_max(dtype, name)
    data = binned(volume, b, block=block, name=name) if b > 1 else volume
    level = max(threshold, MIN_LEVEL)
    min_voxels = max(1, int(math.ceil(dust_v / b ** 3 - 1e-9)))
    origin = np.asarray(origin, np.float64).reshape(3)
    raw_pieces = []
    for comp in iter_components(data, threshold=threshold, scale=scale, block=block, min_voxels=min_voxels,
                                check=b == 1, name=name, progress=progress):
        vals = comp.values
        if float(vals.max()) <= level:
            continue
        verts, faces, _, _ = marching_cubes(vals, level=level, allow_degenerate=False)
        if not len(faces):
            continue
        idx = verts.astype(np.float64) + np.asarray(comp.offset, np.float64)  # binned (z, y, x)
        idx = idx * b + (b - 1) / 2.0
        xyz = idx[:, ::-1] * float(apix) + origin
        # skimage winds faces clockwise seen from outside in (z, y, x); reversing the axes to
        # (x, y, z) mirrors the mesh, which makes them counter-clockwise (tested).
        faces = faces.astype(np.int64)
        raw_pieces.append((xyz, faces, comp.n_voxels * b ** 3 * float(apix) ** 3))
    raw_pieces.sort(key=lambda p: -p[2])
    if smooth:
        raw_pieces = [(taubin_smooth(v, f, smooth), f, vol) for v, f, vol in raw_pieces]
    geometry = [(v, f) for v, f, _ in raw_pieces]
    if decimate is not None and geometry:
        geometry = decimate_pieces(geometry, int(decimate))
    pieces = [MeshPiece(vertices=v.astype(np.float32), faces=f.astype(np.int32),
                        normals=vertex_normals(v, f), volume_A3=float(vol))
              for (v, f), (_, _, vol) in zip(geometry, raw_pieces) if len(f)]
    params = dict(threshold=threshold, bin=b, dust_px=dust_v, smooth=smooth, decimate=decimate,
                  origin=tuple(float(o) for o in origin), value_max=scale, shape=shape)
    return Mesh(pieces=pieces, apix=float(apix), params=params)


# ---------------------------------------------------------------------------------------------
# Files


def parse_colour(text) -> tuple[float, float, float]:
    """'#42d6a4', '66,214,164' (0..255) or '0.26,0.84,0.64' (0..1) -> RGB floats 0..1."""
    if isinstance(text, (tuple, list)):
        vals = [float(t) for t in text]
    else:
        s = str(text).strip()
        if re.fullmatch(r"#?[0-9a-fA-F]{6}", s):
            s = s.lstrip("#")
            return tuple(int(s[i:i + 2], 16) / 255.0 for i in (0, 2, 4))
        try:
            vals = [float(t) for t in re.split(r"[,\s]+", s) if t]
        except ValueError:
            raise InputError(f"colour: expected '#rrggbb' or 'r,g,b', got {text!r}") from None
    if len(vals) != 3 or any(not math.isfinite(v) or v < 0 for v in vals):
        raise InputError(f"colour: expected three numbers >= 0, got {text!r}")
    if max(vals) > 1.0:
        if max(vals) > 255:
            raise InputError(f"colour: values must be 0..1 or 0..255, got {text!r}")
        vals = [v / 255.0 for v in vals]
    return tuple(vals)


def feature_colour(feature: str) -> tuple[float, float, float]:
    """A stable default colour for a feature name."""
    return PALETTE[zlib.crc32(str(feature).encode("utf-8")) % len(PALETTE)]


def material_name(name: str) -> str:
    """A feature name made safe as an .obj object / material name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name)) or "feature"


def write_obj(path: str | os.PathLike, mesh: Mesh, *, feature: str = "feature",
              colour: tuple | None = None, comments: list[str] = ()) -> Path:
    """Write ``mesh`` as Wavefront .obj (one object per piece) and its .mtl (the colour), atomically.

    The .obj has ``v`` (Å), ``vn`` and ``f a//a b//b c//c`` lines, ``o <feature>_<i>`` per piece
    and ``usemtl <feature>``; the colour is also in a comment.
    """
    from .coords import write_text_atomic

    path = Path(path)
    colour = tuple(colour) if colour is not None else feature_colour(feature)
    mat = material_name(feature)
    mtl = path.with_suffix(".mtl")
    r, g, bl = (float(c) for c in colour)
    head = [f"# ais_like mesh of {feature}: {len(mesh.pieces)} pieces, {mesh.n_vertices} vertices, {mesh.n_faces} faces",
            "# x, y, z in Å; normals outward; faces counter-clockwise seen from outside",
            f"# colour {r:.4f} {g:.4f} {bl:.4f}"]
    head += [f"# {c}" for c in comments]
    head += [f"mtllib {mtl.name}", ""]
    parts = ["\n".join(head) + "\n"]
    base = 1
    for i, p in enumerate(mesh.pieces, 1):
        parts.append(f"o {mat}_{i}\nusemtl {mat}\n")
        parts.append(obj_rows("v", p.vertices, "%.2f"))
        parts.append(obj_rows("vn", p.normals, "%.4f"))
        f = p.faces.astype(np.int64) + base
        fv = np.repeat(f, 2, axis=1)
        parts.append(("f %d//%d %d//%d %d//%d\n" * len(f)) % tuple(fv.ravel().tolist()) if len(f) else "")
        base += len(p.vertices)
    write_text_atomic(mtl, f"# ais_like material of {feature}\nnewmtl {mat}\nKa {r:.4f} {g:.4f} {bl:.4f}\n"
                           f"Kd {r:.4f} {g:.4f} {bl:.4f}\nKs 0.1 0.1 0.1\nNs 10\nd 1.0\nillum 2\n")
    write_text_atomic(path, "".join(parts))
    return path


def obj_rows(tag: str, a: np.ndarray, fmt: str) -> str:
    """Lines ``<tag> x y z`` of an (n, 3) array in .obj text (in blocks: bounded memory)."""
    if not len(a):
        return ""
    line = f"{tag} {fmt} {fmt} {fmt}\n"
    chunks = []
    for s in range(0, len(a), 200_000):
        blk = np.asarray(a[s:s + 200_000], np.float64)
        chunks.append((line * len(blk)) % tuple(blk.ravel().tolist()))
    return "".join(chunks)


def read_obj(path: str | os.PathLike) -> list[MeshPiece]:
    """Read an .obj written by :func:`write_obj` (or any triangle .obj): one piece per ``o``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    verts, norms = [], []
    pieces_faces: list[list] = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("v "):
            verts.append([float(t) for t in line.split()[1:4]])
        elif line.startswith("vn "):
            norms.append([float(t) for t in line.split()[1:4]])
        elif line.startswith("o ") or (line.startswith("f ") and not pieces_faces):
            pieces_faces.append([])
            if line.startswith("f "):
                pieces_faces[-1].append([int(t.split("/")[0]) - 1 for t in line.split()[1:4]])
        elif line.startswith("f "):
            pieces_faces[-1].append([int(t.split("/")[0]) - 1 for t in line.split()[1:4]])
    v = np.asarray(verts, np.float32).reshape(-1, 3)
    n = np.asarray(norms, np.float32).reshape(-1, 3) if len(norms) == len(verts) else vertex_normals(v, np.zeros((0, 3), int))
    out = []
    for faces in pieces_faces:
        f = np.asarray(faces, np.int64).reshape(-1, 3)
        if not len(f):
            continue
        used = np.unique(f)
        remap = np.full(len(v), -1, np.int64)
        remap[used] = np.arange(len(used))
        out.append(MeshPiece(vertices=v[used], faces=remap[f].astype(np.int32), normals=n[used] if len(n) else
                             vertex_normals(v[used], remap[f])))
    return out


@dataclass
class MeshFileResult:
    source: Path
    out: Path
    feature: str
    n_pieces: int
    n_faces: int
    seconds: float


def default_output(seg_path: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """``<tomogram>__<feature>.obj`` beside the input, or in folder ``out``, or ``out`` itself."""
    return output_path(seg_path, ".obj", out)


def mesh_file(seg_path: str | os.PathLike, out: str | os.PathLike | None = None, *,
              apix: float | None = None, frame: str = "voxel", colour=None,
              progress: ProgressFn | None = None, **params) -> MeshFileResult:
    """Mesh one segmentation ``<tomogram>__<feature>.mrc`` into ``<tomogram>__<feature>.obj`` (+ .mtl).

    ``frame``: "voxel" (origin at voxel (0, 0, 0)) or "header" (the header's origin added).
    ``params``: keyword arguments of :func:`mesh_volume`.
    """
    from .interactions import split_segmentation_name
    from .volume import open_volume, tomogram_name

    if frame not in ("voxel", "header"):
        raise InputError(f"frame must be 'voxel' or 'header', got {frame!r}")
    seg_path = Path(seg_path)
    target = default_output(seg_path, out)
    if target.suffix.lower() != ".obj":
        raise InputError(f"{target}: a mesh file name must end in .obj")
    check_folder(target)
    t0 = time.perf_counter()
    with open_volume(seg_path, apix=apix) as vol:
        vox = vol.require_apix()
        parts = split_segmentation_name(seg_path)
        feature = parts[1] if parts else tomogram_name(seg_path)
        origin = (0.0, 0.0, 0.0)
        if frame == "header":
            h = vol.header
            origin = tuple(h.origin) if any(h.origin) else tuple(n * vox for n in h.nstart)
        mesh = mesh_volume(vol.data, vox, origin=origin, progress=progress, name=str(seg_path), **params)
    rgb = parse_colour(colour) if colour is not None else feature_colour(feature)
    p = mesh.params
    notes = [f"from {seg_path.name}: threshold {p['threshold']:g}, bin {p['bin']}, dust {p['dust_px']:g} voxels, "
             f"smooth {p['smooth']}, decimate {p['decimate']}",
             f"frame {frame}: origin (x, y, z) {origin[0]:g} {origin[1]:g} {origin[2]:g} Å, voxel size {vox:g} Å"]
    write_obj(target, mesh, feature=feature, colour=rgb, comments=notes)
    return MeshFileResult(source=seg_path, out=target, feature=feature, n_pieces=len(mesh.pieces),
                          n_faces=mesh.n_faces, seconds=time.perf_counter() - t0)
