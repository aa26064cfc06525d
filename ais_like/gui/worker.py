"""The model worker: one spawned process that builds, trains, loads, saves and runs models.

The GUI process never imports TensorFlow (it crashes beside Mesa's llvmpipe), so everything
Keras does happens here. :class:`ModelWorker` (GUI side) starts the process on first use with
the ``spawn`` context and talks to it through two queues:

- commands (GUI -> worker), dicts with ``op`` and ``id``:
  ``load(key, path)``, ``train(key, trainset, architecture, params, out)``, ``stop(key)``,
  ``predict(key, version, request_id, image, apix, stats)``, ``save(key, path)``, ``drop(key)``,
  ``shutdown``;
- messages (worker -> GUI), dicts with ``event``: ``ready``, ``loaded``, ``batch``, ``epoch``,
  ``trained``, ``prediction``, ``saved``, ``dropped``, ``error`` (with ``key``, ``op`` and a
  one-line ``message``), and ``crashed`` (made up on the GUI side when the process died).

Only the newest ``predict`` per model is served: older ones still queued are dropped. While a
model trains, its callback serves queued commands between batches (predictions with the model
being trained, stop requests, loads/saves of other models), so the live preview refreshes
during training and the Stop button works within one batch. Another ``train`` waits its turn.

:meth:`ModelWorker.poll` never blocks; the GUI calls it once a frame.
"""

from __future__ import annotations

import os
import queue
import shutil
import tempfile
import time
import traceback
from collections import deque
from pathlib import Path


# ==========================================================================================
# GUI side


