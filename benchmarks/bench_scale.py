"""Daemon throughput, CPU and loss for many dials at 100 Hz (issue: the daemon at lab scale).

A load generator process drives N pseudo-terminals with the exact wire protocol (the shared
dialwire codec: ID on IDENT, PONG on PING, one S record every 10 ms per dial, values changing).
It stands in for the firmware simulator because 64 simulated firmwares would measure the
simulator, not the daemon. `microdial daemon --port 'DIR/*'` runs as its own process against a
private Mosquitto; a subscriber checks every sample arrives once and in order; the daemon's CPU
comes from /proc/<pid>/stat over the measured window. The generator writes every dial's record
in one burst per period, so a daemon with room to spare waits for input (blocks in the event
loop's poll) at least once per period, 100 times a second at 100 Hz. Fewer waits mean it is
saturated: it then takes whatever CPU it is given and batches more per message, so its CPU
share says how busy the machine is rather than what the load costs.

    python benchmarks/bench_scale.py [--dials 8 32 64 128] [--duration 20]
    python benchmarks/bench_scale.py --dials 8 --outage 600    # broker down 10 minutes mid-run

With --outage, the broker is stopped for that long after a warm-up and started again; the
daemon spools to disk meanwhile, and the persistent subscriber must still see every sample.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
import tty
from pathlib import Path

import aiomqtt

from dialwire import Framer, encode
from microdial.embedded_broker import MosquittoProcess
from microdial.mqtt.client import ClientOptions, MqttError, mqtt_client

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def generate(link_dir: Path, dials: int, rate_hz: float, seconds: float) -> None:
    """The load generator (runs in its own process)."""
    masters = []
    for index in range(dials):
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)  # a daemon that died must not block the generator
        path = os.ttyname(slave)
        os.close(slave)
        (link_dir / f"dial{index:02d}").symlink_to(path)
        masters.append(master)
    framers = {fd: Framer() for fd in masters}
    ids = {fd: f"{0xB0000000 + i:016X}" for i, fd in enumerate(masters)}
    seq = dict.fromkeys(masters, 0)
    start = time.monotonic()
    period = 1.0 / rate_hz
    tick = start + 2.0  # time for the daemon to find the ports
    end = tick + seconds

    def now_us() -> int:
        return int((time.monotonic() - start) * 1e6)

    while time.monotonic() < end:
        timeout = max(0.0, tick - time.monotonic())
        readable, _, _ = select.select(masters, [], [], timeout)
        for fd in readable:
            try:
                data = os.read(fd, 4096)
            except OSError:
                continue  # nobody has the port open yet
            for kind, fields in framers[fd].feed(data):
                if kind == "PING":
                    os.write(fd, encode("PONG", (fields[0], now_us())))
                elif kind == "IDENT":
                    os.write(fd, encode("ID", (1, "loadgen", ids[fd], "encoder", int(rate_hz), 4, 0)))
                    os.write(fd, encode("ACK", ("IDENT", "ok", "")))
        if time.monotonic() >= tick:
            t_us = now_us()
            for fd in masters:
                value = (seq[fd] // 7) % 101 - 50
                try:
                    os.write(fd, encode("S", (seq[fd], t_us, value)))
                    seq[fd] += 1
                except OSError:
                    pass
            tick += period
    print(json.dumps({ids[fd]: seq[fd] for fd in masters}), flush=True)
    time.sleep(1.0)


def start_daemon(
    link_dir: Path,
    broker: MosquittoProcess,
    session: str,
    profile: list[str] | None = None,
    env: dict[str, str] | None = None,
    extra: tuple[str, ...] = (),
) -> subprocess.Popen[bytes]:
    """`microdial daemon` as its own process, reading every load-generator port."""
    command = [
        sys.executable,
        *(profile or []),
        "-m",
        "microdial",
        "daemon",
        "--port",
        f"{link_dir}/dial*",
        "--broker",
        broker.url,
        "--session",
        session,
        "--rater",
        "rater",
        "--no-status",
        *extra,
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)


def waits(pid: int) -> int:
    """How often the process has blocked (voluntary context switches): each is a wait for input."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("voluntary_ctxt_switches:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


