"""Issue 22, critical finding 2: the local Dask cluster of a grading run is open to no one but the
run. Its scheduler, workers and nannies listen on tls:// only, with a key and certificate made for
the run (Dask's ``LocalCluster(security=True)``): a plain ``tcp://`` client and a TLS client
without the run's certificate are refused, whether the attacker is root or `nobody`, and whether
the grader runs as root or as `nobody`. Checked on the cluster that ``connect()`` starts (what the
grading command uses) and during a real grading run, whose scheduler the command names."""

import json
import os
import pwd
import re
import subprocess
import sys
import textwrap

import pytest

from autograder import REPO_ROOT, command_argv, course
from autograder.tools.demo import demo_class, write_class

pytestmark = pytest.mark.slow

NOBODY = pwd.getpwnam("nobody")
AS_NOBODY = ["setpriv", f"--reuid={NOBODY.pw_uid}", f"--regid={NOBODY.pw_gid}", "--clear-groups"]

# Starts the grader's own local cluster and prints the addresses of its scheduler, workers and
# nannies; stops it when its standard input closes.
HOLD = textwrap.dedent("""
    import json, sys
    from autograder.grade.cluster import connect
    if __name__ == "__main__":
        with connect(1) as client:
            workers = client.scheduler_info()["workers"]
            addresses = [client.scheduler.address, *workers]
            addresses += [info["nanny"] for info in workers.values() if info.get("nanny")]
            print(json.dumps(addresses), flush=True)
            sys.stdin.read()
""")

# Tries each address as an attacker would: over plain tcp://, and over TLS with a certificate of
# its own; prints {address: {attempt: outcome}}. An answer to "identity" means it got in.
ATTACK = textwrap.dedent("""
    import asyncio, json, sys
    from distributed import Security
    from distributed.comm import connect

    async def attempt(address, connection_args):
        try:
            comm = await connect(address, timeout=5, **connection_args)
        except Exception as error:
            return f"refused ({type(error).__name__})"
        try:
            await comm.write({"op": "identity", "reply": True})
            answer = await asyncio.wait_for(comm.read(), 5)
            return f"answered: {str(answer)[:100]}"
        except Exception as error:
            return f"refused ({type(error).__name__})"
        finally:
            comm.abort()

    async def main(addresses):
        outcomes = {}
        for address in addresses:
            plain = "tcp://" + address.split("://", 1)[1]
            other = Security.temporary().get_connection_args("client")
            outcomes[address] = {
                "plain tcp": await attempt(plain, {}),
                "other TLS certificate": await attempt(address, other),
            }
        print(json.dumps(outcomes))

    asyncio.run(main(json.loads(sys.argv[1])))
""")


def _environment(home) -> dict:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(REPO_ROOT),
        "MHA_GRADING_SECRET": "cluster-access-secret",
    }


@pytest.fixture
def home(tmp_path):
    """A home folder that `nobody` may write (Dask reads its configuration from there)."""
    folder = tmp_path / "home"
    folder.mkdir()
    if os.geteuid() == 0:
        os.chown(folder, NOBODY.pw_uid, NOBODY.pw_gid)
    return folder


def _users() -> list[tuple[str, list[str]]]:
    """(name, command prefix) of each user to act as: this one, and `nobody` when this is root."""
    users = [("this user", [])]
    if os.geteuid() == 0:
        users.append(("nobody", AS_NOBODY))
    return users


