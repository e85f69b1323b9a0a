"""`microdial study serve` as a library: the dials, the recorder, the live state and the pages of
one study session, in one process, until cancelled.

The dials run here (not in a separate `microdial daemon`) because each dial's samples must be
stamped by its own rater's page: the runners, the raters' clocks and the pages live in one
process, so a stamp costs no I/O. Samples still go through MQTT to the recorder (also run here,
with its own persistent client id) exactly as with the daemon, so the session folder is the
usual one and `microdial view` / `analyze` work on it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings

from microdial.daemon import default_state_dir, mqtt_sinks, publishing
from microdial.daemon import serve as serve_dials
from microdial.device.discovery import PortDiscovery
from microdial.device.runner import RunnerOptions
from microdial.errors import BrokerUnreachable, ConfigError
from microdial.live_state import follow
from microdial.model import Code
from microdial.mqtt.address import DEFAULT_URL, BrokerAddress, reachable
from microdial.mqtt.control import Controller
from microdial.mqtt.publisher import MqttPublisher
from microdial.mqtt.sink import MqttOptions
from microdial.recorder import RecorderSettings, record
from microdial.study.conduct import Study
from microdial.study.dials import seat_discoverer
from microdial.study.outputs import copy_protocol
from microdial.study.protocol import load_protocol
from microdial.study.server import StudyServer, study_access
from microdial.study.state import write_atomically
from microdial.web.base import Access, listening, url_host

log = logging.getLogger(__name__)

DEFAULT_PORT = 8780


class StudySettings(BaseSettings):
    session: Code | None = Field(None, description="session code (no personal names); required")
    video: Path | None = Field(None, description="the recording of the session the raters watch; required")
    protocol: Path | None = Field(None, description="protocol file (TOML); default: the published method")
    raters: str = Field("client,therapist", description="rater roles, comma-separated (codes, no names)")
    broker: str = Field(DEFAULT_URL, description="MQTT broker URL")
    out: Path = Field(Path("recordings"), description="folder for session folders")
    bind: str = Field("127.0.0.1", description="address the pages listen on (127.0.0.1: this machine only)")
    port: int = Field(DEFAULT_PORT, ge=0, lt=65536, description="HTTP port of the console and rater pages")
    dial_ports: str = Field(
        "auto", description="the dials' data ports: auto, a path, a glob, or comma-separated paths"
    )
    transport: Literal["serial", "hid"] = Field("serial", description="how dials are connected")
    spool_dir: Path | None = Field(
        default_factory=lambda: default_state_dir() / "spool",
        description="samples taken while the broker is unreachable wait here",
    )

    def rater_list(self) -> list[str]:
        raters = [name.strip() for name in self.raters.split(",") if name.strip()]
        if not raters or len(set(raters)) != len(raters):
            raise ConfigError("--raters needs one or more different rater codes, e.g. client,therapist")
        return raters


def _tokens(folder: Path) -> dict[str, str]:
    """The tokens of an earlier run of this session: pages reopened after a restart keep working."""
    path = folder / "tokens.json"
    try:
        tokens: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    except (ValueError, OSError) as err:
        raise ConfigError(f"{path} is damaged ({err}): move it away (the links change)") from None
    return tokens


async def serve_study(
    settings: StudySettings,
    *,
    announce: Callable[[str], None] = print,
    bound: asyncio.Future[int] | None = None,
) -> None:
    if settings.session is None:
        raise ConfigError("give the session's code with --session CODE")
    if settings.video is None or not settings.video.is_file():
        raise ConfigError(f"video {settings.video} does not exist: give the session's recording with --video")
    protocol = load_protocol(settings.protocol)
    raters = settings.rater_list()
    address = BrokerAddress.parse(settings.broker)
    if not await asyncio.to_thread(reachable, address, 3.0):
        raise BrokerUnreachable(f"no MQTT broker answers at {address.url}: start one or give --broker URL")
    session_dir = settings.out / settings.session
    study = Study(settings.session, session_dir, settings.video, protocol, raters)
    console, rater_access = study_access(raters, _tokens(study.store.folder))
    tokens = {"console": next(iter(console.grants))} | {
        next(iter(visitor.roles or ())): token for token, visitor in rater_access.grants.items()
    }
    # The tokens open every rater's answers: the folder that keeps them is the owner's only.
    study.store.folder.chmod(0o700)
    write_atomically(study.store.folder / "tokens.json", json.dumps(tokens, indent=1))
    copy_protocol(session_dir, protocol, settings.protocol)
    await study.write_outputs()
    # The study server is its raters' daemon: one broker connection for all their dials.
    async with publishing(MqttPublisher(address, settings.session, options=MqttOptions())) as publisher:
        await _run(settings, study, publisher, console, rater_access, announce, bound)


async def _run(
    settings: StudySettings,
    study: Study,
    publisher: MqttPublisher,
    console: Access,
    rater_access: Access,
    announce: Callable[[str], None],
    bound: asyncio.Future[int] | None,
) -> None:
    assert settings.session is not None
    address = publisher.address
    discover = seat_discoverer(
        PortDiscovery(settings.dial_ports, settings.transport),
        settings.session,
        study.roles,
        mqtt_sinks(publisher, settings.spool_dir),
        study.clocks,
        RunnerOptions(),
    )
    controller = Controller(publisher, settings.session, study.runners)
    recorder = RecorderSettings(
        broker=settings.broker,
        out=settings.out,
        session=settings.session,
        client_id=f"microdial-study-{settings.session}",
    )
    stop = asyncio.Event()
    background = [
        asyncio.create_task(record(recorder)),
        asyncio.create_task(follow(study.live, address, name="study", qos=0)),
        asyncio.create_task(controller.run()),
        asyncio.create_task(serve_dials(study.runners, stop, discover=discover)),
    ]
    server = StudyServer(study, controller, console, rater_access)
    study.resume()
    try:
        async with listening(
            server.app(), settings.bind, settings.port, console, rater_access, title="study"
        ) as port:
            origin = f"http://{url_host(settings.bind)}:{port}"
            ((_, console_url),) = console.urls(origin)
            announce(f"console: {console_url}")
            for whom, url in rater_access.urls(origin):
                announce(f"{whom.removesuffix(' (generated token)')}: {url}")
            if bound is not None:
                bound.set_result(port)
            await asyncio.Event().wait()
    finally:
        stop.set()
        await study.close()
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
