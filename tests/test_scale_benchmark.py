"""The scale benchmark (issue 12), run small: does `python -m autograder benchmark --scale` print
every figure the issue asks for, from real runs (a local cluster of 1 and 2 workers, a real
`dask scheduler` with two `dask worker` processes), with the same grades.csv from all three?
The figures themselves are measurements, not asserted: only that they are there and sane."""

import re
import subprocess

import pytest

from autograder import REPO_ROOT, command_argv

pytestmark = pytest.mark.slow

NUMBER = r"-?[\d,.]+"
FIGURES = {
    "each run": rf"local cluster, 1 worker: start-up {NUMBER} s, grading {NUMBER} s",
    "two workers": rf"local cluster, 2 workers: .* ({NUMBER}) ms per notebook per worker",
    "scheduler": rf"dask scheduler \+ 2 dask workers: .* client peak memory {NUMBER} MiB",
    "same grades": r"grades\.csv: identical across the three runs",
    "same small grades": r"grades\.csv of the small class: identical on the local cluster and "
    r"through the scheduler",
    "fixed cost": rf"fixed cost: {NUMBER} s per run \(the small class's whole command less its "
    rf"grading: imports {NUMBER} s, preparing {NUMBER} s, startup {NUMBER} s, stopping {NUMBER} "
    rf"s, reports {NUMBER} s, exit {NUMBER} s; goal at most 5 s: goal",
    "efficiency": rf"scaling efficiency from 1 to 2 workers: {NUMBER}% \(goal at least 90%: goal"
    rf".* used {NUMBER} ms of CPU per notebook",
    "scheduler cost": rf"through the scheduler: grading [+-]{NUMBER}% against the local cluster",
    "floor": rf"floor \(sandbox start and the learner's cells, nothing else\): {NUMBER} ms per "
    rf"notebook \(median {NUMBER} ms, 14 notebooks",
    "overhead": rf"overhead above the floor, 1 worker: {NUMBER} ms per notebook",
    "memory": rf"client peak memory: {NUMBER} MiB for 7 notebooks, {NUMBER} MiB for 14: "
    rf"{NUMBER}x",
    "client CPU": rf"{NUMBER} ms of CPU per notebook \(the scheduler runs, per notebook of the "
    rf"large class beyond the small one; {NUMBER} ms on average over the large class; goal at "
    r"most 10 ms: goal",
    "projection": rf"projection: 60,000 notebooks on 64 cores .* in about {NUMBER} min: .* "
    r"grading bound by the (client|workers)",
}


def test_the_scale_benchmark_prints_every_figure():
    """Run at 14 and 7 notebooks: does every figure line appear, and do the runs agree?"""
    run = subprocess.run(
        command_argv("benchmark", "--scale", "--notebooks", "14", "--small", "7"),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    missing = [name for name, pattern in FIGURES.items() if not re.search(pattern, run.stdout)]
    assert not missing, f"figures missing: {missing}\n{run.stdout}"
    per_notebook = float(re.search(FIGURES["two workers"], run.stdout)[1].replace(",", ""))
    assert per_notebook > 0, run.stdout
