"""The locked-down processes that run a learner's code (started by autograder/sandbox/host.py).

This file is run as a script by a fresh interpreter (``python -I -S child.py CONFIG``), never
imported by the grader, so nothing of the grader's memory (solutions, the grading secret) is
inherited. That process is the *template*: it imports numpy and what the lock-down needs, once,
and then only forks, one child per notebook, when the grader asks (``run_template``). It never
reads a cell or a call; each child gets its own socket to the grader and keeps nothing of the
template's but that preparation: every other file descriptor is closed, its memory is a
copy-on-write copy (no shared mapping), and it dies with the template. Each child locks itself
down before it reads any learner code, exactly as a fresh process would:

1. new user, network, mount and IPC namespaces: no network at all, a small private tmpfs as its
   only writable folder, and no System V or POSIX IPC object that outlives it;
2. no capabilities and ``no_new_privs``;
3. resource limits: CPU time, address space (memory), open files, file size, and one process
   (RLIMIT_NPROC, which the kernel does not apply to uid 0: seccomp below holds for root too);
4. Landlock: read-only access to the Python standard library and numpy, read-write access to
   its tmpfs, nothing else; no TCP; no signals or abstract sockets outside its own domain;
5. seccomp (x86-64): no fork, no threads, no exec, sockets, ptrace, mounts, or signals to other
   processes; no memory outside its address space (memfds, System V shared memory, message
   queues), which RLIMIT_AS would not count. The learner's process is one task whatever the
   grader's uid.

Then it executes the cells it is sent and answers calls of the learner's functions. Values go
over a socket as JSON plus raw array bytes; the grader decodes them strictly, so nothing the
learner's code shapes is ever unpickled by the grader.

It is one file on purpose: it runs as a standalone script that may import nothing of the
grader's package, so the lock-down, the framing, the cell runner and the template cannot live in
modules. That makes it long (over 700 lines), by design.
"""

import ctypes
import json
import os
import resource
import select
import socket
import struct
import sys
import tracemalloc  # here, before the lock-down: the grader may ask for a call's peak memory

LIBC = ctypes.CDLL(None, use_errno=True)
LIBC.syscall.restype = ctypes.c_long


def fail(message):
    raise SystemExit(f"sandbox setup failed: {message}")


def _check(result, what):
    if result < 0:
        error = ctypes.get_errno()
        fail(f"{what}: {os.strerror(error)} (errno {error})")
    return result


# ---------------------------------------------------------------------------------------------
# Namespaces and privileges
CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET, CLONE_NEWIPC = (
    0x00020000,
    0x10000000,
    0x40000000,
    0x08000000,
)
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, PR_SET_DUMPABLE = 38, 22, 4
SECCOMP_MODE_FILTER = 2


