"""Where the broker is: the URL, credentials, TLS."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

from microdial.errors import ConfigError

DEFAULT_URL = "mqtt://127.0.0.1:1883"


class BrokerAddress(BaseModel):
    model_config = ConfigDict(frozen=True)

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None
    # None: unknown (clients try MQTT 5, then 3.1.1); False for brokers known to speak only 3.1.1.
    mqtt5: bool | None = None

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        parts = urlsplit(url if "://" in url else f"mqtt://{url}")
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise ConfigError(f"broker URL {url!r}: use mqtt://HOST:PORT or mqtts://HOST:PORT")
        tls = parts.scheme in ("mqtts", "ssl")
        try:
            port = parts.port or (8883 if tls else 1883)
        except ValueError as err:
            raise ConfigError(f"broker URL {url!r}: {err}") from None
        if not parts.hostname:
            raise ConfigError(f"broker URL {url!r} names no host: use mqtt://HOST:PORT")
        return cls(host=parts.hostname, port=port, tls=tls, username=parts.username, password=parts.password)

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def tls_context(address: BrokerAddress, ca_file: Path | None = None) -> ssl.SSLContext | None:
    """For mqtts:// brokers: the system's CAs, or the lab's own CA file for a self-signed broker."""
    if not address.tls:
        return None
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)


def reachable(address: BrokerAddress, timeout: float = 1.0) -> bool:
    """True when something accepts TCP connections at the broker's address."""
    try:
        with socket.create_connection((address.host, address.port), timeout=timeout):
            return True
    except OSError:
        return False
