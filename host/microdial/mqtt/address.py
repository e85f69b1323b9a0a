"""Where the broker is and how to reach it: the URL, credentials, TLS; the settings every command
that connects shares (BrokerSettings); and the one line a failed connection is reported as."""

from __future__ import annotations

import logging
import socket
import ssl
import time
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from microdial.errors import ConfigError
from microdial.mqtt.interface import ConnectRefused

log = logging.getLogger(__name__)

DEFAULT_URL = "mqtt://127.0.0.1:1883"
# A failure that persists is reported again this often (a new reason at once): enough to be seen
# in a log someone opens later, not a line per retry.
REPORT_INTERVAL = 60.0


class BrokerAddress(BaseModel):
    model_config = ConfigDict(frozen=True)

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    # Never in a repr, a log line or url.
    password: str | None = Field(None, repr=False)
    # None: unknown (clients try MQTT 5, then 3.1.1); False for brokers known to speak only 3.1.1.
    mqtt5: bool | None = None
    # mqtts:// only. None: the system's CAs.
    ca_file: Path | None = None
    # For a broker that asks clients for a certificate (require_certificate); the key may be in cert_file.
    cert_file: Path | None = None
    key_file: Path | None = None

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        parts = urlsplit(url if "://" in url else f"mqtt://{url}")
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise ConfigError(f"broker URL {redacted(url)!r}: use mqtt://HOST:PORT or mqtts://HOST:PORT")
        tls = parts.scheme in ("mqtts", "ssl")
        try:
            port = parts.port or (8883 if tls else 1883)
        except ValueError as err:
            raise ConfigError(f"broker URL {redacted(url)!r}: {err}") from None
        if not parts.hostname:
            raise ConfigError(f"broker URL {redacted(url)!r} names no host: use mqtt://HOST:PORT")
        return cls(host=parts.hostname, port=port, tls=tls, username=parts.username, password=parts.password)

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def redacted(url: str) -> str:
    """url without the password it may carry."""
    scheme, sep, rest = url.rpartition("://")
    userinfo, at, hostpart = rest.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    return f"{scheme}{sep}{userinfo.split(':', 1)[0]}:***@{hostpart}"


