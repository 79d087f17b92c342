"""Durations as people read them, the one format for every estimate, ETA and elapsed time shown."""
from __future__ import annotations


def format_duration(seconds: float) -> str:
    """``about 40 s``, ``about 19 min``, ``about 1 h 5 min`` (rounded to the second, then to the minute)."""
    if seconds < 59.5:
        return f"about {max(round(seconds), 1)} s"
    hours, minutes = divmod(round(seconds / 60), 60)
    if not hours:
        return f"about {minutes} min"
    return f"about {hours} h {minutes} min" if minutes else f"about {hours} h"
