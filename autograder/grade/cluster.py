"""Grading on dask.distributed: one code path from a laptop to a cluster.

With no scheduler, a ``LocalCluster`` of process workers (one per core, one thread each) is started
for the run; with ``scheduler="tcp://HOST:8786"`` (or $DASK_SCHEDULER_ADDRESS) the class is graded
on an existing cluster whose workers were started with ``dask worker``. Each worker imports torch
once and keeps each assignment's AssignmentSpec (GradingPlugin). Results come back to the client
as they arrive; only the client writes anything.

Before grading, every worker builds a sandbox (autograder/sandbox/host.py ``probe``); a worker
without one stops the run (ClusterRefused), naming it.

This client hands each worker thread one notebook at a time (a task restricted to that worker),
so a worker that dies (the out-of-memory killer, a crash) held exactly the notebooks the client
gave it, and dask's own retry of other queued tasks never comes into play (red-team finding 3):
the notebook it held is retried once on a worker the nanny starts in its place, then gets an
error row. A notebook that holds its worker past its budget plus WORKER_GRACE_SECONDS, or a worker
that grows past MAX_WORKER_RSS, is stopped through its nanny and that notebook alone gets an error
row. The class always completes.
"""

import logging
import multiprocessing
import os
import signal
import sys
import time
from contextlib import ExitStack, contextmanager
from typing import Iterator

from distributed import WorkerPlugin

from autograder import environment
from autograder.grade.results import NotebookResult, not_graded
from autograder.sandbox.host import Limits, interpreter

# A notebook may hold its worker this long past its budget (the checks' own work, starting torch)
# before the worker is stopped; and a worker may grow to this resident size. Both are backstops:
# the budget and the bounds of autograder/sandbox/host.py and autograder/grade/notebook.py come
# first.
WORKER_GRACE_SECONDS = 60.0
MAX_WORKER_RSS = 3 << 30
# With no worker at all for this long, the notebooks left get an error row instead of waiting.
NO_WORKER_SECONDS = 300.0
POLL_SECONDS = 0.5
READY_POLL_SECONDS = 0.01
PLUGIN_NAME = "autograder-grading"
CRASHED_TWICE = "the grader's worker process crashed twice on this notebook"


class ClusterRefused(RuntimeError):
    """Grading must not start on this cluster (no scheduler there, a worker without a sandbox)."""


class GradingPlugin(WorkerPlugin):
    """Set up once per worker process: the grading secret, torch on one thread, and the
    AssignmentSpec of each assignment, built on first use and kept for the worker's life."""

    def __init__(self, secret: str):
        self.secret = secret
        self.specs = {}

    def setup(self, worker) -> None:
        os.environ[environment.GRADING_SECRET] = self.secret
        os.environ.setdefault(environment.OMP_NUM_THREADS, "1")
        import torch

        torch.set_num_threads(1)

    def spec(self, assignment: str):
        from autograder.grade.assignment_spec import AssignmentSpec

        if assignment not in self.specs:
            self.specs[assignment] = AssignmentSpec(assignment)
        return self.specs[assignment]


def grade_task(task, limits: Limits, budget: float) -> NotebookResult:
    """Grade one (student, assignment, path, notes) task on this worker; never raises."""
    from distributed import get_worker

    from autograder.grade.notebook import grade_notebook

    student, assignment, path, notes = task
    try:
        spec = get_worker().plugins[PLUGIN_NAME].spec(assignment)
        return grade_notebook(spec, student, path, limits, budget, notes)
    except Exception as error:  # a bug of ours must not stop the class: say so in the row
        return not_graded(
            student, assignment, f"internal grader error: {type(error).__name__}: {error}"
        )


def _probe_sandbox(timeout: float) -> dict:
    from autograder.sandbox.host import probe

    return probe(Limits(timeout=timeout))


def _kill_worker_process(pid: int) -> None:
    """Run on a worker's nanny: stop the worker process even if its event loop is stuck; the
    nanny then starts a fresh one."""
    os.kill(pid, signal.SIGKILL)


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
    found = client.run(_probe_sandbox, timeout, on_error="return")
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
    ) -> Iterator[NotebookResult]:
        dispatcher = _Dispatcher(
            self.client, tasks, self.limits, budget, progress, grace_seconds, max_worker_rss
        )
        yield from dispatcher.results()

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
    from autograder.sandbox.host import SandboxUnavailable, probe

    try:
        probe(Limits(timeout=max(limits.timeout, 10.0)))
    except SandboxUnavailable as error:
        raise ClusterRefused(
            f"refusing to grade: {error}. Learner code would run without its locked-down sandbox "
            "(Linux with unprivileged user namespaces, Landlock and seccomp is needed)."
        ) from None


