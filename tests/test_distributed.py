"""Grading on a real Dask cluster (issue 12): a `dask scheduler` and two `dask worker` processes on
localhost grade a small demo class to the same grades.csv, byte for byte, as the local cluster; a
worker whose host cannot build the sandbox stops the run, named, before anything is graded."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from autograder import REPO_ROOT, command_argv, course, environment
from autograder.tools.dask_processes import dask_cluster
from autograder.tools.demo import demo_class, write_class

pytestmark = pytest.mark.slow

ASSIGNMENTS = course.assignments()[:2]
# The workers' own secret differs from the client's: the client's must be the one that counts.
WORKER_ENVIRONMENT = {environment.GRADING_SECRET: "not-the-one-the-client-sends"}
SECRET = "distributed-test-secret"
# A host where unprivileged user namespaces are off (sysctl user.max_user_namespaces=0): here, a
# user namespace of its own whose limit is set to 0 before the worker starts.
NO_USER_NAMESPACES = [
    "unshare",
    "--user",
    "--map-root-user",
    "sh",
    "-c",
    'echo 0 > /proc/sys/user/max_user_namespaces && exec "$@"',
    "sh",
]


def grade(submitted: Path, out: Path, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        command_argv(
            "grade", submitted, "--out", out, "--no-progress", "--timeout", "20", *options
        ),
        cwd=REPO_ROOT,
        env={**os.environ, environment.GRADING_SECRET: SECRET},
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(scope="module")
def submitted(tmp_path_factory):
    return write_class(demo_class(ASSIGNMENTS), tmp_path_factory.mktemp("class") / "submitted")


def test_a_scheduler_and_two_workers_grade_as_the_local_cluster(submitted, tmp_path):
    """Does a real `dask scheduler` with two `dask worker` processes give the local run's
    grades.csv?"""
    local = grade(submitted, tmp_path / "local", "--workers", "2")
    assert local.returncode == 3, local.stderr[-3000:]  # the demo class has a broken notebook
    with dask_cluster(tmp_path, [[], []], WORKER_ENVIRONMENT) as address:
        remote = grade(submitted, tmp_path / "remote", "--scheduler", address)
    assert remote.returncode == 3, remote.stderr[-3000:]
    assert "sandbox on each of 2 Dask workers" in remote.stderr, remote.stderr[-3000:]
    expected = (tmp_path / "local" / "grades.csv").read_bytes()
    assert (tmp_path / "remote" / "grades.csv").read_bytes() == expected
    assert expected.count(b"\n") > 2 * len(ASSIGNMENTS)


def test_a_worker_without_the_sandbox_is_named_and_nothing_is_graded(submitted, tmp_path):
    """A worker on a host without user namespaces: exit 2, the message names it, OUT is not
    written."""
    if shutil.which("unshare") is None:
        pytest.fail("util-linux's unshare is needed to start a worker without user namespaces")
    with dask_cluster(tmp_path, [[], NO_USER_NAMESPACES], WORKER_ENVIRONMENT) as address:
        from distributed import Client

        with Client(address, timeout=60) as client:
            workers = client.scheduler_info()["workers"]
            names = {info["name"]: address for address, info in workers.items()}
        run = grade(submitted, tmp_path / "out", "--scheduler", address)
    assert run.returncode == 2, run.stderr[-3000:]
    assert "1 of 2 Dask workers have no sandbox" in run.stderr, run.stderr[-3000:]
    assert f"worker {names['worker-1']}" in run.stderr and names["worker-0"] not in run.stderr
    assert not (tmp_path / "out").exists()
