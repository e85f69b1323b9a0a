"""The content of a session's report: what was measured, with the words a researcher needs to cite it."""

from __future__ import annotations

from pydantic import TypeAdapter

from microdial.analysis import glossary
from microdial.analysis.quality import DataQuality
from microdial.analysis.render import Section, clock, fmt, fmt_p
from microdial.analysis.ruptures import RuptureOptions
from microdial.analysis.session import PairResult, SessionAnalysis


def _media(seconds: float | None) -> str:
    return "–" if seconds is None else clock(seconds)


def lag_text(pair: PairResult) -> str:
    lag = pair.lagged
    if lag.best_lag is None or lag.best_r is None:
        return "–"
    text = f"{lag.best_lag} s (r = {fmt(lag.best_r, 3)})"
    limit = max(lag.lags, default=0)
    if lag.best_r < 0:
        return f"{text}: {glossary.LAG_NEGATIVE}"
    if limit and abs(lag.best_lag) == limit:
        return f"{text}: {glossary.LAG_AT_LIMIT.format(limit=limit)}"
    return text


def pair_section(pair: PairResult) -> Section:
    c, d, i = pair.correlation, pair.discrepancy, pair.icc
    rows = [
        ["seconds rated by both", str(c.n)],
        ["Pearson r", fmt(c.r, 3) + (f" ({c.note})" if c.note else "")],
        ["p, autocorrelation-adjusted (report this one)", fmt_p(c.p_autocorrelation)],
        ["effective N (Pyper–Peterman)", fmt(c.n_eff, 1)],
        ["p, seconds taken as independent (too small)", fmt_p(c.p)],
        [f"best lag within ±{max(pair.lagged.lags, default=0)} s (+: {pair.second} follows)", lag_text(pair)],
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
    text = [glossary.WHICH_P]
    if any(v is not None and v < 0 for v in (i.a1, i.c1, i.ak, i.ck)):
        text.append(glossary.NEGATIVE_ICC)
    return Section(f"{pair.first} vs {pair.second}", text, ["measure", "value"], rows)


def rupture_section(analysis: SessionAnalysis) -> Section:
    o = TypeAdapter(RuptureOptions).validate_python(analysis.settings.get("ruptures", {}))
    if o.mode == "lowest":
        rule = (
            f"Mode lowest (the published method): each rater's {o.k} lowest-rated {o.segment}-s windows, "
            f"at least {o.separation} s apart, whose mean is at least {o.min_depth:g} points below the "
            f"pre-level, the highest {o.baseline}-s mean within the {o.lookback} s before the window."
        )
    else:
        rule = (
            f"Mode drop: each rater's {o.k} {o.segment}-s windows, at least {o.separation} s apart, with the "
            f"largest drop (at least {o.min_depth:g} points) below the pre-level, the mean of the {o.baseline} s "
            "before the window."
        )
    regain = (
        "a return to the pre-level"
        if o.repair_fraction == 1
        else f"regaining {o.repair_fraction:g} of the depth"
    )
    points = f"{o.repair_tolerance:g} scale point{'' if o.repair_tolerance == 1 else 's'}"
    rule += (
        f" A repair is {regain}, within {points} (a return to the same dial position counts). Windows are cut "
        "at the session's edges and need half their seconds rated."
    )
    rows = []
    for rater in analysis.raters:
        for x in rater.ruptures:
            rep = x.repair
            rows.append(
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
    header = [
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
    ]
    return Section("Ruptures and repairs", [rule], header, rows)


def interview_section(analysis: SessionAnalysis) -> Section | None:
    """Each interview answer beside the rupture or repair whose clip it followed."""
    if analysis.interview is None:
        return None
    tolerance = TypeAdapter(RuptureOptions).validate_python(analysis.settings.get("ruptures", {})).segment
    text = [
        "The rater's answers after each clip of the study interview, beside the rupture (or its repair) "
        f"above whose onset is within {tolerance} s of the clip's start; # is the rupture's number above."
    ]
    unmatched = sum(a.rupture is None for a in analysis.interview)
    if unmatched:
        text.append(
            f"{unmatched} answer{'' if unmatched == 1 else 's'} followed a clip that starts at no rupture or "
            "repair found here (# –): the study found its segments with another rupture definition."
        )
    order = {r.rater: i for i, r in enumerate(analysis.raters)}
    answers = sorted(
        analysis.interview,
        key=lambda a: (
            order.get(a.rater or "", len(order)),
            a.role,
            a.rupture or 0,
            a.clip_kind != "rupture",
        ),
    )
    rows = [
        [
            a.rater or a.role,
            "–" if a.rupture is None else str(a.rupture),
            a.clip_kind,
            "–" if a.clip_start is None else clock(a.clip_start),
            a.question_text or a.question_id,
            a.answer,
        ]
        for a in answers
    ]
    return Section("Interview", text, ["rater", "#", "clip", "clip start", "question", "answer"], rows)


def quality_sections(quality: DataQuality) -> list[Section]:
    dials = Section(
        "Data quality",
        ["Samples as recorded; lost samples are those the dial's sequence numbers show never arrived."],
        [
            "dial",
            "role",
            "source",
            "samples",
            "lost",
            "gaps",
            "duplicates dropped",
            "seconds rated",
            "share of seconds rated",
        ],
        [
            [
                d.dial,
                d.role,
                d.source or "dial",
                str(d.samples),
                str(d.lost_samples),
                str(d.gaps),
                str(d.duplicates_dropped),
                str(d.seconds_rated),
                fmt(d.share_rated, 3),
            ]
            for d in quality.dials
        ],
    )
    gaps = Section(
        "Gaps",
        header=["dial", "video time", "samples lost"],
        rows=[[g.dial, _media(g.media_time), "–" if g.lost is None else str(g.lost)] for g in quality.gaps],
    )
    spans = Section(
        "Paused and re-watched",
        ["Paused seconds add nothing to the grid; a re-watched second is the mean over every viewing."],
        ["kind", "from (video)", "to (video)", "seconds"],
        [["paused", _media(s.start), _media(s.end), fmt(s.seconds, 1)] for s in quality.paused]
        + [["re-watched", _media(s.start), _media(s.end), fmt(s.seconds, 1)] for s in quality.rewatched],
    )
    return [dials, gaps, spans]


def sections(analysis: SessionAnalysis, figure: str | None) -> list[Section]:
    time_kind = "video time" if analysis.clock == "media" else "time since the first sample"
    codes = ", ".join(
        f"{name} {value}"
        for name, value in (("treatment", analysis.treatment), ("participant", analysis.participant))
        if value
    )
    out = [
        Section(
            "Session",
            [
                f"Session {analysis.session}{f' ({codes})' if codes else ''}: {analysis.construct_name}, "
                f"{analysis.seconds} seconds on the {analysis.clock} clock (times below are {time_kind}, h:mm:ss); "
                f"scale {analysis.scale_min}..{analysis.scale_max}."
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
    out += [pair_section(pair) for pair in analysis.pairs]
    out.append(rupture_section(analysis))
    interview = interview_section(analysis)
    if interview is not None:
        out.append(interview)
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
    if analysis.quality is not None:
        out += quality_sections(analysis.quality)
    out.append(
        Section("Glossary", header=["term", "meaning"], rows=[list(row) for row in glossary.SESSION_GLOSSARY])
    )
    return out
