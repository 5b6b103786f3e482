"""Does pytest-xdist keep a group on one worker, with the rules of tests/conftest.py?

A small session of its own, on two workers, loads this suite's conftest.py: the tests of one
xdist_group mark, and the tests that share a module-scoped fixture, must each run on one worker,
and the tests with neither are in no group. It fails when a pytest or pytest-xdist release
stops honouring groups (pytest 9.2 with pytest-xdist 3.8.0 did, silently)."""

import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).parent

MARKED = """
import pytest, time
pytestmark = pytest.mark.xdist_group("shared")
{tests}
"""
MODULE_FIXTURE = """
import pytest, time

@pytest.fixture(scope="module")
def made_once():
    return object()

{tests}
"""
PLAIN = """
import time
{tests}
"""
# The session's conftest.py takes the grouping hook from this suite's.
CONFTEST = f"""
import importlib.util
spec = importlib.util.spec_from_file_location("suite_conftest", {str(TESTS / "conftest.py")!r})
suite = importlib.util.module_from_spec(spec)
spec.loader.exec_module(suite)
pytest_collection_modifyitems = suite.pytest_collection_modifyitems
"""


def functions(prefix: str, count: int, fixture: str = "") -> str:
    return "\n".join(
        f"def test_{prefix}_{number}({fixture}):\n    time.sleep(0.1)\n" for number in range(count)
    )


def test_groups_stay_on_one_worker(tmp_path):
    (tmp_path / "test_marked_a.py").write_text(MARKED.format(tests=functions("a", 4)))
    (tmp_path / "test_marked_b.py").write_text(MARKED.format(tests=functions("b", 4)))
    (tmp_path / "test_fixture.py").write_text(
        MODULE_FIXTURE.format(tests=functions("f", 8, "made_once"))
    )
    (tmp_path / "test_plain.py").write_text(PLAIN.format(tests=functions("p", 16)))
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = --dist loadgroup\n")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "-v", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(TESTS)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    workers = defaultdict(set)  # test file -> the workers that ran its tests
    for worker, test_file in re.findall(r"\[(gw\d)\] .*? PASSED (test_\w+\.py)::", run.stdout):
        workers[test_file].add(worker)
    assert len(workers["test_marked_a.py"] | workers["test_marked_b.py"]) == 1, workers
    assert len(workers["test_fixture.py"]) == 1, workers
    # Which worker takes which plain test depends on timing; that they are in no group does not.
    assert workers["test_plain.py"] and not re.search(r"test_plain\.py::\w+@", run.stdout)
