"""The morning digest on tests/metric_fixture.py: figures worked by hand and equal to the metrics layer's,
sent through a real SMTP server, and its HTML looked at in headless Chromium."""
from __future__ import annotations

import base64
import os
import subprocess
import sys
from email import message_from_bytes
from pathlib import Path
from typing import Iterator

import pytest
import sqlalchemy as sa

from alerts import digest as dg
from alerts.rules import load_config
from models.query import MetricQuery, parse_time, run_query
from tests import metric_fixture
from tests.alerts_parts import SmtpServer
from tests.metric_fixture import BRADFORD

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
AT = "2024-04-01T12:00"  # London; "yesterday" is Sunday 31 March, the same weekday last week Sunday 24 March


@pytest.fixture
def store_with_digest(duck_store: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[sa.Engine]:
    metric_fixture.load(duck_store)
    path = tmp_path / "alerts.toml"
    path.write_text("""
feed_channels = []
[channels.execs]
type = "email"
to = ["execs@nhs.net"]

[[digest]]
name = "morning"
cron = "30 7 * * *"
scope = "national"
recipients = ["ceo@nhs.net", "coo@nhs.net"]
channel = "execs"
""")
    monkeypatch.setenv("HOMEWARD_ALERTS", str(path))
    yield duck_store


def test_digest_figures_by_hand_and_as_the_metrics_layer(store_with_digest: sa.Engine) -> None:
    at = parse_time("at", AT)
    digest = load_config().digests[0]
    f = dg.figures(store_with_digest, digest, at)
    # Discharged on 31 March (London): E (pathway 3). G left at 00:30 BST on 1 April. Nobody on 24 March.
    assert f.discharges == {"0": (0, 0), "1": (0, 0), "2": (0, 0), "3": (1, 0)}
    assert f.discharges_total == (1, 1)  # 1 yesterday, +1 on the Sunday before
    # Waiting at 12:00 on 1 April: D only (ready 6 March, never discharged); a week before, D as well → change 0
    assert f.nctr == (1, 0)
    # D has waited 26 whole days (6 March → 1 April); on 25 March 19 → 21+ goes 0 → 1
    assert f.over_21d == (1, 1)
    # P1 vacant: S1's 09:00 report, 3 accepting (S5 reports from 2 April); P2: S2 has 0, S3's report is over 24 h old
    # a week before (25 March) no service had reported yet: the layer's sum over none is 0, so +3 and no change
    assert (f.p1_vacant, f.p2_vacant) == ((3, 3), (0, 0))
    # D waits in Bradford (population 542,128): 1 × 100,000 / 542,128
    assert [(t.code, t.waiting, t.population) for t in f.top_hwbs] == [(BRADFORD, 1, 542_128)]
    assert f.top_hwbs[0].per_100k == pytest.approx(100_000 / 542_128)
    assert f.alerts == [] and f.stale == ["vacancy", "hub_cases"]  # the fixture has no ingest runs
    # the same questions asked of the metrics layer directly
    one = lambda m, **kw: run_query(store_with_digest, MetricQuery(metric=m, at=at, **kw)).rows  # noqa: E731
    assert one("nctr_count")[0]["value"] == f.nctr[0]
    assert one("nctr_over_21d")[0]["value"] == f.over_21d[0]
    assert one("vacant_accepting", where={"pathway": ("1",)})[0]["value"] == f.p1_vacant[0]
    from models.geography import get_geography
    from models.population import per_100k

    by_hwb = run_query(store_with_digest, MetricQuery(metric="nctr_count", at=at, by=("hwb",)))
    assert per_100k(by_hwb, get_geography(store_with_digest))[0]["value"] == f.top_hwbs[0].per_100k
    from datetime import date

    assert one("discharges", from_=date(2024, 3, 31), to=date(2024, 4, 1), by=("pathway",)) == [
        {"pathway": 3, "value": 1, "numerator": None, "denominator": None}]
    # end of 30 March: D and E (ready 12:00 that day); end of 31 March: D and G (ready 20:00); 1 April so far: D
    assert [r["value"] for r in f.chart_rows][-3:] == [2, 2, 1]


def test_digest_email_sent_and_looked_at(store_with_digest: sa.Engine, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    smtp = SmtpServer(tmp_path).start()
    try:
        monkeypatch.setenv("HOMEWARD_SMTP_URL", smtp.url)
        monkeypatch.setenv("SSL_CERT_FILE", str(smtp.cert))
        told = dg.send(store_with_digest, "morning", parse_time("at", AT), once_a_day=True)
        again = dg.send(store_with_digest, "morning", parse_time("at", "2024-04-01T12:05"), once_a_day=True)
    finally:
        smtp.stop()
    assert (told, again) == ("ceo@nhs.net, coo@nhs.net", "already sent today")
    (msg,) = smtp.box.messages
    assert msg["Subject"] == "Homeward morning digest: All areas in the store, Mon 01 Apr 2024"
    parts = {p.get_content_type(): p for p in msg.walk()}
    text = parts["text/plain"].get_payload(decode=True).decode()
    assert "People waiting to leave hospital (NCTR): 1, no change vs a week ago" in text
    assert "Of them, waiting 21 days or more: 1, +1 vs a week ago (worse)" in text
    assert "P1 home care slots free now: 3, +3 vs a week ago (better)" in text and "  Pathway 3: 1, +1 (better)" in text
    assert "  1. Bradford: 0.2 per 100,000 (1 waiting, population 542,128)" in text
    png = parts["image/png"].get_payload(decode=True)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    # the HTML as a mail client shows it: the cid: image inlined, rendered by headless Chromium
    page = parts["text/html"].get_payload(decode=True).decode().replace(
        f"cid:{dg.CHART_CID}", "data:image/png;base64," + base64.b64encode(png).decode())
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    html_path = ARTIFACTS / "digest-email.html"
    html_path.write_text(page)
    shot = ARTIFACTS / "digest-email.png"
    shot.unlink(missing_ok=True)
    subprocess.run([dg.CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--screenshot={shot}", "--window-size=700,1000", html_path.as_uri()],
                   check=True, capture_output=True, timeout=60)
    assert shot.exists() and shot.stat().st_size > 10_000


def test_digest_dry_run_writes_the_email(store_with_digest: sa.Engine, tmp_path: Path) -> None:
    from models import db

    db.dispose_all()  # the command is another process on the same DuckDB file
    done = subprocess.run([sys.executable, "app.py", "digest", "send", "morning", "--at", AT, "--dry-run"], cwd=ROOT,
                          env=os.environ, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    path = Path(done.stdout.strip())
    assert path.suffix == ".eml" and path.parent == Path(os.environ["HOMEWARD_DATA_DIR"]) / "digests"
    msg = message_from_bytes(path.read_bytes())
    assert msg["To"] == "ceo@nhs.net, coo@nhs.net"
    assert sorted(p.get_content_type() for p in msg.walk() if not p.is_multipart()) == [
        "image/png", "text/html", "text/plain"]
    done = subprocess.run([sys.executable, "app.py", "digest", "send", "nightly"], cwd=ROOT, env=os.environ,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "no digest named 'nightly'" in done.stderr
