"""Grading on dask.distributed: one code path from a laptop to a cluster.

With no scheduler, a ``LocalCluster`` of process workers (one thread each; the command starts one
per core, or fewer when fewer notebooks are left to grade) is started for the run, each a fork of
one template process that imported Dask, torch and the checks (start_worker_template); with
``scheduler="tls://HOST:8786"`` (or $DASK_SCHEDULER_ADDRESS) the class is graded on an existing
cluster whose workers were started with ``dask worker``. Each worker has torch imported once and
keeps each assignment's AssignmentSpec (GradingPlugin). Results come back to the client as they
arrive; only the client writes anything.

Who may connect is Dask's own TLS (distributed.security): a local cluster is started with
``security=True``, a key and certificate made for this run and held in memory by its processes
alone, so that another user of the machine is refused, and the cluster speaks ``tls://`` only. An
existing cluster is joined with the instructor's certificates (``--tls-ca-file``, ``--tls-cert``,
``--tls-key``, or Dask's configuration ``distributed.comm.tls.*``); a plain ``tcp://`` address
gets a warning. The grading secret reaches the workers in the GradingPlugin, which is removed from
the scheduler and the workers when the run ends, also on Ctrl-C and on an error.

Before grading, every worker builds a sandbox (autograder/sandbox/host.py ``probe``); a worker
without one stops the run (ClusterRefused), naming it.

The client hands each worker thread one notebook at a time (autograder/grade/dispatcher.py): a
worker that dies held exactly what the client gave it, which is retried once, then gets an error
row. A notebook that holds its worker past its budget plus WORKER_GRACE_SECONDS, or a worker that
grows past MAX_WORKER_RSS, is stopped through its nanny and that notebook alone gets an error row.
The class always completes. What runs on the workers is autograder/grade/on_workers.py.
"""

import ipaddress
import logging
import multiprocessing
import multiprocessing.forkserver
import os
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, nullcontext
from pathlib import Path
from typing import Iterator

from autograder.grade.dispatcher import CRASHED_TWICE, Dispatch, Dispatcher
from autograder.grade.on_workers import PLUGIN_NAME, GradingPlugin, probe_sandbox
from autograder.grade.results import NotebookResult
from autograder.sandbox import host
from autograder.sandbox.host import Limits, interpreter

# A notebook may hold its worker this long past its budget (the checks' own work, starting torch)
# before the worker is stopped; and a worker may grow to this resident size. Both are backstops:
# the budget and the bounds of autograder/sandbox/host.py and autograder/grade/notebook.py come
# first.
WORKER_GRACE_SECONDS = 60.0
MAX_WORKER_RSS = 3 << 30
__all__ = [
    "CRASHED_TWICE",
    "ClusterRefused",
    "GradingCluster",
    "grade_on_cluster",
    "connect",
    "remote_security",
]


class ClusterRefused(RuntimeError):
    """Grading must not start on this cluster (no scheduler there, a worker without a sandbox)."""


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def remote_security(ca_file: Path | None = None, cert: Path | None = None, key: Path | None = None):
    """The distributed.Security that joins an existing cluster: the certificates given (mutual
    TLS, encryption required), else Dask's configuration (``distributed.comm.tls.*``), which
    ``Security()`` reads. ClusterRefused when only some are given or one cannot be read."""
    from distributed import Security

    given = {"--tls-ca-file": ca_file, "--tls-cert": cert, "--tls-key": key}
    if not any(given.values()):
        return Security()
    if ca_file is None or cert is None:
        raise ClusterRefused(
            "--tls-ca-file and --tls-cert go together (and --tls-key, unless the key is in the "
            "certificate's file)"
        )
    for option, path in given.items():
        if path is not None and not os.access(path, os.R_OK):
            raise ClusterRefused(f"{option} {path}: the file cannot be read")
    return Security(
        tls_ca_file=str(ca_file),
        tls_client_cert=str(cert),
        tls_client_key=None if key is None else str(key),
        require_encryption=True,
    )


