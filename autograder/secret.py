"""The grading secret, and reproducible random inputs derived from it.

Hidden checks draw their inputs from ``rng_for(assignment, student, check)``. The generator is
seeded by a hash of the secret and the three ids, so a learner cannot know the inputs in advance
(the secret never leaves the instructor's machine) and a re-run with the same secret reproduces
them exactly.
"""

import hashlib
import os
import secrets
from pathlib import Path

import numpy as np

from . import REPO_ROOT

SECRET_ENV = "MHA_GRADING_SECRET"
STUDENT_ENV = "MHA_STUDENT_ID"
SECRET_FILE = REPO_ROOT / ".grading-secret"


def grading_secret() -> bytes:
    """The secret from $MHA_GRADING_SECRET, else from .grading-secret (created, random, on first use)."""
    from_env = os.environ.get(SECRET_ENV)
    if from_env:
        return from_env.encode()
    try:
        return SECRET_FILE.read_text().strip().encode()
    except FileNotFoundError:
        value = secrets.token_hex(32)
        # O_EXCL: two graders starting at once agree on whichever secret was written first.
        try:
            descriptor = os.open(SECRET_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return SECRET_FILE.read_text().strip().encode()
        with os.fdopen(descriptor, "w") as handle:
            handle.write(value + "\n")
        return value.encode()


def current_student_id() -> str:
    """Who is being graded: $MHA_STUDENT_ID, else the folder nbgrader autograde runs in."""
    if os.environ.get(STUDENT_ENV):
        return os.environ[STUDENT_ENV]
    if os.environ.get("NBGRADER_EXECUTION") == "autograde":
        # nbgrader runs each submission in autograded/<student>/<assignment>/.
        return Path.cwd().parent.name
    return "instructor"


def rng_for(assignment: str, student: str, check: str, secret: bytes | None = None) -> np.random.Generator:
    """A generator seeded by the secret and the ids: unknowable in advance, reproducible on re-run."""
    secret = grading_secret() if secret is None else secret
    digest = hashlib.sha256(b"\0".join([secret, assignment.encode(), student.encode(), check.encode()]))
    return np.random.default_rng(int.from_bytes(digest.digest()[:16], "big"))
