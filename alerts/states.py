"""Evaluating the rules: each instance's state in the store, Grafana style.

    ok → pending → firing → resolved      (no_data: the metric has no value — never taken for ok)

A breach starts `pending`; held for `for_minutes` it becomes `firing` (a new *episode*). Clearing a firing
instance makes it `resolved`. Firing and resolved each queue one notification per channel, and a firing
instance one more every `repeat_hours`, keyed (instance, episode, kind, channel) in `alert_notification`:
a second copy cannot be inserted. Entering `no_data` queues one too (kind `no_data-<when>`: an instance can
go without data more than once in an episode), never repeated while it stays without data. The instance row itself moves by a conditional update on the state it was
read in, so of two processes evaluating at once only one makes (and queues) each change.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from alerts.rules import FEED_RULE, AlertsConfig, Rule
from models.freshness import feed_freshness
from models.query import MetricQuery, empty_value, run_queries
from models.tables import alert_instance, alert_notification
from models.thresholds import rag, thresholds_for

log = logging.getLogger("homeward.alerts")
UTC = timezone.utc
STATES = ("ok", "pending", "firing", "resolved", "no_data")
NO_DATA_MEANING = "no value: the metric has no data for this scope"


@dataclass(frozen=True)
class Observation:
    """One instance's reading at one evaluation."""
    rule: str
    scope: str  # national | icb:… | hwb:… | feed:…
    value: float | None
    threshold: float | None
    breached: bool | None  # None: no data
    for_minutes: float
    repeat_hours: float
    channels: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.rule}|{self.scope}"


@dataclass(frozen=True)
class Instance:
    instance_key: str
    rule: str
    scope: str
    state: str
    value: float | None
    threshold: float | None
    since: datetime
    pending_since: datetime | None
    fired_at: datetime | None
    resolved_at: datetime | None
    episode: int
    evaluated_at: datetime
    last_notified_at: datetime | None = None
    silenced_until: datetime | None = None
    silence_reason: str | None = None
    silenced_by: str | None = None

    def silenced(self, now: datetime) -> bool:
        return self.silenced_until is not None and self.silenced_until > now


def no_data_kind(now: datetime) -> str:
    """The notification kind of entering no_data at `now` (naive UTC): unique per entry."""
    return f"no_data-{now:%Y-%m-%dT%H:%M}"


def store_time(at: datetime) -> datetime:
    """Store form: naive UTC (models.tables)."""
    return at.astimezone(UTC).replace(tzinfo=None) if at.tzinfo else at


# --- reading the metrics ---------------------------------------------------

def _breach(rule: Rule, value: float | None, codes: tuple[str, ...]) -> tuple[bool | None, float | None]:
    """(breached or None without a value, the threshold crossed)."""
    if rule.rag is not None:
        limits = thresholds_for(rule.metric, codes)
        threshold = None if limits is None else (limits.red if rule.rag == "red" else limits.green)
        if value is None:
            return None, threshold
        level = rag(rule.metric, value, codes)
        return (level == "red" if rule.rag == "red" else level in ("amber", "red")), threshold
    threshold = rule.above if rule.above is not None else rule.below
    if value is None:
        return None, threshold
    return (value > threshold if rule.above is not None else value < threshold), threshold  # type: ignore[operator]  # rules have above or below


def observe(engine: Engine, config: AlertsConfig, at: datetime) -> list[Observation]:
    """Every instance's reading at `at`: each rule through the metrics layer, and each feed's freshness."""
    from models.geography import get_geography

    geo = get_geography(engine)
    queries = [MetricQuery(metric=r.metric, at=at, by=("hwb",) if r.per == "hwb" else (), where=dict(r.scope.where))
               for r in config.rules]
    results = run_queries(engine, queries) if queries else []
    out: list[Observation] = []
    for rule, result in zip(config.rules, results):
        common = dict(rule=rule.name, for_minutes=rule.for_minutes, repeat_hours=rule.repeat_hours,
                      channels=rule.channels)
        if rule.per == "hwb":
            # every HWB in the scope: one the result has no row for has the layer's empty value (0 people; no rate)
            values = {row["hwb"]: row.get("value") for row in result.rows if row.get("hwb")}
            covered = scope_hwbs(rule.scope.text, geo)
            empty = empty_value(rule.metric)
            for code in sorted(geo.hwbs if covered is None else covered):
                hwb = geo.hwbs.get(code)
                codes = (code, *((hwb.place, hwb.icb) if hwb else ()), *rule.scope.codes)
                value = values.get(code, empty)
                breached, threshold = _breach(rule, value, codes)
                out.append(Observation(scope=f"hwb:{code}", value=value, threshold=threshold, breached=breached,
                                       **common))
        else:
            value = result.total() if result.rows else None
            breached, threshold = _breach(rule, value, rule.scope.codes)
            out.append(Observation(scope=rule.scope.text, value=value, threshold=threshold, breached=breached,
                                   **common))
    for feed in feed_freshness(engine, at).values():
        hours = None if feed.age_seconds is None else round(feed.age_seconds / 3600, 2)
        out.append(Observation(rule=FEED_RULE, scope=f"feed:{feed.feed}", value=hours,
                               threshold=round(feed.max_age_seconds / 3600, 2), breached=feed.stale,
                               for_minutes=0, repeat_hours=24, channels=config.feed_channels))
    return out


