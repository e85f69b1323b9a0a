"""A site's Mosquitto bridged to a central one (docs/sites.md): the lines of the site broker's
mosquitto.conf that forward a site's dials to the centre, where the recorder runs.

The bridge is a persistent MQTT session on both sides: `cleansession false` keeps the bridge's
session at the centre, `local_cleansession false` keeps, at the site, the messages published while
the link is down (with the site broker's persistence, also across its restart), and QoS 1 makes
each hop resend what was not acknowledged. QoS 1 can deliver a message twice after a link drops
mid-acknowledgement; the recorder drops such duplicates by (dial, seq, host_time). The site
broker's max_queued_messages bounds what an outage can hold (embedded_broker sets 100000; a
site should size it for its longest outage: 8 dials at 100 Hz in 20-ms batches are 400 messages/s).
"""

from __future__ import annotations

from microdial.mqtt.address import BrokerAddress
from microdial.mqtt.topics import PREFIX

# Site -> centre: what daemons publish. Centre -> site: commands to the site's daemons.
OUT_TOPICS = (
    f"{PREFIX}/+/+/samples",
    f"{PREFIX}/+/+/status",
    f"{PREFIX}/+/+/events",
    f"{PREFIX}/+/cmd/reply",
)
IN_TOPICS = (f"{PREFIX}/+/cmd",)


def site_bridge(
    name: str,
    central: BrokerAddress,
    *,
    restart: tuple[int, int] = (1, 10),
    keepalive: int = 10,
    qos: int = 1,
) -> list[str]:
    """The mosquitto.conf lines of a bridge named `name` (its client id at the centre, one per
    site) from this broker to `central`. TLS and credentials for the link (bridge_cafile,
    remote_username, remote_password) go after these lines; see docs/sites.md."""
    return [
        f"connection {name}",
        f"address {central.host}:{central.port}",
        f"remote_clientid {name}",
        "bridge_protocol_version mqttv311",
        "cleansession false",
        "local_cleansession false",
        # The centre knows it is a bridge, so nothing comes back to the site as a loop.
        "try_private true",
        f"keepalive_interval {keepalive}",
        # Exponential backoff between reconnection attempts: base, cap (seconds).
        f"restart_timeout {restart[0]} {restart[1]}",
        *(f"topic {topic} out {qos}" for topic in OUT_TOPICS),
        *(f"topic {topic} in {qos}" for topic in IN_TOPICS),
    ]