def enter_namespaces(scratch, tmpfs_bytes):
    uid, gid = os.getuid(), os.getgid()
    _check(
        LIBC.unshare(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWIPC),
        "unshare(user, net, mount, ipc namespaces)",
    )
    with open("/proc/self/setgroups", "w") as handle:
        handle.write("deny")
    with open("/proc/self/uid_map", "w") as handle:
        handle.write(f"{uid} {uid} 1")
    with open("/proc/self/gid_map", "w") as handle:
        handle.write(f"{gid} {gid} 1")
    options = f"size={tmpfs_bytes},nr_inodes=4096,mode=0700,uid={uid},gid={gid}".encode()
    _check(
        LIBC.mount(b"tmpfs", scratch.encode(), b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, options),
        f"mount a private tmpfs on {scratch}",
    )
    os.chdir(scratch)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def drop_capabilities():
    header = _CapHeader(0x20080522, 0)
    data = (_CapData * 2)()
    _check(
        LIBC.syscall(126, ctypes.byref(header), ctypes.byref(data)), "capset (drop capabilities)"
    )
    _check(LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    LIBC.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


def set_limits(limits):
    for name, value in [
        ("RLIMIT_CPU", limits["cpu_seconds"]),
        ("RLIMIT_AS", limits["memory_bytes"]),
        ("RLIMIT_FSIZE", limits["file_bytes"]),
        ("RLIMIT_NOFILE", 64),
        ("RLIMIT_CORE", 0),
        # The sandbox itself and no more (root is exempt from this one: seccomp stops fork there).
        ("RLIMIT_NPROC", 1),
    ]:
        resource.setrlimit(getattr(resource, name), (value, value))


# ---------------------------------------------------------------------------------------------
# Landlock (ABI numbers from include/uapi/linux/landlock.h)
SYS_LANDLOCK_CREATE_RULESET, SYS_LANDLOCK_ADD_RULE, SYS_LANDLOCK_RESTRICT_SELF = 444, 445, 446
FS = {
    "EXECUTE": 1 << 0,
    "WRITE_FILE": 1 << 1,
    "READ_FILE": 1 << 2,
    "READ_DIR": 1 << 3,
    "REMOVE_DIR": 1 << 4,
    "REMOVE_FILE": 1 << 5,
    "MAKE_CHAR": 1 << 6,
    "MAKE_DIR": 1 << 7,
    "MAKE_REG": 1 << 8,
    "MAKE_SOCK": 1 << 9,
    "MAKE_FIFO": 1 << 10,
    "MAKE_BLOCK": 1 << 11,
    "MAKE_SYM": 1 << 12,
    "REFER": 1 << 13,
    "TRUNCATE": 1 << 14,
    "IOCTL_DEV": 1 << 15,
}
FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1}
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def landlock_abi():
    return LIBC.syscall(SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1))


def apply_landlock(read_only, read_write):
    abi = landlock_abi()
    if abi < 1:
        fail("Landlock is not available on this kernel")
    handled = FS_BY_ABI.get(abi, (1 << 16) - 1)
    attr = _RulesetAttr(handled, 0, 0)
    size = 8
    if abi >= 4:
        attr.handled_access_net = NET_BIND_TCP | NET_CONNECT_TCP
        size = 16
    if abi >= 6:
        attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
        size = 24
    ruleset = _check(
        LIBC.syscall(
            SYS_LANDLOCK_CREATE_RULESET,
            ctypes.byref(attr),
            ctypes.c_size_t(size),
            ctypes.c_uint32(0),
        ),
        "landlock_create_ruleset",
    )
    read_file = FS["READ_FILE"]
    read_dir = FS["READ_DIR"] | read_file
    everything = handled & ~FS["EXECUTE"] & ~FS["MAKE_CHAR"] & ~FS["MAKE_BLOCK"] & ~FS["IOCTL_DEV"]

    def allow(path, access):
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        try:
            is_dir = os.path.isdir(path)
            rule = _PathBeneath(
                access
                if is_dir
                else access
                & ~(
                    FS["READ_DIR"]
                    | FS["REMOVE_DIR"]
                    | FS["REMOVE_FILE"]
                    | FS["MAKE_DIR"]
                    | FS["MAKE_REG"]
                    | FS["MAKE_SOCK"]
                    | FS["MAKE_FIFO"]
                    | FS["MAKE_SYM"]
                    | FS["REFER"]
                ),
                fd,
            )
            _check(
                LIBC.syscall(SYS_LANDLOCK_ADD_RULE, ruleset, 1, ctypes.byref(rule), 0),
                f"landlock_add_rule({path})",
            )
        finally:
            os.close(fd)

    for path, access in read_only:
        if os.path.exists(path):
            allow(path, read_dir if access == "tree" else FS["READ_DIR"])
    for path in read_write:
        allow(path, everything)
    _check(LIBC.syscall(SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0), "landlock_restrict_self")
    os.close(ruleset)
    return abi


