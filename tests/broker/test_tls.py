"""TLS from `microdial broker config --cert --key [--cafile --require-certificate]`, with a lab CA made here."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from microdial.cli import main
from microdial.mqtt.address import BrokerAddress
from microdial.mqtt.client import ClientOptions, MqttError, mqtt_client
from tests.broker.conftest import ConfiguredBroker


@pytest.fixture
def certificates(tmp_path: Path) -> Path:
    """A lab CA and a broker certificate for 127.0.0.1 that it signed."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=tmp_path)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=lab CA",
            "-keyout", "ca.key", "-out", "ca.crt")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", "server.key", "-out", "server.csr")  # fmt: skip
    (tmp_path / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "1", "-extfile", "san.cnf", "-out", "server.crt")  # fmt: skip
    return tmp_path


def start_tls(
    certs: Path, port: int, start_broker: Callable[[Path], ConfiguredBroker], *flags: str
) -> ConfiguredBroker:
    out = certs / "broker"
    tls = ["--cert", str(certs / "server.crt"), "--key", str(certs / "server.key"), *flags]
    assert main(["broker", "config", "--out", str(out), "--port", str(port), *tls]) == 0
    return start_broker(out / "mosquitto.conf")


async def test_clients_that_trust_the_lab_ca_connect_over_tls(
    certificates: Path, port: int, start_broker: Callable[[Path], ConfiguredBroker]
) -> None:
    start_tls(certificates, port, start_broker)
    secure = BrokerAddress(host="127.0.0.1", port=port, tls=True)
    async with mqtt_client(secure, ClientOptions(ca_file=certificates / "ca.crt", timeout=5)) as client:
        await client.publish("microdial/v1/S1/dial1/status", b"{}", qos=1)
    with pytest.raises(MqttError):
        async with mqtt_client(BrokerAddress(host="127.0.0.1", port=port), ClientOptions(timeout=2)):
            pass


async def test_require_certificate_turns_away_clients_without_one(
    certificates: Path, port: int, start_broker: Callable[[Path], ConfiguredBroker]
) -> None:
    start_tls(
        certificates, port, start_broker, "--cafile", str(certificates / "ca.crt"), "--require-certificate"
    )
    secure = BrokerAddress(host="127.0.0.1", port=port, tls=True)
    with pytest.raises(MqttError):
        async with mqtt_client(secure, ClientOptions(ca_file=certificates / "ca.crt", timeout=5)):
            pass


def test_half_a_tls_setup_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["broker", "config", "--out", str(tmp_path), "--cert", "server.crt"]) == 2
    assert capsys.readouterr().err.strip().endswith("TLS needs both cert and key")
    assert main(["broker", "config", "--out", str(tmp_path), "--cafile", "ca.crt"]) == 2
    assert capsys.readouterr().err.strip().endswith("need TLS: give cert and key")
    assert not (tmp_path / "mosquitto.conf").exists()