def address_warning(address: str) -> str | None:
    """What to say about joining `address` without TLS: loudly when it is another host, whose
    traffic (the grading secret among it) anyone on the way can read and write; None for tls://."""
    from distributed.comm import parse_address, parse_host_port

    scheme, location = parse_address(address)
    if scheme != "tcp":
        return None
    host = parse_host_port(location)[0]
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if loopback:
        return (
            f"note: {address} is plain tcp://: any user of this machine who can reach it can join "
            "the cluster, read the grading secret and run code on its workers; start it with TLS "
            "(python -m autograder tls-certificates) to prevent it"
        )
    return (
        f"WARNING: {address} is plain tcp:// to another host: the grading secret and every "
        "result cross the network unencrypted, and anyone who reaches that port can join the "
        "cluster and run code on its workers. Use tls:// with --tls-ca-file, --tls-cert and "
        "--tls-key (python -m autograder tls-certificates writes them)."
    )


# A local cluster's HTTP routes (Dask's configuration, read as its scheduler and workers start).
HEALTH_CHECK_ONLY = {
    "distributed.scheduler.http.routes": ["distributed.http.health"],
    "distributed.worker.http.routes": ["distributed.http.health"],
}


@contextmanager
def connect(workers: int, scheduler: str | None = None, security=None):
    """A Client: on the cluster at `scheduler` (or $DASK_SCHEDULER_ADDRESS), joined with
    `security` (default: remote_security(), Dask's configuration), or on a LocalCluster of
    `workers` process workers of one thread each, started here with TLS credentials of its own
    and stopped on leaving."""
    import dask
    from distributed import Client, LocalCluster

    address = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")
    if address:
        from distributed.comm import parse_address

        security = remote_security() if security is None else security
        scheme = parse_address(address)[0]
        if scheme == "tls" and not security.tls_ca_file:
            raise ClusterRefused(
                f"{address} is a TLS address: give the cluster's certificates with "
                "--tls-ca-file, --tls-cert and --tls-key (or Dask's distributed.comm.tls "
                "configuration)"
            )
        if scheme != "tls" and security.require_encryption:
            raise ClusterRefused(
                f"TLS certificates were given, but {address} is not a tls:// address"
            )
        try:
            client = Client(address, security=security, timeout=30, set_as_default=False)
        except (OSError, TimeoutError) as error:
            raise ClusterRefused(f"no Dask scheduler answers at {address}: {error}") from None
        try:
            client.wait_for_workers(1, timeout=60)
        except (OSError, TimeoutError):
            client.close()
            raise ClusterRefused(
                f"the Dask scheduler at {address} has no worker (start some with "
                f"`dask worker {address} --nthreads 1`)"
            ) from None
        try:
            yield client
        finally:
            client.close()
        return
    # The workers are forks of a template that imports what they need once (start_worker_template);
    # a worker that dies is restarted by its nanny from there too, while the cluster lives.
    start_worker_template()
    # memory_limit=0: no pausing or spilling by dask; MAX_WORKER_RSS is the bound that applies.
    # security=True: Security.temporary(), a key and certificate made now and held in memory by
    # this process and the workers it starts: without them, a connection is refused (tls:// only).
    # Ctrl-C is the client's to handle: processes started while SIGINT is ignored keep ignoring it
    # (Python installs its KeyboardInterrupt handler only over the default; the template was
    # started so), so the nannies and workers neither print tracebacks nor stop on their own; the
    # client closes them.
    # Without a dashboard, Dask's scheduler and workers still serve HTTP (metrics, pages about the
    # workers and tasks) to anyone on the machine, the scheduler on port 8787 (another cluster's
    # there: a warning): here only the health check, on a port of the loopback the system picks.
    with dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"}):
        with _sigint_ignored(), dask.config.set(HEALTH_CHECK_ONLY):
            cluster = LocalCluster(
                n_workers=max(1, workers),
                threads_per_worker=1,
                processes=True,
                memory_limit=0,
                dashboard_address=None,
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                silence_logs=logging.CRITICAL,
                security=True,
            )
        try:
            client = Client(cluster, set_as_default=False)  # with the cluster's own credentials
            try:
                yield client
            finally:
                client.close()
        finally:
            cluster.close()


