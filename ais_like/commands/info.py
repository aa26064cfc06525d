"""Describe volumes (.mrc .rec .map .st .mrcs .tif), training sets (.npz) and model archives
(.scnm, .scnmgroup): shape, voxel size, origin; tiles and balance; architecture, parameters,
Å/px, box size, loss and training summary.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from ._common import add_apix


def add_arguments(parser):
    parser.add_argument("files", nargs="+", metavar="FILE", help="volumes, training sets or model archives")
    add_apix(parser)
    parser.add_argument("--json", action="store_true", help="print JSON (a list, one object per file)")


def describe(path: Path, apix: float | None = None) -> dict:
    """The facts about one file, by its type."""
    from ..errors import InputError

    suffix = path.suffix.lower()
    if suffix in (".scnm", ".scnmgroup"):
        from ..archive import describe_model

        return {"kind": "model archive", **describe_model(path)}
    if suffix == ".npz":
        from ..trainset import TrainingSet

        return {"kind": "training set", "file": str(path), **TrainingSet.load(path).summary()}
    from ..volume import VOLUME_SUFFIXES, describe_volume, open_volume

    if suffix in VOLUME_SUFFIXES or not path.exists():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with open_volume(path, apix=apix) as vol:
                info = {"kind": "volume", **describe_volume(vol)}
        if caught:
            info["warnings"] = [str(w.message) for w in caught]
        return info
    raise InputError(f"{path}: unknown file type {suffix!r} (volume, .npz training set or .scnm model)")


def run(args) -> int:
    infos = [describe(Path(f), args.apix) for f in args.files]
    if args.json:
        print(json.dumps(infos, indent=1, ensure_ascii=False, default=str))
        return 0
    for info in infos:
        width = max(len(k) for k in info)
        for key, value in info.items():
            if isinstance(value, dict):
                value = ", ".join(f"{k}: {v}" for k, v in value.items())
            elif isinstance(value, list) and value and isinstance(value[0], str) and key == "warnings":
                value = "; ".join(value)
            print(f"{key:<{width}}  {value}")
        print()
    return 0
