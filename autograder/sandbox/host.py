"""The grader's side of the sandbox: start the locked-down process, send it cells and calls, and
decode what comes back strictly (plain numbers, strings and numeric numpy arrays only).

The process itself is ``autograder/sandbox/child.py``; see its docstring for the layers
(namespaces, rlimits, Landlock, seccomp). Nothing here unpickles or evaluates learner data.

The messages and the strict codec of their values are autograder/sandbox/wire.py. What is left is
long because ``Sandbox`` is one process's whole conversation: cells, calls, the grader's
callbacks, and a deadline and a message for every way it can fail.
"""

import atexit
import functools
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from autograder import environment as environment_names
from autograder.sandbox.wire import (
    MAX_BLOBS,
    MAX_HEADER,
    ProtocolError,
    array_shapes,
    callback_problem,
    decode,
    encode,
    read_exactly,
    send_frame,
)

CHILD_SCRIPT = Path(__file__).with_name("child.py")
# What one cell's printing may bring back (characters); the rest is only counted.
MAX_CELL_OUTPUT_CHARS = 4000
OUTPUT_STREAMS = ("stdout", "stderr")
# What one side may write before the other reads (the kernel caps it at net.core.wmem_max).
SOCKET_BUFFER_BYTES = 4 << 20


class CellRun(NamedTuple):
    """One cell run in the sandbox: its position among the cells sent, its error ("Type:
    message") or None, what it printed as ("stdout" | "stderr", text) pieces, at most
    MAX_CELL_OUTPUT_CHARS characters in all, and how many characters were left out."""

    index: int
    error: str | None
    streams: tuple[tuple[str, str], ...] = ()
    omitted: int = 0


def _cell_output(header: dict) -> tuple[tuple[tuple[str, str], ...], int]:
    """The output a "cell" message reports, checked as untrusted data: well-formed pieces only,
    cut to MAX_CELL_OUTPUT_CHARS, and what is cut counted."""
    pieces, omitted = header.get("output"), header.get("omitted")
    omitted = omitted if type(omitted) is int and omitted > 0 else 0
    streams, room = [], MAX_CELL_OUTPUT_CHARS
    for piece in pieces if type(pieces) is list else []:
        if type(piece) is not list or len(piece) != 2:
            continue
        name, text = piece
        if name not in OUTPUT_STREAMS or type(text) is not str or not text:
            continue
        kept = text[:room]
        omitted += len(text) - len(kept)
        room -= len(kept)
        if kept:
            streams.append((name, kept))
    return tuple(streams), omitted


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot be built on this platform: grading must not go ahead."""


class SandboxDied(Exception):
    """The learner's process ended or ran out of time; `message` says how. `index` is the cell
    that was running, when one was (None while waiting for anything else)."""

    index: int | None = None


@dataclass(frozen=True)
class Limits:
    timeout: float = 30.0  # wall-clock seconds for each cell and each call
    cpu_seconds: int = 120  # CPU time of one sandbox process
    memory_bytes: int = 2 << 30  # address space
    file_bytes: int = 16 << 20  # largest file it may write
    tmpfs_bytes: int = 64 << 20  # its private /tmp
    max_answer_bytes: int = 64 << 20  # largest message it may send back (arrays included)


@functools.lru_cache(maxsize=1)
def interpreter() -> tuple[str, Path]:
    """A Python binary of this version that the current user may run, and its standard library.

    A venv's ``python`` is a symlink that another user may not be allowed to follow, so the
    interpreter binary itself is preferred; ``-I -S`` keeps any venv out of the child, which adds
    numpy's folder to its path itself."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [
        os.path.realpath("/proc/self/exe"),
        sys.executable,
        getattr(sys, "_base_executable", None),
        shutil.which(f"python{version}"),
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            try:
                result = subprocess.run(
                    [
                        candidate,
                        "-I",
                        "-S",
                        "-c",
                        "import sys, sysconfig; print('%d.%d' % sys.version_info[:2]); "
                        "print(sysconfig.get_paths()['stdlib'])",
                    ],
                    capture_output=True,
                    text=True,
                    timeout=30,
                    stdin=subprocess.DEVNULL,
                    cwd="/",
                )
            except (OSError, subprocess.SubprocessError):
                continue
            lines = result.stdout.split()
            if result.returncode == 0 and len(lines) == 2 and lines[0] == version:
                return candidate, Path(lines[1])
    raise SandboxUnavailable(
        f"no Python {version} interpreter that this user may run was found for the sandbox"
    )


