"""The grading secret, and reproducible random inputs derived from it.

Hidden checks draw their inputs from ``rng_for(assignment, student, check, submission=...)``.
The generator is seeded by a hash of the secret, the three ids and a digest of the submission's
own code, so a learner cannot know the inputs in advance (the secret never leaves the
instructor's machine), a re-run of the same notebook reproduces them exactly, and a changed
notebook gets new ones (inputs learned from one submission's feedback cannot be replayed).
"""

import contextvars
import hashlib
import json
import os
import secrets
from pathlib import Path

import numpy as np

from autograder import REPO_ROOT, environment

SECRET_FILE = REPO_ROOT / ".grading-secret"
# Digest of the notebook being graded (set by the grading command for the duration of one notebook).
SUBMISSION_DIGEST: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "submission_digest", default=None
)
# The student being graded (set by the grading command for the duration of one notebook).
STUDENT_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("student_id", default=None)
# The grading command's secret, on a Dask worker, for the duration of one notebook: handed over by
# the worker's GradingPlugin (autograder/grade/on_workers.py), never through the environment, so
# that nothing of it is left in the worker when the plugin is removed.
GRADING_SECRET: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "grading_secret", default=None
)


class NoGradingSecret(FileNotFoundError):
    """Neither $MHA_GRADING_SECRET nor .grading-secret holds a secret."""


def grading_secret() -> bytes:
    """The grading command's secret (GRADING_SECRET, on its workers), else $MHA_GRADING_SECRET,
    else .grading-secret; NoGradingSecret if none holds one (create_grading_secret() makes the
    file)."""
    handed = GRADING_SECRET.get()
    if handed:
        return handed.encode()
    from_env = os.environ.get(environment.GRADING_SECRET)
    if from_env:
        return from_env.encode()
    try:
        return SECRET_FILE.read_text().strip().encode()
    except FileNotFoundError:
        raise NoGradingSecret(f"no ${environment.GRADING_SECRET} and no {SECRET_FILE}") from None


def create_grading_secret() -> Path | None:
    """Write a new random secret to .grading-secret when there is none (none handed over,
    $MHA_GRADING_SECRET unset, no file): the path when this call created it, else None."""
    if GRADING_SECRET.get() or os.environ.get(environment.GRADING_SECRET) or SECRET_FILE.exists():
        return None
    # Written whole to a file of its own, then linked into place (a link never replaces a file):
    # graders starting at once agree on whichever secret was linked first, and none of them reads
    # the file before its secret is in it.
    written = SECRET_FILE.with_name(f"{SECRET_FILE.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(written, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
        os.link(written, SECRET_FILE)
    except FileExistsError:
        return None
    finally:
        written.unlink()
    return SECRET_FILE


def current_student_id() -> str:
    """Who is being graded: the grading command's STUDENT_ID, else $MHA_STUDENT_ID, else the
    folder nbgrader autograde runs in."""
    student = STUDENT_ID.get() or os.environ.get(environment.STUDENT_ID)
    if student:
        return student
    if os.environ.get(environment.NBGRADER_EXECUTION) == "autograde":
        # nbgrader runs each submission in autograded/<student>/<assignment>/.
        return Path.cwd().parent.name
    return "instructor"


def code_digest(sources: list[str]) -> str:
    """A digest of a submission's own code: the sources of the learner's cells, in order."""
    digest = hashlib.sha256()
    for source in sources:
        data = source.encode("utf-8", errors="surrogatepass")
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


def _notebook_digest(path: Path) -> str | None:
    """nbgrader's path (no grading command): the digest of the notebook file being autograded, from
    its code cells other than tests and locked cells (nbgrader restores those from its database)."""
    try:
        cells = json.loads(path.read_text(encoding="utf-8", errors="replace"))["cells"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    sources = []
    for cell in cells if isinstance(cells, list) else []:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        metadata = cell.get("metadata")
        nbgrader = metadata.get("nbgrader", {}) if isinstance(metadata, dict) else {}
        nbgrader = nbgrader if isinstance(nbgrader, dict) else {}
        if not nbgrader.get("solution") and (nbgrader.get("grade") or nbgrader.get("locked")):
            continue
        source = cell.get("source", "")
        sources.append("".join(source) if isinstance(source, list) else str(source))
    return code_digest(sources)


def current_submission_digest(notebook_name: str | None = None) -> str | None:
    """The digest of the submission being graded: from the grading command, else (nbgrader
    autograde) from the notebook file in the folder it runs in, else None (the ids alone)."""
    digest = SUBMISSION_DIGEST.get()
    autograde = os.environ.get(environment.NBGRADER_EXECUTION) == "autograde"
    if digest is None and notebook_name and autograde:
        path = Path.cwd() / notebook_name
        digest = _notebook_digest(path) if path.is_file() else None
    return digest


def rng_for(
    assignment: str,
    student: str,
    check: str,
    secret: bytes | None = None,
    submission: str | None = None,
) -> np.random.Generator:
    """A generator seeded by the secret, the ids and the submission's digest: unknowable in advance,
    reproducible on re-run of the same notebook."""
    secret = grading_secret() if secret is None else secret
    parts = [secret, assignment.encode(), student.encode(), check.encode()]
    if submission:
        parts.append(submission.encode())
    digest = hashlib.sha256(b"\0".join(parts))
    return np.random.default_rng(int.from_bytes(digest.digest()[:16], "big"))
