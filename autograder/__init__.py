"""The course's grading package: nbgrader configuration, hidden checks and the grading command.

Layout:
- ``nbgrader_config.py``: nbgrader's course configuration (solutions/ is the source, exercises/ the release).
- ``notebook_helpers.py``: the visible-test helper cell, identical in every exercise notebook.
- ``secret.py``: the grading secret, and the random inputs drawn from it.
- ``hidden.py``: the entry point that the hidden tests inside the solution notebooks call.
- ``assignments/``: one module per assignment with its hidden checks and its known-wrong variants.
- ``course.py``: paths and nbgrader runs shared by the command line and the tests.
"""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
