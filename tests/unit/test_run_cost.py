"""The cost line's first phase starts when the process does (autograder/grade/run_cost.py)."""

import subprocess
import sys
import time

from autograder import REPO_ROOT

AGE_AFTER_A_SLEEP = (
    "import time; time.sleep(0.5); "
    "from autograder.grade.run_cost import process_age; print(process_age())"
)


def test_process_age_is_the_time_since_the_process_started():
    """Is a process's age, read after it slept 0.5 s, at least that and at most the time the
    parent saw it run? (psutil's create_time() was up to a second off: the boot time it adds is
    given in whole seconds, and the cost line's imports took in the error.)"""
    started = time.monotonic()
    age = float(
        subprocess.run(
            [sys.executable, "-c", AGE_AFTER_A_SLEEP],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    seen = time.monotonic() - started
    assert 0.5 <= age <= seen + 0.01, (age, seen)  # + one clock tick
