"""Issue 16, findings 2, 3, 4 and 8: one notebook never holds a worker past its budget, never
blows up the trusted worker's memory, never starts threads, and a worker's death costs only the
notebook it held. Graded through grade_notebook, the Sandbox and grade_on_cluster directly (no
full class), with `--timeout 1` figures: a 20 s budget per notebook."""

import copy
import json
import os
import pwd
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import hostile_class
import nbformat
import numpy as np
import pytest
from distributed import WorkerPlugin

from autograder import REPO_ROOT, command_argv, course
from autograder.course import notebook_format
from autograder.grade import cluster
from autograder.grade.assignment_spec import AssignmentSpec
from autograder.grade.cell_plan import plan_cells
from autograder.grade.learner_session import MAX_KEPT_RESULT_BYTES, LearnerSession
from autograder.grade.notebook import grade_notebook
from autograder.sandbox.host import Limits, Sandbox, SandboxDied, _scratch_directory
from autograder.sandbox.wire import ProtocolError, decode

pytestmark = pytest.mark.slow

TIMEOUT, BUDGET = 1.0, 20.0  # `--timeout 1` and its default budget, 20 x timeout
SLACK = 8.0  # "its budget plus a few seconds", on a shared, busy machine


@pytest.fixture(autouse=True)
def grading_secret(monkeypatch):
    monkeypatch.setenv("MHA_GRADING_SECRET", "budgets-and-memory")


