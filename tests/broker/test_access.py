"""Users and ACLs from `microdial broker config --users`: each role can do its job and nothing else."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from microdial.broker_config.access import hash_password
from microdial.cli import main
from microdial.mqtt.address import BrokerAddress
from microdial.mqtt.client import ClientOptions, ConnectRefused, MqttClient, MqttError, mqtt_client
from tests.broker.conftest import ConfiguredBroker

PASSWORDS = {"room1": "daemon-secret", "lab-recorder": "recorder-secret"}
USERS = """
[users.room1]
role = "daemon"
sessions = ["S1"]
password_env = "ROOM1_PASSWORD"

[users.lab-recorder]
role = "recorder"
password_file = "{recorder_password}"

[users.viewer]
role = "viewer"

[users.console]
role = "controller"
sessions = ["S1"]
"""


class Lab:
    def __init__(self, broker: ConfiguredBroker, passwords: dict[str, str]) -> None:
        self.broker = broker
        self.passwords = passwords

    def address(self, user: str, password: str | None = None) -> BrokerAddress:
        return self.broker.address(user, password or self.passwords[user])

    @contextlib.asynccontextmanager
    async def client(self, user: str) -> AsyncIterator[MqttClient]:
        async with mqtt_client(self.address(user), ClientOptions(timeout=5)) as client:
            yield client


@pytest.fixture
def lab(
    tmp_path: Path,
    port: int,
    start_broker: Callable[[Path], ConfiguredBroker],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Lab:
    secret = tmp_path / "recorder.password"
    secret.write_text(PASSWORDS["lab-recorder"] + "\n")
    users = tmp_path / "users.toml"
    users.write_text(USERS.format(recorder_password=secret))
    monkeypatch.setenv("ROOM1_PASSWORD", PASSWORDS["room1"])
    out = tmp_path / "broker"
    assert main(["broker", "config", "--out", str(out), "--port", str(port), "--users", str(users)]) == 0
    printed = capsys.readouterr().out
    generated = dict(re.findall(r"^generated password for (\S+): (\S+)$", printed, re.MULTILINE))
    assert sorted(generated) == ["console", "viewer"]
    for password in PASSWORDS.values():
        assert password not in printed
    broker = start_broker(out / "mosquitto.conf")
    return Lab(broker, {**PASSWORDS, **generated})


async def receive_until(client: MqttClient, marker: str) -> list[tuple[str, bytes]]:
    """Every message up to the marker's: the broker delivers one publisher's messages in order."""
    received: list[tuple[str, bytes]] = []
    messages = aiter(client.messages)
    while True:
        message = await asyncio.wait_for(anext(messages), 5)
        assert isinstance(message.payload, bytes)
        received.append((str(message.topic), message.payload))
        if str(message.topic) == marker:
            return received


async def attempt(client: MqttClient, topic: str) -> None:
    """Publish and go on: a refused publish may come back as an error or as nothing at all."""
    with contextlib.suppress(MqttError):
        await client.publish(topic, b"forged", qos=1)


async def test_a_daemon_publishes_only_its_own_sessions_dials(lab: Lab) -> None:
    async with lab.client("lab-recorder") as recorder, lab.client("room1") as daemon:
        await recorder.subscribe("microdial/v1/#", qos=1)
        await attempt(daemon, "microdial/v1/S2/dial1/samples")
        await attempt(daemon, "microdial/v1/S1/cmd")
        await attempt(daemon, "microdial/v1/S1/dial1/confirm")
        await daemon.publish("microdial/v1/S1/dial1/status", b"{}", qos=1)
        await daemon.publish("microdial/v1/S1/daemon/room1", b"{}", qos=1)
        await daemon.publish("microdial/v1/S1/dial1/samples", b"marker", qos=1)
        received = await receive_until(recorder, "microdial/v1/S1/dial1/samples")
    assert [topic for topic, _ in received] == [
        "microdial/v1/S1/dial1/status",
        "microdial/v1/S1/daemon/room1",
        "microdial/v1/S1/dial1/samples",
    ]


async def test_a_recorder_and_a_viewer_only_read(lab: Lab) -> None:
    async with lab.client("viewer") as viewer, lab.client("lab-recorder") as recorder:
        await viewer.subscribe("microdial/v1/#", qos=1)
        await attempt(recorder, "microdial/v1/S1/dial1/samples")
        await attempt(recorder, "microdial/v1/S1/cmd")
        async with lab.client("room1") as daemon:
            await daemon.publish("microdial/v1/S1/dial1/events", b"marker", qos=1)
        received = await receive_until(viewer, "microdial/v1/S1/dial1/events")
        assert received == [("microdial/v1/S1/dial1/events", b"marker")]
        async with lab.client("lab-recorder") as second:
            await second.subscribe("microdial/v1/#", qos=1)
            await attempt(viewer, "microdial/v1/S1/dial1/samples")
            async with lab.client("room1") as daemon:
                await daemon.publish("microdial/v1/S1/dial1/events", b"marker", qos=1)
            assert await receive_until(second, "microdial/v1/S1/dial1/events") == [
                ("microdial/v1/S1/dial1/events", b"marker")
            ]


async def test_the_controller_commands_and_reads_replies_only(lab: Lab) -> None:
    async with lab.client("room1") as daemon, lab.client("console") as console:
        await daemon.subscribe("microdial/v1/S1/cmd", qos=1)
        await console.subscribe("microdial/v1/S1/cmd/reply", qos=1)
        await attempt(console, "microdial/v1/S1/dial1/samples")
        await console.publish("microdial/v1/S1/cmd", b'{"id": "1"}', qos=1)
        assert await receive_until(daemon, "microdial/v1/S1/cmd") == [("microdial/v1/S1/cmd", b'{"id": "1"}')]
        await daemon.publish("microdial/v1/S1/cmd/reply", b'{"id": "1", "ok": true}', qos=1)
        assert await receive_until(console, "microdial/v1/S1/cmd/reply") == [
            ("microdial/v1/S1/cmd/reply", b'{"id": "1", "ok": true}')
        ]
    async with lab.client("lab-recorder") as recorder, lab.client("console") as console:
        await recorder.subscribe("microdial/v1/#", qos=1)
        await attempt(console, "microdial/v1/S1/dial1/samples")
        await attempt(console, "microdial/v1/S2/cmd")
        await console.publish("microdial/v1/S1/cmd", b"marker", qos=1)
        assert await receive_until(recorder, "microdial/v1/S1/cmd") == [("microdial/v1/S1/cmd", b"marker")]


async def test_a_wrong_password_or_no_user_is_refused(lab: Lab) -> None:
    for address in (lab.address("room1", "not-the-password"), lab.broker.address()):
        with pytest.raises(ConnectRefused):
            async with mqtt_client(address, ClientOptions(timeout=5)):
                pass


def test_running_again_keeps_the_generated_passwords(
    tmp_path: Path, lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    passwd = tmp_path / "broker" / "passwd"

    def generated_lines() -> list[str]:
        return [line for line in passwd.read_text().splitlines() if line.startswith(("console:", "viewer:"))]

    before = generated_lines()
    users = tmp_path / "users.toml"
    assert main(["broker", "config", "--out", str(tmp_path / "broker"), "--users", str(users)]) == 0
    assert "generated password" not in capsys.readouterr().out
    assert generated_lines() == before and len(before) == 2
    assert passwd.stat().st_mode & 0o077 == 0


def test_hashes_are_what_mosquitto_passwd_writes() -> None:
    # mosquitto_passwd 2.0's line for the password "secret" with this salt.
    salt = bytes.fromhex("ab7140bc23189d624e98d2ae")
    assert hash_password("secret", salt, iterations=101) == (
        "$7$101$q3FAvCMYnWJOmNKu$M6nmWJ19tVWe1cXYQ0IAT9fF4FggjRcA+iLGqkHs4gMaDsGPvwR/acTitP6RDxar3fx7SQ3TGw2Ok/0j+gF+9w=="
    )


async def test_a_new_session_for_a_daemon_takes_effect_on_reload(
    tmp_path: Path, lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    users = tmp_path / "users.toml"
    users.write_text(users.read_text().replace('sessions = ["S1"]', 'sessions = ["S1", "S2"]', 1))
    out = tmp_path / "broker"
    assert (
        main(["broker", "config", "--out", str(out), "--port", str(lab.broker.port), "--users", str(users)])
        == 0
    )
    lab.broker.reload()
    async with lab.client("lab-recorder") as recorder, lab.client("room1") as daemon:
        await recorder.subscribe("microdial/v1/#", qos=1)
        await daemon.publish("microdial/v1/S2/dial1/samples", b"marker", qos=1)
        assert await receive_until(recorder, "microdial/v1/S2/dial1/samples") == [
            ("microdial/v1/S2/dial1/samples", b"marker")
        ]


def test_a_daemon_without_sessions_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    users = tmp_path / "users.toml"
    users.write_text('[users.room1]\nrole = "daemon"\n')
    assert main(["broker", "config", "--out", str(tmp_path / "broker"), "--users", str(users)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"microdial broker: users file {users}: users.room1: "
        'Value error, a daemon user needs sessions = ["CODE", ...]: the sessions it may write'
    )
    assert not (tmp_path / "broker" / "passwd").exists()
