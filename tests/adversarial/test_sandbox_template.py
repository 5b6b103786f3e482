"""Issue 27: each learner's process is forked from a prepared template (autograder/sandbox/child.py,
``run_template``), not started fresh. Does a child inherit nothing from an earlier child, and does
the template never run learner code? Each test drives real sandboxes of this process's template.
"""

import os
import signal
import textwrap
import time
from pathlib import Path

import pytest

from autograder.sandbox.host import Limits, Sandbox, SandboxDied, running_template

LIMITS = Limits(timeout=20)

# A cell that lists the file descriptors open in its process (fstat needs no file access, so
# Landlock does not hide them) and what else a notebook could have left behind.
LOOK_AROUND = textwrap.dedent("""
    import os, sys, json
    open_fds = []
    for fd in range(1024):
        try:
            os.fstat(fd)
            open_fds.append(fd)
        except OSError:
            pass
    leftovers = {
        "global": "left_by_earlier" in globals(),
        "numpy": hasattr(sys.modules["numpy"], "left_by_earlier"),
        "json": hasattr(json, "left_by_earlier"),
        "file": os.path.exists(os.path.join(os.environ.get("TMPDIR", "/tmp"), "left.txt")),
        "path": "/left/by/earlier" in sys.path,
    }
    """)
LEAVE_TRACES = textwrap.dedent("""
    import os, sys, json
    import numpy as np
    left_by_earlier = 1
    np.left_by_earlier = 1
    json.left_by_earlier = 1
    sys.path.append("/left/by/earlier")
    kept_open = open(os.path.join(os.environ.get("TMPDIR", "/tmp"), "left.txt"), "w")
    kept_open.write("x")
    kept_open.flush()
    kept_copy = os.dup(kept_open.fileno())
    """)


def _look_around(sandbox: Sandbox) -> tuple[list, dict]:
    errors = [error for _, error in sandbox.run_cells([LOOK_AROUND])]
    assert errors == [None], errors
    found = sandbox.lookup(["open_fds", "leftovers"])
    return list(found["open_fds"][1]), found["leftovers"][1]


def test_a_child_inherits_nothing_from_an_earlier_child():
    """One notebook sets globals, patches modules, opens files; the next sees none of it, and
    holds only stdin/stdout/stderr and its own channel, as a freshly started process did."""
    first = Sandbox(LIMITS)
    try:
        clean_fds, clean = _look_around(first)
        assert len(clean_fds) == 4 and clean_fds[:3] == [0, 1, 2], clean_fds
        assert not any(clean.values()), clean
        errors = [error for _, error in first.run_cells([LEAVE_TRACES])]
        assert errors == [None], errors
        dirty_fds, dirty = _look_around(first)
        assert all(dirty.values()) and len(dirty_fds) == 6, (dirty, dirty_fds)
        second = Sandbox(LIMITS)  # while the first one still runs, files open
        try:
            second_fds, second_sees = _look_around(second)
        finally:
            second.kill()
    finally:
        first.kill()
    third = Sandbox(LIMITS)  # and after it has gone
    try:
        third_fds, third_sees = _look_around(third)
    finally:
        third.kill()
    for fds, seen in ((second_fds, second_sees), (third_fds, third_sees)):
        assert not any(seen.values()), seen
        assert len(fds) == 4 and fds[:3] == [0, 1, 2], fds


def _shared_writable(pid: int) -> list[str]:
    maps = Path(f"/proc/{pid}/maps").read_text().splitlines()
    return [line for line in maps if line.split()[1][1] == "w" and line.split()[1][3] == "s"]


def test_children_share_no_writable_memory_with_the_template():
    """A child's memory is a copy-on-write copy of the template's: the template holds no shared
    writable mapping that a fork would share (nor does the child, where it may be read: its
    /proc files are root's once it makes itself undumpable)."""
    template = running_template()
    assert _shared_writable(template.process.pid) == []
    sandbox = Sandbox(LIMITS)
    try:
        assert [
            error for _, error in sandbox.run_cells(["import numpy as np\nx = np.ones(9)"])
        ] == [None]
        assert _shared_writable(template.process.pid) == []
        if os.geteuid() == 0:
            assert _shared_writable(sandbox.process.pid) == []
    finally:
        sandbox.kill()


def _comm(pid: int) -> str:
    return Path(f"/proc/{pid}/comm").read_text().strip()


def test_learner_code_runs_in_the_child_never_in_the_template():
    """A cell renames the process that runs it (prctl PR_SET_NAME): the child changes its name,
    the template keeps its own and holds no learner's channel, only its control socket."""
    template = running_template()
    template_fds = sorted(os.listdir(f"/proc/{template.process.pid}/fd"), key=int)
    sandbox = Sandbox(LIMITS)
    try:
        cell = "import ctypes\nctypes.CDLL(None).prctl(15, b'learner-ran', 0, 0, 0)"
        assert [error for _, error in sandbox.run_cells([cell])] == [None]
        assert _comm(sandbox.process.pid) == "learner-ran"
        assert _comm(template.process.pid) != "learner-ran"
        # No copy of the learner's channel stays in the template while the child runs.
        assert sorted(os.listdir(f"/proc/{template.process.pid}/fd"), key=int) == template_fds
        assert int(Path(f"/proc/{sandbox.process.pid}/stat").read_text().split()[3]) == (
            template.process.pid
        )
    finally:
        sandbox.kill()
    assert len(template_fds) == 4 and template_fds[:3] == ["0", "1", "2"], template_fds
    # The template is not locked down (it must not be: it forks); so it never runs learner code.
    status = Path(f"/proc/{template.process.pid}/status").read_text()
    assert "\nSeccomp:\t0" in status, status


def test_a_dead_template_is_replaced_and_takes_its_children_with_it():
    """Kill the template: its running child dies with it (PR_SET_PDEATHSIG), and the next sandbox
    comes from a new template."""
    template = running_template()
    orphan = Sandbox(LIMITS)
    os.kill(template.process.pid, signal.SIGKILL)
    template.process.wait(timeout=10)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{orphan.process.pid}").exists() and time.monotonic() < deadline:
        stat = Path(f"/proc/{orphan.process.pid}/stat").read_text().split()
        if stat[2] == "Z":
            break  # dead, waiting to be reaped by init
        time.sleep(0.05)
    else:
        assert not Path(f"/proc/{orphan.process.pid}").exists(), "the child outlived its template"
    with pytest.raises(SandboxDied):
        list(orphan.run_cells(["x = 1"]))
    orphan.kill()
    fresh = Sandbox(LIMITS)
    try:
        assert fresh.process.template is not template
        assert [error for _, error in fresh.run_cells(["x = 1"])] == [None]
    finally:
        fresh.kill()


def test_a_hung_child_is_killed_and_reports_how():
    """A cell that never ends: SandboxDied at the deadline, the child killed and reaped."""
    sandbox = Sandbox(Limits(timeout=1))
    with pytest.raises(SandboxDied, match="did not finish within 1 s"):
        list(sandbox.run_cells(["while True:\n    pass"]))
    assert sandbox.process.returncode == -signal.SIGKILL
    assert not Path(f"/proc/{sandbox.process.pid}").exists()


def test_a_childs_own_death_is_described_as_before():
    """A child that dies by a signal of its own reports that signal, as a fresh process did."""
    sandbox = Sandbox(LIMITS)
    try:
        with pytest.raises(SandboxDied, match="segmentation fault"):
            list(sandbox.run_cells(["import ctypes\nctypes.string_at(0)"]))
    finally:
        sandbox.kill()
