"""How numbers and levels are written: one place, so every page, alert and digest agrees.

Rules (from the brief): thousands separators, one decimal for days, % for
rates, and a RAG level always written in words beside its colour.
"""
from __future__ import annotations

import math
from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

LONDON: Final = ZoneInfo("Europe/London")

# Units as the metrics registry names them, grouped by how they are written.
_RATE_UNITS: Final = frozenset({"rate", "share", "%", "percent", "proportion", "ratio"})
_DAY_UNITS: Final = frozenset({"days", "day", "bed days", "bed_days"})
_HOUR_UNITS: Final = frozenset({"hours", "hour"})

RAG_WORDS: Final[dict[str, str]] = {"green": "Green: on track", "amber": "Amber: watch", "red": "Red: act now"}
RAG_SHORT: Final[dict[str, str]] = {"green": "Green", "amber": "Amber", "red": "Red"}
# A shape per level, so colour is never the only signal (WCAG 1.4.1).
RAG_SYMBOL: Final[dict[str, str]] = {"green": "●", "amber": "▲", "red": "■"}


def is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def is_rate(unit: str | None) -> bool:
    return (unit or "").lower() in _RATE_UNITS


def format_value(value: float | int | None, unit: str | None) -> str:
    """The figure as a person reads it; "no data" rather than a blank or NaN."""
    if is_missing(value):
        return "no data"
    assert value is not None
    u = (unit or "").lower()
    if u in _RATE_UNITS:
        return f"{float(value) * 100:,.1f}%"
    if u in _DAY_UNITS or u in _HOUR_UNITS:
        return f"{float(value):,.1f}"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{float(value):,.1f}"


def unit_label(unit: str | None) -> str:
    """The unit written after a figure; rates carry their % already."""
    if not unit or is_rate(unit):
        return ""
    return unit


def format_change(delta: float | None, unit: str | None) -> str:
    """A signed change, in the metric's own unit (percentage points for rates)."""
    if is_missing(delta):
        return "no data"
    assert delta is not None
    if delta == 0:
        return "no change"
    sign = "+" if delta > 0 else "−"  # a real minus sign reads better on a wall
    magnitude = abs(delta)
    if is_rate(unit):
        return f"{sign}{magnitude * 100:,.1f} pts"
    return f"{sign}{format_value(magnitude, unit)}"


def format_time(value: datetime | None) -> str:
    """A time in London, as people in the NHS say it: 14:05 on Tue 3 Dec 2024."""
    if value is None:
        return "never"
    if value.tzinfo is None:  # the store keeps naive UTC
        value = value.replace(tzinfo=ZoneInfo("UTC"))
    local = value.astimezone(LONDON)
    return f"{local:%H:%M} on {local:%a} {local.day} {local:%b %Y}"


def format_age(seconds: float | None) -> str:
    """How long ago, in the largest sensible unit."""
    if seconds is None:
        return "never"
    if seconds < 90:
        return f"{int(seconds)} seconds"
    minutes = seconds / 60
    if minutes < 90:
        return f"{int(minutes)} minutes"
    hours = minutes / 60
    if hours < 48:
        return f"{hours:,.1f} hours"
    return f"{hours / 24:,.1f} days"
