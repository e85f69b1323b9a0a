"""Importing CARMA and DARMA exports, written here in the layouts those tools write
(CARMA fig_collect.m / examples/*.csv, DARMA fig_collect.m, github.com/jmgirard), and plain
time/rating tables (`columns`) with a tool's preamble above the header row."""

from __future__ import annotations

import csv
import itertools
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from microdial.cli import main
from microdial.store.format import SessionMeta, samples_file
from microdial.store.importers import ColumnLayout, RatingFileError, import_file, to_scale
from microdial.store.importers.carma import read_carma
from microdial.store.reader import read_events, read_samples

CARMA_CSV = """Time of Rating,13-Dec-2021 07:36:40
Multimedia File,S01.mp4
Lower Label,Weakest possible
Upper Label,Strongest possible
Minimum Value,-100
Maximum Value,100
Number of Steps,9
Second,Rating
%%%%%%,%%%%%%
1,-100
2,0
3,NaN
4,100
5,37.5
"""

CARMA_OLD = """Filename,Lower Label,Upper Label,Minimum Value,Midpoint Value,Maximum Value,Number of Steps,Second,Rating
C:\\Users\\x\\S01.avi,very negative,very positive,-100,0,100,9,1,7.8010475
C:\\Users\\x\\S01.avi,very negative,very positive,-100,0,100,9,2,-50
"""

DARMA_CSV = """Time of Rating,13-Dec-2021 07:36:40,,
Multimedia File,S01.mp4,,
Magnitude,1000,,
Second,Valence,Arousal,Button
%%%%%%,%%%%%%,%%%%%%,%%%%%%
1,-1000,1000,0
2,500,0,1
3,0,-500,1
4,NaN,NaN,0
5,250,250,1
"""


def rows_of(folder: Path, dial: str) -> list[tuple[float, str, int]]:
    """(media_time, value as written, seq) of an imported dial's samples file."""
    with (folder / samples_file(dial)).open() as handle:
        return [(float(r["media_time"]), r["value"], int(r["seq"])) for r in csv.DictReader(handle)]


def xlsx(path: Path, rows: list[list[object]]) -> None:
    """A workbook laid out as MATLAB's xlswrite writes CARMA's: text in shared strings."""
    shared: list[str] = []
    sheet_rows = []
    for r, row in enumerate(rows, start=1):
        cells = []
        for c, value in enumerate(row):
            ref = f"{'ABCD'[c]}{r}"
            if isinstance(value, str):
                shared.append(value)
                cells.append(f'<c r="{ref}" t="s"><v>{len(shared) - 1}</v></c>')
            else:
                cells.append(f'<c r="{ref}"><v>{value}</v></c>')
        sheet_rows.append(f'<row r="{r}">{"".join(cells)}</row>')
    main_ns = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    with zipfile.ZipFile(path, "w") as book:
        book.writestr(
            "xl/sharedStrings.xml",
            f'<sst xmlns="{main_ns}">' + "".join(f"<si><t>{escape(s)}</t></si>" for s in shared) + "</sst>",
        )
        book.writestr(
            "xl/worksheets/sheet1.xml",
            f'<worksheet xmlns="{main_ns}"><sheetData>{"".join(sheet_rows)}</sheetData></worksheet>',
        )


def test_carma_csv_into_a_session(tmp_path: Path) -> None:
    source = tmp_path / "S01_client.csv"
    source.write_text(CARMA_CSV)
    out = tmp_path / "rec"
    assert (
        main(["import", "carma", str(source), "--session", "S01", "--role", "client", "--out", str(out)]) == 0
    )
    (dial,) = SessionMeta.load(out / "S01").dials
    assert dial == "carma-S01_client"
    # Whole values stay integers in the file; 37.5 on -100..100 is kept as mapped, 18.75, not 19.
    assert rows_of(out / "S01", dial) == [(1.0, "-50", 0), (2.0, "0", 1), (4.0, "50", 3), (5.0, "18.75", 4)]
    samples = list(itertools.islice(read_samples(out / "S01" / samples_file(dial)), 3))
    assert {s.role for s in samples} == {"client"} and samples[0].media == "S01.mp4"
    meta = SessionMeta.load(out / "S01").dials[dial]
    assert meta.source == "import:carma" and meta.samples == 4 and meta.lost_samples == 1
    assert meta.imported is not None and meta.imported["scale_from"] == [-100.0, 100.0]
    assert meta.imported["time_of_rating"] == "13-Dec-2021 07:36:40"