class _Dispatcher:
    """Hands each worker thread one notebook at a time and watches the workers."""

    def __init__(self, client, tasks, limits, budget, progress, grace_seconds, max_worker_rss):
        from tqdm import tqdm

        self.client, self.tasks, self.limits, self.budget = client, tasks, limits, budget
        self.grace_seconds, self.max_worker_rss = grace_seconds, max_worker_rss
        self.pending = list(reversed(range(len(tasks))))  # popped from the end: in order
        self.attempts = {}  # task index -> crashes so far
        self.held = {}  # future -> (task index, worker address, worker id, started)
        self.stopped = {}  # worker id -> why this client stopped it
        self.bar = tqdm(
            total=len(tasks),
            desc="grading",
            unit="notebook",
            disable=not progress,
            file=sys.stderr,
            dynamic_ncols=True,
        )

    def results(self) -> Iterator[NotebookResult]:
        from distributed import as_completed

        # Futures join it as they are handed out; cancelled ones come out too and are ignored.
        self.completed = as_completed(loop=self.client.loop, with_results=False)
        last_worker = time.monotonic()
        try:
            while self.pending or self.held:
                workers = self._workers()
                yield from self._charge_dead_workers(workers)
                self._watch(workers)
                if workers:
                    last_worker = time.monotonic()
                elif time.monotonic() - last_worker > NO_WORKER_SECONDS:
                    yield from self._give_up("no Dask worker was left to grade it")
                    break
                self._hand_out(workers)
                # Wait for a result, but look at the workers again every POLL_SECONDS.
                deadline = time.monotonic() + POLL_SECONDS
                while not self.completed.has_ready() and time.monotonic() < deadline:
                    time.sleep(READY_POLL_SECONDS)
                for future in self.completed.next_batch(block=False):
                    yield from self._finished(future)
        finally:
            for future in self.held:
                future.cancel()
            self.bar.close()

    def _workers(self) -> dict:
        """{address: id (one per worker process), pid, status, nthreads, memory (resident bytes at
        its last heartbeat)}, from the scheduler."""

        # nested: pickled by value, so the scheduler needs no autograder installed
        def table(dask_scheduler) -> dict:
            return {
                address: {
                    "id": state.server_id,
                    "pid": state.pid,
                    "status": state.status.name,
                    "nthreads": state.nthreads,
                    "memory": state.metrics.get("memory", 0),
                }
                for address, state in dask_scheduler.workers.items()
            }

        return self.client.run_on_scheduler(table)

    def _hand_out(self, workers: dict) -> None:
        busy = {}
        for index, address, worker_id, started in self.held.values():
            busy[address] = busy.get(address, 0) + 1
        for address, worker in workers.items():
            if worker.get("status") != "running" or worker.get("id") in self.stopped:
                continue
            for _ in range(worker.get("nthreads", 1) - busy.get(address, 0)):
                if not self.pending:
                    return
                index = self.pending.pop()
                # restricted to this worker: it holds exactly what this client gave it
                future = self.client.submit(
                    grade_task,
                    self.tasks[index],
                    self.limits,
                    self.budget,
                    key=f"grade-{index}-{self.attempts.get(index, 0)}",
                    workers=[address],
                    allow_other_workers=False,
                    pure=False,
                )
                self.completed.add(future)
                self.held[future] = (index, address, worker["id"], time.monotonic())

    def _finished(self, future) -> Iterator[NotebookResult]:
        if future not in self.held:
            return
        index = self.held[future][0]
        if future.status == "finished":
            try:
                result = future.result(timeout=60)
            except Exception:  # noqa: BLE001 - lost with its worker after finishing: graded again
                yield from self._crashed(future)
                return
            del self.held[future]
            self.bar.update(1)
            yield result
        elif future.status == "error":
            from distributed import KilledWorker

            error = future.exception()
            if isinstance(error, KilledWorker):
                yield from self._crashed(future)
                return
            del self.held[future]
            student, assignment, _, _ = self.tasks[index]
            self.bar.update(1)
            yield not_graded(
                student, assignment, f"internal grader error: {type(error).__name__}: {error}"
            )
        # "cancelled", "lost": seen as a dead worker by _charge_dead_workers

    def _charge_dead_workers(self, workers: dict) -> Iterator[NotebookResult]:
        """The notebooks of workers that are gone (or restarted under the same address)."""
        for future, (index, address, worker_id, _) in list(self.held.items()):
            if workers.get(address, {}).get("id") != worker_id:
                yield from self._crashed(future)

    def _crashed(self, future) -> Iterator[NotebookResult]:
        index, _, worker_id, _ = self.held.pop(future)
        future.cancel()
        student, assignment, _, _ = self.tasks[index]
        if worker_id in self.stopped:
            self.bar.update(1)
            yield not_graded(student, assignment, f"not graded: {self.stopped[worker_id]}")
            return
        self.attempts[index] = self.attempts.get(index, 0) + 1
        if self.attempts[index] >= 2:
            self.bar.update(1)
            yield not_graded(student, assignment, CRASHED_TWICE)
        else:
            self.pending.append(index)  # next, on another (or a fresh) worker

    def _watch(self, workers: dict) -> None:
        """Stop a worker whose notebook holds it past budget + grace, or that grew too large."""
        limit = self.budget + self.grace_seconds
        now = time.monotonic()
        for future, (index, address, worker_id, started) in list(self.held.items()):
            worker = workers.get(address, {})
            if worker.get("id") != worker_id or worker_id in self.stopped:
                continue
            problem = None
            if now - started > limit:
                problem = f"the notebook held the grader for more than {limit:g} s"
            elif worker["memory"] > self.max_worker_rss:
                problem = (
                    f"the grader used more than {self.max_worker_rss >> 20} MiB of memory "
                    "on this notebook"
                )
            if problem is not None:
                self.stopped[worker_id] = problem
                self._stop(address, worker["pid"])

    def _stop(self, address: str, pid: int) -> None:
        try:
            self.client.run(_kill_worker_process, pid, workers=[address], nanny=True)
        except Exception:  # noqa: BLE001 - no nanny (`dask worker --no-nanny`): end it from inside
            self.client.run(os._exit, 1, workers=[address], on_error="ignore")

    def _give_up(self, message: str) -> Iterator[NotebookResult]:
        for future in list(self.held):
            index = self.held.pop(future)[0]
            future.cancel()
            self.pending.append(index)
        for index in reversed(self.pending):
            student, assignment, _, _ = self.tasks[index]
            self.bar.update(1)
            yield not_graded(student, assignment, f"not graded: {message}")
        self.pending.clear()
