"""Where a batch runs: a local Dask cluster sized to the machine, a running scheduler, or
SLURM / PBS / SGE jobs through dask-jobqueue (imported only then); GPUs one per worker.

A GPU worker holds one GPU: before TensorFlow is imported it sets ``CUDA_VISIBLE_DEVICES`` to one
entry of the GPUs it was given (``$AIS_LIKE_BATCH_GPUS``, else its ``CUDA_VISIBLE_DEVICES``, else
those ``nvidia-smi -L`` lists), chosen by the number at the end of its Dask name (local workers
are named 0, 1, ...; dask-jobqueue names the processes of one job ``<job>-0``, ``<job>-1``, ...).
Nothing here imports TensorFlow; ``distributed`` is imported when a cluster is made.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from .errors import InputError

# The Dask resource that makes a worker run one task at a time (clusters started by connect()).
SLOT = "ais_like_slot"

# ---------------------------------------------------------------------------------------------
# GPUs
# ---------------------------------------------------------------------------------------------
_PINNED: dict = {}


def visible_gpus() -> list[str]:
    """The GPUs this process may use, without importing TensorFlow: ``CUDA_VISIBLE_DEVICES``
    when set, else those ``nvidia-smi -L`` lists (none when it is absent)."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        gpus = []
        for g in (x.strip() for x in env.split(",")):
            if not g or g.startswith("-"):
                break  # CUDA ignores everything from an invalid entry on
            gpus.append(g)
        return gpus
    try:
        res = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return []
    n = sum(1 for ln in res.stdout.splitlines() if ln.startswith("GPU ")) if res.returncode == 0 else 0
    return [str(i) for i in range(n)]


def pin_gpu(worker_name) -> str | None:
    """Give this worker process one GPU (``CUDA_VISIBLE_DEVICES``), chosen by the number that
    ends ``worker_name`` among ``$AIS_LIKE_BATCH_GPUS`` (or :func:`visible_gpus`). Once per
    process; must run before TensorFlow is imported. Returns the GPU, or None without GPUs."""
    if "gpu" in _PINNED:
        return _PINNED["gpu"]
    given = os.environ.get("AIS_LIKE_BATCH_GPUS")
    gpus = [g for g in given.split(",") if g] if given else visible_gpus()
    chosen = None
    if gpus:
        m = re.search(r"(\d+)$", str(worker_name))
        chosen = gpus[(int(m.group(1)) if m else 0) % len(gpus)]
        if any(mod in sys.modules for mod in ("tensorflow", "torch", "jax")) \
                and os.environ.get("CUDA_VISIBLE_DEVICES") != chosen:
            warnings.warn(f"worker {worker_name}: a deep-learning library is imported already; "
                          f"CUDA_VISIBLE_DEVICES={chosen} may not take effect", stacklevel=2)
        os.environ["AIS_LIKE_BATCH_GPUS"] = ",".join(gpus)
        os.environ["CUDA_VISIBLE_DEVICES"] = chosen
    _PINNED["gpu"] = chosen
    return chosen


# ---------------------------------------------------------------------------------------------
# Clusters
# ---------------------------------------------------------------------------------------------
@dataclass
class Connection:
    """A Dask client and how tasks are to be sent to it (see :func:`connect`)."""

    client: object
    pin_gpus: bool = False
    resources: dict | None = None
    description: str = ""
    cluster: object = None

    @property
    def dashboard(self) -> str | None:
        link = getattr(self.cluster, "dashboard_link", None) if self.cluster is not None else None
        try:
            return link or self.client.dashboard_link
        except Exception:
            return None


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


# CPU cores one local CPU worker gets by default (TensorFlow spreads a model over them).
CORES_PER_WORKER = 2


