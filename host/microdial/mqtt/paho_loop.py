"""paho's network I/O on the asyncio loop, through paho's public API for an external event loop.

The half of mqtt/client.py that moves bytes (client.py alone imports it): a reader on the
socket, a writer only while paho holds bytes the socket did not take, loop_misc once a second.

A publish from the loop is on the wire when the call returns: no writer round trip per
message. (paho writes a packet as soon as it is queued when no socket_register_write callback
is set, and call() writes whatever paho still holds.) A packet queued inside a paho callback
(an acknowledgement that sends the next message) is written right after the packet that
called it was read, in the same loop step.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

# Packets one readable event takes at most: a backlog of thousands arrives over a few loop
# steps, so the tasks that consume it (the recorder writing and acknowledging) get their turn.
READ_BUDGET = 1000


class PahoLoop:
    """Runs one paho client's socket on the running asyncio loop."""

    def __init__(self, paho: mqtt.Client) -> None:
        self.paho = paho
        # The client's callbacks count the packets they see, so a read that took a packet can be
        # told from one that found the socket empty (loop_read reports success for both).
        self.progress = 0
        paho.on_socket_close = self._detach
        self._io: asyncio.AbstractEventLoop | None = None
        self._fd = -1
        self._tls: ssl.SSLSocket | None = None
        self._writing = False
        self._in_paho = False  # inside a call into paho: its callbacks must not call it again
        self._misc: asyncio.TimerHandle | None = None

    @property
    def open(self) -> bool:
        return self._fd >= 0

    def attach(self) -> None:
        """Start serving the socket paho's connect() just opened (in a worker thread)."""
        sock = self.paho.socket()
        if sock is None:
            return
        if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
            # Samples are small and latency matters more than packets per second.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._io = asyncio.get_running_loop()
        self._tls = sock if isinstance(sock, ssl.SSLSocket) else None
        self._fd = sock.fileno()
        self._io.add_reader(self._fd, self._readable)
        self._misc = self._io.call_later(1.0, self._tick)
        self._flush()  # the CONNECT, should the socket not have taken it whole

    def close(self) -> None:
        """Close the socket paho still holds (the broker never answered) without paho's goodbye."""
        sock = self.paho.socket()
        if sock is not None:
            self._detach(self.paho, None, sock)
            sock.close()

    def _detach(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        # paho's on_socket_close: before the descriptor closes, and it may be reused.
        if self._fd >= 0 and self._io is not None:
            self._io.remove_reader(self._fd)
            if self._writing:
                self._io.remove_writer(self._fd)
        self._fd, self._writing, self._tls = -1, False, None
        if self._misc is not None:
            self._misc.cancel()
            self._misc = None

    def call(self, method: Callable[..., Any], *args: Any) -> Any:
        """Call into paho (publish, subscribe, ack...), then write what it queued and could not send."""
        nested, self._in_paho = self._in_paho, True
        try:
            result = method(*args)
        finally:
            self._in_paho = nested
        if not nested:
            self._flush()
        return result

    def _readable(self) -> None:
        # paho reads one packet per loop_read (in two or three recv calls): go on while packets
        # keep coming, so one readable event takes a backlog, not one packet of it. A packet
        # that calls no callback (PINGRESP) ends the run early; the socket stays readable for
        # the next step. TLS may hold decrypted bytes that the socket no longer shows.
        paho = self.paho
        for _ in range(READ_BUDGET):
            before = self.progress
            self._in_paho = True
            try:
                rc = paho.loop_read()
            finally:
                self._in_paho = False
            # What the packet's callbacks queued (the next message after an acknowledgement)
            # leaves now, not after the rest of the backlog.
            self._flush()
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                break
            if self.progress == before and (self._tls is None or not self._tls.pending()):
                break

    def _flush(self) -> None:
        """Write what paho holds; a writer stays registered only while the socket takes no more."""
        paho = self.paho
        if self._in_paho or self._fd < 0:
            return
        if paho.want_write():
            self._in_paho = True
            try:
                paho.loop_write()
            finally:
                self._in_paho = False
            if self._fd < 0:  # the write found the connection gone (paho closed the socket)
                return
        waiting = paho.want_write()
        if waiting != self._writing:
            assert self._io is not None
            if waiting:
                self._io.add_writer(self._fd, self._flush)
            else:
                self._io.remove_writer(self._fd)
            self._writing = waiting

    def _tick(self) -> None:
        self._misc = None
        self.call(self.paho.loop_misc)  # keepalive pings, and the broker's silence noticed
        if self._fd >= 0 and self._io is not None:
            self._misc = self._io.call_later(1.0, self._tick)
