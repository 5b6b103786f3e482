"""A real Dask cluster on this machine, as an instructor would start one: ``dask scheduler`` and
``dask worker`` processes, each its own program. The distributed test and the scale benchmark
grade through it; nothing here is a stand-in for Dask."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _dask(*arguments: str) -> list[str]:
    """The `dask` command of this interpreter's environment, whatever PATH says."""
    return [str(Path(sys.executable).parent / "dask"), *arguments]


@contextlib.contextmanager
def local_dask_cluster(workers: int = 2, timeout: float = 120.0) -> Iterator[str]:
    """Start a scheduler and `workers` single-threaded workers on localhost; yield the scheduler's
    address once every worker has joined; stop them all afterwards, even on failure."""
    from distributed import Client

    address = f"tcp://127.0.0.1:{free_port()}"
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    processes = []

    def start(command: list[str]) -> None:
        processes.append(subprocess.Popen(command, env=environment, start_new_session=True,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    try:
        start(_dask("scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                    "--no-dashboard"))
        for _ in range(workers):
            start(_dask("worker", address, "--nthreads", "1", "--nworkers", "1",
                        "--no-dashboard", "--host", "127.0.0.1"))
        deadline = time.monotonic() + timeout
        with Client(address, timeout=timeout) as client:
            client.wait_for_workers(workers, timeout=max(1.0, deadline - time.monotonic()))
        yield address
    finally:
        for process in processes:  # each in its own session: its nanny and worker go with it
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
