"""Actions of the Export tab: a queue of segmentation exports run on the batch machinery
(:mod:`ais_like.batch`, Dask worker processes), and of picking / meshing jobs on existing
segmentations, one job at a time, in order, with per-task progress and cancel.

Nothing here imports TensorFlow: the models are given to :func:`ais_like.batch.run_batch` as
``.scnm`` files and only Dask worker processes (or, when Dask cannot start, one spawned process)
load them. Picking and meshing existing files needs no model and runs in a ``state.jobs`` thread.

The Dask connection (a local cluster of ``state.export.workers`` workers) is opened by the first
export, in the job's thread, and kept open so that workers keep their models loaded; it closes
after :data:`IDLE_CLOSE_S` seconds without exports, when a closer registered in
``state.extra["closers"]`` runs, or at interpreter exit.
"""

from __future__ import annotations

import atexit
import itertools
import multiprocessing
import queue as queue_mod
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import AisLikeError, Cancelled, InputError
from .actions import handler
from .modelling import session_interactions

IDLE_CLOSE_S = 600.0  # close the Dask workers after this long without an export
POST_EVERY_S = 0.1  # in-process jobs post progress to the main thread at most this often
PICK_FORMATS = ("star", "star5", "txt")
_ids = itertools.count(1)


# ------------------------------------------------------------------------------------------
# The queue


@dataclass
class ExportJob:
    """One entry of the export queue (``state.export.queue``).

    kind: "segment" (a :class:`ais_like.batch.Plan`, run by :func:`ais_like.batch.run_batch`),
    "pick" or "mesh" (existing segmentation files, ``files``, picked or meshed in-process).
    ``tasks`` maps a task key to its live progress ``{stage, step, steps, status}``;
    ``results`` holds the finished tasks' :class:`ais_like.batch.TaskResult` in finishing order.
    """

    id: int
    kind: str
    label: str
    total: int
    plan: object = None
    files: list = field(default_factory=list)
    params: dict = field(default_factory=dict)
    status: str = "queued"  # queued | running | done | cancelled | failed
    message: str = "queued"
    error: str = ""
    dashboard: str = ""
    tasks: dict = field(default_factory=dict)
    results: list = field(default_factory=list)
    cancel: threading.Event = field(default_factory=threading.Event)
    job: object = None
    started: float | None = None
    seconds: float = 0.0

    @property
    def active(self) -> bool:
        return self.status in ("queued", "running")

    @property
    def finished(self) -> int:
        return len(self.results)

    @property
    def fraction(self) -> float:
        """Finished tasks plus the running tasks' share of their current stage, over all tasks."""
        if self.total <= 0:
            return 1.0 if not self.active else 0.0
        part = sum(t["step"] / t["steps"] for t in self.tasks.values()
                   if t.get("status") == "running" and t.get("steps"))
        return min(1.0, (self.finished + part) / self.total)

    def running_lines(self) -> list[str]:
        """One line per task being worked on: 'TS_01 [Membrane]: segment 3/10'."""
        return [f"{key}: {t['stage']} {t['step']}/{t['steps']}" for key, t in self.tasks.items()
                if t.get("status") == "running"]

    def counts(self) -> dict:
        out: dict = {}
        for r in self.results:
            out[r.status] = out.get(r.status, 0) + 1
        return out

    def outputs(self) -> list[Path]:
        """The files of the finished tasks that exist (written now, or found and skipped)."""
        paths: list[Path] = []
        for r in self.results:
            if r.status == "done":
                paths += [Path(p) for p in r.outputs]
            elif r.status == "skipped" and self.plan is not None:
                task = next((t for t in self.plan.tasks if t.key == r.key), None)
                if task is not None:
                    paths += self.plan.outputs(task)
        return [p for p in dict.fromkeys(paths) if p.exists()]

    def render_files(self) -> list[str]:
        """Outputs the Render tab shows: segmentations (surfaces) and coordinate files (particles)."""
        return [str(p) for p in self.outputs() if p.suffix.lower() in (".mrc", ".star", ".txt")]


def find(state, id: int) -> ExportJob:
    for e in state.export.queue:
        if e.id == int(id):
            return e
    raise AisLikeError(f"no export #{id} in the queue")


