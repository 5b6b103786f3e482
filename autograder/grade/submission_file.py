"""A submitted notebook file, judged by its metadata before a byte of it is read.

It must be no larger than MAX_NOTEBOOK_BYTES: a sparse file of 8 GiB costs nothing to stat, and
seconds per GiB to read or hash. And it must be the file's only name: a hard link into solutions/
(made by someone who can write to SUBMITTED on the grading machine) would be graded as the
learner's work. Where the submissions are found (collect.py), hashed (journal.py) and read
(cell_plan.py), the same `file_problem` decides, on the file's own metadata (symbolic links are
not followed).
"""

import os
import stat
from pathlib import Path
from typing import BinaryIO

MAX_NOTEBOOK_BYTES = 20 << 20


def _size_text(size: int) -> str:
    """1536 -> "1.5 KiB", 8 << 30 -> "8.0 GiB"."""
    units = ["bytes", "KiB", "MiB", "GiB", "TiB"]
    exponent = min(len(units) - 1, max(0, (size.bit_length() - 1) // 10))
    return f"{size} bytes" if exponent == 0 else f"{size / 1024**exponent:.1f} {units[exponent]}"


def file_problem(status: os.stat_result) -> str | None:
    """Why a submitted notebook with this metadata (its own: lstat, fstat) is not read at all,
    or None."""
    if stat.S_ISLNK(status.st_mode):
        return "the notebook is a symbolic link, which is not followed"
    if not stat.S_ISREG(status.st_mode):
        return "the notebook is not a regular file"
    if status.st_size > MAX_NOTEBOOK_BYTES:
        return (
            f"the notebook is {_size_text(status.st_size)}, larger than the limit of "
            f"{MAX_NOTEBOOK_BYTES >> 20} MiB: it was not read"
        )
    if status.st_nlink > 1:
        return (
            f"the notebook file has {status.st_nlink} names (hard links): another file, such as "
            "a solution, would be graded as this learner's work, so it was not graded; hand in "
            "a copy instead (cp makes one)"
        )
    return None


def open_submission(path: Path) -> tuple[BinaryIO, os.stat_result]:
    """The notebook opened for reading, without following a symbolic link (nor waiting for a
    writer, were it a FIFO), and its metadata (of the file opened, so nothing can be swapped in
    between); OSError if it cannot be."""
    handle = os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK), "rb")
    try:
        return handle, os.fstat(handle.fileno())
    except OSError:
        handle.close()
        raise