@functools.lru_cache(maxsize=1)  # ~200 folders: listed once per process, not once per notebook
def _read_only_paths() -> tuple:
    """The Python standard library (without its site-packages) and numpy, read-only."""
    paths = []
    stdlib = interpreter()[1]
    for entry in sorted(stdlib.iterdir()):
        if entry.name not in {"site-packages", "dist-packages"}:
            paths.append((str(entry), "tree"))
    zipped = stdlib.parent / f"python{sys.version_info.major}{sys.version_info.minor}.zip"
    paths.append((str(zipped), "tree"))
    # numpy's own folders only: no right to list site-packages, so the learner cannot see what
    # else is installed (numpy is imported before Landlock applies, so its finder needs none).
    site_packages = Path(np.__file__).resolve().parent.parent
    for name in ("numpy", "numpy.libs"):
        paths.append((str(site_packages / name), "tree"))
    return tuple(paths)


@functools.lru_cache(maxsize=1)
def _scratch_directory() -> str:
    """Where the learner's private tmpfs is mounted: over /tmp, hiding the host's, unless the Python
    install or numpy lives under /tmp (a virtual environment in a clone there), which the mount
    would hide too; then over /dev/shm, and Landlock alone keeps the host's /tmp out of reach."""
    under_tmp = any(Path(path).resolve().is_relative_to("/tmp") for path, _ in _read_only_paths())
    scratch = "/dev/shm" if under_tmp else "/tmp"
    if not os.path.isdir(scratch):
        raise SandboxUnavailable(f"no {scratch} to mount the learner's private scratch space on")
    return scratch


def describe_exit(returncode) -> str:
    if returncode is None:
        return "it was stopped"
    if returncode < 0:
        name = (
            signal.Signals(-returncode).name
            if -returncode in signal.Signals._value2member_map_
            else str(-returncode)
        )
        reasons = {
            "SIGXCPU": "it used up its CPU time",
            "SIGKILL": "it was killed",
            "SIGSEGV": "it crashed (segmentation fault)",
            "SIGXFSZ": "it wrote a file larger than allowed",
            "SIGSYS": "it made a forbidden system call",
            "SIGABRT": "it aborted",
        }
        return reasons.get(name, f"it was ended by {name}")
    return f"it exited with code {returncode}"


class TemplateGone(Exception):
    """The template process ended or stopped answering."""


