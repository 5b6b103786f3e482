"""One module per assignment, named after its id: ``04-scaling-softmax-masks`` lives in
``a04_scaling_softmax_masks.py``. Each module defines

- ``ASSIGNMENT``: the assignment id;
- ``CHECKS``: check name -> ``check(rng, *learner_functions)``, the hidden checks;
- ``MISTAKES``: the known-wrong variants (:class:`Mistake`) that the tests grade, and that the
  feedback uses to name a learner's likely mistake.
"""

import importlib
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class Mistake:
    """A known-wrong answer: replacing solution cell `cell` (its nbgrader grade_id) by `source`
    must fail exactly the test cells `fails` (their grade_ids), and so lose exactly their points."""

    name: str
    cell: str
    source: str
    fails: frozenset


def variant(reference: str, *replacements: tuple[str, str]) -> str:
    """A known mistake as an edit of the reference: `reference` with each (old, new) replacement
    applied. Every `old` must occur in it, so an edit that no longer applies fails loudly."""
    source = reference
    for old, new in replacements:
        if old not in source:
            raise ValueError(f"known-wrong variant: {old!r} is not in the reference")
        source = source.replace(old, new)
    return source


def module_name(assignment: str) -> str:
    return "a" + assignment.replace("-", "_")


def load_assignment(assignment: str) -> ModuleType:
    """The checks module of an assignment id, with a clear error for an unknown id."""
    try:
        return importlib.import_module(f"{__name__}.{module_name(assignment)}")
    except ModuleNotFoundError as error:
        raise LookupError(f"no hidden checks for assignment {assignment!r}") from error
