"""Particle coordinate files: RELION .star (3/4 and 5), tab-separated .txt, Dynamo .tbl.

Convention (every format): x = column, y = row, z = slice of the tomogram; in pixels the first
voxel's centre is 0 (as RELION, IMOD's model2point and Ais use), so voxel ``(z, y, x)`` of an
array is at pixel coordinates ``x, y, z``. Inside ais_like coordinates are (z, y, x).

- ``star`` (RELION 3/4): ``data_particles`` with ``rlnTomoName``, ``rlnMicrographName`` (the
  tomogram name), ``rlnCoordinateX/Y/Z`` (pixels of the picked volume, unbinned: the picker's
  ``--bin`` is undone) and ``rlnAutopickFigureOfMerit`` (the particle's weight).
- ``star5`` (RELION 5): ``rlnTomoName``, ``rlnCenteredCoordinateX/Y/ZAngst`` and the weight.
  RELION 5 measures from the tomogram's centre in Å: ``centred = (x - n_x / 2) * apix`` (and so
  for y, z), where ``n_x`` is the tomogram's size in pixels; RELION converts back with
  ``x = centred / apix + n_x / 2`` (``ParticleSet::getParticleCoordDecenteredPixel``, with the
  tomogram centre ``w / 2.0`` in floating point). Reading such a file into pixels therefore
  needs the voxel size and the tomogram's size.
- ``txt``: one particle per line, ``x<TAB>y<TAB>z`` as whole pixels (rounded), no header: the
  file Ais writes and reads, which EMAN2, Dynamo and IMOD's point2model take too.

Files written by ais_like start with a comment ``# ais_like: apix=... shape_xyz=nx,ny,nz``
(STAR only; .txt stays bare for Ais), which the reader uses when no voxel size or shape is given.

The reader takes RELION 3/3.1/4/5 files (loops or single key-value blocks, quoted values,
several blocks, columns in any order, ``rlnOriginX/Y/Z`` (pixels) or ``rlnOriginX/Y/ZAngst``
shifts, which it subtracts as RELION does), whitespace/comma separated text with or without a
header row (``x y z``; otherwise the first three columns), and Dynamo tables (``.tbl``: columns
24-26 plus the shifts in columns 4-6, tomogram number in column 20, as stored).
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .errors import InputError

FRAMES = ("pixel", "centred_angstrom")
WRITE_FORMATS = ("star", "star5", "txt")
TEXT_SUFFIXES = (".txt", ".tsv", ".csv", ".coords", ".box", ".xyz", ".pts")


@dataclass
class Coordinates:
    """A list of particle positions.

    zyx : float64 (n, 3). In the "pixel" frame: (z, y, x) pixels, the first voxel's centre at
        0. In the "centred_angstrom" frame (RELION 5 when the tomogram's size or voxel size is
        unknown): Å from the tomogram's centre.
    tomograms : object array (n,) of tomogram names ("" when the file names none).
    weights : float64 (n,) or None.
    apix : voxel size in Å of the pixel coordinates (None when unknown).
    shape : (z, y, x) size of the tomogram in pixels (None when unknown).
    columns : the file's other columns, label -> list of strings (kept for reference).
    """

    zyx: np.ndarray
    tomograms: np.ndarray | None = None
    weights: np.ndarray | None = None
    apix: float | None = None
    shape: tuple | None = None
    frame: str = "pixel"
    columns: dict = field(default_factory=dict)

    def __post_init__(self):
        self.zyx = np.asarray(self.zyx, np.float64).reshape(-1, 3)
        n = len(self.zyx)
        if self.tomograms is None:
            self.tomograms = np.array([""] * n, dtype=object)
        else:
            self.tomograms = np.asarray(list(self.tomograms), dtype=object).reshape(n)
        if self.weights is not None:
            self.weights = np.asarray(self.weights, np.float64).reshape(n)
        if self.frame not in FRAMES:
            raise ValueError(f"frame must be one of {FRAMES}, got {self.frame!r}")

    def __len__(self) -> int:
        return len(self.zyx)

    @property
    def xyz(self) -> np.ndarray:
        """(n, 3) as x, y, z."""
        return self.zyx[:, ::-1].copy()

    def for_tomogram(self, name: str) -> "Coordinates":
        """The particles of one tomogram (all of them when the list names no tomograms)."""
        if all(not t for t in self.tomograms):
            return self
        keep = np.asarray([t == name for t in self.tomograms], bool)
        return replace(self, zyx=self.zyx[keep], tomograms=self.tomograms[keep],
                       weights=None if self.weights is None else self.weights[keep],
                       columns={k: [v for v, m in zip(vals, keep) if m] for k, vals in self.columns.items()})

    def to_pixels(self, apix: float | None = None, shape: tuple | None = None) -> "Coordinates":
        """In the pixel frame (RELION 5 centred Å need ``apix`` and ``shape`` (z, y, x))."""
        if self.frame == "pixel":
            return self
        apix = apix or self.apix
        shape = shape or self.shape
        if not apix or not shape:
            raise InputError("RELION 5 coordinates are in Å from the tomogram's centre: converting them "
                             "to pixels needs the voxel size and the tomogram's size (--apix and --volume)")
        centre = np.asarray(shape, np.float64) / 2.0
        return replace(self, zyx=self.zyx / float(apix) + centre, frame="pixel", apix=float(apix),
                       shape=tuple(int(n) for n in shape))

    def to_centred_angstrom(self, apix: float | None = None, shape: tuple | None = None) -> "Coordinates":
        """In RELION 5's frame: Å from the tomogram's centre."""
        if self.frame == "centred_angstrom":
            return self
        apix = apix or self.apix
        shape = shape or self.shape
        if not apix or not shape:
            raise InputError("RELION 5 coordinates need the voxel size and the tomogram's size")
        centre = np.asarray(shape, np.float64) / 2.0
        return replace(self, zyx=(self.zyx - centre) * float(apix), frame="centred_angstrom",
                       apix=float(apix), shape=tuple(int(n) for n in shape))


# ---------------------------------------------------------------------------------------------
# STAR


@dataclass
class StarBlock:
    """One ``data_NAME`` block: columns label (without ``_``) -> values (strings), in order."""

    name: str
    columns: dict
    loop: bool = True

    @property
    def n_rows(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0


_TOKEN = re.compile(r"""'((?:[^']|'(?!\s|$))*)'(?=\s|$)|"((?:[^"]|"(?!\s|$))*)"(?=\s|$)|(\S+)""")


def _tokens(line: str) -> list[str]:
    if "'" not in line and '"' not in line:
        return line.split("#", 1)[0].split() if "#" in line else line.split()
    out = []
    for m in _TOKEN.finditer(line):
        if m.group(3) is not None:
            if m.group(3).startswith("#"):
                break
            out.append(m.group(3))
        else:
            out.append(m.group(1) if m.group(1) is not None else m.group(2))
    return out


def read_star(path: str | os.PathLike) -> tuple[list[StarBlock], list[str]]:
    """Parse a STAR file into its blocks (and its comment lines).

    Handles loops and key-value blocks, ``#`` comments, '...' and "..." quoted values (empty
    ones too), label suffixes like ``#3``, blank lines anywhere and a final row without newline.
    Raises :class:`InputError` for a malformed table (a row of the wrong length, a label
    outside a block).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    blocks: list[StarBlock] = []
    comments: list[str] = []
    block: StarBlock | None = None
    state = "none"  # none | pairs | labels | rows
    labels: list[str] = []
    pending: list[str] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            comments.append(stripped)
            continue
        if stripped.startswith("data_"):
            _finish_rows(path, block, labels, pending, lineno)
            block = StarBlock(name=stripped.split()[0][5:], columns={}, loop=False)
            blocks.append(block)
            state, labels, pending = "pairs", [], []
            continue
        if stripped.startswith("loop_"):
            if block is None:
                raise InputError(f"{path}: line {lineno}: 'loop_' before any data_ block")
            _finish_rows(path, block, labels, pending, lineno)
            if block.columns:  # a second table in one block: keep it as its own block
                block = StarBlock(name=block.name, columns={}, loop=True)
                blocks.append(block)
            block.loop = True
            state, labels, pending = "labels", [], []
            continue
        if block is None:
            raise InputError(f"{path}: line {lineno}: data outside a data_ block")
        if stripped.startswith("_") and state in ("labels", "pairs"):
            toks = _tokens(stripped)
            label = toks[0][1:]
            if state == "labels":
                labels.append(label)
                block.columns[label] = []
            else:
                block.columns[label] = [toks[1] if len(toks) > 1 else ""]
            continue
        if state in ("labels", "rows"):
            if not labels:
                raise InputError(f"{path}: line {lineno}: values before any column label")
            state = "rows"
            pending.extend(_tokens(line))
            while len(pending) >= len(labels):
                for label, value in zip(labels, pending[:len(labels)]):
                    block.columns[label].append(value)
                pending = pending[len(labels):]
            continue
        raise InputError(f"{path}: line {lineno}: unexpected text {stripped[:40]!r}")
    _finish_rows(path, block, labels, pending, None)
    return blocks, comments


