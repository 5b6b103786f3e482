"""Kept so that notebooks written before the checks moved to ``autograder.checks`` still grade."""

from autograder.checks.hidden import hidden_check  # noqa: F401
