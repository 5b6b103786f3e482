"""Certificates for grading on a Dask cluster over TLS: ``python -m autograder tls-certificates
FOLDER``.

Dask's TLS is mutual: every connection (client, scheduler, worker, nanny) shows a certificate
signed by the cluster's certificate authority, and is refused without one. This writes, in FOLDER:

- ``ca.pem``: the authority's certificate, for every process (``--tls-ca-file``);
- ``cluster.pem`` and ``cluster-key.pem``: for ``dask scheduler`` and every ``dask worker``
  (``--tls-cert``, ``--tls-key``);
- ``grader.pem`` and ``grader-key.pem``: for the grading command on the instructor's machine.

The authority's own key is not kept: no one can sign another certificate for this cluster, and a
compromised key is replaced by writing a new set. Keys are written readable by their owner only.
Dask does not check host names (its TLS set-up says so), so one certificate serves every host.
"""

import argparse
import datetime
import os
from pathlib import Path
from typing import NamedTuple

CA, CLUSTER, GRADER = "ca.pem", "cluster", "grader"


class TLSFiles(NamedTuple):
    """The files of one role: the authority's certificate, its own certificate and key."""

    ca_file: Path
    cert: Path
    key: Path


def role_files(folder: Path, role: str) -> TLSFiles:
    """The files `write_certificates` wrote in `folder` for `role` (CLUSTER or GRADER)."""
    return TLSFiles(folder / CA, folder / f"{role}.pem", folder / f"{role}-key.pem")


def tls_options(files: TLSFiles) -> list[str]:
    """The command-line options that hand `files` over: `dask scheduler`, `dask worker` and the
    grading command take the same three."""
    return [
        "--tls-ca-file",
        str(files.ca_file),
        "--tls-cert",
        str(files.cert),
        "--tls-key",
        str(files.key),
    ]


def _key():
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _certificate(subject: str, key, issuer: str, signing_key, days: int, authority: bool):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))  # clocks of hosts differ a little
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=authority, path_length=None), critical=True)
        .sign(signing_key, hashes.SHA256())
    )


def _write(path: Path, data: bytes, private: bool) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def write_certificates(folder: Path, days: int = 365) -> dict[str, TLSFiles]:
    """A new authority and a certificate for each role, in `folder`: {role: its files}."""
    from cryptography.hazmat.primitives import serialization

    folder.mkdir(parents=True, exist_ok=True)
    authority_key = _key()
    name = f"mha-autograder cluster authority {datetime.date.today().isoformat()}"
    authority = _certificate(name, authority_key, name, authority_key, days, authority=True)
    _write(folder / CA, authority.public_bytes(serialization.Encoding.PEM), private=False)
    written = {}
    for role in (CLUSTER, GRADER):
        key = _key()
        certificate = _certificate(f"mha-autograder {role}", key, name, authority_key, days, False)
        files = role_files(folder, role)
        _write(files.cert, certificate.public_bytes(serialization.Encoding.PEM), private=False)
        key_bytes = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _write(files.key, key_bytes, private=True)
        written[role] = files
    return written


DESCRIPTION = __doc__.split("\n\n", 1)[1].split("\n\nThe authority")[0]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", type=Path, help="where to write the certificates and keys")
    parser.add_argument(
        "--days", type=int, default=365, help="how long they are valid (default %(default)s)"
    )


def run(arguments: argparse.Namespace) -> int:
    files = write_certificates(arguments.folder, arguments.days)
    cluster, grader = (" ".join(tls_options(files[role])) for role in (CLUSTER, GRADER))
    print(f"wrote TLS certificates to {arguments.folder}, valid for {arguments.days} days:")
    print(f"  dask scheduler --protocol tls {cluster}")
    print(f"  dask worker tls://SCHEDULER-HOST:8786 --nthreads 1 {cluster}")
    grade = "python -m autograder grade SUBMITTED --out OUT --scheduler tls://SCHEDULER-HOST:8786"
    print(f"  {grade} {grader}")
    return 0
