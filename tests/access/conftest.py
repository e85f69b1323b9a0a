"""A lab broker as an operator would set it up: TLS with a CA the test makes, users with passwords,
and optionally client certificates signed by the same CA."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from microdial.embedded_broker import MosquittoProcess

USER = "lab"
PASSWORD = "dial-s3cret"


@dataclass(frozen=True)
class Lab:
    broker: MosquittoProcess
    folder: Path

    @property
    def url(self) -> str:
        return f"mqtts://127.0.0.1:{self.broker.port}"

    @property
    def ca(self) -> Path:
        return self.folder / "ca.crt"

    def password_file(self, password: str = PASSWORD) -> Path:
        path = self.folder / f"password-{len(password)}"
        path.write_text(password + "\n")
        return path


def _openssl(folder: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=folder)


def _signed(folder: Path, name: str, subject: str, extensions: str | None = None) -> None:
    """name.key and name.crt, signed by the lab CA."""
    _openssl(
        folder,
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-subj",
        subject,
        "-keyout",
        f"{name}.key",
        "-out",
        f"{name}.csr",
    )
    extra = []
    if extensions is not None:
        (folder / f"{name}.cnf").write_text(extensions)
        extra = ["-extfile", f"{name}.cnf"]
    _openssl(
        folder,
        "x509",
        "-req",
        "-in",
        f"{name}.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        *extra,
        "-out",
        f"{name}.crt",
    )


def certificates(folder: Path) -> None:
    """A lab CA, the broker's certificate for 127.0.0.1, a client certificate; and another CA that
    signed none of them (what a wrong --ca-file is)."""
    for ca in ("ca", "other-ca"):
        _openssl(
            folder,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            f"/CN=microdial {ca}",
            "-keyout",
            f"{ca}.key",
            "-out",
            f"{ca}.crt",
        )
    _signed(folder, "server", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1\n")
    _signed(folder, "client", "/CN=dial-daemon")


def _lab(folder: Path, client_certificates: bool) -> Iterator[Lab]:
    certificates(folder)
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(folder / "passwd"), USER, PASSWORD], check=True)
    listener = [
        f"cafile {folder / 'ca.crt'}",
        f"certfile {folder / 'server.crt'}",
        f"keyfile {folder / 'server.key'}",
        f"require_certificate {'true' if client_certificates else 'false'}",
        "allow_anonymous false",
        f"password_file {folder / 'passwd'}",
    ]
    broker = MosquittoProcess(listener=listener)
    broker.start()
    try:
        yield Lab(broker, folder)
    finally:
        broker.close()


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    """TLS and passwords."""
    yield from _lab(tmp_path, client_certificates=False)


@pytest.fixture
def cert_lab(tmp_path: Path) -> Iterator[Lab]:
    """TLS, passwords and a client certificate required."""
    yield from _lab(tmp_path, client_certificates=True)