# ------------------------------------------------------------------------------------------
# Building a plan from the Export tab's choices


def model_file(entry) -> Path | None:
    """The .scnm on disk that holds a session model's current weights, or None."""
    p = getattr(entry, "file", None) or entry.path
    return Path(p) if p else None


def exportable_models(state) -> list:
    """(entry, file or None, reason) for every session model, in display order."""
    rows = []
    for m in state.models.entries:
        f = model_file(m)
        if f is None:
            reason = "not saved yet: train it or save it first"
        elif not f.is_file():
            reason = f"{f} is missing"
        elif getattr(m, "status", "") in ("training",):
            reason = "training"
        else:
            reason = ""
        rows.append((m, f if not reason else None, reason))
    return rows


def _titles_of(files) -> list[str]:
    from ..archive import read_metadata

    return [str(read_metadata(f).get("title", "model")) for f in files]


def pick_params(ex) -> dict:
    """``Settings.pick`` / :func:`ais_like.picking.pick_file` keyword arguments from the tab, the
    names and defaults of ``ais-like pick`` (0 means "not given" for sizes and counts)."""
    if ex.pick_format not in PICK_FORMATS:
        raise InputError(f"unknown coordinate format {ex.pick_format!r} (expected star, star5 or txt)")
    return {"threshold": float(ex.pick_threshold), "min_volume": float(ex.pick_min_volume) or None,
            "min_volume_px": None, "min_spacing": float(ex.pick_min_spacing) or None, "min_spacing_px": None,
            "bin": int(ex.pick_bin), "margin": float(ex.pick_margin) or None, "margin_px": None,
            "max_particles": int(ex.pick_max_particles) or None, "position": ex.pick_position,
            "value_max": None, "fmt": ex.pick_format}


def mesh_params(ex) -> dict:
    """``Settings.mesh`` / :func:`ais_like.mesh.mesh_file` keyword arguments, as ``ais-like mesh``'s."""
    return {"threshold": float(ex.mesh_threshold), "bin": int(ex.mesh_bin), "dust": float(ex.mesh_dust) or None,
            "dust_px": None, "smooth": int(ex.mesh_smooth), "decimate": int(ex.mesh_decimate) or None,
            "frame": ex.mesh_frame, "colour": None, "value_max": None}


def _clamp(rng, n: int, what: str, name: str):
    if rng is None:
        return None
    a, b = max(0, int(rng[0])), min(int(n), int(rng[1]))
    if a >= b:
        raise InputError(f"{name}: the {what} range {rng[0]}:{rng[1]} holds nothing (size {n})")
    return a, b


def build_plans(state) -> tuple[list, list[str]]:
    """The Export tab's choices as batch plans: one per voxel-size override among the chosen
    tomograms (usually one). Per tomogram, the Z range and crop are clamped to its size.
    Returns ``(plans, notes)``; raises InputError for choices that cannot run."""
    from ..batch import plan_batch

    ex = state.export
    if not ex.out_dir.strip():
        raise InputError("choose an output folder")
    names = [n for n in state.project.datasets if n in ex.datasets]
    if not names:
        raise InputError("choose at least one tomogram to export")
    rows = {m.key: (m, f, why) for m, f, why in exportable_models(state)}
    chosen = [rows[k] for k in rows if k in ex.models]
    if not chosen:
        raise InputError("choose at least one model to export")
    for m, f, why in chosen:
        if f is None:
            raise InputError(f"model {m.title}: {why}")
    entries = [m for m, _, _ in chosen]
    files = [str(f) for _, f, _ in chosen]
    titles = _titles_of(files)
    spec, notes = session_interactions(state, entries, titles)
    pick = pick_params(ex) if ex.pick else None
    mesh = mesh_params(ex) if ex.mesh else None
    groups: dict = {}
    for n in names:
        ds = state.project.dataset(n)
        if not ds.exists:
            raise InputError(f"{ds.path}: tomogram not found (moved?)")
        groups.setdefault(ds.apix, []).append(ds)
    plans = []
    for apix, dss in groups.items():
        plan = plan_batch([str(d.path) for d in dss], files, ex.out_dir, interactions=spec, tta=int(ex.tta),
                          apix=apix, pick=pick, mesh=mesh)
        by_path = {str(Path(d.path).resolve()): d for d in dss}
        tasks = []
        for t in plan.tasks:
            ds = by_path[t.tomogram]
            nz, ny, nx = ds.shape
            z = _clamp(ex.z_range, nz, "Z", ds.name)
            cx, cy = _clamp(ex.crop_x, nx, "X", ds.name), _clamp(ex.crop_y, ny, "Y", ds.name)
            crop = None if cx is None and cy is None else (*(cy or (0, ny)), *(cx or (0, nx)))
            tasks.append(replace(t, z_range=z, crop=crop))
        plan.tasks = tasks
        plans.append(plan)
    return plans, notes


