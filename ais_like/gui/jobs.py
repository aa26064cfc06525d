"""Background jobs of the workbench: slow work off the frame loop, cancellable, with progress.

A job is a function ``fn(job, *args)`` run in a daemon thread. It reports with
``job.progress(done, total, message)`` (which raises :class:`ais_like.errors.Cancelled` once
the job is cancelled, so the core's progress callbacks stop it at their next step) and returns a
result. ``on_done(result)`` / ``on_error(exc)`` run on the main thread, from :meth:`JobManager.poll`,
called once a frame. With ``sync=True`` (tests) a job runs to its end inside :meth:`submit`
and its callbacks run at once: the same code path, no threads.
"""

from __future__ import annotations

import queue
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import AisLikeError, Cancelled


@dataclass
class Job:
    name: str
    kind: str = "job"
    done: int = 0
    total: int = 0
    message: str = ""
    status: str = "queued"  # queued | running | done | failed | cancelled
    error: str = ""
    started: float = field(default_factory=time.time)
    finished: float | None = None
    cancel_event: threading.Event = field(default_factory=threading.Event)
    _posts: Any = None

    @property
    def fraction(self) -> float:
        return 0.0 if self.total <= 0 else min(1.0, self.done / self.total)

    @property
    def active(self) -> bool:
        return self.status in ("queued", "running")

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def cancel(self) -> None:
        self.cancel_event.set()

    def progress(self, done: int, total: int, message: str = "") -> None:
        """Report progress (thread-safe); raises Cancelled when the job was cancelled."""
        self.done, self.total = int(done), int(total)
        if message:
            self.message = str(message)
        if self.cancel_event.is_set():
            raise Cancelled(self.name)

    def post(self, fn: Callable[[], None]) -> None:
        """Run ``fn()`` on the main thread at the next poll (e.g. to show an intermediate result)."""
        if self._posts is None:
            fn()
        else:
            self._posts.put(fn)


class JobManager:
    """Runs jobs in threads (or synchronously) and hands their results to the main thread."""

    def __init__(self, sync: bool = False, max_finished: int = 20):
        self.sync = sync
        self.jobs: list[Job] = []
        self.max_finished = max_finished
        self._posts: queue.Queue = queue.Queue()
        self._threads: list[threading.Thread] = []

    def submit(self, name: str, fn: Callable, *args, kind: str = "job", on_done: Callable | None = None,
               on_error: Callable | None = None, **kwargs) -> Job:
        job = Job(name=name, kind=kind)
        job._posts = None if self.sync else self._posts
        self.jobs.append(job)
        self._trim()

        def finish(result=None, exc: BaseException | None = None, tb: str = ""):
            job.finished = time.time()
            if exc is None:
                job.status = "done"
                if on_done is not None:
                    on_done(result)
            elif isinstance(exc, Cancelled) or job.cancelled:
                job.status = "cancelled"
                job.message = "cancelled"
            else:
                job.status = "failed"
                job.error = str(exc) if isinstance(exc, AisLikeError) else f"{type(exc).__name__}: {exc}"
                if on_error is not None:
                    on_error(exc, tb)

        def body():
            job.status = "running"
            try:
                result = fn(job, *args, **kwargs)
            except BaseException as exc:  # reported on the main thread, never lost
                err, tb = exc, traceback.format_exc()
                if self.sync:
                    finish(exc=err, tb=tb)
                else:
                    self._posts.put(lambda: finish(exc=err, tb=tb))
                return
            if self.sync:
                finish(result)
            else:
                self._posts.put(lambda: finish(result))

        if self.sync:
            body()
        else:
            t = threading.Thread(target=body, name=f"ais-like job {name}", daemon=True)
            self._threads.append(t)
            t.start()
        return job

    def poll(self, budget_s: float = 0.004) -> int:
        """Apply results and posts of background jobs on the calling (main) thread. Returns how
        many were applied; stops after ``budget_s`` so a burst never stalls a frame."""
        n = 0
        t0 = time.perf_counter()
        while True:
            try:
                fn = self._posts.get_nowait()
            except queue.Empty:
                break
            fn()
            n += 1
            if time.perf_counter() - t0 > budget_s:
                break
        self._threads = [t for t in self._threads if t.is_alive()]
        return n

    def wait(self, timeout: float = 60.0) -> None:
        """Wait until every job has finished and its callbacks ran (tests, shutdown)."""
        end = time.time() + timeout
        while any(j.active for j in self.jobs) and time.time() < end:
            self.poll(1.0)
            time.sleep(0.01)
        self.poll(1.0)

    @property
    def active(self) -> list[Job]:
        return [j for j in self.jobs if j.active]

    def cancel_all(self) -> None:
        for j in self.jobs:
            j.cancel()

    def shutdown(self, timeout: float = 2.0) -> None:
        self.cancel_all()
        for t in self._threads:
            t.join(timeout)

    def _trim(self) -> None:
        finished = [j for j in self.jobs if not j.active]
        for j in finished[:-self.max_finished]:
            self.jobs.remove(j)
