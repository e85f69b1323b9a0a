"""Each command's options come from its settings model: flags, precedence, --help, --print-config, errors."""

from __future__ import annotations

import argparse
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from pydantic_settings import BaseSettings

from microdial.cli import build_parser, main
from microdial.config import Options, default_of, dump_toml, flag_fields, flag_name, load_settings

# Every command with a settings model, with what its positional arguments need.
COMMANDS: dict[str, list[str]] = {
    "demo": [],
    "daemon": [],
    "record": [],
    "view": [],
    "watch": [],
    "doctor": [],
    "sim": [],
    "player": ["video.mp4"],
    "export": ["session"],
    "analyze": ["session"],
    "analyze-course": ["session"],
    "firmware": ["install"],
}


def parse(argv: list[str]) -> argparse.Namespace:
    return build_parser(argv).parse_args(argv)


def loaded(argv: list[str]) -> BaseSettings:
    args = parse(argv)
    settings: BaseSettings = args.options.load(args)
    return settings


def command(name: str, *flags: str) -> list[str]:
    """argv of a command: its name, sub-command, then flags before the positional arguments."""
    head = [name, *COMMANDS[name]] if name == "firmware" else [name]
    tail = [] if name == "firmware" else COMMANDS[name]
    return [*head, *flags, *tail]


# The flags every command had before its options were generated, and what they set.
OLD_FLAGS: list[tuple[str, list[str], dict[str, Any]]] = [
    (
        "daemon",
        [
            "--port",
            "/tmp/d/*",
            "--transport",
            "hid",
            "--broker",
            "mqtt://h:1884",
            "--session",
            "S1",
            "--rater",
            "client",
            "--player",
            "mpv:/tmp/s",
            "--video",
            "v.mp4",
        ],
        {
            "port": "/tmp/d/*",
            "transport": "hid",
            "broker": "mqtt://h:1884",
            "session": "S1",
            "rater": "client",
            "player": "mpv:/tmp/s",
            "video": Path("v.mp4"),
        },
    ),
    (
        "record",
        ["--broker", "mqtt://h:1", "--out", "rec", "--session", "S2", "--client-id", "rec-2"],
        {"broker": "mqtt://h:1", "out": Path("rec"), "session": "S2", "client_id": "rec-2"},
    ),
    (
        "view",
        [
            "--broker",
            "mqtt://h:1",
            "--session",
            "S3",
            "--bind",
            "0.0.0.0",
            "--port",
            "0",
            "--token",
            "tttttttt",
            "--role-token",
            "client=c1234567",
            "--role-token",
            "therapist=x=12345678",
        ],
        {
            "broker": "mqtt://h:1",
            "session": "S3",
            "bind": "0.0.0.0",
            "port": 0,
            "token": "t" * 8,
            "role_tokens": {"client": "c1234567", "therapist": "x=12345678"},
        },
    ),
    ("watch", ["--broker", "mqtt://h:1", "--session", "S4"], {"broker": "mqtt://h:1", "session": "S4"}),
    (
        "demo",
        ["--duration", "2.5", "--broker", "mqtt://h:1", "--out", "o", "--session", "S5", "--seed", "7"],
        {"duration": 2.5, "broker": "mqtt://h:1", "out": Path("o"), "session": "S5", "seed": 7},
    ),
    (
        "doctor",
        [
            "--port",
            "/dev/a",
            "--port",
            "/dev/b",
            "--broker",
            "mqtt://h:1",
            "--player",
            "free",
            "--timeout",
            "3",
        ],
        {"port": ["/dev/a", "/dev/b"], "broker": "mqtt://h:1", "player": "free", "timeout": 3.0},
    ),
    (
        "sim",
        [
            "--rater",
            "steady",
            "--role",
            "therapist",
            "--value",
            "-7",
            "--seed",
            "2",
            "--rate",
            "100",
            "--device-id",
            "ABCD",
            "--clock-offset",
            "1.5",
            "--clock-drift-ppm",
            "-20",
            "--ticks-ms",
            "--duration",
            "4",
            "--link",
            "/tmp/l",
        ],
        {
            "rater": "steady",
            "role": "therapist",
            "value": -7,
            "seed": 2,
            "rate": 100,
            "device_id": "ABCD",
            "clock_offset": 1.5,
            "clock_drift_ppm": -20.0,
            "ticks_ms": True,
            "duration": 4.0,
            "link": Path("/tmp/l"),
        },
    ),
    ("player", ["--port", "9000", "--bind", "0.0.0.0"], {"port": 9000, "bind": "0.0.0.0"}),
    ("export", ["--max-hold", "1.5", "--min-coverage", "0.25"], {"max_hold": 1.5, "min_coverage": 0.25}),
    (
        "analyze",
        [
            "--max-lag",
            "5",
            "--window",
            "20",
            "--window-step",
            "2",
            "--ruptures",
            "4",
            "--segment",
            "10",
            "--separation",
            "11",
            "--baseline",
            "12",
            "--min-depth",
            "3.5",
            "--repair-fraction",
            "0.5",
            "--clip-seconds",
            "60",
            "--max-hold",
            "0.25",
            "--min-coverage",
            "0.75",
        ],
        {
            "max_lag": 5,
            "window": 20,
            "window_step": 2,
            "ruptures": 4,
            "segment": 10,
            "separation": 11,
            "baseline": 12,
            "min_depth": 3.5,
            "repair_fraction": 0.5,
            "clip_seconds": 60,
            "max_hold": 0.25,
            "min_coverage": 0.75,
        },
    ),
    (
        "analyze-course",
        [
            "--role",
            "client",
            "--criterion",
            "rci",
            "--sd-factor",
            "1.5",
            "--reliability",
            "0.8",
            "--norm-sd",
            "7",
            "--repair-fraction",
            "0.5",
        ],
        {
            "role": "client",
            "criterion": "rci",
            "sd_factor": 1.5,
            "reliability": 0.8,
            "norm_sd": 7.0,
            "repair_fraction": 0.5,
        },
    ),
    (
        "firmware",
        ["--drive", "/media/C", "--board", "kb2040", "--mpy", "--mpy-cross", "/opt/m", "--bundle", "b"],
        {
            "drive": Path("/media/C"),
            "board": "kb2040",
            "mpy": True,
            "mpy_cross": "/opt/m",
            "bundle": Path("b"),
        },
    ),
]