def _finish_rows(path, block, labels, pending, lineno) -> None:
    if pending:
        where = f"before line {lineno}" if lineno else "at the end"
        raise InputError(f"{path}: a table row {where} has {len(pending)} values, expected {len(labels)}")


def _fmt_value(v) -> str:
    s = str(v)
    if s == "" or any(c.isspace() for c in s) or s.startswith(("_", "#", "data_", "loop_", "'", '"')):
        q = '"' if "'" in s else "'"
        return f"{q}{s}{q}"
    return s


def star_text(blocks: list[StarBlock], comments: list[str] = ()) -> str:
    """STAR text of ``blocks`` (loops with ``_label #n``; key-value blocks as pairs)."""
    out = [c if c.startswith("#") else f"# {c}" for c in comments]
    out.append("")
    for b in blocks:
        out.append(f"data_{b.name}")
        out.append("")
        if b.loop:
            out.append("loop_")
            labels = list(b.columns)
            for i, label in enumerate(labels, 1):
                out.append(f"_{label} #{i}")
            cols = [[_fmt_value(v) for v in b.columns[label]] for label in labels]
            out.extend("\t".join(row) for row in zip(*cols))
        else:
            width = max((len(k) for k in b.columns), default=0) + 2
            for k, vals in b.columns.items():
                out.append(f"_{k:<{width}}{_fmt_value(vals[0])}")
        out.append("")
    return "\n".join(out) + "\n"


