"""ais_like: segment cryo-electron tomograms with small per-feature CNNs.

The core (everything importable from ``ais_like`` except ``ais_like.gui``) works on numpy
arrays in (z, y, x) order, never imports imgui, glfw or OpenGL, and imports TensorFlow only
when a model is built or loaded.
"""

import os as _os

__version__ = "0.1.0"

# The design card keeps models/, renderer/ and shaders/ at the top of the repository. A wheel
# maps them into this package (pyproject.toml); in a source checkout they sit beside it, so
# let the package look there too, making ``ais_like.models`` etc. importable either way.
_here = _os.path.dirname(_os.path.abspath(__file__))
_checkout = _os.path.dirname(_here)
if not _os.path.isdir(_os.path.join(_here, "models")) and _os.path.isfile(
    _os.path.join(_checkout, "pyproject.toml")
):
    __path__.append(_checkout)  # noqa: F821  (module __path__)