def test_carma_old_table_layout(tmp_path: Path) -> None:
    source = tmp_path / "old.csv"
    source.write_text(CARMA_OLD)
    rating = read_carma(source)
    assert rating.media == "C:\\Users\\x\\S01.avi"
    assert rating.series[0].lower_label == "very negative"
    assert [(s, v) for _, s, v in rating.series[0].points] == [(1.0, 7.8010475), (2.0, -50.0)]


def test_carma_xlsx(tmp_path: Path) -> None:
    source = tmp_path / "S01.xlsx"
    header: list[list[object]] = [
        ["Time of Rating", "13-Dec-2021 07:36:40"],
        ["Multimedia File", "S01.mp4"],
        ["Lower Label", "low"],
        ["Upper Label", "high"],
        ["Minimum Value", 1],
        ["Maximum Value", 9],
        ["Number of Steps", 9],
        ["Second", "Rating"],
        ["%%%%%%", "%%%%%%"],
    ]
    xlsx(source, [*header, [1, 1], [2, 5], [3, 9]])
    dials = import_file("carma", source, session="S02", role="therapist", out=tmp_path, dial="t1")
    assert dials == ["t1"]
    assert [s.value for s in read_samples(tmp_path / "S02" / samples_file("t1"))] == [-50, 0, 50]


def test_darma_two_dimensions_and_buttons(tmp_path: Path) -> None:
    source = tmp_path / "d.csv"
    source.write_text(DARMA_CSV)
    dials = import_file("darma", source, session="S01", role="client", out=tmp_path, dial="c")
    assert dials == ["c-x", "c-y"]
    x = [float(v) for _, v, _ in rows_of(tmp_path / "S01", "c-x")]
    y = [float(v) for _, v, _ in rows_of(tmp_path / "S01", "c-y")]
    assert x == [-50, 25, 0, 12.5] and y == [50, 0, -25, 12.5]
    meta = SessionMeta.load(tmp_path / "S01")
    assert meta.roles == {"client": ["c-x", "c-y"]}
    assert meta.dials["c-y"].imported is not None and meta.dials["c-y"].imported["upper_label"] == "Arousal"
    buttons = [e for e in read_events(tmp_path / "S01" / "events.csv") if e.kind == "button"]
    assert [e.media_time for e in buttons] == [2.0, 5.0]


TABLE_CSV = """exported by a rating app,v2.1
participant,P07

time_ms,alliance,engagement,note
0,0,10,
500,12.5,10,
1000,,20,paused
1500,-25,30,
2000,100,,
"""


def test_columns_table_with_preamble_in_milliseconds(tmp_path: Path) -> None:
    source = tmp_path / "P07.csv"
    source.write_text(TABLE_CSV)
    out = tmp_path / "rec"
    argv = ["import", "columns", str(source), "--session", "S03", "--role", "client", "--out", str(out)]
    options = ["--time", "time_ms", "--time-unit", "ms", "--value", "alliance", "--value", "engagement"]
    scale = ["--scale", "-100", "100", "--tool", "continuum", "--upper-label", "Strongest possible"]
    assert main([*argv, *options, *scale]) == 0
    meta = SessionMeta.load(out / "S03")
    assert sorted(meta.dials) == ["continuum-P07-alliance", "continuum-P07-engagement"]
    alliance = rows_of(out / "S03", "continuum-P07-alliance")
    assert alliance == [(0.0, "0", 0), (0.5, "6.25", 1), (1.5, "-12.5", 3), (2.0, "50", 4)]
    with (out / "S03" / samples_file("continuum-P07-alliance")).open() as handle:
        assert {row["player"] for row in csv.DictReader(handle)} == {"continuum"}
    engagement = [float(v) for _, v, _ in rows_of(out / "S03", "continuum-P07-engagement")]
    assert engagement == [5, 5, 10, 15]
    imported = meta.dials["continuum-P07-alliance"].imported
    assert imported is not None and imported["tool"] == "continuum" and imported["format"] == "columns"
    assert imported["scale_from"] == [-100.0, 100.0] and imported["upper_label"] == "Strongest possible"
    assert meta.dials["continuum-P07-alliance"].lost_samples == 1  # the empty cell at 1 s


