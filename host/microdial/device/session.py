"""The conversation with one dial: who it is, its clock, its restarts, and what each of its records means.

Records arrive through data_received (this session is the transport's Receiver) and are handled in the
loop step that read them. Each timed record is first held against the dial's clock (DeviceTimeline in
device/clock.py): a time that went back is a restart, one too far ahead is damage and is dropped.
Then a sample is sequence-checked (device/sequence.py), mapped to host time (device/clock.py), stamped
(device/stamp.py) and handed to the sink with the others of its read; a PONG or an ACK goes to the
request waiting for it (device/requests.py). While a transport is connected, three
tasks run beside that: IDENT until the dial says who it is, PING bursts for the clock mapping (as LSL
does: of each burst only the probe with the smallest round trip is kept), and the periodic status.

What the session learnt outlives a connection: the next one (runner.py opens it) continues the same
sequence count, clock fit and sink, so a gap across an unplug is counted and a dial that restarted
meanwhile shows as its clock going back.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import ValidationError

from dialwire import encode
from microdial.device.clock import ClockModel, DeviceTimeline, Probe
from microdial.device.decoder import (
    Ack,
    ButtonRecord,
    Decoder,
    DeviceError,
    Diagnostics,
    Heartbeat,
    Identity,
    Pong,
    Record,
    SampleRecord,
    seconds,
)
from microdial.device.requests import Requests
from microdial.device.roles import RoleMap
from microdial.device.stamp import DialKey, Stamper
from microdial.device.transports.base import Transport
from microdial.errors import TransportError
from microdial.model import Counters, DialState, DialStatus, EventKind, Sample
from microdial.players.base import PlayerClock
from microdial.sinks.base import Sink

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SessionOptions:
    probes_per_burst: int = 8
    probe_timeout: float = 0.25
    fast_bursts: int = 5  # right after connecting, one burst a second until the fit has points
    sync_interval: float = 5.0
    status_interval: float = 2.0
    identify_timeout: float = 2.0
    pre_identity_buffer: int = 1000


class DialSession:
    """One dial's conversation. A fault here never touches another dial's session."""

    def __init__(
        self,
        session: str,
        roles: str | RoleMap,
        make_sink: Callable[[DialKey], Sink],
        player: PlayerClock | None = None,
        options: SessionOptions | None = None,
    ) -> None:
        self.session = session  # the rating session's code, not this conversation
        self.roles = RoleMap.fixed(roles) if isinstance(roles, str) else roles
        self._make_sink = make_sink
        self._options = options or SessionOptions()
        self.clock = ClockModel()
        self.stamper = Stamper(self.clock, player)
        self.decoder = Decoder()
        self.identity: Identity | None = None
        self.key: DialKey | None = None
        self.sink: Sink | None = None
        self.identified = asyncio.Event()
        self.last_value: int | None = None
        self.resets = 0
        self.device_dropped_records = 0
        self._sink_task: asyncio.Task[None] | None = None
        self._transport: Transport | None = None
        # Ends serve(): set by connection_lost, or with the error a record's handling raised.
        self._lost: asyncio.Future[None] | None = None
        # Samples of the chunk being handled: the sink gets them together, as one read gave them.
        self._stamped: list[Sample] = []
        self._early: list[SampleRecord] = []
        self.timeline = DeviceTimeline()
        self.time_jumps = 0
        self._tokens = itertools.count(1)
        self._pongs: Requests[int, tuple[int, float]] = Requests()
        self._acks: Requests[str, Ack] = Requests()
        self._resync = asyncio.Event()
        self._state: DialState = "no-device"

    @property
    def role(self) -> str | None:
        return self.key.role if self.key else None

    @property
    def _name(self) -> str:
        return self.key.dial if self.key else "(not yet identified)"

    # -- one connection -------------------------------------------------------------------------
    async def connect(self, transport: Transport) -> None:
        """Open transport with this session as its receiver; TransportError when it cannot be opened."""
        # Before open: bytes may be handed over as soon as the port is, and need somewhere to end.
        self._lost = asyncio.get_running_loop().create_future()
        await transport.open(self)
        self._transport = transport

    async def serve(self) -> None:
        """Keep the dial identified, synced and reported on until its transport is lost; then close it.

        Returns when the dial went away; an error a record's handling raised (a bug) propagates.
        """
        transport, lost = self._transport, self._lost
        assert transport is not None and lost is not None, "serve() follows a successful connect()"
        self.identified.clear()
        tasks = [
            asyncio.create_task(self._identify(transport)),
            asyncio.create_task(self._sync_loop(transport)),
            asyncio.create_task(self._status_loop()),
        ]
        try:
            await lost
        except TransportError as err:
            log.warning("dial %s: %s; waiting for it to return", self._name, err)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await transport.close()
            self._transport = None
        self._set_state("no-device")
        self._emit("disconnect", transport.location)

    async def _identify(self, transport: Transport) -> None:
        while not self.identified.is_set():
            await transport.write(encode("IDENT"))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._options.identify_timeout):  # not wait_for: see requests.py
                    await self.identified.wait()

    # -- records: the transport's Receiver --------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        arrival = time.monotonic()
        lost = self._lost
        if lost is None or lost.done():
            return
        try:
            for record in self.decoder.feed(data):
                self._handle(record, arrival)
            if self._stamped and self.sink is not None:
                self.sink.put_samples(self._stamped)
        except Exception as err:
            # A bug, not a device fault: raised here it would only reach the event loop's log;
            # through lost it ends this dial's serve(), and the daemon reports it and starts it again.
            lost.set_exception(err)
        finally:
            self._stamped = []

    def connection_lost(self, error: TransportError) -> None:
        lost = self._lost
        if lost is not None and not lost.done():
            lost.set_exception(error)

    def _handle(self, record: Record, arrival: float) -> None:
        # A timed record is first held against the dial's clock (_on_time, in the guards): one too far
        # ahead is damage and matches no case (dropped); one that went back shows a restart.
        match record:
            case SampleRecord():
                self._on_sample(record, arrival)
            case Pong(token=token, t_us=t_us) if self._on_time(seconds(t_us), arrival):
                self._pongs.resolve(token, (t_us, arrival))  # a late PONG: its PING gave up
            case Identity():
                self._on_identity(record)
            case Heartbeat(t_us=t_us, value=value) if self._on_time(seconds(t_us), arrival):
                self.last_value = value
            case ButtonRecord(t_us=t_us, kind=kind) if self._on_time(seconds(t_us), arrival):
                self._emit("button", kind, seconds(t_us))
                player = self.stamper.player
                if player is not None:
                    player.on_button(kind)
            case Diagnostics(t_us=t_us, dropped_records=dropped) if self._on_time(seconds(t_us), arrival):
                self.device_dropped_records = dropped
            case DeviceError(t_us=t_us, code=code, message=message) if self._on_time(seconds(t_us), arrival):
                log.warning("dial %s reports %s: %s", self._name, code, message)
                self._emit("device-error", f"{code}: {message}", seconds(t_us))
            case Ack(command=command, status=status, detail=detail):
                if not self._acks.resolve(command, record) and status != "ok":
                    log.warning("dial %s refused %s: %s", self._name, command, detail)

    def _on_identity(self, identity: Identity) -> None:
        if self.identity is not None and identity.device != self.identity.device:
            log.warning("dial %s: port now has device %s; keeping the first id", self._name, identity.device)
        self.identity = identity
        if self.key is None:
            role, participant = self.roles.assign(identity.device)
            self.key = DialKey(session=self.session, dial=identity.device, role=role, participant=participant)
            self.sink = self._make_sink(self.key)
            self._sink_task = asyncio.create_task(self.sink.run())
            log.info(
                "dial %s (%s) identified: firmware %s, %s input",
                identity.device,
                role,
                identity.firmware,
                identity.input,
            )
        if self._state != "online" and self._transport is not None:
            self._set_state("online")
            self._emit("connect", self._transport.location)
        self.identified.set()
        for early in self._early:
            self._publish_sample(early)
        self._early.clear()

    def _on_sample(self, record: SampleRecord, arrival: float) -> None:
        device_time = seconds(record.t_us)
        if not self._on_time(device_time, arrival):
            return
        self.clock.observe_arrival(device_time, arrival)
        gap = self.decoder.check_sequence(record)
        if gap is not None:
            self._emit("gap", f"{gap.lost} samples lost after seq {gap.previous}", device_time)
        self.last_value = record.value
        if self.key is None:
            if len(self._early) < self._options.pre_identity_buffer:
                self._early.append(record)
            return
        self._publish_sample(record)

    def _publish_sample(self, record: SampleRecord) -> None:
        assert self.key is not None and self.sink is not None
        try:
            sample = self.stamper.sample(self.key, record, self.identity.boot if self.identity else None)
        except ValidationError as err:
            log.warning("dial %s sent an impossible sample: %s", self._name, err.errors()[0]["msg"])
            self._emit("device-error", f"invalid sample seq {record.seq}", seconds(record.t_us))
            return
        self._stamped.append(sample)

    def _on_time(self, device_time: float, arrival: float) -> bool:
        """Follow the dial's clock: re-sync after a restart; False for a time too far ahead to be true."""
        last = self.timeline.last
        verdict = self.timeline.observe(device_time, arrival)
        if verdict == "on":
            return True
        assert last is not None
        if verdict == "ahead":
            self.time_jumps += 1
            log.warning("dial %s sent a time %.0f s ahead; dropped", self._name, device_time - last)
            return False
        self.resets += 1
        self.clock.reset()
        self.clock.observe_arrival(device_time, arrival)
        self.decoder.restart_sequence()
        self._resync.set()
        log.warning(
            "dial %s restarted (its clock went back %.3f s); re-syncing", self._name, last - device_time
        )
        self._emit("reset", f"device clock went back {last - device_time:.3f} s", device_time)
        return True

    # -- requests ----------------------------------------------------------------------------------
    async def command(self, kind: str, fields: tuple[int, ...] = (), timeout: float = 2.0) -> Ack:
        """Send a host command (ZERO, IDENT, RATE) and wait for the dial's ACK."""
        transport = self._transport
        if transport is None or not self.identified.is_set():
            raise TransportError(f"dial {self._name} is not connected")
        try:
            return await self._acks.request(kind, transport.write(encode(kind, fields)), timeout)
        except TimeoutError:
            raise TransportError(f"dial {self._name} did not answer {kind} within {timeout:.0f} s") from None

    def mark_session(self, action: str, detail: str) -> None:
        self._emit("session", f"{action} {detail}".strip())

    async def _sync_loop(self, transport: Transport) -> None:
        bursts = 0
        while True:
            self.clock.add_burst(await self._burst(transport))
            bursts = 0 if self._resync.is_set() else bursts + 1
            self._resync.clear()
            interval = 1.0 if bursts < self._options.fast_bursts else self._options.sync_interval
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):  # not wait_for: see requests.py
                    await self._resync.wait()

    async def _burst(self, transport: Transport) -> list[Probe]:
        probes: list[Probe] = []
        for _ in range(self._options.probes_per_burst):
            token = next(self._tokens) % 1_000_000_000
            ping = transport.write(encode("PING", (token,)))
            sent = time.monotonic()
            try:
                t_us, received = await self._pongs.request(token, ping, self._options.probe_timeout)
            except TimeoutError:
                continue
            probes.append(Probe(host_sent=sent, device_time=seconds(t_us), host_received=received))
        return probes

    # -- status and events -------------------------------------------------------------------------
    def counters(self) -> Counters:
        return Counters(
            samples=self.decoder.samples,
            bad_records=self.decoder.bad_records + self.time_jumps,
            skipped_bytes=self.decoder.skipped_bytes,
            gaps=self.decoder.gaps,
            lost_samples=self.decoder.lost_samples,
            device_dropped_records=self.device_dropped_records,
            queued=self.sink.queued if self.sink else len(self._early),
            queue_dropped=self.sink.dropped if self.sink else 0,
            resets=self.resets,
        )

    def status(self) -> DialStatus | None:
        if self.key is None:
            return None
        identity = self.identity
        return DialStatus(
            dial=self.key.dial,
            role=self.key.role,
            session=self.key.session,
            participant=self.key.participant,
            state=self._state,
            host_time=time.time(),
            firmware=identity.firmware if identity else None,
            protocol=identity.protocol if identity else None,
            input=identity.input if identity else None,
            rate_hz=identity.rate_hz if identity else None,
            counters=self.counters(),
            sync=self.clock.state(),
        )

    @property
    def state(self) -> DialState:
        return self._state

    def _set_state(self, state: DialState) -> None:
        self._state = state
        status = self.status()
        if status is not None and self.sink is not None:
            self.sink.put_status(status)

    async def _status_loop(self) -> None:
        while True:
            await asyncio.sleep(self._options.status_interval)
            self._revive_sink()
            self._set_state(self._state)

    def _revive_sink(self) -> None:
        """A sink only ends by a bug; say so and start it again, its queue intact."""
        task = self._sink_task
        if task is None or not task.done() or self.sink is None:
            return
        error = None if task.cancelled() else task.exception()
        log.error("dial %s: sink stopped (%r); restarting it", self._name, error)
        self._sink_task = asyncio.create_task(self.sink.run())

    def _emit(self, kind: EventKind, detail: str, device_time: float | None = None) -> None:
        if self.key is None or self.sink is None:
            return
        self.sink.put_event(self.stamper.event(self.key, kind, detail, device_time))

    async def stop(self, timeout: float = 5.0) -> bool:
        """Deliver everything pending to the sink; the caller then cancels the runner's task."""
        if self.sink is None:
            return True
        return await self.sink.close(timeout)

    async def _stop_sink(self) -> None:
        task, self._sink_task = self._sink_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