# --- the state machine -----------------------------------------------------

def step(prior: Instance | None, obs: Observation, now: datetime) -> tuple[Instance, list[str]]:
    """The instance after this reading, and the notifications it makes due (firing, resolved, repeat-N).
    `now` is naive UTC. Pure: the store is written by `evaluate`."""
    inst = prior or Instance(instance_key=obs.key, rule=obs.rule, scope=obs.scope, state="ok", value=None,
                             threshold=None, since=now, pending_since=None, fired_at=None, resolved_at=None,
                             episode=0, evaluated_at=now)
    inst = replace(inst, value=obs.value, threshold=obs.threshold, evaluated_at=now)
    due: list[str] = []

    def to(state: str, **changes: Any) -> Instance:
        return replace(inst, state=state, since=now if state != inst.state else inst.since, **changes)

    if obs.breached is None:
        new = to("no_data", pending_since=None)
        if inst.state != "no_data":  # told once on entering, as Grafana does; never repeated while it lasts
            due.append(no_data_kind(now))
    elif obs.breached:
        if inst.state == "firing":
            new = inst
            repeat = timedelta(hours=obs.repeat_hours)
            last = inst.last_notified_at or inst.fired_at or now
            if inst.fired_at is not None and now - last >= repeat:
                due.append(f"repeat-{int((now - inst.fired_at) / repeat)}")
        else:
            pending_since = inst.pending_since if inst.state == "pending" else now
            if now - pending_since >= timedelta(minutes=obs.for_minutes):
                new = to("firing", fired_at=now, resolved_at=None, pending_since=None, episode=inst.episode + 1)
                due.append("firing")
            else:
                new = to("pending", pending_since=pending_since)
    elif inst.state == "firing":
        new = to("resolved", resolved_at=now)
        due.append("resolved")
    elif inst.state == "resolved":
        new = inst
    else:
        new = to("ok", pending_since=None)
    return new, due


def _row_to_instance(row: Mapping[str, Any]) -> Instance:
    return Instance(**{k: row[k] for k in Instance.__dataclass_fields__})


def load_instances(engine: Engine | Connection) -> dict[str, Instance]:
    """Every instance the current principal may see (the evaluator runs as the national system principal)."""
    def read(conn: Connection) -> dict[str, Instance]:
        rows = {r.instance_key: _row_to_instance(r._mapping) for r in conn.execute(sa.select(alert_instance))}
        visible = visible_scopes(conn.engine, {i.scope for i in rows.values()})
        return {k: i for k, i in rows.items() if i.scope in visible}

    if isinstance(engine, Connection):
        return read(engine)
    with engine.connect() as conn:
        return read(conn)


def visible_scopes(engine: Engine, scopes: Iterable[str]) -> set[str]:
    """The alert scopes the current principal may see: all when national; otherwise the feed alerts and
    those whose HWBs lie wholly inside the principal's scope (a wider alert's figure covers HWBs they may not see)."""
    from models import access
    from models.geography import get_geography

    principal = access.current()
    if principal.national:
        return set(scopes)
    geo = get_geography(engine)
    allowed = access.hwbs_covered(geo, principal.scope)
    out = set()
    for scope in scopes:
        covered = scope_hwbs(scope, geo)
        if scope.startswith("feed:") or (covered is not None and covered and covered <= allowed):
            out.add(scope)
    return out


# Written by delivery (last_notified_at) and the silence action, never by an evaluation's update.
OTHER_WRITERS = frozenset({"instance_key", "last_notified_at", "silenced_until", "silence_reason", "silenced_by"})