class SandboxTemplate:
    """The prepared process that forks each learner's process (child.py's ``run_template``):
    started once per grading process, with the same interpreter, environment and flags a learner's
    process had when it was started fresh, so a fork of it holds nothing else. It never runs
    learner code; the grader asks it over a control socket to start, poll and end children."""

    def __init__(self):
        # SEQPACKET: one request, one reply, each a whole message, a socket passed along.
        control, template_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        scratch = _scratch_directory()
        config = {
            "control_fd": template_end.fileno(),
            "scratch": scratch,
            "output_chars": MAX_CELL_OUTPUT_CHARS,
            "site_packages": str(Path(np.__file__).resolve().parent.parent),
            "read_only": list(_read_only_paths()),
        }
        environment = {
            "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "TMPDIR": scratch,
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }
        debug = os.environ.get(environment_names.SANDBOX_DEBUG)
        try:
            self.process = subprocess.Popen(
                [interpreter()[0], "-I", "-S", str(CHILD_SCRIPT), json.dumps(config)],
                pass_fds=[template_end.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=open(debug, "ab") if debug else subprocess.DEVNULL,
                start_new_session=True,
                env=environment,
                cwd="/",
            )
        except OSError as error:
            control.close()
            raise SandboxUnavailable(f"cannot start the sandbox process: {error}") from None
        finally:
            template_end.close()
        self.control, self.owner, self.lock = control, os.getpid(), threading.Lock()
        try:
            ready = self._ask(None, timeout=60.0)  # imports numpy: slow on a loaded machine
        except TemplateGone:
            self.close()
            raise SandboxUnavailable("the sandbox's template process did not start") from None
        if ready.get("op") != "ready":
            self.close()
            raise SandboxUnavailable(
                f"the sandbox's template process did not start: {ready.get('message')}"
            )

    def alive(self) -> bool:
        return self.owner == os.getpid() and self.process.poll() is None

    def _ask(self, request: dict | None, fds=(), timeout: float = 30.0) -> dict:
        with self.lock:
            try:
                self.control.settimeout(timeout)
                if request is not None:
                    socket.send_fds(self.control, [json.dumps(request).encode()], list(fds))
                reply = self.control.recv(1 << 16)
                answer = json.loads(reply) if reply else None
            except (OSError, TimeoutError, ValueError):
                answer = None
        if type(answer) is not dict:
            self.close()
            raise TemplateGone
        return answer

    def start(self, channel: socket.socket, config: dict) -> int:
        """Fork a learner's process that talks over `channel` (the template passes it on and keeps
        no copy); its pid."""
        pid = self._ask({"op": "start", "config": config}, [channel.fileno()]).get("pid")
        if type(pid) is not int or pid <= 0:
            self.close()
            raise TemplateGone
        return pid

    def exit_code(self, pid: int, *, end: bool) -> int | None:
        """The child's exit code as subprocess gives it (negative: the signal), None while it runs
        or when it is unknown; with `end`, it is killed first if it still runs."""
        try:
            code = self._ask({"op": "end" if end else "poll", "pid": pid}).get("code")
        except TemplateGone:  # the template is gone, and its children with it
            return None
        return code if type(code) is int else None

    def close(self) -> None:
        """Stop the template; its children die with it (PR_SET_PDEATHSIG)."""
        self.control.close()
        if self.owner == os.getpid() and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


_template: SandboxTemplate | None = None
_template_lock = threading.Lock()


def running_template(*, restart: bool = False) -> SandboxTemplate:
    """This process's template, started on first use and again if it has died."""
    global _template
    with _template_lock:
        if restart or _template is None or not _template.alive():
            if _template is not None and _template.owner == os.getpid():
                _template.close()
            _template = SandboxTemplate()
        return _template


@atexit.register
def _stop_template_at_exit() -> None:
    """This process's template stopped and waited for when the process exits normally: it would
    die with it anyway (PR_SET_PDEATHSIG), but unwaited, its socket open (ResourceWarnings at the
    end of every test run)."""
    if _template is not None and _template.owner == os.getpid():
        _template.close()


def _fork_learner(channel: socket.socket, config: dict) -> tuple[SandboxTemplate, int]:
    """A learner's process forked by this process's template, with a new template if the current
    one died since its last use."""
    for restart in (False, True):
        template = running_template(restart=restart)
        try:
            return template, template.start(channel, config)
        except TemplateGone:
            continue
    raise SandboxUnavailable("the sandbox's template process stopped answering")


class LearnerProcess:
    """A learner's process forked by the template, seen as much like a subprocess.Popen as the
    grader needs: its pid, poll(), and kill() that also waits for it."""

    def __init__(self, template: SandboxTemplate, pid: int):
        self.template, self.pid = template, pid
        self.returncode: int | None = None
        self.ended = False

    def poll(self) -> int | None:
        if not self.ended:
            self.returncode = self.template.exit_code(self.pid, end=False)
            self.ended = self.returncode is not None
        return self.returncode

    def kill(self) -> None:
        if not self.ended:
            self.returncode = self.template.exit_code(self.pid, end=True)
            self.ended = True


class Sandbox:
    """One locked-down process holding one learner's namespace, forked by this process's
    template."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.seq = 0
        self.peak_bytes: int | None = None  # of the last call made with measure_memory
        self.grader_messages: set[str] = (
            set()
        )  # what the grader's own functions said to the learner's
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        for end in (parent, child):  # a check's arrays in one go, not in 200 KiB turns
            end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER_BYTES)
        config = {
            "tmpfs_bytes": limits.tmpfs_bytes,
            "limits": {
                "cpu_seconds": int(limits.cpu_seconds),
                "memory_bytes": int(limits.memory_bytes),
                "file_bytes": int(limits.file_bytes),
            },
        }
        try:
            template, pid = _fork_learner(child, config)
        except SandboxUnavailable:
            parent.close()
            raise
        finally:
            child.close()  # the learner's process holds its end; the grader keeps none
        self.process = LearnerProcess(template, pid)
        self.channel = parent
        try:
            hello, _ = self._receive(*self._deadline(None, minimum=20.0))
        except SandboxDied as died:
            raise SandboxUnavailable(f"the sandbox process did not start: {died}") from None
        if hello.get("op") == "failed":
            self.kill()
            raise SandboxUnavailable(
                f"cannot build the sandbox at step {hello.get('stage')}: {hello.get('message')}"
            )
        if hello.get("op") != "hello":
            self.kill()
            raise SandboxUnavailable("the sandbox process did not start properly")
        self.info = hello

    # -- messages ------------------------------------------------------------------------------
    def _deadline(self, budget_end: float | None, minimum: float = 0.0) -> tuple[float, str]:
        """When an operation must be answered by, and what to say if it is not: the per-cell
        (per-call)
        timeout, cut short by the notebook's own deadline `budget_end` (time.monotonic())."""
        timeout = max(self.limits.timeout, minimum)
        until = time.monotonic() + timeout
        if budget_end is not None and budget_end < until:
            return budget_end, "the notebook used up its time budget"
        return until, f"it did not finish within {timeout:g} s"

    def _send(self, header: dict, blobs=()) -> int:
        self.seq += 1
        try:
            deadline = time.monotonic() + self.limits.timeout
            send_frame(self.channel, dict(header, seq=self.seq), blobs, deadline)
        except (OSError, TimeoutError):
            raise self._died("it stopped reading") from None
        return self.seq

    def _receive(self, deadline: float, late: str, seq: int | None = None):
        try:
            header_size, count = struct.unpack(">II", read_exactly(self.channel, 8, deadline))
            if header_size > MAX_HEADER or count > MAX_BLOBS:
                raise ProtocolError("answer too large")
            header = json.loads(read_exactly(self.channel, header_size, deadline))
            blobs, total = [], 0
            for _ in range(count):
                (size,) = struct.unpack(">Q", read_exactly(self.channel, 8, deadline))
                total += size
                if total > self.limits.max_answer_bytes:
                    raise ProtocolError(
                        f"answer larger than {self.limits.max_answer_bytes >> 20} MiB"
                    )
                blobs.append(read_exactly(self.channel, size, deadline))
        except TimeoutError:
            raise self._died(late) from None
        except (EOFError, OSError):
            raise self._died(None) from None
        except (ProtocolError, ValueError, RecursionError) as error:
            raise self._died(f"it sent a malformed answer ({error})") from None
        if type(header) is not dict or (seq is not None and header.get("seq") != seq):
            raise self._died("it sent an answer out of turn")
        return header, blobs

    def _died(self, reason: str | None) -> SandboxDied:
        self.kill()
        return SandboxDied(reason or describe_exit(self.process.returncode))

    # -- operations ----------------------------------------------------------------------------
    def run_cells(self, cells: list[str], budget_end: float | None = None):
        """Execute the cells in order; yield (index, error message or None) as each finishes
        (execute() also gives what each printed)."""
        for run in self.execute(cells, budget_end):
            yield run.index, run.error

    def execute(self, cells: list[str], budget_end: float | None = None):
        """Execute the cells in order; yield a CellRun as each finishes. Raises SandboxDied (its
        `.index` is the cell) if a cell ends the process or runs too long. Each cell has the
        per-cell timeout, and none runs past `budget_end`."""
        seq = self._send({"op": "run", "cells": cells})
        for index in range(len(cells)):
            try:
                header, _ = self._receive(*self._deadline(budget_end), seq)
            except SandboxDied as died:
                died.index = index
                raise
            if header.get("op") != "cell" or header.get("index") != index:
                died = self._died("it sent an answer out of turn")
                died.index = index
                raise died
            error = header.get("error")
            streams, omitted = _cell_output(header)
            yield CellRun(index, str(error)[:500] if error is not None else None, streams, omitted)
        header, _ = self._receive(*self._deadline(budget_end), seq)  # index None: no cell running
        if header.get("op") != "ready":
            raise self._died("it sent an answer out of turn")

    def lookup(self, names: list[str], budget_end: float | None = None) -> dict:
        """name -> ("callable", None) | ("missing", None) | ("value", plain data)."""
        seq = self._send({"op": "get", "names": list(names)})
        header, blobs = self._receive(*self._deadline(budget_end), seq)
        values = header.get("values")
        if header.get("op") != "names" or type(values) is not dict:
            raise self._died("it sent an answer out of turn")
        found, used = {}, set()
        for name in names:
            entry = values.get(name)
            if type(entry) is not dict or entry.get("kind") not in ("callable", "missing", "value"):
                raise self._died("it sent a malformed answer")
            try:
                value = (
                    decode(entry.get("value"), blobs, used) if entry["kind"] == "value" else None
                )
            except ProtocolError as error:
                raise self._died(f"it sent a malformed answer ({error})") from None
            found[name] = (entry["kind"], value)
        return found

    def data_globals(self, name: str, budget_end: float | None = None) -> list[str]:
        """The notebook's data globals (arrays, numbers) that the learner's function `name`
        reads."""
        seq = self._send({"op": "reads", "name": name})
        header, _ = self._receive(*self._deadline(budget_end), seq)
        names = header.get("names")
        if (
            header.get("op") != "reads"
            or type(names) is not list
            or not all(type(n) is str for n in names)
        ):
            raise self._died("it sent an answer out of turn")
        return names

    def call(
        self,
        name: str,
        args: tuple,
        kwargs: dict,
        budget_end: float | None = None,
        *,
        measure_memory: bool = False,
    ):
        """Call the learner's function; returns ("result", value, effects) or ("raised", (type,
        message), None). `effects` is ({positions and keywords of the arguments the call changed},
        whether a repeated call returned arrays sharing memory with it): checked against the
        arguments sent, so it names nothing the grader did not send. With `measure_memory`, the
        child measures the call's peak allocation with tracemalloc and `self.peak_bytes` holds it
        afterwards (None when it could not be measured).
        Grader functions among the arguments run here, in the grader, when the learner calls them,
        on arrays of the shapes this call passed in only. One deadline covers the whole call, the
        callbacks included."""
        blobs, callbacks = [], []
        header = {
            "op": "call",
            "name": name,
            "args": encode(tuple(args), blobs, callbacks),
            "kwargs": encode(dict(kwargs), blobs, callbacks),
            "measure_memory": measure_memory,
        }
        self.peak_bytes = None
        shapes = set()
        array_shapes((args, kwargs), shapes)
        deadline, late = self._deadline(budget_end)
        seq = self._send(header, blobs)
        while True:
            reply, answer_blobs = self._receive(deadline, late)
            if reply.get("op") != "callback":
                break
            self._run_callback(reply, answer_blobs, callbacks, shapes)
        if reply.get("seq") != seq:
            raise self._died("it sent an answer out of turn")
        if reply.get("op") == "result":
            try:
                value = decode(reply.get("value"), answer_blobs)
            except ProtocolError as error:
                raise self._died(f"it sent a malformed answer ({error})") from None
            changed = reply.get("changed")
            sent = set(range(len(args))) | set(kwargs)
            if type(changed) is not list or not all(
                type(key) in (int, str) and key in sent for key in changed
            ):
                raise self._died("it sent a malformed answer")
            peak = reply.get("peak_bytes")
            self.peak_bytes = peak if measure_memory and type(peak) is int and peak >= 0 else None
            return "result", value, (frozenset(changed), reply.get("shared") is True)
        if reply.get("op") == "raised":
            message = str(reply.get("message"))[:500]
            return "raised", (str(reply.get("type"))[:100], message), None
        raise self._died("it sent an answer out of turn")

    def _run_callback(self, request: dict, blobs: list, callbacks: list, shapes: set) -> None:
        identifier = request.get("id")
        if type(identifier) is not int or not 0 <= identifier < len(callbacks):
            raise self._died("it sent a malformed request")
        try:
            used = set()
            args, kwargs = (
                decode(request.get("args"), blobs, used),
                decode(request.get("kwargs"), blobs, used),
            )
        except ProtocolError as error:
            raise self._died(f"it sent a malformed request ({error})") from None
        if (
            type(args) is not tuple
            or type(kwargs) is not dict
            or not all(type(key) is str for key in kwargs)
        ):
            raise self._died("it sent a malformed request")
        out = []
        # The grader's function costs what its inputs' sizes cost: only the shapes it handed out.
        any_shape = getattr(callbacks[identifier], "sandbox_any_shape", False) is True
        problem = callback_problem((args, kwargs), shapes, any_shape)
        try:
            if problem is not None:
                raise ValueError(f"the grader's function was called with {problem}")
            value = callbacks[identifier](*args, **kwargs)
            header = {"op": "callback-result", "value": encode(value, out)}
        except Exception as error:  # the grader's function rejected the learner's arguments
            out = []
            header = {"op": "callback-raised", "message": f"{type(error).__name__}: {error}"[:500]}
            self.grader_messages.add(header["message"])
        try:
            send_frame(self.channel, header, out, time.monotonic() + self.limits.timeout)
        except (OSError, TimeoutError):
            raise self._died(None) from None

    def kill(self) -> None:
        self.process.kill()
        self.channel.close()


def probe(limits: Limits = Limits()) -> dict:
    """Build one sandbox and check that its walls hold; raise SandboxUnavailable if they do not."""
    sandbox = Sandbox(limits)
    try:
        checks = {
            "network": "import socket\ntry:\n    socket.create_connection(('127.0.0.1', 9), "
            "timeout=1)\n    raise SystemExit('network reachable')\nexcept "
            "OSError:\n    pass",
            "filesystem": f"try:\n    open({str(CHILD_SCRIPT)!r}).read()\n    raise "
            "SystemExit('grader files readable')\nexcept OSError:\n    pass",
            "fork": "import os\ntry:\n    pid = os.fork()\n    if pid == 0:\n        "
            "os._exit(0)\n    raise SystemExit('fork allowed')\nexcept OSError:\n    pass",
            # One task per sandbox, for root too (the kernel exempts uid 0 from RLIMIT_NPROC).
            "threads": "import threading, time\ntry:\n    threading.Thread(target=time.sleep, "
            "args=(1,)).start()\n"
            "    raise SystemExit('threads allowed')\nexcept RuntimeError:\n    pass",
        }
        for (name, _), (index, error) in zip(
            checks.items(), sandbox.run_cells(list(checks.values()))
        ):
            if error is not None:
                raise SandboxUnavailable(f"the sandbox does not hold ({name}): {error}")
        return dict(sandbox.info)
    except SandboxDied as died:
        raise SandboxUnavailable(f"the sandbox probe failed: {died}") from None
    finally:
        sandbox.kill()