# What every local worker imports before it grades: Dask's worker, torch (the oracle) and the
# worker's side of grading (the checks, the sandbox's host side, the similarity fingerprints).
WORKER_PRELOAD = (
    "distributed",
    "torch",
    "autograder.grade.on_workers",
    "autograder.grade.notebook",
    "autograder.report.similarity",
)


def start_worker_template() -> None:
    """Start, once per process, the template that the local workers are forked from: Python's
    forkserver, which imports WORKER_PRELOAD once, in the background, while the client goes on.
    A worker is then a fork of it, with nothing to import: spawned, each worker imported
    distributed and torch itself (2.9 s of CPU a worker, on the same cores as the client's own
    start). The template is started before the client holds anything of the run (it never sees
    the grading secret, which reaches each worker in the GradingPlugin), with SIGINT ignored, so
    that Ctrl-C stays the client's to handle, and with the variables Dask's nanny sets before it
    starts a worker (one BLAS thread, PYTHONHASHSEED, MALLOC_TRIM_THRESHOLD_), which only take
    effect in a process that sets them before its imports."""
    import dask
    import distributed  # noqa: F401 - Dask's configuration, with its defaults

    # From a Python binary this user may run: a venv's `python` links to an interpreter that
    # another user (the grader run as `nobody`) may not be allowed to reach.
    multiprocessing.set_executable(interpreter()[0])
    multiprocessing.get_context("forkserver").set_forkserver_preload(list(WORKER_PRELOAD))
    # As distributed.nanny does before each worker it starts (and so in this process too).
    environ = {k: str(v) for k, v in dask.config.get("distributed.nanny.pre-spawn-environ").items()}
    if environ.get("PYTHONHASHSEED") in (None, "0"):
        environ["PYTHONHASHSEED"] = "6640"
    os.environ.update(environ)
    # The venv's packages reach the template through PYTHONPATH: Python 3.11's forkserver does not
    # apply the sys.path it is sent before its imports, so they would fail (silently: it skips a
    # module that cannot be imported) and each worker would import everything again itself.
    previous = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(entry for entry in sys.path if entry)
    try:
        with _sigint_ignored():
            multiprocessing.forkserver.ensure_running()
    finally:
        if previous is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = previous


def probe_workers(client, timeout: float = 10.0) -> dict:
    """{worker address: sandbox info} for every worker; ClusterRefused naming each worker whose
    sandbox cannot be built (learner code never runs unsandboxed)."""
    found = client.run(probe_sandbox, timeout, on_error="return")
    missing = {
        address: answer for address, answer in found.items() if isinstance(answer, Exception)
    }
    if missing:
        named = "; ".join(
            f"worker {address}: {error}" for address, error in sorted(missing.items())
        )
        raise ClusterRefused(
            f"refusing to grade: {len(missing)} of {len(found)} Dask workers have no sandbox "
            f"({named}). "
            "Learner code would run without its locked-down sandbox there (Linux with unprivileged "
            "user namespaces, Landlock and seccomp is needed); stop those workers or fix their "
            "hosts."
        )
    if not found:
        raise ClusterRefused("refusing to grade: the Dask cluster has no worker")
    return found