def local_layout(workers: int | None = None, gpus: int | None = None) -> dict:
    """How a local cluster is laid out: one worker per GPU when there are GPUs (``gpus=0``: use
    none), else one per :data:`CORES_PER_WORKER` cores; TensorFlow threads split among them."""
    cores = cpu_count()
    visible = visible_gpus() if gpus != 0 else []
    if gpus:
        visible = visible[:gpus]
    n = int(workers) if workers else (len(visible) or max(1, cores // CORES_PER_WORKER))
    if n < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    threads = max(1, cores // n)
    env = {"TF_NUM_INTRAOP_THREADS": str(threads), "OMP_NUM_THREADS": str(threads),
           "TF_NUM_INTEROP_THREADS": str(min(2, threads))}
    env = {k: os.environ.get(k, v) for k, v in env.items()}
    if visible:
        env["AIS_LIKE_BATCH_GPUS"] = ",".join(visible)
    return {"workers": n, "threads": threads, "gpus": visible, "env": env}


def _ignore_ctrl_c_plugin():
    """A worker plugin for local clusters: Ctrl-C in a terminal reaches the whole process group;
    the workers (and those restarted later) ignore it, so that the client cancels their tasks
    cleanly (see :func:`run_batch`)."""
    from distributed import WorkerPlugin

    class IgnoreCtrlC(WorkerPlugin):
        name = "ais-like-ignore-ctrl-c"

        def setup(self, worker) -> None:
            import signal

            try:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
            except ValueError:  # not the main thread of the worker process
                pass

    return IgnoreCtrlC()


JOBQUEUE_KINDS = ("slurm", "pbs", "sge")


def jobqueue_cluster(kind: str, *, cores: int, memory: str, gpus: int = 0, queue: str | None = None,
                     walltime: str | None = None, account: str | None = None, job_extra=(),
                     python: str | None = None, **kwargs):
    """A dask-jobqueue cluster whose jobs each run one worker per GPU (or one worker), one task
    at a time per worker; GPUs are requested as ``--gres=gpu:G`` (SLURM), ``ngpus=G`` (PBS) or
    ``-l gpu=G`` (SGE: sites differ; ``job_extra`` adds any directive)."""
    try:
        import dask_jobqueue
    except ImportError:
        raise InputError("--cluster needs dask-jobqueue: pip install 'ais-like[cluster]' "
                         "(or pip install dask-jobqueue)") from None
    if kind not in JOBQUEUE_KINDS:
        raise InputError(f"unknown cluster kind {kind!r} (expected {', '.join(JOBQUEUE_KINDS)})")
    if not cores or not memory:
        raise InputError("--cluster needs --cores C and --memory M (what one job gets, e.g. --cores 8 --memory 32GB)")
    gpus = int(gpus or 0)
    processes = gpus if gpus else 1
    threads = max(1, int(cores) // processes)
    directives = list(job_extra)
    opts = dict(kwargs)
    if gpus and kind == "slurm":
        directives.append(f"--gres=gpu:{gpus}")
    elif gpus and kind == "pbs":
        from dask.utils import parse_bytes
        from dask_jobqueue.pbs import pbs_format_bytes_ceil

        opts["resource_spec"] = f"select=1:ncpus={cores}:ngpus={gpus}:mem={pbs_format_bytes_ceil(parse_bytes(memory))}"
    elif gpus and kind == "sge":
        directives.append(f"-l gpu={gpus}")
    if account:
        opts["project" if kind == "sge" else "account"] = account
    cls = {"slurm": dask_jobqueue.SLURMCluster, "pbs": dask_jobqueue.PBSCluster, "sge": dask_jobqueue.SGECluster}[kind]
    prologue = [f"export TF_NUM_INTRAOP_THREADS={threads}", f"export OMP_NUM_THREADS={threads}"]
    return cls(cores=int(cores), memory=memory, processes=processes, queue=queue, walltime=walltime,
               job_extra_directives=directives, job_script_prologue=prologue,
               worker_extra_args=["--resources", f"{SLOT}=1"], python=python or sys.executable, **opts)


@contextmanager
def connect(*, scheduler: str | None = None, cluster: str | None = None, workers: int | None = None,
            jobs: int = 1, cores: int | None = None, memory: str | None = None, gpus: int | None = None,
            queue: str | None = None, walltime: str | None = None, account: str | None = None,
            job_extra=(), dashboard: str | None = "127.0.0.1:8787") -> Iterator[Connection]:
    """A Dask client for :func:`run_batch`, closed (with the cluster it started) on exit.

    - ``scheduler="tcp://host:8786"`` (or the JSON file of ``dask scheduler --scheduler-file``):
      an existing cluster (its workers should run one task at a time, e.g. ``dask worker
      --nthreads 1``); ``gpus`` > 0 pins one GPU per worker.
    - ``cluster="slurm"|"pbs"|"sge"``: ``jobs`` jobs of ``cores`` cores, ``memory`` and ``gpus``
      GPUs each, through dask-jobqueue (see :func:`jobqueue_cluster`).
    - neither: a local cluster of worker processes (see :func:`local_layout`).
    """
    import logging

    from distributed import Client

    if scheduler and cluster:
        raise InputError("give either --scheduler or --cluster, not both")
    if scheduler:
        try:
            if os.path.isfile(scheduler):  # a scheduler file (dask scheduler --scheduler-file F)
                client = Client(scheduler_file=scheduler, timeout="20s")
            else:
                client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError, ValueError) as exc:
            why = " ".join(str(exc).split())
            raise InputError(f"{scheduler}: cannot reach the Dask scheduler ({why})") from None
        n = len(client.scheduler_info().get("workers", {}))
        conn = Connection(client=client, pin_gpus=bool(gpus), description=f"scheduler {scheduler} ({n} workers)")
        try:
            yield conn
        finally:
            client.close()
        return
    if cluster:
        jobs = int(jobs or 1)
        if jobs < 1:
            raise InputError(f"--jobs must be at least 1, got {jobs}")
        jq = jobqueue_cluster(cluster, cores=cores, memory=memory, gpus=gpus or 0, queue=queue,
                              walltime=walltime, account=account, job_extra=job_extra)
        try:
            jq.scale(jobs=jobs)
            client = Client(jq)
            per_job = f"{cores} cores, {memory}" + (f", {gpus} GPUs" if gpus else "")
            conn = Connection(client=client, pin_gpus=bool(gpus), resources={SLOT: 1}, cluster=jq,
                              description=f"{cluster} cluster: {jobs} jobs ({per_job} each)")
            try:
                yield conn
            finally:
                client.close()
        finally:
            jq.close()
        return
    from distributed import LocalCluster

    layout = local_layout(workers, gpus)
    local = LocalCluster(n_workers=layout["workers"], threads_per_worker=1, processes=True, host="127.0.0.1",
                         dashboard_address=dashboard, env=layout["env"], silence_logs=logging.ERROR)
    try:
        client = Client(local)
        client.register_plugin(_ignore_ctrl_c_plugin())
        what = f"{len(layout['gpus'])} GPUs" if layout["gpus"] else f"{layout['threads']} CPU threads each"
        conn = Connection(client=client, pin_gpus=bool(layout["gpus"]), cluster=local,
                          description=f"local cluster: {layout['workers']} workers ({what})")
        try:
            yield conn
        finally:
            client.close()
    finally:
        local.close()
