"""How the grading command joins an existing Dask cluster (autograder/grade/cluster.py): the TLS
options and what is said or refused before any connection is made. The real clusters are in
tests/test_distributed.py and tests/adversarial/test_cluster_access.py."""

import stat

import pytest

from autograder.__main__ import main as command_line
from autograder.grade import command as grading
from autograder.grade.cluster import ClusterRefused, address_warning, connect, remote_security
from autograder.tools.tls_certificates import CLUSTER, GRADER, role_files, write_certificates

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "address, loud",
    [
        ("tcp://10.0.0.5:8786", True),
        ("grader.example.org:8786", True),  # no scheme: Dask's default, tcp
        ("tcp://127.0.0.1:8786", False),
        ("tcp://[::1]:8786", False),
        ("tcp://localhost:8786", False),
    ],
)
def test_plain_tcp_gets_a_warning_loudest_to_another_host(address, loud):
    said = address_warning(address)
    assert said is not None and said.startswith("WARNING") == loud, said
    assert "grading secret" in said


def test_tls_gets_no_warning():
    assert address_warning("tls://10.0.0.5:8786") is None


def test_a_tls_address_without_certificates_is_refused_before_connecting():
    import dask

    with dask.config.set({"distributed.comm.tls.ca-file": None}):
        with pytest.raises(ClusterRefused, match="--tls-ca-file"):
            with connect(1, "tls://127.0.0.1:1"):
                pass


def test_certificates_for_a_tcp_address_are_refused(tmp_path):
    files = write_certificates(tmp_path)[GRADER]
    with pytest.raises(ClusterRefused, match="not a tls:// address"):
        with connect(1, "tcp://127.0.0.1:1", remote_security(*files)):
            pass


def test_tls_options_go_together(tmp_path):
    files = write_certificates(tmp_path)[GRADER]
    with pytest.raises(ClusterRefused, match="go together"):
        remote_security(files.ca_file)
    with pytest.raises(ClusterRefused, match="cannot be read"):
        remote_security(files.ca_file, tmp_path / "missing.pem", files.key)
    security = remote_security(*files)
    assert security.require_encryption and security.tls_client_cert == str(files.cert)


def test_tls_options_without_a_scheduler_are_a_refusal(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    (tmp_path / "submitted").mkdir()
    files = write_certificates(tmp_path / "tls")[GRADER]
    arguments = [str(tmp_path / "submitted"), "--out", str(tmp_path / "out")]
    arguments += ["--tls-ca-file", str(files.ca_file), "--tls-cert", str(files.cert)]
    monkeypatch.setenv("MHA_GRADING_SECRET", "cluster-options")
    assert command_line(["grade", *arguments]) == grading.REFUSAL
    assert "are for --scheduler" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_certificates_are_written_with_private_keys(tmp_path):
    """ca.pem and each role's certificate readable by all, each key by its owner only; every
    certificate is signed by the authority, whose own key is not written."""
    from cryptography import x509

    written = write_certificates(tmp_path)
    assert written == {role: role_files(tmp_path, role) for role in (CLUSTER, GRADER)}
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "ca.pem",
        "cluster-key.pem",
        "cluster.pem",
        "grader-key.pem",
        "grader.pem",
    ]
    authority = x509.load_pem_x509_certificate((tmp_path / "ca.pem").read_bytes())
    for files in written.values():
        assert stat.S_IMODE(files.key.stat().st_mode) == 0o600
        certificate = x509.load_pem_x509_certificate(files.cert.read_bytes())
        certificate.verify_directly_issued_by(authority)
