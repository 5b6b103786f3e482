"""``python -m autograder grade SUBMITTED --out OUT``: grade a class, safely, in parallel.

SUBMITTED is laid out like nbgrader's submitted folder, ``<student>/<assignment>/<notebook>.ipynb``.
Every notebook gets a row in OUT/grades.csv, whatever is wrong with it, with the status
``graded``, ``missing`` (not handed in) or ``error`` (handed in but could not be graded: a broken
file, a folder name that cannot be an id, a crash of the grader). Everything is written under OUT:
grades.csv, results.json, feedback/, plots/, autograded/, gradebook.db, nbgrader_config.py,
.grading.lock and .journal.jsonl.

Each result is recorded in OUT/.journal.jsonl the moment it arrives. Run again, the same command
grades only the notebooks that are not recorded there or whose content changed since (SHA-256 of
the file), so a run that was killed or stopped with Ctrl-C resumes where it stopped and ends with
the same files as an uninterrupted run. --regrade grades everything again; so does a run whose
grading secret, checks or limits differ from the journal's (it says so).

Exit status: 0 when every notebook handed in was graded, 3 when the class was graded but some
notebooks could not be (status ``error`` in grades.csv), 2 when the class could not be graded at
all (no SUBMITTED, no sandbox on this platform, OUT not writable, an unknown --assignment), 130
when stopped by Ctrl-C (what was graded is recorded: the same command resumes).

Learner code runs only in the sandbox (autograder/sandbox/child.py); the checks run on Dask
workers: a local cluster of one process per core by default (no more than the notebooks left to
grade, and none when there are none), or an existing cluster with
``--scheduler tls://HOST:8786`` (autograder/grade/cluster.py); only this main process writes OUT.

A little over 300 lines: the command's options, then the run from lock to summary, written once
in the order of its steps, so that what a run does can be read top to bottom.
"""

import argparse
import fcntl
import json
import os
import re
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from autograder import course, environment
from autograder.checks.secret import create_grading_secret, grading_secret
from autograder.grade.cluster import (
    ClusterRefused,
    GradingCluster,
    probe_here,
    remote_security,
    start_worker_template,
)
from autograder.grade.collect import collect, submission_time
from autograder.grade.interrupts import DeferredInterrupt
from autograder.grade.journal import JOURNAL_NAME, Journal, comparable, file_digest
from autograder.grade.messages import safe_strings
from autograder.grade.results import NotebookResult, Status, Task, not_graded
from autograder.grade.run_cost import RunCost
from autograder.report.command import after_grading
from autograder.report.gradebook import (
    GradebookUnavailable,
    GradebookWriter,
    LatePolicyUnavailable,
    gradebook_url,
    late_policy,
)
from autograder.report.outputs import pyplot, write_reports
from autograder.report.similarity import fingerprinted_on_workers
from autograder.sandbox.host import Limits

ROOT_WARNING = (
    "warning: running as root. The sandbox holds without root too, and the instructor's guide "
    "advises an unprivileged user: a fault outside the sandbox then has less to reach."
)
REFUSAL = 2  # nothing was graded
INCOMPLETE = 3  # graded, but some notebooks could not be
INTERRUPTED = 130  # Ctrl-C: the shells' 128 + SIGINT


