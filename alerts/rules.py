"""The rules file (HOMEWARD_ALERTS, default `alerts.toml`): `[[rule]]`, `[channels.NAME]`, `[[digest]]`.

    link_base = "https://homeward.example.nhs.uk"   # where message links point (default http://127.0.0.1:8050)
    feed_channels = ["ops"]                          # channels told about stale feeds (default: every channel)

    [channels.ops]
    type = "email"                    # or "webhook"
    to = ["bed.bureau@nhs.net"]

    [channels.teams]
    type = "webhook"
    url = "https://…"
    format = "teams"                  # "json" (default) or "teams" (Microsoft Teams Workflows adaptive card)

    [[rule]]
    name = "leeds_nctr_high"
    metric = "nctr_count"
    scope = "hwb:E08000035"           # "national" or "icb:…,place:…,hwb:…"
    per = "hwb"                       # optional: one instance per HWB in the scope
    above = 30                        # or below = 0.8, or rag = "red"
    for_minutes = 15
    repeat_hours = 24
    channels = ["ops"]

A mistake is an `AlertsConfigError` naming the file and the line.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from models import settings
from models.access import SCOPE_KINDS as SCOPE_KEYS
from models.metrics import REGISTRY

CHANNEL_TYPES = ("email", "webhook")
WEBHOOK_FORMATS = ("json", "teams")
DEFAULT_LINK_BASE = "http://127.0.0.1:8050"
FEED_RULE = "feed_stale"  # the built-in rule: one instance per feed past its stale limit


class AlertsConfigError(ValueError):
    """A bad rules file; the message starts with `file:line:`."""


@dataclass(frozen=True)
class Scope:
    """`national`, or filters on ICB / place / HWB codes (the same words access control uses)."""
    text: str
    where: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def codes(self) -> tuple[str, ...]:
        """Codes most specific first, as `models.thresholds` takes them."""
        return tuple(c for key in reversed(SCOPE_KEYS) for c in self.where.get(key, ()))


def parse_scope(text: str) -> Scope:
    """A rule's scope, read by the same rule as an account's (models.access.parse_scope)."""
    from models.access import ScopeError
    from models.access import parse_scope as parse_access_scope

    text = (text or "national").strip()
    try:
        parts = parse_access_scope(text)
    except ScopeError as exc:
        raise ValueError(f"scope {text!r}: {exc}") from None
    where: dict[str, tuple[str, ...]] = {}
    for part in parts:
        key, code = part.split(":", 1)
        where[key] = where.get(key, ()) + (code,)
    return Scope("national" if not parts else text, where)


@dataclass(frozen=True)
class Channel:
    name: str
    type: str
    to: tuple[str, ...] = ()  # email recipients
    url: str = ""  # webhook
    format: str = "json"
    retries: int = 3  # webhook tries within one delivery
    backoff_seconds: float = 1.0  # webhook: wait 1, 2, 4 … between tries


@dataclass(frozen=True)
class Rule:
    name: str
    metric: str
    scope: Scope
    per: str | None = None  # "hwb": one instance per HWB
    above: float | None = None
    below: float | None = None
    rag: str | None = None
    for_minutes: float = 0
    repeat_hours: float = 24
    channels: tuple[str, ...] = ()

    def describe(self) -> str:
        """The rule in words (the /alerts page)."""
        label = REGISTRY[self.metric].label if self.metric in REGISTRY else self.metric
        if self.above is not None:
            cond = f"is above {self.above:g}"
        elif self.below is not None:
            cond = f"is below {self.below:g}"
        else:
            cond = f"is {self.rag} against the deployment's thresholds"
        where = "nationally" if not self.scope.where else f"in {self.scope.text}"
        each = " (each HWB apart)" if self.per == "hwb" else ""
        wait = f" for {self.for_minutes:g} minutes" if self.for_minutes else ""
        told = ", ".join(self.channels) or "nobody"
        return (f"{self.name}: {label} {where}{each} {cond}{wait}; tell {told}, again every "
                f"{self.repeat_hours:g} hours while it lasts.")


@dataclass(frozen=True)
class Digest:
    name: str
    cron: str
    scope: Scope
    recipients: tuple[str, ...]
    channel: str


@dataclass(frozen=True)
class AlertsConfig:
    path: Path | None
    rules: tuple[Rule, ...] = ()
    channels: Mapping[str, Channel] = field(default_factory=dict)
    digests: tuple[Digest, ...] = ()
    link_base: str = DEFAULT_LINK_BASE
    feed_channels: tuple[str, ...] = ()


def _table_lines(text: str, header: str) -> list[int]:
    """1-based line of each `[[header]]` (or `[header.X]`) table, in file order."""
    pattern = re.compile(rf"^\s*\[\[\s*{re.escape(header)}\s*\]\]" if not header.startswith("channels.")
                         else rf"^\s*\[\s*channels\.\"?{re.escape(header[9:])}\"?\s*\]")
    return [i + 1 for i, line in enumerate(text.splitlines()) if pattern.match(line)]


def _number(entry: Mapping[str, Any], key: str, where: str, default: float | None = None) -> float | None:
    value = entry.get(key, default)
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise AlertsConfigError(f"{where}: `{key}` must be a number, got {value!r}")
    return None if value is None else float(value)


def load_config(path: Path | None = None) -> AlertsConfig:
    """The rules file; an absent file is no rules (stale feeds still alert)."""
    path = path or settings.alerts_file()
    if path is None or not path.exists():
        return AlertsConfig(path=path)
    text = path.read_text(encoding="utf-8")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise AlertsConfigError(f"{path}:{line.group(1) if line else 1}: {exc}") from None
    return parse_config(doc, text, path)


def parse_config(doc: Mapping[str, Any], text: str, path: Path) -> AlertsConfig:
    channels: dict[str, Channel] = {}
    for name, spec in (doc.get("channels") or {}).items():
        lines = _table_lines(text, f"channels.{name}")
        where = f"{path}:{lines[0] if lines else 1}: channel {name!r}"
        if not isinstance(spec, dict) or spec.get("type") not in CHANNEL_TYPES:
            raise AlertsConfigError(f"{where}: `type` must be one of {', '.join(CHANNEL_TYPES)}")
        if spec["type"] == "email" and not spec.get("to"):
            raise AlertsConfigError(f"{where}: an email channel needs `to = [\"…\"]`")
        if spec["type"] == "webhook" and not str(spec.get("url", "")).startswith(("http://", "https://")):
            raise AlertsConfigError(f"{where}: a webhook channel needs an http(s) `url`")
        fmt = spec.get("format", "json")
        if fmt not in WEBHOOK_FORMATS:
            raise AlertsConfigError(f"{where}: `format` must be one of {', '.join(WEBHOOK_FORMATS)}")
        to = spec.get("to", [])
        channels[name] = Channel(name=name, type=spec["type"], to=tuple([to] if isinstance(to, str) else to),
                                 url=str(spec.get("url", "")), format=fmt, retries=int(spec.get("retries", 3)),
                                 backoff_seconds=float(spec.get("backoff_seconds", 1.0)))

    def channel_names(value: Any, where: str) -> tuple[str, ...]:
        names = tuple([value] if isinstance(value, str) else value or ())
        for name in names:
            if name not in channels:
                raise AlertsConfigError(f"{where}: unknown channel {name!r}; channels: {', '.join(channels) or 'none'}")
        return names

    rules: list[Rule] = []
    rule_lines = _table_lines(text, "rule")
    for i, entry in enumerate(doc.get("rule", [])):
        where = f"{path}:{rule_lines[i] if i < len(rule_lines) else 1}: rule {entry.get('name', i + 1)!r}"
        name = entry.get("name")
        if not name or not isinstance(name, str) or "|" in name:
            raise AlertsConfigError(f"{where}: `name` is required (text without `|`)")
        if name == FEED_RULE or name in {r.name for r in rules}:
            raise AlertsConfigError(f"{where}: the name {name!r} is taken")
        metric = entry.get("metric")
        if metric not in REGISTRY:
            raise AlertsConfigError(f"{where}: unknown metric {metric!r}; `python app.py metrics` lists them")
        try:
            scope = parse_scope(entry.get("scope", "national"))
        except ValueError as exc:
            raise AlertsConfigError(f"{where}: {exc}") from None
        for key in scope.where:
            if key not in REGISTRY[metric].dimensions:
                raise AlertsConfigError(f"{where}: metric {metric!r} cannot be scoped by {key}")
        per = entry.get("per")
        if per not in (None, "hwb") or (per and "hwb" not in REGISTRY[metric].dimensions):
            raise AlertsConfigError(f"{where}: `per` can only be \"hwb\", for a metric split by HWB")
        conditions = [k for k in ("above", "below", "rag") if k in entry]
        if len(conditions) != 1:
            raise AlertsConfigError(f"{where}: give exactly one condition: `above`, `below` or `rag = \"red\"`")
        if "rag" in entry and entry["rag"] not in ("red", "amber"):
            raise AlertsConfigError(f"{where}: `rag` must be \"red\" or \"amber\"")
        rules.append(Rule(
            name=name, metric=metric, scope=scope, per=per, above=_number(entry, "above", where),
            below=_number(entry, "below", where), rag=entry.get("rag"),
            for_minutes=_number(entry, "for_minutes", where, 0) or 0.0,
            repeat_hours=_number(entry, "repeat_hours", where, 24) or 24.0,
            channels=channel_names(entry.get("channels"), where)))

    digests: list[Digest] = []
    digest_lines = _table_lines(text, "digest")
    for i, entry in enumerate(doc.get("digest", [])):
        where = f"{path}:{digest_lines[i] if i < len(digest_lines) else 1}: digest {entry.get('name', i + 1)!r}"
        if not entry.get("name") or not entry.get("cron"):
            raise AlertsConfigError(f"{where}: `name` and `cron` are required")
        try:
            from apscheduler.triggers.cron import CronTrigger

            CronTrigger.from_crontab(entry["cron"], timezone="Europe/London")
            scope = parse_scope(entry.get("scope", "national"))
        except ValueError as exc:
            raise AlertsConfigError(f"{where}: {exc}") from None
        channel = entry.get("channel")
        channel_names(channel, where)
        if not channel or channels[channel].type != "email":
            raise AlertsConfigError(f"{where}: `channel` must name an email channel")
        recipients = entry.get("recipients") or list(channels[channel].to)
        digests.append(Digest(name=entry["name"], cron=entry["cron"], scope=scope, recipients=tuple(recipients),
                              channel=channel))
    feed_channels = channel_names(doc["feed_channels"], f"{path}: feed_channels") if "feed_channels" in doc \
        else tuple(channels)
    return AlertsConfig(path=path, rules=tuple(rules), channels=channels, digests=tuple(digests),
                        link_base=str(doc.get("link_base", DEFAULT_LINK_BASE)).rstrip("/"),
                        feed_channels=feed_channels)
