"""Durations and ETAs read the same everywhere: "about 40 s", "about 19 min", "about 1 h 5 min"."""
from __future__ import annotations

import pytest

from sisr_core.timefmt import format_duration


@pytest.mark.parametrize("seconds, text", [
    (0.2, "about 1 s"), (40.4, "about 40 s"), (59.6, "about 1 min"), (1138, "about 19 min"),
    (3570, "about 1 h"), (3900, "about 1 h 5 min"), (90_000, "about 25 h"),
])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text
