"""Progress reporting shared by the CLI (tqdm bars) and background jobs (callbacks)."""

from __future__ import annotations

import sys
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")

# A progress callback receives (done, total, message) and may raise ais_like.errors.Cancelled.
ProgressFn = Callable[[int, int, str], None]


def null_progress(done: int, total: int, message: str = "") -> None:
    """A progress callback that does nothing."""


class Bar:
    """A tqdm progress bar on stderr (silent when stderr is not a terminal and ``quiet``)."""

    def __init__(self, total: int, desc: str = "", unit: str = "it", quiet: bool = False):
        from tqdm import tqdm

        self._bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=quiet,
                         dynamic_ncols=True, leave=True)

    def __call__(self, done: int, total: int, message: str = "") -> None:
        if total != self._bar.total:
            self._bar.total = total
        self._bar.n = done
        if message:
            self._bar.set_postfix_str(message, refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        self._bar.close()

    def __enter__(self) -> "Bar":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def track(items: Iterable[T], total: int, progress: ProgressFn | None, message: str = "") -> Iterator[T]:
    """Yield ``items`` while reporting ``(i, total, message)`` to ``progress`` after each."""
    progress = progress or null_progress
    progress(0, total, message)
    for i, item in enumerate(items, 1):
        yield item
        progress(i, total, message)
