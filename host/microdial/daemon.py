"""The daemon: every dial found, each in its own task, into one MQTT connection; supervised and stopped cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Literal

import platformdirs
from pydantic import Field

from microdial.device.discovery import PortDiscovery
from microdial.device.roles import DialEntry, RoleMap
from microdial.device.runner import DialRunner, RunnerOptions
from microdial.device.stamp import DialKey
from microdial.device.transports.serial import IoMode, port_exists
from microdial.errors import TransportError
from microdial.model import Code
from microdial.mqtt.address import BrokerSettings, reachable
from microdial.mqtt.control import Controller
from microdial.mqtt.publisher import MqttPublisher
from microdial.mqtt.sink import MqttOptions, MqttSink
from microdial.mqtt.spool import Spool, SpoolError
from microdial.players import open_player
from microdial.players.base import PlayerClock
from microdial.shutdown import catch_stop_signals
from microdial.sinks.base import Sink
from microdial.statusline import StatusLine

log = logging.getLogger(__name__)


# An int range rather than Literal[0, 1, 2]: a Literal of ints refuses the string "1" that an
# environment variable carries.
QoS = Annotated[int, Field(ge=0, le=2)]


class DaemonSettings(BrokerSettings):
    port: str = Field(
        "auto",
        description="the dials' data ports: auto, a path, a glob like '/tmp/dials/*', or comma-separated paths",
    )
    transport: Literal["serial", "hid"] = Field("serial", description="how dials are connected")
    io: IoMode = Field(
        "auto",
        description="how serial ports are read: thread (a reader thread per dial, the default on Windows and macOS), selector (the event loop watches the port, the default elsewhere), auto",
    )
    session: Code | None = Field(None, description="session code (no personal names); required")
    rater: Code | None = Field(
        None, description="rater role of a dial the config's [daemon.dials] table does not name"
    )
    player: str = Field(
        "none", description="player clock: mpv:SOCKET, vlc:URL, mpris[:NAME], browser[:PORT], free, none"
    )
    video: Path | None = Field(None, description="video for the built-in browser player (--player browser)")
    dials: dict[str, DialEntry] = Field(
        default_factory=dict,
        description='[daemon.dials."<device id>"] tables: each dial\'s role',
        json_schema_extra={"flag": False},
    )
    max_queue: int = Field(
        200_000, ge=1, description="samples per dial queued for the broker; newer ones are dropped beyond it"
    )
    batch_window: float = Field(
        0.02,
        ge=0,
        le=0.02,
        description="longest wait of an unchanged value's repeat for others to join it, seconds",
    )
    sync_interval: float = Field(5.0, gt=0, description="seconds between clock-sync bursts to each dial")
    scan_interval: float = Field(1.0, gt=0, description="seconds between looks for new dials")
    command_token: str | None = Field(
        None,
        description="commands on microdial/v1/<session>/cmd must carry this token when it is set",
        json_schema_extra={"flag": False, "secret": True},
    )
    mqtt_protocol: Literal["auto", "3.1.1", "5"] = Field("auto", description="MQTT protocol version")
    qos_samples: QoS = Field(1, description="MQTT QoS of samples")
    qos_status: QoS = Field(1, description="MQTT QoS of dial status messages")
    qos_events: QoS = Field(1, description="MQTT QoS of button and session events")
    spool_dir: Path | None = Field(
        default_factory=lambda: default_state_dir() / "spool",
        description="each dial's journal: its samples wait here, per session and dial, until the recorders confirm them, across restarts",
    )
    spool_max_mb: int | None = Field(
        None, ge=1, description="largest each dial's journal grows, MB; none: as large as the disk allows"
    )
    recorders: str = Field(
        "",
        pattern=r"^[A-Za-z0-9_.,-]*$",
        description="comma-separated recorder ids (as `microdial record` prints them) whose confirmations "
        "each journal waits for; none: the broker's acknowledgement",
    )
    resend_after: float = Field(
        5.0,
        gt=0,
        description="seconds a live recorder's confirmation may stand still before the rest is sent again",
    )
    lsl: bool = Field(False, description="also make every dial a Lab Streaming Layer outlet (type Rating)")
    daemon_id: Code | None = Field(
        None,
        description="the daemon's name in MQTT (default: the host name); two daemons of one session on one host need different ones",
    )
    max_inflight: int = Field(
        20, ge=1, description="QoS 1/2 messages unacknowledged at once; at most the broker's Receive Maximum"
    )

    def mqtt_options(self) -> MqttOptions:
        return MqttOptions(
            max_queue=self.max_queue,
            batch_window=self.batch_window,
            protocol=self.mqtt_protocol,
            qos_samples=self.qos_samples,
            qos_status=self.qos_status,
            qos_events=self.qos_events,
            max_inflight=self.max_inflight,
            recorders=tuple(r for r in self.recorders.split(",") if r),
            resend_after=self.resend_after,
        )


def check_ports(spec: str) -> None:
    """At start, a port that cannot be there is a mistake to report; later, absence is waited out."""
    if spec == "auto" or any(ch in spec for ch in "*?["):
        return
    for path in (p.strip() for p in spec.split(",") if p.strip()):
        if not port_exists(path):
            raise TransportError(
                f"no serial port {path}: plug in the dial, or give its data port with --port"
            )


def default_state_dir() -> Path:
    """Where this OS keeps an application's state (platformdirs: %LOCALAPPDATA%\\microdial on Windows,
    ~/Library/Application Support/microdial on macOS, $XDG_STATE_HOME/microdial on Linux); the
    folder of earlier versions (~/.local/state/microdial) while it exists, so its spool is not left behind."""
    old = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "microdial"
    if old.is_dir():
        return old
    return platformdirs.user_state_path("microdial", appauthor=False)


@asynccontextmanager
async def publishing(publisher: MqttPublisher, flush_timeout: float = 10.0) -> AsyncIterator[MqttPublisher]:
    """The daemon's one broker connection, kept while inside; on leaving, what is pending is
    delivered (within flush_timeout), the daemon marked offline and the connection closed."""
    task = asyncio.create_task(publisher.run())
    try:
        yield publisher
    finally:
        if not await publisher.close(flush_timeout):
            log.error("daemon: not everything was delivered before exit; the spools keep the rest")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def mqtt_sinks(
    publisher: MqttPublisher,
    spool_dir: Path | None = None,
    spool_max_bytes: int | None = None,
) -> Callable[[DialKey], Sink]:
    """Each dial's channel on the publisher's connection, with its journal (per session and dial).

    Journals an earlier daemon left, of any session, are opened at once and sent whether or not
    their dial comes back; a dial that does comes back to its open journal."""
    leftover: dict[tuple[str, str], MqttSink] = {}
    if spool_dir is not None:
        for directory in sorted(spool_dir.glob("*/*")):
            session, dial = directory.parent.name, directory.name
            try:
                journal = Spool(directory, max_bytes=spool_max_bytes)
            except (SpoolError, OSError) as err:
                log.warning("journal %s left as it is: %s", directory, err)
                continue
            if not len(journal):
                journal.close()
                continue
            log.info(
                "dial %s of session %s: %d samples an earlier run journaled will be sent",
                dial,
                session,
                len(journal),
            )
            leftover[session, dial] = publisher.sink(dial, journal, session=session)

    def make(key: DialKey) -> Sink:
        sink = leftover.pop((key.session, key.dial), None)
        if sink is not None:
            return sink
        journal = None
        if spool_dir is not None:
            try:
                journal = Spool(spool_dir / key.session / key.dial, max_bytes=spool_max_bytes)
            except (SpoolError, OSError) as err:
                log.error("dial %s: no journal (%s); samples wait in memory only", key.dial, err)
        return publisher.sink(key.dial, journal)

    return make


def lab_sinks(make: Callable[[DialKey], Sink], lsl: bool) -> Callable[[DialKey], Sink]:
    """The MQTT sinks, and with lsl an LSL outlet per dial beside each."""
    if not lsl:
        return make
    # Imported only with --lsl: liblsl is loaded then and not otherwise.
    from microdial.sinks.lsl import lsl_sinks
    from microdial.sinks.tee import tee_sinks

    return tee_sinks(make, lsl_sinks())


Discover = Callable[[], list[DialRunner]]


async def serve(
    runners: list[DialRunner],
    stop: asyncio.Event,
    *,
    discover: Discover | None = None,
    scan_interval: float = 1.0,
    flush_timeout: float = 10.0,
) -> None:
    """Run every dial until stop is set, adding those discover() finds; then deliver everything pending.

    Each dial runs in its own task. A task that fails is reported and restarted on its own,
    so one dial's fault never stalls another.
    """
    tasks = {runner: asyncio.create_task(runner.run()) for runner in runners}
    try:
        while not stop.is_set():
            for runner in discover() if discover else []:
                runners.append(runner)
                tasks[runner] = asyncio.create_task(runner.run())
            for runner, task in list(tasks.items()):
                if task.done():
                    error = task.exception()
                    log.error("dial %s stopped: %r; restarting it", _dial_id(runner), error)
                    tasks[runner] = asyncio.create_task(runner.run())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), scan_interval)
        for runner in runners:
            # The last status carries the counters as they stand now, not as of the last tick.
            status = runner.status()
            if status is not None and runner.sink is not None:
                runner.sink.put_status(status)
        flushed = await asyncio.gather(*(runner.stop(flush_timeout) for runner in runners))
        for runner, ok in zip(runners, flushed, strict=True):
            if not ok:
                log.error(
                    "dial %s: %d samples not sent before exit; its journal keeps them for the next daemon",
                    _dial_id(runner),
                    runner.counters().queued,
                )
    finally:
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)


def _dial_id(runner: DialRunner) -> str:
    """The dial's id for a log line: the key's repr would say DialKey(session=..., ...)."""
    return runner.key.dial if runner.key is not None else "(not yet identified)"


NO_PORT_WARN_INTERVAL = 30.0


def no_port(spec: str) -> str:
    """What the daemon says while no port matches: a glob that matches nothing, or no dial plugged in."""
    hint = ": plug in a dial (with microdial firmware)" if spec == "auto" else ""
    return f"no dial port matches --port {spec}{hint}"


def discoverer(
    discovery: PortDiscovery,
    session: str,
    roles: RoleMap,
    make_sink: Callable[[DialKey], Sink],
    player: PlayerClock | None,
    options: RunnerOptions,
) -> Discover:
    known: set[str] = set()
    said = -NO_PORT_WARN_INTERVAL

    def discover() -> list[DialRunner]:
        nonlocal said
        new = []
        found = discovery.scan()
        if not found and not known and time.monotonic() - said >= NO_PORT_WARN_INTERVAL:
            said = time.monotonic()
            log.warning("%s; waiting", no_port(discovery.spec))
        for key, open_transport in found.items():
            if key in known:
                continue
            known.add(key)
            log.info("dial port %s found", key)
            new.append(DialRunner(open_transport, session, roles, make_sink, player, options))
        return new

    return discover


async def _main(settings: DaemonSettings, show_status: bool) -> int:
    address = settings.broker_address()
    check_ports(settings.port)
    player = open_player(settings.player, video=settings.video)
    if not await asyncio.to_thread(reachable, address, 3.0):
        # The journal keeps every sample until the broker and the recorders are back.
        log.warning(
            "no MQTT broker answers at %s yet: journaling until it does (start one, e.g. with "
            "`microdial broker config`, or give --broker URL)",
            address.url,
        )
    assert settings.session is not None
    discovery = PortDiscovery(settings.port, settings.transport, settings.io)
    runners: list[DialRunner] = []
    stop = asyncio.Event()
    catch_stop_signals(stop.set)
    log.info(
        "daemon: session %s, ports %s, broker %s, player %s",
        settings.session,
        settings.port,
        address.url,
        settings.player,
    )
    publisher = MqttPublisher(address, settings.session, settings.daemon_id, settings.mqtt_options())
    async with publishing(publisher):
        discover = discoverer(
            discovery,
            settings.session,
            RoleMap(settings.dials, settings.rater),
            lab_sinks(
                mqtt_sinks(
                    publisher,
                    settings.spool_dir,
                    None if settings.spool_max_mb is None else settings.spool_max_mb << 20,
                ),
                settings.lsl,
            ),
            player,
            RunnerOptions(sync_interval=settings.sync_interval),
        )
        controller = Controller(publisher, settings.session, runners, player, settings.command_token)
        background = [asyncio.create_task(controller.run())]
        if player is not None:
            background.append(asyncio.create_task(player.run()))
        if show_status:
            background.append(
                asyncio.create_task(StatusLine(runners, sys.stderr, idle=no_port(settings.port)).run())
            )
        try:
            # serve() delivers each dial's pending samples and marks it offline; leaving
            # publishing() then marks the daemon offline and disconnects.
            await serve(runners, stop, discover=discover, scan_interval=settings.scan_interval)
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
    print(summary(runners, publisher), file=sys.stderr)
    return 0


def summary(runners: list[DialRunner], publisher: MqttPublisher) -> str:
    """The daemon's last line: what the dials sent, what they lost, what waits for the recorders."""
    counters = [runner.counters() for runner in runners]
    sinks = {id(s): s for s in [*(r.sink for r in runners if r.sink is not None), *publisher.sinks]}
    waiting = sum(sink.queued for sink in sinks.values())
    return (
        f"daemon: {sum(c.samples for c in counters)} samples from {len(counters)} dial port(s), "
        f"{sum(c.lost_samples for c in counters)} lost in {sum(c.gaps for c in counters)} gaps, "
        f"{sum(c.queue_dropped for c in counters)} dropped (journal full), "
        f"{waiting} not yet confirmed (kept in the journal for the next daemon)"
    )
