"""``python -m autograder grade SUBMITTED --out OUT``: grade a class, safely, in parallel.

SUBMITTED is laid out like nbgrader's submitted folder, ``<student>/<assignment>/<notebook>.ipynb``.
Every notebook gets a row in OUT/grades.csv, whatever is wrong with it, with the status
``graded``, ``missing`` (not handed in) or ``error`` (handed in but could not be graded: a broken
file, a folder name that cannot be an id, a crash of the grader). Everything is written under OUT:
grades.csv, results.json, feedback/, plots/, autograded/, gradebook.db, nbgrader_config.py and
.grading.lock.

Exit status: 0 when every notebook handed in was graded, 3 when the class was graded but some
notebooks could not be (status ``error`` in grades.csv), 2 when the class could not be graded at
all (no SUBMITTED, no sandbox on this platform, OUT not writable, an unknown --assignment).

Learner code runs only in the sandbox (autograder/sandbox/child.py); the checks run in worker
processes of the grader (one per core by default); only this main process writes OUT.
"""

import argparse
import fcntl
import os
import re
import sys
import time
from pathlib import Path

from autograder import course
from autograder.grade.collect import collect
from autograder.grade.messages import safe_strings
from autograder.grade.pool import grade_all
from autograder.sandbox.host import Limits

REFUSAL = 2  # nothing was graded
INCOMPLETE = 3  # graded, but some notebooks could not be


def _size(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", text.lower())
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (use for example 512M or 2G)")
    return int(float(match.group(1)) * 1024 ** " kmgt".index(match.group(2) or " "))


def parse_arguments(argv):
    paragraphs = __doc__.split("\n\n")
    exit_statuses = next(text for text in paragraphs if text.startswith("Exit status"))
    parser = argparse.ArgumentParser(prog="python -m autograder grade", description=paragraphs[0],
                                     epilog=exit_statuses)
    parser.add_argument("submitted", type=Path, help="folder of <student>/<assignment>/<notebook>.ipynb")
    parser.add_argument("--out", type=Path, required=True, help="folder for grades.csv, feedback, plots, gradebook.db")
    parser.add_argument("--assignment", action="append", metavar="ID",
                        help="grade this assignment (repeatable; default: every assignment with a folder "
                             "in SUBMITTED)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="parallel graders (default: one per core)")
    parser.add_argument("--timeout", type=float, default=30.0, help="wall-clock seconds for each cell and each call (default 30)")
    parser.add_argument("--memory", type=_size, default=2 << 30, help="memory limit of the learner's process (default 2G)")
    parser.add_argument("--cpu", type=int, default=120, help="CPU seconds of one learner process (default 120)")
    parser.add_argument("--budget", type=float, default=None, help="wall-clock seconds for one notebook (default 20 x timeout)")
    parser.add_argument("--no-progress", action="store_true", help="do not show the progress bar")
    parser.add_argument("--db-url", metavar="URL",
                        help="the nbgrader gradebook to write, as nbgrader's SQLAlchemy URL "
                             "(CourseDirectory.db_url), e.g. postgresql://grader@dbhost/course "
                             "(default: sqlite:///OUT/gradebook.db)")
    return parser.parse_args(argv)


# ------------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    arguments = parse_arguments(argv)
    submitted, out = arguments.submitted, arguments.out
    if not submitted.is_dir():
        print(f"error: {submitted} is not a folder of submissions (<student>/<assignment>/<notebook>.ipynb)", file=sys.stderr)
        return REFUSAL
    known = course.assignments()
    unknown = [assignment for assignment in arguments.assignment or [] if assignment not in known]
    if unknown:
        print(f"error: unknown assignment {', '.join(unknown)}: this course has {', '.join(known)}",
              file=sys.stderr)
        return REFUSAL
    limits = Limits(timeout=arguments.timeout, cpu_seconds=arguments.cpu, memory_bytes=arguments.memory)
    budget = arguments.budget or 20 * arguments.timeout
    from autograder.sandbox.host import SandboxUnavailable, probe

    try:
        info = probe(Limits(timeout=max(arguments.timeout, 10.0)))
    except SandboxUnavailable as error:
        print(f"error: refusing to grade: {error}. Learner code would run without its locked-down sandbox "
              "(Linux with unprivileged user namespaces, Landlock and seccomp is needed).", file=sys.stderr)
        return REFUSAL
    try:
        out.mkdir(parents=True, exist_ok=True)
        lock = open(out / ".grading.lock", "w")
    except OSError as error:
        print(f"error: cannot write to {out}: {error}", file=sys.stderr)
        return REFUSAL
    from autograder.checks.secret import grading_secret

    try:
        secret = grading_secret().decode()
    except OSError as error:
        print(f"error: no grading secret ($MHA_GRADING_SECRET or .grading-secret): {error}", file=sys.stderr)
        return REFUSAL
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        print(f"another grading run is writing {out}; waiting for it to finish", file=sys.stderr)
        fcntl.flock(lock, fcntl.LOCK_EX)
    from autograder.report.gradebook import GradebookUnavailable, GradebookWriter, gradebook_url

    db_url = gradebook_url(out, arguments.db_url)
    try:
        gradebook = GradebookWriter(db_url, known).open()
    except GradebookUnavailable as error:
        print(f"error: cannot open the gradebook {error}", file=sys.stderr)
        return REFUSAL
    started = time.monotonic()
    tasks, rows = collect(submitted, known, arguments.assignment)
    print(f"sandbox: user+network+mount namespaces, rlimits, Landlock ABI {info['landlock_abi']}, "
          f"seccomp {'on' if info['seccomp'] else 'off (not x86-64)'}; {len(tasks)} notebooks, {arguments.workers} workers",
          file=sys.stderr)
    results = []
    with gradebook:  # written in batches as results arrive
        graded = grade_all(tasks, arguments.workers, limits, budget, secret,
                           not arguments.no_progress)
        for result in rows + graded:
            # Learners' text (exception messages, printed names) enters here from the sandbox,
            # through the workers, and file names entered in collect: made safe once, before
            # anything is written.
            results.append(safe_strings(result))
            gradebook.add(results[-1])
    results.sort(key=lambda result: (result["student"], result["assignment"]))
    from autograder.report.outputs import write_reports

    write_reports(results, out, known, arguments.db_url and db_url, gradebook=False)
    from autograder.report.command import after_grading  # similarity report and LMS grades (issue 15)

    after_grading(out, submitted)
    elapsed = time.monotonic() - started
    print(f"{len(results)} notebooks in {elapsed:.1f} s: {summary_line(results)} (each named in "
          f"{out / 'grades.csv'})", file=sys.stderr)
    return INCOMPLETE if any(result["status"] == "error" for result in results) else 0


def summary_line(results: list) -> str:
    """The count of each status, as in "12 graded, 2 missing (not handed in), 1 could not be graded"."""
    count = {status: sum(result["status"] == status for result in results)
             for status in ("graded", "missing", "error")}
    return (f"{count['graded']} graded, {count['missing']} missing (not handed in), "
            f"{count['error']} could not be graded (status error)")


if __name__ == "__main__":
    sys.exit(main())
