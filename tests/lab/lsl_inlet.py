"""An LSL consumer in its own process (as LabRecorder would be): opens an inlet on every stream
whose source id starts with a prefix, says `ready`, then prints one JSON line with everything each
stream sent (info XML, samples, time stamps) once each has `count` samples or `timeout` passes.

Usage: python lsl_inlet.py PREFIX STREAMS COUNT TIMEOUT
"""

from __future__ import annotations

import json
import sys
import time

import pylsl


def main() -> None:
    prefix, streams, count, timeout = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    found = pylsl.resolve_bypred(f"starts-with(source_id,'{prefix}')", streams, timeout)
    inlets = {info.source_id(): pylsl.StreamInlet(info, max_buflen=360) for info in found}
    for inlet in inlets.values():
        inlet.open_stream(timeout)
    got: dict[str, dict[str, list[object]]] = {
        sid: {"samples": [], "stamps": [], "info": [inlet.info(timeout).as_xml()]}
        for sid, inlet in inlets.items()
    }
    print("ready", len(inlets), flush=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(len(g["samples"]) < count for g in got.values()):
        for sid, inlet in inlets.items():
            samples, stamps = inlet.pull_chunk(timeout=0.05)
            got[sid]["samples"].extend(samples)
            got[sid]["stamps"].extend(stamps)
    print(json.dumps(got), flush=True)


if __name__ == "__main__":
    main()
