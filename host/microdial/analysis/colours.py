"""One colour per rater role, for every view of a session (the figure now; the web pages can adopt it).

Okabe & Ito's colour-blind-safe palette (2008): distinguishable with any of the common colour
vision deficiencies and in greyscale by lightness. Known roles have fixed colours, so a client is
the same blue in every figure; other roles take the remaining colours in order of appearance.
"""

from __future__ import annotations

ROLE_COLOURS: dict[str, str] = {
    "client": "#0072B2",  # blue
    "therapist": "#D55E00",  # vermillion
    "observer": "#009E73",  # bluish green
    "supervisor": "#CC79A7",  # reddish purple
}
OTHER_COLOURS: tuple[str, ...] = ("#E69F00", "#56B4E9", "#000000", "#F0E442")


def colours(roles: list[str]) -> dict[str, str]:
    """role -> colour for the roles of one view, known roles first by their fixed colour."""
    spare = iter(OTHER_COLOURS * (1 + len(roles) // len(OTHER_COLOURS)))
    return {role: ROLE_COLOURS.get(role) or next(spare) for role in dict.fromkeys(roles)}
