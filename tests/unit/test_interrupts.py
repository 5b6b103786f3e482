"""autograder/grade/interrupts.py: Ctrl-C during a recording step is held until the step ends,
and raised at once outside one. Real signals, sent to this process."""

import os
import signal
import threading

import pytest

from autograder.grade.interrupts import DeferredInterrupt

pytestmark = pytest.mark.unit


def _ctrl_c():
    os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_while_recording_waits_until_the_step_ends():
    steps = []
    with pytest.raises(KeyboardInterrupt), DeferredInterrupt() as interrupt:
        with interrupt.recording():
            _ctrl_c()
            steps.append("written")
            steps.append("counted")
        steps.append("after")  # never reached: the held interrupt is raised as the step ends
    assert steps == ["written", "counted"]


def test_ctrl_c_taken_by_another_thread_is_still_held():
    """The Dask client's threads do not block SIGINT: the handler must hold it wherever it lands."""
    steps = []
    with pytest.raises(KeyboardInterrupt), DeferredInterrupt() as interrupt:
        with interrupt.recording():
            sender = threading.Thread(target=_ctrl_c)
            sender.start()
            sender.join()
            steps.extend(["written", "counted"])
    assert steps == ["written", "counted"]


def test_ctrl_c_outside_a_step_stops_at_once_and_the_handler_is_restored():
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt), DeferredInterrupt():
        _ctrl_c()
        for _ in range(1000):  # the handler runs at the next bytecode
            pass
        pytest.fail("Ctrl-C outside a recording step was not raised")
    assert signal.getsignal(signal.SIGINT) is before


def test_no_ctrl_c_no_interrupt():
    with DeferredInterrupt() as interrupt:
        with interrupt.recording():
            pass
        with interrupt.recording():
            pass
