"""Durations on the command line: `90`, `90s`, `5m`, `2h`, `1d` (CONTRACTS.md, `--approval-timeout`)."""

from __future__ import annotations

import re

_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.IGNORECASE)


def format_duration(seconds: float) -> str:
    """`seconds` in the largest unit that holds it whole (86400 -> `1d`): what parse_duration reads back."""
    for unit in ("d", "h", "m"):
        if seconds >= _UNITS[unit] and seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]:g}{unit}"
    return f"{seconds:g}s"


def parse_duration(text: str) -> float:
    """Seconds in `text`; a ValueError that says what is accepted otherwise."""
    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise ValueError(
            f"invalid duration {text!r}: use a positive number with an optional unit, e.g. 90, 90s, 5m, 2h, 1d"
        )
    return float(match.group(1)) * _UNITS[match.group(2).lower()]
