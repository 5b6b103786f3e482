"""What is written after grading: ``outputs`` (grades.csv, results.json, feedback, plots),
``gradebook`` (nbgrader's), ``nbgrader_export``, and the instructor's ``report`` command
(``command``: ``similarity``, which reads code through ``similarity_tokens`` and writes
``similarity_files``, and ``lms``)."""
