"""Certificates for TLS tests, made with the `openssl` command line into a folder: a CA, a broker certificate for
127.0.0.1/localhost signed by it, a client certificate signed by it, and a second, unrelated CA (the wrong one)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


@dataclass(frozen=True)
class CertificateSet:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # signs nothing here: a client trusting only it must refuse the broker


def _run(*args: str, cwd: Path) -> None:
    subprocess.run([OPENSSL, *args], cwd=cwd, check=True, capture_output=True)


def _ca(folder: Path, name: str) -> tuple[Path, Path]:
    _run("req", "-x509", *_KEY, "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2", "-subj",
         f"/CN=signalight test {name}", cwd=folder)
    return folder / f"{name}.pem", folder / f"{name}.key"


def _signed(folder: Path, name: str, ca: Path, ca_key: Path, extensions: str) -> tuple[Path, Path]:
    _run("req", *_KEY, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=folder)
    (folder / f"{name}.ext").write_text(extensions + "\n")
    _run("x509", "-req", "-in", f"{name}.csr", "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial", "-out",
         f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=folder)
    return folder / f"{name}.pem", folder / f"{name}.key"


def make_certificates(folder: Path) -> CertificateSet:
    """Write the certificates into `folder` (which must exist). Raises CalledProcessError when openssl fails."""
    ca, ca_key = _ca(folder, "ca")
    other_ca, _ = _ca(folder, "other-ca")
    server_cert, server_key = _signed(folder, "broker", ca, ca_key,
                                      "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth")
    client_cert, client_key = _signed(folder, "client", ca, ca_key, "extendedKeyUsage=clientAuth")
    return CertificateSet(ca, server_cert, server_key, client_cert, client_key, other_ca)