def _save(conn: Connection, prior: Instance | None, new: Instance) -> bool:
    """Write the instance unless another process moved it since it was read (False then)."""
    values = {k: getattr(new, k) for k in Instance.__dataclass_fields__}
    if prior is None:
        try:
            conn.execute(alert_instance.insert().values(values))
        except sa.exc.IntegrityError:
            return False
        return True
    a = alert_instance.c
    moved = conn.execute(alert_instance.update()
                         .where(a.instance_key == prior.instance_key, a.state == prior.state,
                                a.episode == prior.episode, a.evaluated_at == prior.evaluated_at)
                         .values({k: v for k, v in values.items() if k not in OTHER_WRITERS})
                         .returning(a.instance_key)).first()
    return moved is not None


def evaluate(engine: Engine, config: AlertsConfig, at: datetime | None = None) -> list[Instance]:
    """Evaluate every rule once at `at` (default now): move each instance, queue its notifications.
    Returns every instance after the evaluation."""
    at = (at or datetime.now(UTC)).astimezone(UTC)
    now = store_time(at)
    known = load_instances(engine)
    for obs in observe(engine, config, at):
        prior = known.get(obs.key)
        if prior is not None and prior.evaluated_at > now:
            continue  # an evaluation at a later time has been stored (an `--at` in the past reads, never rewinds)
        new, due = step(prior, obs, now)
        try:
            with engine.begin() as conn:
                if not _save(conn, prior, new):
                    continue  # another process evaluated this instance meanwhile; it queued what was due
                if due and not new.silenced(now):
                    for kind in due:
                        for channel in obs.channels:
                            conn.execute(alert_notification.insert().values(
                                instance_key=new.instance_key, episode=new.episode, kind=kind, channel=channel,
                                rule=new.rule, value=new.value, threshold=new.threshold, created_at=now,
                                status="due", attempts=0, next_attempt_at=now))
        except (sa.exc.IntegrityError, sa.exc.OperationalError) as exc:
            if not lost_race(exc):
                raise
            log.info("alert %s: moved by another process meanwhile", new.instance_key)
    return list(load_instances(engine).values())


def lost_race(exc: Exception) -> bool:
    """A duplicate key, or DuckDB's write-write conflict: another process wrote the same row first."""
    return isinstance(exc, sa.exc.IntegrityError) or "Conflict" in str(exc)


def silence(engine: Engine, instance_key: str, until: datetime, reason: str, by: str) -> bool:
    """Silence one instance until `until` (no notifications meanwhile; its state still moves)."""
    with engine.begin() as conn:
        done = conn.execute(alert_instance.update().where(alert_instance.c.instance_key == instance_key)
                            .values(silenced_until=store_time(until), silence_reason=reason, silenced_by=by)
                            .returning(alert_instance.c.instance_key)).first()
    log.info("alert %s silenced until %s by %s: %s", instance_key, until.isoformat(), by, reason)
    return done is not None


def scope_hwbs(scope: str, geo: Any) -> set[str] | None:
    """The HWBs an instance's scope covers (None: national or a feed — every view's concern)."""
    from alerts.rules import parse_scope

    if scope == "national" or scope.startswith("feed:"):
        return None
    where = parse_scope(scope).where
    return {*where.get("hwb", ()), *(h for c in where.get("icb", ()) for h in geo.hwbs_in_icb(c)),
            *(h for c in where.get("place", ()) for h in geo.hwbs_in_place(c))}


def instances_in_scope(instances: Iterable[Instance], hwbs: set[str] | None, geo: Any) -> list[Instance]:
    """Instances whose scope meets a set of HWBs (None: all); national and feed alerts always count."""
    if hwbs is None:
        return list(instances)
    out = []
    for inst in instances:
        covered = scope_hwbs(inst.scope, geo)
        if covered is None or covered & hwbs:
            out.append(inst)
    return out


def firing_in_scope(engine: Engine, icb: Iterable[str] = (), place: Iterable[str] = (),
                    hwb: Iterable[str] = ()) -> list[Instance]:
    """Instances firing in a view's geography (HWBs of its ICBs, places and HWBs; none given: everywhere)."""
    from models.geography import get_geography

    geo = get_geography(engine)
    icb, place, hwb = list(icb), list(place), list(hwb)
    hwbs: set[str] | None = None
    if icb or place or hwb:
        hwbs = {*hwb, *(h for c in icb for h in geo.hwbs_in_icb(c)), *(h for c in place for h in geo.hwbs_in_place(c))}
    firing = [i for i in load_instances(engine).values() if i.state == "firing"]
    return sorted(instances_in_scope(firing, hwbs, geo), key=lambda i: (i.rule, i.scope))
