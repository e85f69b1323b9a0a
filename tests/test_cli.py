"""The commands users type, as real processes: sim + daemon + record, SIGTERM, and one-line errors."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from microdial.apps.demo import DemoSettings, demo
from microdial.embedded_broker import MosquittoProcess, free_port
from microdial.store.format import SessionMeta
from tests.host.support import csv_rows

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def microdial(*args: str, **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "microdial", *args],
        env=ENV,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kwargs,  # type: ignore[call-overload]
    )


def run_microdial(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "microdial", *args],
        env=ENV,
        text=True,
        capture_output=True,
        timeout=60,
        cwd=cwd,
    )


def wait_until(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_sim_daemon_record_processes_and_sigterm_flushes(
    mosquitto: MosquittoProcess, session_code: str, tmp_path: Path
) -> None:
    link = tmp_path / "dial0"
    out = tmp_path / "rec"
    recorder = microdial("record", "--broker", mosquitto.url, "--out", str(out), "--session", session_code)
    sim = microdial(
        "sim", "--link", str(link), "--rater", "random", "--role", "client", "--seed", "3", "--rate", "100"
    )
    daemon = None
    try:
        assert sim.stdout is not None
        first_line = sim.stdout.readline().strip()
        assert first_line.startswith("/dev/pts/") and link.resolve() == Path(first_line)
        daemon = microdial(
            "daemon",
            "--port",
            str(link),
            "--broker",
            mosquitto.url,
            "--session",
            session_code,
            "--rater",
            "client",
        )
        folder = out / session_code
        wait_until(
            lambda: (
                folder.exists()
                and any(folder.glob("*.samples.csv"))
                and len(csv_rows(next(folder.glob("*.samples.csv")))) > 200
            ),
            30,
            "200 recorded samples",
        )
        sim.send_signal(signal.SIGTERM)
        sim.wait(10)
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(20) == 0
        time.sleep(1.0)
    finally:
        for process in (daemon, sim, recorder):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(20)
    rows = csv_rows(next(folder.glob("*.samples.csv")))
    seqs = [int(row["seq"]) for row in rows]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    meta = SessionMeta.load(folder)
    assert [dial.role for dial in meta.dials.values()] == ["client"]


@pytest.mark.parametrize(
    ("args", "config", "message"),
    [
        (["daemon", "--port", "/dev/nonexistent-dial"], None, "no session code"),
        (
            ["daemon", "--session", "S1", "--broker", "{broker}", "--port", "/dev/nonexistent-dial"],
            None,
            "no serial port /dev/nonexistent-dial",
        ),
        (["daemon", "--session", "Jane Doe", "--port", "/dev/null"], None, "session"),
        (["daemon", "--broker", "http://x"], "[daemon]\nsession = 'S1'\n", "use mqtt://HOST:PORT"),
        (["daemon"], "[daemon\nsession = 'S1'\n", "not valid TOML"),
        (["daemon"], "[daemon]\nsesion = 'S1'\n", "sesion: Extra inputs are not permitted"),
    ],
)
def test_bad_input_gives_one_line_that_says_what_to_do(
    mosquitto: MosquittoProcess, tmp_path: Path, args: list[str], config: str | None, message: str
) -> None:
    free = str(free_port())
    args = [a.replace("{free}", free).replace("{broker}", mosquitto.url) for a in args]
    if config is not None:
        (tmp_path / "microdial.toml").write_text(config)
    result = run_microdial(*args, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message.replace("{free}", free) in lines[0]


async def test_demo_runs_on_a_broker_it_starts_itself(tmp_path: Path) -> None:
    out = io.StringIO()
    settings = DemoSettings(
        broker=f"mqtt://127.0.0.1:{free_port()}", out=tmp_path, session="DEMOTEST", duration=3
    )
    assert await demo(settings, out) == 0
    text = out.getvalue()
    assert "Recording:" in text and "client" in text and "therapist" in text
    meta = SessionMeta.load(tmp_path / "DEMOTEST")
    assert sorted(dial.role for dial in meta.dials.values()) == ["client", "therapist"]
    for dial in meta.dials.values():
        assert len(csv_rows(tmp_path / "DEMOTEST" / dial.samples_file)) > 50


async def test_demo_falls_back_to_amqtt_without_mosquitto(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "microdial.embedded_broker.mosquitto_binary", lambda: None
    )  # as on a machine without Mosquitto
    out = io.StringIO()
    settings = DemoSettings(
        broker=f"mqtt://127.0.0.1:{free_port()}", out=tmp_path, session="AMQTT", duration=3
    )
    assert await demo(settings, out) == 0
    meta = SessionMeta.load(tmp_path / "AMQTT")
    assert len(meta.dials) == 2


def test_print_config_shows_what_a_command_would_run_with(tmp_path: Path) -> None:
    (tmp_path / "microdial.toml").write_text('[daemon]\nsession = "S1"\nbroker = "mqtt://toml:1"\n')
    env = {**ENV, "MICRODIAL_DAEMON_QOS_SAMPLES": "0", "XDG_STATE_HOME": str(tmp_path / "state")}
    result = subprocess.run(
        [sys.executable, "-m", "microdial", "daemon", "--broker", "mqtt://flag:1", "--print-config"],
        env=env,
        text=True,
        capture_output=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    table = tomllib.loads(result.stdout)["daemon"]
    assert table["session"] == "S1" and table["broker"] == "mqtt://flag:1" and table["qos_samples"] == 0
    assert table["spool_dir"] == str(tmp_path / "state" / "microdial" / "spool")


def test_daemon_help_lists_each_option_with_its_default() -> None:
    result = run_microdial("daemon", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "--spool-dir SPOOL_DIR" in text and "--broker BROKER MQTT broker URL (default mqtt://" in text