def graded(
    assignment: str,
    notebook,
    student: str = "mallory",
    timeout: float = TIMEOUT,
    budget: float = BUDGET,
):
    """(result, wall-clock seconds) of grading `notebook` as the grading command would."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / course.notebook_name(assignment)
        nbformat.write(notebook, path)
        spec = AssignmentSpec(assignment)  # built once per worker, not per notebook: not timed
        started = time.monotonic()
        result = grade_notebook(spec, student, path, Limits(timeout=timeout), budget)
        return result, time.monotonic() - started


def solution(assignment: str):
    return hostile_class.strip_solution_markers(
        course.read_notebook(course.solution_notebook(assignment))
    )


def with_extra_cells(notebook, sources: list[str]):
    notebook = copy.deepcopy(notebook)
    notebook.cells[1:1] = [nbformat.v4.new_code_cell(source) for source in sources]
    return notebook


def with_answer(assignment: str, grade_id: str, source: str):
    return hostile_class.with_cell(solution(assignment), grade_id, source)


# ------------------------------------------------------------------------------------------------
# Finding 2: one wall-clock deadline per notebook


def test_sixty_sleeping_cells_stop_at_the_budget():
    """Do 60 cells of time.sleep(0.9) (each under the 1 s timeout) stop at the 20 s budget?"""
    notebook = with_extra_cells(
        solution(hostile_class.ASSIGNMENT), ["import time\ntime.sleep(0.9)"] * 60
    )
    result, seconds = graded(hostile_class.ASSIGNMENT, notebook)
    assert seconds < BUDGET + SLACK, seconds
    assert result.score < result.max_score
    assert "time budget" in result.message, result.message


def test_a_callback_does_not_reset_the_call_deadline():
    """Does a learner who keeps calling the grader's function back still stop at the call's
    timeout?"""
    sandbox = Sandbox(Limits(timeout=TIMEOUT))
    calls = []
    try:
        list(
            sandbox.run_cells(
                [
                    "import time\ndef stall(grader):\n    for _ in range(6):\n"
                    "        time.sleep(0.5)\n        grader()\n    return 1"
                ]
            )
        )
        started = time.monotonic()
        with pytest.raises(SandboxDied, match="did not finish within 1 s"):
            sandbox.call("stall", (lambda: calls.append(1),), {})
        assert time.monotonic() - started < TIMEOUT + 1.0
    finally:
        sandbox.kill()
    assert len(calls) <= 2


def test_callback_sleeps_in_exercise_06_stop_at_the_budget():
    """Exercise 06: an encoder layer calling `attention`, sleeping 0.9 s between calls (96 s
    before)."""
    source = textwrap.dedent("""
        import time
        def transformer_encoder_layer(x, params, num_heads, attention, eps=1e-5, norm=None):
            p = params
            while True:
                time.sleep(0.9)
                attention(x, num_heads, p["self_attn.in_proj_weight"], p["self_attn.in_proj_bias"],
                          p["self_attn.out_proj.weight"], p["self_attn.out_proj.bias"])
        """)
    result, seconds = graded(
        "06-why-multi-head", with_answer("06-why-multi-head", "encoder-layer", source)
    )
    assert seconds < BUDGET + SLACK, seconds
    failed = [test for test in result.tests if not test.passed]
    assert [test.grade_id for test in failed] == ["test-encoder-layer"], result.message


def test_ipython_lines_cost_the_trusted_worker_little():
    """Do 12 cells of 501 `!ls` lines, and one 240 KB cell of them, cost the trusted process little
    CPU?"""
    spec = AssignmentSpec(hostile_class.ASSIGNMENT)
    cells = [nbformat.v4.new_code_cell("!ls\n" * 501) for _ in range(12)]
    cells.append(nbformat.v4.new_code_cell("!ls\n" * 60_000))
    cells.append(
        nbformat.v4.new_code_cell("%matplotlib inline\nx = !ls\nif True:\n    !echo hi\ny = 7 % 3")
    )
    started = time.process_time()
    run, _ = plan_cells(spec, cells)
    assert time.process_time() - started < 2.0  # 80 s and 346 s before
    learners = [source for _, source, mine in run if mine]
    assert all(compile(source, "<cell>", "exec") for source in learners)
    assert "y = 7 % 3" in learners[-1]


# ------------------------------------------------------------------------------------------------
# Finding 3: bounded memory in the trusted worker; a worker's death costs one notebook


def test_decode_refuses_a_blob_referenced_twice_and_copies_none():
    """Is one 8 MiB blob referenced 100 times refused, instead of decoded into 800 MiB?"""
    blob = bytearray(8 << 20)
    reference = {"array": 0, "dtype": "<f8", "shape": [1 << 20]}
    with pytest.raises(ProtocolError, match="referenced twice"):
        decode({"list": [reference] * 100}, [blob])
    array = decode(reference, [blob])
    assert array.flags.writeable and np.shares_memory(array, np.frombuffer(blob, dtype=np.uint8))


@pytest.mark.parametrize(
    "value, blob",
    [
        ({"array": 0, "dtype": "<f3", "shape": [1]}, bytearray(8)),  # not a dtype
        ({"scalar": 0, "dtype": "<c3"}, bytearray(8)),
        (
            {"array": 0, "dtype": "<f8", "shape": [2**62, 0]},
            bytearray(),
        ),  # a dimension of 2**62, no bytes
        ({"array": 0, "dtype": "<f8", "shape": [2**64, 0]}, bytearray()),  # past int64
    ],
)
def test_every_decode_error_is_a_protocol_error(value, blob):
    """Does every malformed value become a ProtocolError (a clean message), never a raw TypeError
    or ValueError?"""
    with pytest.raises(ProtocolError):
        decode(value, [blob])


def test_call_results_are_kept_for_the_current_test_only_and_bounded():
    """Are call results kept for one test only, and no more than MAX_KEPT_RESULT_BYTES of them?"""
    cells = [
        ("answer", "import numpy as np\ndef big():\n    return np.ones(6_000_000)", True)
    ]  # 48 MB
    session = LearnerSession(cells, Limits(timeout=20), time.monotonic() + 60)
    try:
        for _ in range(3):
            session.call("big", (), {})
        kept = [call for call in session.calls if call.ok]
        assert 0 < len(kept) < 3 and session.kept_bytes <= MAX_KEPT_RESULT_BYTES
        assert all(call.result is None for call in session.calls if not call.ok)
        session.new_test()
        assert session.calls == [] and session.kept_bytes == 0
    finally:
        session.close()


def test_callbacks_run_on_the_shapes_the_check_gave_only():
    """Is the grader's callback refused an argument of a shape the check never passed (memory ~
    L^2)?"""
    seen = []
    sandbox = Sandbox(Limits(timeout=20))
    try:
        list(
            sandbox.run_cells(
                [
                    "import numpy as np\ndef layer(x, attention):\n"
                    "    same = attention(x)\n    return attention(np.zeros((1, 6000, 1)))"
                ]
            )
        )
        record = lambda a: seen.append(a.shape) or a  # noqa: E731
        kind, (error_type, message), _ = sandbox.call("layer", (np.ones((2, 3, 4)), record), {})
    finally:
        sandbox.kill()
    assert seen == [(2, 3, 4)]
    assert kind == "raised" and "shape (1, 6000, 1)" in message, message


def test_exercise_06_large_callback_keeps_the_worker_small():
    """Does a (1, 6000, 1) argument to exercise 06's `attention` leave the worker's peak RSS
    bounded?"""
    source = textwrap.dedent("""
        import numpy as np
        def transformer_encoder_layer(x, params, num_heads, attention, eps=1e-5, norm=None):
            p = params
            # not the visible test: the hidden check's `attention`, on a big x
            if x.shape != (3, 4, 6):
                x = np.zeros((1, 6000, x.shape[-1]))
            attended = attention(x, num_heads,
                                 p["self_attn.in_proj_weight"], p["self_attn.in_proj_bias"],
                                 p["self_attn.out_proj.weight"], p["self_attn.out_proj.bias"])
            h = layer_norm(x + attended, p["norm1.weight"], p["norm1.bias"], eps)
            hidden = np.maximum(h @ p["linear1.weight"].T + p["linear1.bias"], 0.0)
            out = h + hidden @ p["linear2.weight"].T + p["linear2.bias"]
            return layer_norm(out, p["norm2.weight"], p["norm2.bias"], eps)
        """)
    script = textwrap.dedent(f"""
        import resource, sys, nbformat, pickle
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        import test_budgets_and_memory as here
        notebook = here.with_answer("06-why-multi-head", "encoder-layer", {source!r})
        # warm
        here.graded("06-why-multi-head", here.solution("06-why-multi-head"), timeout=20, budget=200)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result, seconds = here.graded("06-why-multi-head", notebook, timeout=20, budget=200)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(after - before, result.message)
        """)
    run = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO_ROOT,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
    )
    assert run.returncode == 0, run.stderr[-2000:]
    growth_kib, message = run.stdout.split(" ", 1)
    assert int(growth_kib) < 200 << 10, (growth_kib, message)  # 1.1 GB before
    tests = len(notebook_format.graded_tests(solution("06-why-multi-head")))
    # the answer fails the encoder layer's test only, on the hidden check's big x
    assert "test-encoder-layer" in message and f"{tests - 1} of {tests} tests passed" in message, (
        message
    )
    assert "TypeError" not in message, message


class FaultsOfTheHost(WorkerPlugin):
    """What a host can do to a grading worker, whatever the learner's code (which the sandbox keeps
    away from it): installed on real dask workers, it makes grading `killer` end the worker process
    (as the out-of-memory killer would), `hog` grow it by 2 GiB, and `stuck` hold it for 60 s."""

    def setup(self, worker):
        from autograder.grade import notebook

        real = notebook.grade_notebook

        def grade_notebook(spec, student, *arguments):
            if student == "killer":
                os._exit(1)
            if student == "hog":
                hog = b"x" * (2 << 30)  # noqa: F841 - resident until the worker is stopped
                time.sleep(60)
            if student == "stuck":
                time.sleep(60)
            return real(spec, student, *arguments)

        notebook.grade_notebook = grade_notebook


def test_a_dying_worker_costs_only_the_notebook_it_held(tmp_path):
    """On two real dask workers, with one notebook that ends its worker (twice), one that grows it
    past MAX_WORKER_RSS and one that holds it past budget + grace: do the 3 others keep their
    grades?"""
    from distributed import Client, LocalCluster

    path = tmp_path / course.notebook_name(hostile_class.ASSIGNMENT)
    nbformat.write(solution(hostile_class.ASSIGNMENT), path)
    students = ["alice", "killer", "bob", "hog", "stuck", "carol"]
    tasks = [(student, hostile_class.ASSIGNMENT, path, []) for student in students]
    budget, grace, rss = 10.0, 3.0, 3 << 29  # a worker grading this notebook stays under 1.5 GiB
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            memory_limit=0,
            dashboard_address=None,
        ) as dask_cluster,
        Client(dask_cluster) as client,
    ):
        client.register_plugin(FaultsOfTheHost(), name="faults-of-the-host")
        started = time.monotonic()
        results = list(
            cluster.grade_on_cluster(
                tasks,
                2,
                Limits(timeout=5),
                budget,
                "budgets-and-memory",
                False,
                scheduler=dask_cluster.scheduler_address,
                grace_seconds=grace,
                max_worker_rss=rss,
            )
        )
        seconds = time.monotonic() - started
        client.wait_for_workers(2, timeout=300)  # the nannies replace every worker they lost
    by_student = {row.student: row for row in results}
    assert sorted(by_student) == sorted(students) and len(results) == len(students)
    for student in ("alice", "bob", "carol"):
        assert by_student[student].status == "graded", by_student[student]
        assert by_student[student].score == by_student[student].max_score, by_student[student]
    assert by_student["killer"].message.startswith(cluster.CRASHED_TWICE)
    assert by_student["killer"].retryable  # a fault of the grader: the next run grades it again
    assert "more than 1536 MiB of memory" in by_student["hog"].message, by_student["hog"]
    assert "held the grader for more than 13 s" in by_student["stuck"].message, by_student["stuck"]
    # The class completes: three worker restarts (torch imported again each time) on a busy
    # 2-core machine took 235 s once; a hang would not end at all.
    assert seconds < 600, seconds


# ------------------------------------------------------------------------------------------------
# Finding 4: no thread bomb, as root or not

THREAD_BOMB = (
    "import threading, time\nstarted = 0\ntry:\n    for _ in range(200):\n"
    "        threading.Thread(target=time.sleep, args=(5,)).start()\n        started += 1\n"
    "finally:\n    print(started)\n"
)
CHECK_THREADS = textwrap.dedent(f"""
    from autograder.sandbox.host import Limits, Sandbox
    sandboxes = [Sandbox(Limits(timeout=20)) for _ in range(2)]  # two at once, as with 2 workers
    try:
        for sandbox in sandboxes:
            errors = [error for _, error in sandbox.run_cells([{THREAD_BOMB!r}])]
            threads = sandbox.lookup(["started"])["started"][1]
            print(sandbox.info["uid"], threads, errors[0])
    finally:
        for sandbox in sandboxes:
            sandbox.kill()
    """)


def _run_as(user: list[str], script: str) -> str:
    """What `script` prints, run by this interpreter as `user` (a command prefix; [] for this
    user), with nothing of this process's environment."""
    run = subprocess.run(
        [*user, sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        cwd="/",
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT), "LANG": "C.UTF-8"},
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


