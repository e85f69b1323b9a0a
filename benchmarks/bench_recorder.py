"""Sustained durable ingest: publishers -> real Mosquitto -> `microdial record` process -> files.

Prints samples/s end to end (first publish to the last row on disk), for several dials
publishing batches the size the daemon sends. Then, unless --no-viewer, the live viewer:
`microdial view` process + headless chromium, 8 dials at 100 Hz in 20 ms batches, and the
delay from each sample's host time to the frame that drew it (p50/p95) and the frame rate.
Usage: python benchmarks/bench_recorder.py [--dials 8] [--samples 40000] [--batch 25] [--backlog]

With --backlog everything is published while the recorder is down and the recorder's catching
up is timed: its own capacity at small messages, which live publishers on this machine cannot
offer fast enough to measure.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiomqtt

from microdial.embedded_broker import MosquittoProcess
from microdial.model import Sample, SampleBatch
from microdial.mqtt.topics import dial_topic
from microdial.store.format import SAMPLE_COLUMNS, csv_lines, sample_row, samples_file

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.players.support import CHROMIUM_ARGS

T0 = 1_763_700_000.0


def dial_samples(session: str, dial: str, count: int) -> list[Sample]:
    return [
        Sample(
            dial=dial,
            role=f"role{dial}",
            session=session,
            value=seq % 101 - 50,
            seq=seq,
            device_time=seq / 100,
            host_time=T0 + seq / 100,
            host_monotonic=500 + seq / 100,
            media_time=seq / 100 + 1.5,
            sync_uncertainty=0.0004,
            playback="playing",
            player="mpv",
            media="session.mp4",
            media_duration=3000.0,
        )
        for seq in range(count)
    ]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc), to tell its cost from the machine's load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def publish(broker: MosquittoProcess, dial: str, payloads: list[str], session: str) -> None:
    topic = dial_topic(session, dial, "samples")
    async with aiomqtt.Client(broker.address.host, broker.port, max_inflight_messages=100) as client:
        # A window of outstanding QoS 1 publishes, as a daemon draining its queue keeps.
        pending: set[asyncio.Task[None]] = set()
        for payload in payloads:
            if len(pending) >= 50:
                _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            pending.add(asyncio.create_task(client.publish(topic, payload, qos=1)))
        await asyncio.gather(*pending)


async def bench(dials: int, per_dial: int, batch: int, backlog: bool) -> None:
    session = "BENCH"
    with tempfile.TemporaryDirectory() as tmp, MosquittoProcess() as broker:
        out = Path(tmp) / "rec"
        names = [f"d{i}" for i in range(dials)]
        samples = {name: dial_samples(session, name, per_dial) for name in names}
        payloads = {
            name: [SampleBatch(samples=s[i : i + batch]).model_dump_json() for i in range(0, per_dial, batch)]
            for name, s in samples.items()
        }
        expected = {
            out / session / samples_file(name): len(csv_lines([list(SAMPLE_COLUMNS)]))
            + len(csv_lines([sample_row(x) for x in s]).encode())
            for name, s in samples.items()
        }
        log = Path(tmp) / "recorder.log"

        def start_recorder() -> subprocess.Popen[bytes]:
            with log.open("wb") as sink:
                return subprocess.Popen(
                    [sys.executable, "-m", "microdial", "record", "--broker", broker.url, "--out", str(out)],
                    stderr=sink,
                )

        async def wait_recording(proc: subprocess.Popen[bytes]) -> None:
            while b"recording microdial/v1/" not in log.read_bytes():
                if proc.poll() is not None:
                    raise SystemExit(log.read_text())
                await asyncio.sleep(0.05)

        def written() -> int:
            return sum(p.stat().st_size if p.exists() else 0 for p in expected)

        def done() -> bool:
            return all(p.exists() and p.stat().st_size >= size for p, size in expected.items())

        proc = start_recorder()
        try:
            await wait_recording(proc)
            if backlog:
                # The broker keeps the recorder's persistent session while it is down, as after a
                # recorder restart mid-session: the whole run waits there, so the drain measures
                # the recorder alone, whatever the publishers could offer.
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)
            idle_cpu = cpu_seconds(proc.pid) if not backlog else 0.0
            start = time.perf_counter()
            await asyncio.gather(*(publish(broker, name, payloads[name], session) for name in names))
            published = time.perf_counter() - start
            if backlog:
                proc = start_recorder()
                headers = len(expected) * len(csv_lines([list(SAMPLE_COLUMNS)]))
                while written() <= headers:
                    if proc.poll() is not None:
                        raise SystemExit(log.read_text())
                    await asyncio.sleep(0.001)
                start = time.perf_counter()
                idle_cpu = cpu_seconds(proc.pid)
            while not done():
                if time.perf_counter() - start > published + 60:
                    have = {p.name: p.stat().st_size if p.exists() else 0 for p in expected}
                    raise SystemExit(
                        f"the recorder fell behind by more than 60 s: {have}\n{log.read_text()[-2000:]}"
                    )
                await asyncio.sleep(0.01)
            total = time.perf_counter() - start
            cpu = cpu_seconds(proc.pid) - idle_cpu
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        sizes = {p: p.stat().st_size for p in expected}
        assert sizes == expected, "the files differ from what was published"
        count = dials * per_dial
        mib = sum(sizes.values()) / 2**20
        print(f"dials {dials}, batch {batch} samples/message, {count} samples, {mib:.1f} MiB of CSV")
        print(f"publishers done after {published:.2f} s ({count / published:,.0f} samples/s offered)")
        what = "draining the backlog" if backlog else "live"
        print(f"recorder ingest, durable on disk, {what}: {count / total:,.0f} samples/s ({total:.2f} s)")
        print(f"recorder process CPU while ingesting {cpu:.2f} s: {count / cpu:,.0f} samples per CPU-second")
        print(f"cpu cores on this machine: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")


async def bench_viewer(dials: int, rate: int, seconds: float) -> None:
    from playwright.async_api import async_playwright

    from microdial.embedded_broker import free_port

    session = "VIEWBENCH"
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp, MosquittoProcess() as broker:
        log = Path(tmp) / "view.log"
        with log.open("wb") as sink:
            proc = subprocess.Popen(
                [
                    *(sys.executable, "-m", "microdial", "view"),
                    *("--broker", broker.url, "--session", session, "--port", str(port)),
                ],
                stderr=sink,
            )
        try:
            while b"viewer on http" not in log.read_bytes():
                if proc.poll() is not None:
                    raise SystemExit(log.read_text())
                await asyncio.sleep(0.05)
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path="/usr/bin/chromium",
                    args=CHROMIUM_ARGS,
                )
                page = await browser.new_page(viewport={"width": 1200, "height": 800})
                await page.goto(f"http://127.0.0.1:{port}/")
                await page.wait_for_function("window.microdial && window.microdial.stats.messages > 0")
                names = [f"d{i}" for i in range(dials)]
                batch = rate // 50  # the daemon's 20 ms window
                async with aiomqtt.Client(broker.address.host, broker.port) as client:
                    start = time.monotonic()
                    step = 0
                    while time.monotonic() - start < seconds:
                        now = time.time()
                        for name in names:
                            samples = [
                                s.model_copy(update={"host_time": now - (batch - 1 - i) / rate})
                                for i, s in enumerate(dial_samples(session, name, batch))
                            ]
                            samples = [
                                s.model_copy(update={"seq": step * batch + i}) for i, s in enumerate(samples)
                            ]
                            payload = SampleBatch(samples=samples).model_dump_json()
                            await client.publish(dial_topic(session, name, "samples"), payload, qos=1)
                        step += 1
                        await asyncio.sleep(max(0.0, start + step * 0.02 - time.monotonic()))
                    await asyncio.sleep(0.5)
                stats = await page.evaluate("window.microdial.stats")
                await browser.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)
    delays = sorted(stats["delays"][len(stats["delays"]) // 10 :])  # skip the warm-up
    p50 = delays[len(delays) // 2] * 1000
    p95 = delays[int(len(delays) * 0.95)] * 1000
    print(f"viewer: {dials} dials x {rate} Hz for {seconds:.0f} s, {stats['received']} points drawn")
    print(f"viewer dial-to-drawn-point delay: p50 {p50:.0f} ms, p95 {p95:.0f} ms over {len(delays)} frames")
    print(f"viewer frames drawn: {stats['frames'] / seconds:.0f}/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dials", type=int, default=8)
    parser.add_argument("--samples", type=int, default=40_000, help="per dial")
    parser.add_argument("--batch", type=int, default=25)
    parser.add_argument("--no-viewer", action="store_true", help="skip the viewer delay measurement")
    parser.add_argument(
        "--backlog",
        action="store_true",
        help="publish everything while the recorder is down, then time its catching up",
    )
    args = parser.parse_args()
    # aiomqtt warns about every publish beyond 10 in flight; the window here is deliberate.
    logging.getLogger("mqtt").setLevel(logging.ERROR)
    if args.backlog and args.dials * -(-args.samples // args.batch) > 100_000:
        parser.error("--backlog: at most 100000 messages wait for a recorder (max_queued_messages)")
    asyncio.run(bench(args.dials, args.samples, args.batch, args.backlog))
    if not args.no_viewer:
        asyncio.run(bench_viewer(8, 100, 10.0))


if __name__ == "__main__":
    main()
