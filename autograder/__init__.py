"""The course's autograder: nbgrader configuration, hidden checks, and the grading command.

The tree follows a submission's life:

- ``course/``: the course on disk. Where each assignment's solution and release notebooks live,
  nbgrader's notebook format (read in one place), authoring helpers, and nbgrader runs.
- ``checks/``: what a hidden test calls. The grading secret and the inputs drawn from it, torch as
  the oracle, the visible-test helper cell, one module of hidden checks per assignment
  (``assignments/``) and one file of known mistakes per assignment (``mistakes/``, TOML data).
- ``sandbox/``: the locked-down process that runs a learner's code, and the grader's side of it.
- ``grade/``: ``python -m autograder grade``. Finding the submissions, grading one notebook (the
  assignment's spec, the plan of its cells, the learner's session), naming likely mistakes, the
  typed results, the Dask cluster that grades a class in parallel, and the journal a stopped
  run resumes from.
- ``report/``: what is written after grading. grades.csv, feedback, plots, the nbgrader gradebook,
  the similarity report and the grades for the LMS.
- ``tools/``: the demo class and the benchmark.
- ``__main__.py``: ``python -m autograder <command>``, a table of the commands above.
- ``environment.py``: the names of the environment variables read or set, in one place.
"""

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def command_argv(*arguments) -> list[str]:
    """``python -m autograder ARGUMENTS`` as the argv of a new process run by this interpreter,
    each argument as a string (the tools and tests run the commands as an instructor would)."""
    return [sys.executable, "-m", "autograder", *map(str, arguments)]
