"""The course's own code (read-only cells, reference answers, known mistakes) run in the grader:
trusted, and kept quiet."""

import functools

from autograder.checks.oracle import quiet


@functools.lru_cache(maxsize=512)  # the same course cells run anew for every notebook
def _compiled(source: str, label: str):
    return compile(source, f"<{label}>", "exec")


def run_trusted(source: str, namespace: dict, label: str) -> None:
    """Run `source` in `namespace`, without its prints or warnings. An exception is no concern of
    grading: a read-only cell may need the learner's functions, which are not there."""
    try:
        with quiet(stdout=True):
            exec(_compiled(source, label), namespace)
    except Exception:
        pass
