"""Benchmark: grade one synthetic class with plain sequential ``nbgrader autograde`` and with
``python -m autograder grade``, in one run, and report seconds per notebook and the ratio.

    python -m autograder benchmark [--assignment 04-scaling-softmax-masks] [--copies 2]
                                   [--workers N] [--similarity-students 1000] [--only-similarity]
    python -m autograder benchmark --scale [--notebooks 600] [--small 60]

The class is the demo class without its broken notebook (full marks, untouched release, each
known mistake), repeated ``--copies`` times. Both graders see the same secret, so their hidden
inputs are the same; the script also checks that every test cell got the same score from both.
This is a measurement, not a test: nothing is asserted about the times.

A second section times the similarity report (autograder/report/similarity.py) on a constructed
class of exercise 05 (autograder/tools/honest_answers.py): ``--similarity-students``
independent answers with five disguised copies planted among them, and says where the copies
rank.

With ``--scale``, the scale benchmark runs instead (autograder/tools/scale_benchmark.py): start-up,
seconds per notebook per worker with 1 and 2 workers, a real scheduler, the floor, the client's
memory, and a projection to a large class.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from autograder import REPO_ROOT, command_argv, environment
from autograder.course import nbgrader_runs
from autograder.grade.results import NotebookResult
from autograder.tools import scale_benchmark
from autograder.tools.demo import demo_class

DESCRIPTION = __doc__.split("\n\n")[0].replace("``", "")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--assignment", default="04-scaling-softmax-masks")
    parser.add_argument(
        "--copies", type=int, default=2, help="repeat the class this many times (default 2)"
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--similarity-students",
        type=_class_size,
        default=1000,
        help=f"students in the similarity section (default 1000, at least {SIMILARITY_COPIES * 2})",
    )
    parser.add_argument(
        "--only-similarity", action="store_true", help="run the similarity section alone"
    )
    parser.add_argument(
        "--scale", action="store_true", help="run the scale benchmark instead (about 15 min)"
    )
    scale_benchmark.add_arguments(parser)


def run(arguments: argparse.Namespace) -> int:
    if arguments.scale:
        return scale_benchmark.run(arguments)
    if arguments.only_similarity:
        return similarity_benchmark(arguments.similarity_students)
    os.environ.setdefault(environment.GRADING_SECRET, "benchmark-secret")
    assignment = arguments.assignment
    students = {
        student: notebooks[assignment]
        for student, notebooks in demo_class([assignment], arguments.copies, broken=False).items()
    }
    count = len(students)
    with tempfile.TemporaryDirectory(prefix="grading-benchmark-") as folder:
        root = nbgrader_runs.scratch_course(Path(folder) / "course", [assignment])
        print(f"{count} notebooks of {assignment}, {os.cpu_count()} cores")

        started = time.perf_counter()
        nbgrader_scores = nbgrader_runs.autograde(root, assignment, students)
        nbgrader_seconds = time.perf_counter() - started
        print(
            f"nbgrader autograde (sequential): {nbgrader_seconds:.1f} s, "
            f"{nbgrader_seconds / count:.2f} s per notebook"
        )

        out = Path(folder) / "out"
        started = time.perf_counter()
        run = subprocess.run(
            command_argv(
                "grade",
                root / "submitted",
                "--out",
                out,
                "--workers",
                arguments.workers,
                "--no-progress",
            ),
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
        )
        ours_seconds = time.perf_counter() - started
        if run.returncode != 0:
            print(run.stderr, file=sys.stderr)
            return 1
        print(
            f"python -m autograder grade ({arguments.workers} workers): {ours_seconds:.1f} s, "
            f"{ours_seconds / count:.2f} s per notebook"
        )
        print(
            f"ratio: {nbgrader_seconds / ours_seconds:.1f}x faster "
            "(whole commands, start-up included)"
        )
        cost = scale_benchmark.COST_LINE.search(run.stdout)
        if cost is not None:  # where the grade command's time went (autograder/grade/run_cost.py)
            print(f"its cost line: {cost[0]}")

        results = map(NotebookResult.from_dict, json.loads((out / "results.json").read_text()))
        ours = {
            result.student: {test.grade_id: test.score for test in result.tests}
            for result in results
        }
        differing = sorted(
            student for student in students if ours.get(student) != nbgrader_scores.get(student)
        )
        if differing:
            for student in differing:
                print(
                    f"  scores differ for {student}: nbgrader {nbgrader_scores.get(student)}, "
                    f"ours {ours.get(student)}"
                )
        else:
            print(f"scores: identical for all {count} notebooks, test cell by test cell")
    similarity_benchmark(arguments.similarity_students)
    return 0 if not differing else 1


SIMILARITY_COPIES = 5  # disguised copies planted in the similarity section's class


def _class_size(text: str) -> int:
    """--similarity-students: room for the planted copies and as many originals."""
    students = int(text)
    if students < 2 * SIMILARITY_COPIES:
        raise argparse.ArgumentTypeError(
            f"at least {2 * SIMILARITY_COPIES} (the {SIMILARITY_COPIES} planted copies and their "
            "originals)"
        )
    return students


def similarity_benchmark(students: int, copies: int = SIMILARITY_COPIES) -> int:
    """Time the similarity report on `students` notebooks of exercise 05, `copies` of them planted
    disguised copies (helpers inlined, renamed, re-commented, reordered), and say where they
    rank."""
    from autograder.report.command import similarity_reports
    from autograder.tools import honest_answers

    print(
        f"\n-- similarity report: {students} notebooks of {honest_answers.ASSIGNMENT}, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"
    )
    started = time.perf_counter()
    notebooks = {
        f"student-{number:04d}": honest_answers.honest_notebook(number)
        for number in range(students - copies)
    }
    # The originals spread over the class (every 97th student when it is large enough).
    spacing = min(97, (students - copies) // copies)
    for number in range(copies):
        original = f"student-{number * spacing:04d}"
        notebooks[f"copy-of-{original}"] = honest_answers.disguised_copy(
            notebooks[original], number
        )
    with tempfile.TemporaryDirectory(prefix="similarity-benchmark-") as folder:
        honest_answers.write_notebooks(notebooks, Path(folder) / "submitted")
        print(f"{students} notebooks written in {time.perf_counter() - started:.1f} s")
        started, cpu_started = time.perf_counter(), time.process_time()
        report = similarity_reports(
            Path(folder), Path(folder) / "submitted", [honest_answers.ASSIGNMENT]
        )[0]
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    copied = {f"copy-of-student-{n * spacing:04d}" for n in range(copies)}
    ranks = [
        rank
        for rank, pair in enumerate(report.pairs, start=1)
        if pair.student_a in copied and pair.student_b == pair.student_a.removeprefix("copy-of-")
    ]
    ranking = report.ranking
    print(
        f"similarity.csv and similarity.html written in {seconds:.1f} s, {cpu:.1f} s of CPU "
        "(the wall time on an idle machine: one process; reading and "
        "normalising every code cell, fingerprints, the sparse index, the evidence of every "
        f"pair, the HTML); {ranking.ranked} pairs ranked, {ranking.too_little_count} set apart "
        f"(too little shared code), {ranking.no_evidence} sharing code but no evidence, out of "
        f"{students * (students - 1) // 2} possible"
    )
    print(f"the {copies} planted copies rank {ranks} (1 = the most evidence)")
    for rank, pair in enumerate(report.pairs[: copies + 3], start=1):
        print(
            f"  {rank}. {pair.student_a} and {pair.student_b}: {pair.evidence:.1f} bits, "
            f"{pair.shared} shared fingerprints ({pair.share_a:.0%} / {pair.share_b:.0%})"
        )
    return 0 if ranks == list(range(1, copies + 1)) else 1