def _coordinate_block(blocks: list[StarBlock], path) -> StarBlock:
    keys = ("rlnCoordinateX", "rlnCenteredCoordinateXAngst")
    have = [b for b in blocks if any(k in b.columns for k in keys)]
    if not have:
        found = ", ".join(f"data_{b.name}" for b in blocks) or "no blocks"
        raise InputError(f"{path}: no particle coordinates (rlnCoordinateX/Y/Z or "
                         f"rlnCenteredCoordinateX/Y/ZAngst) in this STAR file ({found})")
    named = [b for b in have if b.name == "particles"]
    return (named or have)[0]


def _floats(values, label, path) -> np.ndarray:
    try:
        a = np.asarray(values, dtype=np.float64)
    except ValueError:
        bad = next(v for v in values if not _is_number(v))
        raise InputError(f"{path}: column {label} holds a non-number {bad!r}") from None
    if not np.all(np.isfinite(a)):
        raise InputError(f"{path}: column {label} holds NaN or infinite values")
    return a


def _is_number(v) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


_OURS = re.compile(r"#\s*ais_like:(.*)")


def _our_comment(comments: list[str]) -> tuple[float | None, tuple | None]:
    apix, shape = None, None
    for c in comments:
        m = _OURS.match(c)
        if not m:
            continue
        for part in m.group(1).split():
            key, _, value = part.partition("=")
            try:
                if key == "apix":
                    apix = float(value)
                elif key == "shape_xyz":
                    nx, ny, nz = (int(v) for v in value.split(","))
                    shape = (nz, ny, nx)
            except ValueError:
                continue
    return apix, shape