def _thread_bomb_as(user: list[str]) -> list[str]:
    return _run_as(user, CHECK_THREADS).splitlines()


def test_thread_bomb_is_refused_as_the_current_user():
    """Can a learner's cell start threads (3,000 as root before)? Not one, with two sandboxes at
    once."""
    for line in _thread_bomb_as([]):
        uid, threads, error = line.split(" ", 2)
        assert (uid, threads) == (str(os.getuid()), "0") and "can't start new thread" in error, line


def test_thread_bomb_is_refused_as_an_unprivileged_user():
    """The same as an unprivileged user (RLIMIT_NPROC counts per user namespace: 2 sandboxes still
    start)."""
    if os.geteuid() != 0:
        pytest.skip(
            "switching to `nobody` needs root; the test above ran as this unprivileged user"
        )
    nobody = pwd.getpwnam("nobody")
    lines = _thread_bomb_as(
        ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups"]
    )
    for line in lines:
        uid, threads, error = line.split(" ", 2)
        assert (uid, threads) == (str(nobody.pw_uid), "0") and "can't start new thread" in error, (
            line
        )


# ------------------------------------------------------------------------------------------------
# Finding 8: a death while waiting for "ready"; Landlock and site-packages

FORGE_LAST_CELL = textwrap.dedent("""
    import json, os, socket, struct
    def _send(channel, header):
        data = json.dumps(header).encode()
        channel.sendall(struct.pack(">II", len(data), 0) + data)
    for fd in range(3, 64):
        try:
            channel = socket.socket(fileno=os.dup(fd))
        except OSError:
            continue
        # this very cell, "done"
        _send(channel, {"op": "cell", "seq": 1, "index": 1, "error": None})
        os._exit(0)  # and gone before "ready"
    """)


