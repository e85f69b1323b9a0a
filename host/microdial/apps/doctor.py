"""`microdial doctor`: check dials, permissions, udev rules, broker and player, one line each with what to do.

Every line starts with OK, WARN or FAIL; the exit code is 1 when any check FAILed, else 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from dialwire import ID_LAYOUTS, PROTOCOL_VERSION, encode
from microdial.broker_config.probe import probe_queue
from microdial.config import Options
from microdial.device.decoder import Decoder, Identity, Pong
from microdial.device.transports.serial import SerialTransport, find_data_ports
from microdial.errors import ConfigError, MicrodialError, TransportError
from microdial.mqtt.address import DEFAULT_URL, BrokerAddress, BrokerSettings, reachable
from microdial.mqtt.client import ClientOptions, ConnectRefused, MqttError, mqtt_client
from microdial.players.base import AnchoredClock, MediaStamp

Status = Literal["OK", "WARN", "FAIL"]

RULES_NAME = "99-microdial.rules"
RULES_DIRS = (Path("/etc/udev/rules.d"), Path("/lib/udev/rules.d"), Path("/usr/lib/udev/rules.d"))
# The rule file shipped in the source tree, to tell an outdated installed copy from a current one.
SHIPPED_RULES = Path(__file__).resolve().parents[3] / "hardware" / RULES_NAME
PROBES = 8
# Round trips above this leave the clock mapping worse than ±2.5 ms: a hub, a VM or a busy host.
SLOW_RTT = 5e-3


@dataclass(frozen=True, slots=True)
class Check:
    status: Status
    subject: str
    message: str

    def line(self) -> str:
        return f"{self.status:<4} {self.subject}: {self.message}"


class DoctorSettings(BrokerSettings):
    port: list[str] = Field(
        default_factory=list,
        description="check this data port (repeatable), e.g. a `microdial sim` pty; none: every dial found",
    )
    broker: str = Field(DEFAULT_URL, description="MQTT broker URL to check")
    player: str | None = Field(
        None, description="player clock to check: mpv:SOCKET, vlc:URL, mpris[:NAME], browser[:PORT], free"
    )
    timeout: float = Field(2.0, gt=0, le=60, description="seconds to wait for each answer")


OPTIONS = Options(DoctorSettings, "doctor")


def configure(parser: argparse.ArgumentParser) -> None:
    OPTIONS.add_to(parser)


def run(args: argparse.Namespace) -> int:
    settings = OPTIONS.load(args)
    checks = asyncio.run(diagnose(settings))
    for check in checks:
        print(check.line(), flush=True)
    return 1 if any(check.status == "FAIL" for check in checks) else 0


async def diagnose(settings: DoctorSettings, rules_dirs: Sequence[Path] = RULES_DIRS) -> list[Check]:
    port_checks, broker_checks, player_checks = await asyncio.gather(
        check_ports(settings.port, settings.timeout),
        check_broker(settings, settings.timeout),
        check_player(settings.player, settings.timeout),
    )
    return [*port_checks, check_udev_rules(rules_dirs), *broker_checks, *player_checks]


# -- dials ---------------------------------------------------------------------------------------------
async def check_ports(ports: Sequence[str], timeout: float) -> list[Check]:
    paths = list(ports) or find_data_ports()
    if not paths:
        return [
            Check(
                "WARN",
                "dials",
                "no dial data port found: plug a dial in (serial mode), or give its port with --port",
            )
        ]
    results = await asyncio.gather(*(check_port(path, timeout) for path in paths))
    return [check for result in results for check in result]


async def check_port(path: str, timeout: float) -> list[Check]:
    """Open the port, ask who is there (IDENT → ID), then time PROBES clock probes (PING → PONG)."""
    denied = _permission_problem(path)
    if denied is not None:
        return [Check("FAIL", path, denied)]
    transport = SerialTransport(path)
    dial = _DialProbe(transport)
    try:
        await transport.open(dial)
    except TransportError as err:
        if "lock" in str(err).lower():
            return [
                Check(
                    "WARN", path, "in use by another program (a running daemon?): stop it to check this dial"
                )
            ]
        return [Check("FAIL", path, str(err))]
    try:
        return await dial.examine(path, timeout)
    except TransportError as err:
        return [Check("FAIL", path, f"{err}")]
    finally:
        await transport.close()


class _DialProbe:
    """The port's Receiver: hands its records to waiters, the first ID and PONGs by token."""

    def __init__(self, transport: SerialTransport) -> None:
        self._transport = transport
        self._decoder = Decoder()
        self._identity: asyncio.Future[Identity] = asyncio.get_running_loop().create_future()
        self._pongs: dict[int, asyncio.Future[float]] = {}

    def data_received(self, data: bytes) -> None:
        arrival = time.monotonic()
        for record in self._decoder.feed(data):
            if isinstance(record, Identity) and not self._identity.done():
                self._identity.set_result(record)
            elif isinstance(record, Pong):
                waiter = self._pongs.pop(record.token, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(arrival)

    def connection_lost(self, error: TransportError) -> None:
        waiters: list[asyncio.Future[Any]] = [self._identity, *self._pongs.values()]
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(error)

    async def examine(self, path: str, timeout: float) -> list[Check]:
        await self._transport.write(encode("IDENT"))
        try:
            identity = await asyncio.wait_for(asyncio.shield(self._identity), timeout)
        except TimeoutError:
            heard = self._decoder.skipped_bytes + self._decoder.bad_records + self._decoder.samples
            what = "only unreadable bytes" if heard else "nothing"
            return [
                Check(
                    "FAIL",
                    path,
                    f"no ID record within {timeout:g} s ({what} came back): is this the dial's data port "
                    "(the second CDC interface) running microdial firmware? `microdial firmware` installs it",
                )
            ]
        checks = [_identity_check(path, identity)]
        checks.append(await self._clock_check(identity.device, timeout))
        return checks

    async def _clock_check(self, device: str, timeout: float) -> Check:
        loop = asyncio.get_running_loop()
        rtts: list[float] = []
        for token in range(1, PROBES + 1):
            waiter: asyncio.Future[float] = loop.create_future()
            self._pongs[token] = waiter
            sent = time.monotonic()
            await self._transport.write(encode("PING", (token,)))
            try:
                received = await asyncio.wait_for(waiter, timeout)
            except TimeoutError:
                self._pongs.pop(token, None)
                continue
            rtts.append(received - sent)
        subject = f"dial {device} clock"
        if not rtts:
            return Check(
                "FAIL", subject, f"no PONG to {PROBES} PINGs: the firmware is too old or stuck; reinstall it"
            )
        low, median = min(rtts) * 1e3, statistics.median(rtts) * 1e3
        figures = f"RTT min {low:.2f} ms, median {median:.2f} ms over {len(rtts)}/{PROBES} probes"
        bound = f"sync good to about ±{low / 2:.2f} ms"
        if len(rtts) < PROBES:
            return Check(
                "WARN",
                subject,
                f"{figures}: probes were lost; check the cable and hub ({bound} when answered)",
            )
        if median > SLOW_RTT * 1e3:
            return Check(
                "WARN",
                subject,
                f"{figures}: slow round trips ({bound}); plug the dial in directly, not through a hub or VM",
            )
        return Check("OK", subject, f"{figures}; {bound}")


def _identity_check(path: str, identity: Identity) -> Check:
    about = (
        f"dial {identity.device}, firmware {identity.firmware}, protocol {identity.protocol}, "
        f"{identity.input} input at {identity.rate_hz} Hz"
    )
    if identity.protocol not in ID_LAYOUTS:
        return Check(
            "FAIL",
            path,
            f"{about}: this host speaks protocol {PROTOCOL_VERSION}; "
            "install the matching firmware with `microdial firmware`",
        )
    if identity.boot is None:
        return Check(
            "WARN",
            path,
            f"{about}: older firmware, read by this host, but without a boot nonce its restarts' "
            "samples cannot be told apart; install the current firmware with `microdial firmware`",
        )
    return Check("OK", path, about)


def _permission_problem(path: str) -> str | None:
    """Why this user may not open the port, with what to do about it; None when it may."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except PermissionError:
        pass
    except OSError:
        return None  # missing or busy: SerialTransport.open says so in its own words
    else:
        os.close(fd)
        return None
    # Unix groups: a port Windows refuses is in use, not a matter of groups.
    import grp
    import pwd

    try:
        group = grp.getgrgid(os.stat(path).st_gid).gr_name
    except (KeyError, OSError):
        group = "dialout"
    # The process's own user: $USER can name someone else under sudo or su.
    user = pwd.getpwuid(os.getuid()).pw_name
    try:
        gid = grp.getgrnam(group).gr_gid
        members = grp.getgrnam(group).gr_mem
    except KeyError:
        return f"permission denied, and there is no group {group!r}: install hardware/{RULES_NAME}"
    if gid in os.getgroups():
        return (
            f"permission denied although you are in group {group}: the port's mode keeps the group out; "
            f"install hardware/{RULES_NAME} and replug the dial"
        )
    if user in members:
        return f"permission denied: you were added to group {group} after logging in; log out and in again"
    return (
        f"permission denied: you are not in group {group}; run `sudo usermod -aG {group} {user}`, "
        "then log out and in again"
    )


# -- udev ----------------------------------------------------------------------------------------------
def check_udev_rules(rules_dirs: Sequence[Path]) -> Check:
    installed = next((d / RULES_NAME for d in rules_dirs if (d / RULES_NAME).is_file()), None)
    install = (
        f"sudo cp hardware/{RULES_NAME} /etc/udev/rules.d/ && sudo udevadm control --reload-rules "
        "&& sudo udevadm trigger"
    )
    if installed is None:
        # Serial mode works with the dialout group alone; HID mode cannot open hidraw without the rule.
        return Check(
            "WARN", "udev rule", f"{RULES_NAME} is not installed (HID-mode dials need it): {install}"
        )
    if SHIPPED_RULES.is_file() and _rules(installed) != _rules(SHIPPED_RULES):
        return Check(
            "WARN", "udev rule", f"{installed} differs from this version's rules; update it: {install}"
        )
    return Check("OK", "udev rule", f"{installed} is installed")


def _rules(path: Path) -> list[str]:
    """The rule lines of a udev file, ignoring comments and blank lines."""
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


# -- broker --------------------------------------------------------------------------------------------
async def check_broker(broker: str | BrokerSettings, timeout: float) -> list[Check]:
    """broker: a URL, or the settings with credentials and TLS files."""
    try:
        address = BrokerAddress.parse(broker) if isinstance(broker, str) else broker.broker_address()
    except ConfigError as err:
        return [Check("FAIL", "broker", str(err))]
    subject = f"broker {address.url}"
    if not await asyncio.to_thread(reachable, address, timeout):
        return [
            Check(
                "FAIL",
                subject,
                f"nothing accepts connections on {address.host}:{address.port}: start the broker "
                "(`sudo systemctl start mosquitto`) or give its URL with --broker",
            )
        ]
    try:
        async with mqtt_client(address, ClientOptions(timeout=timeout)):
            pass
    except ConnectRefused as err:
        return [
            Check("FAIL", subject, f"the broker refused the MQTT connection ({err}): check user and password")
        ]
    except MqttError as err:
        if "CERTIFICATE_VERIFY_FAILED" in str(err):
            advice = "the broker's certificate is not trusted: give the CA that signed it with --ca-file"
        else:
            advice = "is this an MQTT port? for TLS use mqtts://"
        return [Check("FAIL", subject, f"TCP works but MQTT does not ({err}): {advice}")]
    return [
        Check("OK", subject, "reachable; MQTT connect accepted"),
        *await check_broker_queues(address, timeout),
    ]


async def check_broker_queues(address: BrokerAddress, timeout: float) -> list[Check]:
    """A WARN when the broker would drop a recorder's queued samples; nothing when it keeps them."""
    try:
        problem = (await probe_queue(address, timeout=timeout)).problem()
    except MqttError as err:
        problem = f"could not probe how many queued messages it keeps: {err}"
    return [] if problem is None else [Check("WARN", f"broker {address.url} queues", problem)]


# -- player --------------------------------------------------------------------------------------------
# How long after a player's first position report the rest of its state has come, seconds.
SETTLE = 0.3


async def check_player(spec: str | None, timeout: float) -> list[Check]:
    if spec is None:
        return []
    try:
        from microdial.players import open_player

        player = open_player(spec)
    except MicrodialError as err:
        return [Check("FAIL", "player", str(err))]
    if player is None:
        return [Check("OK", "player", "none: samples carry no media time")]
    subject = f"player {spec}"
    if not isinstance(player, AnchoredClock):
        return [Check("WARN", subject, "cannot tell whether this player is reachable")]
    follower = asyncio.create_task(player.run())
    try:
        # Online is only the connection: the state is known once the player has reported its
        # position, and a moment later the rest (mpv answers each observed property in turn).
        deadline = time.monotonic() + timeout
        while not (player.online and player.reports) and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(player.changed.wait(), deadline - time.monotonic())
        if player.online:
            await asyncio.sleep(SETTLE)
        online = player.online
        stamp = player.stamp(time.monotonic())
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)
    if online:
        return [Check("OK", subject, f"connected: {player_state(stamp)}")]
    if spec.strip().lower().startswith("browser"):
        return [
            Check("WARN", subject, f"no browser page connected within {timeout:g} s; open the player page")
        ]
    hint = "start the player with its control interface (mpv --input-ipc-server=SOCKET, vlc --extraintf http)"
    return [Check("FAIL", subject, f"no answer within {timeout:g} s: {hint} and check the spec")]


def player_state(stamp: MediaStamp) -> str:
    """What the player is doing, as a person would say it: "playing at 1:02.5 of 3:00, talk.mp4"."""
    if stamp.media_time is None:
        return "no file loaded" if stamp.media is None else f"{stamp.media}, position not reported"
    where = f"{stamp.playback} at {_clock(stamp.media_time)}"
    if stamp.media_duration is not None:
        where += f" of {_clock(stamp.media_duration)}"
    return where if stamp.media is None else f"{where}, {stamp.media}"


def _clock(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}:{rest:04.1f}"