def _name_of(value: str) -> str:
    """A tomogram name from rlnMicrographName/rlnTomoName: folder, ``:mrc`` and suffix removed."""
    name = str(value).replace("\\", "/").rsplit("/", 1)[-1]
    name = name.split(":", 1)[0]
    for suffix in (".mrc", ".rec", ".st", ".map", ".mrcs", ".tif", ".tiff", ".ali", ".tomostar"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def _read_star_coordinates(path: Path, apix, shape) -> Coordinates:
    blocks, comments = read_star(path)
    block = _coordinate_block(blocks, path)
    cols = block.columns
    file_apix, file_shape = _our_comment(comments)
    apix = apix or file_apix
    shape = shape or file_shape
    n = block.n_rows
    centred = "rlnCenteredCoordinateXAngst" in cols
    if centred:
        labels = [f"rlnCenteredCoordinate{a}Angst" for a in "ZYX"]
    else:
        labels = [f"rlnCoordinate{a}" for a in "ZYX"]
    missing = [lb for lb in labels if lb not in cols]
    if n == 0:
        return Coordinates(zyx=np.zeros((0, 3)), apix=apix, shape=shape,
                           frame="centred_angstrom" if centred else "pixel", columns=dict(cols))
    if "rlnCoordinateZ" in missing and not centred:
        raise InputError(f"{path}: 2D coordinates only (no rlnCoordinateZ): not a tomogram particle list")
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
    zyx = np.stack([_floats(cols[lb], lb, path) for lb in labels], axis=1) if n else np.zeros((0, 3))
    # Shifts: the particle is at coordinate - origin (RELION's convention).
    if n and all(f"rlnOrigin{a}Angst" in cols for a in "ZYX"):
        shift_a = np.stack([_floats(cols[f"rlnOrigin{a}Angst"], f"rlnOrigin{a}Angst", path) for a in "ZYX"], axis=1)
        if centred:
            zyx = zyx - shift_a
        else:
            px = _optics_pixel_size(blocks, block, path) or apix
            if px:
                zyx = zyx - shift_a / px
            elif np.any(shift_a):
                import warnings

                warnings.warn(f"{path}: rlnOrigin*Angst shifts ignored (no pixel size in the file; pass --apix)",
                              UserWarning, stacklevel=3)
    elif n and all(f"rlnOrigin{a}" in cols for a in "ZYX") and not centred:
        zyx = zyx - np.stack([_floats(cols[f"rlnOrigin{a}"], f"rlnOrigin{a}", path) for a in "ZYX"], axis=1)
    if "rlnTomoName" in cols:
        names = [_name_of(v) for v in cols["rlnTomoName"]]
    elif "rlnMicrographName" in cols:
        names = [_name_of(v) for v in cols["rlnMicrographName"]]
    else:
        names = [""] * n
    weights = None
    for lb in ("rlnAutopickFigureOfMerit", "rlnLCCmax", "rlnMaxValueProbDistribution"):
        if lb in cols:
            weights = _floats(cols[lb], lb, path)
            break
    coords = Coordinates(zyx=zyx, tomograms=names, weights=weights, apix=apix, shape=shape,
                         frame="centred_angstrom" if centred else "pixel", columns=dict(cols))
    if centred and apix and shape:
        coords = coords.to_pixels(apix, shape)
    return coords


def _optics_pixel_size(blocks, particles, path) -> float | None:
    for b in blocks:
        if b.name != "optics":
            continue
        for lb in ("rlnTomoTiltSeriesPixelSize", "rlnMicrographOriginalPixelSize", "rlnMicrographPixelSize"):
            if lb in b.columns and b.n_rows:
                vals = _floats(b.columns[lb], lb, path)
                if len(set(vals.tolist())) == 1:
                    return float(vals[0])
    return None


# ---------------------------------------------------------------------------------------------
# Text and Dynamo tables

_AXIS_NAMES = {
    "x": ("x", "coordx", "coordinatex", "rlncoordinatex", "posx", "xcoord", "col"),
    "y": ("y", "coordy", "coordinatey", "rlncoordinatey", "posy", "ycoord", "row"),
    "z": ("z", "coordz", "coordinatez", "rlncoordinatez", "posz", "zcoord", "slice"),
}


def _split(line: str) -> list[str]:
    return [t for t in re.split(r"[,\s;]+", line.strip()) if t]


def _read_text_coordinates(path: Path, apix, shape) -> Coordinates:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    header = None
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s or s[0] in "#%;!":
            continue
        toks = _split(s)
        if not all(_is_number(t) for t in toks):
            if header is None and not rows:
                header = [t.lower().strip("_'\"") for t in toks]
                continue
            raise InputError(f"{path}: line {lineno}: expected numbers, got {s[:60]!r}")
        rows.append((lineno, [float(t) for t in toks]))
    if path.suffix.lower() == ".tbl":
        return _dynamo(path, rows, apix, shape)
    cols = [0, 1, 2]
    if header is not None:
        found = []
        for axis in "xyz":
            idx = next((i for i, h in enumerate(header) if h in _AXIS_NAMES[axis]), None)
            found.append(idx)
        if all(i is not None for i in found):
            cols = found
    zyx = np.zeros((len(rows), 3))
    for k, (lineno, vals) in enumerate(rows):
        if len(vals) <= max(cols):
            raise InputError(f"{path}: line {lineno}: expected at least {max(cols) + 1} numbers (x y z), got {len(vals)}")
        zyx[k] = (vals[cols[2]], vals[cols[1]], vals[cols[0]])
    if not np.all(np.isfinite(zyx)):
        raise InputError(f"{path}: NaN or infinite coordinates")
    return Coordinates(zyx=zyx, apix=apix, shape=shape)


def _dynamo(path: Path, rows, apix, shape) -> Coordinates:
    zyx = np.zeros((len(rows), 3))
    names = []
    for k, (lineno, vals) in enumerate(rows):
        if len(vals) < 26:
            raise InputError(f"{path}: line {lineno}: a Dynamo table row has at least 26 columns, got {len(vals)}")
        # Columns (1-based): 4-6 shifts dx dy dz, 20 tomogram, 24-26 x y z.
        zyx[k] = (vals[25] + vals[5], vals[24] + vals[4], vals[23] + vals[3])
        names.append(str(int(vals[19])))
    return Coordinates(zyx=zyx, tomograms=names, apix=apix, shape=shape)


# ---------------------------------------------------------------------------------------------
# Public reading and writing


def read_coordinates(path: str | os.PathLike, *, apix: float | None = None,
                     shape: tuple | None = None) -> Coordinates:
    """Read a particle list: .star (RELION 3/4/5), .txt/.tsv/.csv/.coords (x y z), .tbl (Dynamo).

    Parameters
    ----------
    apix : voxel size in Å of the tomogram the pixel coordinates refer to (for RELION 5's Å).
    shape : (z, y, x) size of that tomogram in pixels (for RELION 5's centred Å).

    RELION 5 coordinates come back in pixels when the voxel size and shape are known (given, or
    stated in the file by ais_like), else in the "centred_angstrom" frame.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a coordinate file")
    if apix is not None and not (math.isfinite(apix) and apix > 0):
        raise InputError(f"{path}: apix must be a positive number of Å, got {apix}")
    suffix = path.suffix.lower()
    if suffix == ".star":
        return _read_star_coordinates(path, apix, shape)
    if suffix in TEXT_SUFFIXES or suffix == ".tbl":
        return _read_text_coordinates(path, apix, shape)
    head = path.read_bytes()[:4096].decode("utf-8", errors="replace")
    if "data_" in head and "_rln" in head:
        return _read_star_coordinates(path, apix, shape)
    raise InputError(f"{path}: unknown coordinate file type {suffix!r} (expected .star, .txt or .tbl)")


def write_coordinates(path: str | os.PathLike, coords: Coordinates, fmt: str = "star", *,
                      apix: float | None = None, shape: tuple | None = None,
                      comment: str | None = None) -> Path:
    """Write ``coords`` as ``fmt`` ("star" RELION 3/4, "star5" RELION 5, "txt"), atomically.

    ``apix`` (Å) and ``shape`` (z, y, x) default to the coordinates' own; "star5" needs both.
    """
    path = Path(path)
    if fmt not in WRITE_FORMATS:
        raise InputError(f"{path}: unknown coordinate format {fmt!r} (expected star, star5 or txt)")
    apix = apix or coords.apix
    shape = tuple(shape or coords.shape or ()) or None
    names = [str(t) for t in coords.tomograms]
    if fmt == "txt":
        px = coords.to_pixels(apix, shape)
        xyz = np.rint(px.xyz).astype(np.int64)
        text = "".join(f"{x}\t{y}\t{z}\n" for x, y, z in xyz.tolist())
        write_text_atomic(path, text)
        return path
    info = []
    if apix:
        info.append(f"apix={float(apix):g}")
    if shape:
        info.append("shape_xyz=" + ",".join(str(int(n)) for n in shape[::-1]))
    comments = ["# ais_like: " + " ".join(info)] if info else []
    weights = coords.weights if coords.weights is not None else np.ones(len(coords))
    columns: dict = {"rlnTomoName": names}
    if fmt == "star":
        px = coords.to_pixels(apix, shape)
        columns["rlnMicrographName"] = names
        for axis, k in zip("XYZ", (2, 1, 0)):
            columns[f"rlnCoordinate{axis}"] = [f"{v:.3f}" for v in px.zyx[:, k]]
        comments.append("# RELION 3/4 coordinates: pixels, first voxel centre at 0")
    else:
        if not apix or not shape:
            raise InputError(f"{path}: RELION 5 coordinates need the voxel size and the tomogram's size")
        ca = coords.to_centred_angstrom(apix, shape)
        for axis, k in zip("XYZ", (2, 1, 0)):
            columns[f"rlnCenteredCoordinate{axis}Angst"] = [f"{v:.3f}" for v in ca.zyx[:, k]]
        comments.append("# RELION 5 coordinates: Å from the tomogram centre, centred = (pixel - size / 2) * apix")
    columns["rlnAutopickFigureOfMerit"] = [f"{w:.6g}" for w in weights]
    if comment:
        comments.append("# " + " ".join(str(comment).split()))
    write_text_atomic(path, star_text([StarBlock("particles", columns, loop=True)], comments))
    return path


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` under a temporary name in the same folder, then rename."""
    path = Path(path)
    parent = path.parent
    if not parent.is_dir():
        raise InputError(f"{path}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise InputError(f"{path}: the folder {parent} is not writable")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