def test_columns_xlsx(tmp_path: Path) -> None:
    source = tmp_path / "t.xlsx"
    xlsx(source, [["Second", "Rating"], [1, 1], [2, 4], [3, 7]])
    layout = ColumnLayout(time="Second", values=["Rating"], low=1, high=7)
    assert import_file("columns", source, session="S04", role="therapist", out=tmp_path, layout=layout) == [
        "columns-t"
    ]
    assert [s.value for s in read_samples(tmp_path / "S04" / samples_file("columns-t"))] == [-50, 0, 50]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--time", "time_ms", "--value", "alliance"],
            "columns needs --time COLUMN, --value COLUMN and --scale",
        ),
        (
            ["--time", "t", "--value", "alliance", "--scale", "-100", "100"],
            "no header row with the columns 't'",
        ),
        (
            ["--time", "time_ms", "--value", "alliance", "--scale", "0", "10"],
            "alliance 12.5 is outside the scale 0..10",
        ),
        (["--time", "time_ms", "--value", "note", "--scale", "0", "10"], "'paused' is not a number"),
        (["--time", "time_ms", "--value", "alliance", "--scale", "5", "5"], "scale 5..5 is empty"),
    ],
)
def test_bad_column_imports_give_one_line_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    source = tmp_path / "P07.csv"
    source.write_text(TABLE_CSV)
    out = tmp_path / "rec"
    argv = ["import", "columns", str(source), "--session", "S01", "--role", "client", "--out", str(out)]
    assert main([*argv, *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()


def test_columns_times_going_backwards_are_refused(tmp_path: Path) -> None:
    source = tmp_path / "b.csv"
    source.write_text("t,r\n0,1\n2,1\n1,1\n")
    layout = ColumnLayout(time="t", values=["r"], low=0, high=2)
    with pytest.raises(RatingFileError, match="go backwards"):
        import_file("columns", source, session="S01", role="client", out=tmp_path, layout=layout)


def test_import_next_to_a_recorded_dial_refuses_to_overwrite(tmp_path: Path) -> None:
    source = tmp_path / "S01.csv"
    source.write_text(CARMA_CSV)
    import_file("carma", source, session="S01", role="client", out=tmp_path, dial="a")
    before = (tmp_path / "S01" / samples_file("a")).read_bytes()
    with pytest.raises(RatingFileError, match="already has dial a"):
        import_file("carma", source, session="S01", role="client", out=tmp_path, dial="a")
    assert (tmp_path / "S01" / samples_file("a")).read_bytes() == before


@pytest.mark.parametrize(
    ("fmt", "text", "message"),
    [
        ("carma", "Second,Rating\n1,2\n", "no %%%%%% line"),
        ("carma", CARMA_CSV.replace("1,-100", "1,lots"), "data row 1: 'lots' is not a number"),
        ("darma", CARMA_CSV, "is this a DARMA export"),
        (
            "carma",
            CARMA_CSV.replace("Maximum Value,100", "Maximum Value,-100"),
            "scale -100.0..-100.0 is empty",
        ),
    ],
)
def test_bad_files_give_one_line_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str, text: str, message: str
) -> None:
    source = tmp_path / "bad.csv"
    source.write_text(text)
    out = tmp_path / "rec"
    assert main(["import", fmt, str(source), "--session", "S01", "--role", "client", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()


def test_to_scale() -> None:
    assert [to_scale(v, 0, 10) for v in (-1, 0, 5, 10, 11)] == [-50, -50, 0, 50, 50]
    # Kept as mapped, to 1e-6 points: a 9-step -100..100 scale gives 12.5, not 12 or 13.
    assert to_scale(25, -100, 100) == 12.5 and to_scale(12.34, -50, 50) == 12.34


CONTINUUM_CSV = """# app_version: 0.3.0
# study_id: demo
# dimensionality: 1D
# media_reference: S05.mp4
# sampling_mode: fixed_100hz
# scale_lower_label: Weak
# scale_upper_label: Strong
# scale_axis_label: Working alliance
# scale_min: -1
# scale_max: 1
# scale_steps: continuous
# created_at: 2026-11-29T10:00:00Z
# exported_at: 2026-11-29T11:00:00Z
sample_index,media_time_s,value
0,0,0.25
1,0.01,0.2468
2,0.02,-1
"""


def test_continuum_preset_reads_its_metadata_and_keeps_values(tmp_path: Path) -> None:
    source = tmp_path / "S05_1D_ratings.csv"
    source.write_text(CONTINUUM_CSV)
    argv = [
        "import",
        "continuum",
        str(source),
        "--session",
        "S05",
        "--role",
        "client",
        "--out",
        str(tmp_path),
    ]
    assert main([*argv, "--treatment", "T3", "--participant", "P9"]) == 0
    meta = SessionMeta.load(tmp_path / "S05")
    (dial,) = meta.dials
    assert rows_of(tmp_path / "S05", dial) == [(0.0, "12.5", 0), (0.01, "12.34", 1), (0.02, "-50", 2)]
    # The validated rows keep the fractional values as given; a whole one is an int as recorded.
    values = [s.value for s in read_samples(tmp_path / "S05" / samples_file(dial))]
    assert values == [12.5, 12.34, -50] and type(values[2]) is int
    imported = meta.dials[dial].imported
    assert (
        imported is not None and imported["scale_from"] == [-1.0, 1.0] and imported["format"] == "continuum"
    )
    assert (imported["lower_label"], imported["upper_label"]) == ("Weak", "Strong")
    assert (meta.treatment, meta.participant, meta.construct_name) == ("T3", "P9", "Working alliance")
    with (tmp_path / "S05" / samples_file(dial)).open() as handle:
        assert {(r["media"], r["participant"]) for r in csv.DictReader(handle)} == {("S05.mp4", "P9")}


@pytest.mark.parametrize(
    ("encoding", "text"),
    [
        ("utf-8-sig", "Zeit;Allianz;Therapeut\n0;12,5;-3\n1;13,75;-4\n"),
        ("cp1252", "Zeit\tAllianz\tTherapeut\n0\t12,5\t-3\n1\t13,75\t-4\n"),
        ("latin-1", "Zeit;Allianz;Therapeut\n0;12,5;-3\n1;13,75;-4\n"),
        ("utf-8", "Zeit,Allianz,Therapeut\n0,12.5,-3\n1,13.75,-4\n"),
    ],
)
def test_european_tables_and_a_role_per_column(tmp_path: Path, encoding: str, text: str) -> None:
    source = tmp_path / "sitzung.csv"
    # A cp1252/Latin-1 byte (é, ü) in the preamble would break a UTF-8 reader.
    source.write_bytes(("Patientin: Zoé Müller\n\n" + text).encode(encoding))
    argv = ["import", "columns", str(source), "--session", "E1", "--out", str(tmp_path), "--time", "Zeit"]
    columns = ["--value", "Allianz", "--role", "client", "--value", "Therapeut", "--role", "therapist"]
    assert main([*argv, *columns, "--scale", "-50", "50"]) == 0
    meta = SessionMeta.load(tmp_path / "E1")
    assert meta.roles == {"client": ["columns-sitzung-Allianz"], "therapist": ["columns-sitzung-Therapeut"]}
    assert rows_of(tmp_path / "E1", "columns-sitzung-Allianz") == [(0.0, "12.5", 0), (1.0, "13.75", 1)]


def test_roles_must_match_the_rating_columns(tmp_path: Path) -> None:
    source = tmp_path / "t.csv"
    source.write_text("t,a,b,c\n0,1,2,3\n")
    layout = ColumnLayout(time="t", values=["a", "b", "c"], low=0, high=10)
    with pytest.raises(RatingFileError, match="3 rated dimensions but 2 roles"):
        import_file("columns", source, session="R", role=["client", "therapist"], out=tmp_path, layout=layout)


def test_changes_only_given_on_the_command_line(tmp_path: Path) -> None:
    source = tmp_path / "steady.csv"
    source.write_text("t,v\n" + "".join(f"{t},{t % 3}\n" for t in range(20)))  # regular: not detected
    argv = ["import", "columns", str(source), "--session", "C", "--role", "client", "--out", str(tmp_path)]
    assert main([*argv, "--time", "t", "--value", "v", "--scale", "0", "2"]) == 0
    meta = SessionMeta.load(tmp_path / "C").dials["columns-steady"]
    assert meta.imported is not None and meta.imported["changes_only"] is False
    argv[4] = "D"
    assert main([*argv, "--time", "t", "--value", "v", "--scale", "0", "2", "--changes-only"]) == 0
    meta = SessionMeta.load(tmp_path / "D").dials["columns-steady"]
    assert meta.imported is not None and meta.imported["changes_only"] is True
