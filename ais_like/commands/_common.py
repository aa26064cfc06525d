"""Options shared by several commands, so that they are spelled the same everywhere."""

from __future__ import annotations

import argparse


def add_apix(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--apix", type=float, default=None, metavar="Å",
                        help="voxel size in Å per pixel; overrides a missing or wrong header value")


def add_quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def parse_int_list(text: str) -> list[int]:
    """'20,40,60' or '20-25,40' -> [20, 40, 60] / [20, ..., 25, 40]."""
    out: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part[1:]:
            a, b = part.split("-", 1) if not part.startswith("-") else ("-" + part[1:].split("-", 1)[0], part[1:].split("-", 1)[1])
            out.extend(range(int(a), int(b) + 1))
        else:
            out.append(int(part))
    return out


def int_list(text: str) -> list[int]:
    """argparse type for '20,40,60'."""
    try:
        return parse_int_list(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated slice numbers like 20,40,60, got {text!r}")


def for_each_volume(specs, out, *, quiet: bool, desc: str, work) -> None:
    """Run ``work(path, out, progress) -> line`` for every volume of ``specs`` (files, folders,
    globs), printing one line each, with a bar over the volumes when there are several. ``out``
    (a file or folder, or None) is created as a folder when there are several volumes."""
    from pathlib import Path

    from ..errors import InputError
    from ..progress import Bar
    from ..volume import find_volumes

    paths = find_volumes(list(specs))
    if not paths:
        raise InputError(f"{specs[0]}: no volumes found")
    out = Path(out) if out else None
    many = len(paths) > 1
    if out is not None and many and not out.is_dir():
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"{out}: cannot create the output folder ({exc.strerror or exc})") from None
    overall = Bar(len(paths), desc=desc, unit="volume", quiet=quiet or not many)
    try:
        for i, path in enumerate(paths):
            with Bar(1, desc=path.name, unit="slice", quiet=quiet or many) as bar:
                line = work(path, out, bar)
            print(line, flush=True)
            overall(i + 1, len(paths))
    finally:
        overall.close()