def test_a_death_before_ready_is_a_message_not_an_attribute_error():
    """Does a process that dies after its last cell (before "ready") get a message, not
    AttributeError?"""
    cells = [("answer", "def answer():\n    return 42", True), ("forger", FORGE_LAST_CELL, True)]
    session = LearnerSession(cells, Limits(timeout=20), time.monotonic() + 60)
    try:
        assert session.lookup(["answer"])["answer"][0] == "callable"
        assert session.call("answer", (), {}) == 42
    finally:
        session.close()
    assert any("forger" in event and "skipped" in event for event in session.events), session.events


def test_site_packages_cannot_be_listed_but_numpy_imports():
    """Landlock: numpy's folders only, so a learner cannot list what else is installed."""
    site_packages = str(Path(np.__file__).resolve().parent.parent)
    sandbox = Sandbox(Limits(timeout=20))
    try:
        errors = [
            error
            for _, error in sandbox.run_cells(
                [
                    f"import os\nos.listdir({site_packages!r})",
                    "import numpy as np, numpy.linalg, numpy.random\nnp.linalg.norm(np.ones(3))",
                ]
            )
        ]
    finally:
        sandbox.kill()
    assert errors[0] is not None and "Permission denied" in errors[0], errors
    assert errors[1] is None, errors


