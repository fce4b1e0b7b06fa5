"""Dask workers on a SLURM cluster through dask-jobqueue: one GPU worker per job.

    .venv/bin/python scripts/slurm_dask.py --jobs 4 --partition gpu --dry-run   # print the job script
    .venv/bin/python scripts/slurm_dask.py --jobs 4 --partition gpu             # submit, print the address

Without --dry-run the script starts a Dask scheduler on this (login/head) node, submits ``--jobs``
SLURM jobs that each run one ``dask worker --nthreads 1 --resources GPU=1``, prints the scheduler
address and keeps the cluster up until Ctrl-C. Point the run at it from the project folder, which
must be on a file system every node mounts at the same path (data/ and the MLflow server too):

    RULELENS_DASK_SCHEDULER=tcp://<head>:8786 MLFLOW_TRACKING_URI=http://<head>:5000 \\
        .venv/bin/kedro run --env gpu --runner rulelens.runners.DaskRunner

``--dry-run`` needs no SLURM: dask-jobqueue renders the job script (``SLURMCluster.job_script()``).
dask-jobqueue is a rulelens dependency. See docs/cluster.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2, help="SLURM jobs, one GPU worker each (default 2)")
    parser.add_argument("--partition", default=None, help="SLURM partition (queue)")
    parser.add_argument("--account", default=None, help="SLURM account")
    parser.add_argument("--walltime", default="04:00:00", help="job time limit (default 04:00:00)")
    parser.add_argument("--cores", type=int, default=8, help="CPU cores per job (default 8)")
    parser.add_argument("--memory", default="64GB", help="memory per job (default 64GB)")
    parser.add_argument("--gpus", type=int, default=1, help="GPUs per job (default 1; 0: CPU worker with SLOT=1)")
    parser.add_argument(
        "--python",
        default=str(PROJECT / ".venv" / "bin" / "python"),
        help="the Python with rulelens installed, on every node (default: this project's .venv)",
    )
    parser.add_argument("--port", type=int, default=8786, help="scheduler port on this node (default 8786)")
    parser.add_argument(
        "--extra-directive", action="append", default=[], help="more #SBATCH lines, e.g. --constraint=a100"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the job script and exit (no SLURM needed)")
    return parser.parse_args(argv)


def cluster_kwargs(args: argparse.Namespace) -> dict:
    resources = f"GPU={args.gpus}" if args.gpus else "SLOT=1"
    directives = list(args.extra_directive)
    if args.gpus:
        directives.append(f"--gres=gpu:{args.gpus}")
    return dict(
        queue=args.partition,
        account=args.account,
        walltime=args.walltime,
        cores=1,
        job_cpu=args.cores,
        processes=1,
        memory=args.memory,
        python=args.python,
        job_extra_directives=directives,
        job_script_prologue=[f"cd {PROJECT}", "export KEDRO_DISABLE_TELEMETRY=true MLFLOW_DISABLE_TELEMETRY=true"],
        # one thread per worker: a node holds the GPU for its whole run; resources keep them apart
        worker_extra_args=["--resources", resources],
        scheduler_options={"port": args.port, "dashboard_address": None},
        log_directory=str(PROJECT / "logs" / "slurm"),
    )


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    from dask_jobqueue import SLURMCluster

    kwargs = cluster_kwargs(args)
    if args.dry_run:
        # a scheduler on a free local port only to render the script; nothing is submitted
        kwargs["scheduler_options"] = {"port": 0, "dashboard_address": None}
        with SLURMCluster(**kwargs) as cluster:
            print(cluster.job_script())
        return 0
    Path(kwargs["log_directory"]).mkdir(parents=True, exist_ok=True)
    with SLURMCluster(**kwargs) as cluster:
        cluster.scale(jobs=args.jobs)
        print(f"Dask scheduler: {cluster.scheduler_address}  ({args.jobs} SLURM job(s) submitted)")
        print(
            f"Run: RULELENS_DASK_SCHEDULER={cluster.scheduler_address} .venv/bin/kedro run "
            "--runner rulelens.runners.DaskRunner"
        )
        try:
            while True:
                time.sleep(60)
        except KeyboardInterrupt:
            print("Stopping the cluster (cancelling the jobs)")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
    sys.exit(main())
