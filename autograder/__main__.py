"""Command line of the course: ``python -m autograder <command>``.

- ``release [ASSIGNMENT ...]``: regenerate exercises/ from solutions/ with nbgrader.
- ``sync-helpers``: copy autograder/checks/notebook_helpers.py into every solution notebook's helper cell.
- ``nbgrader ARGS ...``: run any nbgrader command with this course's configuration.
- ``grade SUBMITTED --out OUT``: grade a class (see ``python -m autograder grade --help``).
- ``report OUT``: the similarity report and the grades for the LMS (``python -m autograder report --help``).
"""

import argparse
import os
import sys

from autograder import REPO_ROOT, course
from autograder.course import authoring, nbgrader_runs


def release(arguments) -> int:
    for assignment in arguments.assignments or course.assignments():
        path = nbgrader_runs.generate_release(assignment)
        print(f"released {path.relative_to(REPO_ROOT)}")
    return 0


def sync_helpers(arguments) -> int:
    for assignment in course.assignments():
        changed = authoring.sync_helpers(course.solution_notebook(assignment))
        print(f"{'updated' if changed else 'unchanged'} {assignment}")
    return 0


def nbgrader(arguments) -> int:
    os.execve(sys.executable, [sys.executable, "-m", "nbgrader", *arguments.rest], nbgrader_runs.nbgrader_environment())


def grade(arguments) -> int:
    from autograder.grade.command import main as grade_main

    return grade_main(arguments.rest)


def report(arguments) -> int:
    from autograder.report.command import main as report_main

    return report_main(arguments.rest)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["grade"]:  # its own parser, so that `grade --help` reaches it
        return grade(argparse.Namespace(rest=argv[1:]))
    if argv[:1] == ["report"]:
        return report(argparse.Namespace(rest=argv[1:]))
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("release", help="regenerate exercises/ from solutions/")
    command.add_argument("assignments", nargs="*", help="assignment ids (default: all)")
    command.set_defaults(run=release)
    commands.add_parser("sync-helpers", help="refresh the test-helper cell in solutions/").set_defaults(run=sync_helpers)
    for name, run, text in [
        ("nbgrader", nbgrader, "run nbgrader with this course's configuration"),
        ("grade", grade, "grade a folder of submissions"),
        ("report", report, "similarity report and LMS grades for a graded OUT"),
    ]:
        command = commands.add_parser(name, help=text, add_help=False)
        command.add_argument("rest", nargs=argparse.REMAINDER)
        command.set_defaults(run=run)
    arguments = parser.parse_args(argv)
    return arguments.run(arguments)


if __name__ == "__main__":
    sys.exit(main())
