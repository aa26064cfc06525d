"""Batch processing: many tomograms x many models on Dask ``distributed``, on one machine or a
cluster, with the outputs of the single commands (``segment``, ``pick``, ``mesh``).

A batch is planned on the client (:func:`plan_batch`: one :class:`Task` per (tomogram, model
group), from file headers and model metadata only, no Keras) and run by :func:`run_batch` on a
Dask client: a local cluster sized to the machine, an existing scheduler, or SLURM / PBS / SGE
jobs through dask-jobqueue (:func:`ais_like.cluster.connect`, also importable from here). Each
task (:func:`execute_task`) segments its tomogram with its models (interactions included), then
picks and meshes the segmentations, by calling the same core functions as the commands, so every
output is byte-identical to running the commands one by one.

Model groups
    Each ``.scnm`` is its own group and each ``.scnmgroup`` one group, unless the models interact
    (an interactions file, a group's stored interactions, or emit/absorb flags in the models):
    then all models form one group, because interactions need every model's prediction.

Workers
    A worker process loads the models of a group once (a cache keyed by the model files' paths,
    modification times and sizes) and keeps them for every later tomogram. A worker runs one task
    at a time. A GPU worker holds one GPU (``CUDA_VISIBLE_DEVICES``, set before TensorFlow is
    imported; see :mod:`ais_like.cluster`).

Safe with several runs on one folder
    Every output is written under a temporary name in the output folder and renamed when complete
    (as every ais_like writer does), and a task whose outputs all exist is skipped. A task runs
    only under a claim (:mod:`ais_like.claims`): a lock file ``.<tomogram>.<hash>.ais-like-lock``
    created atomically, holding the owner's host, pid, process start time and a random token,
    touched every 30 s and removed when the task ends (done, failed or cancelled). A claim whose
    owner is gone is stale and is taken over: on the same host as soon as the pid is dead (or was
    reused by another process), and from any host when it has not been touched for 10 minutes.
    The new owner removes what a killed owner left (its ``.part`` files), so nothing must ever be
    deleted by hand. A task claimed by a live run is not worked on twice: the run waits for it
    at the end and reports it skipped once the other run has finished it (or takes it over if
    that run dies).

Nothing here imports TensorFlow on the client: only the worker's task loads models.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .claims import Claim, claim_debris, glob_escape, try_claim
from .cluster import Connection, connect, pin_gpu
from .errors import Cancelled, InputError
from .progress import ProgressFn, null_progress

# How often a run waiting for another run's claim looks again (s).
POLL_S = 2.0
# A running task reports its progress at most this often (s), and looks for a cancel request.
REPORT_S = 0.25
CANCEL_CHECK_S = 1.0
# Models of at most this many groups stay loaded in one worker.
CACHE_GROUPS = 8
LOCK_SUFFIX = ".ais-like-lock"

STATUSES = ("done", "skipped", "failed", "cancelled", "busy")


# ---------------------------------------------------------------------------------------------
# Plan
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelGroup:
    """Model files segmented together (one task per tomogram); ``titles`` name the outputs."""

    files: tuple[str, ...]
    titles: tuple[str, ...]

    @property
    def label(self) -> str:
        return " + ".join(self.titles)


@dataclass(frozen=True)
class Task:
    """One tomogram with one model group.

    ``z_range`` (z0, z1) and ``crop`` (y0, y1, x0, x1), when given, replace the plan's settings
    for this tomogram (the GUI's export queue sets them per tomogram).
    """

    tomogram: str
    name: str
    group: ModelGroup
    z_range: tuple[int, int] | None = None
    crop: tuple[int, int, int, int] | None = None

    @property
    def key(self) -> str:
        return f"{self.name} [{self.group.label}]"

    def lock_path(self, out_dir) -> Path:
        digest = hashlib.sha1("\0".join(self.group.titles).encode("utf-8")).hexdigest()[:10]
        return Path(out_dir) / f".{self.name}.{digest}{LOCK_SUFFIX}"


@dataclass(frozen=True)
class Settings:
    """What every task of a plan does, as the options of ``segment``, ``pick`` and ``mesh``.

    ``interactions``: an interactions file, an ``ais_like.interactions.InteractionSet``, or None
    (the groups' own). ``pick``: keyword arguments of :func:`ais_like.picking.pick_file` (those
    of ``pick_particles`` plus ``fmt``), or None for no picking. ``mesh``: keyword arguments of
    :func:`ais_like.mesh.mesh_file`, or None. ``apix`` overrides the voxel size everywhere.
    """

    out_dir: str
    z_range: tuple[int, int] | None = None
    crop_x: tuple[int, int] | None = None
    crop_y: tuple[int, int] | None = None
    tta: int = 1
    batch_size: int | None = None
    interactions: object = None
    interaction_mode: str | None = None
    apix: float | None = None
    pick: dict | None = None
    mesh: dict | None = None


@dataclass
class Plan:
    tasks: list[Task]
    settings: Settings

    @property
    def n_tomograms(self) -> int:
        return len({t.tomogram for t in self.tasks})

    @property
    def n_groups(self) -> int:
        return len({t.group for t in self.tasks})

    def outputs(self, task: Task) -> list[Path]:
        return task_outputs(task, self.settings)


def task_outputs(task: Task, settings: Settings) -> list[Path]:
    """The files a task leaves in the output folder, per model: the segmentation, then the
    coordinates (with picking), then the ``.mtl`` and ``.obj`` (with meshing)."""
    from .mesh import default_output as mesh_output
    from .picking import default_output as pick_output
    from .segment import output_name

    out = Path(settings.out_dir)
    paths = []
    for title in task.group.titles:
        seg = out / output_name(task.name, title)
        paths.append(seg)
        if settings.pick is not None:
            paths.append(pick_output(seg, settings.pick.get("fmt", "star"), out))
        if settings.mesh is not None:
            obj = mesh_output(seg, out)
            paths += [obj.with_suffix(".mtl"), obj]
    return paths


def plan_batch(data, models, out_dir, *, interactions=None, interaction_mode: str | None = None,
               z_range=None, crop_x=None, crop_y=None, tta: int = 1, batch_size: int | None = None,
               apix: float | None = None, pick: dict | None = None, mesh: dict | None = None) -> Plan:
    """Plan a batch: one task per (tomogram, model group). Reads model metadata only (no Keras).

    Parameters
    ----------
    data : what ``--data`` takes: files, folders, globs or ``.txt`` lists (a string or a list).
    models : ``.scnm`` and ``.scnmgroup`` files.
    out_dir : the output folder (created when missing).
    interactions, interaction_mode, z_range, crop_x, crop_y, tta, batch_size, apix :
        as ``ais-like segment``'s options (``crop_x``/``crop_y`` are (start, stop) in px).
    pick : :func:`ais_like.picking.pick_file` keyword arguments (``fmt`` and the picker's), or None.
    mesh : :func:`ais_like.mesh.mesh_file` keyword arguments, or None.

    Raises
    ------
    InputError for no volumes, two tomograms of one name, unreadable models, clashing model
    titles, interactions naming absent models, or an unusable output folder. A corrupt tomogram
    is not opened here: its task fails alone when it runs.
    """
    from .archive import read_group_metadata, read_metadata
    from .picking import FORMATS
    from .segment import interaction_spec, output_folder
    from .volume import find_volumes, tomogram_name

    specs = [data] if isinstance(data, (str, os.PathLike)) else list(data)
    volumes = find_volumes(specs)
    if not volumes:
        raise InputError(f"{', '.join(map(str, specs))}: no volume files found")
    seen: dict[str, Path] = {}
    for v in volumes:
        name = tomogram_name(v)
        if name in seen and seen[name].resolve() != v.resolve():
            raise InputError(f"{v}: another tomogram of the same name ({seen[name]}) would write the same outputs")
        seen[name] = v
    volumes = list(dict.fromkeys(seen.values()))
    models = [Path(m) for m in ([models] if isinstance(models, (str, os.PathLike)) else models)]
    if not models:
        raise InputError("no models given (--model)")
    metadata: dict[str, dict] = {}
    group_lists: list = []
    groups: list[ModelGroup] = []
    for path in models:
        suffix = path.suffix.lower()
        if suffix == ".scnmgroup":
            metas, raw = read_group_metadata(path)
            group_lists.extend(raw)
        elif suffix == ".scnm":
            metas = [read_metadata(path)]
        else:
            raise InputError(f"{path}: not a model file (.scnm or .scnmgroup)")
        titles = tuple(str(m.get("title", "model")) for m in metas)
        for t, m in zip(titles, metas):
            if t in metadata:
                raise InputError(f"{path}: another model is titled {t!r} too; their outputs would overwrite each other")
            metadata[t] = m
        groups.append(ModelGroup(files=(str(path.resolve()),), titles=titles))
    source = str(interactions) if isinstance(interactions, (str, os.PathLike)) else str(models[0])
    spec = interaction_spec(metadata, group_lists, interactions, interaction_mode, source=source)
    if spec is not None:  # interacting models need each other's predictions: one group
        groups = [ModelGroup(files=sum((g.files for g in groups), ()), titles=sum((g.titles for g in groups), ()))]
    if not 1 <= int(tta) <= 8:
        raise InputError(f"test-time augmentation must be 1..8 transforms, got {tta}")
    if pick is not None and pick.get("fmt", "star") not in FORMATS:
        raise InputError(f"unknown coordinate format {pick.get('fmt')!r} (expected star, star5 or txt)")
    out = output_folder(out_dir)
    if isinstance(interactions, (str, os.PathLike)):
        interactions = str(Path(interactions).resolve())
    settings = Settings(out_dir=str(out.resolve()), z_range=z_range, crop_x=crop_x, crop_y=crop_y, tta=int(tta),
                        batch_size=batch_size, interactions=interactions, interaction_mode=interaction_mode,
                        apix=apix, pick=dict(pick) if pick is not None else None,
                        mesh=dict(mesh) if mesh is not None else None)
    tasks = [Task(tomogram=str(v.resolve()), name=tomogram_name(v), group=g) for v in volumes for g in groups]
    return Plan(tasks=tasks, settings=settings)


def leftovers(outputs: list[Path]) -> list[Path]:
    """Temporary files an interrupted writer of ``outputs`` may have left in their folder."""
    from .segment import _stage_name

    found = []
    for p in outputs:
        names = [p.name]
        if p.suffix.lower() == ".mrc":
            stage = _stage_name(p)
            names.append(stage.name)
            if stage.exists():
                found.append(stage)
        for name in names:
            found.extend(p.parent.glob(f".{glob_escape(name)}.*.part"))
    return found


# ---------------------------------------------------------------------------------------------
# One task (runs in a worker; callable directly, with no Dask)
# ---------------------------------------------------------------------------------------------
@dataclass
class TaskResult:
    """What became of one task. ``status``: done (something was computed), skipped (every output
    existed, or another run finished it), failed (``reason`` says why, in one line), cancelled,
    or busy (claimed by another live run; :func:`run_batch` waits for it)."""

    key: str
    tomogram: str
    path: str
    group: str
    status: str
    outputs: list[str] = field(default_factory=list)
    reason: str = ""
    seconds: float = 0.0
    worker: str = ""
    models_loaded: bool = False
    cleaned: int = 0

    def line(self) -> str:
        """One line for the terminal."""
        if self.status == "failed":
            return f"{self.key}: failed: {self.reason}"
        text = f"{self.key}: {self.status}"
        if self.status == "done":
            text += f" in {self.seconds:.1f} s, {len(self.outputs)} file{'s' * (len(self.outputs) != 1)}"
            if self.cleaned:
                text += f" (removed {self.cleaned} left-over temporary file{'s' * (self.cleaned != 1)})"
        if self.reason:
            text += f" ({self.reason})"
        return text


_CACHE: dict = {}
_CACHE_LOCK = threading.Lock()


def _file_id(path: str) -> tuple:
    try:
        st = os.stat(path)
    except OSError:
        return (str(path), None, None)
    return (str(Path(path).resolve()), st.st_mtime_ns, st.st_size)


def cached_models(files, interactions=None, mode: str | None = None):
    """:func:`ais_like.segment.load_models` once per process for the same model files (same
    paths, modification times and sizes): ``(models, spec, loaded_now)``."""
    from .segment import load_models

    if interactions is None or isinstance(interactions, (str, os.PathLike)):
        ikey = _file_id(str(interactions)) if interactions is not None else None
    else:
        ikey = json.dumps(interactions.to_dict(), sort_keys=True)
    key = (tuple(_file_id(f) for f in files), ikey, mode)
    with _CACHE_LOCK:
        hit = _CACHE.pop(key, None)
        if hit is not None:
            _CACHE[key] = hit  # most recently used last
            return hit[0], hit[1], False
        models, spec = load_models(list(files), interactions, mode)
        _CACHE[key] = (models, spec)
        while len(_CACHE) > CACHE_GROUPS:
            _CACHE.pop(next(iter(_CACHE)))
        return models, spec, True


def execute_task(task: Task, settings: Settings, *, progress: ProgressFn | None = None, wait: bool = False,
                 poll: float = POLL_S, worker: str = "") -> TaskResult:
    """Run one task: skip it when its outputs exist, else claim it, remove what an interrupted
    owner left, segment (when a segmentation is missing), pick and mesh what is missing.

    ``progress(done, total, stage)`` is called per slice block and may raise
    :class:`ais_like.errors.Cancelled` to stop the task (outputs in progress are discarded).
    With ``wait``, a task claimed by another live run is waited for (polling every ``poll`` s)
    instead of returned as busy. Errors are returned as a failed result, never raised.
    """
    progress = progress or null_progress
    t0 = time.perf_counter()
    result = TaskResult(key=task.key, tomogram=task.name, path=task.tomogram, group=task.group.label,
                        status="done", worker=worker)
    out = Path(settings.out_dir)
    try:
        outputs = task_outputs(task, settings)
        progress(0, 1, "starting")
        if all(p.exists() for p in outputs):
            result.status = "skipped"
            return result
        while True:
            claim = try_claim(task.lock_path(out))
            if isinstance(claim, Claim):
                break
            owner = f"{claim.get('host', 'unknown')} pid {claim.get('pid')}"
            if not wait:
                result.status, result.reason = "busy", f"claimed by another run ({owner})"
                return result
            progress(0, 1, f"waiting for {owner}")
            time.sleep(poll)
            if all(p.exists() for p in outputs):
                result.status, result.reason = "skipped", f"finished by another run ({owner})"
                return result
        try:
            if all(p.exists() for p in outputs):  # finished by another run just before our claim
                result.status, result.reason = "skipped", "finished by another run"
                return result
            if claim.taken_over is not None:
                old = claim.taken_over
                result.reason = f"took over from a stopped run ({old.get('host', 'unknown')} pid {old.get('pid')})"
            stale = leftovers(outputs) + claim_debris(task.lock_path(out))
            for p in stale:
                p.unlink(missing_ok=True)
            result.cleaned = len(stale)
            written, result.models_loaded = _work(task, settings, progress)
            result.outputs = [str(p) for p in written]
        finally:
            claim.release()
    except Cancelled:
        result.status = "cancelled"
    except InputError as exc:
        result.status, result.reason = "failed", one_line(str(exc))
    except Exception as exc:  # a task fails alone, with its reason
        result.status, result.reason = "failed", one_line(f"{type(exc).__name__}: {exc}")
    finally:
        result.seconds = time.perf_counter() - t0
    return result


def one_line(text: str) -> str:
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    return " ".join(lines)[:500] if lines else "unknown error"


def _work(task: Task, settings: Settings, progress: ProgressFn) -> tuple[list[Path], bool]:
    from .mesh import default_output as mesh_output
    from .mesh import mesh_file
    from .picking import default_output as pick_output
    from .picking import pick_file
    from .segment import crop_box, output_name, segment_volume
    from .volume import open_volume

    out = Path(settings.out_dir)
    segs = [out / output_name(task.name, t) for t in task.group.titles]
    written: list[Path] = []
    loaded = False

    def stage(name):
        return lambda done, total, message="": progress(done, total, name)

    missing = [p for p in segs if not p.exists()]
    if missing:
        models, spec, loaded = cached_models(task.group.files, settings.interactions, settings.interaction_mode)
        with open_volume(task.tomogram, apix=settings.apix) as vol:
            crop = task.crop if task.crop is not None else crop_box(vol.shape, settings.crop_x, settings.crop_y)
            z_range = task.z_range if task.z_range is not None else settings.z_range
            segment_volume(models, vol, out, z_range=z_range, crop=crop, tta=settings.tta,
                           batch_size=settings.batch_size, interactions=spec, skip_existing=True,
                           progress=stage("segment"))
        written += missing if spec is None else segs
    for title, seg in zip(task.group.titles, segs):
        if settings.pick is not None:
            params = dict(settings.pick)
            fmt = params.pop("fmt", "star")
            target = pick_output(seg, fmt, out)
            if not target.exists():
                pick_file(seg, out, fmt=fmt, apix=settings.apix, progress=stage(f"pick {title}"), **params)
                written.append(target)
        if settings.mesh is not None:
            target = mesh_output(seg, out)
            if not target.exists():
                mesh_file(seg, out, apix=settings.apix, progress=stage(f"mesh {title}"), **settings.mesh)
                written += [target.with_suffix(".mtl"), target]
    return written, loaded


# ---------------------------------------------------------------------------------------------
# Running a plan
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BatchEvent:
    """A report from :func:`run_batch`.

    kind: "start" (``message`` = the dashboard address), "progress" (task ``key`` is at
    ``step``/``steps`` of ``stage``), "result" (``result`` is a finished task's), "end".
    ``done`` / ``total``: tasks finished so far / all tasks.
    """

    kind: str
    done: int
    total: int
    key: str = ""
    stage: str = ""
    step: int = 0
    steps: int = 0
    result: TaskResult | None = None
    message: str = ""


@dataclass
class Summary:
    """The outcome of a batch: one :class:`TaskResult` per task (in the plan's order)."""

    results: list[TaskResult]
    seconds: float
    cancelled: bool = False
    dashboard: str | None = None

    def with_status(self, status: str) -> list[TaskResult]:
        return [r for r in self.results if r.status == status]

    @property
    def done(self) -> list[TaskResult]:
        return self.with_status("done")

    @property
    def skipped(self) -> list[TaskResult]:
        return self.with_status("skipped")

    @property
    def failed(self) -> list[TaskResult]:
        return self.with_status("failed")

    @property
    def ok(self) -> bool:
        return not self.cancelled and all(r.status in ("done", "skipped") for r in self.results)

    def lines(self) -> list[str]:
        """The summary printed at the end: counts, then one line per failure."""
        counts = ", ".join(f"{len(self.with_status(s))} {s}" for s in STATUSES if self.with_status(s) or s in
                           ("done", "skipped", "failed"))
        head = f"batch: {len(self.results)} tasks in {self.seconds:.1f} s: {counts}"
        if self.cancelled:
            head += " (cancelled)"
        return [head] + [f"  failed: {r.key}: {r.reason}" for r in self.failed]


def _task_on_worker(task: Task, settings: Settings, run_id: str, pin: bool, wait: bool) -> TaskResult:
    """The Dask task: :func:`execute_task` with progress sent to the client as events and the
    run's cancel flag (a Dask ``Event``) looked at while it works."""
    from distributed import Event, get_worker

    worker = get_worker()
    if pin:
        pin_gpu(worker.name)
    topic = _topic(run_id)
    cancel = Event(_cancel_name(run_id))
    last = {"report": 0.0, "check": 0.0}

    def progress(done, total, stage=""):
        now = time.monotonic()
        if now - last["check"] >= CANCEL_CHECK_S:
            last["check"] = now
            if cancel.is_set():
                raise Cancelled()
        if now - last["report"] >= REPORT_S or done >= total:
            last["report"] = now
            worker.log_event(topic, {"key": task.key, "stage": stage, "step": int(done), "steps": int(total)})

    return execute_task(task, settings, progress=progress, wait=wait, worker=str(worker.name))


def _topic(run_id: str) -> str:
    return f"ais-like-batch-{run_id}"


def _cancel_name(run_id: str) -> str:
    return f"ais-like-batch-cancel-{run_id}"


def run_batch(plan: Plan, *, client=None, progress: Callable[[BatchEvent], None] | None = None,
              cancel=None) -> Summary:
    """Run every task of ``plan`` on Dask and return what became of each.

    Parameters
    ----------
    plan : from :func:`plan_batch` (or built by hand from :class:`Task` and :class:`Settings`).
    client : a :class:`Connection` from :func:`connect`, a ``distributed.Client``, or None (a
        local cluster for this call only).
    progress : called with a :class:`BatchEvent` for the start, each task's progress, each
        finished task and the end; always in the calling thread.
    cancel : anything with ``is_set()`` (a ``threading.Event``): when set, running tasks stop at
        their next slice block (what they were writing is discarded, finished outputs stay) and
        tasks not started are not started; the summary then has ``cancelled=True``.

    Safe to call from a background thread (the GUI's export queue does). Ctrl-C in the calling
    thread cancels the same way.
    """
    from distributed import Client

    if client is None:
        with connect() as conn:
            return run_batch(plan, client=conn, progress=progress, cancel=cancel)
    conn = client if isinstance(client, Connection) else Connection(client=client)
    if not isinstance(conn.client, Client):
        raise TypeError("client must be a Connection, a distributed.Client or None")
    emit = progress or (lambda event: None)
    t0 = time.perf_counter()
    run_id = uuid.uuid4().hex[:12]
    runner = _Runner(plan, conn, run_id, emit, cancel)
    emit(BatchEvent("start", 0, len(plan.tasks), message=conn.dashboard or ""))
    try:
        runner.run()
    finally:
        runner.close()
    results = [runner.results.get(i) or TaskResult(key=t.key, tomogram=t.name, path=t.tomogram, group=t.group.label,
                                                    status="cancelled")
               for i, t in enumerate(plan.tasks)]
    summary = Summary(results=results, seconds=time.perf_counter() - t0, cancelled=runner.cancelling,
                      dashboard=conn.dashboard)
    emit(BatchEvent("end", len(results), len(results)))
    return summary


class _Runner:
    """The client side of one run: submits tasks, relays worker events, collects results."""

    GRACE_S = 30.0  # after a cancel, how long running tasks get to stop cleanly

    def __init__(self, plan: Plan, conn: Connection, run_id: str, emit, cancel):
        from distributed import Event

        self.plan, self.conn, self.run_id, self.emit, self.cancel = plan, conn, run_id, emit, cancel
        self.client = conn.client
        self.results: dict[int, TaskResult] = {}
        self.events: queue.SimpleQueue = queue.SimpleQueue()
        self.cancelling = False
        self.cancel_event = Event(_cancel_name(run_id), client=self.client)
        self.client.subscribe_topic(_topic(run_id), lambda ev: self.events.put(ev[1]))

    def run(self) -> None:
        todo = list(range(len(self.plan.tasks)))
        wait = False
        while todo and not self.cancelling:
            if self.cancel is not None and self.cancel.is_set():  # before any (more) task starts
                self._start_cancel()
                break
            busy = self._round(todo, wait)
            todo, wait = busy, True  # claimed by other runs: wait for them at the end

    def _round(self, indices: list[int], wait: bool) -> list[int]:
        from distributed import as_completed

        futures = {}
        for i in indices:
            t = self.plan.tasks[i]
            f = self.client.submit(_task_on_worker, t, self.plan.settings, self.run_id, self.conn.pin_gpus, wait,
                                   key=f"ais-like-batch-{self.run_id}-{i}-{int(wait)}", pure=False,
                                   resources=self.conn.resources)
            futures[f] = i
        ac = as_completed(futures)
        busy = []
        deadline = None
        while not ac.is_empty():
            try:
                self._relay()
                if not self.cancelling and self.cancel is not None and self.cancel.is_set():
                    self._start_cancel()
                if deadline is None and self.cancelling:
                    deadline = time.monotonic() + self.GRACE_S
                if deadline is not None and time.monotonic() > deadline:
                    self.client.cancel([f for f in futures if not f.done()])
                    break
                ready = ac.next_batch(block=False)
                if not ready:
                    time.sleep(0.05)
                    continue
            except KeyboardInterrupt:
                if self.cancelling:
                    raise
                self._start_cancel()
                continue
            for f in ready:
                i = futures[f]
                r = self._result_of(f, self.plan.tasks[i])
                if r.status == "busy" and not self.cancelling:
                    busy.append(i)
                    continue
                self.results[i] = r
                self.emit(BatchEvent("result", len(self.results), len(self.plan.tasks), key=r.key, result=r))
        self._relay()
        return busy

    def _start_cancel(self) -> None:
        self.cancelling = True
        self.cancel_event.set()

    def _relay(self) -> None:
        finished = {r.key for r in self.results.values()}
        while True:
            try:
                ev = self.events.get_nowait()
            except queue.Empty:
                return
            if not isinstance(ev, dict) or ev.get("key") in finished:
                continue
            self.emit(BatchEvent("progress", len(self.results), len(self.plan.tasks), key=str(ev.get("key", "")),
                                 stage=str(ev.get("stage", "")), step=int(ev.get("step", 0)),
                                 steps=int(ev.get("steps", 0))))

    @staticmethod
    def _result_of(f, task: Task) -> TaskResult:
        base = dict(key=task.key, tomogram=task.name, path=task.tomogram, group=task.group.label)
        if f.status == "finished":
            try:
                return f.result()
            except Exception as exc:  # lost in transfer
                return TaskResult(**base, status="failed", reason=one_line(f"{type(exc).__name__}: {exc}"))
        if f.status == "cancelled":
            return TaskResult(**base, status="cancelled")
        exc = f.exception()
        return TaskResult(**base, status="failed", reason=one_line(f"{type(exc).__name__}: {exc}"))

    def close(self) -> None:
        try:
            self.client.unsubscribe_topic(_topic(self.run_id))
        except Exception:
            pass
