"""Scale benchmark: what grading a large class costs, measured in one run on this machine.

    python -m autograder benchmark --scale [--notebooks 600] [--small 60]

The class is the demo class of every assignment without its broken notebook (full marks, untouched
release, each known mistake), repeated until it holds ``--notebooks`` notebooks. The same class is
graded by ``python -m autograder grade`` with a local cluster of 1 and of 2 workers and through a
real ``dask scheduler`` with two ``dask worker`` processes; a class of ``--small`` notebooks,
graded on a local cluster and through the scheduler, shows how the client's memory grows with the
class and what of the client's CPU is spent once a run. Each run is a fresh command with a fresh
OUT, and its figures come from the cost line the command prints (autograder/grade/run_cost.py:
the seconds of each phase, "imports I s; preparing P s; start-up S s; grading G s; stopping T s;
reports R s", then "client peak memory M MiB; client CPU C s, D s of it while grading"); the
fixed cost is the whole command's wall time less its grading, the interpreter's exit included.
The floor is what no grader can avoid: for each notebook, starting its sandbox and running the
learner's cells there, nothing else. The three runs of the large class must give the same
grades.csv, and so must the two of the small. This is a measurement, not a test: the goals are
reported, not asserted.
"""

import argparse
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from autograder import REPO_ROOT, command_argv, course, environment
from autograder.grade.assignment_spec import AssignmentSpec
from autograder.grade.cell_plan import plan_cells, read_submission
from autograder.sandbox.host import Limits, Sandbox
from autograder.tools.dask_processes import dask_cluster
from autograder.tools.demo import demo_class, write_class
from autograder.tools.tls_certificates import CLUSTER, GRADER, tls_options, write_certificates

SECRET = "scale-benchmark-secret"
COST_LINE = re.compile(
    r"imports (?P<imports>[\d.]+) s; preparing (?P<preparing>[\d.]+) s; "
    r"start-up (?P<startup>[\d.]+) s; grading (?P<grading>[\d.]+) s; "
    r"stopping (?P<stopping>[\d.]+) s; reports (?P<reports>[\d.]+) s; "
    r"client peak memory (?P<memory>\d+) MiB; "
    r"client CPU (?P<cpu>[\d.]+) s, (?P<grading_cpu>[\d.]+) s of it while grading"
)
# The phases of the cost line other than grading (autograder/grade/run_cost.py): a run's fixed
# cost, with the interpreter's exit after the line (the whole command's wall time less the rest).
FIXED_PHASES = ("imports", "preparing", "startup", "stopping", "reports")
# The goals for a machine of 2 cores, printed next to what was measured.
GOAL_EFFICIENCY = 0.90
GOAL_SCHEDULER_SLOWDOWN = 0.10
GOAL_MEMORY_RATIO = 1.5
GOAL_OVERHEAD_SECONDS = 0.050
GOAL_FIXED_SECONDS = 5.0
GOAL_CLIENT_CPU_SECONDS = 0.010  # per notebook, while grading on a scheduler apart
PROJECTED_NOTEBOOKS = 60_000
PROJECTED_CORES = 64


@dataclass(frozen=True)
class Run:
    """One `python -m autograder grade` command: its own figures and its wall time."""

    label: str
    notebooks: int
    workers: int
    startup: float
    grading: float
    memory_mib: int
    client_cpu: float  # seconds, the in-process scheduler of a local cluster included
    client_grading_cpu: float  # of it, while the notebooks were being graded
    wall: float
    grades_csv: bytes
    phases: dict  # the cost line's seconds by phase (FIXED_PHASES)

    @property
    def fixed(self) -> float:
        """Everything but grading, from the command's start to its exit."""
        return self.wall - self.grading

    def fixed_parts(self) -> str:
        """The fixed cost by phase, as in "imports 1.2 s, preparing 0.1 s, ..., exit 0.3 s"."""
        exit_seconds = self.wall - self.grading - sum(self.phases.values())
        parts = [f"{name} {seconds:.1f} s" for name, seconds in self.phases.items()]
        return ", ".join(parts + [f"exit {exit_seconds:.1f} s"])

    @property
    def seconds_per_notebook_per_worker(self) -> float:
        return self.grading * self.workers / self.notebooks


def synthetic_class(notebooks: int) -> dict:
    """The first `notebooks` notebooks of the demo class repeated, student by student (so every
    assignment and every kind of answer is in any prefix of it): student -> {assignment: nb}."""
    per_copy = sum(len(assignments) for assignments in demo_class(broken=False).values())
    students = demo_class(copies=max(2, math.ceil(notebooks / per_copy)), broken=False)
    chosen, left = {}, notebooks
    for student, assignments in students.items():
        for assignment, notebook in assignments.items():
            if left == 0:
                return chosen
            chosen.setdefault(student, {})[assignment] = notebook
            left -= 1
    return chosen


