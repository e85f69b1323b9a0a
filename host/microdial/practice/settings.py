"""The practice server's options and the rubric supervisors score with."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings

from microdial.errors import ConfigError

RUBRIC_FILE = "rubric.toml"


class PracticeSettings(BaseSettings):
    data: Path = Field(Path("practice-data"), description="folder of the database and media files")
    bind: str = Field("127.0.0.1", description="address to listen on (loopback by default)")
    port: int = Field(8094, ge=0, le=65535, description="port to listen on")
    cert: Path | None = Field(None, description="TLS certificate (PEM) to serve HTTPS directly")
    key: Path | None = Field(None, description="TLS private key (PEM) for --cert")
    behind_tls_proxy: bool = Field(
        False, description="a TLS reverse proxy fronts this server: mark cookies Secure, allow any --bind"
    )
    public_url: str | None = Field(None, description="the address users reach (for sign-in links)")
    max_upload_mb: int = Field(400, ge=1, description="largest recording accepted, MB")
    rubric: Path | None = Field(None, description=f"rubric TOML (default DATA/{RUBRIC_FILE} or built in)")
    invite_hours: float = Field(72.0, gt=0, description="how long a sign-in link stays valid, hours")
    session_hours: float = Field(12.0, gt=0, description="how long a sign-in lasts, hours")

    @property
    def tls(self) -> bool:
        return self.cert is not None

    @property
    def secure_cookies(self) -> bool:
        return self.tls or self.behind_tls_proxy

    def origin(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.bind in ("", "0.0.0.0", "::") else self.bind
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"


class RubricItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str = Field(pattern=r"^[a-z0-9_]{1,40}$")
    title: str
    anchors: dict[int, str]

    @field_validator("anchors")
    @classmethod
    def _on_scale(cls, anchors: dict[int, str]) -> dict[int, str]:
        if not anchors or any(not 1 <= point <= 5 for point in anchors):
            raise ValueError("anchors are keyed by scale points 1 to 5")
        return dict(sorted(anchors.items()))


class Rubric(BaseModel):
    model_config = ConfigDict(frozen=True)

    scale_min: int = 1
    scale_max: int = 5
    items: list[RubricItem] = Field(min_length=1)

    def check(self, scores: dict[str, int]) -> None:
        keys = {item.key for item in self.items}
        if set(scores) != keys:
            raise ValueError(f"score every rubric item: {', '.join(sorted(keys))}")
        if any(not self.scale_min <= score <= self.scale_max for score in scores.values()):
            raise ValueError(f"scores are {self.scale_min} to {self.scale_max}")


DEFAULT_RUBRIC = Rubric(
    items=[
        RubricItem(
            key="addresses_rupture",
            title="Responds to the rupture rather than around it",
            anchors={
                1: "ignores or talks past it",
                3: "notices it indirectly",
                5: "names it openly and warmly",
            },
        ),
        RubricItem(
            key="empathy",
            title="Empathy for the client's experience",
            anchors={1: "none shown", 3: "generic validation", 5: "specific, felt understanding"},
        ),
        RubricItem(
            key="invites_view",
            title="Invites the client's view of what went wrong",
            anchors={1: "no invitation", 3: "a closed question", 5: "open, curious invitation"},
        ),
        RubricItem(
            key="non_defensive",
            title="Non-defensiveness",
            anchors={1: "justifies or argues", 3: "neutral", 5: "takes their share of responsibility"},
        ),
        RubricItem(
            key="collaboration",
            title="Renews the collaboration (tasks and goals)",
            anchors={1: "carries on as before", 3: "offers a change", 5: "agrees a way forward together"},
        ),
    ]
)


def load_rubric(settings: PracticeSettings) -> Rubric:
    """--rubric, else DATA/rubric.toml, else the built-in one. The file is [[items]] tables with
    key, title and anchors = {1 = "...", 5 = "..."}, optionally scale_min/scale_max at the top."""
    path = settings.rubric or settings.data / RUBRIC_FILE
    if settings.rubric is None and not path.is_file():
        return DEFAULT_RUBRIC
    try:
        document = tomllib.loads(path.read_text())
        return Rubric.model_validate(document)
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"cannot read rubric {path}: {err}") from None
    except ValidationError as err:
        raise ConfigError(f"rubric {path}: {err.errors()[0]['msg']}") from None