# ---------------------------------------------------------------------------------------------
# seccomp (x86-64 only; the other layers stand on their own elsewhere)
AUDIT_ARCH_X86_64 = 0xC000003E
RET_ALLOW, RET_KILL = 0x7FFF0000, 0x80000000
EPERM, ENOSYS = 1, 38
BLOCKED = {  # syscall number -> errno
    41: EPERM,
    42: EPERM,
    43: EPERM,
    49: EPERM,
    50: EPERM,
    53: EPERM,
    288: EPERM,  # sockets
    # fork, vfork, clone (threads too: a thread bomb as root would escape RLIMIT_NPROC), clone3,
    # execve(at)
    57: EPERM,
    58: EPERM,
    56: EPERM,
    435: ENOSYS,
    59: EPERM,
    322: EPERM,
    101: EPERM,
    310: EPERM,
    311: EPERM,
    312: EPERM,  # ptrace, process_vm_*, kcmp
    165: EPERM,
    166: EPERM,
    155: EPERM,
    161: EPERM,
    272: EPERM,
    308: EPERM,  # mount, namespaces
    424: EPERM,
    434: EPERM,
    438: EPERM,  # pidfd_*
    248: EPERM,
    249: EPERM,
    250: EPERM,
    321: EPERM,
    298: EPERM,
    323: EPERM,  # keys, bpf, perf, uffd
    425: EPERM,
    426: EPERM,
    427: EPERM,
    135: EPERM,  # io_uring, personality
    141: EPERM,
    203: EPERM,
    144: EPERM,
    142: EPERM,
    251: EPERM,  # other processes' scheduling
    # Memory that RLIMIT_AS does not count once unmapped: memfd_create, memfd_secret, System V
    # shared memory (shmget, shmat, shmctl, shmdt), semaphores and message queues, POSIX message
    # queues (mq_*). With them, 1.4 GiB of arrays and 0.9 GiB of memfds fitted under a 2 GiB limit.
    319: EPERM,
    447: EPERM,
    29: EPERM,
    30: EPERM,
    31: EPERM,
    67: EPERM,
    64: EPERM,
    65: EPERM,
    66: EPERM,
    220: EPERM,
    68: EPERM,
    69: EPERM,
    70: EPERM,
    71: EPERM,
    240: EPERM,
    241: EPERM,
    242: EPERM,
    243: EPERM,
    244: EPERM,
    245: EPERM,
}
OWN_PID_ONLY = [62, 200, 234, 129, 297]  # kill, tkill, tgkill, rt_sigqueueinfo, rt_tgsigqueueinfo
SYS_PRLIMIT64 = 302


class _SockFilter(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    ]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_SockFilter))]


def apply_seccomp():
    import platform

    if platform.machine() != "x86_64":
        return False
    LD, JEQ, RET = 0x20, 0x15, 0x06
    pid = os.getpid()
    program = [
        (LD, 0, 0, 4),
        (JEQ, 1, 0, AUDIT_ARCH_X86_64),
        (RET, 0, 0, RET_KILL),
        (LD, 0, 0, 0),
        (0x35, 0, 1, 0x40000000),
        (RET, 0, 0, RET_KILL),  # JGE: x32 system calls
    ]
    for number, errno in BLOCKED.items():
        program += [(JEQ, 0, 1, number), (RET, 0, 0, 0x00050000 | errno)]
    for number in OWN_PID_ONLY:  # signals to itself only
        program += [
            (JEQ, 0, 4, number),
            (LD, 0, 0, 16),
            (JEQ, 1, 0, pid),
            (RET, 0, 0, 0x00050000 | EPERM),
            (RET, 0, 0, RET_ALLOW),
        ]
    # prlimit64: its own limits only (pid 0 or itself).
    program += [
        (JEQ, 0, 5, SYS_PRLIMIT64),
        (LD, 0, 0, 16),
        (JEQ, 2, 0, 0),
        (JEQ, 1, 0, pid),
        (RET, 0, 0, 0x00050000 | EPERM),
        (RET, 0, 0, RET_ALLOW),
    ]
    program += [(RET, 0, 0, RET_ALLOW)]
    filters = (_SockFilter * len(program))(*[_SockFilter(*instruction) for instruction in program])
    fprog = _SockFprog(len(program), filters)
    _check(
        LIBC.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0),
        "prctl(PR_SET_SECCOMP)",
    )
    return True


