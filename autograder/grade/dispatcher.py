"""Handing out notebooks to the Dask workers, on the client, and taking their results in.

The client hands each worker thread one notebook at a time (a task restricted to that worker), so
a worker that dies (the out-of-memory killer, a crash) held exactly the notebooks the client gave
it, and dask's own retry of other queued tasks never comes into play (red-team finding 3): the
notebook it held is retried once on a worker the nanny starts in its place, then gets an error
row. A notebook that holds its worker past its budget plus the grace, or a worker that grows past
its memory bound, is stopped through its nanny and that notebook alone gets an error row.

The dispatcher runs in a thread of its own (`Dispatch`), so a worker that delivers a result gets
its next notebook at once, whatever the caller is doing with the results (the journal's fsync, a
gradebook batch): the workers never wait for the client's writing.
"""

import os
import queue
import sys
import threading
import time
from typing import Iterator

from distributed import KilledWorker, as_completed
from tqdm import tqdm

from autograder.grade.on_workers import grade_task, kill_worker_process
from autograder.grade.results import NotebookResult, grader_fault, not_graded

# With no worker at all for this long, the notebooks left get an error row instead of waiting.
NO_WORKER_SECONDS = 300.0
# How often the scheduler is asked which workers are there (and how large, and since when busy).
POLL_SECONDS = 0.5
# How soon the dispatcher sees `stop` while it waits for results (close() waits for it).
STOP_POLL_SECONDS = 0.05
CRASHED_TWICE = "the grader's worker process crashed twice on this notebook"


class Dispatch:
    """The results of a `Dispatcher` run in a background thread, as an iterator: one
    NotebookResult per task, in the order they are graded. `close()` stops handing out, cancels
    what is held, and waits for the thread; an error of the dispatcher's is raised here."""

    _END = object()

    def __init__(self, dispatcher: "Dispatcher"):
        self._dispatcher, self._results = dispatcher, queue.Queue()
        self._stop, self._ended = threading.Event(), False
        self._thread = threading.Thread(target=self._run, name="grading-dispatcher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for result in self._dispatcher.results(self._stop):
                self._results.put(result)
        except BaseException as error:  # noqa: BLE001 - handed to the caller's thread
            self._results.put(error)
        finally:
            self._results.put(self._END)

    def __iter__(self) -> "Dispatch":
        return self

    def __next__(self) -> NotebookResult:
        if self._ended:
            raise StopIteration
        item = self._results.get()
        if item is self._END:
            self._ended = True
            self._thread.join()
            raise StopIteration
        if isinstance(item, BaseException):
            self._ended = True
            self.close()
            raise item
        return item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._ended = True


class Dispatcher:
    """Hands each worker thread one notebook at a time and watches the workers."""

    def __init__(self, client, tasks, limits, budget, progress, grace_seconds, max_worker_rss):
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

    def results(self, stop: threading.Event) -> Iterator[NotebookResult]:
        """Until every task has its result, or `stop` is set. A worker that delivers a result is
        given its next notebook before the result is passed on; the scheduler's table of workers
        (who is there, how large, which process) is read every POLL_SECONDS."""
        # Futures join it as they are handed out; cancelled ones come out too and are ignored.
        self.completed = as_completed(loop=self.client.loop, with_results=False)
        last_worker, next_look, workers = time.monotonic(), 0.0, {}
        try:
            while (self.pending or self.held) and not stop.is_set():
                if time.monotonic() >= next_look:
                    workers = self._workers()
                    next_look = time.monotonic() + POLL_SECONDS
                    yield from self._charge_dead_workers(workers)
                    self._watch(workers)
                    if workers:
                        last_worker = time.monotonic()
                    elif time.monotonic() - last_worker > NO_WORKER_SECONDS:
                        yield from self._give_up("no Dask worker was left to grade it")
                        break
                    self._hand_out(workers)
                if self._wait_for_ready(next_look, stop):
                    return
                delivered, ready = set(), []
                for future in self.completed.next_batch(block=False):
                    address = self.held.get(future, (None, None))[1]
                    for result in self._finished(future):
                        ready.append(result)
                        if future.status == "finished":
                            delivered.add(address)
                # Only to the workers that just delivered: they are alive; the others are seen to
                # at the next look at the scheduler's table.
                self._hand_out({a: w for a, w in workers.items() if a in delivered})
                yield from ready
        finally:
            for future in self.held:
                future.cancel()
            self.bar.close()

    def _wait_for_ready(self, until: float, stop: threading.Event) -> bool:
        """Sleep until a future is done, the monotonic time `until`, or `stop` (then True).
        as_completed notifies its condition after queueing each done future, and the queue is
        looked at with the condition held, so no future's notice is missed. (Polling every 5 ms,
        as it did, cost 1 % of a core for the whole run.)"""
        condition = self.completed.thread_condition
        with condition:
            while not self.completed.has_ready():
                if stop.is_set():
                    return True
                left = until - time.monotonic()
                if left <= 0:
                    return False
                condition.wait(timeout=min(left, STOP_POLL_SECONDS))
        return False

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
            error = future.exception()
            if isinstance(error, KilledWorker):
                yield from self._crashed(future)
                return
            del self.held[future]
            student, assignment = self.tasks[index][:2]
            self.bar.update(1)
            yield grader_fault(
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
        student, assignment = self.tasks[index][:2]
        if worker_id in self.stopped:
            self.bar.update(1)
            yield not_graded(student, assignment, f"not graded: {self.stopped[worker_id]}")
            return
        self.attempts[index] = self.attempts.get(index, 0) + 1
        if self.attempts[index] >= 2:
            self.bar.update(1)
            yield grader_fault(student, assignment, CRASHED_TWICE)
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
            self.client.run(kill_worker_process, pid, workers=[address], nanny=True)
        except Exception:  # noqa: BLE001 - no nanny (`dask worker --no-nanny`): end it from inside
            self.client.run(os._exit, 1, workers=[address], on_error="ignore")

    def _give_up(self, message: str) -> Iterator[NotebookResult]:
        for future in list(self.held):
            index = self.held.pop(future)[0]
            future.cancel()
            self.pending.append(index)
        for index in reversed(self.pending):
            student, assignment = self.tasks[index][:2]
            self.bar.update(1)
            yield grader_fault(student, assignment, f"not graded: {message}")
        self.pending.clear()
