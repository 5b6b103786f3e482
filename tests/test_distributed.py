"""Grading on a real Dask cluster (issues 12 and 22): a `dask scheduler` and two `dask worker`
processes on localhost, over TLS with certificates written by `python -m autograder
tls-certificates`, grade a small demo class to the same grades.csv, byte for byte, as the local
cluster; a client without the certificates is refused; when the run ends (normally, on Ctrl-C, on
an error) neither the scheduler nor the workers hold anything of the grading secret; a worker
whose host cannot build the sandbox stops the run, named, before anything is graded."""

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from autograder import REPO_ROOT, command_argv, course, environment
from autograder.grade.cluster import GradingCluster, connect, remote_security
from autograder.grade.on_workers import PLUGIN_NAME
from autograder.sandbox.host import Limits
from autograder.tools.dask_processes import dask_cluster
from autograder.tools.demo import demo_class, write_class
from autograder.tools.tls_certificates import CLUSTER, GRADER, tls_options, write_certificates

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


def grade_command(submitted: Path, out: Path, *options: str) -> list[str]:
    return command_argv(
        "grade", submitted, "--out", out, "--no-progress", "--timeout", "20", *options
    )


GRADE_ENVIRONMENT = {**os.environ, environment.GRADING_SECRET: SECRET}


