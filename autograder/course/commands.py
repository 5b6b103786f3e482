"""The authors' subcommands: ``release``, ``sync-helpers`` and ``nbgrader`` (see
autograder/__main__.py).

Each has an ``add_..._arguments(parser)`` and a run function that takes the parsed arguments and
returns the exit status, like every entry of the command table.
"""

import argparse
import os
import sys

from autograder import REPO_ROOT, course
from autograder.course import authoring, nbgrader_runs


def add_release_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("assignments", nargs="*", help="assignment ids (default: all)")


def release(arguments) -> int:
    for assignment in arguments.assignments or course.assignments():
        path = nbgrader_runs.generate_release(assignment)
        print(f"released {path.relative_to(REPO_ROOT)}")
    return 0


def add_sync_helpers_arguments(parser: argparse.ArgumentParser) -> None:
    """No options: it always refreshes every solution notebook."""


def sync_helpers(arguments) -> int:
    for assignment in course.assignments():
        changed = authoring.sync_helpers(course.solution_notebook(assignment))
        print(f"{'updated' if changed else 'unchanged'} {assignment}")
    return 0


def add_nbgrader_arguments(parser: argparse.ArgumentParser) -> None:
    # Everything after `nbgrader`, `--help` included, belongs to nbgrader.
    parser.add_argument(
        "rest", nargs=argparse.REMAINDER, help="an nbgrader command and its options"
    )


def nbgrader(arguments) -> int:
    command = [sys.executable, "-m", "nbgrader", *arguments.rest]
    os.execve(sys.executable, command, nbgrader_runs.nbgrader_environment())
