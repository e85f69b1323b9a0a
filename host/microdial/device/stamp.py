"""A decoded sample + the clock mapping + the player's position → the published Sample."""

from __future__ import annotations

import time
from dataclasses import dataclass

from microdial.device.clock import ClockModel
from microdial.device.decoder import SampleRecord, seconds
from microdial.model import Sample
from microdial.players.base import MediaStamp, PlayerClock


@dataclass(frozen=True, slots=True)
class DialKey:
    session: str
    dial: str
    role: str
    participant: str | None = None


class Stamper:
    def __init__(self, clock: ClockModel, player: PlayerClock | None = None) -> None:
        self.clock = clock
        self.player = player
        # One wall-clock anchor per run: host_time stays monotonic even if NTP steps the clock.
        self.wall_offset = time.time() - time.monotonic()

    def host_times(self, device_time: float) -> tuple[float, float, float | None]:
        """(host monotonic, UTC epoch, uncertainty) of a device instant."""
        monotonic, uncertainty = self.clock.to_host(device_time)
        return monotonic, monotonic + self.wall_offset, uncertainty

    def media(self, host_monotonic: float) -> MediaStamp | None:
        return None if self.player is None else self.player.stamp(host_monotonic)

    def sample(self, key: DialKey, record: SampleRecord, boot: str | None = None) -> Sample:
        device_time = seconds(record.t_us)
        monotonic, epoch, uncertainty = self.host_times(device_time)
        media = self.media(monotonic)
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
            discontinuity=False if media is None else media.discontinuity,
        )
