"""Settings for every app: command-line flags over environment over a TOML file over defaults.

Environment variables are MICRODIAL_<SECTION>_<FIELD> (e.g. MICRODIAL_DAEMON_BROKER); the TOML
file is --config PATH, else $MICRODIAL_CONFIG, else ./microdial.toml if present, with one table
per app ([daemon], [record], ...).
"""

from __future__ import annotations

import argparse
import os
import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from microdial.errors import ConfigError

DEFAULT_CONFIG_FILE = "microdial.toml"

SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help=f"TOML settings file (default ./{DEFAULT_CONFIG_FILE})")


def config_file(explicit: Path | None) -> Path | None:
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"config file {explicit} does not exist")
        return explicit
    from_env = os.environ.get("MICRODIAL_CONFIG")
    if from_env:
        return config_file(Path(from_env))
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.is_file() else None


def _table(path: Path | None, section: str) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        document = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read config file {path}: {err}") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config file {path} is not valid TOML: {err}") from None
    table = document.get(section, {})
    if not isinstance(table, dict):
        raise ConfigError(f"config file {path}: [{section}] must be a table")
    return table


class _Defaults(PydanticBaseSettingsSource):
    """The TOML table, ranked below the environment."""

    def __init__(self, settings_cls: type[BaseSettings], table: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self._table = table

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._table.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._table)


def _describe(err: ValidationError, origin: str) -> str:
    first = err.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "settings"
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"{origin}: {where}: {first['msg']}{more}"


def load_settings(
    model: type[SettingsT], section: str, overrides: dict[str, Any], explicit_file: Path | None = None
) -> SettingsT:
    """model filled from defaults < TOML [section] < MICRODIAL_<SECTION>_* < overrides (None = unset)."""
    path = config_file(explicit_file)
    table = _table(path, section)

    class Loaded(model):  # type: ignore[valid-type,misc]
        model_config = SettingsConfigDict(
            env_prefix=f"MICRODIAL_{section.upper()}_", extra="forbid", env_nested_delimiter="__"
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
            return (init_settings, env_settings, _Defaults(settings_cls, table))

    given = {key: value for key, value in overrides.items() if value is not None}
    origin = f"config file {path}, environment or flags" if path else "environment or flags"
    try:
        loaded = Loaded(**given)
    except ValidationError as err:
        raise ConfigError(_describe(err, origin)) from None
    return model.model_validate(loaded.model_dump())


def dump_toml_hint(model: BaseModel, section: str) -> str:
    """A TOML table with the effective settings, for `--print-config`."""
    lines = [f"[{section}]"]
    for key, value in model.model_dump(mode="json").items():
        if value is None:
            continue
        if isinstance(value, str):
            lines.append(f'{key} = "{value}"')
        elif isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        else:
            lines.append(f"{key} = {value}")
    return "\n".join(lines)
