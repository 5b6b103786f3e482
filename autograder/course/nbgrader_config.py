"""nbgrader's configuration for this course.

Use it with any nbgrader command: ``nbgrader generate_assignment 04-scaling-softmax-masks
--config autograder/course/nbgrader_config.py``. The course root is the repository root: solutions/
is nbgrader's source directory and exercises/ its release directory.
"""

import sys
from pathlib import Path

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

ROOT = Path(__file__).resolve().parent.parent

c.CourseDirectory.course_id = "multi-head-attention"
c.CourseDirectory.root = str(ROOT)
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.db_url = f"sqlite:///{ROOT / 'gradebook.db'}"

# What a learner sees in place of each solution.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# A notebook imports torch, and the hidden checks run several oracles: allow time for both.
c.Execute.timeout = 120
c.Autograde.create_student = True

# `nbgrader export` through the course's one CSV writer: no cell a spreadsheet would evaluate.
sys.path.append(str(ROOT))
c.ExportApp.plugin_class = "autograder.report.nbgrader_export.SpreadsheetSafeCsvExport"
