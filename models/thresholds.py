"""RAG thresholds a deployment sets, over the registry's defaults.

Counts such as "people waiting 21+ days" only mean red or green against the
size of the system, so the registry leaves them without defaults and the
deployment's file (HOMEWARD_THRESHOLDS, default `thresholds.toml`) sets them
for all scopes (`[defaults.METRIC]`) or for one ICB, place or HWB
(`[scope."CODE".METRIC]`). The most specific scope a view selects wins.
"""
from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Iterable

from models import settings
from models.metrics import REGISTRY, Thresholds


class ThresholdsError(ValueError):
    pass


@lru_cache(maxsize=4)
def _load(path: Path | None, mtime: float) -> tuple[dict[str, Thresholds], dict[tuple[str, str], Thresholds]]:
    if path is None:
        return {}, {}
    with path.open("rb") as fh:
        doc = tomllib.load(fh)

    def parse(table: dict[str, object], where: str) -> dict[str, Thresholds]:
        out: dict[str, Thresholds] = {}
        for name, limits in table.items():
            if name not in REGISTRY:
                raise ThresholdsError(f"{path}: unknown metric {name!r} in {where}")
            if not isinstance(limits, dict) or set(limits) != {"green", "red"}:
                raise ThresholdsError(f"{path}: {where}.{name} needs exactly `green` and `red`")
            out[name] = Thresholds(float(limits["green"]), float(limits["red"]))
        return out

    defaults = parse(doc.get("defaults", {}), "defaults")
    scoped = {(code.upper(), name): t for code, table in doc.get("scope", {}).items()
              for name, t in parse(table, f"scope.{code}").items()}
    return defaults, scoped


def _current() -> tuple[dict[str, Thresholds], dict[tuple[str, str], Thresholds]]:
    path = settings.thresholds_file()
    if path is None or not path.exists():
        return {}, {}
    return _load(path, path.stat().st_mtime)  # re-read when the file changes


def thresholds_for(metric: str, scope: Iterable[str] = ()) -> Thresholds | None:
    """Thresholds for a metric in a scope (codes from most to least specific: HWB, place, ICB)."""
    defaults, scoped = _current()
    for code in scope:
        found = scoped.get((code.upper(), metric))
        if found is not None:
            return found
    return defaults.get(metric) or REGISTRY[metric].thresholds


def deployment_thresholds(metric: str) -> list[tuple[str | None, Thresholds]]:
    """What the deployment's file sets for a metric: (None, t) for every scope, (code, t) for one."""
    defaults, scoped = _current()
    found: list[tuple[str | None, Thresholds]] = [(None, defaults[metric])] if metric in defaults else []
    return found + sorted(((code, t) for (code, name), t in scoped.items() if name == metric), key=lambda x: x[0])


def rag(metric: str, value: float | None, scope: Iterable[str] = ()) -> str | None:
    """'green' | 'amber' | 'red', or None without a value, thresholds or a good direction."""
    spec = REGISTRY[metric]
    t = thresholds_for(metric, scope)
    if value is None or t is None or spec.direction == "none":
        return None
    if spec.direction == "down":
        return "green" if value <= t.green else "red" if value >= t.red else "amber"
    return "green" if value >= t.green else "red" if value <= t.red else "amber"


def validate() -> None:
    """Fail early (at start-up) on a bad thresholds file."""
    _current()