class BrokerSettings(BaseSettings):
    """The broker connection settings of every command that connects, included in its settings
    model: flags (--broker, --ca-file...), [section] keys, MICRODIAL_<SECTION>_<FIELD> variables."""

    # mqtts:// for TLS. A password in the URL would show in ps: --password-file or the environment.
    broker: str = Field(DEFAULT_URL, description="MQTT broker URL")
    username: str | None = Field(None, description="MQTT user name")
    password: str | None = Field(
        None,
        description="MQTT password (environment or config file: a flag would show it in ps)",
        json_schema_extra={"flag": False, "secret": True},
    )
    password_file: Path | None = Field(
        None, description="file whose first line is the MQTT password (not in the URL: ps shows it)"
    )
    ca_file: Path | None = Field(None, description="CA of a lab broker with its own certificate (mqtts://)")
    cert_file: Path | None = Field(
        None, description="client certificate (PEM) for a broker that asks for one (mqtts://)"
    )
    key_file: Path | None = Field(
        None, description="the client certificate's key (PEM), unless in --cert-file"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Made directly (a library call, a test), settings are what they are given: unprefixed
        # variables such as USERNAME or PASSWORD must not slip in. config.load_settings adds the
        # command's MICRODIAL_<SECTION>_* variables and its config file.
        return (init_settings,)

    def broker_address(self) -> BrokerAddress:
        """The address with its credentials and TLS files; ConfigError names what is wrong."""
        address = BrokerAddress.parse(self.broker)
        if address.password is not None:
            log.warning(
                "the broker URL carries a password, which ps shows: give it with --password-file "
                "or the environment instead"
            )
        update: dict[str, object] = {
            "ca_file": self.ca_file,
            "cert_file": self.cert_file,
            "key_file": self.key_file,
        }
        if self.username is not None:
            update["username"] = self.username
        password = self.password if self.password_file is None else _first_line(self.password_file)
        if password is not None:
            update["password"] = password
        if self.key_file is not None and self.cert_file is None:
            raise ConfigError("--key-file needs --cert-file: the client certificate it belongs to")
        files = [name for name in ("ca_file", "cert_file") if update[name] is not None]
        if files and not address.tls:
            log.warning("%s given for %s: TLS files apply to mqtts:// brokers only", files[0], address.url)
        for name in ("ca_file", "cert_file", "key_file"):
            path = update[name]
            if isinstance(path, Path) and not path.is_file():
                raise ConfigError(f"{name} {path} is not a readable file")
        return address.model_copy(update=update)


def _first_line(path: Path) -> str:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read the password file {path}: {err}") from None
    return text.splitlines()[0] if text else ""


def tls_context(address: BrokerAddress, ca_file: Path | None = None) -> ssl.SSLContext | None:
    """For mqtts:// brokers: the system's CAs, or the lab's own CA file for a self-signed broker
    (ca_file, else the address's); and the client certificate if the address has one."""
    if not address.tls:
        return None
    cafile = ca_file or address.ca_file
    context = ssl.create_default_context(cafile=str(cafile) if cafile else None)
    if address.cert_file is not None:
        context.load_cert_chain(address.cert_file, address.key_file)
    return context


def reachable(address: BrokerAddress, timeout: float = 1.0) -> bool:
    """True when something accepts TCP connections at the broker's address."""
    try:
        with socket.create_connection((address.host, address.port), timeout=timeout):
            return True
    except OSError:
        return False


class ConnectionReport:
    """A client's failures to reach the broker, as one line each: at once, again when the reason
    changes, else once every interval with how many attempts failed since; and one line when the
    connection is back."""

    def __init__(self, who: str, address: BrokerAddress, interval: float | None = None) -> None:
        self.who = who
        self.address = address
        self.interval = REPORT_INTERVAL if interval is None else interval
        self.failures = 0
        self._reason: str | None = None
        self._reported = 0.0
        self._since = 0  # failures not reported

    def failed(self, error: Exception) -> None:
        self.failures += 1
        # The client's own "cannot connect to URL: " would say it twice.
        reason = str(error).removeprefix(f"cannot connect to {self.address.url}: ")
        now = time.monotonic()
        if reason == self._reason and now - self._reported < self.interval:
            self._since += 1
            log.debug("%s: broker %s still unreachable: %s", self.who, self.address.url, reason)
            return
        again = f" ({self._since} more failed attempts since the last report)" if self._since else ""
        level = logging.ERROR if _needs_attention(error) else logging.WARNING
        log.log(
            level,
            "%s: cannot connect to broker %s: %s%s%s",
            self.who,
            self.address.url,
            reason,
            _hint(reason, self.address),
            again,
        )
        self._reason, self._reported, self._since = reason, now, 0

    def connected(self) -> None:
        if self.failures:
            log.info(
                "%s: connected to broker %s after %d failed attempts",
                self.who,
                self.address.url,
                self.failures,
            )
        self.failures, self._reason, self._since = 0, None, 0


def _needs_attention(error: Exception) -> bool:
    """A refusal or a certificate problem does not go away by waiting, unlike a broker that is down."""
    return isinstance(error, ConnectRefused) or "CERTIFICATE" in str(error)


def _hint(reason: str, address: BrokerAddress) -> str:
    if "closed the connection at once" in reason and address.tls and address.cert_file is None:
        return " (a broker that asks for a client certificate does this without one: --cert-file)"
    if "CERTIFICATE_VERIFY_FAILED" in reason:
        return " (check --ca-file: the CA that signed the broker's certificate)"
    if "user name or password" in reason or "Not authorized" in reason:
        return " (check --username and the password)"
    return ""
