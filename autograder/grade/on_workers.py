"""What runs on the Dask workers (and their nannies): set-up once per worker process, grading one
notebook, probing the sandbox, and stopping a worker from its nanny. Sent to the workers by
reference, so every worker imports this module; the client side is autograder/grade/cluster.py
(the cluster) and autograder/grade/dispatcher.py (handing out notebooks)."""

import os
import signal
from dataclasses import replace

from distributed import WorkerPlugin, get_worker

from autograder import environment
from autograder.checks.secret import GRADING_SECRET
from autograder.grade.results import NotebookResult, Task, grader_fault
from autograder.sandbox.host import Limits, probe

PLUGIN_NAME = "autograder-grading"


class GradingPlugin(WorkerPlugin):
    """Set up once per worker process: torch on one thread, and the AssignmentSpec of each
    assignment, built on first use and kept while the plugin is registered. It holds the grading
    secret and hands it to the checks of each notebook (grade_task); removed from the worker when
    the run ends (GradingCluster), it forgets both."""

    def __init__(self, secret: str):
        self.secret = secret
        self.specs = {}

    def setup(self, worker) -> None:
        os.environ.setdefault(environment.OMP_NUM_THREADS, "1")
        import torch

        torch.set_num_threads(1)

    def teardown(self, worker) -> None:
        self.secret, self.specs = None, {}

    def spec(self, assignment: str):
        from autograder.grade.assignment_spec import AssignmentSpec  # torch: on workers only

        if assignment not in self.specs:
            self.specs[assignment] = AssignmentSpec(assignment)
        return self.specs[assignment]


def grade_task(task: Task, limits: Limits, budget: float) -> NotebookResult:
    """Grade one task on this worker, and fingerprint its notebook if the task says so; never
    raises."""
    from autograder.grade.notebook import grade_notebook  # torch: imported on workers only

    task = Task(*task)  # a plain tuple too
    student, assignment, path = task.student, task.assignment, task.path
    try:
        plugin = get_worker().plugins[PLUGIN_NAME]
        token = GRADING_SECRET.set(plugin.secret)  # read by the hidden checks, in this thread
        try:
            result = grade_notebook(
                plugin.spec(assignment), student, path, limits, budget, task.notes
            )
        finally:
            GRADING_SECRET.reset(token)
        if task.fingerprint and result.notebook is not None:
            result = replace(result, fingerprints=_fingerprints(path, assignment))
        return result
    except Exception as error:  # a bug of ours must not stop the class: say so in the row
        return grader_fault(
            student, assignment, f"internal grader error: {type(error).__name__}: {error}"
        )


def _fingerprints(path, assignment: str):
    """The notebook's fingerprints for the similarity report, or None, whatever goes wrong: the
    report then reads the notebook itself (and says why it cannot), and the grade stands."""
    from autograder.report.similarity import fingerprint_notebook

    try:
        return fingerprint_notebook(path, assignment)
    except Exception:  # noqa: BLE001 - the client's report meets and reports the same failure
        return None


def probe_sandbox(timeout: float) -> dict:
    return probe(Limits(timeout=timeout))


def kill_worker_process(pid: int) -> None:
    """Run on a worker's nanny: stop the worker process even if its event loop is stuck; the
    nanny then starts a fresh one."""
    os.kill(pid, signal.SIGKILL)
