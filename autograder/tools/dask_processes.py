"""A real Dask cluster on this machine: a `dask scheduler` and `dask worker` processes, each in a
process group of its own, started as an instructor would start them on other hosts, over TLS with
the certificates of autograder/tools/tls_certificates.py when given them. Used by the distributed
tests and by the scale benchmark; grading itself never starts these (it starts a LocalCluster,
autograder/grade/cluster.py)."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Iterator

from autograder import REPO_ROOT
from autograder.tools.tls_certificates import TLSFiles, tls_options

DASK = str(Path(sys.executable).with_name("dask"))
STARTUP_SECONDS = 120


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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
    """A `dask scheduler` on a free localhost port and one `dask worker` (one thread, no memory
    limit of dask's) per entry of `workers`, a command prefix that wraps it (usually []); each
    process logs to `log_folder`. With `tls` (the cluster's certificate files) every process
    speaks tls:// only; `client_tls` are the files this function joins it with to wait for the
    workers. Yields the scheduler's address once every worker has joined; stops them all on
    leaving, whatever happened."""
    port = free_port()
    address = f"{'tls' if tls else 'tcp'}://127.0.0.1:{port}"
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
        scheduler = [DASK, "scheduler", "--host", address.rsplit(":", 1)[0], "--port", str(port)]
        start([*scheduler, "--no-dashboard", *options], "scheduler")
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