class GradingCluster:
    """A Dask client, joined (or started) and probed: `grade(tasks)` yields one result per task,
    in the order they are graded, whatever happens to a worker. Close it (or leave the `with`)
    to take the grading secret off the cluster and stop a local cluster."""

    def __init__(
        self,
        workers: int,
        limits: Limits,
        secret: str,
        scheduler: str | None = None,
        say=_say,
        security=None,
    ):
        """Join the cluster at `scheduler` (or $DASK_SCHEDULER_ADDRESS) with `security` (see
        `connect`), or start a local one of `workers` processes, and probe every worker's
        sandbox: ClusterRefused comes from here, before anything is graded. `say` gets one line
        about the workers' sandboxes, and a warning for a plain tcp:// address."""
        self.limits, self.stack, self.say = limits, ExitStack(), say
        address = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")
        try:
            probing = None
            if not address:
                # The local workers would have no sandbox on a machine without one: probed here
                # while they start (a refusal then stops them), not before.
                probing = ThreadPoolExecutor(1, thread_name_prefix="probe").submit(
                    probe_here, limits
                )
            elif address_warning(address):
                say(address_warning(address))
            try:
                self.client = self.stack.enter_context(connect(workers, scheduler, security))
            finally:
                if probing is not None:
                    probing.result()  # ClusterRefused, first
            self.address = self.client.scheduler.address
            sandboxes = probe_workers(self.client, timeout=max(limits.timeout, 10.0))
            info = next(iter(sandboxes.values()))
            say(
                f"sandbox on each of {len(sandboxes)} Dask workers: user+network+mount "
                f"namespaces, rlimits, Landlock ABI {info['landlock_abi']}, "
                f"seccomp {'on' if info['seccomp'] else 'off (not x86-64)'}"
            )
            # Taken off again before the client closes (the stack unwinds in reverse order).
            self.stack.callback(self._remove_plugin)
            self.client.register_plugin(GradingPlugin(secret), name=PLUGIN_NAME)
        except BaseException:
            self.close()
            raise

    def _remove_plugin(self) -> None:
        """The grading secret off the cluster: the scheduler forgets the plugin (which new workers
        would get) and each worker drops it (GradingPlugin.teardown)."""
        try:
            self.client.unregister_worker_plugin(PLUGIN_NAME)
        except ValueError:  # never registered (a refusal before it, or a failed registration)
            pass
        except Exception as error:  # noqa: BLE001 - said, not raised: the run's results stand
            self.say(
                f"WARNING: the grading plugin could not be removed from the Dask cluster "
                f"({type(error).__name__}: {error}); until it is, the scheduler holds the "
                "grading secret: restart the scheduler"
            )

    def grade(
        self,
        tasks,
        budget: float,
        progress: bool,
        *,
        grace_seconds: float = WORKER_GRACE_SECONDS,
        max_worker_rss: int = MAX_WORKER_RSS,
    ) -> Dispatch:
        """The results, as they are graded: an iterator to close when done (or on Ctrl-C)."""
        return Dispatch(
            Dispatcher(
                self.client, tasks, self.limits, budget, progress, grace_seconds, max_worker_rss
            )
        )

    def close(self) -> None:
        # A second Ctrl-C must not cut this short and leave the secret on the cluster.
        main = threading.current_thread() is threading.main_thread()
        with _sigint_ignored() if main else nullcontext():
            self.stack.close()

    def __enter__(self):
        return self

    def __exit__(self, *exception) -> None:
        self.close()


def grade_on_cluster(
    tasks,
    workers: int,
    limits: Limits,
    budget: float,
    secret: str,
    progress: bool,
    scheduler: str | None = None,
    **backstops,
) -> Iterator[NotebookResult]:
    """One result per task, as they are graded, on a cluster started (or joined) for them."""
    with GradingCluster(workers, limits, secret, scheduler) as grading:
        yield from grading.grade(tasks, budget, progress, **backstops)


@contextmanager
def _sigint_ignored():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def probe_here(limits: Limits) -> None:
    """ClusterRefused when this machine cannot build the sandbox."""
    try:
        host.probe(Limits(timeout=max(limits.timeout, 10.0)))  # through the module: tests stand in
    except host.SandboxUnavailable as error:
        raise ClusterRefused(
            f"refusing to grade: {error}. Learner code would run without its locked-down sandbox "
            "(Linux with unprivileged user namespaces, Landlock and seccomp is needed)."
        ) from None
