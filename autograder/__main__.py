"""Command line of the course: ``python -m autograder <command>``; the commands are in the table
COMMANDS below, and ``python -m autograder <command> --help`` describes each one.
"""

import argparse
import importlib
import logging
import os
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    """A subcommand: the functions and texts are named, not imported, so that a run imports its
    own command's module alone (the grade command never imports torch, which only its workers
    use, nor the benchmark's modules)."""

    name: str
    help: str
    module: str
    add: str = "add_arguments"  # the function that declares the options
    runs: str = "run"  # the function that runs with the parsed options
    description_from: str | None = None  # the module's attribute; defaults to help
    epilog_from: str | None = None
    # The command ends its process at once when it returns (`exit_now`): its files are written and
    # closed, its threads and processes stopped, and the interpreter's teardown of every module
    # it imported (Dask, nbgrader, SQLAlchemy, matplotlib) takes seconds on a busy machine.
    exit_now: bool = False
    # `nbgrader` hands every argument on, its own --help included: argparse leaves the options it
    # does not know before the first positional argument, and they go back in front, in order.
    passthrough: bool = False

    def _attribute(self, name: str | None):
        return None if name is None else getattr(importlib.import_module(self.module), name)

    @property
    def add_arguments(self):
        return self._attribute(self.add)

    @property
    def run(self):
        return self._attribute(self.runs)

    @property
    def description(self) -> str | None:
        return self._attribute(self.description_from)

    @property
    def epilog(self) -> str | None:
        return self._attribute(self.epilog_from)


# The command table, in the way nbgrader registers its subcommands: name, one line of help, the
# module whose functions declare the options and run with the parsed options.
COMMANDS = [
    Command(
        "grade",
        "grade a folder of submissions",
        "autograder.grade.command",
        description_from="DESCRIPTION",
        epilog_from="EPILOG",
        exit_now=True,
    ),
    Command(
        "report",
        "similarity report and LMS grades for a graded OUT",
        "autograder.report.command",
        description_from="DESCRIPTION",
    ),
    Command(
        "release",
        "regenerate exercises/ from solutions/ with nbgrader",
        "autograder.course.commands",
        add="add_release_arguments",
        runs="release",
    ),
    Command(
        "sync-helpers",
        "copy autograder/checks/notebook_helpers.py into every solution notebook's helper cell",
        "autograder.course.commands",
        add="add_sync_helpers_arguments",
        runs="sync_helpers",
    ),
    Command(
        "nbgrader",
        "run any nbgrader command with this course's configuration",
        "autograder.course.commands",
        add="add_nbgrader_arguments",
        runs="nbgrader",
        passthrough=True,
    ),
    Command(
        "demo",
        "write the demo class, laid out like nbgrader's submitted folder",
        "autograder.tools.demo",
        description_from="DESCRIPTION",
    ),
    Command(
        "tls-certificates",
        "write TLS certificates for grading on a Dask cluster (--scheduler tls://...)",
        "autograder.tools.tls_certificates",
        description_from="DESCRIPTION",
    ),
    Command(
        "benchmark",
        "time nbgrader autograde against the grade command, and the similarity report",
        "autograder.tools.benchmark",
        description_from="DESCRIPTION",
    ),
]


def parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser; with `only`, the other subcommands are named but their modules
    are not imported (they cannot be what is parsed)."""
    top = argparse.ArgumentParser(
        prog="python -m autograder",
        description="The course's command line: grade a class, report, author.",
    )
    subparsers = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        if only is not None and command.name != only:
            subparsers.add_parser(command.name, help=command.help)
            continue
        sub = subparsers.add_parser(
            command.name,
            help=command.help,
            description=command.description or command.help,
            epilog=command.epilog,
            add_help=not command.passthrough,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.add_arguments(sub)
        sub.set_defaults(
            run=command.run, passthrough=command.passthrough, exit_now=command.exit_now
        )
    return top


def parse(argv=None) -> argparse.Namespace:
    argv = sys.argv[1:] if argv is None else list(argv)
    # The subcommand is the first argument that is not an option (the top level has --help only).
    named = next((word for word in argv if not word.startswith("-")), None)
    top = parser(named if named in {command.name for command in COMMANDS} else None)
    arguments, unknown = top.parse_known_args(argv)
    if unknown and not arguments.passthrough:
        top.error(f"unrecognized arguments: {' '.join(unknown)}")
    if unknown:
        arguments.rest = unknown + arguments.rest
    return arguments


def main(argv=None) -> int:
    arguments = parse(argv)
    return arguments.run(arguments)


def main_process(argv=None) -> None:
    """`main` as the process: its exit status, and for a command that says so, no teardown."""
    arguments = parse(argv)
    status = arguments.run(arguments)
    if arguments.exit_now:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    sys.exit(status)


if __name__ == "__main__":
    main_process()