async def run_case(dials: int, seconds: float, rate_hz: float, io: str = "auto") -> dict[str, float]:
    # $SYS every second: the broker counts the daemon's connections itself.
    broker_config = ["allow_anonymous true", "sys_interval 1"]
    with (
        MosquittoProcess(persistence=False, listener=broker_config) as broker,
        tempfile.TemporaryDirectory() as tmp,
    ):
        assert broker.process is not None
        link_dir = Path(tmp)
        generator = subprocess.Popen(
            [sys.executable, __file__, "--generate", str(link_dir), str(dials), str(rate_hz), str(seconds)],
            stdout=subprocess.PIPE,
            text=True,
        )
        await asyncio.sleep(0.5)
        profile = ["-m", "cProfile", "-o", os.environ["PROFILE"]] if os.environ.get("PROFILE") else []
        daemon = start_daemon(link_dir, broker, "SCALE", profile=profile, extra=("--io", io))
        seqs: dict[str, list[int]] = {}
        messages = 0
        connected: list[int] = []
        async with aiomqtt.Client("127.0.0.1", broker.port, max_queued_incoming_messages=0) as client:
            await client.subscribe("microdial/v1/SCALE/+/samples", qos=1)
            await client.subscribe("$SYS/broker/clients/connected")

            async def collect() -> None:
                nonlocal messages
                async for message in client.messages:
                    assert isinstance(message.payload, bytes)
                    if str(message.topic).startswith("$SYS"):
                        connected.append(int(message.payload) - 1)  # not this subscriber
                        continue
                    messages += 1
                    for sample in json.loads(message.payload)["samples"]:
                        seqs.setdefault(sample["dial"], []).append(sample["seq"])

            collecting = asyncio.create_task(collect())
            await asyncio.sleep(2.0 + 3.0)  # ports found, clocks synced
            if daemon.poll() is not None:
                generator.kill()
                raise SystemExit(f"the daemon exited with status {daemon.returncode}")
            cpu_start, wall_start, waits_start = cpu_seconds(daemon.pid), time.monotonic(), waits(daemon.pid)
            broker_start = cpu_seconds(broker.process.pid)
            received_start, messages_start = sum(len(s) for s in seqs.values()), messages
            await asyncio.sleep(seconds - 4.0)
            cpu_end, wall_end, waits_end = cpu_seconds(daemon.pid), time.monotonic(), waits(daemon.pid)
            broker_end = cpu_seconds(broker.process.pid)
            received_end, messages_end = sum(len(s) for s in seqs.values()), messages
            sent = json.loads(await asyncio.to_thread(generator.stdout.readline))  # type: ignore[union-attr]
            await asyncio.sleep(2.0)  # the tail drains
            collecting.cancel()
        daemon.send_signal(signal.SIGINT if profile else signal.SIGTERM)
        daemon.wait()
        generator.wait()
    lost = duplicates = out_of_order = 0
    for dial, count in sent.items():
        got = seqs.get(dial, [])
        if not got:
            lost += count
            continue
        unique = set(got)
        duplicates += len(got) - len(unique)
        out_of_order += sum(1 for a, b in itertools.pairwise(got) if b < a)
        lost += sum(1 for seq in range(min(got), count) if seq not in unique)
    samples, published = received_end - received_start, max(1, messages_end - messages_start)
    broker_per_message = (broker_end - broker_start) / published
    return {
        "dials": dials,
        "rate": samples / (wall_end - wall_start),
        # The daemon's CPU per sample over Mosquitto's per message it took in and passed on:
        # both machines' speed cancels out.
        "relative": ((cpu_end - cpu_start) / max(1, samples)) / broker_per_message
        if broker_per_message
        else 0.0,
        "broker_cpu": (broker_end - broker_start) / (wall_end - wall_start) * 100,
        "connections": max(connected, default=-1),
        "per_message": (received_end - received_start) / max(1, messages_end - messages_start),
        "cpu": (cpu_end - cpu_start) / (wall_end - wall_start) * 100,
        "waits": (waits_end - waits_start) / (wall_end - wall_start),
        "lost": lost,
        "duplicates": duplicates,
        "out_of_order": out_of_order,
        "sent": sum(sent.values()),
    }


