"""Segment (with interactions), pick and mesh many tomograms with many models on Dask: a local
cluster sized to this machine by default, an existing scheduler, or SLURM/PBS/SGE jobs.

  ais-like batch --data FOLDER|'GLOB'|LIST.txt --model A.scnm [--model B.scnm | --group G.scnmgroup]
                 --out DIR [--pick --pick-threshold 0.5 ...] [--mesh --mesh-bin 2 ...]
  ais-like batch ... --scheduler tcp://host:8786
  ais-like batch ... --cluster slurm --jobs 4 --cores 8 --memory 32GB --gpus 1 --walltime 04:00:00

One task per (tomogram, model group). Outputs have the single commands' names and bytes:
DIR/<tomogram>__<feature>.mrc, <tomogram>__<feature>_coords.star (or .txt), <tomogram>__<feature>.obj
(+ .mtl). Finished outputs are skipped, so a rerun finishes what an interrupted run left; several
runs may share one folder. Exit code 0 when every task is done or skipped, 1 when one failed.
"""

from __future__ import annotations

from ._common import add_apix, add_data, add_quiet
from .mesh import add_mesh_options
from .pick import add_pick_options
from .segment import add_segment_options


def add_arguments(parser):
    parser.add_argument("--model", action="append", default=[], metavar="MODEL.scnm|GROUP.scnmgroup",
                        help="a trained model, or a group of models with their interactions (repeatable)")
    parser.add_argument("--group", action="append", default=[], metavar="GROUP.scnmgroup",
                        help="a group of models with their interactions (repeatable; the same as --model)")
    add_data(parser)
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (created if needed)")
    add_segment_options(parser.add_argument_group("segmentation (as ais-like segment)"))
    g = parser.add_argument_group("picking (as ais-like pick, with pick- in front of each option)")
    g.add_argument("--pick", action="store_true", help="pick particles in every segmentation")
    add_pick_options(g, prefix="pick-")
    g = parser.add_argument_group("meshes (as ais-like mesh, with mesh- in front of each option)")
    g.add_argument("--mesh", action="store_true", help="export every segmentation as an .obj mesh")
    add_mesh_options(g, prefix="mesh-")
    g = parser.add_argument_group("where it runs (default: a local Dask cluster sized to this machine)")
    g.add_argument("--workers", type=int, default=None, metavar="N",
                   help="local cluster: worker processes (default: one per GPU, else one per 2 CPU cores)")
    g.add_argument("--scheduler", default=None, metavar="tcp://HOST:8786|SCHEDULER.json",
                   help="use a running Dask scheduler (its address, or its --scheduler-file)")
    g.add_argument("--cluster", choices=("slurm", "pbs", "sge"), default=None,
                   help="start workers as batch jobs through dask-jobqueue (pip install 'ais-like[cluster]')")
    g.add_argument("--jobs", type=int, default=1, metavar="N", help="--cluster: number of jobs (default: 1)")
    g.add_argument("--cores", type=int, default=None, metavar="C", help="--cluster: CPU cores per job")
    g.add_argument("--memory", default=None, metavar="M", help="--cluster: memory per job, e.g. 32GB")
    g.add_argument("--gpus", type=int, default=None, metavar="G",
                   help="GPUs per job (--cluster; one worker each), per worker with --scheduler, or to use "
                        "locally (0: none; default: all visible)")
    g.add_argument("--queue", default=None, metavar="NAME", help="--cluster: queue / partition")
    g.add_argument("--walltime", default=None, metavar="HH:MM:SS", help="--cluster: time limit per job")
    g.add_argument("--account", default=None, metavar="NAME", help="--cluster: account / project to charge")
    g.add_argument("--job-extra", action="append", default=[], metavar="DIRECTIVE",
                   help="--cluster: an extra scheduler directive, e.g. '--constraint=a100' (repeatable)")
    add_apix(parser)
    add_quiet(parser)


def _given(args, parser_defaults: dict, prefix: str) -> list[str]:
    return [k for k, v in vars(args).items() if k.startswith(prefix) and v != parser_defaults.get(k)]


def run(args) -> int:
    import sys
    import time

    from tqdm import tqdm

    from ..batch import connect, plan_batch, run_batch
    from ..errors import InputError
    from ..progress import Bar
    from .mesh import mesh_params
    from .pick import pick_params

    defaults = vars(_defaults())
    for flag, prefix in (("pick", "pick_"), ("mesh", "mesh_")):
        extra = _given(args, defaults, prefix)
        if extra and not getattr(args, flag):
            raise InputError(f"--{extra[0].replace('_', '-')} needs --{flag}")
    models = list(args.model) + list(args.group)
    if not models:
        raise InputError("give at least one --model MODEL.scnm (or --group GROUP.scnmgroup)")
    pick = dict(pick_params(args, "pick_"), fmt=args.pick_format) if args.pick else None
    mesh = mesh_params(args, "mesh_") if args.mesh else None
    plan = plan_batch(args.data, models, args.out, interactions=args.interactions,
                      interaction_mode=args.interaction_mode, z_range=args.z_range, crop_x=args.crop_x,
                      crop_y=args.crop_y, tta=args.tta, batch_size=args.batch_size, apix=args.apix,
                      pick=pick, mesh=mesh)
    print(f"batch: {len(plan.tasks)} tasks ({plan.n_tomograms} tomograms x {plan.n_groups} model groups) "
          f"-> {plan.settings.out_dir}", flush=True)
    with connect(scheduler=args.scheduler, cluster=args.cluster, workers=args.workers, jobs=args.jobs,
                 cores=args.cores, memory=args.memory, gpus=args.gpus, queue=args.queue, walltime=args.walltime,
                 account=args.account, job_extra=args.job_extra) as conn:
        print(f"batch: {conn.description}; Dask dashboard: {conn.dashboard or 'not available'}", flush=True)
        with Bar(len(plan.tasks), desc="batch", unit="task", quiet=args.quiet) as bar:
            running: dict[str, str] = {}
            shown = {"at": 0.0}

            def show(ev):
                now = time.monotonic()
                if ev.kind == "progress":
                    running[ev.key] = f"{ev.key} {ev.stage} {ev.step}/{ev.steps}"
                    if now - shown["at"] < 0.5:
                        return  # the bar's text changes at most twice a second
                elif ev.kind == "result":
                    running.pop(ev.key, None)
                    tqdm.write(ev.result.line(), file=sys.stdout)
                else:
                    return
                shown["at"] = now
                text = next(iter(running.values()), "")
                if len(running) > 1:
                    text += f" (+{len(running) - 1} running)"
                bar(ev.done, ev.total, text)

            summary = run_batch(plan, client=conn, progress=show)
    for line in summary.lines():
        print(line, flush=True)
    if summary.cancelled:
        return 130
    return 0 if summary.ok else 1


def _defaults():
    import argparse

    p = argparse.ArgumentParser(add_help=False)
    add_arguments(p)
    return p.parse_args(["--data", "-", "--out", "-"])
