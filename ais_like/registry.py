"""The model library: architecture plugins discovered from files, listed without importing Keras.

A plugin is one Python file with module-level constants ``title`` (str), ``include``
(bool: listed by default), ``divisor`` (int: input height and width must be multiples of it;
default 1) and ``learning_rate`` (float: Adam's default for this network, used when the user gives
none; default 1e-3), and a function ``create(input_shape)`` that returns a compiled Keras
model with a sigmoid output of the input's height and width (or an object following the
non-Keras contract in ``ais_like.custom_model``). Plugins come from the built-in ``models``
package and from a user folder (``$AIS_LIKE_ARCHITECTURES`` or
``~/.local/share/ais_like/architectures``). Listing reads the constants with ``ast``; the file
is imported (and Keras with it) only by :meth:`Architecture.create`.

Models are always referred to by title, never by a position in a list.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError

DEFAULT_LEARNING_RATE = 1e-3  # Adam's, for a plugin that does not give its own
DEFAULT_LOSS = "bce_dice"  # for a plugin that does not name its own
SIGNATURES_FILE = "networks.json"  # in the built-in folder: network digest -> plugin title


@dataclass(frozen=True)
class Architecture:
    title: str
    include: bool
    path: Path
    description: str = ""
    divisor: int = 1  # input height and width must be multiples of this (2 ** number of poolings)
    learning_rate: float = DEFAULT_LEARNING_RATE  # Adam's default for this network
    loss: str = DEFAULT_LOSS  # the loss it trains with by default ("bce", "dice", "bce_dice")

    @property
    def module_name(self) -> str:
        return "ais_like_architecture_" + "".join(c if c.isalnum() else "_" for c in self.title.lower())

    def load(self):
        """Import the plugin module (this imports Keras)."""
        from . import backend

        backend.keras()  # set the default backend before the plugin imports keras
        import sys

        if self.module_name in sys.modules:
            return sys.modules[self.module_name]
        spec = importlib.util.spec_from_file_location(self.module_name, self.path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[self.module_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception:
            del sys.modules[self.module_name]
            raise
        return module

    def create(self, input_shape=(None, None, 1)):
        """Build and compile a fresh model for ``input_shape`` (height, width, channels)."""
        return self.load().create(tuple(input_shape))


def builtin_folder() -> Path:
    from . import models as _models  # ais_like.models: the repository's models/ folder

    return Path(_models.__file__).parent


def user_folder() -> Path:
    env = os.environ.get("AIS_LIKE_ARCHITECTURES")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "ais_like" / "architectures"


def read_plugin(path: Path) -> Architecture | None:
    """Read a plugin's ``title`` and ``include`` from its source, or None if it is not a plugin."""
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None
    consts: dict = {}
    has_create = False
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in ("title", "include", "divisor", "learning_rate", "loss"):
                try:
                    consts[name] = ast.literal_eval(node.value)
                except ValueError:
                    pass
        elif isinstance(node, ast.FunctionDef) and node.name == "create":
            has_create = True
        elif isinstance(node, ast.ClassDef):
            pass
    if not has_create or not isinstance(consts.get("title"), str):
        return None
    return Architecture(
        title=consts["title"],
        include=bool(consts.get("include", True)),
        path=Path(path),
        description=(ast.get_docstring(tree) or "").strip().splitlines()[0] if ast.get_docstring(tree) else "",
        divisor=int(consts["divisor"]) if isinstance(consts.get("divisor"), int) and consts["divisor"] > 0 else 1,
        learning_rate=_positive_float(consts.get("learning_rate"), DEFAULT_LEARNING_RATE),
        loss=consts["loss"] if consts.get("loss") in ("bce", "dice", "bce_dice") else DEFAULT_LOSS,
    )


def _positive_float(value, default: float) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < float("inf")
    return float(value) if ok else default


def list_architectures(all: bool = False, folders: list[Path] | None = None) -> list[Architecture]:
    """Every plugin found (built-in first, then the user folder), sorted by title within each.

    ``all=False`` hides plugins whose ``include`` is False. A user plugin with the title of a
    built-in one replaces it.
    """
    folders = folders if folders is not None else [builtin_folder(), user_folder()]
    found: dict[str, Architecture] = {}
    for folder in folders:
        if not Path(folder).is_dir():
            continue
        for path in sorted(Path(folder).glob("*.py")):
            if path.name.startswith("_"):
                continue
            arch = read_plugin(path)
            if arch is not None:
                found[arch.title.lower()] = arch
    archs = list(found.values())
    return [a for a in archs if all or a.include]


def get_architecture(title: str, folders: list[Path] | None = None) -> Architecture:
    """The plugin with this title (case-insensitive), or an InputError listing the titles."""
    archs = list_architectures(all=True, folders=folders)
    for a in archs:
        if a.title.lower() == str(title).strip().lower():
            return a
    titles = ", ".join(repr(a.title) for a in archs)
    raise InputError(f"unknown model architecture {title!r}; available: {titles}")


# ---------------------------------------------------------------------------------------------
# Which network a model file holds
# ---------------------------------------------------------------------------------------------
def network_digest(model) -> str | None:
    """``ais_like.kerasconfig.signature`` of a built model (a custom model: of its generator)."""
    from .kerasconfig import model_signature

    net = getattr(model, "generator", model)
    try:
        return model_signature(net)
    except Exception:
        return None


def plugin_digest(title: str, channels: int = 1) -> str | None:
    """The network digest of the plugin ``title`` built for ``channels`` input channels (builds it)."""
    return network_digest(get_architecture(title).create((None, None, channels)))


def known_networks() -> dict[str, list[str]]:
    """Network digest -> the built-in plugin titles that build it (one input channel; Ais's three
    ezm-2d titles share a network), from ``models/networks.json`` (kept equal to the plugins by
    tests/test_ais_fidelity.py). No Keras import."""
    try:
        table = json.loads((builtin_folder() / SIGNATURES_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    nets = table.get("networks", {}) if isinstance(table, dict) else {}
    return {str(k): [str(t) for t in v] for k, v in nets.items() if isinstance(v, list)}


def network_title(digest: str | None, candidates=(), channels: int = 1) -> str | None:
    """The plugin whose network has this digest, preferring one of ``candidates`` (e.g. the title
    the metadata names): looked up in :func:`known_networks` for one channel, else by building
    each candidate; None when none matches."""
    if not digest:
        return None
    wanted = [str(c).strip().lower() for c in candidates if c]
    if channels == 1:
        titles = known_networks().get(digest)
        if titles:
            return next((t for t in titles if t.lower() in wanted), titles[0])
    for title in candidates:
        try:
            if plugin_digest(title, channels) == digest:
                return get_architecture(title).title
        except Exception:
            continue
    return None


def signature_table() -> dict:
    """The contents ``models/networks.json`` should have (builds every built-in plugin)."""
    nets: dict[str, list[str]] = {}
    for a in list_architectures(all=True, folders=[builtin_folder()]):
        nets.setdefault(plugin_digest(a.title), []).append(a.title)
    return {"about": "network digest (ais_like.kerasconfig.signature, one input channel) -> the built-in plugin "
                     "titles that build it; regenerate with ais_like.registry.signature_table() when a plugin changes",
            "networks": dict(sorted(nets.items(), key=lambda kv: kv[1][0].lower()))}
