"""The local model library: a folder of ``.scnm`` files that the CLI lists and the GUI browses.

The folder is, in order: the ``folder`` argument, ``$AIS_LIKE_MODELS``,
``$XDG_DATA_HOME/ais_like/models``, ``~/.local/share/ais_like/models``. Listing reads only
each archive's metadata member (no Keras, no weights); installing validates the archive
completely (safe reading, metadata checks, the model loaded in safe mode) and then copies it in
atomically, so the library never holds a file that will not open.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError


def default_folder() -> Path:
    """Where the model library lives unless a folder is given (see the module docstring)."""
    env = os.environ.get("AIS_LIKE_MODELS")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "ais_like" / "models"


def folder_path(folder=None) -> Path:
    """The library folder: ``folder`` when given, else :func:`default_folder`."""
    return Path(folder).expanduser() if folder is not None else default_folder()


@dataclass
class InstalledModel:
    """One ``.scnm`` of the library: its file, metadata (validated) and what the lists show.

    ``error`` is set (and ``metadata`` empty) for a file that cannot be read.
    """

    path: Path
    metadata: dict = field(default_factory=dict)
    error: str | None = None

    @property
    def title(self) -> str:
        return str(self.metadata.get("title") or self.path.stem)

    @property
    def architecture(self) -> str:
        ours = self.metadata.get("ais_like") if isinstance(self.metadata.get("ais_like"), dict) else {}
        return str(ours.get("architecture") or self.metadata.get("arch") or "unknown")

    @property
    def apix(self) -> float | None:
        a = self.metadata.get("apix")
        return float(a) if isinstance(a, (int, float)) and not isinstance(a, bool) and a > 0 else None

    def summary(self) -> dict:
        """A JSON-friendly line for listings."""
        if self.error:
            return {"file": str(self.path), "error": self.error}
        m = self.metadata
        return {"title": self.title, "architecture": self.architecture, "apix": self.apix,
                "box_size": m.get("box_size"), "parameters": m.get("n_parameters"), "loss": m.get("loss"),
                "epochs": m.get("epochs"), "file": str(self.path)}

    def preview_png(self) -> bytes | None:
        """The archive's preview PNG bytes (checked), or None: the GUI's thumbnail."""
        from .archive import read_preview

        return read_preview(self.path)


def list_models(folder=None) -> list[InstalledModel]:
    """Every ``.scnm`` in the library folder, sorted by title; unreadable files carry ``error``."""
    from .archive import read_metadata

    root = folder_path(folder)
    if not root.is_dir():
        return []
    out = []
    for path in sorted(root.glob("*.scnm")):
        if not path.is_file() or path.is_symlink():
            continue
        try:
            out.append(InstalledModel(path=path, metadata=read_metadata(path)))
        except InputError as exc:
            out.append(InstalledModel(path=path, error=str(exc)))
    return sorted(out, key=lambda m: (m.title.lower(), m.path.name))


def find(title: str, folder=None) -> InstalledModel:
    """The installed model with this title (case-insensitive), or an InputError listing titles."""
    models = [m for m in list_models(folder) if not m.error]
    for m in models:
        if m.title.lower() == str(title).strip().lower():
            return m
    raise InputError(f"no installed model titled {title!r}; installed: "
                     f"{', '.join(repr(m.title) for m in models) or 'none'} (in {folder_path(folder)})")


def install(path: str | os.PathLike, folder=None, *, overwrite: bool = False, load: bool = True) -> Path:
    """Validate a ``.scnm`` and copy it into the library atomically.

    Parameters
    ----------
    path : the archive to install (ours or Ais's; an older Ais JSON ``.scnm`` is converted to
        one archive).
    folder : the library folder (created when missing); default :func:`default_folder`.
    overwrite : replace an installed model of the same title.
    load : also load the model in safe mode (imports Keras); False checks the archive and
        metadata only.

    Returns
    -------
    The installed file, ``<folder>/<title>.scnm``.
    """
    from .archive import _is_tar, archive_name, load_scnm, read_members, read_metadata, save_scnm

    src = Path(path)
    if not src.is_file():
        raise InputError(f"{src}: no such model file")
    if src.suffix.lower() != ".scnm":
        raise InputError(f"{src}: the library holds .scnm models (got {src.suffix or 'no suffix'})")
    meta = read_metadata(src)
    legacy = not _is_tar(src)
    loaded = load_scnm(src) if (load or legacy) else None
    if not legacy:
        read_members(src)  # every member passes the safety checks
    root = folder_path(folder)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{root}: cannot create the model library folder ({exc.strerror})") from None
    dest = root / f"{archive_name(meta.get('title', src.stem))}.scnm"
    same = [m for m in list_models(root) if not m.error and m.title.lower() == str(meta.get("title", "")).lower()
            and m.path != dest]
    if (dest.exists() or same) and not overwrite:
        raise InputError(f"{dest}: a model titled {meta.get('title')!r} is already installed (use overwrite)")
    if legacy:
        save_scnm(dest, loaded.model, loaded.metadata)
    else:
        fd, part = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=root)
        os.close(fd)
        try:
            shutil.copyfile(src, part)
            os.chmod(part, 0o644)
            os.replace(part, dest)
        except BaseException:
            Path(part).unlink(missing_ok=True)
            raise
    for m in same:
        m.path.unlink(missing_ok=True)
    return dest


def remove(title: str, folder=None) -> Path:
    """Delete the installed model with this title; returns the file removed."""
    m = find(title, folder)
    m.path.unlink()
    return m.path
