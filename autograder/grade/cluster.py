"""Grading on dask.distributed: one code path from a laptop to a cluster.

With no scheduler, a ``LocalCluster`` of process workers (one per core, one thread each) is started
for the run; with ``scheduler="tcp://HOST:8786"`` (or $DASK_SCHEDULER_ADDRESS) the class is graded
on an existing cluster whose workers were started with ``dask worker``. Each worker imports torch
once and keeps each assignment's AssignmentSpec (GradingPlugin). Results come back to the client
as they arrive; only the client writes anything.

Before grading, every worker builds a sandbox (autograder/sandbox/host.py ``probe``); a worker
without one stops the run (ClusterRefused), naming it.

The client hands each worker thread one notebook at a time (autograder/grade/dispatcher.py): a
worker that dies held exactly what the client gave it, which is retried once, then gets an error
row. A notebook that holds its worker past its budget plus WORKER_GRACE_SECONDS, or a worker that
grows past MAX_WORKER_RSS, is stopped through its nanny and that notebook alone gets an error row.
The class always completes. What runs on the workers is autograder/grade/on_workers.py.
"""

import logging
import multiprocessing
import os
import signal
import sys
from contextlib import ExitStack, contextmanager
from typing import Iterator

from autograder.grade.dispatcher import CRASHED_TWICE, Dispatch, Dispatcher
from autograder.grade.on_workers import PLUGIN_NAME, GradingPlugin, probe_sandbox
from autograder.grade.results import NotebookResult
from autograder.sandbox import host
from autograder.sandbox.host import Limits, interpreter

# A notebook may hold its worker this long past its budget (the checks' own work, starting torch)
# before the worker is stopped; and a worker may grow to this resident size. Both are backstops:
# the budget and the bounds of autograder/sandbox/host.py and autograder/grade/notebook.py come
# first.
WORKER_GRACE_SECONDS = 60.0
MAX_WORKER_RSS = 3 << 30
__all__ = ["CRASHED_TWICE", "ClusterRefused", "GradingCluster", "grade_on_cluster", "connect"]


class ClusterRefused(RuntimeError):
    """Grading must not start on this cluster (no scheduler there, a worker without a sandbox)."""


def _say(message: str) -> None:
    print(message, file=sys.stderr)


@contextmanager
def connect(workers: int, scheduler: str | None = None):
    """A Client: on the cluster at `scheduler` (or $DASK_SCHEDULER_ADDRESS), or on a LocalCluster
    of `workers` process workers of one thread each, started here and stopped on leaving."""
    from distributed import Client, LocalCluster

    address = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")
    if address:
        try:
            client = Client(address, timeout=30, set_as_default=False)
        except (OSError, TimeoutError) as error:
            raise ClusterRefused(f"no Dask scheduler answers at {address}: {error}") from None
        try:
            client.wait_for_workers(1, timeout=60)
        except (OSError, TimeoutError):
            client.close()
            raise ClusterRefused(
                f"the Dask scheduler at {address} has no worker (start some with "
                f"`dask worker {address} --nthreads 1`)"
            ) from None
        try:
            yield client
        finally:
            client.close()
        return
    # The local workers are started (spawn) from a Python binary this user may run: a venv's
    # `python` links to an interpreter that another user (the grader run as `nobody`) may not be
    # allowed to reach. The venv's packages reach the workers through sys.path, which spawn sends.
    multiprocessing.set_executable(interpreter()[0])
    # memory_limit=0: no pausing or spilling by dask; MAX_WORKER_RSS is the bound that applies.
    # Ctrl-C is the client's to handle: processes started while SIGINT is ignored keep ignoring it
    # (Python installs its KeyboardInterrupt handler only over the default), so the nannies and
    # workers neither print tracebacks nor stop on their own; the client closes them.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        cluster = LocalCluster(
            n_workers=max(1, workers),
            threads_per_worker=1,
            processes=True,
            memory_limit=0,
            dashboard_address=None,
            silence_logs=logging.CRITICAL,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        client = Client(cluster, set_as_default=False)
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