# ------------------------------------------------------------------------------------------
# Dask connection kept across exports


class DaskPool:
    """A :func:`ais_like.batch.connect` local cluster opened on first use and kept open.

    ``get()`` (from a job thread) returns the connection; ``release()`` after an export starts
    the idle timer; ``close()`` shuts the workers down. A connection set by hand (``conn``
    with ``owned=False``, e.g. by tests) is used as is and never closed here.
    """

    def __init__(self, workers: int = 1, idle_s: float = IDLE_CLOSE_S):
        self.workers = workers
        self.idle_s = idle_s
        self.conn = None
        self.owned = True
        self._stack: ExitStack | None = None
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def get(self):
        from ..batch import connect

        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self.conn is None:
                stack = ExitStack()
                try:
                    self.conn = stack.enter_context(connect(workers=self.workers, dashboard="127.0.0.1:0"))
                except BaseException:
                    stack.close()
                    raise
                self._stack, self.owned = stack, True
            return self.conn

    def release(self) -> None:
        with self._lock:
            if self.conn is None or not self.owned or self.idle_s is None:
                return
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self.idle_s, self.close)
            self._timer.daemon = True
            self._timer.start()

    def close(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            stack, self._stack = self._stack, None
            if self.owned:
                self.conn = None
        if stack is not None:
            try:
                stack.close()
            except Exception:  # shutting down: nothing left to tell
                pass


def pool(state) -> DaskPool:
    """The state's Dask pool (created on first use; its closer registered in ``extra["closers"]``)."""
    p = state.extra.get("export_pool")
    if p is None:
        p = DaskPool(workers=int(getattr(state.export, "workers", 1) or 1))
        state.extra["export_pool"] = p
        state.extra.setdefault("closers", []).append(p.close)
        atexit.register(p.close)
    return p


# ------------------------------------------------------------------------------------------
# Handlers


_RANGES = ("z_range", "crop_x", "crop_y")
_CHOICES = {"pick_format": PICK_FORMATS, "pick_position": ("centroid", "maximum"), "mesh_frame": ("voxel", "header")}
_LIMITS = {"tta": (1, 8), "workers": (1, 64), "pick_bin": (1, 64), "mesh_bin": (1, 64),
           "pick_threshold": (0.0, 1.0), "mesh_threshold": (0.0, 1.0)}


@handler("set_export")
def set_export(state, **fields) -> None:
    """Set Export tab options (names of :class:`ais_like.gui.state.ExportUI`); numbers are
    kept in range (thresholds 0..1, TTA 1..8, bins >= 1, sizes and counts >= 0)."""
    ex = state.export
    for name, value in fields.items():
        if name in ("queue", "existing", "existing_chosen", "datasets", "models") or not hasattr(ex, name):
            raise AisLikeError(f"no export option {name!r}")
        cur = getattr(ex, name)
        if name in _RANGES:
            value = None if value is None else (max(0, int(value[0])), max(0, int(value[1])))
        elif name in _CHOICES:
            if value not in _CHOICES[name]:
                raise AisLikeError(f"{name}: expected one of {', '.join(_CHOICES[name])}, got {value!r}")
        elif isinstance(cur, bool):
            value = bool(value)
        elif isinstance(cur, (int, float)):
            value = type(cur)(value)
            lo, hi = _LIMITS.get(name, (0, None))
            value = max(type(cur)(lo), value if hi is None else min(type(cur)(hi), value))
        else:
            value = str(value)
        setattr(ex, name, value)


@handler("choose_export")
def choose_export(state, what: str, item, on: bool = True) -> None:
    """Tick (``on``) or untick a tomogram (``what="datasets"``), a model (``"models"``, by key)
    or an existing segmentation (``"existing_chosen"``)."""
    if what not in ("datasets", "models", "existing_chosen"):
        raise AisLikeError(f"cannot choose {what!r}")
    chosen = getattr(state.export, what)
    (chosen.add if on else chosen.discard)(item)


@handler("queue_export")
def queue_export(state) -> list[ExportJob]:
    """Queue the Export tab's choices (segmentation, with picking / meshing when ticked)."""
    plans, notes = build_plans(state)
    for note in notes:
        state.notify(note, "warning")
    added = []
    for plan in plans:
        n_tomo, groups = plan.n_tomograms, sorted({t.group.label for t in plan.tasks})
        extra = " + pick" * (plan.settings.pick is not None) + " + mesh" * (plan.settings.mesh is not None)
        label = (f"{n_tomo} tomogram{'s' * (n_tomo != 1)} x {', '.join(groups)}{extra} -> "
                 f"{Path(plan.settings.out_dir).name}")
        e = ExportJob(id=next(_ids), kind="segment", label=label, total=len(plan.tasks), plan=plan)
        state.export.queue.append(e)
        added.append(e)
    _pump(state)
    return added


@handler("cancel_export")
def cancel_export(state, id: int) -> None:
    """Cancel a running export (its tasks stop at the next slice block, partial files are
    discarded, finished outputs stay) or take a queued one off the queue."""
    e = find(state, id)
    if e.status == "queued":
        state.export.queue.remove(e)
    elif e.status == "running":
        e.cancel.set()
        e.message = "cancelling..."


@handler("remove_export")
def remove_export(state, id: int) -> None:
    e = find(state, id)
    if e.status == "running":
        raise AisLikeError("cancel the export first")
    state.export.queue.remove(e)


@handler("clear_finished_exports")
def clear_finished_exports(state) -> None:
    state.export.queue[:] = [e for e in state.export.queue if e.active]


@handler("show_export_in_render")
def show_export_in_render(state, id: int) -> None:
    from . import actions

    e = find(state, id)
    paths = e.render_files()
    if "render_add_files" not in actions.HANDLERS:
        raise AisLikeError("the Render tab cannot show files in this version")
    if not paths:
        raise AisLikeError("this export has no segmentations or coordinates to show")
    state.request("render_add_files", paths=paths)
    state.request("set_tab", tab="Render")
    state.extra["select_tab"] = "Render"


@handler("set_export_folder")
def set_export_folder(state, path) -> None:
    state.export.out_dir = str(path)
    scan_export_folder(state)


@handler("scan_export_folder")
def scan_export_folder(state, path=None) -> list[str]:
    """List the segmentations ``<tomogram>__<feature>.mrc`` in the output folder (for picking
    and meshing them on their own)."""
    from ..interactions import split_segmentation_name

    folder = Path(path or state.export.out_dir or ".")
    found = []
    if folder.is_dir():
        for p in sorted(folder.iterdir()):
            if p.is_file() and p.suffix.lower() == ".mrc" and not p.name.startswith(".") \
                    and split_segmentation_name(p) is not None:
                found.append(str(p))
    state.export.existing = found
    state.export.existing_chosen &= set(found)
    return found


@handler("queue_pick_mesh")
def queue_pick_mesh(state, what: str, files=None) -> ExportJob:
    """Pick (``what="pick"``) or mesh (``"mesh"``) existing segmentation files, writing beside
    each, with the tab's pick / mesh options: what ``ais-like pick`` / ``ais-like mesh`` do."""
    if what not in ("pick", "mesh"):
        raise AisLikeError(f"unknown job {what!r}")
    files = [str(f) for f in (files if files is not None else sorted(state.export.existing_chosen))]
    if not files:
        raise InputError("choose segmentations to " + what)
    params = pick_params(state.export) if what == "pick" else mesh_params(state.export)
    label = f"{what} {len(files)} segmentation{'s' * (len(files) != 1)}"
    e = ExportJob(id=next(_ids), kind=what, label=label, total=len(files), files=files, params=params)
    state.export.queue.append(e)
    _pump(state)
    return e


# ------------------------------------------------------------------------------------------
# Running the queue: one entry at a time, in order


def _pump(state) -> None:
    """Start the first queued entry when none is running (runs again when one finishes)."""
    q = state.export.queue
    if any(e.status == "running" for e in q):
        return
    e = next((e for e in q if e.status == "queued"), None)
    if e is None:
        return
    e.status, e.message, e.started = "running", "starting", time.time()
    fn = _run_segment if e.kind == "segment" else _run_files
    args = (e, pool(state)) if e.kind == "segment" else (e,)

    def done(summary):
        e.seconds = time.time() - (e.started or time.time())
        if e.kind == "segment":
            e.results = list(summary.results)  # the plan's order, cancelled tasks included
        c = e.counts()
        e.status = "cancelled" if e.cancel.is_set() or getattr(summary, "cancelled", False) else "done"
        e.message = ", ".join(f"{n} {s}" for s, n in c.items()) or "nothing to do"
        level = "warning" if c.get("failed") else "info"
        state.notify(f"export #{e.id} {e.status}: {e.message}", level)
        if e.kind == "segment" and state.export.out_dir.strip():
            try:  # new segmentations can be picked / meshed on their own
                scan_export_folder(state)
            except OSError:
                pass
        _pump(state)

    def failed(exc, tb=""):
        e.seconds = time.time() - (e.started or time.time())
        e.status, e.error = "failed", str(exc) if isinstance(exc, AisLikeError) else f"{type(exc).__name__}: {exc}"
        e.message = e.error
        state.error(f"export #{e.id} failed: {e.error}", tb)
        _pump(state)

    def body(job, *a):
        try:
            return fn(job, *a)
        except Cancelled:  # the job manager would drop the callbacks; the entry must finish
            return None
        finally:
            if job.cancelled:  # cancelled through the job (e.g. shutdown): the entry was too
                e.cancel.set()

    e.job = state.jobs.submit(f"export #{e.id}", body, *args, kind="export", on_done=done, on_error=failed)


class _Either:
    """``is_set()`` of either event: the entry's own cancel or its job's (shutdown)."""

    def __init__(self, *events):
        self.events = events

    def is_set(self) -> bool:
        return any(ev.is_set() for ev in self.events)


def _apply_event(e: ExportJob, ev) -> None:
    """A :class:`ais_like.batch.BatchEvent`, on the main thread."""
    if ev.kind == "start":
        e.dashboard = ev.message
        if not e.cancel.is_set():
            e.message = "running"
    elif ev.kind == "progress":
        t = e.tasks.setdefault(ev.key, {"status": "running"})
        if t["status"] == "running":
            t.update(stage=ev.stage, step=ev.step, steps=ev.steps)
    elif ev.kind == "result" and ev.result is not None:
        e.tasks[ev.key] = {"status": ev.result.status, "stage": "", "step": 0, "steps": 0}
        e.results.append(ev.result)


def _run_segment(job, e: ExportJob, dask: DaskPool):
    """The job: run the plan on the Dask pool (or, when Dask cannot start, in one spawned process)."""
    from ..batch import run_batch

    cancel = _Either(e.cancel, job.cancel_event)

    def post(ev):
        job.post(lambda ev=ev: _apply_event(e, ev))

    job.post(lambda: setattr(e, "message", "starting the Dask workers"))
    try:
        conn = dask.get()
    except Exception as exc:  # no Dask: the in-process fallback, in a spawned process
        why = " ".join(str(exc).split())[:200]
        job.post(lambda: setattr(e, "message", f"Dask did not start ({why}); running in one process"))
        return _run_spawned(e, post, cancel)
    try:
        return run_batch(e.plan, client=conn, progress=post, cancel=cancel)
    finally:
        dask.release()


# -- fallback without Dask: execute_task per task in one spawned process ----------------------


def _spawned_main(tasks, settings, out_q, cancel_ev) -> None:
    """The fallback process: :func:`ais_like.batch.execute_task` per task, progress and results
    sent through ``out_q``; stops at the next slice block once ``cancel_ev`` is set."""
    from ..batch import TaskResult, execute_task

    for task in tasks:
        if cancel_ev.is_set():
            out_q.put(("result", TaskResult(key=task.key, tomogram=task.name, path=task.tomogram,
                                            group=task.group.label, status="cancelled")))
            continue
        last = [0.0]

        def progress(done, total, stage="", key=task.key):
            if cancel_ev.is_set():
                raise Cancelled()
            now = time.monotonic()
            if now - last[0] >= POST_EVERY_S or done >= total:
                last[0] = now
                out_q.put(("progress", key, stage, int(done), int(total)))

        out_q.put(("result", execute_task(task, settings, progress=progress, wait=True)))


def _run_spawned(e: ExportJob, post, cancel):
    from ..batch import BatchEvent, Summary, TaskResult

    ctx = multiprocessing.get_context("spawn")
    out_q, cancel_ev = ctx.Queue(), ctx.Event()
    proc = ctx.Process(target=_spawned_main, args=(e.plan.tasks, e.plan.settings, out_q, cancel_ev), daemon=True)
    t0 = time.perf_counter()
    proc.start()
    n = len(e.plan.tasks)
    results: dict[str, object] = {}
    post(BatchEvent("start", 0, n, message=""))
    while len(results) < n:
        if cancel.is_set():
            cancel_ev.set()
        try:
            msg = out_q.get(timeout=0.1)
        except queue_mod.Empty:
            if not proc.is_alive() and out_q.empty():
                break
            continue
        if msg[0] == "progress":
            post(BatchEvent("progress", len(results), n, key=msg[1], stage=msg[2], step=msg[3], steps=msg[4]))
        else:
            r = msg[1]
            results[r.key] = r
            post(BatchEvent("result", len(results), n, key=r.key, result=r))
    proc.join(5)
    ordered = [results.get(t.key) or TaskResult(key=t.key, tomogram=t.name, path=t.tomogram, group=t.group.label,
                                                status="failed", reason="the export process stopped")
               for t in e.plan.tasks]
    post(BatchEvent("end", n, n))
    return Summary(results=ordered, seconds=time.perf_counter() - t0, cancelled=cancel.is_set())


# -- picking / meshing existing segmentations (no model: in the job's thread) -----------------


def _run_files(job, e: ExportJob):
    from ..batch import TaskResult, one_line
    from ..mesh import mesh_file
    from ..picking import pick_file

    for i, f in enumerate(e.files):
        path = Path(f)
        key = path.name
        t0 = time.perf_counter()
        last = [0.0]

        def progress(done, total, message="", key=key):
            if e.cancel.is_set() or job.cancel_event.is_set():
                raise Cancelled(key)
            now = time.monotonic()
            if now - last[0] >= POST_EVERY_S or done >= total:
                last[0] = now
                job.post(lambda: e.tasks.__setitem__(key, {"status": "running", "stage": e.kind,
                                                           "step": int(done), "steps": int(total)}))

        base = dict(key=key, tomogram=path.stem, path=str(path), group=e.kind)
        try:
            progress(0, 1)
            if e.kind == "pick":
                params = dict(e.params)
                fmt = params.pop("fmt", "star")
                res = pick_file(path, None, fmt=fmt, progress=progress, **params)
                outputs, note = [str(res.out)], f"{res.n} particles"
            else:
                res = mesh_file(path, None, progress=progress, **e.params)
                outputs, note = [str(res.out.with_suffix(".mtl")), str(res.out)], \
                    f"{res.n_pieces} pieces, {res.n_faces} faces"
            r = TaskResult(**base, status="done", outputs=outputs, reason=note)
        except Cancelled:
            r = TaskResult(**base, status="cancelled")
        except InputError as exc:
            r = TaskResult(**base, status="failed", reason=one_line(str(exc)))
        except Exception as exc:  # one file fails alone, with its reason
            r = TaskResult(**base, status="failed", reason=one_line(f"{type(exc).__name__}: {exc}"))
        r.seconds = time.perf_counter() - t0
        job.post(lambda r=r: (e.tasks.__setitem__(r.key, {"status": r.status, "stage": "", "step": 0, "steps": 0}),
                              e.results.append(r)))
        if r.status == "cancelled":
            for g in e.files[i + 1:]:
                c = TaskResult(key=Path(g).name, tomogram=Path(g).stem, path=str(g), group=e.kind, status="cancelled")
                job.post(lambda c=c: e.results.append(c))
            break
    return None