class ModelWorker:
    """The GUI's handle on the worker process (started on first :meth:`send`)."""

    def __init__(self, backend: str | None = None, session_dir: str | os.PathLike | None = None):
        self.backend = backend if backend is not None else os.environ.get("KERAS_BACKEND")
        self._session_dir = Path(session_dir) if session_dir else None
        self._own_dir = session_dir is None
        self._proc = None
        self._cmd = None
        self._res = None
        self._next_id = 0
        self.starts = 0  # processes started so far (a crash restarts on next use)
        self.crashes = 0
        self.closed = False

    # -- process ------------------------------------------------------------------------------

    @property
    def session_dir(self) -> Path:
        """A temporary folder for this session's training sets and trained models."""
        if self._session_dir is None:
            self._session_dir = Path(tempfile.mkdtemp(prefix="ais_like_session_"))
        self._session_dir.mkdir(parents=True, exist_ok=True)
        return self._session_dir

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.is_alive()

    @property
    def started(self) -> bool:
        return self._proc is not None

    def start(self) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self._cmd = ctx.Queue()
        self._res = ctx.Queue()
        self._proc = ctx.Process(target=worker_main, args=(self._cmd, self._res, self.backend),
                                 name="ais-like model worker", daemon=True)
        self._proc.start()
        self.starts += 1
        self.closed = False

    def send(self, op: str, **kwargs) -> int:
        """Queue a command (starting the process when needed); returns its id. Never blocks."""
        if self._proc is None:
            self.start()
        self._next_id += 1
        msg = dict(kwargs, op=op, id=self._next_id)
        self._cmd.put(msg)
        return self._next_id

    def poll(self, max_messages: int = 64) -> list[dict]:
        """Messages that arrived (at most ``max_messages``); a dead process gives ``crashed``."""
        out: list[dict] = []
        if self._proc is None:
            return out
        while len(out) < max_messages:
            try:
                out.append(self._res.get_nowait())
            except queue.Empty:
                break
            except (EOFError, OSError):
                break
        if not out and not self._proc.is_alive():
            code = self._proc.exitcode
            self._forget()
            self.crashes += 1
            out.append({"event": "crashed", "exitcode": code,
                        "message": f"the model worker stopped unexpectedly (exit code {code})"})
        return out

    def wait_for(self, condition, timeout: float = 60.0, on_message=None) -> list[dict]:
        """Poll until ``condition(message)`` holds for an arrived message (tests, scripts).
        Every message seen is passed to ``on_message`` and returned."""
        seen = []
        end = time.time() + timeout
        while time.time() < end:
            msgs = self.poll()
            for m in msgs:
                seen.append(m)
                if on_message is not None:
                    on_message(m)
                if condition(m):
                    return seen
            if not msgs:
                time.sleep(0.01)
        raise TimeoutError(f"no matching worker message within {timeout} s (saw {[m.get('event') for m in seen]})")

    def _forget(self) -> None:
        for q in (self._cmd, self._res):
            if q is not None:
                try:
                    q.cancel_join_thread()
                    q.close()
                except Exception:  # pragma: no cover - best effort on a dead process
                    pass
        self._proc = self._cmd = self._res = None

    def kill(self) -> None:
        """Kill the process at once (tests of crash handling)."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.join(5)

    def close(self, timeout: float = 5.0) -> None:
        """Shut the process down (politely, then by force) and remove the session folder."""
        if self._proc is not None:
            try:
                self._cmd.put({"op": "shutdown", "id": 0})
            except Exception:
                pass
            self._proc.join(timeout)
            if self._proc.is_alive():
                self._proc.terminate()
                self._proc.join(2)
            self._forget()
        if self._own_dir and self._session_dir is not None:
            shutil.rmtree(self._session_dir, ignore_errors=True)
            self._session_dir = None
        self.closed = True


# ==========================================================================================
# Worker side (runs in the spawned process; imports Keras)


class _Stop(Exception):
    pass


def worker_main(cmd_q, res_q, backend: str | None = None) -> None:
    """Entry point of the spawned process."""
    if backend:
        os.environ["KERAS_BACKEND"] = backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:  # the window's frames come first; training takes the CPU time left over
        os.nice(int(os.environ.get("AIS_LIKE_WORKER_NICE", "10")))
    except (OSError, ValueError):
        pass
    _Server(cmd_q, res_q).run()


class _Server:
    def __init__(self, cmd_q, res_q):
        self.cmd_q = cmd_q
        self.res_q = res_q
        self.models: dict = {}  # key -> ais_like.archive.LoadedModel
        self.pending: deque = deque()
        self.training: str | None = None  # key of the model in training
        self.stop_requested = False
        self.quit = False

    # -- plumbing -----------------------------------------------------------------------------

    def reply(self, event: str, **kw) -> None:
        self.res_q.put(dict(kw, event=event))

    def error(self, cmd: dict, exc: BaseException) -> None:
        from ..errors import AisLikeError

        if isinstance(exc, AisLikeError):
            text = str(exc)
        else:
            text = f"{type(exc).__name__}: {exc}"
        self.reply("error", key=cmd.get("key"), op=cmd.get("op"), id=cmd.get("id"),
                   message=" ".join(text.split())[:500], details=traceback.format_exc()[-4000:],
                   request_id=cmd.get("request_id"))

    def fetch(self, block: bool) -> None:
        """Move queued commands to ``pending`` (waiting for one when ``block``)."""
        if block and not self.pending:
            self.pending.append(self.cmd_q.get())
        while True:
            try:
                self.pending.append(self.cmd_q.get_nowait())
            except queue.Empty:
                break
        self._coalesce()

    def _coalesce(self) -> None:
        """Keep only the newest predict per model."""
        newest = {}
        for c in self.pending:
            if c.get("op") == "predict":
                newest[c.get("key")] = c.get("id")
        if newest:
            self.pending = deque(c for c in self.pending
                                 if c.get("op") != "predict" or newest.get(c.get("key")) == c.get("id"))

    # -- main loop ----------------------------------------------------------------------------

    def run(self) -> None:
        self.reply("ready", pid=os.getpid())
        while not self.quit:
            self.fetch(block=True)
            while self.pending and not self.quit:
                self.handle(self.pending.popleft())

    def handle(self, cmd: dict) -> None:
        op = cmd.get("op")
        try:
            if op == "shutdown":
                self.quit = True
            elif op == "load":
                self.load(cmd)
            elif op == "train":
                self.train(cmd)
            elif op == "predict":
                self.predict(cmd)
            elif op == "save":
                self.save(cmd)
            elif op == "drop":
                self.models.pop(cmd.get("key"), None)
                self.reply("dropped", key=cmd.get("key"), id=cmd.get("id"))
            elif op == "stop":  # nothing trains now: drop a queued training of that model
                n = len(self.pending)
                self.pending = deque(c for c in self.pending
                                     if not (c.get("op") == "train" and c.get("key") == cmd.get("key")))
                self.reply("stopped", key=cmd.get("key"), id=cmd.get("id"), running=False,
                           removed=n - len(self.pending))
            else:
                raise ValueError(f"unknown worker command {op!r}")
        except _Stop:
            raise
        except BaseException as exc:  # reported, never fatal
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            self.error(cmd, exc)

    def service_during_training(self) -> None:
        """Between batches: stop requests, predictions (newest only), loads/saves; trains wait."""
        self.fetch(block=False)
        keep = deque()
        while self.pending:
            cmd = self.pending.popleft()
            op = cmd.get("op")
            if op == "train":
                keep.append(cmd)
            elif op == "shutdown":
                self.stop_requested = True
                keep.append(cmd)
            elif op == "stop":
                if cmd.get("key") == self.training:
                    self.stop_requested = True
                else:  # a queued training that never started
                    before = len(keep) + len(self.pending)
                    keep = deque(c for c in keep if not (c.get("op") == "train" and c.get("key") == cmd.get("key")))
                    self.pending = deque(c for c in self.pending
                                         if not (c.get("op") == "train" and c.get("key") == cmd.get("key")))
                    self.reply("stopped", key=cmd.get("key"), id=cmd.get("id"),
                               running=False, removed=before - len(keep) - len(self.pending))
            else:
                self.handle(cmd)
        self.pending = keep

    # -- commands -----------------------------------------------------------------------------

    def load(self, cmd: dict) -> None:
        from ..archive import load_scnm

        loaded = load_scnm(cmd["path"])
        self.models[cmd["key"]] = loaded
        self.reply("loaded", key=cmd["key"], id=cmd["id"], path=str(cmd["path"]), metadata=loaded.metadata)

    def save(self, cmd: dict) -> None:
        from ..archive import save_scnm

        loaded = self.models.get(cmd["key"])
        if loaded is None:
            raise ValueError(f"no model {cmd['key']!r} in the worker")
        meta = dict(loaded.metadata)
        meta.update(cmd.get("metadata") or {})
        out = save_scnm(cmd["path"], loaded.model, meta)
        loaded.metadata = meta
        self.reply("saved", key=cmd["key"], id=cmd["id"], path=str(out), metadata=meta)

    def predict(self, cmd: dict) -> None:
        import numpy as np

        from ..segment import Predictor, to_uint8

        loaded = self.models.get(cmd["key"])
        if loaded is None:
            raise ValueError(f"model {cmd['key']!r} is not loaded in the worker")
        t0 = time.perf_counter()
        image = np.asarray(cmd["image"], np.float32)
        stats = cmd.get("stats")
        pred = Predictor(loaded, apix=cmd.get("apix"), stats=tuple(stats) if stats is not None else None)
        p = to_uint8(pred.predict(image))
        self.reply("prediction", key=cmd["key"], id=cmd["id"], version=cmd.get("version"),
                   request_id=cmd.get("request_id"), probability=p, seconds=time.perf_counter() - t0)

    def train(self, cmd: dict) -> None:
        from ..archive import LoadedModel, save_scnm
        from ..training import TrainingCallback, train_feature_model
        from ..trainset import TrainingSet

        key = cmd["key"]
        params = dict(cmd.get("params") or {})
        ts = TrainingSet.load(cmd["trainset"])
        live_meta = {"title": params.get("title") or ts.feature, "apix": float(ts.apix) if ts.apix else -1.0,
                     "ais_like": {"preprocess": dict(ts.meta.get("preprocess")
                                                      or {"normalisation": ts.normalisation, "clamp": 4.0})}}
        server = self
        batch_size = int(params.get("batch_size", 32))
        n_batches = max(1, -(-len(ts) // batch_size))
        epochs = int(params.get("epochs", 10))
        state = {"batches": 0, "last": 0.0}

        class Callback(TrainingCallback):
            def on_batch(self, epoch, batch, loss):
                state["batches"] += 1
                current = server.models.get(key)
                if self.model is not None and (current is None or current.model is not self.model):
                    server.models[key] = LoadedModel(self.model, live_meta)
                server.reply("batch", key=key, epoch=epoch, batch=batch, loss=float(loss), n_batches=n_batches,
                             epochs=epochs, batches=state["batches"])
                server.service_during_training()

            def on_epoch(self, epoch, logs):
                server.reply("epoch", key=key, epoch=epoch, epochs=epochs,
                             logs={k: (v if isinstance(v, (bool, str)) else float(v)) for k, v in logs.items()})

            def should_stop(self):
                return server.stop_requested

        self.training, self.stop_requested = key, False
        self.models.pop(key, None)  # the old weights are being replaced
        try:
            tm = train_feature_model(ts, cmd["architecture"], title=params.get("title"),
                                     colour=params.get("colour"), epochs=epochs, batch_size=batch_size,
                                     learning_rate=params.get("learning_rate"),
                                     threshold=float(params.get("threshold", 0.5)), callback=Callback(),
                                     seed=int(params.get("seed", 0)))
            out = save_scnm(cmd["out"], tm.model, tm.metadata)
            self.models[key] = LoadedModel(tm.model, tm.metadata, source=str(out))
            self.reply("trained", key=key, id=cmd["id"], path=str(out), metadata=tm.metadata,
                       stopped=tm.result.stopped, epochs_run=tm.result.epochs_run,
                       seconds=tm.result.seconds)
        finally:
            self.training, self.stop_requested = None, False
