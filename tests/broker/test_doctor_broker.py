"""`microdial doctor` probes how many queued messages the running broker keeps, and says how to fix it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from microdial.apps.doctor import check_broker
from microdial.broker_config.probe import PROBE_MESSAGES, probe_queue
from microdial.cli import main
from tests.broker.conftest import ConfiguredBroker, stock_config


async def test_a_stock_mosquitto_gets_a_warning_with_the_fix(
    tmp_path: Path, port: int, start_broker: Callable[[Path], ConfiguredBroker]
) -> None:
    broker = start_broker(stock_config(tmp_path, port))
    url = broker.address().url
    ok, warning = await check_broker(url, timeout=2.0)
    assert ok.line() == f"OK   broker {url}: reachable; MQTT connect accepted"
    assert warning.status == "WARN" and warning.subject == f"broker {url} queues"
    assert "(mosquitto version 2.0.11) kept 10" in warning.message
    assert f"of {PROBE_MESSAGES} messages queued" in warning.message
    assert "`microdial broker config`" in warning.message


async def test_a_broker_from_microdial_broker_config_passes(
    tmp_path: Path, port: int, start_broker: Callable[[Path], ConfiguredBroker]
) -> None:
    assert main(["broker", "config", "--out", str(tmp_path), "--port", str(port)]) == 0
    broker = start_broker(tmp_path / "mosquitto.conf")
    url = broker.address().url
    assert [check.line() for check in await check_broker(url, timeout=2.0)] == [
        f"OK   broker {url}: reachable; MQTT connect accepted"
    ]
    probe = await probe_queue(broker.address(), count=PROBE_MESSAGES)
    assert (probe.sent, probe.kept, probe.version) == (
        PROBE_MESSAGES,
        PROBE_MESSAGES,
        "mosquitto version 2.0.11",
    )


@pytest.fixture
def locked_down(tmp_path: Path, port: int, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A generated configuration with one user, lab-recorder, whose password is recorder-secret."""
    users = tmp_path / "users.toml"
    users.write_text('[users.lab-recorder]\nrole = "recorder"\npassword_env = "PW"\n')
    monkeypatch.setenv("PW", "recorder-secret")
    out = tmp_path / "broker"
    assert main(["broker", "config", "--out", str(out), "--port", str(port), "--users", str(users)]) == 0
    return out


async def test_the_probe_works_for_a_user_of_a_locked_down_broker(
    locked_down: Path, port: int, start_broker: Callable[[Path], ConfiguredBroker]
) -> None:
    broker = start_broker(locked_down / "mosquitto.conf")
    probe = await probe_queue(broker.address("lab-recorder", "recorder-secret"))
    assert (probe.kept, probe.version) == (PROBE_MESSAGES, "mosquitto version 2.0.11")


async def test_a_broker_whose_acl_has_no_probe_area_gets_a_warning(
    locked_down: Path, port: int, start_broker: Callable[[Path], ConfiguredBroker]
) -> None:
    (locked_down / "acl").write_text("user lab-recorder\ntopic read microdial/v1/#\n")  # a hand-made ACL
    broker = start_broker(locked_down / "mosquitto.conf")
    probe = await probe_queue(broker.address("lab-recorder", "recorder-secret"))
    assert probe.problem() == (
        "none of the probe's 1500 messages came back: the broker keeps no queue for an absent subscriber, "
        "or its ACL keeps this user out of microdial/doctor/<user>/# "
        "(the ACL of `microdial broker config --users` lets every user in)"
    )
