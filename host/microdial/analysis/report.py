"""Reports for people (Markdown and HTML, one content model rendered twice) and for machines (JSON)."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from microdial.analysis.grid import AnalysisError, write_grid
from microdial.analysis.render import markdown, to_html, write_texts
from microdial.analysis.sections import sections
from microdial.analysis.session import AnalyzeOptions, SessionAnalysis, analyse_folder

JSON_FILE = "analysis.json"
MARKDOWN_FILE = "analysis.md"
HTML_FILE = "analysis.html"
FIGURE_PNG = "analysis.png"
FIGURE_SVG = "analysis.svg"
TITLE = "microdial session analysis"


def write_reports(analysis: SessionAnalysis, out_dir: Path, figure: str | None) -> list[Path]:
    parts = sections(analysis, figure)
    return write_texts(
        out_dir,
        {
            JSON_FILE: analysis.model_dump_json(indent=2) + "\n",
            MARKDOWN_FILE: markdown(parts, TITLE),
            HTML_FILE: to_html(parts, TITLE),
        },
    )


def analyse_and_report(
    session_dir: Path,
    out_dir: Path,
    options: AnalyzeOptions,
    figure: bool = True,
    cut_video: Path | None = None,
) -> list[Path]:
    """`microdial analyze` of a session folder: grid, clips cut from cut_video, figure, reports."""
    grid, analysis = analyse_folder(session_dir, options)
    written = write_grid(grid, out_dir)
    if cut_video is not None:
        # ffmpeg runs only when clips are asked for.
        from microdial.analysis.clips import cut

        analysis = analysis.model_copy(update={"clips": cut(cut_video, analysis.clips, out_dir / "clips")})
    if figure:
        # matplotlib is imported only when a figure is drawn.
        from microdial.analysis.figure import draw

        draw(grid, analysis, out_dir / FIGURE_PNG, out_dir / FIGURE_SVG)
        written += [out_dir / FIGURE_PNG, out_dir / FIGURE_SVG]
    return written + write_reports(analysis, out_dir, FIGURE_PNG if figure else None)


def page(analysis: SessionAnalysis, figure: str | None) -> str:
    """The HTML report of a saved analysis, its figure at `figure` (a page serving it under a token)."""
    return to_html(sections(analysis, figure), TITLE)


def load_analysis(path: Path) -> SessionAnalysis:
    """An analysis.json read back (validated)."""
    try:
        return SessionAnalysis.model_validate_json(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise AnalysisError(f"cannot read {path}: {err.strerror}") from None
    except ValidationError as err:
        raise AnalysisError(f"{path} is not a microdial analysis: {err.errors()[0]['msg']}") from None