@pytest.mark.parametrize(("name", "flags", "expected"), OLD_FLAGS, ids=[case[0] for case in OLD_FLAGS])
def test_every_old_flag_sets_what_it_set_before(
    name: str, flags: list[str], expected: dict[str, Any]
) -> None:
    settings = loaded(command(name, *flags))
    assert {key: getattr(settings, key) for key in expected} == expected


def test_old_flags_cover_every_command() -> None:
    assert {case[0] for case in OLD_FLAGS} == set(COMMANDS)


# (command, section, field, flag, three values: config file, environment, flag)
PRECEDENCE = [
    ("daemon", "daemon", "broker", "--broker", ("mqtt://toml:1", "mqtt://env:1", "mqtt://flag:1")),
    ("record", "record", "keepalive", "--keepalive", (11, 12, 13)),
    ("view", "view", "bind", "--bind", ("10.0.0.1", "10.0.0.2", "10.0.0.3")),
    ("watch", "watch", "interval", "--interval", (1.0, 2.0, 3.0)),
    ("demo", "demo", "seed", "--seed", (11, 12, 13)),
    ("doctor", "doctor", "timeout", "--timeout", (3.0, 4.0, 5.0)),
    ("sim", "sim", "rate", "--rate", (11, 12, 13)),
    ("player", "player", "bind", "--bind", ("10.0.0.1", "10.0.0.2", "10.0.0.3")),
    ("export", "export", "max_hold", "--max-hold", (1.0, 2.0, 3.0)),
    ("analyze", "analyze", "window", "--window", (11, 12, 13)),
    ("analyze-course", "analyze_course", "sd_factor", "--sd-factor", (1.0, 2.0, 3.0)),
    ("firmware", "firmware", "mpy_cross", "--mpy-cross", ("/toml", "/env", "/flag")),
]


