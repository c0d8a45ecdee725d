"""The demo integrated care system as a discrete-event simulation.

People are referred to their HWB's care transfer hub, become ready for
discharge, wait (for medicines, therapy, a family decision ... and, when the
beds or home-care slots of their pathway are full, for capacity), leave
hospital into an intermediate care service, and finish their episode; some
are readmitted. Services report their capacity several times a day.

Why event-driven with one random stream: the state at any instant depends
only on the seed and the start instant, never on how far the simulation is
run. So the history written by `demo` is an exact prefix of the world the
live feeds later continue, and a restart re-creates the same world.

Internally times are POSIX seconds (UTC); the person-level events are kept
in London daytime (07:00-22:00), which is realistic for hub work and keeps
every naive local time in the hub feed unambiguous across clock changes.
"""
from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable
from zoneinfo import ZoneInfo

from ingest.demo_world import (
    DISCHARGES_PER_100K_PER_DAY,
    HWB_BY_CODE,
    HWBS,
    MEAN_STAY_DAYS,
    PATHWAY_MIX,
    Hwb,
    Service,
    build_services,
)
from ingest.pseudonym import check_digit

LONDON = ZoneInfo("Europe/London")
HOUR = 3600.0
DAY = 86400.0

# Referrals by London hour (relative weights; none at night: hubs work days).
_HOUR_WEIGHTS = [0, 0, 0, 0, 0, 0, 0, 1, 3, 6, 8, 8, 7, 7, 7, 6, 5, 4, 3, 2, 1, 1, 0, 0]
_WEEKEND_FACTOR = 0.7
# Winter pressure: referrals peak mid-January, +/- this share of the yearly mean (Dec-Feb above it).
_WINTER_SWING = 0.15
_WINTER_PEAK_DAY = 15
_AGE_BANDS = ((18, 64, 0.12), (65, 74, 0.19), (75, 84, 0.35), (85, 101, 0.34))

# Reasons other than capacity that hold a ready person, with typical days held.
_HOLD_CHANCE = {1: 0.30, 2: 0.35, 3: 0.50}
_HOLD_REASONS: dict[int, tuple[tuple[str, float], ...]] = {
    1: (("MEDICINES", 25), ("THERAPY", 18), ("MEDICAL", 15), ("TRANSPORT", 10), ("EQUIPMENT", 10),
        ("FAMILY_CHOICE", 8), ("DIAGNOSTIC", 7), ("HOUSING", 3), ("INFECTION", 2), ("SAFEGUARDING", 2)),
    2: (("MEDICINES", 22), ("THERAPY", 20), ("MEDICAL", 15), ("FAMILY_CHOICE", 12), ("TRANSPORT", 10),
        ("DIAGNOSTIC", 8), ("INFECTION", 5), ("EQUIPMENT", 5), ("SAFEGUARDING", 3)),
    3: (("CHC_DECISION", 35), ("FAMILY_CHOICE", 25), ("MEDICINES", 10), ("MEDICAL", 10),
        ("SAFEGUARDING", 8), ("THERAPY", 7), ("HOUSING", 5)),
}
_HOLD_DAYS: dict[str, tuple[float, float]] = {
    "MEDICINES": (0.2, 1.0), "TRANSPORT": (0.1, 0.6), "THERAPY": (0.5, 3.0), "MEDICAL": (0.5, 3.0),
    "EQUIPMENT": (1.0, 5.0), "FAMILY_CHOICE": (1.0, 9.0), "DIAGNOSTIC": (0.5, 2.0),
    "SAFEGUARDING": (3.0, 14.0), "HOUSING": (3.0, 18.0), "CHC_DECISION": (3.0, 20.0),
    "INFECTION": (2.0, 7.0),
}
# The long tail: a share of the slow reasons hold for weeks (CHC funding, safeguarding, a
# home that needs finding), lognormal (median days, sigma); these few hold most lost bed days.
_LONG_HOLD_CHANCE = {"CHC_DECISION": 0.35, "SAFEGUARDING": 0.35, "HOUSING": 0.30}
_LONG_HOLD_DAYS = (30.0, 0.35)
# IC episode length: lognormal (median days, sigma). P1 ~2-4 weeks, P2 ~3-5 weeks.
_IC_LENGTH = {1: (18.0, 0.45), 2: (26.0, 0.38)}
_OUTCOMES: dict[int, tuple[tuple[str, float], ...]] = {
    1: (("home_no_support", 55), ("home_with_care", 35), ("residential_care", 4), ("nursing_care", 2),
        ("died", 2), ("other", 2)),
    2: (("home_no_support", 30), ("home_with_care", 40), ("residential_care", 14), ("nursing_care", 7),
        ("died", 5), ("other", 4)),
}
_READMIT_CHANCE = {1: 0.14, 2: 0.16, 3: 0.10}
# Capacity waits push a P2/P3 case to the rest of its ICB after this long.
_NEIGHBOUR_AFTER = 48 * HOUR
_CLOSURE_CHANCE_PER_DAY = 0.04
_FLAKY_OUTAGE_CHANCE_PER_DAY = 0.18
_ANY_OUTAGE_CHANCE_PER_DAY = 0.10