# ---------------------------------------------------------------------------------------------
# Messages: a frame is (header length, blob count), the JSON header, then each blob with its length.
# The grader's side is autograder/sandbox/wire.py (send_frame) and host.py (Sandbox._receive). This
# script keeps its own copy: it is started as ``python -I -S child.py``, with no package on its
# path, and once Landlock is on it may read no file of the grader at all.


def send(channel, header, blobs=()):
    """One frame, by scatter-gather: the blobs go out from the arrays' own memory."""
    data = json.dumps(header).encode()
    parts = [struct.pack(">II", len(data), len(blobs)), data]
    for blob in blobs:
        parts += [struct.pack(">Q", len(blob)), blob]
    views, first = [memoryview(part) for part in parts if len(part)], 0
    while first < len(views):
        sent = channel.sendmsg(views[first : first + 1024])  # IOV_MAX
        while sent:
            if sent >= len(views[first]):
                sent -= len(views[first])
                first += 1
            else:
                views[first], sent = views[first][sent:], 0


def _read(channel, size):
    """Exactly `size` bytes, into one writable buffer of its own (arrays are built on it)."""
    data, done = bytearray(size), 0
    view = memoryview(data)
    while done < size:
        received = channel.recv_into(view[done:], min(size - done, 1 << 20))
        if not received:
            raise EOFError
        done += received
    return data


def receive(channel):
    header_size, count = struct.unpack(">II", _read(channel, 8))
    header = json.loads(_read(channel, header_size))
    blobs = [_read(channel, struct.unpack(">Q", _read(channel, 8))[0]) for _ in range(count)]
    return header, blobs


def array_bytes(array, np):
    """The bytes of `array` in C order, without a copy when it is contiguous already."""
    return memoryview(np.ascontiguousarray(array).reshape(-1).view(np.uint8))


def describe(value):
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}".replace("builtins.", "")


def encode(value, blobs, np, depth=0):
    """Plain data only: None, bool, int, float, str, numpy scalars, plain numeric arrays, and
    lists/tuples/dicts of them; anything else is described, not sent."""
    if depth > 20:
        return {"unsupported": "a value nested too deeply"}
    if value is None or type(value) in (bool, int, float, str):
        return (
            value
            if type(value) is not float or value == value and abs(value) != float("inf")
            else {"float": repr(value)}
        )
    if type(value) is np.ndarray:
        if value.dtype.kind not in "biufc" or value.dtype.fields is not None:
            return {"unsupported": f"a numpy array of dtype {value.dtype}"}
        blobs.append(array_bytes(value, np))
        return {"array": len(blobs) - 1, "dtype": value.dtype.str, "shape": list(value.shape)}
    if isinstance(value, np.ndarray):
        return {
            "unsupported": f"an ndarray subclass ({describe(value)}), not a plain numpy.ndarray"
        }
    if (
        isinstance(value, np.generic)
        and type(value).__module__ == "numpy"
        and value.dtype.kind in "biufc"
    ):
        blobs.append(np.asarray(value).tobytes())
        return {"scalar": len(blobs) - 1, "dtype": value.dtype.str}
    if type(value) in (list, tuple):
        return {type(value).__name__: [encode(item, blobs, np, depth + 1) for item in value]}
    if type(value) is dict:
        return {
            "dict": [
                [encode(key, blobs, np, depth + 1), encode(item, blobs, np, depth + 1)]
                for key, item in value.items()
            ]
        }
    return {"unsupported": f"a {describe(value)}"}


def decode(value, blobs, np, link=None):
    if isinstance(value, list):
        raise ValueError("untagged list")
    if not isinstance(value, dict):
        return value
    if "float" in value:
        return float(value["float"])
    if "array" in value:
        # Each blob is a bytearray of its own (receive): the array owns it, writable, no copy.
        return np.frombuffer(blobs[value["array"]], dtype=np.dtype(value["dtype"])).reshape(
            value["shape"]
        )
    if "scalar" in value:
        return np.frombuffer(blobs[value["scalar"]], dtype=np.dtype(value["dtype"]))[0]
    if "list" in value:
        return [decode(item, blobs, np, link) for item in value["list"]]
    if "tuple" in value:
        return tuple(decode(item, blobs, np, link) for item in value["tuple"])
    if "dict" in value:
        return {
            decode(key, blobs, np, link): decode(item, blobs, np, link)
            for key, item in value["dict"]
        }
    if "function" in value:  # one of the learner's own functions, passed back as an argument
        return link.namespace[value["function"]]
    if "callback" in value:  # a function of the grader's: calling it asks the grader to run it
        return link.callback(value["callback"])
    raise ValueError(f"unknown value {value!r}")


