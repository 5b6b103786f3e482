"""One module per assignment, named after its id: ``04-scaling-softmax-masks`` lives in
``a04_scaling_softmax_masks.py``. Each module defines ``CHECKS``: check name ->
``check(rng, *learner_functions)``, the hidden checks, which draw their inputs from `rng` and
compare the learner's answers with torch's.

A module holds every hidden check of its exercise, so the larger exercises (05 and 07) take more
than 300 lines, by design. The known mistakes, which the tests grade one by one, are data:
``autograder/checks/mistakes/<assignment id>.toml``.
"""

import importlib
from types import ModuleType


def module_name(assignment: str) -> str:
    return "a" + assignment.replace("-", "_")


def load_assignment(assignment: str) -> ModuleType:
    """The checks module of an assignment id, with a clear error for an unknown id."""
    try:
        return importlib.import_module(f"{__name__}.{module_name(assignment)}")
    except ModuleNotFoundError as error:
        raise LookupError(f"no hidden checks for assignment {assignment!r}") from error
