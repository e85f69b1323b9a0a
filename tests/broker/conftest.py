"""Mosquitto processes started from a configuration file, as a lab starts them."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from microdial.embedded_broker import free_port, mosquitto_binary
from microdial.mqtt.address import BrokerAddress, reachable


class ConfiguredBroker:
    """`mosquitto -c CONFIG`, stopped with SIGTERM and started again as the lab would."""

    def __init__(self, config: Path, port: int) -> None:
        binary = mosquitto_binary()
        if binary is None:
            pytest.fail("mosquitto is not installed: run scripts/test, which installs it")
        self.binary = binary
        self.config = config
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None
        self.log = config.with_suffix(".log")

    def address(self, username: str | None = None, password: str | None = None) -> BrokerAddress:
        return BrokerAddress(host="127.0.0.1", port=self.port, username=username, password=password)

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([self.binary, "-c", str(self.config)], stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while not reachable(self.address(), timeout=0.2):
            if self.process.poll() is not None:
                pytest.fail(f"mosquitto exited with {self.process.returncode}: {self.log.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"mosquitto did not listen on {self.port}: {self.log.read_text()}")
            time.sleep(0.02)

    def reload(self) -> None:
        """SIGHUP, as `kill -HUP` would; returns once Mosquitto has read its files again."""
        assert self.process is not None
        before = self.log.read_text().count("Reloading config.")
        self.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while self.log.read_text().count("Reloading config.") == before:
            if time.monotonic() > deadline:
                pytest.fail(f"mosquitto did not reload: {self.log.read_text()}")
            time.sleep(0.02)
        # It logs this line, then reads the files in the same step of its single-threaded loop:
        # any packet sent from now on is handled after the reload.

    def stop(self, kill: bool = False) -> None:
        """SIGTERM: Mosquitto saves its database and exits; kill: SIGKILL, it saves nothing more."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            self.process.wait(timeout=10)


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def start_broker(port: int) -> Iterator[Callable[[Path], ConfiguredBroker]]:
    """Starts `mosquitto -c CONFIG` on the test's port; every broker started is stopped at the end."""
    started: list[ConfiguredBroker] = []

    def start(config: Path) -> ConfiguredBroker:
        broker = ConfiguredBroker(config, port)
        started.append(broker)
        broker.start()
        return broker

    yield start
    for broker in started:
        broker.stop()


def stock_config(folder: Path, port: int) -> Path:
    """Debian's Mosquitto as installed: no persistence, stock queue limits."""
    config = folder / "stock.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
    return config