def london(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, LONDON)


def _winter_factor(local: datetime) -> float:
    """Seasonal referral multiplier: highest mid-January, lowest mid-July."""
    day = local.timetuple().tm_yday
    return 1 + _WINTER_SWING * math.cos(2 * math.pi * (day - _WINTER_PEAK_DAY) / 365.25)


def daytime(ts: float) -> float:
    """The first instant at or after `ts` inside London 07:00-22:00."""
    local = london(ts)
    if 7 <= local.hour < 22:
        return ts
    day = local.date() if local.hour < 7 else local.date() + timedelta(days=1)
    morning = datetime(day.year, day.month, day.day, 7, local.minute, local.second, tzinfo=LONDON)
    return morning.timestamp()


def _weighted(rng: random.Random, options: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([o for o, _ in options], weights=[w for _, w in options])[0]


@dataclass
class Case:
    """One hub referral. Public fields are the hub_cases columns, set only once they have happened."""
    hub_id: str
    case_id: str
    nhs_number: str
    age: int
    hwb_code: str
    acute_site_code: str
    admitted_at: float
    referred_at: float
    updated_at: float
    discharge_ready_at: float | None = None
    pathway: int | None = None
    pathway_decided_at: float | None = None
    delay_reason: str | None = None
    discharged_at: float | None = None
    destination_service_id: str | None = None
    ic_started_at: float | None = None
    ic_ended_at: float | None = None
    ic_outcome: str | None = None
    readmitted_at: float | None = None
    status_91d: str | None = None
    # What the hub will decide, drawn at referral but hidden until it happens.
    planned_pathway: int = 1
    hold_reason: str | None = None
    hold_until: float = 0.0
    queued_at: float | None = None
    capacity_reason: str = ""
    reason_since: float = 0.0
    reason_seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class ServiceState:
    service: Service
    occupied: int = 0
    reserved: int = 0  # held for a named person between allocation and admission
    closed: int = 0  # beds or slots closed (staffing, infection, maintenance)
    closed_until: float = 0.0
    silent_until: float = 0.0  # not reporting until then
    reported: bool = False

    @property
    def accepting(self) -> int:
        return max(0, self.service.capacity - self.occupied - self.reserved - self.closed)

    def report(self, ts: float) -> "Report":
        # What is neither occupied, accepting nor reserved is reported as unavailable.
        return Report(self.service, ts, self.occupied, self.accepting, self.reserved)


@dataclass(frozen=True)
class Report:
    service: Service
    reported_at: float
    occupied: int
    vacant_accepting: int
    vacant_reserved: int


class Simulation:
    """The demo world from `start` (POSIX seconds); `advance_to(t)` runs it up to t."""

    def __init__(self, seed: int, start: float, keep_reports: bool = True) -> None:
        self.seed = seed
        self.start = start
        self.now = start
        self.keep_reports = keep_reports
        self.rng = random.Random(seed)
        self.services = {s.service_id: ServiceState(s) for s in build_services(seed)}
        self.flaky = sorted(self.services)[:: max(1, len(self.services) // 3)][:3]
        self.cases: list[Case] = []
        self.reports: list[Report] = []
        self.latest: dict[str, Report] = {}
        self._queues: dict[tuple[str, int], list[Case]] = {(h.code, p): [] for h in HWBS for p in (1, 2, 3)}
        # Services by (HWB code or ICB code, pathway): where a case may be placed.
        self._serving: dict[tuple[str, int], list[ServiceState]] = {}
        for sid in sorted(self.services):
            state = self.services[sid]
            hwb = HWB_BY_CODE[state.service.hwb_code]
            for area in (hwb.code, hwb.icb_code):
                self._serving.setdefault((area, state.service.pathway), []).append(state)
        self._events: list[tuple[float, int, Callable[[float], None]]] = []
        self._seq = 0
        self._case_counter = {h.code: 0 for h in HWBS}
        self._nhs_numbers: set[str] = set()
        self._warm_start()

    # --- the event loop -------------------------------------------------

    def _at(self, ts: float, action: Callable[[float], None]) -> None:
        self._seq += 1  # ties run in scheduling order, so runs are reproducible
        heapq.heappush(self._events, (ts, self._seq, action))

    def advance_to(self, ts: float) -> None:
        while self._events and self._events[0][0] <= ts:
            when, _, action = heapq.heappop(self._events)
            self.now = when
            action(when)
        self.now = max(self.now, ts)

    # --- start: services already part-full, their rhythms set going ------

    def _warm_start(self) -> None:
        rng = self.rng
        for sid in sorted(self.services):
            state = self.services[sid]
            service = state.service
            # The world did not begin empty: current occupants leave over the
            # coming weeks, as the tail of episodes that began before start.
            state.occupied = round(service.capacity * rng.uniform(0.78, 0.92))
            for _ in range(state.occupied):
                self._at(self.start + self._stay_seconds(service.pathway) * rng.random(),
                         lambda t, s=state: self._release(s))
            self._at(self.start, lambda t, s=state: self._report(s, t))
        for hwb in HWBS:
            self._at(self._next_arrival(hwb, self.start), lambda t, h=hwb: self._arrive(h, t))
        self._at(self.start, self._daily)
        first_tick = math.ceil(self.start / (30 * 60)) * 30 * 60
        self._at(first_tick, self._tick)

    def _stay_seconds(self, pathway: int) -> float:
        if pathway == 3:
            return self.rng.expovariate(1 / MEAN_STAY_DAYS[3]) * DAY
        median, sigma = _IC_LENGTH[pathway]
        return self.rng.lognormvariate(math.log(median), sigma) * DAY

    def _daily(self, ts: float) -> None:
        """Once a day: closures and reporting outages start."""
        rng = self.rng
        for sid in sorted(self.services):
            state = self.services[sid]
            if ts >= state.closed_until and rng.random() < _CLOSURE_CHANCE_PER_DAY:
                state.closed = max(1, round(state.service.capacity * rng.uniform(0.05, 0.2)))
                state.closed_until = ts + rng.uniform(1, 5) * DAY
                self._at(state.closed_until, lambda t, s=state: self._reopen(s, t))
        # A few providers are known for lapses; anyone may miss a day now and then.
        silent = [sid for sid in self.flaky if rng.random() < _FLAKY_OUTAGE_CHANCE_PER_DAY]
        if rng.random() < _ANY_OUTAGE_CHANCE_PER_DAY:
            silent.append(rng.choice(sorted(self.services)))
        for sid in silent:
            state = self.services[sid]
            state.silent_until = max(state.silent_until, ts + rng.uniform(26, 40) * HOUR)
        self._at(ts + DAY, self._daily)

    def _reopen(self, state: ServiceState, ts: float) -> None:
        if ts >= state.closed_until:
            state.closed = 0

    def _report(self, state: ServiceState, ts: float) -> None:
        if ts >= state.silent_until:
            report = state.report(ts)
            self.latest[state.service.service_id] = report
            if self.keep_reports:
                self.reports.append(report)
        jitter = self.rng.uniform(-10, 10) * 60
        self._at(ts + state.service.report_every_hours * HOUR + jitter, lambda t, s=state: self._report(s, t))

    def is_reporting(self, service_id: str, ts: float) -> bool:
        return ts >= self.services[service_id].silent_until

    # --- people ----------------------------------------------------------

    def _rate_per_second(self, hwb: Hwb, ts: float) -> float:
        local = london(ts)
        daily = hwb.population / 100_000 * DISCHARGES_PER_100K_PER_DAY
        weekday = 7 / (5 + 2 * _WEEKEND_FACTOR)
        factor = weekday * (_WEEKEND_FACTOR if local.weekday() >= 5 else 1.0) * _winter_factor(local)
        return daily * factor * _HOUR_WEIGHTS[local.hour] / sum(_HOUR_WEIGHTS) / HOUR

    def _next_arrival(self, hwb: Hwb, ts: float) -> float:
        """Next referral of a time-varying Poisson process, by thinning."""
        peak = (hwb.population / 100_000 * DISCHARGES_PER_100K_PER_DAY * 7 / (5 + 2 * _WEEKEND_FACTOR)
                * (1 + _WINTER_SWING)
                * max(_HOUR_WEIGHTS) / sum(_HOUR_WEIGHTS) / HOUR)
        while True:
            ts += self.rng.expovariate(peak)
            if self.rng.random() * peak <= self._rate_per_second(hwb, ts):
                return ts

    def _new_nhs_number(self) -> str:
        while True:
            first_nine = "999" + f"{self.rng.randrange(10**6):06d}"  # the 999 test range
            check = check_digit(first_nine)
            if check is not None and first_nine + str(check) not in self._nhs_numbers:
                number = first_nine + str(check)
                self._nhs_numbers.add(number)
                return number

    def _arrive(self, hwb: Hwb, ts: float) -> None:
        rng = self.rng
        self._case_counter[hwb.code] += 1
        low, high, _ = rng.choices(_AGE_BANDS, weights=[b[2] for b in _AGE_BANDS])[0]
        site = rng.choices([s for s, _ in hwb.acute_sites], weights=[w for _, w in hwb.acute_sites])[0]
        case = Case(
            hub_id=f"{hwb.icb_code}-{hwb.short}-TOC",
            case_id=f"{hwb.short}-{self._case_counter[hwb.code]:06d}",
            nhs_number=self._new_nhs_number(),
            age=rng.randint(low, high),
            hwb_code=hwb.code,
            acute_site_code=site,
            admitted_at=daytime(ts - rng.lognormvariate(math.log(5), 0.6) * DAY - DAY),
            referred_at=ts,
            updated_at=ts,
            planned_pathway=rng.choices(list(PATHWAY_MIX), weights=list(PATHWAY_MIX.values()))[0],
        )
        self.cases.append(case)
        if rng.random() < _HOLD_CHANCE[case.planned_pathway]:
            case.hold_reason = _weighted(rng, _HOLD_REASONS[case.planned_pathway])
        # Most are referred ahead of readiness; a quarter are already ready.
        if rng.random() < 0.25:
            ready = min(ts, daytime(ts - rng.uniform(2, 24) * HOUR))
            self._ready(case, ready, record_at=ts)
        else:
            self._at(daytime(ts + rng.lognormvariate(math.log(20), 0.6) * HOUR),
                     lambda t, c=case: self._ready(c, t, record_at=t))
        decide = daytime(ts + min(72.0, rng.lognormvariate(math.log(4), 0.8)) * HOUR)
        self._at(decide, lambda t, c=case: self._decide(c, t))
        self._at(self._next_arrival(hwb, ts), lambda t, h=hwb: self._arrive(h, t))

    def _set_reason(self, case: Case, reason: str | None, ts: float) -> None:
        if case.delay_reason is not None:
            held = case.reason_seconds.get(case.delay_reason, 0.0)
            case.reason_seconds[case.delay_reason] = held + ts - case.reason_since
        if reason != case.delay_reason:
            case.delay_reason = reason
            case.updated_at = ts
        case.reason_since = ts

    def _ready(self, case: Case, ready_at: float, record_at: float) -> None:
        case.discharge_ready_at = ready_at
        case.updated_at = record_at
        case.reason_since = ready_at
        if case.hold_reason is not None:
            low, high = _HOLD_DAYS[case.hold_reason]
            days = self.rng.uniform(low, high)
            if self.rng.random() < _LONG_HOLD_CHANCE.get(case.hold_reason, 0.0):
                days = self.rng.lognormvariate(math.log(_LONG_HOLD_DAYS[0]), _LONG_HOLD_DAYS[1])
            case.hold_until = daytime(record_at + days * DAY)
            case.delay_reason = case.hold_reason
            self._at(case.hold_until, lambda t, c=case: self._hold_over(c, t))
        elif case.pathway is None:
            case.delay_reason = "HUB_CONFIRMATION"  # ready, but the hub has not decided yet
        self._maybe_queue(case, record_at)

    def _hold_over(self, case: Case, ts: float) -> None:
        if case.pathway is None:
            self._set_reason(case, "HUB_CONFIRMATION", ts)
        self._maybe_queue(case, ts)

    def _decide(self, case: Case, ts: float) -> None:
        case.pathway = case.planned_pathway
        case.pathway_decided_at = ts
        case.updated_at = ts
        self._maybe_queue(case, ts)

    def _maybe_queue(self, case: Case, ts: float) -> None:
        """Join the capacity queue once ready, decided and no longer held for another reason."""
        if (case.queued_at is not None or case.discharge_ready_at is None or case.pathway is None
                or ts < case.hold_until):
            return
        case.queued_at = ts
        case.capacity_reason = {1: "P1_NEW_CARE", 2: "P2_BED", 3: "P3_CARE_HOME"}[case.pathway]
        if case.pathway == 3 and self.rng.random() < 0.1:
            case.capacity_reason = "P3_END_OF_LIFE"
        # A capacity reason only when capacity is what is missing; with a bed or
        # slot free, they wait for the hub's next placement round.
        free = any(s.accepting > 0 for s in self._serving[(case.hwb_code, case.pathway)])
        self._set_reason(case, "HUB_CONFIRMATION" if free else case.capacity_reason, ts)
        self._queues[(case.hwb_code, case.pathway)].append(case)

    def _tick(self, ts: float) -> None:
        """Every 30 minutes of the working day the hub places whoever it can."""
        local = london(ts)
        # Thinner weekend staffing: the hub places only on the hour, in the morning.
        weekend_pause = local.weekday() >= 5 and (local.minute >= 30 or local.hour >= 13)
        if 8 <= local.hour < 20 and not weekend_pause:
            for queue in self._queues.values():
                # First come, first placed: once one fails, everyone behind
                # them (who has waited less) would fail too.
                placed = 0
                while placed < len(queue) and self._place(queue[placed], ts):
                    placed += 1
                del queue[:placed]
                for case in queue:
                    self._set_reason(case, case.capacity_reason, ts)
        self._at(ts + 30 * 60, self._tick)

    def _place(self, case: Case, ts: float) -> bool:
        assert case.pathway is not None and case.queued_at is not None
        hwb = HWB_BY_CODE[case.hwb_code]
        candidates = [s for s in self._serving[(hwb.code, case.pathway)] if s.accepting > 0]
        if not candidates and case.pathway >= 2 and ts - case.queued_at >= _NEIGHBOUR_AFTER:
            # Home care has to be where the person lives; a bed may be across the ICB.
            candidates = [s for s in self._serving[(hwb.icb_code, case.pathway)] if s.accepting > 0]
        if not candidates:
            return False
        chosen = max(candidates, key=lambda s: (s.accepting, s.service.service_id))
        chosen.reserved += 1
        self._set_reason(case, "TRANSPORT", ts)  # placed: now awaiting transport home or to the bed
        leave = daytime(ts + self.rng.uniform(1, 5) * HOUR)
        self._at(leave, lambda t, c=case, s=chosen: self._discharge(c, s, t))
        return True

    def _discharge(self, case: Case, state: ServiceState, ts: float) -> None:
        rng = self.rng
        self._set_reason(case, case.delay_reason, ts)  # close the running reason's time
        # After discharge the hub keeps the reason that held the person longest, so
        # discharged cases can still be analysed by delay reason; only when there
        # was a delay as the metrics count one (discharged on a later London day).
        delayed = case.discharge_ready_at is not None and london(case.discharge_ready_at).date() < london(ts).date()
        # The wait for transport after placement only counts when nothing else held them.
        held = {r: s for r, s in case.reason_seconds.items() if r != "TRANSPORT" or s > 6 * HOUR}
        held = held or case.reason_seconds
        main = max(held.items(), key=lambda kv: kv[1])[0] if held else None
        case.delay_reason = main if delayed else None
        case.discharged_at = ts
        case.destination_service_id = state.service.service_id
        case.updated_at = ts
        assert case.pathway is not None
        if case.pathway == 1:  # home care starts the same day or the next
            self._at(daytime(ts + rng.uniform(0, 18) * HOUR), lambda t, c=case, s=state: self._ic_start(c, s, t))
        else:
            self._ic_start(case, state, ts)
        if rng.random() < _READMIT_CHANCE[case.pathway]:
            after = 2 * DAY + rng.expovariate(1 / 14) * DAY
            if after < 90 * DAY:
                self._at(daytime(ts + after), lambda t, c=case, s=state: self._readmit(c, s, t))
        self._at(daytime(ts + 91 * DAY), lambda t, c=case: self._status_91d(c, t))

    def _ic_start(self, case: Case, state: ServiceState, ts: float) -> None:
        state.reserved -= 1
        state.occupied += 1
        assert case.pathway is not None
        stay = self._stay_seconds(case.pathway)
        if case.pathway == 3:
            # A likely-permanent placement, not an IC episode: the bed turns over later.
            self._at(ts + stay, lambda t, s=state: self._release(s))
            return
        case.ic_started_at = ts
        case.updated_at = ts
        self._at(daytime(ts + stay), lambda t, c=case, s=state: self._ic_end(c, s, t, None))

    def _ic_end(self, case: Case, state: ServiceState, ts: float, outcome: str | None) -> None:
        if case.ic_ended_at is not None or case.ic_started_at is None:
            return  # already ended by a readmission
        assert case.pathway is not None
        case.ic_ended_at = ts
        case.ic_outcome = outcome or _weighted(self.rng, _OUTCOMES[case.pathway])
        case.updated_at = ts
        self._release(state)

    def _readmit(self, case: Case, state: ServiceState, ts: float) -> None:
        case.readmitted_at = ts
        case.updated_at = ts
        self._ic_end(case, state, ts, "readmitted")

    def _status_91d(self, case: Case, ts: float) -> None:
        rng = self.rng
        if case.ic_outcome in ("died",):
            status = "died"
        elif case.pathway == 3 or case.ic_outcome in ("residential_care", "nursing_care"):
            status = _weighted(rng, (("care_home", 75), ("died", 17), ("in_hospital", 4), ("unknown", 4)))
        else:
            status = _weighted(rng, (("at_home", 82), ("care_home", 4), ("died", 5), ("in_hospital", 4),
                                     ("unknown", 5)))
        case.status_91d = status
        case.updated_at = ts

    def _release(self, state: ServiceState) -> None:
        state.occupied -= 1
