"""Report content as sections (text, then a table), rendered as Markdown and as HTML from one model."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

from microdial.analysis.grid import AnalysisError


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


def markdown(parts: list[Section], title: str) -> str:
    lines = [f"# {title}", ""]
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


def to_html(parts: list[Section], title: str) -> str:
    body = [f"<h1>{html.escape(title)}</h1>"]
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
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def write_texts(out_dir: Path, files: dict[str, str]) -> list[Path]:
    written = []
    for name, text in files.items():
        path = out_dir / name
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as err:
            raise AnalysisError(f"cannot write {path}: {err.strerror}") from None
        written.append(path)
    return written
