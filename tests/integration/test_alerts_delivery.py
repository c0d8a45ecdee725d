"""Alerts end to end on a real store, a real SMTP server (STARTTLS + login) and a real HTTP receiver.

The store holds tests/metric_fixture.py. Bradford (E08000032) has two people waiting at 10 March 12:00
London (C ready 4 March, D ready 6 March) and one on 20 March (C went home 14 March): a rule `above = 1.5`
fires on the first and resolves on the second.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import Iterator

import pytest
import sqlalchemy as sa

from alerts.delivery import deliver_due
from alerts.rules import load_config
from alerts.states import evaluate, load_instances
from models import db
from models.query import parse_time
from models.tables import alert_notification, ingest_run
from tests import metric_fixture
from tests.alerts_parts import Receiver, SmtpServer
from tests.metric_fixture import BRADFORD, L

ROOT = Path(__file__).resolve().parents[2]
KEY = f"bradford_waits|hwb:{BRADFORD}"


def at(text: str) -> datetime:
    return parse_time("at", text)


@pytest.fixture
def smtp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpServer]:
    server = SmtpServer(tmp_path).start()
    monkeypatch.setenv("HOMEWARD_SMTP_URL", server.url)
    monkeypatch.setenv("HOMEWARD_SMTP_SENDER", "homeward@test.nhs.uk")
    monkeypatch.setenv("SSL_CERT_FILE", str(server.cert))  # the test's own CA: the client still verifies
    yield server
    server.stop()


def write_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: str = "", webhook: str = "") -> Path:
    path = tmp_path / "alerts.toml"
    path.write_text(f"""
link_base = "https://homeward.test"
feed_channels = []

[channels.bureau]
type = "email"
to = ["bed.bureau@nhs.net", "duty.manager@nhs.net"]