def grade(label: str, submitted: Path, out: Path, notebooks: int, workers: int, *options) -> Run:
    """Grade `submitted` into a fresh `out` with a fresh command; its figures, or SystemExit."""
    command = command_argv("grade", submitted, "--out", out)
    started = time.perf_counter()
    done = subprocess.run(
        [*command, "--no-progress", *options],
        cwd=REPO_ROOT,
        env={**os.environ, environment.GRADING_SECRET: SECRET},
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    cost = COST_LINE.search(done.stdout)
    if done.returncode not in (0, 3) or cost is None:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"{label}: the grade command ended with exit status {done.returncode}")
    return Run(
        label,
        notebooks,
        workers,
        float(cost["startup"]),
        float(cost["grading"]),
        int(cost["memory"]),
        float(cost["cpu"]),
        float(cost["grading_cpu"]),
        wall,
        (out / "grades.csv").read_bytes(),
        {phase: float(cost[phase]) for phase in FIXED_PHASES},
    )


def floor_seconds(submitted: Path) -> list[float]:
    """Per notebook: start its sandbox, run the learner's cells there (as grading would, with the
    course's read-only cells), stop it. No checks, no oracle, no Dask, no reports."""
    specs, seconds = {}, []
    limits = Limits()
    for path in sorted(submitted.glob("*/*/*.ipynb")):
        assignment = path.parent.name
        spec = specs.setdefault(assignment, AssignmentSpec(assignment))
        run, _ = plan_cells(spec, read_submission(path))
        started = time.perf_counter()
        sandbox = Sandbox(limits)
        try:
            for _ in sandbox.run_cells([source for _, source, _ in run]):
                pass
        finally:
            sandbox.kill()
        seconds.append(time.perf_counter() - started)
    return seconds


def describe(run: Run) -> str:
    return (
        f"{run.label}: start-up {run.startup:.1f} s, grading {run.grading:.1f} s "
        f"(whole command {run.wall:.1f} s), "
        f"{run.seconds_per_notebook_per_worker * 1000:.0f} ms per notebook per worker, "
        f"client peak memory {run.memory_mib} MiB, client CPU {run.client_cpu:.1f} s"
    )


def verdict(ok: bool) -> str:
    return "goal met" if ok else "goal NOT met"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--notebooks", type=int, default=600, help="notebooks in the class (default 600)"
    )
    parser.add_argument(
        "--small", type=int, default=60, help="notebooks in the small class (default 60)"
    )