def probe_workers(client, timeout: float = 10.0) -> dict:
    """{worker address: sandbox info} for every worker; ClusterRefused naming each worker whose
    sandbox cannot be built (learner code never runs unsandboxed)."""
    found = client.run(probe_sandbox, timeout, on_error="return")
    missing = {
        address: answer for address, answer in found.items() if isinstance(answer, Exception)
    }
    if missing:
        named = "; ".join(
            f"worker {address}: {error}" for address, error in sorted(missing.items())
        )
        raise ClusterRefused(
            f"refusing to grade: {len(missing)} of {len(found)} Dask workers have no sandbox "
            f"({named}). "
            "Learner code would run without its locked-down sandbox there (Linux with unprivileged "
            "user namespaces, Landlock and seccomp is needed); stop those workers or fix their "
            "hosts."
        )
    if not found:
        raise ClusterRefused("refusing to grade: the Dask cluster has no worker")
    return found


class GradingCluster:
    """A Dask client, joined (or started) and probed: `grade(tasks)` yields one result per task,
    in the order they are graded, whatever happens to a worker. Close it (or leave the `with`)
    to stop a local cluster."""

    def __init__(
        self, workers: int, limits: Limits, secret: str, scheduler: str | None = None, say=_say
    ):
        """Join the cluster at `scheduler` (or $DASK_SCHEDULER_ADDRESS), or start a local one of
        `workers` processes, and probe every worker's sandbox: ClusterRefused comes from here,
        before anything is graded. `say` gets one line about the workers' sandboxes."""
        self.limits, self.stack = limits, ExitStack()
        try:
            if not (scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")):
                _probe_here(limits)  # no use starting local workers on a machine without it
            self.client = self.stack.enter_context(connect(workers, scheduler))
            sandboxes = probe_workers(self.client, timeout=max(limits.timeout, 10.0))
            info = next(iter(sandboxes.values()))
            say(
                f"sandbox on each of {len(sandboxes)} Dask workers: user+network+mount "
                f"namespaces, rlimits, Landlock ABI {info['landlock_abi']}, "
                f"seccomp {'on' if info['seccomp'] else 'off (not x86-64)'}"
            )
            self.client.register_plugin(GradingPlugin(secret), name=PLUGIN_NAME)
        except BaseException:
            self.stack.close()
            raise

    def grade(
        self,
        tasks,
        budget: float,
        progress: bool,
        *,
        grace_seconds: float = WORKER_GRACE_SECONDS,
        max_worker_rss: int = MAX_WORKER_RSS,
    ) -> Dispatch:
        """The results, as they are graded: an iterator to close when done (or on Ctrl-C)."""
        return Dispatch(
            Dispatcher(
                self.client, tasks, self.limits, budget, progress, grace_seconds, max_worker_rss
            )
        )

    def close(self) -> None:
        self.stack.close()

    def __enter__(self):
        return self

    def __exit__(self, *exception) -> None:
        self.close()


def grade_on_cluster(
    tasks,
    workers: int,
    limits: Limits,
    budget: float,
    secret: str,
    progress: bool,
    scheduler: str | None = None,
    **backstops,
) -> Iterator[NotebookResult]:
    """One result per task, as they are graded, on a cluster started (or joined) for them."""
    with GradingCluster(workers, limits, secret, scheduler) as grading:
        yield from grading.grade(tasks, budget, progress, **backstops)


def _probe_here(limits: Limits) -> None:
    try:
        host.probe(Limits(timeout=max(limits.timeout, 10.0)))  # through the module: tests stand in
    except host.SandboxUnavailable as error:
        raise ClusterRefused(
            f"refusing to grade: {error}. Learner code would run without its locked-down sandbox "
            "(Linux with unprivileged user namespaces, Landlock and seccomp is needed)."
        ) from None
