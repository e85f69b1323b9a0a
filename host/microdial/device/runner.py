"""One dial, end to end: transport → decoder → clock → stamp → sink, kept alive across faults."""

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
from microdial.device.clock import ClockModel, Probe
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
from microdial.device.roles import RoleMap
from microdial.device.stamp import DialKey, Stamper
from microdial.device.transports.base import Transport
from microdial.errors import TransportError
from microdial.model import Counters, DialEvent, DialState, DialStatus, EventKind, Sample
from microdial.players.base import PlayerClock
from microdial.players.freerun import FreeRunClock
from microdial.sinks.base import Sink

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunnerOptions:
    probes_per_burst: int = 8
    probe_timeout: float = 0.25
    fast_bursts: int = 5  # right after connecting, one burst a second until the fit has points
    sync_interval: float = 5.0
    status_interval: float = 2.0
    identify_timeout: float = 2.0
    reopen_min: float = 0.2
    reopen_max: float = 2.0
    pre_identity_buffer: int = 1000


class DialRunner:
    """Runs one dial until cancelled. A fault here never touches another dial's runner."""

    def __init__(
        self,
        open_transport: Callable[[], Transport],
        session: str,
        roles: str | RoleMap,
        make_sink: Callable[[DialKey], Sink],
        player: PlayerClock | None = None,
        options: RunnerOptions | None = None,
    ) -> None:
        self._open_transport = open_transport
        self.session = session
        self.roles = RoleMap.fixed(roles) if isinstance(roles, str) else roles
        self._make_sink = make_sink
        self._options = options or RunnerOptions()
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
        # Ends _serve: set by connection_lost, or with the error a record's handling raised.
        self._lost: asyncio.Future[None] | None = None
        # Samples of the chunk being handled: the sink gets them together, as one read gave them.
        self._stamped: list[Sample] = []
        self._early: list[SampleRecord] = []
        self._last_device_time: float | None = None
        self._tokens = itertools.count(1)
        self._probes: dict[int, asyncio.Future[tuple[int, float]]] = {}
        self._resync = asyncio.Event()
        self._acks: dict[str, list[asyncio.Future[Ack]]] = {}
        self._state: DialState = "no-device"

    # -- lifecycle --------------------------------------------------------------------
    async def run(self) -> None:
        delay = self._options.reopen_min
        try:
            while True:
                transport = self._open_transport()
                lost = self._lost = asyncio.get_running_loop().create_future()
                try:
                    await transport.open(self)
                except TransportError as err:
                    log.debug("%s", err)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self._options.reopen_max)
                    continue
                delay = self._options.reopen_min
                try:
                    await self._serve(transport, lost)
                except TransportError as err:
                    log.warning("dial %s: %s; waiting for it to return", self._name, err)
                finally:
                    await transport.close()
                    self._transport = None
                self._set_state("no-device")
                self._emit("disconnect", transport.location)
        finally:
            await self._stop_sink()

    async def stop(self, timeout: float = 5.0) -> bool:
        """Deliver everything pending to the sink; the caller then cancels run()."""
        if self.sink is None:
            return True
        return await self.sink.close(timeout)

    @property
    def role(self) -> str | None:
        return self.key.role if self.key else None

    @property
    def _name(self) -> str:
        return self.key.dial if self.key else "(not yet identified)"

    async def _serve(self, transport: Transport, lost: asyncio.Future[None]) -> None:
        """Keep the dial identified, synced and reported on while data_received handles its records."""
        self._transport = transport
        self.identified.clear()
        # Sequence and clock state carry over: a gap across the unplug is counted, and a
        # device that restarted meanwhile shows as its clock going back (_check_reset).
        tasks = [
            asyncio.create_task(self._identify(transport)),
            asyncio.create_task(self._sync_loop(transport)),
            asyncio.create_task(self._status_loop()),
        ]
        try:
            await lost
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for waiter in self._probes.values():
                waiter.cancel()
            self._probes.clear()

    async def _identify(self, transport: Transport) -> None:
        while not self.identified.is_set():
            await transport.write(encode("IDENT"))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.identified.wait(), self._options.identify_timeout)

    # -- records: the transport's Receiver ----------------------------------------------
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
            # through lost it ends this dial's run(), and serve() reports it and starts it again.
            lost.set_exception(err)
        finally:
            self._stamped = []

    def connection_lost(self, error: TransportError) -> None:
        lost = self._lost
        if lost is not None and not lost.done():
            lost.set_exception(error)

    def _handle(self, record: Record, arrival: float) -> None:
        match record:
            case SampleRecord():
                self._on_sample(record, arrival)
            case Pong(token=token, t_us=t_us):
                probe = self._probes.pop(token, None)
                if probe is not None and not probe.done():
                    probe.set_result((t_us, arrival))
            case Identity():
                self._on_identity(record)
            case Heartbeat(t_us=t_us, value=value):
                self._check_reset(seconds(t_us), arrival)
                self.last_value = value
            case ButtonRecord(t_us=t_us, kind=kind):
                self._emit("button", kind, seconds(t_us))
                player = self.stamper.player
                if isinstance(player, FreeRunClock):
                    player.on_button(kind)
            case Diagnostics(dropped_records=dropped):
                self.device_dropped_records = dropped
            case DeviceError(t_us=t_us, code=code, message=message):
                log.warning("dial %s reports %s: %s", self._name, code, message)
                self._emit("device-error", f"{code}: {message}", seconds(t_us))
            case Ack(command=command, status=status, detail=detail):
                waiters = self._acks.get(command)
                if waiters:
                    waiter = waiters.pop(0)
                    if not waiter.done():
                        waiter.set_result(record)
                elif status != "ok":
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
        self._check_reset(device_time, arrival)
        self.clock.observe_arrival(device_time, arrival)
        gap = self.decoder.check_sequence(record)
        if gap is not None:
            self._emit("gap", f"{gap.lost} samples lost after seq {gap.after_seq}", device_time)
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

    def _check_reset(self, device_time: float, arrival: float) -> None:
        last = self._last_device_time
        self._last_device_time = device_time if last is None else max(last, device_time)
        if last is not None and device_time < last - 0.5:
            self.resets += 1
            self._last_device_time = device_time
            self.clock.reset()
            self.clock.observe_arrival(device_time, arrival)
            self.decoder.restart_sequence()
            self._resync.set()
            log.warning(
                "dial %s restarted (its clock went back %.3f s); re-syncing", self._name, last - device_time
            )
            self._emit("reset", f"device clock went back {last - device_time:.3f} s", device_time)

    async def command(self, kind: str, fields: tuple[int, ...] = (), timeout: float = 2.0) -> Ack:
        """Send a host command (ZERO, IDENT, RATE) and wait for the dial's ACK."""
        transport = self._transport
        if transport is None or not self.identified.is_set():
            raise TransportError(f"dial {self._name} is not connected")
        waiter: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()
        waiters = self._acks.setdefault(kind, [])
        waiters.append(waiter)
        try:
            await transport.write(encode(kind, fields))
            return await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            raise TransportError(f"dial {self._name} did not answer {kind} within {timeout:.0f} s") from None
        finally:
            if waiter in waiters:
                waiters.remove(waiter)

    def mark_session(self, action: str, detail: str) -> None:
        self._emit("session", f"{action} {detail}".strip())

    # -- clock sync -------------------------------------------------------------------
    async def _sync_loop(self, transport: Transport) -> None:
        bursts = 0
        while True:
            probes = await self._burst(transport)
            self.clock.add_burst(probes)
            bursts = 0 if self._resync.is_set() else bursts + 1
            self._resync.clear()
            interval = 1.0 if bursts < self._options.fast_bursts else self._options.sync_interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._resync.wait(), interval)

    async def _burst(self, transport: Transport) -> list[Probe]:
        probes: list[Probe] = []
        loop = asyncio.get_running_loop()
        for _ in range(self._options.probes_per_burst):
            token = next(self._tokens) % 1_000_000_000
            waiter: asyncio.Future[tuple[int, float]] = loop.create_future()
            sent = time.monotonic()
            self._probes[token] = waiter
            await transport.write(encode("PING", (token,)))
            try:
                # Not wait_for: on 3.11 it returns a PONG that came in the step of a cancel and
                # drops the cancel, and the daemon's shutdown then waits for this loop forever.
                async with asyncio.timeout(self._options.probe_timeout):
                    t_us, received = await waiter
            except TimeoutError:
                self._probes.pop(token, None)
                continue
            probes.append(Probe(host_sent=sent, device_time=seconds(t_us), host_received=received))
        return probes

    # -- status and events ------------------------------------------------------------
    def counters(self) -> Counters:
        return Counters(
            samples=self.decoder.samples,
            bad_records=self.decoder.bad_records,
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
        if device_time is not None:
            monotonic, epoch, _ = self.stamper.host_times(device_time)
        else:
            monotonic = time.monotonic()
            epoch = monotonic + self.stamper.wall_offset
        media = self.stamper.media(monotonic)
        self.sink.put_event(
            DialEvent(
                dial=self.key.dial,
                role=self.key.role,
                session=self.key.session,
                kind=kind,
                detail=detail,
                device_time=device_time,
                host_time=epoch,
                host_monotonic=monotonic,
                media_time=None if media is None else media.media_time,
            )
        )

    async def _stop_sink(self) -> None:
        task, self._sink_task = self._sink_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
