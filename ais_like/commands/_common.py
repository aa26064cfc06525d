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
