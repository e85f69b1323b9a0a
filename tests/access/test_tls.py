"""One set of TLS and credential options for every command that connects, from flags, the
environment or the config file: each command reaches a lab broker that has its own CA and users."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from microdial.apps.doctor import DoctorSettings, check_broker
from microdial.apps.watch import WatchSettings, watch
from microdial.config import load_settings
from microdial.daemon import DaemonSettings, publishing
from microdial.model import CommandReply
from microdial.mqtt.control import Controller
from microdial.mqtt.publisher import MqttPublisher
from microdial.mqtt.topics import command_topic, reply_topic
from microdial.recorder import RecorderSettings, record
from microdial.web.live import ViewSettings, serve
from tests.access.conftest import PASSWORD, USER, Lab
from tests.access.support import lab_client, loud, running


def environment(monkeypatch: pytest.MonkeyPatch, section: str, lab: Lab) -> None:
    """The broker, CA and credentials as MICRODIAL_<SECTION>_* variables: no flag shows the password."""
    for key, value in {
        "BROKER": lab.url,
        "CA_FILE": str(lab.ca),
        "USERNAME": USER,
        "PASSWORD": PASSWORD,
    }.items():
        monkeypatch.setenv(f"MICRODIAL_{section.upper()}_{key}", value)


async def test_record_takes_its_ca_and_password_from_the_environment(
    lab: Lab, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, session_code: str
) -> None:
    environment(monkeypatch, "record", lab)
    settings = load_settings(RecorderSettings, "record", {"out": tmp_path / "out", "session": session_code})
    ready = asyncio.Event()
    async with running(record(settings, ready=ready)):
        await asyncio.wait_for(ready.wait(), 10)


async def test_watch_takes_its_ca_and_password_file_from_the_config_file(
    lab: Lab, tmp_path: Path, session_code: str
) -> None:
    config = tmp_path / "lab.toml"
    config.write_text(
        f'[watch]\nbroker = "{lab.url}"\nca_file = "{lab.ca}"\nusername = "{USER}"\n'
        f'password_file = "{lab.password_file()}"\n'
    )
    settings = load_settings(WatchSettings, "watch", {"session": session_code}, config)
    ready = asyncio.Event()
    async with running(watch(settings, io.StringIO(), ready=ready)):
        await asyncio.wait_for(ready.wait(), 10)


async def test_view_takes_its_ca_from_a_flag(
    lab: Lab, monkeypatch: pytest.MonkeyPatch, session_code: str
) -> None:
    monkeypatch.setenv("MICRODIAL_VIEW_PASSWORD", PASSWORD)
    flags = {"broker": lab.url, "ca_file": lab.ca, "username": USER, "session": session_code, "port": 0}
    settings = load_settings(ViewSettings, "view", flags)
    ready = asyncio.Event()
    async with running(serve(settings, ready=ready)):
        await asyncio.wait_for(ready.wait(), 10)


async def test_doctor_checks_a_tls_broker_with_its_ca(lab: Lab) -> None:
    flags = {"broker": lab.url, "ca_file": lab.ca, "username": USER, "password_file": lab.password_file()}
    checks = await check_broker(load_settings(DoctorSettings, "doctor", flags), timeout=5)
    assert checks[0].status == "OK", checks[0].line()
    # Without the CA the reason is the certificate, not "is this an MQTT port?".
    (check,) = await check_broker(
        load_settings(DoctorSettings, "doctor", {**flags, "ca_file": None}), timeout=5
    )
    assert check.status == "FAIL" and "CERTIFICATE_VERIFY_FAILED" in check.message
    assert "--ca-file" in check.message and "MQTT port" not in check.message


async def test_the_daemons_commands_ride_its_tls_connection(lab: Lab, session_code: str) -> None:
    """The command handler uses the publisher's connection, so the daemon's TLS settings are its own."""
    flags = {
        "broker": lab.url,
        "ca_file": lab.ca,
        "username": USER,
        "password_file": lab.password_file(),
        "session": session_code,
    }
    settings = load_settings(DaemonSettings, "daemon", flags)
    publisher = MqttPublisher(settings.broker_address(), session_code, "tls-daemon", settings.mqtt_options())
    async with publishing(publisher):
        controller = Controller(publisher, session_code, [])
        async with running(controller.run()), lab_client(lab) as client:
            await asyncio.wait_for(controller.ready.wait(), 10)
            await client.subscribe(reply_topic(session_code), qos=1)
            command = b'{"id": "tls-1", "command": "session", "action": "mark", "detail": "over TLS"}'
            await client.publish(command_topic(session_code), command, qos=1)
            message = await asyncio.wait_for(anext(client.messages), 10)
    reply = CommandReply.model_validate_json(message.payload)
    assert reply.id == "tls-1" and reply.ok, reply


async def test_a_client_certificate_where_the_broker_asks_for_one(
    cert_lab: Lab, session_code: str, caplog: pytest.LogCaptureFixture
) -> None:
    base = {
        "broker": cert_lab.url,
        "ca_file": cert_lab.ca,
        "username": USER,
        "password_file": cert_lab.password_file(),
        "session": session_code,
        "interval": 0.05,
    }
    certified = {
        **base,
        "cert_file": cert_lab.folder / "client.crt",
        "key_file": cert_lab.folder / "client.key",
    }
    ready = asyncio.Event()
    async with running(watch(load_settings(WatchSettings, "watch", certified), io.StringIO(), ready=ready)):
        await asyncio.wait_for(ready.wait(), 10)
    # Without one the broker hangs up after the handshake, and the line says what may be missing.
    ready = asyncio.Event()
    async with running(watch(load_settings(WatchSettings, "watch", base), io.StringIO(), ready=ready)):
        await asyncio.sleep(1.5)
    assert not ready.is_set()
    assert any("--cert-file" in record.getMessage() for record in loud(caplog)), caplog.text