class Link:
    """The learner's namespace and the channel to the grader, with calls back to the grader."""

    def __init__(self, channel, np):
        self.channel, self.np = channel, np
        self.namespace = {
            "__name__": "__main__",
            "get_ipython": lambda: _IPython(),
            "display": lambda *a, **k: None,
        }

    def callback(self, identifier):
        link = self

        def call_grader(*args, **kwargs):
            out = []
            header = {
                "op": "callback",
                "id": identifier,
                "args": encode(tuple(args), out, link.np),
                "kwargs": encode(dict(kwargs), out, link.np),
            }
            send(link.channel, header, out)
            reply, blobs = receive(link.channel)
            if reply.get("op") == "callback-result":
                return decode(reply["value"], blobs, link.np, link)
            raise AssertionError(reply.get("message", "the grader's function failed"))

        call_grader.__name__ = f"grader_function_{identifier}"
        return call_grader


# ---------------------------------------------------------------------------------------------
# The learner's world: numpy, a torch that refuses every use, and a harmless get_ipython().


def install_torch_stand_in():
    import importlib.abc
    import importlib.machinery
    import types

    message = (
        "graded functions must use numpy only: torch is not available when the notebook is graded"
    )

    class Forbidden(types.ModuleType):
        def __getattr__(self, attribute):
            if attribute.startswith("__"):
                raise AttributeError(attribute)
            raise AssertionError(f"{message} (used {self.__name__}.{attribute})")

    class Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                return importlib.machinery.ModuleSpec(name, self, is_package=True)
            return None

        def create_module(self, spec):
            module = Forbidden(spec.name)
            module.__path__ = []
            return module

        def exec_module(self, module):
            pass

    sys.meta_path.insert(0, Finder())


class _Recorder:
    """What the cell being run prints, kept up to `limit` characters and only counted beyond, so
    floods cost nothing; the grader shows it in the autograded notebook. Output written at any
    other time (during a call of the learner's function, on hidden inputs) is discarded."""

    def __init__(self, limit):
        self.limit, self.recording = limit, False
        self.start()

    def start(self):
        self.pieces, self.kept, self.omitted = [], 0, 0

    def add(self, name, text):
        if not self.recording:
            return
        piece = text[: max(self.limit - self.kept, 0)]
        if piece:
            if self.pieces and self.pieces[-1][0] == name:
                self.pieces[-1][1] += piece
            else:
                self.pieces.append([name, piece])
            self.kept += len(piece)
        self.omitted += len(text) - len(piece)


class _Sink:
    """Stands in for stdout or stderr: what is written goes to the recorder, nowhere else."""

    encoding = "utf-8"

    def __init__(self, recorder, name):
        self.recorder, self.name = recorder, name

    def write(self, text):
        if type(text) is not str:  # a str subclass could lie about its length or its slices
            text = str.__str__(text) if isinstance(text, str) else ""
        self.recorder.add(self.name, text)
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return False

    def fileno(self):
        raise OSError("no file descriptor")