def attack(addresses: list[str], home) -> dict:
    """{user: {address: {attempt: outcome}}}, each user attacking from a process of its own."""
    found = {}
    for user, prefix in _users():
        run = subprocess.run(
            [*prefix, sys.executable, "-c", ATTACK, json.dumps(addresses)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd="/",
            env=_environment(home),
        )
        assert run.returncode == 0, run.stderr[-3000:]
        found[user] = json.loads(run.stdout)
    return found


def answered(outcomes: dict) -> list[str]:
    return [
        f"{user} got into {address} ({attempt})"
        for user, by_address in outcomes.items()
        for address, attempts in by_address.items()
        for attempt, outcome in attempts.items()
        if not outcome.startswith("refused")
    ]


@pytest.mark.parametrize("owner", ["this user", "nobody"])
def test_the_local_cluster_refuses_every_client_without_its_certificate(owner, home):
    """connect()'s cluster (scheduler, worker and nanny), started by `owner`, attacked by this
    user and by `nobody`: every attempt over plain tcp:// or with another certificate is
    refused."""
    if owner == "nobody" and os.geteuid() != 0:
        pytest.skip("starting the cluster as `nobody` needs root; it ran as this user above")
    prefix = dict(_users())[owner]
    holder = subprocess.Popen(
        [*prefix, sys.executable, "-c", HOLD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd="/",
        env=_environment(home),
    )
    try:
        line = holder.stdout.readline()
        assert line, holder.stderr.read()[-3000:]
        addresses = json.loads(line)
        outcomes = attack(addresses, home)
    finally:
        holder.stdin.close()
        holder.wait(timeout=120)
    assert len(outcomes) == len(_users()) and len(addresses) == 3, outcomes
    assert answered(outcomes) == [], outcomes
    assert all(address.startswith("tls://") for address in addresses), addresses


def test_a_grading_runs_scheduler_refuses_a_client_without_credentials(tmp_path, home):
    """During a real grading run, its scheduler (named on the command's output) refuses this user
    and `nobody`, over plain tcp:// and with another certificate; the run then ends as usual."""
    assignment = course.assignments()[2]
    submitted = write_class(demo_class([assignment]), tmp_path / "submitted")
    run = subprocess.Popen(
        command_argv(
            "grade", submitted, "--out", tmp_path / "out", "--workers", "1", "--no-progress"
        ),
        cwd=REPO_ROOT,
        env=dict(os.environ, MHA_GRADING_SECRET="cluster-access-secret"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = []
    try:
        for line in run.stderr:
            seen.append(line)
            found = re.search(r"on a local cluster of 1 workers? at (tls://\S+)", line)
            if found:
                outcomes = attack([found.group(1)], home)
                graded_meanwhile = run.poll() is None  # the attack met the run's own cluster
                break
        else:
            pytest.fail("the run never named its scheduler:\n" + "".join(seen)[-3000:])
        seen += run.stderr.readlines()
        run.wait(timeout=900)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert graded_meanwhile, "".join(seen)[-3000:]
    assert answered(outcomes) == [], outcomes
    assert run.returncode == 3, "".join(seen)[-3000:]  # the demo's not-json: graded otherwise
    assert (tmp_path / "out" / "grades.csv").exists()


ROUTES_NOT_SERVED = ("/metrics", "/info/main/workers.html", "/json/identity.json")


def test_the_local_cluster_serves_no_http_but_its_health_check():
    """Dask's scheduler and workers serve HTTP without authentication even with no dashboard
    (Prometheus metrics, pages about the workers and tasks), the scheduler on port 8787 (another
    cluster's there: a warning at every run). connect()'s cluster answers only the health check,
    on ports of the loopback the system picks."""
    import urllib.error
    import urllib.request
    import warnings

    from autograder.grade.cluster import connect

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Port 8787 is already in use" would be one
        with connect(1) as client:
            info = client.scheduler_info()
            ports = [info["services"]["dashboard"]]
            ports += [worker["services"]["dashboard"] for worker in info["workers"].values()]
            answers = {}
            for port in ports:
                for route in ("/health", *ROUTES_NOT_SERVED):
                    try:
                        url = f"http://127.0.0.1:{port}{route}"
                        with urllib.request.urlopen(url, timeout=10) as answer:
                            answers[port, route] = answer.status
                    except urllib.error.HTTPError as error:
                        answers[port, route] = error.code
    assert len(ports) == 2 and 8787 not in ports, ports
    assert all(answers[port, "/health"] == 200 for port in ports), answers
    assert all(answers[port, route] == 404 for port in ports for route in ROUTES_NOT_SERVED), (
        answers
    )