def grade(submitted: Path, out: Path, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        grade_command(submitted, out, *options),
        cwd=REPO_ROOT,
        env=GRADE_ENVIRONMENT,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(scope="module")
def submitted(tmp_path_factory):
    return write_class(demo_class(ASSIGNMENTS), tmp_path_factory.mktemp("class") / "submitted")


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    """The files of `python -m autograder tls-certificates`: {role: TLSFiles}."""
    return write_certificates(tmp_path_factory.mktemp("tls"))


def secret_traces(address: str, files, secret: str = SECRET) -> dict:
    """{"scheduler" or a worker's address: where it still holds `secret`}, asked with `files`:
    the grading plugin in the scheduler's table or the worker's, the environment, and any object
    the garbage collector knows that refers to a string or bytes containing the secret."""
    from distributed import Client

    # nested: pickled by value, so the scheduler and workers need not import this module; given
    # the secret reversed, so that asking leaves no trace of it.
    def traces(reversed_secret: str, plugins) -> list[str]:
        import gc
        import os

        text = reversed_secret[::-1]
        data = text.encode()
        found = ["the grading plugin"] if PLUGIN_NAME in plugins else []
        found += [
            f"environment variable {key}" for key, value in os.environ.items() if text in value
        ]

        def contents(holder):
            """What `holder` refers to, with the contents of the dicts and tuples the collector
            does not track (those that hold only strings, numbers and bytes), which
            gc.get_objects() leaves out."""
            for held in gc.get_referents(holder):
                yield held
                if type(held) in (dict, tuple) and not gc.is_tracked(held):
                    yield from contents(held)

        for holder in gc.get_objects():
            for held in contents(holder):
                if held is text or held is data:
                    continue
                if (type(held) is str and text in held) or (type(held) is bytes and data in held):
                    found.append(f"a {type(holder).__name__} in memory")
        return found

    def on_scheduler(reversed_secret: str, dask_scheduler) -> list[str]:
        return traces(reversed_secret, dask_scheduler.worker_plugins)

    def on_worker(reversed_secret: str, dask_worker) -> list[str]:
        return traces(reversed_secret, dask_worker.plugins)

    with Client(address, security=remote_security(*files), timeout=30) as client:
        held = {"scheduler": client.run_on_scheduler(on_scheduler, secret[::-1])}
        held.update(client.run(on_worker, secret[::-1]))
    return held


def no_traces_left(address: str, files, secret: str = SECRET, seconds: float = 60) -> dict:
    """secret_traces once nothing is held any more, or after `seconds` (a worker that was grading
    when the run stopped holds the secret until that notebook's work ends)."""
    deadline = time.monotonic() + seconds
    while True:
        held = secret_traces(address, files, secret)
        if not any(held.values()) or time.monotonic() > deadline:
            return held
        time.sleep(2)


def refused_without_certificates(address: str) -> dict:
    """How a client that has not the cluster's certificates fares: over plain tcp://, and over
    TLS with a certificate of its own (Dask's Security.temporary())."""
    from distributed import Client, Security

    outcomes = {}
    for name, target, security in [
        ("plain tcp", address.replace("tls://", "tcp://"), Security()),
        ("other TLS certificate", address, Security.temporary()),
    ]:
        try:
            with Client(target, security=security, timeout=5) as client:
                outcomes[name] = f"connected: {client.run(os.getpid)}"
        except Exception as error:  # noqa: BLE001 - any refusal will do
            outcomes[name] = f"refused ({type(error).__name__})"
    return outcomes


def test_a_tls_scheduler_and_two_workers_grade_as_the_local_cluster(submitted, tls, tmp_path):
    """Does a real `dask scheduler` with two `dask worker` processes, over TLS, give the local
    run's grades.csv, refuse a client without the certificates, and keep nothing of the secret
    once the run is over?"""
    local = grade(submitted, tmp_path / "local", "--workers", "2")
    assert local.returncode == 3, local.stderr[-3000:]  # the demo class has a broken notebook
    with dask_cluster(
        tmp_path, [[], []], WORKER_ENVIRONMENT, tls=tls[CLUSTER], client_tls=tls[GRADER]
    ) as address:
        assert address.startswith("tls://")
        remote = grade(
            submitted, tmp_path / "remote", "--scheduler", address, *tls_options(tls[GRADER])
        )
        held = no_traces_left(address, tls[GRADER])
        refusals = refused_without_certificates(address)
    assert remote.returncode == 3, remote.stderr[-3000:]
    assert "sandbox on each of 2 Dask workers" in remote.stderr, remote.stderr[-3000:]
    assert "tcp://" not in remote.stderr, remote.stderr[-3000:]  # no warning: it is TLS
    expected = (tmp_path / "local" / "grades.csv").read_bytes()
    assert (tmp_path / "remote" / "grades.csv").read_bytes() == expected
    assert expected.count(b"\n") > 2 * len(ASSIGNMENTS)
    assert len(held) == 3 and not any(held.values()), held
    assert all(outcome.startswith("refused") for outcome in refusals.values()), refusals


def test_the_secret_leaves_the_cluster_on_ctrl_c(submitted, tls, tmp_path):
    """A run stopped with Ctrl-C while the workers grade: the plugin is removed from the scheduler
    and the workers, and nothing of the secret is left in them."""
    out = tmp_path / "out"
    with dask_cluster(
        tmp_path, [[], []], WORKER_ENVIRONMENT, tls=tls[CLUSTER], client_tls=tls[GRADER]
    ) as address:
        run = subprocess.Popen(
            grade_command(submitted, out, "--scheduler", address, *tls_options(tls[GRADER])),
            cwd=REPO_ROOT,
            env=GRADE_ENVIRONMENT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 300
            journal = out / ".journal.jsonl"
            while time.monotonic() < deadline and run.poll() is None:
                if journal.exists() and journal.read_bytes().count(b"\n") >= 3:
                    break  # its header and two results: the workers are grading
                time.sleep(0.05)
            assert run.poll() is None, "the run ended before it could be stopped"
            during = secret_traces(address, tls[GRADER])
            os.killpg(run.pid, signal.SIGINT)
            _, stderr = run.communicate(timeout=120)
        finally:
            if run.poll() is None:
                os.killpg(run.pid, signal.SIGKILL)
                run.wait()
        held = no_traces_left(address, tls[GRADER])
    assert run.returncode == 130, stderr[-3000:]
    # The check sees the plugin while it is there: on the scheduler and on both workers.
    assert all(during.values()) and len(during) == 3, during
    assert not any(held.values()), held


def test_the_secret_leaves_the_cluster_on_an_error(tls, tmp_path):
    """An error inside a grading run (here, raised on purpose) still removes the plugin."""
    with dask_cluster(
        tmp_path, [[]], WORKER_ENVIRONMENT, tls=tls[CLUSTER], client_tls=tls[GRADER]
    ) as address:
        security = remote_security(*tls[GRADER])
        with pytest.raises(RuntimeError, match="a fault of the grader"):
            with GradingCluster(1, Limits(timeout=20), SECRET, address, security=security):
                during = secret_traces(address, tls[GRADER])
                raise RuntimeError("a fault of the grader")
        held = no_traces_left(address, tls[GRADER])
    assert len(during) == 2 and all(during.values()), during
    assert not any(held.values()), held


def test_a_worker_fingerprints_the_notebooks_it_is_asked_to(submitted, tls, tmp_path):
    """A task marked `fingerprint` (a large class's: similarity.fingerprinted_on_workers) comes
    back from a `dask worker` with the similarity report's fingerprints of its notebook, the same
    the client would take; a task not marked comes back without; neither is graded otherwise."""
    from autograder.grade.results import Task
    from autograder.report import similarity

    assignment = ASSIGNMENTS[0]
    paths = sorted(submitted.glob(f"*/{assignment}/*.ipynb"))[:2]
    tasks = [Task(path.parent.parent.name, assignment, path, []) for path in paths]
    tasks[0] = tasks[0]._replace(fingerprint=True)
    with dask_cluster(
        tmp_path, [[]], WORKER_ENVIRONMENT, tls=tls[CLUSTER], client_tls=tls[GRADER]
    ) as address:
        security = remote_security(*tls[GRADER])
        with GradingCluster(1, Limits(timeout=20), SECRET, address, security=security) as cluster:
            graded = cluster.grade(tasks, 120.0, False)
            try:
                results = {result.student: result for result in graded}
            finally:
                graded.close()
    marked, unmarked = (results[task.student] for task in tasks)
    assert marked.status == unmarked.status == "graded", (marked, unmarked)
    assert marked.fingerprints == similarity.fingerprint_notebook(paths[0], assignment)
    assert marked.fingerprints is not None and len(marked.fingerprints.hashes) > 10
    assert unmarked.fingerprints is None
    assert "fingerprints" not in marked.to_dict()  # for the report: never journaled or written


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


def crash_on(student: str):
    """A worker plugin that ends the worker process (as the out-of-memory killer would) when it
    is given `student`'s notebook: a fault of the host, not of the notebook. Defined here, in a
    function, so that it is pickled by value (the workers cannot import this test module)."""
    from distributed import WorkerPlugin

    class CrashOn(WorkerPlugin):
        def setup(self, worker):
            import os

            from autograder.grade import notebook

            real = notebook.grade_notebook

            def grade_notebook(spec, graded, *arguments, **options):
                if graded == student:
                    os._exit(1)
                return real(spec, graded, *arguments, **options)

            notebook.grade_notebook = grade_notebook

    return CrashOn()


def test_a_worker_crash_is_graded_again_by_the_next_run(tls, tmp_path):
    """A notebook whose worker crashed twice gets an error row that says it is the grader's
    fault; the same command run again (the host fixed) grades it, and only it (on main the
    journal kept the error: the rerun graded nothing)."""
    from distributed import Client

    assignment = ASSIGNMENTS[0]
    honest = demo_class([assignment], broken=False)["full-marks"]
    submitted = write_class({"ada": honest, "victim": honest}, tmp_path / "submitted")
    out = tmp_path / "out"
    with dask_cluster(tmp_path, [[]], tls=tls[CLUSTER], client_tls=tls[GRADER]) as address:
        options = ("--scheduler", address, *tls_options(tls[GRADER]))
        with Client(address, security=remote_security(*tls[GRADER])) as client:
            client.register_plugin(crash_on("victim"), name="crash-on-victim")
            first = grade(submitted, out, *options)
            assert (out / "grades.csv").is_file(), first.stderr[-3000:]
            first_grades = (out / "grades.csv").read_text()
            client.unregister_worker_plugin("crash-on-victim")
            client.restart()  # the host is fixed: fresh workers, with the grader's real code
        second = grade(submitted, out, *options)
    assert first.returncode == 3, first.stderr[-3000:]
    victim = next(line for line in first_grades.splitlines() if line.startswith("victim,"))
    assert "crashed twice" in victim and "the next run grades it again" in victim, victim
    assert "grading 1 of 2 notebooks (1 already graded" in second.stderr, second.stderr[-3000:]
    assert "1 notebooks met a fault of the grader last time" in second.stderr
    assert second.returncode == 0, second.stderr[-3000:]
    grades = (out / "grades.csv").read_text()
    assert grades.count(",graded,") == 2 and "crashed" not in grades, grades


def test_local_workers_are_forks_of_a_template_that_imported_torch():
    """A local cluster's workers are forks of one template process (start_worker_template), not
    the client's children, and each has torch and the worker's side of grading imported before
    anything was asked of it; each ignores Ctrl-C (the client's to handle) and uses one BLAS
    thread, as a worker Dask's nanny spawns does."""

    def inside() -> dict:  # nested: pickled by value, the workers cannot import this module
        import os
        import signal
        import sys

        return {
            "parent": os.getppid(),
            "imported": {"torch", "autograder.grade.notebook"} <= set(sys.modules),
            "ctrl-c ignored": signal.getsignal(signal.SIGINT) == signal.SIG_IGN,
            "blas threads": os.environ.get("OMP_NUM_THREADS"),
        }

    with connect(2) as client:
        found = list(client.run(inside).values())
    parents = {answer["parent"] for answer in found}
    assert len(found) == 2 and len(parents) == 1 and os.getpid() not in parents, found
    for answer in found:
        assert answer["imported"] and answer["ctrl-c ignored"], answer
        assert answer["blas threads"] == "1", answer
