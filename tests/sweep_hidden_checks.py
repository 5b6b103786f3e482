"""Grade the reference solution and every known mistake with the hidden checks alone, as
tests/test_hidden_checks.py does, under many grading secrets instead of the suite's one:

    .venv/bin/python tests/sweep_hidden_checks.py [--secrets 40] [--first 0] [ASSIGNMENT ...]

Each secret draws other hidden inputs. The checks must hold in every draw: the solution passes,
and each mistake fails exactly the test cells it names. A check that does so only in most draws
would pass the suite and then fail a learner (or one CI run in many); this finds it. Prints each
draw that disagrees and exits 1 if there is one. Minutes per secret for the whole course.
"""

import argparse
import contextlib
import io
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_hidden_checks import run_hidden_tests  # noqa: E402

from autograder import course, environment  # noqa: E402
from autograder.checks.mistakes import known_mistakes  # noqa: E402
from autograder.course import notebook_format  # noqa: E402


@dataclass(frozen=True)
class Disagreement:
    assignment: str
    secret: str
    variant: str  # "the solution" or a known mistake's name
    failed: frozenset
    expected: frozenset


def sweep(assignments: list[str], secrets: list[str]) -> list[Disagreement]:
    """Every draw, under each secret, whose failed test cells differ from what is expected."""
    found = []
    previous = os.environ.get(environment.GRADING_SECRET)
    try:
        for assignment in assignments:
            solution = course.read_notebook(course.solution_notebook(assignment))
            variants = [("the solution", solution, frozenset())] + [
                (m.name, notebook_format.apply_mistake(solution, m), frozenset(m.fails))
                for m in known_mistakes(assignment)
            ]
            for secret in secrets:
                os.environ[environment.GRADING_SECRET] = secret
                for name, notebook, expected in variants:
                    with contextlib.redirect_stdout(io.StringIO()):  # what the notebooks print
                        results = run_hidden_tests(notebook)
                    failed = frozenset(test for test, error in results.items() if error)
                    if failed != expected:
                        found.append(Disagreement(assignment, secret, name, failed, expected))
    finally:
        if previous is None:
            os.environ.pop(environment.GRADING_SECRET, None)
        else:
            os.environ[environment.GRADING_SECRET] = previous
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("assignment", nargs="*", help="default: every assignment")
    parser.add_argument("--secrets", type=int, default=40, help="how many secrets (default 40)")
    parser.add_argument("--first", type=int, default=0, help="number of the first secret")
    arguments = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    secrets = [f"sweep-{n}" for n in range(arguments.first, arguments.first + arguments.secrets)]
    total = 0
    for assignment in arguments.assignment or course.assignments():
        start = time.perf_counter()
        found = sweep([assignment], secrets)
        for d in found:
            print(
                f"{d.assignment}, secret {d.secret!r}: {d.variant}: failed {sorted(d.failed)}, "
                f"expected {sorted(d.expected)}",
                flush=True,
            )
        print(
            f"{assignment}: {len(secrets)} secrets, {len(found)} disagreeing draws "
            f"({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
        total += len(found)
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
