"""Ctrl-C that waits until the result in hand is recorded.

A grading run stopped with Ctrl-C must leave every result it took in both the journal and the
gradebook, and say truthfully how many. Blocking SIGINT in the main thread does not achieve this:
the Dask client's threads do not block it, one of them takes the signal, and Python then raises
KeyboardInterrupt in the main thread at its next bytecode, which may fall between writing a
journal line and counting it. So the handler itself decides: outside a `recording()` block it
raises at once (a run waiting for its next result stops there); inside one it only notes the
request, which is honoured as the block ends. Python runs signal handlers in the main thread
only, so the two flags need no lock.
"""

import signal
from contextlib import contextmanager
from types import FrameType


class DeferredInterrupt:
    """Install with `with DeferredInterrupt() as interrupt:`; wrap each recording step in
    `with interrupt.recording():`."""

    def __init__(self) -> None:
        self._recording = False
        self._requested = False
        self._previous = None

    def __enter__(self) -> "DeferredInterrupt":
        self._previous = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def __exit__(self, *exception) -> None:
        signal.signal(signal.SIGINT, self._previous)

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        if self._recording:
            self._requested = True
        else:
            raise KeyboardInterrupt

    @contextmanager
    def recording(self):
        """A step that Ctrl-C does not cut in two: the interrupt is raised after it, if asked."""
        self._recording = True
        try:
            yield
        finally:
            self._recording = False
        if self._requested:
            raise KeyboardInterrupt