@pytest.mark.parametrize(
    ("name", "section", "field", "flag", "values"), PRECEDENCE, ids=[p[0] for p in PRECEDENCE]
)
def test_flags_over_environment_over_config_file_over_defaults(
    name: str,
    section: str,
    field: str,
    flag: str,
    values: tuple[Any, Any, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    in_toml, in_env, in_flag = values
    model = parse(command(name)).options.model
    assert getattr(loaded(command(name)), field) == default_of(model.model_fields[field])
    quoted = f'"{in_toml}"' if isinstance(in_toml, str) else str(in_toml)
    (tmp_path / "microdial.toml").write_text(f"[{section}]\n{field} = {quoted}\n")
    assert getattr(loaded(command(name)), field) == in_toml
    monkeypatch.setenv(f"MICRODIAL_{section.upper()}_{field.upper()}", str(in_env))
    assert getattr(loaded(command(name)), field) == in_env
    assert getattr(loaded(command(name, flag, str(in_flag))), field) == in_flag


def _help(name: str, capsys: pytest.CaptureFixture[str]) -> str:
    # Wide enough that argparse does not break the long temporary paths inside a word.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COLUMNS", "400")
        return _help_text(name, capsys)


def _help_text(name: str, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit_:
        main([*command(name)[: 2 if name == "firmware" else 1], "--help"])
    assert exit_.value.code == 0
    return " ".join(capsys.readouterr().out.split())


def _shown(value: Any) -> str:
    if value in (None, [], {}):
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    return format(value, "g") if isinstance(value, float) else str(value)


@pytest.mark.parametrize("name", COMMANDS)
def test_help_shows_every_option_with_its_default(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(name, capsys)
    options = text[text.index("options:") :]
    model = parse(command(name)).options.model
    for field_name, field in flag_fields(model).items():
        flag = flag_name(field_name, field)
        # The option's own entry: from its flag (or --no-flag, for a boolean) to the next option.
        entry = re.search(rf" {re.escape(flag)}[ ,](.*?)\(default (.*?)\)", options)
        assert entry is not None, flag
        assert entry.group(2) == _shown(default_of(field)), flag
        if field.description:
            assert field.description.split()[0] in entry.group(1) + entry.group(2), flag


def test_daemon_help_shows_the_spool_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = _help("daemon", capsys)
    assert "--spool-dir SPOOL_DIR" in text
    # conftest points XDG_STATE_HOME into the test's folder
    assert f"(default {tmp_path / 'state' / 'microdial' / 'spool'})" in text


def test_daemon_secrets_and_tables_are_no_flags() -> None:
    parser = build_parser(["daemon"])
    for flag in ("--password", "--command-token", "--dials"):
        with pytest.raises(SystemExit):
            parser.parse_args(["daemon", flag, "x"])


@pytest.mark.parametrize("name", COMMANDS)
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[{section}\nx = 1\n", "is not valid TOML"),
        ("[{section}]\nno_such_option = 1\n", "no_such_option: Extra inputs are not permitted"),
        ("{section} = 3\n", "must be a table"),
    ],
)
def test_a_bad_config_file_is_one_line_and_exit_2(
    name: str, text: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    section = parse(command(name)).options.section
    config = tmp_path / "bad.toml"
    config.write_text(text.format(section=section))
    assert main(command(name, "--config", str(config))) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith(f"microdial {name}:"), lines


def test_a_missing_config_file_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["record", "--config", "nowhere.toml"]) == 2
    assert capsys.readouterr().err.strip() == "microdial record: config file nowhere.toml does not exist"


def test_a_bad_flag_value_names_the_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["record", "--session", "Jane Doe"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "session: String should match pattern" in line


def test_a_pair_flag_without_equals_says_how(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["view", "--session", "S1", "--role-token", "client"]) == 2
    assert "--role-token 'client': use ROLE=TOKEN" in capsys.readouterr().err


@pytest.mark.parametrize("name", COMMANDS)
def test_print_config_reads_back_to_the_same_settings(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    options = parse(command(name)).options
    model, section = options.model, options.section
    flags = next(flags for case, flags, _ in OLD_FLAGS if case == name)
    if name == "daemon":
        (tmp_path / "microdial.toml").write_text(
            '[daemon]\npassword = "hunter2"\n[daemon.dials."E6614103E7"]\nrole = "therapist"\n'
        )
    effective = loaded(command(name, *flags))
    assert main(command(name, *flags, "--print-config")) == 0
    printed = capsys.readouterr().out
    assert "hunter2" not in printed and "12345678" not in printed
    assert tomllib.loads(printed).keys() == {section}
    (tmp_path / "printed.toml").write_text(printed)
    monkeypatch.chdir(tmp_path / "..")  # away from the microdial.toml above
    again = load_settings(model, section, {}, tmp_path / "printed.toml")
    secrets = {
        key
        for key, field in model.model_fields.items()
        if isinstance(field.json_schema_extra, dict) and field.json_schema_extra.get("secret")
    }
    assert name not in ("daemon", "view") or secrets
    assert again.model_dump(exclude=secrets) == effective.model_dump(exclude=secrets)


def test_a_field_with_no_flag_type_must_be_marked() -> None:
    class Nested(BaseSettings):
        table: dict[str, list[int]] = {}

    with pytest.raises(TypeError, match="table: no flag for"):
        Options(Nested, "nested").add_to(argparse.ArgumentParser())


def test_booleans_have_a_negative_flag() -> None:
    assert loaded(command("sim", "--no-ticks-ms")).ticks_ms is False  # type: ignore[attr-defined]


def test_dump_toml_reads_back_any_string_key_and_number() -> None:
    class Odd(BaseSettings):
        text: str = 'quote " backslash \\ newline \n DEL \x7f emoji 😀'
        pairs: dict[str, str] = {"a key": "v", "ü": "w"}
        ratio: float = float("inf")
        names: list[str] = ["a", "b"]

    table = tomllib.loads(dump_toml(Odd(), "odd section"))["odd section"]
    assert Odd.model_validate(table) == Odd()
