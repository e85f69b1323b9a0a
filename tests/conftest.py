"""Shared fixtures: a real Mosquitto per test, on a free port, started and stopped by the suite."""

from __future__ import annotations

import os
import queue
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from microdial.embedded_broker import MosquittoProcess, mosquitto_binary

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def mosquitto() -> Iterator[MosquittoProcess]:
    if mosquitto_binary() is None:
        # scripts/test installs Debian's mosquitto; without it the suite must not pretend.
        pytest.fail("mosquitto is not installed: run scripts/test, which installs it")
    broker = MosquittoProcess()
    broker.start()
    try:
        yield broker
    finally:
        broker.close()


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[MosquittoProcess, Path]]:
    """Mosquitto with a TLS listener whose certificate a freshly made lab CA signed, and a password file."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=tmp_path)

    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=microdial lab CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    )
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    )
    (tmp_path / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "san.cnf",
        "-out",
        "server.crt",
    )
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(tmp_path / "passwd"), "lab", "dial-s3cret"], check=True
    )
    listener = [
        f"cafile {tmp_path / 'ca.crt'}",
        f"certfile {tmp_path / 'server.crt'}",
        f"keyfile {tmp_path / 'server.key'}",
        "allow_anonymous false",
        f"password_file {tmp_path / 'passwd'}",
    ]
    broker = MosquittoProcess(listener=listener)
    broker.start()
    yield broker, tmp_path / "ca.crt"
    broker.close()


@pytest.fixture
def threaded_subscriber() -> Iterator[Callable[[int, str], queue.Queue[bytes]]]:
    """subscribe(port, topic): payloads received by paho on a thread of its own, so they arrive
    while the test keeps its event loop blocked (proof that a message left without a loop step)."""
    clients: list[mqtt.Client] = []

    def subscribe(port: int, topic: str) -> queue.Queue[bytes]:
        received: queue.Queue[bytes] = queue.Queue()
        subscribed = threading.Event()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        client.on_subscribe = lambda *args: subscribed.set()
        client.on_message = lambda client, userdata, message: received.put(message.payload)
        client.connect("127.0.0.1", port)
        client.subscribe(topic, qos=1)
        client.loop_start()
        clients.append(client)
        assert subscribed.wait(5), f"no SUBACK for {topic}"
        return received

    yield subscribe
    for client in clients:
        client.loop_stop()
        client.disconnect()


@pytest.fixture
def session_code() -> str:
    """A unique session code per test, so retained messages never leak between tests."""
    return f"T{uuid.uuid4().hex[:10]}"


@pytest.fixture(autouse=True)
def _no_user_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never read a developer's own microdial.toml or MICRODIAL_* variables."""
    for key in list(os.environ):
        if key.startswith("MICRODIAL_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    # The daemon's spool and other state go under the test's own folder, for child processes too.
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
