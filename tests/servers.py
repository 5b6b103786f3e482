"""Real servers for the tests, started in a temporary folder and stopped afterwards.

Jupyter: a Jupyter server with nbgrader's formgrader extension (enabled by nbgrader's package in
the virtual environment), started in a course root as an instructor starts it there, on a port
the OS picks, with a random token; its own runtime and configuration folders, so that nothing of
the user's Jupyter set-up takes part.

PostgreSQL: Debian's binaries (`make postgresql` installs them), a cluster made by `initdb` in a
folder of its own, started by `pg_ctl` on a free localhost port with a private socket folder.
The server refuses to run as root, so when the tests run as root it runs as `nobody`, owner of
the folder. Clients connect over TCP as the superuser `postgres`, trusted on localhost only.
"""

import glob
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from autograder.tools.dask_processes import stop

SUPERUSER = "postgres"
UNPRIVILEGED = "nobody"
PORT_ATTEMPTS = 5  # ports tried by the PostgreSQL server before it gives up


def postgresql_binaries() -> Path:
    """The folder of Debian's newest PostgreSQL server binaries; the test fails without them."""

    def major_version(initdb: str) -> int:  # /usr/lib/postgresql/<version>/bin/initdb
        version = Path(initdb).parts[-3]
        return int(version) if version.isdigit() else 0

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=major_version)
    if not found:
        pytest.fail(
            "PostgreSQL's server binaries are missing (no "
            "/usr/lib/postgresql/*/bin/initdb): run `make postgresql`",
            pytrace=False,
        )
    return Path(found[-1]).parent


def free_port() -> int:
    """A localhost port free now (another process may take it before it is bound)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgreSQLServer:
    """A PostgreSQL server of its own: `with PostgreSQLServer() as server: server.url("db")`.
    Tests share one per worker process: the session fixture `postgresql_server` (conftest.py)."""

    def __init__(self):
        self.binaries = postgresql_binaries()
        self.folder = Path(tempfile.mkdtemp(prefix="postgresql-test-"))
        self.data, self.sockets, self.log = (
            self.folder / "data",
            self.folder / "sockets",
            self.folder / "server.log",
        )
        self.port = free_port()
        self.as_root = os.geteuid() == 0

    def _run(self, program: str, *arguments: str, **options) -> subprocess.CompletedProcess:
        command = [str(self.binaries / program), *arguments]
        if self.as_root:  # as `nobody`: runuser -u runs the command itself, not nobody's shell
            command = ["runuser", "-u", UNPRIVILEGED, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, **options)

    def start(self) -> "PostgreSQLServer":
        self.sockets.mkdir()
        if self.as_root:
            user = pwd.getpwnam(UNPRIVILEGED)
            for path in [self.folder, self.sockets]:
                os.chown(path, user.pw_uid, user.pw_gid)
        initdb = self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--no-sync",
            "--encoding=UTF8",
            "--locale=C",
            cwd=self.folder,
        )
        if initdb.returncode != 0:
            self.stop()
            raise RuntimeError(f"initdb failed:\n{initdb.stdout}\n{initdb.stderr}")
        # The port was free when chosen, but another process (a Dask worker's connection, another
        # server) may take it before the server binds it: then another port, a few times.
        for attempt in range(1, PORT_ATTEMPTS + 1):
            logged = self.log.stat().st_size if self.log.exists() else 0
            started = self._run(
                "pg_ctl",
                "-D",
                str(self.data),
                "-l",
                str(self.log),
                "-w",
                "-t",
                "60",
                "-o",
                f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off",
                "start",
                cwd=self.folder,
            )
            if started.returncode == 0:
                break
            written = self.log.read_bytes() if self.log.exists() else b""
            log = written[logged:].decode(errors="replace")  # this attempt's lines (st_size: bytes)
            if "Address already in use" not in log or attempt == PORT_ATTEMPTS:
                self.stop()
                raise RuntimeError(f"pg_ctl failed:\n{started.stdout}\n{started.stderr}\n{log}")
            self.port = free_port()
        return self

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", cwd=self.folder)
        shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new, empty database named `name` and a unique suffix (tests that share the server
        may ask for the same name); its SQLAlchemy URL."""
        name = f"{name}_{uuid.uuid4().hex[:12]}"
        command = [
            str(self.binaries / "createdb"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            SUPERUSER,
            name,
        ]
        run = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if run.returncode != 0:
            raise RuntimeError(f"createdb {name} failed: {run.stderr}")
        return self.url(name)

    def __enter__(self) -> "PostgreSQLServer":
        return self.start()

    def __exit__(self, *exception) -> None:
        self.stop()


class JupyterServer:
    """A Jupyter server run in `root` (so that nbgrader reads root/nbgrader_config.py):

        with JupyterServer(out) as server:
            server.get("formgrader/api/assignments")

    It listens on 127.0.0.1, on a port the OS picks (read from the server's runtime file), and
    every request carries its random token."""

    STARTUP_SECONDS = 120

    def __init__(self, root: Path):
        self.root = Path(root)
        self.folder = Path(tempfile.mkdtemp(prefix="jupyter-test-"))
        self.token = secrets.token_hex(16)
        self.log = self.folder / "server.log"
        self.process = None
        self.url = None

    def start(self) -> "JupyterServer":
        environment = dict(
            os.environ,
            JUPYTER_CONFIG_DIR=str(self.folder / "config"),
            JUPYTER_RUNTIME_DIR=str(self.folder / "runtime"),
            # nbgrader runs `alembic` from PATH when it opens a gradebook
            PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        )
        command = [
            sys.executable,
            "-m",
            "jupyter_server",
            "--ServerApp.ip=127.0.0.1",
            "--ServerApp.port=0",
            "--ServerApp.port_retries=0",
            "--ServerApp.open_browser=False",
            f"--ServerApp.root_dir={self.root}",
            f"--IdentityProvider.token={self.token}",
        ]
        if os.geteuid() == 0:
            command.append("--allow-root")
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=self.root,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + self.STARTUP_SECONDS
        runtime = self.folder / "runtime" / f"jpserver-{self.process.pid}.json"
        while self.url is None:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the Jupyter server did not start:\n{self.log_text()}")
            try:
                self.url = f"http://127.0.0.1:{json.loads(runtime.read_text())['port']}/"
            except (OSError, ValueError, KeyError):
                time.sleep(0.2)
        return self

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-5000:] if self.log.exists() else ""

    def request(self, method: str, path: str, body=None):
        """(status, parsed JSON or text) of one request, authenticated with the token."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path.lstrip("/"),
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode(errors="replace")
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def get(self, path: str):
        status, value = self.request("GET", path)
        assert status == 200, f"GET {path}: {status} {str(value)[:500]}\n{self.log_text()}"
        return value

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> "JupyterServer":
        return self.start()

    def __exit__(self, *exception) -> None:
        self.stop()
