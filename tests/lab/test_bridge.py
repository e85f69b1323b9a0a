"""Many sites, one study: a site Mosquitto bridged (persistent queue, QoS 1) to a central one, whose
recorder ends with every sample, none twice, in order, although the link was down mid-session."""

from __future__ import annotations

from pathlib import Path

from microdial.store.format import SessionMeta
from tests.lab.sites import Dials, run_outage

# The benchmark (benchmarks/bench_bridge.py) cuts the link for 60 s; the test for 20 s.
OUTAGE = 20.0


async def test_the_central_recorder_gets_every_sample_once_in_order_across_a_bridge_outage(
    tmp_path: Path, session_code: str
) -> None:
    out = tmp_path / "central"
    result = await run_outage(out, session_code, OUTAGE, Dials(session_code, count=8, rate_hz=100))
    # Nothing crossed while the link was down but what was in flight at the cut.
    assert all(n <= 40 for n in result.crossed_while_cut.values()), result.crossed_while_cut
    assert result.faults() == []
    assert all(count > OUTAGE * 100 for count in result.sent.values())
    meta = SessionMeta.load(out / session_code)
    assert all(m.gaps == 0 and m.lost_samples == 0 for m in meta.dials.values())
    print(f"link down {OUTAGE:.0f} s; the centre caught up {result.catch_up:.2f} s after it came back")
