"""`microdial doctor` against real parts: firmware simulators on ptys, a real Mosquitto, real mpv."""

from __future__ import annotations

import asyncio
import grp
import os
import shutil
import subprocess
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest

from microdial.apps.doctor import (
    SHIPPED_RULES,
    Check,
    _identity_check,
    check_broker,
    check_player,
    check_port,
    check_udev_rules,
)
from microdial.cli import main
from microdial.device.decoder import Identity
from microdial.device.transports.serial import SerialTransport
from microdial.embedded_broker import MosquittoProcess, free_port
from microdial.sim.runner import SimulatedDial
from tests.host.support import Chunks, make_dial


@pytest.fixture
def dial() -> Iterator[SimulatedDial]:
    simulated, _ = make_dial(seed=7)
    simulated.start()
    try:
        yield simulated
    finally:
        simulated.stop()


@pytest.fixture
def silent_pty() -> Iterator[str]:
    """A pseudo-terminal with nothing behind it: a port that is not a dial."""
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        yield os.ttyname(slave)
    finally:
        os.close(master)
        os.close(slave)


def test_doctor_with_a_simulated_dial_and_a_real_broker(
    dial: SimulatedDial, mosquitto: MosquittoProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    assert dial.path is not None
    code = main(["doctor", "--port", dial.path, "--broker", mosquitto.url])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0, lines
    assert f"OK   {dial.path}: dial {dial.device_id}, firmware " in lines[0]
    assert "protocol 2, encoder input at 100 Hz" in lines[0]
    # On a loaded test machine the round trips may be slow (WARN); they are never missing.
    assert lines[1].startswith((f"OK   dial {dial.device_id} clock", f"WARN dial {dial.device_id} clock"))
    assert "over 8/8 probes" in lines[1] and "sync good to about ±" in lines[1]
    assert lines[2].split()[:3] in (["OK", "udev", "rule:"], ["WARN", "udev", "rule:"])
    assert lines[3] == f"OK   broker {mosquitto.url}: reachable; MQTT connect accepted"
    assert len(lines) == 4


def test_unreachable_broker_and_missing_port_fail(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"mqtt://127.0.0.1:{free_port()}"
    code = main(["doctor", "--port", "/dev/no-such-dial", "--broker", url, "--timeout", "0.5"])
    lines = capsys.readouterr().out.splitlines()
    assert code == 1
    assert lines[0] == "FAIL /dev/no-such-dial: no serial port /dev/no-such-dial: is the dial plugged in?"
    assert lines[-1].startswith(f"FAIL broker {url}: nothing accepts connections on 127.0.0.1:")


async def test_a_port_that_speaks_tcp_but_not_mqtt_fails() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.0 400 Bad Request\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        (check,) = await check_broker(f"mqtt://127.0.0.1:{port}", timeout=0.5)
    assert check.status == "FAIL"
    assert "TCP works but MQTT does not" in check.message


async def test_bad_broker_url_is_one_clear_line() -> None:
    (check,) = await check_broker("http://example.org", timeout=0.5)
    assert check == Check(
        "FAIL", "broker", "broker URL 'http://example.org': use mqtt://HOST:PORT or mqtts://HOST:PORT"
    )


async def test_a_port_without_a_dial_behind_it_fails_with_advice(silent_pty: str) -> None:
    (check,) = await check_port(silent_pty, timeout=0.3)
    assert check.status == "FAIL"
    assert check.message.startswith("no ID record within 0.3 s (nothing came back)")


async def test_a_port_held_by_another_program_is_a_warning(dial: SimulatedDial) -> None:
    assert dial.path is not None
    holder = SerialTransport(dial.path)
    await holder.open(Chunks())
    try:
        (check,) = await check_port(dial.path, timeout=1.0)
    finally:
        await holder.close()
    assert check.status == "WARN" and "in use by another program" in check.message


def test_protocol_mismatch_fails() -> None:
    identity = Identity(3, "9.0.0", "ABCDEF", "pot", 100, 4, 0, "9F3A61C2")
    check = _identity_check("/dev/ttyACM1", identity)
    assert check.status == "FAIL"
    assert "this host speaks protocol 2" in check.message and "microdial firmware" in check.message


def test_previous_protocol_is_read_with_a_warning() -> None:
    identity = Identity(1, "0.1.0", "ABCDEF", "pot", 100, 4, 0)
    check = _identity_check("/dev/ttyACM1", identity)
    assert check.status == "WARN"
    assert "without a boot nonce" in check.message and "microdial firmware" in check.message


def test_permission_denied_explains_the_dialout_group(dial: SimulatedDial) -> None:
    """A child process drops to user nobody (not in dialout) and checks a dialout-owned port."""
    assert dial.path is not None
    dialout = grp.getgrnam("dialout").gr_gid
    os.chown(dial.path, 0, dialout)
    os.chmod(dial.path, 0o660)
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the forked child
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            (check,) = asyncio.run(check_port(dial.path, timeout=0.5))
            os.write(write_end, f"{check.status}|{check.message}".encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        status, message = pipe.read().decode().split("|", 1)
    os.waitpid(child, 0)
    assert status == "FAIL"
    assert message == (
        "permission denied: you are not in group dialout; run `sudo usermod -aG dialout nobody`, "
        "then log out and in again"
    )


def test_udev_rule_installed_outdated_and_missing(tmp_path: Path) -> None:
    rules = tmp_path / "rules.d"
    rules.mkdir()
    missing = check_udev_rules([rules])
    assert missing.status == "WARN" and "is not installed" in missing.message
    installed = rules / "99-microdial.rules"
    shutil.copy(SHIPPED_RULES, installed)
    assert check_udev_rules([rules]) == Check("OK", "udev rule", f"{installed} is installed")
    installed.write_text(SHIPPED_RULES.read_text().replace("239a", "1234"))
    outdated = check_udev_rules([rules])
    assert outdated.status == "WARN" and "differs from this version's rules" in outdated.message


@pytest.fixture
def mpv_socket(tmp_path: Path) -> Iterator[Path]:
    mpv = shutil.which("mpv")
    assert mpv, "mpv is not installed"
    socket_path = tmp_path / "mpv.sock"
    process = subprocess.Popen(
        [
            mpv,
            "--vo=null",
            "--ao=null",
            "--idle=yes",
            "--no-terminal",
            "--no-config",
            f"--input-ipc-server={socket_path}",
        ],
        stdin=subprocess.DEVNULL,
    )
    try:
        yield socket_path
    finally:
        process.terminate()
        process.wait(10)


async def test_player_reachable_and_not(mpv_socket: Path, tmp_path: Path) -> None:
    (reached,) = await check_player(f"mpv:{mpv_socket}", timeout=10.0)
    assert reached.status == "OK" and reached.message.startswith("connected")
    (absent,) = await check_player(f"mpv:{tmp_path / 'nothing.sock'}", timeout=0.3)
    assert absent.status == "FAIL" and "no answer within 0.3 s" in absent.message
    (bad,) = await check_player("winamp", timeout=0.3)
    assert bad.status == "FAIL" and bad.message.startswith("unknown player 'winamp'")
    assert await check_player(None, timeout=0.3) == []


def test_settings_come_from_the_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "lab.toml"
    url = f"mqtt://127.0.0.1:{free_port()}"
    config.write_text(f'[doctor]\nbroker = "{url}"\nport = ["/dev/no-such-dial"]\ntimeout = 0.5\n')
    assert main(["doctor", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert f"FAIL broker {url}" in out and "FAIL /dev/no-such-dial" in out


def test_a_bad_setting_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--timeout", "0"]) == 2
    assert capsys.readouterr().err == (
        "microdial doctor: environment or flags: timeout: Input should be greater than 0\n"
    )
