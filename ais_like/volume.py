"""Volume I/O: open tomograms lazily, read slices, write volumes that keep the input's header.

Inside ais_like every array is (z, y, x). MRC-family files (.mrc .rec .map .st .mrcs) are
memory-mapped with mrcfile; TIFF stacks are read page by page with tifffile, so reading one
slice never loads the whole volume.

Voxel size (``apix``, Å per pixel) comes from the header's x value. When it is 0, 1 (the
"unset" default of many writers) or absurd, a warning is given and ``apix`` is None unless the
caller passes one (``--apix`` on the command line). The header origin is kept and written into
every volume derived from the input.

MRC mode 0 is read as int8, or as uint8 when the IMOD stamp says the bytes are unsigned (the
convention IMOD, EMAN2 and ais_like itself use); uint8 volumes are written that way, so a
0..255 segmentation stays one byte per voxel.
"""

from __future__ import annotations

import math
import os
import tempfile
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import InputError

MRC_SUFFIXES = (".mrc", ".rec", ".map", ".st", ".mrcs", ".ali")
TIFF_SUFFIXES = (".tif", ".tiff")
VOLUME_SUFFIXES = MRC_SUFFIXES + TIFF_SUFFIXES

IMOD_STAMP = 1146047817  # "IMOD" as a little-endian int32
IMOD_FLAG_SIGNED_BYTES = 1

# A voxel size outside this range (Å) is taken as unset or wrong.
APIX_RANGE = (0.1, 1000.0)


class VolumeWarning(UserWarning):
    """A recoverable problem with a volume file (broken header, unset voxel size)."""


@dataclass(frozen=True)
class Header:
    """What every output copies from its input.

    apix: voxel size in Å (None when unknown). origin: the MRC header origin (x, y, z) in Å.
    nstart: the MRC nxstart, nystart, nzstart (x, y, z) in voxels.
    """

    apix: float | None = None
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    nstart: tuple[int, int, int] = (0, 0, 0)

    def with_apix(self, apix: float | None) -> "Header":
        return replace(self, apix=apix)


def valid_apix(value: float | None) -> bool:
    """True when ``value`` is a plausible voxel size in Å (not 0, not 1, not absurd)."""
    if value is None:
        return False
    value = float(value)
    return math.isfinite(value) and value != 1.0 and APIX_RANGE[0] <= value <= APIX_RANGE[1]


