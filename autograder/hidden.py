"""What the hidden tests in the solution notebooks call.

A hidden test cell ends with, for example::

    ### BEGIN HIDDEN TESTS
    from autograder.hidden import hidden_check
    hidden_check("04-scaling-softmax-masks", "softmax", softmax)
    ### END HIDDEN TESTS

The check itself lives once, in ``autograder/assignments/``; its inputs come from the grading
secret, the student id, the assignment id and a digest of the submission's own code.
"""

import contextvars

from .assignments import load_assignment
from .secret import current_student_id, current_submission_digest, rng_for

# True while a hidden check runs: what the learner's code says then may show the hidden inputs.
HIDDEN_CHECK_RUNNING: contextvars.ContextVar[bool] = contextvars.ContextVar("hidden_check_running", default=False)


def hidden_check(assignment: str, check: str, *functions) -> None:
    """Run one hidden check of `assignment` on the learner's functions; raise AssertionError on failure."""
    from .course import notebook_name

    module = load_assignment(assignment)
    digest = current_submission_digest(notebook_name(assignment))
    rng = rng_for(assignment, current_student_id(), check, submission=digest)
    token = HIDDEN_CHECK_RUNNING.set(True)
    try:
        module.CHECKS[check](rng, *functions)
    finally:
        HIDDEN_CHECK_RUNNING.reset(token)
