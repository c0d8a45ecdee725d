"""The demo integrated care system: deterministic, realistic in volume, valid feed rows,
capacity that actually limits discharges, and live feeds over real HTTP.

The feed-rule checks here are written independently of the simulation (from
feeds.md and the shipped reference files), so a generator bug cannot hide
behind the generator's own helpers.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import statistics
import subprocess
import sys
import urllib.error
import urllib.request
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ingest.demo import run_demo_command, write_demo
from ingest.demo_csv import hub_cases_csv
from ingest.demo_live import start_live_feeds
from ingest.demo_sim import Simulation

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "data" / "reference"
LONDON = ZoneInfo("Europe/London")
# A fixed "now" whose 100-day history spans the March clock change.
NOW = datetime(2025, 4, 10, 12, 0, tzinfo=timezone.utc).timestamp()
DAYS = 100

VACANCY_HEADER = ["service_id", "service_name", "provider_name", "service_type", "hwb_code", "capacity",
                  "occupied", "vacant_accepting", "vacant_reserved", "reported_at"]
HUB_HEADER = ["hub_id", "case_id", "nhs_number", "age", "hwb_code", "acute_site_code", "admitted_at",
              "referred_at", "discharge_ready_at", "pathway", "pathway_decided_at", "delay_reason",
              "discharged_at", "destination_service_id", "ic_started_at", "ic_ended_at", "ic_outcome",
              "readmitted_at", "status_91d", "updated_at"]
SERVICE_TYPES = {"P1_REABLEMENT": 1, "P1_REHAB": 1, "P1_BRIDGING": 1, "P2_COMMUNITY_HOSPITAL": 2,
                 "P2_CARE_HOME": 2, "P2_IC_UNIT": 2, "P3_RESIDENTIAL": 3, "P3_NURSING": 3}
DELAY_REASONS = {"MEDICAL", "THERAPY", "REFERRAL", "MEDICINES", "TRANSPORT", "HUB_CONFIRMATION", "P1_NEW_CARE",
                 "P1_CONTINUE_REHAB", "P2_BED", "P3_CARE_HOME", "P3_END_OF_LIFE", "EQUIPMENT", "FAMILY_CHOICE",
                 "HOUSING", "SAFEGUARDING", "READMISSION", "NO_PLAN", "DIAGNOSTIC", "INFECTION", "CHC_DECISION"}
IC_OUTCOMES = {"home_no_support", "home_with_care", "residential_care", "nursing_care", "readmitted", "died",
               "other"}
STATUS_91D = {"at_home", "in_hospital", "care_home", "died", "unknown"}
DEMO_HWBS = {"E08000032": "QWO", "E08000033": "QWO", "E08000034": "QWO", "E08000035": "QWO",
             "E08000036": "QWO", "E06000043": "QNX", "E10000011": "QNX", "E10000032": "QNX"}
DEMO_POPULATION = 4_057_000  # ONS Census 2021, the eight HWBs


def _rows(text: str) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    return header, [dict(zip(header, r)) for r in reader]


def _utc(value: str) -> datetime:
    """A feed time as UTC: `Z` is UTC, a naive time is Europe/London (feeds.md, Times)."""
    if value.endswith("Z"):
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    local = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=LONDON)
    # An ambiguous or non-existent local time would not survive the round trip.
    assert local.astimezone(timezone.utc).astimezone(LONDON).replace(tzinfo=None) == local.replace(tzinfo=None), value
    return local.astimezone(timezone.utc)


def _mod11_ok(number: str) -> bool:
    if not re.fullmatch(r"\d{10}", number):
        return False
    remainder = sum(int(d) * (10 - i) for i, d in enumerate(number[:9])) % 11
    check = (11 - remainder) % 11
    return check != 10 and check == int(number[9])


SHIPPED = Path(__file__).resolve().parents[2] / "models" / "reference"


def _upper_tier_codes() -> set[str]:
    """Upper-tier authorities from the published mySociety list beside the repo (../shared); in a clone
    without it, from the reference geography the project ships (built from that same list)."""
    if not REFERENCE.exists():
        codes: set[str] = set()
        for name, column in (("hwbs.csv", "hwb_code"), ("hwb_aliases.csv", "code")):
            with open(SHIPPED / name, newline="", encoding="utf-8") as f:
                codes |= {r[column] for r in csv.DictReader(f)}
        return codes
    with open(REFERENCE / "mysociety_uk_local_authorities_current.csv", newline="", encoding="utf-8") as f:
        return {r["gss-code"] for r in csv.DictReader(f)
                if r["nation"] == "England" and r["local-authority-type"] in ("CTY", "UA", "MD", "LBO")}


def _trust_icbs() -> dict[str, str]:
    """Acute trusts from the published ODS extract beside the repo; without it, the shipped trust list."""
    if not REFERENCE.exists():
        with open(SHIPPED / "trusts.csv", newline="", encoding="utf-8") as f:
            return {r["trust_code"]: r["icb_code"] for r in csv.DictReader(f)}
    with open(REFERENCE / "brc_ods_nhs_trusts_etr_2021.csv", newline="", encoding="utf-8") as f:
        return {r["org_code"]: r["high_level_health_geography"] for r in csv.DictReader(f)}


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    out = tmp_path_factory.mktemp("demo")
    write_demo(out, days=DAYS, seed=7, now=NOW)
    header_v, vacancy = _rows((out / "vacancy.csv").read_text(encoding="utf-8"))
    header_h, cases = _rows((out / "hub_cases.csv").read_text(encoding="utf-8"))
    assert header_v == VACANCY_HEADER and header_h == HUB_HEADER
    return vacancy, cases


def test_same_seed_same_files_and_another_seed_differs(tmp_path: Path) -> None:
    texts = []
    for folder, seed in (("a", 7), ("b", 7), ("c", 8)):
        write_demo(tmp_path / folder, days=20, seed=seed, now=NOW)
        texts.append(tuple((tmp_path / folder / n).read_bytes() for n in ("vacancy.csv", "hub_cases.csv")))
    assert texts[0] == texts[1]
    assert texts[0][0] != texts[2][0] and texts[0][1] != texts[2][1]


def test_world_does_not_depend_on_how_far_it_is_run() -> None:
    # The live feeds rely on this: history then live equals one long run.
    start = NOW - 20 * 86400
    stepped, straight = Simulation(7, start), Simulation(7, start)
    for t in range(int(NOW - 12 * 86400), int(NOW), 7 * 3600 + 123):
        stepped.advance_to(t)
    stepped.advance_to(NOW)
    straight.advance_to(NOW)
    assert hub_cases_csv(stepped.cases) == hub_cases_csv(straight.cases)
    assert stepped.latest == straight.latest


def test_volumes_are_realistic(demo_files: tuple[list[dict[str, str]], list[dict[str, str]]]) -> None:
    vacancy, cases = demo_files
    settled = datetime.fromtimestamp(NOW - (DAYS - 14) * 86400, timezone.utc)  # past the warm-up
    discharged = [c for c in cases if c["discharged_at"] and _utc(c["discharged_at"]) >= settled]
    per_day = len(discharged) / (DAYS - 14)
    expected = DEMO_POPULATION / 100_000 * 2
    assert expected * 0.7 <= per_day <= expected * 1.3, per_day
    mix = {p: sum(c["pathway"] == p for c in discharged) / len(discharged) for p in "123"}
    assert abs(mix["1"] - 0.70) < 0.03 and abs(mix["2"] - 0.17) < 0.03 and abs(mix["3"] - 0.13) < 0.03, mix
    lengths = [(_utc(c["ic_ended_at"]) - _utc(c["ic_started_at"])).days for c in cases if c["ic_ended_at"]]
    assert sum(d <= 42 for d in lengths) / len(lengths) >= 0.9
    assert 14 <= statistics.median(lengths) <= 35
    assert {c["age"] for c in cases} and sum(int(c["age"]) >= 65 for c in cases) / len(cases) > 0.8
    assert sum(bool(c["readmitted_at"]) for c in discharged) / len(discharged) > 0.05
    services = {r["service_id"]: r for r in vacancy}
    assert 50 <= len(services) <= 75
    assert {r["service_type"] for r in services.values()} == set(SERVICE_TYPES)
    assert set(r["hwb_code"] for r in services.values()) == set(DEMO_HWBS)
    # Several reports a day per service, and some days some services fall silent.
    assert len(vacancy) / len(services) / DAYS >= 3
    reported_days = defaultdict(set)
    for r in vacancy:
        reported_days[r["service_id"]].add(_utc(r["reported_at"]).date())
    assert any(len(d) < DAYS for d in reported_days.values())


def test_every_vacancy_row_passes_the_feed_rules(demo_files: tuple[list[dict[str, str]], list[dict[str, str]]]) -> None:
    vacancy, _ = demo_files
    upper_tier = _upper_tier_codes()
    keys = set()
    for r in vacancy:
        assert re.fullmatch(r"1-\d{9,10}", r["service_id"]), r
        assert r["service_type"] in SERVICE_TYPES and r["hwb_code"] in upper_tier and r["service_name"]
        cap, occ, acc, res = (int(r[k]) for k in ("capacity", "occupied", "vacant_accepting", "vacant_reserved"))
        assert min(cap, occ, acc, res) >= 0 and occ + acc + res <= cap, r
        home = SERVICE_TYPES[r["service_type"]] == 1
        assert (20 <= cap <= 150) if home else (10 <= cap <= 40), r
        assert r["reported_at"].endswith("Z") and _utc(r["reported_at"]).timestamp() <= NOW
        keys.add((r["service_id"], r["reported_at"]))
    assert len(keys) == len(vacancy)  # the natural key is unique
    assert any(int(r["vacant_reserved"]) > 0 for r in vacancy)
    assert any(int(r["capacity"]) - int(r["occupied"]) - int(r["vacant_accepting"]) - int(r["vacant_reserved"]) > 0
               for r in vacancy)  # some beds closed (unavailable)


def test_every_hub_case_row_passes_the_feed_rules(demo_files: tuple[list[dict[str, str]], list[dict[str, str]]]) -> None:
    vacancy, cases = demo_files
    service_hwb = {r["service_id"]: (r["hwb_code"], SERVICE_TYPES[r["service_type"]]) for r in vacancy}
    trusts = _trust_icbs()
    upper_tier = _upper_tier_codes()
    now = datetime.fromtimestamp(NOW, timezone.utc)
    times_seen = set()
    assert len({(c["hub_id"], c["case_id"]) for c in cases}) == len(cases)
    assert len({c["nhs_number"] for c in cases}) == len(cases)
    for c in cases:
        assert _mod11_ok(c["nhs_number"]) and c["nhs_number"].startswith("999"), c  # the test range
        assert 18 <= int(c["age"]) <= 120 and c["hwb_code"] in upper_tier and c["hwb_code"] in DEMO_HWBS
        assert c["acute_site_code"] in trusts
        t = {k: _utc(v) for k, v in c.items() if k.endswith("_at") and v}
        times_seen.update(k for k in t)
        assert all(v <= now for v in t.values()), c  # nothing from the future
        assert t["updated_at"] == max(v for k, v in t.items() if k != "admitted_at"), c
        if "pathway_decided_at" in t:
            assert t["referred_at"] <= t["pathway_decided_at"] and c["pathway"] in ("0", "1", "2", "3")
        else:
            assert not c["pathway"]
        if "discharged_at" in t:
            assert t["discharge_ready_at"] <= t["discharged_at"]
            assert t.get("admitted_at", t["discharged_at"]) <= t["discharged_at"]
            hwb, pathway = service_hwb[c["destination_service_id"]]
            assert str(pathway) == c["pathway"]
            # Home care is where the person lives; a bed may be elsewhere in the ICB.
            assert hwb == c["hwb_code"] if pathway == 1 else DEMO_HWBS[hwb] == DEMO_HWBS[c["hwb_code"]]
        if "ic_started_at" in t:
            assert t["discharged_at"] <= t["ic_started_at"]
        if "ic_ended_at" in t:
            assert t["ic_started_at"] <= t["ic_ended_at"] and c["ic_outcome"] in IC_OUTCOMES
        if "readmitted_at" in t:
            assert t["discharged_at"] <= t["readmitted_at"]
        if c["status_91d"]:
            assert c["status_91d"] in STATUS_91D and t["discharged_at"] + timedelta(days=91) <= now
        assert not c["delay_reason"] or c["delay_reason"] in DELAY_REASONS
        if "discharge_ready_at" in t and "discharged_at" not in t:
            assert c["delay_reason"], c  # everyone waiting has a reason
    assert {"status_91d", "readmitted_at", "ic_ended_at"} <= {k for k in HUB_HEADER if any(c[k] for c in cases)}


def test_full_p2_beds_cause_p2_bed_delays(demo_files: tuple[list[dict[str, str]], list[dict[str, str]]]) -> None:
    vacancy, cases = demo_files
    # Replay the reports in time order: an HWB's P2 is full on a London day if, at
    # some report, none of its P2 services had a bed accepting admissions.
    latest: dict[str, dict[str, int]] = defaultdict(dict)
    full_days: set[tuple[str, date]] = set()
    for r in sorted(vacancy, key=lambda r: r["reported_at"]):
        if SERVICE_TYPES[r["service_type"]] != 2:
            continue
        latest[r["hwb_code"]][r["service_id"]] = int(r["vacant_accepting"])
        if sum(latest[r["hwb_code"]].values()) == 0:
            full_days.add((r["hwb_code"], _utc(r["reported_at"]).astimezone(LONDON).date()))
    assert len(full_days) >= 5

    def waiting_days(c: dict[str, str]) -> set[date]:
        first = _utc(c["discharge_ready_at"]).astimezone(LONDON).date()
        last = (_utc(c["discharged_at"]) if c["discharged_at"] else datetime.fromtimestamp(NOW, timezone.utc))
        return {first + timedelta(days=i) for i in range((last.astimezone(LONDON).date() - first).days + 1)}

    p2_bed_days: set[tuple[str, date]] = set()
    p2_bed_waits = []
    for c in cases:
        if c["delay_reason"] == "P2_BED":
            days = waiting_days(c)
            p2_bed_days.update((c["hwb_code"], d) for d in days)
            p2_bed_waits.append((c["hwb_code"], days))
    with_delays = sum(key in p2_bed_days for key in full_days) / len(full_days)
    assert with_delays >= 0.7, with_delays
    # And the other way: people held for a P2 bed were held while their HWB's beds were full.
    during_full = sum(any((hwb, d) in full_days for d in days) for hwb, days in p2_bed_waits) / len(p2_bed_waits)
    assert during_full >= 0.9, during_full


def test_demo_command_writes_files_into_the_data_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_demo_command(days=3, seed=11) == 0
    folder = tmp_path / "data" / "demo"  # HOMEWARD_DATA_DIR is tmp_path/data in every test
    assert {p.name for p in folder.iterdir()} >= {"vacancy.csv", "hub_cases.csv", "state.json"}
    assert "vacancy.csv" in capsys.readouterr().out


def test_demo_and_ingest_off_a_terminal_print_plain_stage_lines_on_stderr(tmp_path: Path) -> None:
    """Not a tty: one plain line per stage on stderr, no bar; `ingest --json` stdout stays one JSON object."""
    project = Path(__file__).resolve().parents[2]
    env = {**os.environ, "HOMEWARD_DATA_DIR": str(tmp_path / "data")}
    env.pop("HOMEWARD_DB_URL", None)

    def app(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(project / "app.py"), *args], cwd=project, env=env,
                              capture_output=True, text=True, timeout=120, check=False)

    demo = app("demo", "--days", "3")
    assert demo.returncode == 0, demo.stderr
    lines = [line for line in demo.stderr.splitlines() if line.startswith("demo: ")]
    assert [line.split(" ")[1] for line in lines] == ["simulating", "writing", "writing", "writing"]
    assert lines[1:] == ["demo: writing vacancy.csv", "demo: writing hub_cases.csv", "demo: writing state.json"]
    assert "\r" not in demo.stderr and "%|" not in demo.stderr  # no tqdm bar off a terminal
    assert app("init").returncode == 0
    ingest = app("ingest", "vacancy", str(tmp_path / "data" / "demo" / "vacancy.csv"), "--json")
    assert json.loads(ingest.stdout)["feed"] == "vacancy"
    assert "ingest: opening the store" in ingest.stderr.splitlines()
    assert "ingest: reading and loading vacancy" in ingest.stderr.splitlines()


class ManualClock:
    """A clock the test moves by hand (POSIX seconds)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _get(url: str, etag: str | None = None) -> tuple[int, str, str]:
    request = urllib.request.Request(url, headers={"If-None-Match": etag} if etag else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["ETag"], response.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        if error.code == 304:
            return 304, error.headers["ETag"], ""
        raise


def test_live_feeds_over_http(tmp_path: Path) -> None:
    clock = ManualClock(NOW)
    feeds = start_live_feeds(tmp_path / "data", clock=clock)  # no state yet: a short history first
    try:
        assert (tmp_path / "data" / "demo" / "state.json").exists()
        assert feeds.urls["vacancy"].startswith(f"http://127.0.0.1:{feeds.port}/")
        status, etag, body = _get(feeds.urls["vacancy"])
        header, rows = _rows(body)
        assert status == 200 and header == VACANCY_HEADER and 50 <= len(rows) <= 75
        assert _get(feeds.urls["vacancy"], etag)[0] == 304  # nothing new at the same instant
        first_latest = max(_utc(r["reported_at"]) for r in rows)

        status, _, body = _get(feeds.urls["hub_cases"])
        header, cases = _rows(body)
        assert status == 200 and header == HUB_HEADER and cases
        day_ago = datetime.fromtimestamp(NOW - 86400, timezone.utc)
        assert all(_utc(c["updated_at"]) >= day_ago for c in cases)

        clock.now += 2 * 3600
        status, new_etag, body = _get(feeds.urls["vacancy"], etag)
        assert status == 200 and new_etag != etag
        assert max(_utc(r["reported_at"]) for r in _rows(body)[1]) > first_latest
        _, _, cases_later = _get(feeds.urls["hub_cases"])
        assert cases_later != hub_cases_csv([])
    finally:
        feeds.stop()
    # A restart continues the same world: same instant, same feed.
    again = start_live_feeds(tmp_path / "data", clock=clock)
    try:
        assert _get(again.urls["vacancy"])[2] == body
    finally:
        again.stop()
    assert _get_fails(feeds.urls["vacancy"])


def _get_fails(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2)
    except (urllib.error.URLError, ConnectionError):
        return True
    return False


@pytest.fixture(scope="module")
def winter_world() -> tuple[Simulation, float]:
    """120 days to 10 April, seed 7: December to April, the winter and the spring after it."""
    sim = Simulation(7, NOW - 120 * 86400.0)
    sim.advance_to(NOW)
    return sim, NOW


def test_demo_has_a_long_tail_winter_weekly_rhythm_and_skewed_ic_stays(winter_world: tuple[Simulation, float]) -> None:
    sim, now = winter_world
    day = 86400.0
    waits = sorted(max(0.0, ((c.discharged_at or now) - c.discharge_ready_at) / day)
                   for c in sim.cases if c.discharge_ready_at is not None and c.discharge_ready_at < now)
    assert sum(w >= 21 for w in waits) >= 20  # some people wait three weeks or more
    top = waits[-(len(waits) // 10):]
    assert sum(top) >= 0.40 * sum(waits)  # the top tenth of waits hold at least 40% of the lost days

    # Weekly rhythm: fewer discharges on a weekend day than on a weekday (whole days only).
    first = datetime.fromtimestamp(sim.start, LONDON).date() + timedelta(days=1)
    whole = [first + timedelta(days=i) for i in range(118)]
    per_day = defaultdict(int)
    for c in sim.cases:
        if c.discharged_at is not None:
            per_day[datetime.fromtimestamp(c.discharged_at, LONDON).date()] += 1
    weekend = [per_day[d] for d in whole if d.weekday() >= 5]
    weekday = [per_day[d] for d in whole if d.weekday() < 5]
    assert sum(weekend) / len(weekend) < 0.9 * sum(weekday) / len(weekday)

    # Winter pressure: more referrals a day in Dec-Feb than in March-April.
    referred = defaultdict(int)
    for c in sim.cases:
        d = datetime.fromtimestamp(c.referred_at, LONDON).date()
        if first <= d <= whole[-1]:
            referred["winter" if d.month in (12, 1, 2) else "spring"] += 1
    winter_days = sum(1 for d in whole if d.month in (12, 1, 2))
    assert referred["winter"] / winter_days > 1.05 * referred["spring"] / (len(whole) - winter_days)

    stays = [(c.ic_ended_at - c.ic_started_at) / day for c in sim.cases
             if c.ic_started_at is not None and c.ic_ended_at is not None]
    median = statistics.median(stays)
    assert 14 <= median <= 20
    assert statistics.quantiles(stays, n=10)[8] >= 1.5 * median
    assert any(s > 42 for s in stays)