def run(arguments: argparse.Namespace) -> int:
    large, small = arguments.notebooks, arguments.small
    cores = os.cpu_count() or 1
    print(f"-- scale: {large} notebooks of {len(course.assignments())} assignments, {cores} cores")
    with tempfile.TemporaryDirectory(prefix="scale-benchmark-") as folder:
        folder = Path(folder)
        submitted = write_class(synthetic_class(large), folder / "class")
        submitted_small = write_class(synthetic_class(small), folder / "small-class")

        # The small class first: it also warms the disk cache for the runs that follow.
        runs = {
            "small": grade(
                "2 workers, small class",
                submitted_small,
                folder / "out-small",
                small,
                2,
                "--workers",
                "2",
            )
        }
        runs["1"] = grade(
            "local cluster, 1 worker", submitted, folder / "out-1", large, 1, "--workers", "1"
        )
        runs["2"] = grade(
            "local cluster, 2 workers", submitted, folder / "out-2", large, 2, "--workers", "2"
        )
        # Over TLS, as the local cluster is and as an instructor's cluster should be.
        tls = write_certificates(folder / "tls")
        with dask_cluster(folder, [[], []], tls=tls[CLUSTER], client_tls=tls[GRADER]) as address:
            runs["scheduler"] = grade(
                "dask scheduler + 2 dask workers",
                submitted,
                folder / "out-scheduler",
                large,
                2,
                "--scheduler",
                address,
                *tls_options(tls[GRADER]),
            )
            # The small class there too: what the client spends once a run while grading (the
            # gradebook's notebooks and cells of each assignment) is told from what it spends
            # per notebook.
            runs["scheduler-small"] = grade(
                "dask scheduler + 2 dask workers, small class",
                submitted_small,
                folder / "out-scheduler-small",
                small,
                2,
                "--scheduler",
                address,
                *tls_options(tls[GRADER]),
            )
        floor = floor_seconds(submitted)

    one, two, remote = runs["1"], runs["2"], runs["scheduler"]
    for key in ("1", "2", "scheduler"):
        print(describe(runs[key]))
    same = one.grades_csv == two.grades_csv == remote.grades_csv
    print(f"grades.csv: {'identical' if same else 'DIFFERENT'} across the three runs")
    same_small = runs["small"].grades_csv == runs["scheduler-small"].grades_csv
    print(
        f"grades.csv of the small class: {'identical' if same_small else 'DIFFERENT'} on the "
        "local cluster and through the scheduler"
    )

    small_run = runs["small"]
    fixed = small_run.fixed
    print(
        f"fixed cost: {fixed:.1f} s per run (the small class's whole command less its grading: "
        f"{small_run.fixed_parts()}; goal at most {GOAL_FIXED_SECONDS:g} s: "
        f"{verdict(fixed <= GOAL_FIXED_SECONDS)}); cluster start and probes: "
        f"{one.startup:.1f} s with 1 worker, {two.startup:.1f} s with 2, {remote.startup:.1f} s "
        f"on the scheduler's running workers; the large class's reports and the rest: "
        f"{two.wall - two.grading:.1f} s"
    )
    efficiency = one.grading / (2 * two.grading)
    print(
        f"scaling efficiency from 1 to 2 workers: {efficiency:.0%} "
        f"(goal at least {GOAL_EFFICIENCY:.0%}: {verdict(efficiency >= GOAL_EFFICIENCY)}); "
        f"while grading, the client (taking results in, the journal, the gradebook, a local "
        f"cluster's scheduler) used {two.client_grading_cpu / large * 1000:.0f} ms of CPU per "
        f"notebook on the same {cores} cores as the workers"
    )
    slowdown = remote.grading / two.grading - 1
    print(
        f"through the scheduler: grading {slowdown:+.1%} against the local cluster of 2 "
        f"(goal at most +{GOAL_SCHEDULER_SLOWDOWN:.0%}: "
        f"{verdict(slowdown <= GOAL_SCHEDULER_SLOWDOWN)})"
    )
    mean_floor = statistics.fmean(floor)
    overhead = one.seconds_per_notebook_per_worker - mean_floor
    print(
        f"floor (sandbox start and the learner's cells, nothing else): "
        f"{mean_floor * 1000:.0f} ms per notebook (median {statistics.median(floor) * 1000:.0f} "
        f"ms, {len(floor)} notebooks one after another)"
    )
    print(
        f"overhead above the floor, 1 worker: {overhead * 1000:.0f} ms per notebook "
        f"(the checks, the PyTorch oracle, the mistake detector, Dask, the journal and the "
        f"gradebook; goal under {GOAL_OVERHEAD_SECONDS * 1000:.0f} ms: "
        f"{verdict(overhead < GOAL_OVERHEAD_SECONDS)})"
    )
    memory_ratio = two.memory_mib / small_run.memory_mib
    print(
        f"client peak memory: {small_run.memory_mib} MiB for {small} notebooks, "
        f"{two.memory_mib} MiB for {large}: {memory_ratio:.2f}x "
        f"(goal at most {GOAL_MEMORY_RATIO}x: {verdict(memory_ratio <= GOAL_MEMORY_RATIO)})"
    )

    per_worker = two.seconds_per_notebook_per_worker
    workers_bound = PROJECTED_NOTEBOOKS * per_worker / PROJECTED_CORES
    # A cluster that size has its scheduler apart, as in the scheduler runs: the client's own CPU
    # per notebook while grading there bounds how fast it can take results in. Per extra
    # notebook, from the large class less the small one: the client's work once a run (the
    # gradebook's structure of each assignment) is no notebook's.
    remote_small = runs["scheduler-small"]
    client_mean = remote.client_grading_cpu / large
    client_each = (remote.client_grading_cpu - remote_small.client_grading_cpu) / max(
        large - small, 1
    )
    client_bound = PROJECTED_NOTEBOOKS * client_each
    # The reports come after grading, in the client alone: what the large class's cost beyond the
    # small one's, per extra notebook.
    reports_each = ((two.wall - two.grading) - fixed) / max(large - small, 1)
    reports = PROJECTED_NOTEBOOKS * reports_each
    projected = fixed + max(workers_bound, client_bound) + reports
    bound = "the client" if client_bound > workers_bound else "the workers"
    print(
        f"projection: {PROJECTED_NOTEBOOKS:,} notebooks on {PROJECTED_CORES} cores (one worker "
        f"a core) in about {projected / 60:.0f} min: {fixed:.0f} s of start-up; grading bound "
        f"by {bound}, as the workers need {PROJECTED_NOTEBOOKS:,} x {per_worker * 1000:.0f} ms "
        f"/ {PROJECTED_CORES} = {workers_bound / 60:.1f} min and the client, at "
        f"{client_each * 1000:.1f} ms of CPU per notebook (the scheduler runs, per notebook of "
        f"the large class beyond the small one; {client_mean * 1000:.1f} ms on average over the "
        f"large class; goal at most {GOAL_CLIENT_CPU_SECONDS * 1000:.0f} ms: "
        f"{verdict(client_each <= GOAL_CLIENT_CPU_SECONDS)}), "
        f"{client_bound / 60:.1f} min; then the reports, at {reports_each * 1000:.1f} ms per "
        f"notebook, {reports / 60:.1f} min. Assumed, not measured: each core grades as fast as "
        f"one of the 2 workers here, and the client's costs per notebook stay as measured"
    )
    return 0 if same and same_small else 1
