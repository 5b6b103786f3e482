"""Benchmark: grade one synthetic class with plain sequential ``nbgrader autograde`` and with
``python -m autograder grade``, in one run, and report seconds per notebook and the ratio.

    python -m autograder.benchmark [--assignment 04-scaling-softmax-masks] [--copies 2] [--workers N]

The class is the demo class without its broken notebook (full marks, untouched release, each
known mistake), repeated ``--copies`` times. Both graders see the same secret, so their hidden
inputs are the same; the script also checks that every test cell got the same score from both.
This is a measurement, not a test: nothing is asserted about the times.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import REPO_ROOT, course
from .demo import demo_class


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.benchmark", description=__doc__.split("\n")[0])
    parser.add_argument("--assignment", default="04-scaling-softmax-masks")
    parser.add_argument("--copies", type=int, default=2, help="repeat the class this many times (default 2)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    arguments = parser.parse_args(argv)
    os.environ.setdefault("MHA_GRADING_SECRET", "benchmark-secret")
    assignment = arguments.assignment
    students = {student: notebooks[assignment]
                for student, notebooks in demo_class([assignment], arguments.copies, broken=False).items()}
    count = len(students)
    with tempfile.TemporaryDirectory(prefix="grading-benchmark-") as folder:
        root = course.scratch_course(Path(folder) / "course", [assignment])
        print(f"{count} notebooks of {assignment}, {os.cpu_count()} cores")

        started = time.perf_counter()
        nbgrader_scores = course.autograde(root, assignment, students)
        nbgrader_seconds = time.perf_counter() - started
        print(f"nbgrader autograde (sequential): {nbgrader_seconds:.1f} s, {nbgrader_seconds / count:.2f} s per notebook")

        out = Path(folder) / "out"
        started = time.perf_counter()
        run = subprocess.run(
            [sys.executable, "-m", "autograder", "grade", str(root / "submitted"), "--out", str(out),
             "--workers", str(arguments.workers), "--no-progress"],
            cwd=REPO_ROOT, capture_output=True, text=True,
        )
        ours_seconds = time.perf_counter() - started
        if run.returncode != 0:
            print(run.stderr, file=sys.stderr)
            return 1
        print(f"python -m autograder grade ({arguments.workers} workers): {ours_seconds:.1f} s, "
              f"{ours_seconds / count:.2f} s per notebook")
        print(f"ratio: {nbgrader_seconds / ours_seconds:.1f}x faster (whole commands, start-up included)")

        ours = {result["student"]: {test["grade_id"]: test["score"] for test in result["tests"]}
                for result in json.loads((out / "results.json").read_text())}
        differing = sorted(student for student in students if ours.get(student) != nbgrader_scores.get(student))
        if differing:
            for student in differing:
                print(f"  scores differ for {student}: nbgrader {nbgrader_scores.get(student)}, ours {ours.get(student)}")
        else:
            print(f"scores: identical for all {count} notebooks, test cell by test cell")
    return 0 if not differing else 1


if __name__ == "__main__":
    sys.exit(main())
