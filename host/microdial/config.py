"""Settings for every app: command-line flags over environment over a TOML file over defaults.

Each command's options are declared once, as the fields of its pydantic-settings model:
Options(model, section).add_to(parser) makes one flag per field (name → --kebab-case, help from
the description with the default), .load(args) fills the model from those flags, the environment
(MICRODIAL_<SECTION>_<FIELD>, e.g. MICRODIAL_DAEMON_BROKER) and the TOML file, which is --config
PATH, else $MICRODIAL_CONFIG, else ./microdial.toml if present, else microdial.toml in the OS's
folder for a user's settings (platformdirs), with one table per app ([daemon]...).

A field's json_schema_extra tunes its flag: {"flag": False} keeps it out of the command line
(tables, secrets that `ps` would show), {"flag": "--name"} and {"metavar": "..."} respell it,
{"secret": True} keeps its value out of --print-config.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tomllib
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Generic, Literal, TypeVar, Union, get_args, get_origin

import platformdirs
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from microdial.errors import ConfigError

DEFAULT_CONFIG_FILE = "microdial.toml"

SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def config_file(explicit: Path | None) -> Path | None:
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"config file {explicit} does not exist")
        return explicit
    from_env = os.environ.get("MICRODIAL_CONFIG")
    if from_env:
        return config_file(Path(from_env))
    default = Path(DEFAULT_CONFIG_FILE)
    if default.is_file():
        return default
    # The OS's place for a user's settings: %LOCALAPPDATA%\\microdial, ~/Library/Application Support/microdial, ~/.config/microdial.
    user = platformdirs.user_config_path("microdial", appauthor=False) / DEFAULT_CONFIG_FILE
    return user if user.is_file() else None


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


# -- flags from the model ------------------------------------------------------------------------------
def _extra(field: FieldInfo) -> dict[str, Any]:
    extra = field.json_schema_extra
    return extra if isinstance(extra, dict) else {}


def flag_fields(model: type[BaseModel]) -> dict[str, FieldInfo]:
    """The fields that are command-line flags: all but those marked {"flag": False}."""
    return {name: field for name, field in model.model_fields.items() if _extra(field).get("flag", True)}


def flag_name(name: str, field: FieldInfo) -> str:
    spelled = _extra(field).get("flag")
    return spelled if isinstance(spelled, str) else "--" + name.replace("_", "-")


def _bare(annotation: Any) -> Any:
    """The type under Optional[...] and Annotated[...]: what a flag's value is."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            rest = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(rest) != 1:
                return annotation
            annotation = rest[0]
        else:
            return annotation


def default_of(field: FieldInfo) -> Any:
    return field.get_default(call_default_factory=True)


def _shown(value: Any) -> str:
    if value is None or value == [] or value == {}:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format(value, "g")
    return str(value)


def _flag_kwargs(name: str, field: FieldInfo) -> dict[str, Any]:
    kind = _bare(field.annotation)
    origin = get_origin(kind)
    extra = _extra(field)
    kwargs: dict[str, Any] = {"dest": name, "default": None}
    if kind is bool:
        kwargs["action"] = argparse.BooleanOptionalAction
    elif origin is Literal:
        choices = list(get_args(kind))
        kwargs["choices"] = choices
        kwargs["type"] = type(choices[0])
    elif kind in (int, float):
        kwargs["type"] = kind
    elif kind in (str, Path):
        pass  # the model converts and checks it, so its errors read like the config file's
    elif origin is list and get_args(kind) in ((str,), (Path,)):
        kwargs["action"] = "append"
    elif origin is dict and get_args(kind) == (str, str):
        kwargs["action"] = "append"
        kwargs["metavar"] = "KEY=VALUE"
    else:
        raise TypeError(f"{name}: no flag for {kind!r}; mark the field json_schema_extra={{'flag': False}}")
    if "metavar" in extra:
        kwargs["metavar"] = extra["metavar"]
    description = (field.description or "").replace("%", "%%")
    kwargs["help"] = f"{description} (default {_shown(default_of(field))})".lstrip()
    return kwargs


def _pairs(flag: str, items: list[str], metavar: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{flag} {item!r}: use {metavar}")
        pairs[key] = value
    return pairs


def flag_values(args: argparse.Namespace, model: type[BaseModel]) -> dict[str, Any]:
    """What the flags of model's fields were given as (None: not given)."""
    values: dict[str, Any] = {}
    for name, field in flag_fields(model).items():
        value = getattr(args, name, None)
        if value is not None and get_origin(_bare(field.annotation)) is dict:
            value = _pairs(flag_name(name, field), value, _extra(field).get("metavar", "KEY=VALUE"))
        values[name] = value
    return values


@dataclass(frozen=True, slots=True)
class Options(Generic[SettingsT]):
    """A command's settings model and its section of the config file: its flags, and what they give."""

    model: type[SettingsT]
    section: str

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        """One flag per field of the model, plus --config and --print-config."""
        for name, field in flag_fields(self.model).items():
            parser.add_argument(flag_name(name, field), **_flag_kwargs(name, field))
        parser.add_argument(
            "--config", type=Path, help=f"TOML settings file (default ./{DEFAULT_CONFIG_FILE})"
        )
        parser.add_argument(
            "--print-config",
            action="store_true",
            help=f"print the effective settings as the [{self.section}] table of a {DEFAULT_CONFIG_FILE}, and exit",
        )
        parser.set_defaults(options=self)

    def load(self, args: argparse.Namespace) -> SettingsT:
        """The model from the flags add_to() made, over environment, config file and defaults."""
        return load_settings(self.model, self.section, flag_values(args, self.model), args.config)


# -- --print-config ------------------------------------------------------------------------------------
def _toml_key(key: str) -> str:
    bare = key and all(c.isascii() and (c.isalnum() or c in "_-") for c in key)
    return key if bare else _toml_value(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        # A JSON string is a TOML basic string (same quotes and escapes), but for DEL, which TOML escapes.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items() if v is not None)
        return "{ " + inner + " }" if inner else "{}"
    raise TypeError(f"no TOML for {value!r}")


def dump_toml(settings: BaseModel, section: str) -> str:
    """The effective settings as a TOML table that load_settings reads back to the same values."""
    lines = [f"[{_toml_key(section)}]"]
    fields = type(settings).model_fields
    for key, value in settings.model_dump(mode="json").items():
        if value is None or value == {}:
            lines.append(f"# {key} is unset")
        elif _extra(fields[key]).get("secret"):
            lines.append(f"# {key} is set (not shown)")
        else:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def print_config(args: argparse.Namespace, write: Callable[[str], object] = print) -> bool:
    """With --print-config: print the command's effective settings and say so (the command then exits)."""
    if not getattr(args, "print_config", False):
        return False
    options: Options[BaseSettings] = args.options
    write(dump_toml(options.load(args), options.section).rstrip("\n"))
    return True
