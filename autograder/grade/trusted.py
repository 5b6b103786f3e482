"""The course's own code (read-only cells, reference answers, known mistakes) run in the grader:
trusted, and kept quiet."""

from autograder.checks.oracle import quiet


def run_trusted(source: str, namespace: dict, label: str) -> None:
    """Run `source` in `namespace`, without its prints or warnings. An exception is no concern of
    grading: a read-only cell may need the learner's functions, which are not there."""
    try:
        with quiet(stdout=True):
            exec(compile(source, f"<{label}>", "exec"), namespace)
    except Exception:
        pass
