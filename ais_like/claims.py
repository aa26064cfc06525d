"""Claims: who works on a task, as lock files beside its outputs, safe across processes and hosts.

A claim is a small JSON file (host, pid, process start time, a random token) that appears under
its name only complete and only if the name is free (``os.link`` of a finished temporary file;
``O_CREAT | O_EXCL`` where a file system has no hard links), so of several runs racing for one
task exactly one wins. The owner touches it every :data:`HEARTBEAT_S` seconds and removes it when
done. A claim is stale, and may be taken over, when it has not been touched for :data:`STALE_S`
seconds (any host) or at once when its pid on this host is dead or belongs to another process now.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
import uuid
from pathlib import Path

# A claim is touched this often while its task runs (s).
HEARTBEAT_S = 30.0
# A claim not touched for this long is stale (s). Generous, so that clock differences between
# hosts and slow network file systems do not matter.
STALE_S = 600.0

_HOST = socket.gethostname()


def _process_start(pid: int) -> str | None:
    """The start time of process ``pid`` (clock ticks since boot, Linux), to tell a reused pid."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read().decode("ascii", "replace")
        return text.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's live process
    except OSError:
        return False
    if start is not None:
        now = _process_start(pid)
        if now is not None and now != start:
            return False  # the pid was reused
    return True


def _read_claim(path: Path) -> tuple[dict | None, os.stat_result | None]:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None, None
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        return (info if isinstance(info, dict) else None), st
    except (OSError, ValueError):
        return None, st


def claim_is_stale(info: dict | None, st: os.stat_result, now: float | None = None) -> bool:
    """Whether a claim's owner is gone: no heartbeat for :data:`STALE_S` seconds, or (at once)
    a dead or reused pid on this host."""
    if (time.time() if now is None else now) - st.st_mtime > STALE_S:
        return True
    if info and info.get("host") == _HOST and isinstance(info.get("pid"), int):
        return not _alive(info["pid"], info.get("start"))
    return False


class Claim:
    """A held claim on a task: touched every :data:`HEARTBEAT_S` s until :meth:`release`."""

    def __init__(self, path: Path, info: dict):
        self.path = path
        self.info = info
        self.taken_over: dict | None = None
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._heartbeat, name="ais-like-claim", daemon=True)
        self._beat.start()

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                os.utime(self.path)
            except OSError:
                pass

    def release(self) -> None:
        self._stop.set()
        info, _ = _read_claim(self.path)
        if info and info.get("token") == self.info["token"]:
            self.path.unlink(missing_ok=True)


def try_claim(path: str | os.PathLike) -> Claim | dict:
    """Claim a task atomically: a :class:`Claim`, or the live owner's information (a dict).

    A stale claim is taken over (the returned claim's ``taken_over`` holds the old owner)."""
    path = Path(path)
    previous = None
    for _ in range(5):
        info = {"host": _HOST, "pid": os.getpid(), "start": _process_start(os.getpid()),
                "token": uuid.uuid4().hex, "since": time.time()}
        if _create_exclusive(path, json.dumps(info)):
            claim = Claim(path, info)
            claim.taken_over = previous
            return claim
        held, st = _read_claim(path)
        if st is None:
            continue  # released in the meantime
        if not claim_is_stale(held, st):
            return held or {"host": "unknown", "pid": None}
        previous = held or {"host": "unknown", "pid": None}
        _remove_stale(path, st)
    return previous or {"host": "unknown", "pid": None}


def _create_exclusive(path: Path, text: str) -> bool:
    """Create ``path`` holding ``text`` unless it exists; the name appears only complete."""
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(text, encoding="utf-8")
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    except OSError:  # a file system without hard links
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        return True
    finally:
        tmp.unlink(missing_ok=True)


def _remove_stale(path: Path, st: os.stat_result) -> None:
    """Remove the stale claim ``st`` describes; a newer claim moved aside by a race goes back."""
    tomb = path.with_name(f"{path.name}.{uuid.uuid4().hex}.stale")
    try:
        os.rename(path, tomb)
    except FileNotFoundError:
        return
    try:
        if os.stat(tomb).st_ino != st.st_ino:
            try:
                os.link(tomb, path)  # someone claimed it in between: put that claim back
            except OSError:
                pass
    finally:
        tomb.unlink(missing_ok=True)


def claim_debris(lock: Path, min_age: float = 60.0) -> list[Path]:
    """What a claimer killed at the wrong moment leaves beside a claim (``.tmp``, ``.stale``)."""
    now = time.time()
    found = []
    for p in lock.parent.glob(f"{glob_escape(lock.name)}.*"):
        try:
            if p.suffix in (".tmp", ".stale") and now - p.stat().st_mtime > min_age:
                found.append(p)
        except OSError:
            pass
    return found


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)
