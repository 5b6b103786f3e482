"""What the hidden tests in the solution notebooks call.

A hidden test cell ends with, for example::

    ### BEGIN HIDDEN TESTS
    from autograder.hidden import hidden_check
    hidden_check("04-scaling-softmax-masks", "softmax", softmax)
    ### END HIDDEN TESTS

The check itself lives once, in ``autograder/assignments/``; its inputs come from the grading
secret, the student id and the assignment id.
"""

from .assignments import load_assignment
from .secret import current_student_id, rng_for


def hidden_check(assignment: str, check: str, *functions) -> None:
    """Run one hidden check of `assignment` on the learner's functions; raise AssertionError on failure."""
    module = load_assignment(assignment)
    rng = rng_for(assignment, current_student_id(), check)
    module.CHECKS[check](rng, *functions)