FORGED_CALLBACK = textwrap.dedent("""
    import json, os, socket, struct
    def forge(grader):
        header = {"op": "callback", "id": 0,
                  "args": {"tuple": [{"array": 0, "dtype": "<f3", "shape": [1]}]},
                  "kwargs": {"dict": []}}
        data = json.dumps(header).encode()
        for fd in range(3, 64):
            try:
                channel = socket.socket(fileno=os.dup(fd))
            except OSError:
                continue
            channel.sendall(struct.pack(">II", len(data), 1) + data + struct.pack(">Q", 3) + b"abc")
            return channel.recv(1 << 16)  # waits for the grader's answer to the forged request
    """)


def test_a_forged_callback_with_a_bad_dtype_ends_the_call_cleanly():
    """A callback request with dtype '<f3' (not a dtype): a clean SandboxDied, never a raw TypeError
    that would leave the sandbox waiting for an answer the grader never sends."""
    sandbox = Sandbox(Limits(timeout=20))
    try:
        list(sandbox.run_cells([FORGED_CALLBACK]))
        with pytest.raises(SandboxDied, match="malformed request"):
            sandbox.call("forge", (lambda *arguments: 0,), {})
        assert sandbox.process.poll() is not None  # stopped: nothing is left out of step
    finally:
        sandbox.kill()


# ------------------------------------------------------------------------------------------------
# Issue 22: memory the address-space limit does not count (memfds, shared memory)

MEMORY_LIMIT = 512 << 20
OUTSIDE_THE_ADDRESS_SPACE = textwrap.dedent("""
    import ctypes, os
    import numpy as np
    libc = ctypes.CDLL(None, use_errno=True)
    refused = {}

    def route(name, attempt):
        try:
            attempt()
        except OSError as error:
            refused[name] = str(error)

    def call(number, *arguments):  # a raw system call; OSError when it fails
        if libc.syscall(number, *arguments) < 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))

    # The attack of issue 22: memfds filled through write() (never mapped, so not counted), 16 MiB
    # each (the file-size limit), as many as there are file descriptors; then arrays to the limit.
    in_memfds = 0

    def memfds():
        global in_memfds
        for _ in range(56):
            descriptor = os.memfd_create("hog")
            os.write(descriptor, b"\\1" * (16 << 20))
            in_memfds += 16 << 20

    route("memfd_create", memfds)
    route("memfd_secret", lambda: call(447, 0))
    route("System V shared memory", lambda: call(29, 0, 16 << 20, 0o1000 | 0o600))
    route("System V message queue", lambda: call(68, 0, 0o1000 | 0o600))
    route("POSIX message queue", lambda: call(240, b"/hog", os.O_CREAT | os.O_RDWR, 0o600, None))
    route("/dev/shm", lambda: open("/dev/shm/hog", "wb").write(b"\\1" * (1 << 20)))
    arrays = []
    try:
        while True:
            arrays.append(np.ones(1 << 21))  # 16 MiB each
    except MemoryError:
        pass
    in_arrays = sum(array.nbytes for array in arrays)
""")
CHECK_MEMORY = textwrap.dedent(f"""
    import json
    from autograder.sandbox.host import Limits, Sandbox
    sandbox = Sandbox(Limits(timeout=60, memory_bytes={MEMORY_LIMIT}))
    try:
        errors = [error for _, error in sandbox.run_cells([{OUTSIDE_THE_ADDRESS_SPACE!r}])]
        found = sandbox.lookup(["in_memfds", "in_arrays", "refused"])
        print(json.dumps({{name: value for name, (_, value) in found.items()}} | {{
            "uid": sandbox.info["uid"], "errors": errors}}))
    finally:
        sandbox.kill()
    """)