[[rule]]
name = "bradford_waits"
metric = "nctr_count"
scope = "hwb:{BRADFORD}"
above = 1.5
for_minutes = 10
channels = ["bureau"]
{extra}
""")
    monkeypatch.setenv("HOMEWARD_ALERTS", str(path))
    return path


@pytest.fixture
def fixture_store(store: sa.Engine) -> sa.Engine:
    metric_fixture.load(store)
    return store


def screenshot(page: str, name: str) -> Path:
    """The HTML email as headless Chromium draws it, into tests/artifacts/ (to look at)."""
    folder = ROOT / "tests" / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    html_path, shot = folder / f"{name}.html", folder / f"{name}.png"
    html_path.write_text(page)
    shot.unlink(missing_ok=True)
    subprocess.run(["/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--screenshot={shot}", "--window-size=900,320", html_path.as_uri()],
                   check=True, capture_output=True, timeout=60)
    return shot


def states(engine: sa.Engine) -> dict[str, str]:
    return {k: i.state for k, i in load_instances(engine).items()}


def test_pending_firing_one_email_resolved_one_email(fixture_store: sa.Engine, smtp: SmtpServer, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    write_rules(tmp_path, monkeypatch)
    config = load_config()
    steps = [("2024-03-10T12:00", "pending"), ("2024-03-10T12:05", "pending"), ("2024-03-10T12:10", "firing"),
             ("2024-03-10T12:11", "firing"), ("2024-03-11T11:00", "firing"), ("2024-03-20T12:00", "resolved"),
             ("2024-03-20T12:01", "resolved")]
    sent_after: list[int] = []
    for when, expected in steps:
        evaluate(fixture_store, config, at(when))
        deliver_due(fixture_store, config, at(when))
        assert states(fixture_store)[KEY] == expected, when
        sent_after.append(len(smtp.box.messages))
    # one email when it fired (12:10), none while it stayed firing inside 24 hours, one when it resolved
    assert sent_after == [0, 0, 1, 1, 1, 2, 2]
    assert smtp.box.logins == [smtp.box.logins[0]] * 2  # logged in, over TLS, for each message
    fired, resolved = smtp.box.messages
    assert fired["Subject"] == "[Homeward] FIRING: bradford_waits (1 scope)"
    assert fired["To"] == "bed.bureau@nhs.net, duty.manager@nhs.net"
    assert resolved["Subject"] == "[Homeward] RESOLVED: bradford_waits (1 scope)"
    text = fired.get_payload()[0].get_payload(decode=True).decode()
    page = fired.get_payload()[1].get_payload(decode=True).decode()
    # value 2 (C and D), threshold 1.5, scope, since 12:10 London, link to the filtered page
    assert f"FIRING · Bradford (hwb:{BRADFORD}) · value 2 (threshold 1.5) · since Sun 10 Mar 2024 12:10" in text
    assert f"https://homeward.test/delays?hwb={BRADFORD}" in text and f"/delays?hwb={BRADFORD}" in page
    shot = screenshot(page, "alert-email")
    assert shot.stat().st_size > 5_000
    rtext = resolved.get_payload()[0].get_payload(decode=True).decode()
    assert "RESOLVED · Bradford (hwb:E08000032) · value 1 (threshold 1.5) · since Wed 20 Mar 2024 12:00" in rtext
    for message in (text, page, rtext):  # aggregates only: no case, person or hub identifiers
        assert not any(word in message for word in ("p-C", "p-D", "HUB1", "case"))
    with fixture_store.connect() as conn:
        rows = conn.execute(sa.select(alert_notification.c.kind, alert_notification.c.status,
                                      alert_notification.c.recipients).order_by(alert_notification.c.created_at)).all()
    assert [tuple(r) for r in rows] == [("firing", "sent", "bed.bureau@nhs.net, duty.manager@nhs.net"),
                                        ("resolved", "sent", "bed.bureau@nhs.net, duty.manager@nhs.net")]


def test_repeat_after_repeat_hours(fixture_store: sa.Engine, smtp: SmtpServer, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    write_rules(tmp_path, monkeypatch)
    config = load_config()
    for when in ("2024-03-10T12:00", "2024-03-10T12:10", "2024-03-11T12:09", "2024-03-11T12:10",
                 "2024-03-11T12:30"):
        evaluate(fixture_store, config, at(when))
        deliver_due(fixture_store, config, at(when))
    # fired 12:10 on the 10th; 24 hours later (12:10 on the 11th) once more, not at 12:09 nor again at 12:30
    assert [m["Subject"] for m in smtp.box.messages] == ["[Homeward] FIRING: bradford_waits (1 scope)"] * 2
    assert "STILL FIRING" in smtp.box.messages[1].get_payload()[0].get_payload(decode=True).decode()


def test_no_duplicate_after_restart_in_a_new_process(duck_store: sa.Engine, smtp: SmtpServer, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    metric_fixture.load(duck_store)
    write_rules(tmp_path, monkeypatch)
    config = load_config()
    for when in ("2024-03-10T12:00", "2024-03-10T12:10"):
        evaluate(duck_store, config, at(when))
        deliver_due(duck_store, config, at(when))
    assert len(smtp.box.messages) == 1
    db.dispose_all()  # DuckDB: one process holds the file; the "restarted scheduler" is a new process

    def check(when: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "app.py", "alerts", "check", "--at", when], cwd=ROOT, env=os.environ,
                              capture_output=True, text=True, timeout=120)

    done = check("2024-03-10T12:12")
    assert done.returncode == 0, done.stderr
    line = next(li for li in done.stdout.splitlines() if li.startswith("bradford_waits"))
    assert line.split()[:5] == ["bradford_waits", f"hwb:{BRADFORD}", "firing", "2", "1.5"]
    assert len(smtp.box.messages) == 1  # the new process found it firing and told nobody again
    done = check("2024-03-20T12:00")
    assert done.returncode == 0 and "notification bradford_waits via bureau: sent" in done.stdout
    assert [m["Subject"].split(":")[0] for m in smtp.box.messages] == ["[Homeward] FIRING", "[Homeward] RESOLVED"]


def test_two_workers_at_once_send_one_copy(fixture_store: sa.Engine, smtp: SmtpServer, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Two evaluators and two senders racing over the same store (as gunicorn workers would): one email."""
    write_rules(tmp_path, monkeypatch)
    config = load_config()
    evaluate(fixture_store, config, at("2024-03-10T12:00"))
    barrier = threading.Barrier(2)

    def worker() -> None:
        barrier.wait()
        evaluate(fixture_store, config, at("2024-03-10T12:10"))
        deliver_due(fixture_store, config, at("2024-03-10T12:10"))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(smtp.box.messages) == 1
    with fixture_store.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(alert_notification)).scalar_one() == 1


