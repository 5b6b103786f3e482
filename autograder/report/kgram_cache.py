"""The k-gram sets of the course's own code (each release's code cells, the book's code cells),
kept on disk between runs.

Every similarity report takes them out of each learner's fingerprints
(autograder/report/similarity.py), and normalising the book's 200 code cells and the eight
releases took about a second of each grading run, whatever the size of the class. A set depends
only on the code's text and on the code that normalises and hashes it, so its file is named by
the SHA-256 of both and is never stale: a new book, release or normaliser has a name of its own.
A file that cannot be read (missing, damaged) is made again; one that cannot be written (a
read-only home) is not needed: the set is returned either way.

The files are in the user's cache folder (platformdirs: ``$XDG_CACHE_HOME/mha-course/kgrams`` or
``~/.cache/mha-course/kgrams`` on Linux) and only this process's trusted side writes them: no
learner's text is in them.
"""

import functools
import hashlib
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

APPLICATION = "mha-course"
# The code whose output the sets are: a change to either file names new files.
MADE_BY = ("similarity.py", "similarity_tokens.py")


def cache_folder() -> Path:
    from platformdirs import user_cache_path

    return user_cache_path(APPLICATION) / "kgrams"


@functools.cache  # read once a process: a run asks for a key per release and one for the book
def _code_version() -> bytes:
    here = Path(__file__).parent
    digest = hashlib.sha256(f"python {sys.version_info[0]}.{sys.version_info[1]}".encode())
    for name in MADE_BY:
        digest.update((here / name).read_bytes())
    return digest.digest()


def key(sources: tuple[str, ...]) -> str:
    """The file name of the set of `sources`: their texts (each its own digest, so that no two
    tuples join into the same bytes) and the code version."""
    digest = hashlib.sha256(_code_version())
    for source in sources:
        digest.update(hashlib.sha256(source.encode()).digest())
    return digest.hexdigest()


def kgram_set(
    sources: tuple[str, ...],
    make: Callable[[tuple[str, ...]], frozenset[int]],
    folder: Path | None = None,
) -> frozenset[int]:
    """`make(sources)`, read from the cache when a run made it before, else made and saved."""
    path = (folder or cache_folder()) / f"{key(sources)}.npy"
    try:
        saved = np.load(path, allow_pickle=False)
        if saved.dtype == np.uint64 and saved.ndim == 1:
            return frozenset(saved.tolist())
    except (OSError, ValueError, EOFError):  # not made yet, or damaged: made again below
        pass
    made = make(sources)
    part = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole under another name, then renamed: a reader never sees half a file.
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".part", delete=False) as part:
            np.save(part, np.fromiter(sorted(made), dtype=np.uint64, count=len(made)))
        os.replace(part.name, path)
    except OSError:  # no cache then (a full disk, a read-only home): the next run makes it again
        if part is not None:
            Path(part.name).unlink(missing_ok=True)
    return made
