"""A device instant + the clock mapping + the player's position → the times a Sample or DialEvent carries."""

from __future__ import annotations

import time
from dataclasses import dataclass

from microdial.device.clock import ClockModel
from microdial.device.decoder import SampleRecord, seconds
from microdial.model import DialEvent, EventKind, Sample
from microdial.players.base import MediaStamp, PlayerClock


@dataclass(frozen=True, slots=True)
class DialKey:
    session: str
    dial: str
    role: str
    participant: str | None = None


Times = tuple[float, float, float | None, MediaStamp | None]


class Stamper:
    def __init__(self, clock: ClockModel, player: PlayerClock | None = None) -> None:
        self.clock = clock
        self.player = player
        # One wall-clock anchor per run: host_time stays monotonic even if NTP steps the clock.
        self.wall_offset = time.time() - time.monotonic()

    def times(self, device_time: float | None) -> Times:
        """(host monotonic, UTC epoch, sync uncertainty, player stamp) of a device instant, or of now.

        The one place a record gets its host and media times: samples and events alike.
        """
        if device_time is None:
            monotonic, uncertainty = time.monotonic(), None
        else:
            monotonic, uncertainty = self.clock.to_host(device_time)
        player = self.player
        media = None if player is None else player.stamp(monotonic)
        return monotonic, monotonic + self.wall_offset, uncertainty, media

    def sample(self, key: DialKey, record: SampleRecord, boot: str | None = None) -> Sample:
        device_time = seconds(record.t_us)
        monotonic, epoch, uncertainty, media = self.times(device_time)
        return Sample(
            dial=key.dial,
            role=key.role,
            session=key.session,
            participant=key.participant,
            value=record.value,
            seq=record.seq,
            boot=boot,
            device_time=device_time,
            host_time=epoch,
            host_monotonic=monotonic,
            media_time=None if media is None else media.media_time,
            sync_uncertainty=uncertainty,
            playback=None if media is None else media.playback,
            player=None if media is None else media.player,
            media=None if media is None else media.media,
            media_duration=None if media is None else media.media_duration,
            discontinuity=(media.cause or True) if media is not None and media.discontinuity else False,
        )

    def event(self, key: DialKey, kind: EventKind, detail: str, device_time: float | None) -> DialEvent:
        monotonic, epoch, _, media = self.times(device_time)
        return DialEvent(
            dial=key.dial,
            role=key.role,
            session=key.session,
            kind=kind,
            detail=detail,
            device_time=device_time,
            host_time=epoch,
            host_monotonic=monotonic,
            media_time=None if media is None else media.media_time,
        )
