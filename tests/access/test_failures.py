"""A connection that fails says why, once, at the default level: the broker's reason, not a wrong
diagnosis, again at an interval rather than every retry; and no password in logs or ps."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from microdial.cli import build_parser
from microdial.config import load_settings
from microdial.errors import ConfigError
from microdial.mqtt import address as broker_address
from microdial.mqtt.address import BrokerAddress
from microdial.mqtt.publisher import MqttPublisher
from microdial.mqtt.sink import MqttOptions
from microdial.recorder import RecorderSettings, record
from tests.access.conftest import PASSWORD, USER, Lab
from tests.access.support import loud, running

FAST = MqttOptions(protocol="auto", reconnect_min=0.05, reconnect_max=0.1)


def lab_address(lab: Lab, **update: object) -> BrokerAddress:
    address = BrokerAddress(
        host="127.0.0.1", port=lab.broker.port, tls=True, username=USER, password=PASSWORD, ca_file=lab.ca
    )
    return address.model_copy(update=update)


async def attempts(address: BrokerAddress, session: str, seconds: float = 1.5) -> MqttPublisher:
    """A daemon's connection retrying every ~0.1 s for a while."""
    publisher = MqttPublisher(address, session, "failing", FAST)
    async with running(publisher.run()):
        await asyncio.sleep(seconds)
    return publisher


async def test_a_wrong_password_is_one_line_with_the_brokers_reason(
    lab: Lab, session_code: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    publisher = await attempts(lab_address(lab, password="wrong"), session_code)
    assert publisher.connects == 0
    (line,) = loud(caplog)
    text = line.getMessage()
    assert line.levelno == logging.ERROR and "daemon failing" in text and lab.url in text
    assert "Not authorized" in text or "user name or password" in text, text
    assert "MQTT 5" not in caplog.text  # the old wrong diagnosis: the broker speaks 5, it refused the user
    assert "wrong" not in text and PASSWORD not in caplog.text


async def test_a_wrong_ca_is_one_line_naming_the_certificate(
    lab: Lab, session_code: str, caplog: pytest.LogCaptureFixture
) -> None:
    await attempts(lab_address(lab, ca_file=lab.folder / "other-ca.crt"), session_code)
    (line,) = loud(caplog)
    assert line.levelno == logging.ERROR
    assert "CERTIFICATE_VERIFY_FAILED" in line.getMessage() and "--ca-file" in line.getMessage()


async def test_a_lasting_failure_is_repeated_at_an_interval_not_every_retry(
    lab: Lab, session_code: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(broker_address, "REPORT_INTERVAL", 0.5)
    caplog.set_level(logging.DEBUG, logger="microdial.mqtt.address")
    await attempts(lab_address(lab, password="wrong"), session_code, seconds=1.8)
    lines = loud(caplog)
    retries = [r for r in caplog.records if "still unreachable" in r.getMessage()]
    assert 3 <= len(lines) <= 5 and len(retries) > len(lines), (len(lines), len(retries))
    assert "more failed attempts since the last report" in lines[-1].getMessage()


async def test_back_after_failures_says_so(
    lab: Lab, session_code: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    lab.broker.stop()
    publisher = MqttPublisher(lab_address(lab), session_code, "returning", FAST)
    async with running(publisher.run()):
        await asyncio.sleep(0.5)
        lab.broker.start()
        for _ in range(100):
            if publisher.connects:
                break
            await asyncio.sleep(0.05)
    (down,) = loud(caplog)
    assert down.levelno == logging.WARNING and "Connection refused" in down.getMessage()
    assert any(
        "connected to broker" in r.getMessage() and "failed attempts" in r.getMessage()
        for r in caplog.records
    )


def test_a_password_in_the_url_is_warned_about_and_never_shown(caplog: pytest.LogCaptureFixture) -> None:
    settings = RecorderSettings(broker=f"mqtt://{USER}:{PASSWORD}@127.0.0.1:1883")
    address = settings.broker_address()
    assert address.password == PASSWORD
    assert "password" in caplog.text and "ps" in caplog.text
    assert PASSWORD not in caplog.text and PASSWORD not in repr(address) and PASSWORD not in address.url
    with pytest.raises(ConfigError) as refused:
        BrokerAddress.parse(f"http://{USER}:{PASSWORD}@127.0.0.1")
    assert PASSWORD not in str(refused.value)


def test_the_password_comes_from_a_file_or_the_environment_never_a_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "secret"
    secret.write_text("from-the-file\n")
    loaded = load_settings(RecorderSettings, "record", {"password_file": secret, "username": USER})
    assert loaded.broker_address().password == "from-the-file"
    monkeypatch.setenv("MICRODIAL_RECORD_PASSWORD", "from-the-environment")
    assert load_settings(RecorderSettings, "record", {}).broker_address().password == "from-the-environment"
    for command in ("daemon", "record", "view", "watch", "doctor"):
        parser = build_parser([command])
        # Not even as an abbreviation of --password-file, which would put the password in ps.
        with pytest.raises(SystemExit):
            parser.parse_args([command, "--password", "s3cret"])
        args = parser.parse_args([command, "--password-file", str(secret), "--ca-file", str(secret)])
        assert args.password_file == str(secret)


def test_unreadable_tls_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ca_file"):
        RecorderSettings(broker="mqtts://127.0.0.1", ca_file=tmp_path / "missing.crt").broker_address()
    with pytest.raises(ConfigError, match="password file"):
        RecorderSettings(password_file=tmp_path / "missing").broker_address()
    with pytest.raises(ConfigError, match="--cert-file"):
        RecorderSettings(broker="mqtts://127.0.0.1", key_file=tmp_path).broker_address()


async def test_the_recorder_reports_a_refused_user_once(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("MICRODIAL_RECORD_PASSWORD", "wrong")
    flags = {
        "broker": lab.url,
        "ca_file": lab.ca,
        "username": USER,
        "out": tmp_path / "out",
        "reconnect_max": 0.1,
    }
    settings = load_settings(RecorderSettings, "record", flags)
    async with running(record(settings)):
        await asyncio.sleep(1.5)
    (line,) = loud(caplog)
    assert line.levelno == logging.ERROR and "recorder" in line.getMessage()
    assert "Not authorized" in line.getMessage() or "user name or password" in line.getMessage()