async def run_outage(dials: int, outage: float, rate_hz: float) -> dict[str, float]:
    warmup, after = 6.0, 10.0
    with MosquittoProcess(persistence=True) as broker, tempfile.TemporaryDirectory() as tmp:
        link_dir = Path(tmp) / "links"
        link_dir.mkdir()
        generator = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--generate",
                str(link_dir),
                str(dials),
                str(rate_hz),
                str(warmup + outage + after),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        await asyncio.sleep(0.5)
        env = {**os.environ, "MICRODIAL_DAEMON_SPOOL_DIR": str(Path(tmp) / "spool")}
        daemon = start_daemon(link_dir, broker, "OUTAGE", env=env)
        seqs: dict[str, list[int]] = {}

        async def collect() -> None:
            while True:
                try:
                    # Through our own client, which writes the subscriber's acknowledgements
                    # safely while the broker goes away (plain aiomqtt logged "Bad file descriptor").
                    options = ClientOptions(identifier="bench-outage", persistent=True)
                    async with mqtt_client(broker.address, options) as client:
                        await client.subscribe("microdial/v1/OUTAGE/+/samples", qos=1)
                        async for message in client.messages:
                            assert isinstance(message.payload, bytes)
                            for sample in json.loads(message.payload)["samples"]:
                                seqs.setdefault(sample["dial"], []).append(sample["seq"])
                except MqttError:
                    await asyncio.sleep(0.2)

        collecting = asyncio.create_task(collect())
        await asyncio.sleep(2.0 + warmup)
        broker.stop()
        outage_started = time.monotonic()
        await asyncio.sleep(outage)
        broker.start()
        drain_started = time.monotonic()
        sent = json.loads(await asyncio.to_thread(generator.stdout.readline))  # type: ignore[union-attr]
        expected = sum(sent.values())
        last = -1
        while time.monotonic() - drain_started < 120:
            await asyncio.sleep(2.0)
            total = sum(len(set(s)) for s in seqs.values())
            if total == last:
                break
            last = total
        drained = time.monotonic() - drain_started
        collecting.cancel()
        daemon.terminate()
        daemon.wait()
        generator.wait()
    lost = 0
    for dial, count in sent.items():
        received = set(seqs.get(dial, []))
        lost += sum(1 for seq in range(min(received, default=0), count) if seq not in received)
    out_of_order = sum(
        sum(1 for a, b in itertools.pairwise(list(dict.fromkeys(s))) if b < a) for s in seqs.values()
    )
    return {
        "lost": lost,
        "expected": expected,
        "outage": time.monotonic() - outage_started - drained,
        "drained": drained,
        "out_of_order": out_of_order,
    }


async def main(args: argparse.Namespace) -> None:
    if args.outage:
        for dials in args.dials:
            result = await run_outage(dials, args.outage, args.rate)
            print(
                f"{dials:3d} dials × {args.rate:.0f} Hz, broker down {args.outage:.0f} s: lost {result['lost']} of "
                f"{result['expected']} sent, out of order {result['out_of_order']}, subscriber complete "
                f"{result['drained']:.1f} s after the broker returned (the dials stream 10 s more of that time)",
                flush=True,
            )
        return
    for dials, io in ((dials, io) for dials in args.dials for io in args.io):
        result = await run_case(dials, args.seconds, args.rate, io)
        print(
            f"{result['dials']:3d} dials × {args.rate:.0f} Hz, --io {io}: {result['rate']:8.0f} samples/s through the daemon "
            f"({result['per_message']:.1f} per message), daemon CPU {result['cpu']:5.1f} % of one core, lost {result['lost']}, duplicates {result['duplicates']}, "
            f"out of order {result['out_of_order']} (of {result['sent']} sent); the daemon waited for input "
            f"{result['waits']:.0f} times/s ({args.rate:.0f}/s or more: not saturated); daemon CPU per sample / "
            f"Mosquitto CPU per message {result['relative']:.2f} (Mosquitto {result['broker_cpu']:.1f} % of one core); "
            f"broker connections of the daemon {result['connections']:.0f}",
            flush=True,
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--generate":
        generate(Path(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]))
        sys.exit(0)
    parser = argparse.ArgumentParser()
    parser.add_argument("--dials", type=int, nargs="+", default=[8, 32, 64])
    parser.add_argument("--seconds", "--duration", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--outage", type=float, default=0.0, help="stop the broker this many seconds mid-run")
    parser.add_argument(
        "--io",
        nargs="+",
        choices=["auto", "selector", "thread"],
        default=["auto"],
        help="the daemon's --io; one run each",
    )
    asyncio.run(main(parser.parse_args()))