class _IPython:
    """get_ipython() stand-in: magics and shell escapes in a learner's cell do nothing."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def safe_text(error):
    try:
        return str(error)[:500]
    except BaseException:
        return ""


def short_error(error):
    text = safe_text(error)
    text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return text if len(text) <= 500 else text[:497] + "..."


def serve(link, recorder):
    channel, np, namespace = link.channel, link.np, link.namespace
    while True:
        try:
            header, blobs = receive(channel)
        except EOFError:
            return
        op, seq = header.get("op"), header.get("seq")
        if op == "run":
            for index, source in enumerate(header["cells"]):
                error = None
                recorder.start()
                recorder.recording = True
                try:
                    with np.errstate(all="ignore"):
                        exec(compile(source, f"<cell {index}>", "exec"), namespace)
                except BaseException as raised:  # SystemExit and KeyboardInterrupt included
                    error = short_error(raised)
                finally:
                    recorder.recording = False
                reply = {"op": "cell", "seq": seq, "index": index, "error": error}
                reply.update(output=recorder.pieces, omitted=recorder.omitted)
                send(channel, reply)
            send(channel, {"op": "ready", "seq": seq})
        elif op == "get":
            values, out = {}, []
            for name in header["names"]:
                if name not in namespace:
                    values[name] = {"kind": "missing"}
                elif callable(namespace[name]):
                    values[name] = {"kind": "callable"}
                else:
                    values[name] = {"kind": "value", "value": encode(namespace[name], out, np)}
            send(channel, {"op": "names", "seq": seq, "values": values}, out)
        elif op == "call":
            out = []
            try:
                args = decode(header["args"], blobs, np, link)
                kwargs = decode(header["kwargs"], blobs, np, link)
                function = namespace[header["name"]]
                # The course's helper cell, run here from the solution, defines watched_call: which
                # arguments the call changed, and whether a repeated call shares its result.
                watch = namespace.get("watched_call")
                # Asked for (a check of memory use): the peak bytes that Python and numpy
                # allocated during the call, as tracemalloc counts them; None if the learner's
                # code stopped the tracing.
                measure = header.get("measure_memory") is True
                peak = None
                if measure:
                    tracemalloc.start()
                try:
                    with np.errstate(all="ignore"):
                        if callable(watch):
                            result, changed, shared = watch(function, tuple(args), dict(kwargs))
                        else:
                            result, changed, shared = function(*args, **kwargs), [], False
                    if measure and tracemalloc.is_tracing():
                        peak = tracemalloc.get_traced_memory()[1]
                finally:
                    if measure:
                        tracemalloc.stop()
                changed = [key for key in list(changed)[:20] if type(key) in (int, str)]
                reply = {
                    "op": "result",
                    "seq": seq,
                    "value": encode(result, out, np),
                    "changed": changed,
                    "shared": shared is True,
                    "peak_bytes": peak if type(peak) is int else None,
                }
            except BaseException as raised:
                out = []
                reply = {
                    "op": "raised",
                    "seq": seq,
                    "type": type(raised).__name__,
                    "message": safe_text(raised),
                }
            send(channel, reply, out)
        elif op == "reads":  # which data globals a function reads, for the feedback
            # The course's helper cell, run here from the solution, defines notebook_globals_read.
            function, reader = (
                namespace.get(header.get("name")),
                namespace.get("notebook_globals_read"),
            )
            try:
                found = reader(function) if callable(function) and callable(reader) else []
                names = [str(name)[:100] for name in list(found)[:20]]
            except BaseException:
                names = []
            send(channel, {"op": "reads", "seq": seq, "names": names})
        else:
            return


def lock_down_and_serve(channel, config, np):
    """Everything a learner's process does, in its own freshly forked process: lock itself down,
    say hello, then run what the grader sends until it stops."""
    stage = "start"
    try:
        stage = "namespaces"
        enter_namespaces(config["scratch"], config["tmpfs_bytes"])
        stage = "capabilities"
        drop_capabilities()
        stage = "limits"
        set_limits(config["limits"])
        stage = "landlock"
        abi = apply_landlock([tuple(entry) for entry in config["read_only"]], [config["scratch"]])
        stage = "seccomp"
        filtered = apply_seccomp()
        install_torch_stand_in()
    except BaseException as error:
        send(channel, {"op": "failed", "stage": stage, "message": short_error(error)})
        return 3
    send(channel, {"op": "hello", "landlock_abi": abi, "seccomp": filtered, "uid": os.getuid()})
    recorder = _Recorder(config["output_chars"])
    sys.stdout, sys.stderr = _Sink(recorder, "stdout"), _Sink(recorder, "stderr")
    serve(Link(channel, np), recorder)
    return 0


# ---------------------------------------------------------------------------------------------
# The template: one per grading process, it pays once for what every learner's process needs (the
# interpreter and numpy imported) and forks a fresh child for each notebook. It reads only the
# grader's requests on its control socket ("start" with the child's channel, "poll", "end"); no
# cell, call or answer of a learner ever passes through it, and it never locks itself down.
PR_SET_PDEATHSIG = 1
SIGKILL = 9
MAX_REQUEST = 1 << 16
PRELOADED = ("numpy", "platform", "importlib.abc", "importlib.machinery", "types", "inspect", "dis")


def start_learner(control, channel_fd, config, template_pid):
    """In the forked child: drop everything of the template's, then lock down and serve. Never
    returns: whatever happens, this process must not go back to the template's loop."""
    code = 4
    try:
        control.close()
        os.setsid()  # its own process group, which the template kills whole
        # Dies with the template (which dies with the grader), as a fresh process would on EOF.
        LIBC.prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0)
        if os.getppid() != template_pid:
            return
        # Only its own channel and stdin/out/err (/dev/null) stay open: nothing of the template's.
        os.closerange(3, channel_fd)
        os.closerange(channel_fd + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
        # What the template seeded once would otherwise repeat in every child.
        for name in ("random", "numpy.random"):
            if name in sys.modules:
                sys.modules[name].seed()
        channel = socket.socket(fileno=channel_fd)
        code = lock_down_and_serve(channel, config, sys.modules["numpy"])
    finally:
        os._exit(code)


def _kill(pid):
    """SIGKILL to the child's process group (it cannot fork: the group is the child alone)."""
    try:
        os.killpg(pid, SIGKILL)
    except ProcessLookupError:  # forked a moment ago: not yet leading its own group
        os.kill(pid, SIGKILL)


def _reap(children, pid):
    """Record the child's exit code in `children` if it has ended (it stays None while it runs)."""
    if children[pid] is None:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            children[pid] = os.waitstatus_to_exitcode(status)


def _end(children, pid):
    """Stop the child `pid` (its whole process group) unless it has ended; its exit code, or None
    if it would not go within 10 s (it stays listed, and is stopped with the template)."""
    _reap(children, pid)
    if children[pid] is None:
        _kill(pid)
        gone = os.pidfd_open(pid)  # readable once it has exited: no polling loop
        try:
            select.select([gone], [], [], 10)
        finally:
            os.close(gone)
        _reap(children, pid)
        if children[pid] is None:
            return None
    return children.pop(pid)


def run_template(control, config):
    template_pid = os.getpid()
    children = {}  # pid -> exit code once it ended, None while it runs
    control.send(json.dumps({"op": "ready"}).encode())
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, MAX_REQUEST, 1)
        except OSError:
            message, fds = b"", []
        if not message:
            break  # the grader is gone
        request = json.loads(message)
        op, pid = request.get("op"), request.get("pid")
        if op == "start" and len(fds) == 1:
            child = os.fork()
            if child == 0:
                start_learner(control, fds[0], dict(config, **request["config"]), template_pid)
            os.close(fds[0])
            children[child] = None
            reply = {"pid": child}
        elif op in ("poll", "end") and pid in children:
            for fd in fds:
                os.close(fd)
            if op == "poll":
                _reap(children, pid)
                reply = {"code": children[pid]}
            else:
                reply = {"code": _end(children, pid)}
        else:
            break  # not a request of the grader's: stop rather than guess
        control.send(json.dumps(reply).encode())
    for pid, code in children.items():  # its learners' processes go with it
        if code is None:
            _kill(pid)
    return 0


def main():
    config = json.loads(sys.argv[1])
    control = socket.socket(fileno=config["control_fd"])
    try:
        sys.path.append(config["site_packages"])
        # Once here instead of in each learner's process: numpy, and what the lock-down, the
        # course's helper cell and most notebooks import.
        for name in PRELOADED:
            __import__(name)
    except BaseException as error:
        control.send(json.dumps({"op": "failed", "message": short_error(error)}).encode())
        return 3
    return run_template(control, config)


if __name__ == "__main__":
    os._exit(main() or 0)
