"""Real server processes on 127.0.0.1 for the Dask runner tests: a Dask scheduler, workers, an MLflow server.

Every process is started in its own session and stopped (its process group) by the test that started it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def quiet_env(**extra: str) -> dict[str, str]:
    return dict(
        os.environ, KEDRO_DISABLE_TELEMETRY="true", MLFLOW_DISABLE_TELEMETRY="true", HF_HUB_OFFLINE="1", **extra
    )


class Processes:
    """Started processes, stopped together (process groups, SIGTERM then SIGKILL)."""

    def __init__(self, logs: Path):
        self.logs = logs
        logs.mkdir(parents=True, exist_ok=True)
        self.started: dict[str, subprocess.Popen] = {}

    def start(self, name: str, args: list[str], cwd: Path | None = None, env: dict[str, str] | None = None):
        log = open(self.logs / f"{name}.log", "w")
        process = subprocess.Popen(
            args, cwd=cwd, env=env or quiet_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.started[name] = process
        return process

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.started[name]
        if process.poll() is None:
            os.killpg(process.pid, sig)
            process.wait(timeout=30)

    def stop_all(self) -> None:
        for _name, process in reversed(list(self.started.items())):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=15)


def wait_for(check, what: str, timeout: float = 120, every: float = 0.5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception:  # not up yet
            pass
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def start_dask(processes: Processes, project: Path, workers: dict[str, str], env: dict[str, str]) -> str:
    """``dask scheduler`` and one ``dask worker --nthreads 1 --no-nanny`` per entry (name -> resources)."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    processes.start(
        "scheduler",
        [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        env=env,
    )
    wait_for(lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close() or True, "the scheduler")
    for name, resources in workers.items():
        processes.start(
            name,
            [
                str(BIN / "dask"),
                "worker",
                address,
                "--nthreads",
                "1",
                "--no-nanny",
                "--resources",
                resources,
                "--name",
                name,
                "--host",
                "127.0.0.1",
                "--no-dashboard",
                "--local-directory",
                str(processes.logs / name),
            ],
            cwd=project,
            env=env,
        )
    from distributed import Client

    with Client(address, timeout=60) as client:
        client.wait_for_workers(len(workers), timeout=120)
    return address


def start_mlflow(processes: Processes, folder: Path) -> str:
    """``mlflow server`` with a sqlite backend and an artifact folder under ``folder``, on a free port."""
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    processes.start(
        "mlflow",
        [
            str(BIN / "mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{folder / 'mlflow.db'}",
            "--artifacts-destination",
            str(folder / "artifacts"),
            "--workers",
            "1",
        ],
    )
    uri = f"http://127.0.0.1:{port}"
    wait_for(lambda: urllib.request.urlopen(f"{uri}/health", timeout=2).status == 200, "the MLflow server", timeout=180)
    return uri
