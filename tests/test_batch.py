"""Batch runs on a local Dask cluster of 2 worker processes on loopback: outputs byte-identical to
the single commands, models loaded once per worker, a killed worker or run leaves nothing behind
and a rerun finishes, a corrupt tomogram fails alone, claims between runs, cancel, exit codes."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from _model_helpers import tiny_loaded
from ais_like import batch, claims, cluster
from ais_like.cli import main
from ais_like.errors import InputError

PICK = ["--min-volume-px", "5", "--min-spacing-px", "3"]
MESH = ["--smooth", "2"]


def _save_model(folder: Path, title: str, seed: int) -> Path:
    from ais_like.archive import save_scnm

    m = tiny_loaded(apix=10.0, seed=seed)
    m.metadata["title"] = title
    return save_scnm(folder / f"{title}.scnm", m.model, m.metadata)


def _tomograms(folder: Path, n: int, seed: int = 0, shape=(12, 40, 48)) -> list[Path]:
    from ais_like.volume import Header, write_volume

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    return [write_volume(folder / f"TS_{i:02d}.mrc", rng.normal(size=shape).astype(np.float32),
                         Header(apix=10.0, origin=(5.0, 6.0, 7.0))) for i in range(n)]


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(Path(folder).iterdir())}


def _one_by_one(data: Path, models: list[Path], out: Path, *extra: str) -> None:
    """The single commands, as a user runs them: segment, then pick and mesh the folder."""
    seg = ["segment", "--data", str(data), "--out", str(out), "-q", *extra]
    for m in models:
        seg += ["--model", str(m)]
    assert main(seg) == 0
    assert main(["pick", str(out), "-q", *PICK]) == 0
    assert main(["mesh", str(out), "-q", *MESH]) == 0


def _plan(data, models, out, **kw):
    return batch.plan_batch(str(data), [str(m) for m in models], out,
                            pick=dict(min_volume_px=5, min_spacing_px=3, fmt="star"), mesh=dict(smooth=2), **kw)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("models")
    return [_save_model(folder, "Membrane", 1), _save_model(folder, "Ribosome", 2)]


@pytest.fixture(scope="module")
def conn():
    with cluster.connect(workers=2, gpus=0, dashboard="127.0.0.1:0") as c:
        yield c


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in Path(folder).iterdir() if p.name.startswith("."))


def test_batch_equals_the_single_commands_and_loads_models_once_per_worker(conn, models, tmp_path):
    data = tmp_path / "data"
    _tomograms(data, 3)
    _one_by_one(data, models, tmp_path / "ref")
    plan = _plan(data, models, tmp_path / "out")
    assert len(plan.tasks) == 6 and plan.n_tomograms == 3 and plan.n_groups == 2
    events = []
    summary = batch.run_batch(plan, client=conn, progress=events.append)
    assert summary.ok and len(summary.done) == 6, summary.lines()
    ref = _files(tmp_path / "ref")
    assert len(ref) == 3 * 2 * 4  # .mrc, _coords.star, .mtl, .obj per tomogram and model
    assert _files(tmp_path / "out") == ref
    assert _hidden(tmp_path / "out") == []  # no claims, no temporary files
    # models are loaded once per worker and group, not once per tomogram
    loads = [(r.worker, r.group) for r in summary.results if r.models_loaded]
    assert len(loads) == len(set(loads)) <= 4 < len(plan.tasks)
    assert len({r.worker for r in summary.results}) <= 2
    kinds = [e.kind for e in events]
    assert kinds[0] == "start" and kinds[-1] == "end" and kinds.count("result") == 6 and "progress" in kinds
    assert [e.done for e in events if e.kind == "result"] == [1, 2, 3, 4, 5, 6]
    # a rerun skips everything and changes nothing
    mtimes = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out").iterdir()}
    again = batch.run_batch(plan, client=conn)
    assert [r.status for r in again.results] == ["skipped"] * 6
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out").iterdir()} == mtimes


def test_interacting_models_form_one_group_and_equal_segment_with_interactions(conn, models, tmp_path):
    data = tmp_path / "data"
    _tomograms(data, 2, seed=3)
    inter = tmp_path / "inter.yaml"
    inter.write_text("interactions:\n  - {parent: Ribosome, partner: Membrane, kind: avoid, radius_nm: 2, threshold: 0.5}\n")
    _one_by_one(data, models, tmp_path / "ref", "--interactions", str(inter))
    plan = _plan(data, models, tmp_path / "out", interactions=inter)
    assert len(plan.tasks) == 2 and plan.tasks[0].group.titles == ("Membrane", "Ribosome")
    summary = batch.run_batch(plan, client=conn)
    assert summary.ok, summary.lines()
    assert _files(tmp_path / "out") == _files(tmp_path / "ref")
    assert _hidden(tmp_path / "out") == []


def test_a_corrupt_tomogram_fails_alone_with_one_line_and_exit_code_1(conn, models, tmp_path, capsys):
    data = tmp_path / "data"
    _tomograms(data, 2, seed=4)
    (data / "TS_broken.mrc").write_bytes(b"\x00garbage" * 20)
    out = tmp_path / "out"
    address = conn.client.scheduler.address
    args = ["batch", "--data", str(data), "--model", str(models[0]), "--out", str(out), "--scheduler", address,
            "--pick", *["--pick-" + a.lstrip("-") if a.startswith("--") else a for a in PICK], "-q"]
    assert main(args) == 1
    text = capsys.readouterr().out
    failed = [ln for ln in text.splitlines() if "TS_broken" in ln and "failed" in ln]
    assert failed and all("TS_broken.mrc" in ln and "Traceback" not in ln for ln in failed)
    assert "2 done" in text and "1 failed" in text and "dashboard" in text
    assert sorted(p.name for p in out.iterdir()) == ["TS_00__Membrane.mrc", "TS_00__Membrane_coords.star",
                                                     "TS_01__Membrane.mrc", "TS_01__Membrane_coords.star"]
    (data / "TS_broken.mrc").unlink()
    assert main(args) == 0  # the rest was finished: all skipped
    assert "2 skipped" in capsys.readouterr().out


def test_a_killed_worker_leaves_nothing_behind_and_the_task_is_finished(conn, models, tmp_path):
    data = tmp_path / "data"
    _tomograms(data, 3, seed=5, shape=(40, 40, 48))
    ref = tmp_path / "ref"
    _one_by_one(data, models[:1], ref)
    flag = tmp_path / "kill-one-worker"
    flag.write_text("")

    def install_killer(flag=str(flag)):
        """In each worker: the first worker to write a slice block after the flag appears dies at once."""
        import signal

        from ais_like import volume

        original = volume.VolumeWriter.write

        def write(self, z0, block):
            original(self, z0, block)
            try:
                os.unlink(flag)  # only one worker succeeds
            except FileNotFoundError:
                return
            self._mrc.flush()  # a real half-written .part file is left behind
            os.kill(os.getpid(), signal.SIGKILL)

        volume.VolumeWriter.write = write

    conn.client.run(install_killer)
    plan = _plan(data, models[:1], tmp_path / "out")
    summary = batch.run_batch(plan, client=conn)
    assert not flag.exists()  # a worker died
    assert summary.ok, summary.lines()
    taken = [r for r in summary.results if "took over" in r.reason]
    assert len(taken) == 1 and taken[0].cleaned >= 1
    assert _files(tmp_path / "out") == _files(ref)  # no duplicates, nothing corrupt
    assert _hidden(tmp_path / "out") == []
    again = batch.run_batch(plan, client=conn)
    assert [r.status for r in again.results] == ["skipped"] * 3


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _lock(path: Path, **info) -> None:
    path.write_text(json.dumps({"host": claims._HOST, "pid": os.getpid(), "start": None, "token": "x", **info}))


def test_a_killed_run_is_taken_over_and_its_leftovers_removed(models, tmp_path):
    data = tmp_path / "data"
    _tomograms(data, 1)
    plan = _plan(data, models[:1], tmp_path / "out")
    task, settings = plan.tasks[0], plan.settings
    out = tmp_path / "out"
    lock = task.lock_path(out)
    _lock(lock, pid=_dead_pid())
    seg = out / "TS_00__Membrane.mrc"
    junk = [out / f".{seg.name}.abc123.part", out / ".TS_00__Membrane_coords.star.q1w2e3.part",
            out / f".{seg.stem}.raw.mrc"]
    for j in junk:
        j.write_bytes(b"half")
    debris = lock.with_name(lock.name + ".0123abcd.tmp")  # a claimer killed between write and link
    debris.write_text("{}")
    old = time.time() - 120
    os.utime(debris, (old, old))
    r = batch.execute_task(task, settings)
    assert r.status == "done" and r.cleaned == 4 and "took over" in r.reason, r
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in batch.task_outputs(task, settings))
    # a claim on this host whose pid belongs to another process now (reused pid) is stale too
    for p in batch.task_outputs(task, settings):
        p.unlink()
    _lock(lock, start="not-the-start-time-of-this-process")
    assert batch.execute_task(task, settings).status == "done"
    assert not lock.exists()


def test_a_live_claim_is_waited_for_and_another_hosts_claim_expires(models, tmp_path):
    data = tmp_path / "data"
    _tomograms(data, 1)
    plan = _plan(data, models[:1], tmp_path / "out")
    task, settings = plan.tasks[0], plan.settings
    lock = task.lock_path(settings.out_dir)
    other = claims.try_claim(lock)  # another run (in this live process) holds the task
    assert isinstance(other, claims.Claim)
    assert isinstance(claims.try_claim(lock), dict)
    busy = batch.execute_task(task, settings)
    assert busy.status == "busy" and "claimed by another run" in busy.reason
    box = {}
    waiter = threading.Thread(target=lambda: box.update(r=batch.execute_task(task, settings, wait=True, poll=0.05)))
    waiter.start()
    time.sleep(0.3)
    assert waiter.is_alive()
    batch._work(task, settings, lambda *a: None)  # the other run finishes the task ...
    other.release()  # ... and lets go
    waiter.join(60)
    assert box["r"].status == "skipped" and "another run" in box["r"].reason
    assert not lock.exists()
    # another host's claim: live while it is touched, stale after STALE_S without a heartbeat
    for p in batch.task_outputs(task, settings):
        p.unlink()
    _lock(lock, host="some-other-node", pid=1)
    assert batch.execute_task(task, settings).status == "busy"
    old = time.time() - claims.STALE_S - 5
    os.utime(lock, (old, old))
    r = batch.execute_task(task, settings)
    assert r.status == "done" and "some-other-node" in r.reason


def test_cancel_stops_the_batch_and_leaves_no_partial_files(conn, models, tmp_path):
    data = tmp_path / "data"
    _tomograms(data, 4, seed=6)
    plan = _plan(data, models, tmp_path / "out")
    stop = threading.Event()
    stop.set()
    summary = batch.run_batch(plan, client=conn, cancel=stop)
    assert summary.cancelled and not summary.ok
    assert {r.status for r in summary.results} == {"cancelled"}
    assert list((tmp_path / "out").iterdir()) == []
    # from a background thread (as the GUI's export queue runs it), cancelled from this thread as
    # soon as a task reports progress: whatever was written is complete, no claims are left
    stop.clear()
    events = queue.SimpleQueue()
    box = {}
    worker = threading.Thread(target=lambda: box.update(s=batch.run_batch(plan, client=conn, cancel=stop,
                                                                             progress=events.put)))
    worker.start()
    while True:
        e = events.get(timeout=120)
        if e.kind == "progress" or e.kind == "end":
            break
    stop.set()
    worker.join(120)
    summary = box["s"]
    assert summary.cancelled and "cancelled" in {r.status for r in summary.results}
    assert _hidden(tmp_path / "out") == []
    finished = [Path(o) for r in summary.results for o in r.outputs]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in finished)


def test_plan_groups_and_input_errors(models, tmp_path):
    data = tmp_path / "data"
    _tomograms(data, 2)
    plan = batch.plan_batch(str(data), [str(m) for m in models], tmp_path / "out")
    assert [t.group.titles for t in plan.tasks] == [("Membrane",), ("Ribosome",)] * 2
    assert [o.name for o in plan.outputs(plan.tasks[0])] == ["TS_00__Membrane.mrc"]
    with pytest.raises(InputError, match="same name"):
        (tmp_path / "b").mkdir()
        _tomograms(tmp_path / "b", 1)
        batch.plan_batch([str(data), str(tmp_path / "b")], [str(models[0])], tmp_path / "out")
    with pytest.raises(InputError, match="titled 'Membrane'"):
        batch.plan_batch(str(data), [str(models[0]), str(models[0])], tmp_path / "out")
    bad = tmp_path / "bad.scnm"
    bad.write_bytes(b"nonsense")
    with pytest.raises(InputError, match="bad.scnm"):
        batch.plan_batch(str(data), [str(bad)], tmp_path / "out")
    inter = tmp_path / "i.yaml"
    inter.write_text("interactions:\n  - {parent: Ribosome, partner: Carbon, kind: avoid, radius_nm: 2, threshold: 0.5}\n")
    with pytest.raises(InputError, match="Carbon"):
        batch.plan_batch(str(data), [str(m) for m in models], tmp_path / "out", interactions=inter)
    # a .scnmgroup is one group; its stored interactions put every model given into one group
    from ais_like.archive import load_scnm, save_group

    pair = [load_scnm(m) for m in models]
    carbon = _save_model(tmp_path, "Carbon", 3)
    plain = save_group(tmp_path / "plain.scnmgroup", pair, [])
    plan = batch.plan_batch(str(data), [str(plain), str(carbon)], tmp_path / "out")
    assert [t.group.titles for t in plan.tasks[:2]] == [("Membrane", "Ribosome"), ("Carbon",)]
    avoid = [{"parent_title": "Ribosome", "partner_title": "Membrane", "type": 1, "radius": 2.0, "threshold": 0.5}]
    linked = save_group(tmp_path / "linked.scnmgroup", pair, avoid)
    plan = batch.plan_batch(str(data), [str(linked), str(carbon)], tmp_path / "out")
    assert [t.group.titles for t in plan.tasks] == [("Membrane", "Ribosome", "Carbon")] * 2
    assert main(["batch", "--data", str(data), "--model", str(models[0]), "--out", str(tmp_path / "o"),
                 "--pick-threshold", "0.7"]) == 2
    assert main(["batch", "--data", str(tmp_path / "nothing"), "--model", str(models[0]), "--out", str(tmp_path / "o")]) == 2


def test_gpu_pinning_and_local_layout(monkeypatch):
    import warnings

    monkeypatch.setattr(cluster, "_PINNED", {})
    monkeypatch.setenv("AIS_LIKE_BATCH_GPUS", "3,5")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TensorFlow may be imported in this test process
        assert cluster.pin_gpu("SLURMCluster-2-1") == "5"
        assert cluster.pin_gpu("anything") == "5"  # once per process
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "5"
    monkeypatch.delenv("AIS_LIKE_BATCH_GPUS")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,-1,2")
    assert cluster.visible_gpus() == ["0", "1"]
    layout = cluster.local_layout()
    assert layout["workers"] == 2 and layout["gpus"] == ["0", "1"] and layout["env"]["AIS_LIKE_BATCH_GPUS"] == "0,1"
    assert cluster.local_layout(gpus=1)["gpus"] == ["0"]
    cpu = cluster.local_layout(gpus=0)
    assert cpu["gpus"] == [] and "AIS_LIKE_BATCH_GPUS" not in cpu["env"]
    assert cpu["workers"] == max(1, cluster.cpu_count() // cluster.CORES_PER_WORKER)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert cluster.visible_gpus() == [] and cluster.local_layout(workers=3)["workers"] == 3


def test_jobqueue_job_scripts_and_the_message_without_dask_jobqueue(monkeypatch):
    monkeypatch.setitem(sys.modules, "dask_jobqueue", None)
    with pytest.raises(InputError, match=r"ais-like\[cluster\]"):
        cluster.jobqueue_cluster("slurm", cores=8, memory="32GB", gpus=2)
    monkeypatch.delitem(sys.modules, "dask_jobqueue")
    pytest.importorskip("dask_jobqueue")
    with pytest.raises(InputError, match="--cores"):
        cluster.jobqueue_cluster("slurm", cores=None, memory=None)
    jq = cluster.jobqueue_cluster("slurm", cores=8, memory="32GB", gpus=2, queue="gpu", walltime="04:00:00",
                                account="lab", job_extra=["--constraint=a100"])
    try:
        script = jq.job_script()
    finally:
        jq.close()
    for part in ("#SBATCH --gres=gpu:2", "#SBATCH --constraint=a100", "#SBATCH -p gpu", "#SBATCH -A lab",
                 "#SBATCH -t 04:00:00", "--nworkers 2", f"--resources {cluster.SLOT}=1",
                 "export TF_NUM_INTRAOP_THREADS=4"):
        assert part in script, (part, script)
    jq = cluster.jobqueue_cluster("pbs", cores=8, memory="32GB", gpus=1)
    try:
        assert "ngpus=1" in jq.job_script()
    finally:
        jq.close()


def test_the_client_process_never_imports_tensorflow(conn, models, tmp_path, repo_root):
    data = tmp_path / "data"
    _tomograms(data, 2, seed=7)
    scheduler_file = tmp_path / "scheduler.json"  # as `dask scheduler --scheduler-file` writes it
    scheduler_file.write_text(json.dumps({"address": conn.client.scheduler.address}))
    code = ("import sys; from ais_like.cli import main\n"
            f"rc = main(['batch', '--data', {str(data)!r}, '--model', {str(models[0])!r}, '--out', "
            f"{str(tmp_path / 'out')!r}, '--scheduler', {str(scheduler_file)!r}, '-q'])\n"
            "print('RC', rc, 'HEAVY', [m for m in ('tensorflow', 'keras', 'torch') if m in sys.modules])")
    env = dict(os.environ, PYTHONPATH=str(repo_root))
    res = subprocess.run([sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True, timeout=300,
                         env=env)
    assert "RC 0 HEAVY []" in res.stdout, res.stdout + res.stderr
    assert len(list((tmp_path / "out").glob("*.mrc"))) == 2
    help_code = ("import sys; from ais_like.cli import main\ntry:\n    main(['batch', '--help'])\nexcept SystemExit:\n"
                 "    pass\nprint('HEAVY', [m for m in ('tensorflow', 'keras', 'dask', 'distributed') if m in sys.modules])")
    res = subprocess.run([sys.executable, "-c", help_code], cwd=repo_root, capture_output=True, text=True,
                         timeout=60, env=env)
    assert "HEAVY []" in res.stdout and "--pick-threshold" in res.stdout, res.stdout + res.stderr


def test_ctrl_c_in_a_terminal_cancels_cleanly_with_exit_code_130(models, tmp_path, repo_root):
    import signal

    data = tmp_path / "data"
    _tomograms(data, 2, shape=(600, 128, 128))
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(repo_root))
    # a session of its own, like a terminal's foreground process group: Ctrl-C reaches every process
    p = subprocess.Popen([sys.executable, "-m", "ais_like", "batch", "--data", str(data), "--model", str(models[0]),
                          "--out", str(out), "--workers", "1", "--gpus", "0", "-q"], cwd=repo_root, env=env,
                         start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob(".*.part")) and time.monotonic() < deadline and p.poll() is None:
            time.sleep(0.05)
        assert list(out.glob(".*.part")), "no task started writing"
        os.killpg(p.pid, signal.SIGINT)
        text, _ = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert p.returncode == 130, text
    assert "cancelled" in text and "Traceback" not in text, text
    assert _hidden(out) == []
