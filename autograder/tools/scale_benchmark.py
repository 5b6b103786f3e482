"""The scale benchmark: one synthetic class of at least 600 notebooks, graded in one run by the
LocalCluster with 1 and with 2 workers, through a real ``dask scheduler`` with two ``dask worker``
processes, and by the sandbox alone (the floor); the client's peak memory at 60 and at 600
notebooks; and what that projects for 60,000 notebooks on 64 cores.

    python -m autograder benchmark --scale [--notebooks 600] [--assignment 02-rnn-limitations]

Each grading run is the real command in its own process (``python -m autograder grade``), which
reports its start-up time, its grading time and its own peak resident memory on its last lines.
This is a measurement, not a test: nothing is asserted about the figures; they are printed with
the goals of issue 12 beside them.
"""

import math
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from autograder import REPO_ROOT, course
from autograder.tools.dask_processes import local_dask_cluster
from autograder.tools.demo import demo_class, write_class

SECRET = "scale-benchmark-secret"


@dataclass(frozen=True)
class RunFigures:
    """What one run of the grading command reported about itself."""

    notebooks: int
    workers: int
    wall_seconds: float
    startup_seconds: float
    grading_seconds: float
    peak_mib: float

    def seconds_per_notebook_per_worker(self) -> float:
        return self.grading_seconds * self.workers / self.notebooks


REPORT_LINE = re.compile(
    r"start-up ([\d.]+) s; grading ([\d.]+) s; client peak memory ([\d.]+) MiB"
)


def synthetic_class(folder: Path, assignment: str, notebooks: int) -> Path:
    """At least `notebooks` notebooks of `assignment`: the demo class (full marks, the untouched
    release, each known mistake) repeated, with no broken file, so every notebook is graded."""
    per_copy = len(demo_class([assignment], 1, broken=False))
    students = demo_class([assignment], math.ceil(notebooks / per_copy), broken=False)
    return write_class(students, folder)


def grade(submitted: Path, out: Path, workers: int, scheduler: str | None = None) -> RunFigures:
    command = [sys.executable, "-m", "autograder", "grade", str(submitted), "--out", str(out),
               "--workers", str(workers), "--no-progress"]
    if scheduler:
        command += ["--scheduler", scheduler]
    environment = {**os.environ, "MHA_GRADING_SECRET": SECRET}
    started = time.perf_counter()
    run = subprocess.run(command, cwd=REPO_ROOT, env=environment, capture_output=True, text=True)
    wall = time.perf_counter() - started
    match = REPORT_LINE.search(run.stderr)
    if run.returncode != 0 or match is None:
        raise RuntimeError(f"the grading command failed ({run.returncode}):\n{run.stderr[-3000:]}")
    notebooks = sum(1 for _ in submitted.glob("*/*/*.ipynb"))
    startup, grading, peak = (float(value) for value in match.groups())
    return RunFigures(notebooks, workers, wall, startup, grading, peak)


def floor_seconds_per_notebook(submitted: Path, assignment: str, sample: int) -> float:
    """Sandbox spawn plus the learner's own cells, per notebook, with no check at all: the part of
    grading that no grader can avoid. Measured in this process, one notebook after another."""
    from autograder.grade.assignment_spec import AssignmentSpec
    from autograder.grade.cell_plan import plan_cells, read_submission
    from autograder.sandbox.host import Limits, Sandbox

    spec = AssignmentSpec(assignment)
    paths = sorted(submitted.glob(f"*/{assignment}/*.ipynb"))[:sample]
    started = time.perf_counter()
    for path in paths:
        run, _ = plan_cells(spec, read_submission(path))
        sandbox = Sandbox(Limits())
        try:
            for _ in sandbox.run_cells([source for _, source, _ in run]):
                pass
        finally:
            sandbox.kill()
    return (time.perf_counter() - started) / len(paths)


def main(notebooks: int, assignment: str, floor_sample: int) -> int:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="scale-benchmark-") as folder:
        root = Path(folder)
        large = synthetic_class(root / "large", assignment, notebooks)
        small = synthetic_class(root / "small", assignment, max(1, notebooks // 10))
        count = sum(1 for _ in large.glob("*/*/*.ipynb"))
        print(f"scale benchmark: {count} notebooks of {assignment} on {cores} cores")

        one = grade(large, root / "out-1", workers=1)
        print(_describe("LocalCluster, 1 worker", one))
        two = grade(large, root / "out-2", workers=2)
        print(_describe("LocalCluster, 2 workers", two))
        with local_dask_cluster(workers=2) as address:
            remote = grade(large, root / "out-scheduler", workers=2, scheduler=address)
        print(_describe(f"dask scheduler + 2 dask workers ({address})", remote))
        few = grade(small, root / "out-small", workers=2)
        print(_describe("LocalCluster, 2 workers, the small class", few))
        floor = floor_seconds_per_notebook(large, assignment, floor_sample)

        same = all((root / name / "grades.csv").read_bytes() == (root / "out-2" / "grades.csv").read_bytes()
                   for name in ("out-1", "out-scheduler"))
    per_worker_1 = one.seconds_per_notebook_per_worker()
    per_worker_2 = two.seconds_per_notebook_per_worker()
    efficiency = one.grading_seconds / (2 * two.grading_seconds)
    slower = remote.grading_seconds / two.grading_seconds - 1
    memory_ratio = two.peak_mib / few.peak_mib
    overhead_ms = (per_worker_1 - floor) * 1000
    projected = two.startup_seconds + 60_000 * per_worker_2 / 64
    print()
    print(f"start-up (cluster, sandbox probe of every worker): {two.startup_seconds:.1f} s")
    print(f"seconds per notebook per worker: {per_worker_1:.3f} (1 worker), {per_worker_2:.3f} (2 workers)")
    print(f"scaling efficiency 1 -> 2 workers: {efficiency:.0%} (goal: at least 90%)")
    print(f"through the scheduler: {slower:+.1%} against the LocalCluster (goal: at most +10%)")
    print(f"floor (sandbox spawn + learner code, no checks): {floor * 1000:.0f} ms per notebook "
          f"({min(floor_sample, count)} notebooks, one process)")
    print(f"overhead above the floor: {overhead_ms:.0f} ms per notebook (goal: under 50 ms; it "
          "includes the checks against torch, which the floor leaves out)")
    print(f"client peak memory: {few.peak_mib:.0f} MiB at {few.notebooks} notebooks, "
          f"{two.peak_mib:.0f} MiB at {two.notebooks}: {memory_ratio:.2f}x (goal: within 1.5x)")
    print(f"projection, 60,000 notebooks on 64 cores at the 2-worker rate per worker: "
          f"{projected / 60:.0f} min (assumes the 2-worker efficiency holds at 64)")
    print(f"grades.csv: {'identical' if same else 'DIFFERENT'} across the 1-worker, 2-worker and "
          "scheduler runs")
    return 0 if same else 1


def _describe(label: str, figures: RunFigures) -> str:
    return (f"{label}: {figures.notebooks} notebooks, {figures.wall_seconds:.1f} s in all, "
            f"start-up {figures.startup_seconds:.1f} s, grading {figures.grading_seconds:.1f} s, "
            f"client peak {figures.peak_mib:.0f} MiB")


if __name__ == "__main__":
    sys.exit(main(600, course.assignments()[1], 100))