@dataclass
class Volume:
    """An opened tomogram. ``data`` is array-like (z, y, x), memory-mapped or lazily paged.

    Use :meth:`slice` / :meth:`read` for float32 copies; close with :meth:`close` or a
    ``with`` block.
    """

    path: Path
    data: object  # np.memmap, np.ndarray or _TiffPages: anything indexable like an array
    header: Header
    apix_source: str = "header"  # "header", "override" or "missing"
    _closers: list = field(default_factory=list, repr=False)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self.data.shape)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.data.dtype)

    @property
    def apix(self) -> float | None:
        return self.header.apix

    @property
    def name(self) -> str:
        """The tomogram name used in output file names: the file name without its suffix."""
        return tomogram_name(self.path)

    def __len__(self) -> int:
        return self.shape[0]

    def slice(self, z: int) -> np.ndarray:
        """Slice ``z`` as a float32 (y, x) array (a copy)."""
        nz = self.shape[0]
        if not -nz <= z < nz:
            raise InputError(f"{self.path}: slice {z} is outside the volume (0..{nz - 1})")
        return _as_float32(self.data[z])

    def read(self, z0: int = 0, z1: int | None = None) -> np.ndarray:
        """Slices ``z0 <= z < z1`` as a float32 (z, y, x) array (a copy)."""
        z1 = self.shape[0] if z1 is None else z1
        return _as_float32(self.data[z0:z1])

    def iter_blocks(self, block: int = 8, z0: int = 0, z1: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(z_start, float32 block)`` over ``z0..z1`` in blocks of ``block`` slices."""
        z1 = self.shape[0] if z1 is None else z1
        for start in range(z0, z1, block):
            yield start, self.read(start, min(start + block, z1))

    def require_apix(self) -> float:
        """The voxel size, or an InputError telling the user to pass ``--apix``."""
        if self.apix is None:
            raise InputError(
                f"{self.path}: the header has no usable voxel size; pass --apix (Å per pixel)"
            )
        return self.apix

    def close(self) -> None:
        for closer in self._closers:
            try:
                closer()
            except Exception:  # closing must never hide the real error
                pass
        self._closers.clear()

    def __enter__(self) -> "Volume":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def tomogram_name(path: str | os.PathLike) -> str:
    """``/a/b/TS_01.rec`` -> ``TS_01`` (the stem used in ``<tomogram>__<feature>.mrc``)."""
    return Path(path).name.rsplit(".", 1)[0] if "." in Path(path).name else Path(path).name


def _as_float32(a) -> np.ndarray:
    return np.array(a, dtype=np.float32, copy=True)


def open_volume(path: str | os.PathLike, apix: float | None = None) -> Volume:
    """Open a tomogram for reading without loading it.

    Parameters
    ----------
    path : .mrc/.rec/.map/.st/.mrcs/.ali or .tif/.tiff file.
    apix : voxel size in Å that overrides the header (``--apix``).

    Raises
    ------
    InputError : the file is missing, of an unknown type, truncated or not a volume.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a volume file")
    if apix is not None and not (math.isfinite(apix) and apix > 0):
        raise InputError(f"{path}: --apix must be a positive number of Å per pixel, got {apix}")
    suffix = path.suffix.lower()
    if suffix in MRC_SUFFIXES:
        vol = _open_mrc(path)
    elif suffix in TIFF_SUFFIXES:
        vol = _open_tiff(path)
    else:
        raise InputError(
            f"{path}: unknown volume type {suffix!r} (expected one of {', '.join(VOLUME_SUFFIXES)})"
        )
    if vol.data.ndim == 2:  # a single image: a volume of one slice
        vol.data = vol.data[np.newaxis]
    if vol.data.ndim != 3:
        vol.close()
        raise InputError(f"{path}: expected a 3D volume, found {vol.data.ndim} dimensions")
    if apix is not None:
        vol.header = vol.header.with_apix(float(apix))
        vol.apix_source = "override"
    elif not valid_apix(vol.header.apix):
        raw = vol.header.apix
        warnings.warn(
            f"{path}: header voxel size {raw!r} Å looks unset or wrong; pass --apix",
            VolumeWarning,
            stacklevel=2,
        )
        vol.header = vol.header.with_apix(None)
        vol.apix_source = "missing"
    return vol


def _open_mrc(path: Path) -> Volume:
    import mrcfile

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            mrc = mrcfile.mmap(path, mode="r", permissive=True)
        except Exception as exc:  # mrcfile raises ValueError/OSError on garbage
            raise InputError(f"{path}: not a readable MRC file ({_one_line(exc)})") from None
    data = mrc.data
    if data is None:  # the error says it all; mrcfile's warnings would only repeat it
        size = path.stat().st_size
        mrc.close()
        raise InputError(f"{path}: the file is truncated or its header is corrupt ({size} bytes)")
    for w in caught:
        warnings.warn(f"{path}: {w.message}", VolumeWarning, stacklevel=3)
    h = mrc.header
    if int(h.mode) == 0:
        stamp, flags = _imod_fields(h)
        if stamp == IMOD_STAMP and not flags & IMOD_FLAG_SIGNED_BYTES:
            data = data.view(np.uint8)
    if np.dtype(data.dtype).kind == "c":
        mrc.close()
        raise InputError(f"{path}: complex-valued MRC (mode {int(h.mode)}) is not a tomogram")
    voxel = mrc.voxel_size
    header = Header(
        apix=float(voxel.x),
        origin=(float(h.origin.x), float(h.origin.y), float(h.origin.z)),
        nstart=(int(h.nxstart), int(h.nystart), int(h.nzstart)),
    )
    return Volume(path=path, data=data, header=header, _closers=[mrc.close])


class _TiffPages:
    """Array-like (z, y, x) view of a TIFF stack that decodes pages only when indexed."""

    def __init__(self, tif, series):
        self._tif = tif
        self._pages = list(series.pages)
        first = self._pages[0]
        self.shape = (len(self._pages),) + tuple(first.shape[-2:])
        self.dtype = np.dtype(series.dtype)
        self.ndim = 3

    def __getitem__(self, key):
        if isinstance(key, tuple):
            zkey, rest = key[0], key[1:]
        else:
            zkey, rest = key, ()
        if isinstance(zkey, (int, np.integer)):
            out = self._pages[int(zkey)].asarray()
        else:
            idx = range(self.shape[0])[zkey]
            out = np.stack([self._pages[i].asarray() for i in idx]) if len(idx) else np.empty(
                (0,) + self.shape[1:], self.dtype)
            rest = (slice(None),) + rest if rest else ()
        return out[rest] if rest else out

    def __array__(self, dtype=None, copy=None):
        a = self[:]
        return a.astype(dtype) if dtype is not None else a


def _open_tiff(path: Path) -> Volume:
    import tifffile

    try:
        tif = tifffile.TiffFile(path)
        series = tif.series[0]
    except Exception as exc:
        raise InputError(f"{path}: not a readable TIFF file ({_one_line(exc)})") from None
    closers = [tif.close]
    data: object
    try:
        data = tifffile.memmap(path, mode="r")
        closers.append(getattr(data, "_mmap", None).close if getattr(data, "_mmap", None) else (lambda: None))
    except Exception:  # compressed or tiled: decode page by page
        if len(series.pages) == series.shape[0] and len(series.shape) == 3:
            data = _TiffPages(tif, series)
        else:  # one page holding several planes: it has to be decoded whole
            data = series.asarray()
    data = _squeeze_to_3d(data, path)
    header = Header(apix=_tiff_apix(tif))
    return Volume(path=path, data=data, header=header, _closers=closers)


def _squeeze_to_3d(data, path: Path):
    shape = tuple(data.shape)
    if len(shape) > 3:
        if any(n != 1 for n in shape[:-3]) or shape[-1] in (3, 4):
            raise InputError(f"{path}: TIFF of shape {shape} is not a grey-scale stack")
        data = np.asarray(data).reshape(shape[-3:])
    return data


def _tiff_apix(tif) -> float | None:
    """Voxel size in Å from ImageJ metadata or the XResolution tag, None if not stated."""
    try:
        page = tif.pages[0]
        tag = page.tags.get("XResolution")
        if tag is None:
            return None
        num, den = tag.value
        if not num:
            return None
        per_unit = den / num  # size of one pixel in the file's unit
        unit = ""
        ij = tif.imagej_metadata or {}
        unit = str(ij.get("unit", "")).strip().lower()
        scale = {"nm": 10.0, "nanometer": 10.0, "nanometers": 10.0, "angstrom": 1.0, "a": 1.0,
                 "å": 1.0, "\\u00c5": 1.0, "micron": 1e4, "um": 1e4, "µm": 1e4, "\\u00b5m": 1e4}.get(unit)
        if scale is None:
            return None
        return float(per_unit * scale)
    except Exception:
        return None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


# --------------------------------------------------------------------------------------------
# Writing


def _apply_header(mrc, header: Header | None) -> None:
    if header is None:
        return
    if header.apix is not None:
        mrc.voxel_size = header.apix
    mrc.header.origin.x, mrc.header.origin.y, mrc.header.origin.z = header.origin
    mrc.header.nxstart, mrc.header.nystart, mrc.header.nzstart = header.nstart


def _deterministic_label(mrc) -> None:
    """Replace mrcfile's timestamped label, so that the same input gives the same bytes (a batch
    output equals a single command's, a rerun rewrites an identical file)."""
    from . import __version__

    mrc.header.label[0] = f"Created by ais_like {__version__}".encode("ascii")[:80]
    mrc.header.nlabl = 1


# IMOD keeps its stamp and flags in bytes 152..159 of the header, inside mrcfile's ``extra2``
# field (which starts at byte 112).
_IMOD_OFFSET = 152 - 112


def _imod_fields(header) -> tuple[int, int]:
    """(imodStamp, imodFlags) from an mrcfile header."""
    raw = np.asarray(header.extra2).tobytes()
    stamp, flags = np.frombuffer(raw[_IMOD_OFFSET:_IMOD_OFFSET + 8], dtype="<i4")
    if header.dtype.byteorder == ">" or str(header.mode.dtype)[0] == ">":
        stamp, flags = stamp.byteswap(), flags.byteswap()
    return int(stamp), int(flags)


def _stamp_unsigned_bytes(mrc) -> None:
    raw = bytearray(np.asarray(mrc.header.extra2).tobytes())
    stamp, flags = IMOD_STAMP, 0
    raw[_IMOD_OFFSET:_IMOD_OFFSET + 8] = np.array([stamp, flags], dtype="<i4").tobytes()
    mrc.header.extra2 = np.frombuffer(bytes(raw), dtype=mrc.header.extra2.dtype).reshape(mrc.header.extra2.shape)


def _mrc_dtype(dtype: np.dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype == np.uint8:
        return np.dtype(np.int8)  # stored as mode 0 with the IMOD unsigned stamp
    if dtype in (np.dtype(np.int8), np.dtype(np.int16), np.dtype(np.uint16), np.dtype(np.float32),
                 np.dtype(np.float16)):
        return dtype
    raise InputError(f"cannot write {dtype} voxels to MRC (use uint8, int8, int16, uint16, float16 or float32)")


def _tmp_name(path: Path) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    return Path(name)


def _check_writable(path: Path) -> None:
    parent = path.parent
    if not parent.exists():
        raise InputError(f"{path}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise InputError(f"{path}: the folder {parent} is not writable")


def write_volume(path: str | os.PathLike, data: np.ndarray, header: Header | None = None) -> Path:
    """Write a (z, y, x) array to an MRC file atomically (write to a temporary name, then rename).

    ``header`` (voxel size, origin, nstart) is copied into the file, so outputs carry their
    input's conventions. Returns the path written.
    """
    path = Path(path)
    _check_writable(path)
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[np.newaxis]
    if data.ndim != 3:
        raise InputError(f"{path}: can only write 2D or 3D arrays, got shape {data.shape}")
    with VolumeWriter(path, data.shape, data.dtype, header) as w:
        w.write(0, data)
    return path


class VolumeWriter:
    """Stream slices into a new MRC file; the file appears under its name only when complete.

    >>> with VolumeWriter("out.mrc", (nz, ny, nx), np.uint8, header) as w:   # doctest: +SKIP
    ...     for z0, block in blocks:
    ...         w.write(z0, block)

    Leaving the ``with`` block by an exception (or calling :meth:`abort`) removes the partial
    file, so a crash never leaves a half-written output behind.
    """

    def __init__(self, path: str | os.PathLike, shape: tuple[int, int, int], dtype, header: Header | None = None):
        import mrcfile

        self.path = Path(path)
        _check_writable(self.path)
        self.shape = tuple(int(n) for n in shape)
        self.dtype = np.dtype(dtype)
        file_dtype = _mrc_dtype(self.dtype)
        self._tmp = _tmp_name(self.path)
        self._mrc = mrcfile.new_mmap(self._tmp, shape=self.shape, mrc_mode=_mode_of(file_dtype), overwrite=True)
        self._view = self._mrc.data.view(self.dtype) if self.dtype == np.uint8 else self._mrc.data
        if self.dtype == np.uint8:
            _stamp_unsigned_bytes(self._mrc)
        _apply_header(self._mrc, header)
        _deterministic_label(self._mrc)
        self._min = math.inf
        self._max = -math.inf
        self._sum = 0.0
        self._sumsq = 0.0
        self._written = 0
        self._done = False

    def write(self, z0: int, block: np.ndarray) -> None:
        block = np.asarray(block)
        if block.ndim == 2:
            block = block[np.newaxis]
        if block.shape[1:] != self.shape[1:] or z0 < 0 or z0 + block.shape[0] > self.shape[0]:
            raise InputError(f"{self.path}: block of shape {block.shape} at z={z0} does not fit volume {self.shape}")
        self._view[z0:z0 + block.shape[0]] = block.astype(self.dtype, copy=False)
        if block.size:
            # Header statistics describe the stored values as MRC2014 defines mode 0 (signed
            # bytes), so that mrcfile.validate accepts the file; IMOD's stamp marks them unsigned.
            stored = block.astype(self.dtype, copy=False)
            if self.dtype == np.uint8:
                stored = stored.view(np.int8)
            b = stored.astype(np.float64)
            self._min = min(self._min, float(b.min()))
            self._max = max(self._max, float(b.max()))
            self._sum += float(b.sum())
            self._sumsq += float(np.square(b).sum())
            self._written += block.size

    def commit(self) -> Path:
        if self._done:
            return self.path
        h = self._mrc.header
        total = int(np.prod(self.shape))
        if self._written:
            # voxels never written are zeros (the file starts zero-filled); each voxel is
            # assumed written at most once
            lo, hi = self._min, self._max
            if self._written < total:
                lo, hi = min(lo, 0.0), max(hi, 0.0)
            mean = self._sum / total
            h.dmin, h.dmax, h.dmean = lo, hi, mean
            h.rms = math.sqrt(max(self._sumsq / total - mean * mean, 0.0))
        else:
            self._mrc.reset_header_stats()
        self._mrc.flush()
        self._mrc.close()
        os.replace(self._tmp, self.path)
        self._done = True
        return self.path

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            self._mrc.close()
        finally:
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> "VolumeWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def _mode_of(dtype: np.dtype) -> int:
    return {np.dtype(np.int8): 0, np.dtype(np.int16): 1, np.dtype(np.float32): 2,
            np.dtype(np.uint16): 6, np.dtype(np.float16): 12}[np.dtype(dtype)]


# --------------------------------------------------------------------------------------------
# Discovery and description


def find_volumes(spec: str | os.PathLike | list) -> list[Path]:
    """Resolve ``--data``: a file, a folder (its volume files), a glob, or a list of any of these.

    A ``.txt`` file is read as a list of paths, one per line (relative to the list's folder).
    """
    import glob

    if isinstance(spec, (list, tuple)):
        out: list[Path] = []
        for s in spec:
            out.extend(find_volumes(s))
        return out
    text = str(spec)
    p = Path(text)
    if p.is_dir():
        return sorted(q for q in p.iterdir() if q.suffix.lower() in VOLUME_SUFFIXES and q.is_file())
    if p.is_file() and p.suffix.lower() == ".txt":
        lines = [ln.strip() for ln in p.read_text().splitlines()]
        return [(p.parent / ln) if not Path(ln).is_absolute() else Path(ln)
                for ln in lines if ln and not ln.startswith("#")]
    if p.is_file():
        return [p]
    if any(ch in text for ch in "*?["):
        hits = sorted(Path(h) for h in glob.glob(text))
        hits = [h for h in hits if h.suffix.lower() in VOLUME_SUFFIXES and h.is_file()]
        if not hits:
            raise InputError(f"{text}: no volume files match this pattern")
        return hits
    raise InputError(f"{text}: no such file or folder")


def describe_volume(vol: Volume) -> dict:
    """A dictionary of the facts ``ais-like info`` prints about a volume."""
    nz, ny, nx = vol.shape
    return {
        "file": str(vol.path),
        "shape (z, y, x)": [nz, ny, nx],
        "dtype": str(vol.dtype),
        "apix (Å)": vol.apix,
        "apix from": vol.apix_source,
        "origin (x, y, z) Å": list(vol.header.origin),
        "size (x, y, z) nm": [round(n * vol.apix / 10, 1) for n in (nx, ny, nz)] if vol.apix else None,
    }