def test_webhook_fails_twice_then_succeeds(fixture_store: sa.Engine, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    receiver = Receiver([500, 503]).start()
    try:
        path = write_rules(tmp_path, monkeypatch)
        path.write_text(path.read_text().replace('channels = ["bureau"]', 'channels = ["teams"]') + f"""
[channels.teams]
type = "webhook"
url = "{receiver.url}"
format = "teams"
retries = 3
backoff_seconds = 0.05
""")
        config = load_config()
        for when in ("2024-03-10T12:00", "2024-03-10T12:10"):
            evaluate(fixture_store, config, at(when))
            report = deliver_due(fixture_store, config, at(when))
        assert receiver.answers == [500, 503, 200]
        assert report == [{"rule": "bradford_waits", "channel": "teams", "status": "sent", "to": receiver.url[7:-5],
                           "notifications": 1}]
        card = receiver.bodies[-1]["attachments"][0]
        assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
        texts = [b["text"] for b in card["content"]["body"]]
        assert texts[0] == "[Homeward] FIRING: bradford_waits (1 scope)"
        assert texts[1] == f"Rule: No longer meet criteria to reside in hwb:{BRADFORD} is above 1.5 for 10 minutes"
        assert texts[2].startswith(f"FIRING · Bradford (hwb:{BRADFORD}) · value 2 (threshold 1.5)")
    finally:
        receiver.stop()


def test_webhook_down_is_recorded_and_retried_later(fixture_store: sa.Engine, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    receiver = Receiver([500, 500, 500]).start()
    try:
        path = write_rules(tmp_path, monkeypatch)
        path.write_text(path.read_text().replace('channels = ["bureau"]', 'channels = ["hook"]') + f"""
[channels.hook]
type = "webhook"
url = "{receiver.url}"
retries = 3
backoff_seconds = 0.01
""")
        config = load_config()
        for when in ("2024-03-10T12:00", "2024-03-10T12:10"):
            evaluate(fixture_store, config, at(when))
            deliver_due(fixture_store, config, at(when))
        n = alert_notification.c
        with fixture_store.connect() as conn:
            row = conn.execute(sa.select(n.status, n.attempts, n.error, n.next_attempt_at)).one()
        assert (row.status, row.attempts) == ("failed", 1) and "HTTP 500 after 3 tries" in row.error
        assert row.next_attempt_at == L("2024-03-10 12:11")  # a minute's back-off after the first failure
        assert deliver_due(fixture_store, config, at("2024-03-10T12:10:30")) == []  # not yet
        report = deliver_due(fixture_store, config, at("2024-03-10T12:11"))
        assert [r["status"] for r in report] == ["sent"] and receiver.answers == [500, 500, 500, 200]
        body = receiver.bodies[-1]
        assert body["rule"] == "bradford_waits" and body["notifications"][0]["value"] == 2
        assert body["notifications"][0]["threshold"] == 1.5 and body["notifications"][0]["kind"] == "firing"
    finally:
        receiver.stop()


def test_no_data_metric_is_no_data_not_ok(fixture_store: sa.Engine, smtp: SmtpServer, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """occupancy_rate has no value when no service reports (nothing before 30 March in the fixture)."""
    write_rules(tmp_path, monkeypatch, extra="""
[[rule]]
name = "occupancy_high"
metric = "occupancy_rate"
scope = "national"
above = 0.5
channels = ["bureau"]
""")
    config = load_config()

    def check(when: str) -> None:
        evaluate(fixture_store, config, at(when))
        deliver_due(fixture_store, config, at(when))

    check("2024-03-10T12:00")
    inst = load_instances(fixture_store)["occupancy_high|national"]
    assert (inst.state, inst.value, inst.threshold) == ("no_data", None, 0.5)
    check("2024-03-10T12:05")  # still without data: told once on entering, never again while it lasts
    check("2024-03-11T12:05")
    # 1 April 12:00 London, reports within 24 hours: S1 09:00 (42 of 42+3+1), S2 31 March 12:30 (18 of 18+0+1),
    # S4 10:00 (30 of 30+4+2); S3's is older → (42+18+30) / (46+19+36) = 90 / 101
    check("2024-04-01T12:00")
    inst = load_instances(fixture_store)["occupancy_high|national"]
    assert inst.state == "firing" and inst.value == pytest.approx(90 / 101)
    # 5 April: every report is older than 24 hours: without data again, told again (a new entry)
    check("2024-04-05T12:00")
    check("2024-04-05T12:30")
    assert load_instances(fixture_store)["occupancy_high|national"].state == "no_data"
    told = [m for m in smtp.box.messages if "occupancy_high" in m["Subject"]]  # (bradford_waits fires meanwhile)
    assert [m["Subject"] for m in told] == [
        "[Homeward] NO DATA: occupancy_high (1 scope)", "[Homeward] FIRING: occupancy_high (1 scope)",
        "[Homeward] NO DATA: occupancy_high (1 scope)"]
    text = told[0].get_payload()[0].get_payload(decode=True).decode()
    assert ("NO DATA · England · no value: the metric has no data for this scope (threshold 50.0%) · "
            "since Sun 10 Mar 2024 12:00") in text
    page = told[0].get_payload()[1].get_payload(decode=True).decode()
    assert "NO DATA: Occupancy" in page and "no value: the metric has no data for this scope" in page


def test_no_data_in_the_check_command_output(duck_store: sa.Engine, smtp: SmtpServer, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    metric_fixture.load(duck_store)
    write_rules(tmp_path, monkeypatch, extra="""
[[rule]]
name = "occupancy_high"
metric = "occupancy_rate"
scope = "national"
above = 0.5
channels = ["bureau"]
""")
    db.dispose_all()  # the command is another process on the same DuckDB file
    done = subprocess.run([sys.executable, "app.py", "alerts", "check", "--at", "2024-03-10T12:00"], cwd=ROOT,
                          env=os.environ, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    line = next(li for li in done.stdout.splitlines() if li.startswith("occupancy_high"))
    assert line.split()[:5] == ["occupancy_high", "national", "no_data", "-", "0.5"]
    assert line.endswith("no value: the metric has no data for this scope")
    assert "notification occupancy_high via bureau: sent" in done.stdout
    assert [m["Subject"] for m in smtp.box.messages] == ["[Homeward] NO DATA: occupancy_high (1 scope)"]


def test_stale_feed_alerts_with_no_rule(fixture_store: sa.Engine, smtp: SmtpServer, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "alerts.toml"
    path.write_text('[channels.ops]\ntype = "email"\nto = ["ops@nhs.net"]\n')
    monkeypatch.setenv("HOMEWARD_ALERTS", str(path))
    with fixture_store.begin() as conn:
        conn.execute(ingest_run.insert(), [
            dict(run_id=1, feed="vacancy", source="x", started_at=L("2024-04-01 09:00"),
                 finished_at=L("2024-04-01 09:00"), status="ok"),
            dict(run_id=2, feed="hub_cases", source="x", started_at=L("2024-04-01 11:00"),
                 finished_at=L("2024-04-01 11:00"), status="ok")])
    config = load_config()
    evaluate(fixture_store, config, at("2024-04-01T12:00"))
    deliver_due(fixture_store, config, at("2024-04-01T12:00"))
    found = {k: (i.state, i.value, i.threshold) for k, i in load_instances(fixture_store).items()}
    # vacancy last loaded 3 hours ago, over its 2-hour limit; hub cases 1 hour ago
    assert found == {"feed_stale|feed:vacancy": ("firing", 3.0, 2.0), "feed_stale|feed:hub_cases": ("ok", 1.0, 2.0)}
    assert [m["Subject"] for m in smtp.box.messages] == ["[Homeward] FIRING: feed_stale (1 scope)"]
    assert "feed vacancy · value 3.0 hours (threshold 2.0 hours)" in \
        smtp.box.messages[0].get_payload()[0].get_payload(decode=True).decode()


def test_bad_rules_file_exits_2_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "alerts.toml"
    env = {**os.environ, "HOMEWARD_ALERTS": str(bad)}
    bad.write_text('[[rule]]\nname = "x"\nmetric = nctr_count\n')
    done = subprocess.run([sys.executable, "app.py", "alerts", "check"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and f"{bad}:3:" in done.stderr
    bad.write_text('[channels.a]\ntype = "email"\nto = ["a@nhs.net"]\n\n[[rule]]\nname = "ok"\nmetric = "nctr_count"\n'
                   'above = 1\n\n[[rule]]\nname = "typo"\nmetric = "nctr_cuont"\nabove = 1\n')
    done = subprocess.run([sys.executable, "app.py", "alerts", "check"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and f"{bad}:10: rule 'typo': unknown metric 'nctr_cuont'" in done.stderr
