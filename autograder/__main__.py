"""Command line of the course: ``python -m autograder <command>``; the commands are in the table
COMMANDS below, and ``python -m autograder <command> --help`` describes each one.
"""

import argparse
import sys
from dataclasses import dataclass
from typing import Callable

from autograder.course import commands as course_commands
from autograder.grade import command as grade_command
from autograder.report import command as report_command
from autograder.tools import benchmark, demo, tls_certificates


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    description: str | None = None  # defaults to help
    epilog: str | None = None
    # `nbgrader` hands every argument on, its own --help included: argparse leaves the options it
    # does not know before the first positional argument, and they go back in front, in order.
    passthrough: bool = False


# The command table, in the way nbgrader registers its subcommands: name, one line of help, the
# function that declares the options, and the one that runs with the parsed options.
COMMANDS = [
    Command(
        "grade",
        "grade a folder of submissions",
        grade_command.add_arguments,
        grade_command.run,
        grade_command.DESCRIPTION,
        grade_command.EPILOG,
    ),
    Command(
        "report",
        "similarity report and LMS grades for a graded OUT",
        report_command.add_arguments,
        report_command.run,
        report_command.DESCRIPTION,
    ),
    Command(
        "release",
        "regenerate exercises/ from solutions/ with nbgrader",
        course_commands.add_release_arguments,
        course_commands.release,
    ),
    Command(
        "sync-helpers",
        "copy autograder/checks/notebook_helpers.py into every solution notebook's helper cell",
        course_commands.add_sync_helpers_arguments,
        course_commands.sync_helpers,
    ),
    Command(
        "nbgrader",
        "run any nbgrader command with this course's configuration",
        course_commands.add_nbgrader_arguments,
        course_commands.nbgrader,
        passthrough=True,
    ),
    Command(
        "demo",
        "write the demo class, laid out like nbgrader's submitted folder",
        demo.add_arguments,
        demo.run,
        demo.DESCRIPTION,
    ),
    Command(
        "tls-certificates",
        "write TLS certificates for grading on a Dask cluster (--scheduler tls://...)",
        tls_certificates.add_arguments,
        tls_certificates.run,
        tls_certificates.DESCRIPTION,
    ),
    Command(
        "benchmark",
        "time nbgrader autograde against the grade command, and the similarity report",
        benchmark.add_arguments,
        benchmark.run,
        benchmark.DESCRIPTION,
    ),
]


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="python -m autograder",
        description="The course's command line: grade a class, report, author.",
    )
    subparsers = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        sub = subparsers.add_parser(
            command.name,
            help=command.help,
            description=command.description or command.help,
            epilog=command.epilog,
            add_help=not command.passthrough,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.add_arguments(sub)
        sub.set_defaults(run=command.run, passthrough=command.passthrough)
    return top


def parse(argv=None) -> argparse.Namespace:
    top = parser()
    arguments, unknown = top.parse_known_args(argv)
    if unknown and not arguments.passthrough:
        top.error(f"unrecognized arguments: {' '.join(unknown)}")
    if unknown:
        arguments.rest = unknown + arguments.rest
    return arguments


def main(argv=None) -> int:
    arguments = parse(argv)
    return arguments.run(arguments)


if __name__ == "__main__":
    sys.exit(main())
