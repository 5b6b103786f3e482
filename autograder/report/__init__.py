"""What is written after grading: ``outputs`` (grades.csv, results.json, feedback, plots),
``gradebook`` (nbgrader's), ``nbgrader_export``, and the instructor's ``report`` command
(``command``: ``similarity`` and ``lms``)."""
