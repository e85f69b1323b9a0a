"""Rating streams from an XDF file (LabRecorder's format) into a session folder, so ratings
recorded through LSL, by our outlets (sinks.lsl) or by another tool, are analysed like the
dials' own.

The streams taken are those named with --stream, or else every stream of type `Rating`. pyxdf
reads the file with its clock offsets applied (each stream's time stamps moved onto the
recording machine's clock, so streams from several machines line up) and without de-jittering:
our stamps are each sample's own host time, which a regular-rate fit would blur.

A sample's host_monotonic is its corrected LSL time stamp (on the recording machine's clock); its
host_time is the sender's own stamp plus the stream's `epoch_offset` (written by our outlets), or
the corrected stamp alone for another tool's stream. Channels are found by label (sinks.lslformat.CHANNELS); another tool's stream needs at
least one channel, taken as the value, and its <desc><scale> min and max if its scale is not
ours. Samples are written by store.writer, as the recorder writes a dial's.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyxdf
from pydantic import ValidationError

from dialwire import VALUE_MAX, VALUE_MIN
from microdial.errors import MicrodialError
from microdial.model import Sample
from microdial.sinks.lslformat import PLAYBACK_STATES, STREAM_TYPE
from microdial.store.format import META_FILE, ImportedSample, SessionMeta
from microdial.store.importers import RatingFileError, to_scale
from microdial.store.writer import SessionRecord

# pyxdf gives a stream's XML header as nested dicts whose every value is a list.
XmlDict = dict[str, Any]


class XdfImportError(MicrodialError):
    """An XDF file, or a stream in it, that cannot be imported; the session folder is left as it was."""


def _text(node: XmlDict | None, *path: str) -> str | None:
    """The text at path under node ({"a": [{"b": ["text"]}]}), or None."""
    for name in path:
        if not isinstance(node, dict) or not node.get(name):
            return None
        found = node[name][0]
        if name == path[-1]:
            return found if isinstance(found, str) and found else None
        node = found
    return None


def _code(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:64]


def _labels(desc: XmlDict | None) -> list[str]:
    channels = desc.get("channels") if isinstance(desc, dict) else None
    if not channels or not isinstance(channels[0], dict):
        return []
    return [_text(channel, "label") or "" for channel in channels[0].get("channel", [])]


def read_streams(path: Path, names: Sequence[str] = ()) -> list[XmlDict]:
    """The rating streams of an XDF file: those named, or all of type Rating."""
    if not path.is_file():
        raise XdfImportError(f"no file {path}")
    try:
        streams, _header = pyxdf.load_xdf(str(path), dejitter_timestamps=False)
    except Exception as err:  # pyxdf raises bare Exceptions of many kinds for a damaged file
        raise XdfImportError(f"{path} is not a readable XDF file: {err}") from None
    found = [s for s in streams if (_text(s["info"], "name") in names if names else _is_rating(s))]
    missing = set(names) - {_text(s["info"], "name") for s in found}
    if missing:
        raise XdfImportError(f"{path}: no stream named {', '.join(sorted(missing))}")
    if not found:
        raise XdfImportError(f"{path}: no stream of type {STREAM_TYPE}; name one with --stream")
    return found


def _is_rating(stream: XmlDict) -> bool:
    return _text(stream["info"], "type") == STREAM_TYPE


def stream_samples(stream: XmlDict, session: str, role: str | None) -> tuple[str, list[Sample], XmlDict]:
    """(dial id, samples, desc) of one stream."""
    info = stream["info"]
    name = _text(info, "name") or "stream"
    desc = info["desc"][0] if info.get("desc") and isinstance(info["desc"][0], dict) else {}
    series = np.asarray(stream["time_series"], dtype=np.float64)
    stamps = np.asarray(stream["time_stamps"], dtype=np.float64)
    if series.ndim != 2 or series.shape[0] == 0:
        raise XdfImportError(f"stream {name}: no numeric samples")
    labels = _labels(desc)
    column = {label: index for index, label in enumerate(labels) if label}
    low = float(_text(desc, "scale", "min") or VALUE_MIN)
    high = float(_text(desc, "scale", "max") or VALUE_MAX)
    values = series[:, column.get("value", 0)]
    nan = np.full(len(stamps), math.nan)
    media = series[:, column["media_time"]] if "media_time" in column else nan
    seqs = series[:, column["seq"]] if "seq" in column else np.arange(len(stamps), dtype=np.float64)
    playback = series[:, column["playback"]] if "playback" in column else nan
    jumps = series[:, column["discontinuity"]] if "discontinuity" in column else np.zeros(len(stamps))
    # epoch_offset relates the sending machine's LSL clock to UTC; the stamps are now on the
    # recording machine's clock, which differs from the sender's by the measured clock offsets.
    offsets = stream.get("clock_values")
    sender = float(np.median(offsets)) if offsets is not None and len(offsets) else 0.0
    epoch = float(_text(desc, "epoch_offset") or sender) - sender
    dial = _code(_text(desc, "dial") or name)
    role = role or _code(_text(desc, "role") or "rater")
    samples: list[Sample] = []
    try:
        for index in np.flatnonzero(np.isfinite(values)):
            stamp = float(stamps[index])
            media_time = float(media[index]) if math.isfinite(media[index]) else None
            code = int(playback[index]) if math.isfinite(playback[index]) else -1
            state = PLAYBACK_STATES[code] if 0 <= code < len(PLAYBACK_STATES) else None
            samples.append(
                ImportedSample(
                    dial=dial,
                    role=role,
                    session=session,
                    value=to_scale(float(values[index]), low, high),
                    seq=int(seqs[index]),
                    device_time=stamp,
                    host_time=stamp + epoch,
                    host_monotonic=stamp,
                    media_time=media_time,
                    playback=state if state is not None else ("playing" if media_time is not None else None),
                    discontinuity=bool(jumps[index]),
                )
            )
    except RatingFileError as err:
        raise XdfImportError(f"stream {name}: {err}") from None
    except ValidationError as err:
        raise XdfImportError(f"stream {name}: {err.errors()[0]['loc']}: {err.errors()[0]['msg']}") from None
    return dial, samples, desc


def import_xdf(
    path: Path, *, out: Path, session: str | None = None, role: str | None = None, streams: Sequence[str] = ()
) -> list[str]:
    """Write the file's rating streams into out/<session>; returns the dial ids it added.

    session defaults to the session our outlets named in the streams' metadata."""
    found = read_streams(path, streams)
    if session is None:
        named = {
            _text(s["info"]["desc"][0], "session") for s in found if isinstance(s["info"]["desc"][0], dict)
        }
        if len(named) != 1 or None in named:
            raise XdfImportError(f"{path}: the streams do not name one session; give --session")
        session = str(named.pop())
    converted = [stream_samples(stream, session, role) for stream in found]
    dials = [dial for dial, _, _ in converted]
    if len(set(dials)) != len(dials):
        raise XdfImportError(f"{path}: two streams give the same dial id; import them one --stream at a time")
    folder = out / session
    if (folder / META_FILE).exists():
        taken = set(SessionMeta.load(folder).dials) & set(dials)
        if taken:
            raise XdfImportError(f"session {session} already has dial {sorted(taken)[0]}")
    record = SessionRecord(out, session, window=1)
    try:
        for (dial, samples, desc), stream in zip(converted, found, strict=True):
            if not samples:
                continue
            record.on_samples(dial, samples)
            meta = record.dials[dial].meta
            meta.source = "import:xdf"
            rate = _text(desc, "rate_hz")
            meta.rate_hz = int(rate) if rate and rate.isdigit() else None
            meta.firmware = _text(desc, "firmware")
            meta.imported = {
                "format": "xdf",
                "file": path.name,
                "stream": _text(stream["info"], "name"),
                "source_id": _text(stream["info"], "source_id"),
                "hostname": _text(stream["info"], "hostname"),
            }
    finally:
        record.close()
    return [dial for dial, samples, _ in converted if samples]