def _size(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", text.lower())
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (use for example 512M or 2G)")
    return int(float(match.group(1)) * 1024 ** " kmgt".index(match.group(2) or " "))


# The help of `python -m autograder grade`: what it does, the row statuses, resuming, and the
# exit statuses.
DESCRIPTION = "\n\n".join(__doc__.split("\n\n")[:2]).replace("``", "")
EPILOG = "\n\n".join(
    text for text in __doc__.split("\n\n") if text.startswith(("Each result", "Exit status"))
).replace("``", "")


def _size_text(size: int) -> str:
    """The inverse of _size, for the help: 2147483648 -> "2G"."""
    exponent = max(power for power in range(5) if size % 1024**power == 0)
    return f"{size // 1024**exponent}{' KMGT'[exponent].strip()}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "submitted", type=Path, help="folder of <student>/<assignment>/<notebook>.ipynb"
    )
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help="folder for grades.csv, feedback, plots, gradebook.db",
    )
    parser.add_argument(
        "--assignment",
        action="append",
        metavar="ID",
        help="grade this assignment (repeatable; default: every assignment with a folder "
        "in SUBMITTED)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="parallel graders (default: one per core; a local cluster never has more than the "
        "notebooks left to grade)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=Limits.timeout,
        help="wall-clock seconds for each cell and each call (default %(default)s)",
    )
    parser.add_argument(
        "--memory",
        type=_size,
        default=Limits.memory_bytes,
        help=f"memory limit of the learner's process (default {_size_text(Limits.memory_bytes)})",
    )
    parser.add_argument(
        "--cpu",
        type=int,
        default=Limits.cpu_seconds,
        help="CPU seconds of one learner process (default %(default)s)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=None,
        help="wall-clock seconds for one notebook (default 20 x timeout)",
    )
    parser.add_argument(
        "--scheduler",
        metavar="tls://HOST:PORT",
        default=os.environ.get("DASK_SCHEDULER_ADDRESS"),
        help="grade on this Dask cluster, whose workers were started with "
        "`dask worker` (default: $DASK_SCHEDULER_ADDRESS, else a local "
        "cluster of --workers, with TLS credentials of its own)",
    )
    for option, what in [
        ("--tls-ca-file", "the certificate of the cluster's certificate authority"),
        ("--tls-cert", "this client's certificate"),
        ("--tls-key", "this client's private key (unless it is in --tls-cert's file)"),
    ]:
        parser.add_argument(
            option,
            type=Path,
            metavar="PEM",
            help=f"with --scheduler tls://...: {what} (default: Dask's configuration, "
            "distributed.comm.tls)",
        )
    parser.add_argument("--no-progress", action="store_true", help="do not show the progress bar")
    parser.add_argument(
        "--regrade",
        action="store_true",
        help="grade every notebook again, even those recorded in "
        "OUT/.journal.jsonl by an earlier run (a new journal is started)",
    )
    parser.add_argument(
        "--db-url",
        metavar="URL",
        help="the nbgrader gradebook to write, as nbgrader's SQLAlchemy URL "
        "(CourseDirectory.db_url), e.g. postgresql://grader@dbhost/course "
        "(default: sqlite:///OUT/gradebook.db)",
    )


# ------------------------------------------------------------------------------------------------


def run(arguments: argparse.Namespace) -> int:
    try:
        return _grade_class(arguments)
    except KeyboardInterrupt:  # before any result was recorded (those after are handled below)
        print("interrupted before grading started: nothing was recorded", file=sys.stderr)
        return INTERRUPTED


def _grade_class(arguments: argparse.Namespace) -> int:
    cost = RunCost()
    cost.enter("preparing")
    submitted, out = arguments.submitted, arguments.out
    if os.geteuid() == 0:
        print(ROOT_WARNING, file=sys.stderr)
    if not submitted.is_dir():
        print(
            f"error: {submitted} is not a folder of submissions "
            "(<student>/<assignment>/<notebook>.ipynb)",
            file=sys.stderr,
        )
        return REFUSAL
    known = course.assignments()
    unknown = [assignment for assignment in arguments.assignment or [] if assignment not in known]
    if unknown:
        print(
            f"error: unknown assignment {', '.join(unknown)}: this course has {', '.join(known)}",
            file=sys.stderr,
        )
        return REFUSAL
    limits = Limits(
        timeout=arguments.timeout, cpu_seconds=arguments.cpu, memory_bytes=arguments.memory
    )
    budget = arguments.budget or 20 * arguments.timeout
    try:
        created = create_grading_secret()
        if created is not None:
            print(
                f"created the grading secret {created}, outside {out}: every class graded from "
                "this copy of the course uses it; keep it, a re-run with it reproduces every "
                "hidden input",
                file=sys.stderr,
            )
        secret = grading_secret().decode()
    except OSError as error:
        print(
            f"error: no grading secret (${environment.GRADING_SECRET} or .grading-secret): {error}",
            file=sys.stderr,
        )
        return REFUSAL
    tls = (arguments.tls_ca_file, arguments.tls_cert, arguments.tls_key)
    if any(tls) and not arguments.scheduler:
        print(
            "error: --tls-ca-file, --tls-cert and --tls-key are for --scheduler (a local cluster "
            "makes credentials of its own)",
            file=sys.stderr,
        )
        return REFUSAL
    # What the client reads before grading is read in two parts. The submissions, their digests
    # and an earlier run's journal come first, here: they say how many notebooks need grading,
    # and so how many workers to start (none for a run that only rewrites the reports, one for a
    # single late notebook: not one per core, each importing torch). nbgrader's late policy, the
    # submission times and the imports the gradebook and the reports need are read in a thread
    # while the cluster starts, which is mostly waiting on the workers; a refusal found there
    # comes once the cluster has started, and writes nothing. One thread does all of it: two
    # threads importing nbgrader at once failed on its circular imports (ImportError: cannot
    # import name 'ExchangeFactory'), and the submission times import it too.
    tasks, rows = collect(submitted, known, arguments.assignment)
    local = arguments.workers > 0 and not arguments.scheduler  # its default: the environment's
    if local and tasks and (arguments.regrade or not (out / JOURNAL_NAME).exists()):
        # Every notebook will be graded: the local workers' template starts importing torch and
        # the checks (about 3 s of one core) while the client reads the class and starts the
        # scheduler. After an earlier run, the journal says first whether any worker is needed.
        start_worker_template()
    tasks = fingerprinted_on_workers(tasks)
    preparing = ThreadPoolExecutor(1, thread_name_prefix="preparing").submit(prepare, tasks)
    digests = [file_digest(task.path) for task in tasks]
    journal = Journal(out, comparable(secret, limits, budget))
    lock, recorded = None, {}
    if out.is_dir():  # an earlier run's OUT, locked before its journal is read
        lock = lock_out(out)
        if lock is None:
            return REFUSAL
        recorded = recorded_results(journal, tasks, digests, arguments.regrade)
    cost.enter("start-up")
    # A local cluster of no more workers than notebooks to grade (a machine that cannot build the
    # sandbox is refused even with none); an existing cluster is joined, and its workers probed,
    # whatever there is to grade, so that its settings are checked on every run.
    workers = min(arguments.workers, len(tasks) - len(recorded))
    cluster = None
    try:
        if workers or arguments.scheduler:
            security = remote_security(*tls) if arguments.scheduler else None
            # The cluster starts and its workers' sandboxes are probed here: a refusal writes
            # nothing.
            cluster = GradingCluster(
                workers, limits, secret, scheduler=arguments.scheduler, security=security
            )
        else:
            probe_here(limits)
    except ClusterRefused as error:
        print(f"error: {error}", file=sys.stderr)
        return REFUSAL
    cost.enter("preparing")
    closing = None  # the cluster's stop, under way while the reports are written
    try:
        try:
            policy, times = preparing.result()
        except LatePolicyUnavailable as error:
            print(
                f"error: the late-submission policy in nbgrader's configuration cannot be loaded "
                f"({error}): fix AssignLatePenalties.plugin_class or LateSubmissionPlugin",
                file=sys.stderr,
            )
            return REFUSAL
        if lock is None:  # a new OUT (another run may have made it since, and graded some of it)
            lock = lock_out(out)
            if lock is None:
                return REFUSAL
            recorded = recorded_results(journal, tasks, digests, arguments.regrade)
        for note in journal.notes:
            print(f"note: {note}", file=sys.stderr)
        to_grade = [index for index in range(len(tasks)) if index not in recorded]

        def timed(result: NotebookResult) -> NotebookResult:
            return replace(result, submitted=times.get((result.student, result.assignment)))

        db_url = gradebook_url(out, arguments.db_url)
        try:
            gradebook = GradebookWriter(db_url, known, policy=policy).open()
        except GradebookUnavailable as error:
            print(f"error: cannot open the gradebook {error}", file=sys.stderr)
            return REFUSAL
        # Learners' text (exception messages, printed names) enters from the sandbox, through
        # the workers, and file names entered in collect: each result is made safe once, as it
        # is taken in, before anything (the gradebook, the reports) is written from it.
        rows = [safe_strings(row) for row in rows]
        # task index -> safe result, from the journal or graded now
        finished = {index: safe_strings(timed(result)) for index, result in recorded.items()}
        fingerprinted = {}  # (student, assignment) -> its fingerprints, from the worker
        from_journal = len(finished)
        already = f" ({from_journal} already graded in {journal.path})" if from_journal else ""
        if cluster is None:
            where = "no cluster started"
        elif arguments.scheduler:
            where = f"on {cluster.address}"
        else:
            plural = "s" if workers > 1 else ""
            where = f"on a local cluster of {workers} worker{plural} at {cluster.address}"
        print(
            f"grading {len(to_grade)} of {len(tasks)} notebooks{already}, {where}",
            file=sys.stderr,
        )
        index_of = {(task.student, task.assignment): index for index, task in enumerate(tasks)}
        journal.open()
        # What an earlier run graded (the gradebook may lack it, if that run died between two
        # batches), and the rows that need no grading.
        for result in [finished[index] for index in sorted(finished)] + rows:
            gradebook.add(result)
        cost.enter("grading")
        # The bar is for a person watching: drawn only on a terminal, never into a log file.
        progress = not arguments.no_progress and sys.stderr.isatty()
        graded = (
            cluster.grade([tasks[index] for index in to_grade], budget, progress)
            if cluster is not None
            else nothing_to_grade()
        )
        try:
            with DeferredInterrupt() as interrupt:
                for result in graded:  # each recorded the moment it arrives, in both
                    index = index_of[result.student, result.assignment]
                    if result.fingerprints is not None:  # for the similarity report, not recorded
                        fingerprinted[result.student, result.assignment] = result.fingerprints
                    with interrupt.recording():  # Ctrl-C here waits until both hold it
                        finished[index] = safe_strings(
                            timed(
                                journal.record(
                                    result.student,
                                    result.assignment,
                                    tasks[index].path,
                                    digests[index],
                                    result,
                                )
                            )
                        )
                        gradebook.add(finished[index])
        except KeyboardInterrupt:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut this short
            try:
                graded.close()  # stops the workers
                journal.close()
                gradebook.close()  # what was graded stays in the gradebook too
            finally:
                signal.signal(signal.SIGINT, signal.default_int_handler)
            print(
                f"interrupted: {from_journal + journal.recorded} of {len(tasks)} notebooks are "
                f"recorded in {journal.path} ({journal.recorded} graded in this run); run the "
                "same command again to grade the rest and write the reports",
                file=sys.stderr,
            )
            return INTERRUPTED
        finally:
            cost.enter("stopping")
            graded.close()
            journal.close()
            gradebook.close()
        # The grading secret leaves the cluster at once; its processes stop (a few seconds,
        # torch's exit) while the reports are written.
        if cluster is not None:
            closing = ThreadPoolExecutor(1, thread_name_prefix="stopping").submit(cluster.close)
    finally:
        if closing is None and cluster is not None:  # a refusal, an interruption, an error
            cluster.close()  # stopped before leaving
    cost.enter("reports")
    results = rows + [finished[index] for index in range(len(tasks))]
    # As the gradebook has them (written answers a grader scored, late penalties), or error rows
    # for those it refused.
    results = [gradebook.settled.get((r.student, r.assignment), r) for r in results]
    results = [_refused_by_gradebook(result, gradebook.refused) for result in results]
    if arguments.assignment:  # the rest of the class stays in every report
        kept = earlier_results(out, set(arguments.assignment))
        if kept:
            others = sorted({result.assignment for result in kept})
            print(
                f"kept {len(kept)} rows of {', '.join(others)} from the last complete run "
                f"({out / 'results.json'}): this run graded only {', '.join(arguments.assignment)}"
            )
        results += kept
    # Sorted, as the order in which results arrive is not the class's.
    results.sort(key=lambda result: (result.student, result.assignment))
    write_reports(results, out, known, arguments.db_url and db_url, gradebook=False)
    after_grading(out, submitted, fingerprinted)  # similarity report and LMS grades (issue 15)
    print(
        f"{len(results)} notebooks in {cost.elapsed():.1f} s: {summary_line(results)} (each "
        f"named in {out / 'grades.csv'})"
    )
    cost.enter("stopping")
    if closing is not None:
        closing.result()
    print(cost.line())
    return INCOMPLETE if any(result.status is Status.ERROR for result in results) else 0


def prepare(tasks: list[Task]) -> tuple:
    """(late policy, submission times): what the client reads while the cluster starts. The policy
    is nbgrader's (LatePolicyUnavailable when it cannot be loaded); the times are when each
    notebook was handed in (its timestamp.txt, else the file's time), which the gradebook records
    and the late penalty follows from."""
    policy = late_policy()
    times = {
        (task.student, task.assignment): submission_time(task.path)
        for task in tasks
        if task.path is not None
    }
    # Imported now, while the cluster starts, rather than when first used: nbgrader's gradebook
    # and SQLAlchemy (nbgrader imports nbformat, and nbformat jsonschema: a second of CPU), and
    # matplotlib for the reports' plots.
    GradebookWriter.load()
    pyplot()
    return policy, times


def lock_out(out: Path):
    """OUT made if need be and locked for this run (the open lock file, held until the process
    ends), waiting for another run that holds it; None, said, when OUT cannot be written."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        lock = open(out / ".grading.lock", "w")
    except OSError as error:
        print(f"error: cannot write to {out}: {error}", file=sys.stderr)
        return None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        print(f"another grading run is writing {out}; waiting for it to finish", file=sys.stderr)
        fcntl.flock(lock, fcntl.LOCK_EX)
    return lock


def recorded_results(journal: Journal, tasks: list[Task], digests: list, regrade: bool) -> dict:
    """task index -> its result as an earlier run recorded it in `journal` (loaded here, under
    OUT's lock), for the submissions unchanged since; {} with --regrade."""
    if regrade:
        return {}
    journal.load()
    recorded = {}
    for index, task in enumerate(tasks):
        result = journal.recorded_result(task.student, task.assignment, task.path, digests[index])
        if result is not None:
            recorded[index] = result
    return recorded


def nothing_to_grade():
    """The results of a run with nothing to grade: none (a generator, which closes as a dispatch
    does)."""
    yield from ()


def _refused_by_gradebook(result: NotebookResult, refused: dict) -> NotebookResult:
    """`result`, or an error row when the gradebook refused to store it (the journal keeps the
    result: a rerun meets the same refusal and writes the same row)."""
    reason = refused.get((result.student, result.assignment))
    if reason is None:
        return result
    return not_graded(
        result.student,
        result.assignment,
        f"graded, but the gradebook refused to store the result ({reason}); nothing of it is in "
        "the gradebook",
    )


def earlier_results(out: Path, graded: set[str]) -> list[NotebookResult]:
    """The rows of OUT/results.json, written by the last run that completed, for assignments
    other than `graded`: a run with --assignment X rewrites the reports with the whole class."""
    try:
        records = json.loads((out / "results.json").read_text(encoding="utf-8"))
        return [
            NotebookResult.from_dict(record)
            for record in records
            if record["assignment"] not in graded
        ]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, TypeError, KeyError) as error:
        print(
            f"warning: {out / 'results.json'} cannot be read ({type(error).__name__}: {error}): "
            "the reports hold only the assignments graded now",
            file=sys.stderr,
        )
        return []


def summary_line(results: list[NotebookResult]) -> str:
    """The count of each status, as in "12 graded, 2 missing (not handed in), 1 could not be
    graded"."""
    count = {status: sum(result.status is status for result in results) for status in Status}
    return (
        f"{count[Status.GRADED]} graded, {count[Status.MISSING]} missing (not handed in), "
        f"{count[Status.ERROR]} could not be graded (status error)"
    )
