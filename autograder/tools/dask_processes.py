"""A real Dask cluster on this machine: a `dask scheduler` and `dask worker` processes, each in a
process group of its own, started as an instructor would start them on other hosts, over TLS with
the certificates of autograder/tools/tls_certificates.py when given them. Used by the distributed
tests and by the scale benchmark; grading itself never starts these (it starts a LocalCluster,
autograder/grade/cluster.py)."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

from autograder import REPO_ROOT
from autograder.tools.tls_certificates import TLSFiles, tls_options

DASK = str(Path(sys.executable).with_name("dask"))
STARTUP_SECONDS = 120


def _scheduler_address(scheduler_file: Path, process: subprocess.Popen, log: Path) -> str:
    """The address the scheduler wrote to `scheduler_file` once listening; RuntimeError, with its
    log, if it stops first or writes nothing in STARTUP_SECONDS."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        try:
            return json.loads(scheduler_file.read_text())["address"]
        except (FileNotFoundError, ValueError, KeyError):  # not yet written, or half written
            time.sleep(0.05)
    raise RuntimeError(f"the dask scheduler did not start:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    """SIGTERM the process group, then SIGKILL it if it is still there after 20 s."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextlib.contextmanager
def dask_cluster(
    log_folder: Path,
    workers: list[list[str]],
    environment: dict | None = None,
    tls: TLSFiles | None = None,
    client_tls: TLSFiles | None = None,
) -> Iterator[str]:
    """A `dask scheduler` on a localhost port of the system's choosing and one `dask worker` (one
    thread, no memory limit of dask's) per entry of `workers`, a command prefix that wraps it
    (usually []); each process logs to `log_folder`. With `tls` (the cluster's certificate files)
    every process speaks tls:// only; `client_tls` are the files this function joins it with to
    wait for the workers. Yields the scheduler's address once every worker has joined; stops them
    all on leaving, whatever happened."""
    # Port 0, the address read from the scheduler's file: a port chosen here as free could be
    # taken by another process before the scheduler binds it.
    scheduler_file = log_folder / "scheduler.json"
    scheduler_file.unlink(missing_ok=True)
    options = tls_options(tls) if tls else []
    environment = dict(os.environ, **(environment or {}))
    processes = []

    def start(command: list[str], name: str) -> None:
        with open(log_folder / f"{name}.log", "w") as log:
            processes.append(
                subprocess.Popen(
                    command,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=REPO_ROOT,
                    env=environment,
                    start_new_session=True,
                )
            )

    try:
        host = f"{'tls' if tls else 'tcp'}://127.0.0.1"
        scheduler = [DASK, "scheduler", "--host", host, "--port", "0"]
        start(
            [*scheduler, "--scheduler-file", str(scheduler_file), "--no-dashboard", *options],
            "scheduler",
        )
        address = _scheduler_address(scheduler_file, processes[0], log_folder / "scheduler.log")
        for number, prefix in enumerate(workers):
            worker = [DASK, "worker", address, "--nthreads", "1", "--memory-limit", "0"]
            start(
                [*prefix, *worker, "--no-dashboard", "--name", f"worker-{number}", *options],
                f"worker-{number}",
            )
        from distributed import Client

        from autograder.grade.cluster import remote_security

        security = remote_security(*(client_tls or ()))
        with Client(address, timeout=60, security=security) as client:
            client.wait_for_workers(len(workers), timeout=STARTUP_SECONDS)
        yield address
    finally:
        for process in reversed(processes):
            stop(process)
