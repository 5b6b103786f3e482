"""The words the grader writes about a submission: text from outside made safe, and one-line
summaries shortened without cutting a word.

Text reaches the grader from two untrusted places: the sandbox (a learner's exception message may
hold a lone surrogate, which JSON carries but UTF-8 cannot encode) and the file system (a folder
name may be any bytes but ``/`` and NUL). Each is made safe once, where it enters, by the functions
here; the writers in autograder/report/outputs.py still write with ``errors="backslashreplace"`` as
a last guard.
"""

import dataclasses
import enum
import os
import unicodedata

from autograder.grade.results import NotebookResult, Status

# grades.csv's message for one notebook: long enough for every failure of an assignment in full,
# short enough for a spreadsheet cell (32,767 characters at most).
MESSAGE_LIMIT = 4000
SEPARATOR = " | "
SHORTEST_PIECE = 200  # a message cut shorter than this tells the reader too little to keep


def safe_text(text: str) -> str:
    """`text` with every code point UTF-8 cannot encode (lone surrogates, including the ones
    Python uses for undecodable bytes in file names) written as a backslash escape."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def safe_strings(value):
    """A copy of a result (its dataclasses, dicts, lists, tuples, strings, numbers) with every
    string made safe."""
    if isinstance(value, enum.Enum):  # a Status is a str, and stays a Status
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(
            value,
            **{
                field.name: safe_strings(getattr(value, field.name))
                for field in dataclasses.fields(value)
            },
        )
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, dict):
        return {safe_strings(key): safe_strings(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(safe_strings(item) for item in value)
    return value


def _refused(character: str) -> bool:
    # Control and format characters (newline, tab, bidi overrides), surrogates, unassigned code
    # points and line or paragraph separators: none belongs in an id shown in a table.
    category = unicodedata.category(character)
    return category[0] == "C" or category in ("Zl", "Zp")


def name_problem(name: str) -> str | None:
    """Why a file-system name cannot serve as a student or assignment id, or None if it can."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "its name is not valid UTF-8"
    if any(_refused(character) for character in name):
        return "its name holds a control or invisible character"
    return None


def shown_name(name: str) -> str:
    """A file-system name as it can be shown and written anywhere: undecodable bytes as ``\\xff``,
    control and invisible characters as ``\\n``, ``\\u202e``..."""
    text = os.fsencode(name).decode("utf-8", "backslashreplace")
    return "".join(
        character.encode("unicode_escape").decode("ascii") if _refused(character) else character
        for character in text
    )


def _clip(text: str, width: int) -> str:
    """`text` cut to at most `width` characters at a space, so that no word or number is split."""
    if len(text) <= width:
        return text
    head = text[: max(width - 2, 0) + 1]
    cut = head.rfind(" ")
    return (head[:cut] if cut > 0 else head[:-1]).rstrip() + " …"


def shorten(parts: list, limit: int = MESSAGE_LIMIT) -> str:
    """`parts` joined by " | ", whole, while they fit in `limit` characters. The first part that
    does not fit is cut at a space (ending " …") if a useful piece of it fits, and the parts left
    out are counted at the end: "… and 3 more"."""
    parts = [part for part in parts if part]
    kept = []
    for index, part in enumerate(parts):
        left = len(parts) - index - 1
        tail = f"{SEPARATOR}… and {left} more" if left else ""
        if len(SEPARATOR.join([*kept, part]) + tail) <= limit:
            kept.append(part)
            continue
        room = limit - len(SEPARATOR.join([*kept, ""])) - len(tail)
        if room >= SHORTEST_PIECE or not kept:
            kept += [_clip(part, room)] + ([f"… and {left} more"] if left else [])
        else:  # the parts kept so far fit with a tail that counts this one and the rest
            kept.append(f"… and {left + 1} more")
        break
    return SEPARATOR.join(kept)


def total_score(result: NotebookResult) -> float:
    """What a notebook scores: its test cells' points and its written answers' graded points,
    less the late penalty (never below 0), as ``nbgrader export`` computes a submission's score."""
    earned = sum(test.score for test in result.tests)
    earned += sum(answer.score or 0.0 for answer in result.written)
    penalty = result.submitted.late_penalty if result.submitted else 0.0
    return float(max(0.0, earned - penalty))


def _points(value: float) -> str:
    return f"{value:g} point{'' if value == 1 else 's'}"


def _duration(seconds: float) -> str:
    """1 d 2 h, 3 h 5 min, 12 min, 40 s: the two largest units."""
    units = [("d", 86400), ("h", 3600), ("min", 60), ("s", 1)]
    parts, left = [], int(round(seconds))
    for name, size in units:
        if left >= size or (name == "s" and not parts):
            parts.append(f"{left // size} {name}")
            left %= size
    return " ".join(parts[:2])


def standing_notes(result: NotebookResult) -> list[str]:
    """What the gradebook adds to a graded row: written answers still to grade, lateness and its
    penalty, and a submission time read from the file when there was no timestamp.txt."""
    notes = []
    awaiting = result.awaiting
    if awaiting:
        points = sum(answer.points for answer in awaiting)
        names = ", ".join(answer.grade_id for answer in awaiting)
        notes.append(
            f"{_points(points)} of written answers await a grader ({names}): counted as 0 until "
            "graded in formgrader"
        )
    submitted = result.submitted
    if submitted is not None:
        if submitted.source != "timestamp.txt":
            notes.append(f"submitted at {submitted.timestamp}: {submitted.source}")
        if submitted.seconds_late > 0:
            notes.append(
                f"handed in {_duration(submitted.seconds_late)} late (due {submitted.duedate}): "
                f"late penalty {_points(submitted.late_penalty)}"
            )
    return notes


def summary(result: NotebookResult) -> str:
    """The one-line message of grades.csv for a NotebookResult: how many tests passed, then the
    written answers awaiting a grader and the late penalty, every failure in full, every cell
    that raised, what stopped the learner's code, and the notes about the notebook."""
    if result.status is not Status.GRADED:
        return shorten([result.message, *result.notes])
    tests = result.tests
    parts = [f"{sum(test.passed for test in tests)} of {len(tests)} tests passed"]
    parts += standing_notes(result)
    for test in tests:
        if not test.passed:
            hint = f" (looks like: {'; '.join(test.mistakes)})" if test.mistakes else ""
            parts.append(f"{test.grade_id}: {test.message}{hint}")
    parts += [f"{label} raised {error}" for label, error in result.cell_errors.items()]
    parts += [*result.events, *result.notes]
    return shorten(parts)