@pytest.mark.parametrize("user", ["this user", "nobody"])
def test_memory_outside_the_address_space_is_refused(user):
    """Under a 512 MiB limit, does a learner hold no more than 512 MiB (arrays plus memfds)? Before,
    memfds added what the limit did not count (1.4 GiB of arrays and 0.9 GiB of memfds under
    2 GiB); every route to such memory (memfds, shared memory, message queues, /dev/shm) is
    refused now, as root and as `nobody`."""
    prefix = []
    if user == "nobody":
        if os.geteuid() != 0:
            pytest.skip("switching to `nobody` needs root; the test ran as this user above")
        nobody = pwd.getpwnam("nobody")
        prefix = ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}"]
        prefix.append("--clear-groups")
    held = json.loads(_run_as(prefix, CHECK_MEMORY))
    # The learner's private tmpfs is mounted over /dev/shm instead of /tmp when the Python install
    # lives under /tmp (autograder/sandbox/host.py): writing there is then allowed, and bounded by
    # that tmpfs's size.
    scratch_on_shm = _scratch_directory() == "/dev/shm"
    assert held["errors"] == [None], held
    assert held["in_memfds"] + held["in_arrays"] <= MEMORY_LIMIT, held
    assert held["in_arrays"] > MEMORY_LIMIT // 2, held  # the arrays alone still fit, as they should
    assert sorted(held["refused"]) == [
        *([] if scratch_on_shm else ["/dev/shm"]),
        "POSIX message queue",
        "System V message queue",
        "System V shared memory",
        "memfd_create",
        "memfd_secret",
    ], held


# ------------------------------------------------------------------------------------------------
# Issue 22: what one notebook makes the grader record is bounded


def test_ten_thousand_failing_cells_write_little(tmp_path):
    """A notebook of 10,000 cells that each raise a 500-character error (21 MB under OUT before):
    the first 20 errors are recorded, with a count of the rest, and OUT stays small."""
    from autograder.grade.results import MAX_LISTED, MAX_TEXT

    flood = with_extra_cells(
        solution(hostile_class.ASSIGNMENT), ["raise ValueError('x' * 500)"] * 10_000
    )
    submitted, out = tmp_path / "submitted", tmp_path / "out"
    hostile_class.write({"flood": flood, "honest": solution(hostile_class.ASSIGNMENT)}, submitted)
    run = subprocess.run(
        command_argv("grade", submitted, "--out", out, "--workers", "1", "--no-progress"),
        capture_output=True,
        text=True,
        timeout=900,
        cwd=REPO_ROOT,
        env=dict(os.environ, MHA_GRADING_SECRET="budgets-and-memory"),
    )
    assert run.returncode == 0, run.stderr[-3000:]
    flood = next(
        result
        for result in json.loads((out / "results.json").read_text())
        if result["student"] == "flood"
    )
    assert flood["score"] == flood["max_score"]  # the learner's cells raising costs no points
    assert len(flood["cell_errors"]) == MAX_LISTED
    assert all(len(error) <= MAX_TEXT for error in flood["cell_errors"].values())
    assert f"{10_000 - MAX_LISTED} more cells raised an error" in " ".join(flood["notes"])
    # What the grader wrote about the class, the copies of the notebooks and the gradebook aside
    # (the copies are the submissions themselves, which the size limit bounds, and the course's
    # own notebooks in source/ and release/, the same for any class).
    written = sum(
        path.stat().st_size
        for path in out.rglob("*")
        if path.is_file()
        and not {"autograded", "source", "release"} & set(path.relative_to(out).parts[:1])
        and path.name != "gradebook.db"
    )
    assert written < 200_000, written
