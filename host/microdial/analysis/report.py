"""Reports for people (Markdown and HTML, one content model rendered twice) and for machines (JSON)."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from microdial.analysis.grid import AnalysisError
from microdial.analysis.session import SessionAnalysis

JSON_FILE = "analysis.json"
MARKDOWN_FILE = "analysis.md"
HTML_FILE = "analysis.html"
FIGURE_PNG = "analysis.png"
FIGURE_SVG = "analysis.svg"


def fmt(value: float | int | None, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def fmt_p(p: float | None) -> str:
    if p is None:
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def clock(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


@dataclass
class Section:
    title: str
    text: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)


def sections(analysis: SessionAnalysis, figure: str | None) -> list[Section]:
    time_kind = "video time" if analysis.clock == "media" else "time since the first sample"
    out = [
        Section(
            "Session",
            [
                f"Session {analysis.session}: {analysis.seconds} seconds on the {analysis.clock} clock "
                f"(times below are {time_kind}, h:mm:ss); scale {analysis.scale_min}..{analysis.scale_max}."
            ]
            + [f"Note: {note}." for note in analysis.notes],
        )
    ]
    if figure:
        out.append(Section("Figure", [f"![ratings over the session]({figure})"]))
    out.append(
        Section(
            "Raters",
            header=["rater", "dial", "seconds rated", "mean", "SD", "ruptures", "unresolved"],
            rows=[
                [
                    r.rater,
                    r.dial,
                    str(r.seconds_rated),
                    fmt(r.mean),
                    fmt(r.sd),
                    str(len(r.ruptures)),
                    str(sum(x.unresolved for x in r.ruptures)),
                ]
                for r in analysis.raters
            ],
        )
    )
    for pair in analysis.pairs:
        c, d, i, lag = pair.correlation, pair.discrepancy, pair.icc, pair.lagged
        rows = [
            ["seconds rated by both", str(c.n)],
            ["Pearson r", fmt(c.r, 3) + (f" ({c.note})" if c.note else "")],
            ["p", fmt_p(c.p)],
            ["effective N (Pyper–Peterman)", fmt(c.n_eff, 1)],
            ["p, autocorrelation-adjusted", fmt_p(c.p_autocorrelation)],
            [
                f"best lag within ±{max(lag.lags, default=0)} s (+: {pair.second} follows)",
                "–" if lag.best_lag is None else f"{lag.best_lag} s (r = {fmt(lag.best_r, 3)})",
            ],
            [f"mean difference {pair.first} − {pair.second}", fmt(d.mean)],
            ["SD of the difference", fmt(d.sd)],
            [f"share of seconds {pair.first} higher", fmt(d.share_first_higher, 3)],
            [f"share of seconds {pair.second} higher", fmt(d.share_second_higher, 3)],
            ["ICC(A,1) / ICC(C,1)", f"{fmt(i.a1, 3)} / {fmt(i.c1, 3)}"],
            ["ICC(A,k) / ICC(C,k)", f"{fmt(i.ak, 3)} / {fmt(i.ck, 3)}" + (f" ({i.note})" if i.note else "")],
        ]
        defined = [r for r in pair.synchrony.r if r is not None]
        if defined:
            rows.append(
                [
                    f"windowed r ({pair.synchrony.window} s windows): median, min, max",
                    f"{fmt(sorted(defined)[len(defined) // 2], 3)}, {fmt(min(defined), 3)}, {fmt(max(defined), 3)}",
                ]
            )
        out.append(Section(f"{pair.first} vs {pair.second}", header=["measure", "value"], rows=rows))
    rupture_rows = []
    for rater in analysis.raters:
        for x in rater.ruptures:
            rep = x.repair
            rupture_rows.append(
                [
                    rater.rater,
                    str(x.number),
                    clock(x.onset),
                    clock(x.trough),
                    clock(x.end),
                    fmt(x.pre_level, 1),
                    fmt(x.depth, 1),
                    "unresolved" if rep is None else clock(rep.onset),
                    "–" if rep is None else f"{rep.time_to_repair} s",
                    "–" if rep is None else fmt(rep.size, 1),
                ]
            )
    out.append(
        Section(
            "Ruptures and repairs",
            ["Depth is measured from the rater's own level over the preceding window."],
            [
                "rater",
                "#",
                "onset",
                "trough",
                "end",
                "pre-level",
                "depth",
                "repair onset",
                "time to repair",
                "size",
            ],
            rupture_rows,
        )
    )
    out.append(
        Section(
            "Clips",
            header=["rater", "kind", "#", "start", "end", "file"],
            rows=[
                [c.rater, c.kind, str(c.number), clock(c.start), clock(c.end), c.file or "–"]
                for c in analysis.clips
            ],
        )
    )
    return out


def markdown(parts: list[Section]) -> str:
    lines = ["# microdial session analysis", ""]
    for part in parts:
        lines += [f"## {part.title}", ""]
        for paragraph in part.text:
            lines += [paragraph, ""]
        if part.header:
            if not part.rows:
                lines += ["(none)", ""]
                continue
            cells = [c.replace("|", "\\|") for c in part.header]
            lines.append("| " + " | ".join(cells) + " |")
            lines.append("|" + "---|" * len(cells))
            lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in part.rows]
            lines.append("")
    return "\n".join(lines)


def to_html(parts: list[Section]) -> str:
    body = ["<h1>microdial session analysis</h1>"]
    for part in parts:
        body.append(f"<h2>{html.escape(part.title)}</h2>")
        for paragraph in part.text:
            if paragraph.startswith("![") and "](" in paragraph:
                src = paragraph[paragraph.index("](") + 2 : -1]
                body.append(
                    f'<p><img src="{html.escape(src)}" alt="ratings over the session" style="max-width:100%"></p>'
                )
            else:
                body.append(f"<p>{html.escape(paragraph)}</p>")
        if part.header:
            if not part.rows:
                body.append("<p>(none)</p>")
                continue
            head = "".join(f"<th>{html.escape(c)}</th>" for c in part.header)
            rows = "".join(
                "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in part.rows
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
    style = "body{font-family:sans-serif;max-width:70em;margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>microdial session analysis</title>'
        f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def write_reports(analysis: SessionAnalysis, out_dir: Path, figure: str | None) -> list[Path]:
    parts = sections(analysis, figure)
    files = {
        JSON_FILE: analysis.model_dump_json(indent=2) + "\n",
        MARKDOWN_FILE: markdown(parts),
        HTML_FILE: to_html(parts),
    }
    written = []
    for name, text in files.items():
        path = out_dir / name
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as err:
            raise AnalysisError(f"cannot write {path}: {err.strerror}") from None
        written.append(path)
    return written


def load_analysis(path: Path) -> SessionAnalysis:
    """An analysis.json read back (validated)."""
    try:
        return SessionAnalysis.model_validate_json(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise AnalysisError(f"cannot read {path}: {err.strerror}") from None
    except ValidationError as err:
        raise AnalysisError(f"{path} is not a microdial analysis: {err.errors()[0]['msg']}") from None
