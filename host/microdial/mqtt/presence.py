"""Reading dial statuses as SPEC.md section 3.2 says: a dial is offline while the daemon carrying it is.

One broker connection carries all of a daemon's dials and has one will, which marks the daemon
offline (its retained DaemonStatus), not each dial. Readers (the recorder, the live view) pass
every status through here, so a dial whose daemon died reads offline as it did when each dial
had a will of its own. Retained messages of different topics arrive in no set order, so the rule
is applied both ways: to the dials already seen when the daemon goes, and to statuses seen later.
"""

from __future__ import annotations

import time

from microdial.model import DaemonStatus, DialStatus


class Presence:
    def __init__(self) -> None:
        self._offline: set[tuple[str, str]] = set()  # (session, daemon)
        self._last: dict[tuple[str, str], DialStatus] = {}  # (session, dial) -> as published

    def status(self, status: DialStatus) -> DialStatus:
        """The dial's status as it should be taken."""
        self._last[status.session, status.dial] = status
        if status.state != "offline" and (status.session, status.daemon) in self._offline:
            return status.model_copy(update={"state": "offline"})
        return status

    def daemon(self, daemon: DaemonStatus) -> list[DialStatus]:
        """The statuses of the daemon's dials that change with it (none when it comes back: it
        publishes its dials' statuses again itself)."""
        key = (daemon.session, daemon.daemon)
        if daemon.state == "online":
            self._offline.discard(key)
            return []
        self._offline.add(key)
        when = daemon.host_time if daemon.host_time is not None else time.time()
        return [
            status.model_copy(update={"state": "offline", "host_time": when})
            for (session, _), status in self._last.items()
            if session == daemon.session and status.daemon == daemon.daemon and status.state != "offline"
        ]
