"""The rules file and the state machine, without a store."""
from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from alerts.rules import AlertsConfigError, load_config, parse_scope
from alerts.states import Observation, step

T0 = datetime(2024, 3, 10, 12, 0)


def obs(breached: bool | None, value: float | None = 5, for_minutes: float = 10, repeat_hours: float = 24
        ) -> Observation:
    return Observation(rule="r", scope="national", value=value, threshold=4, breached=breached,
                       for_minutes=for_minutes, repeat_hours=repeat_hours, channels=("c",))


def test_states_ok_pending_firing_resolved_and_no_data() -> None:
    inst, due = step(None, obs(False), T0)
    assert (inst.state, due) == ("ok", [])
    inst, due = step(inst, obs(True), T0 + timedelta(minutes=1))
    assert (inst.state, inst.pending_since, due) == ("pending", T0 + timedelta(minutes=1), [])
    inst, due = step(inst, obs(True), T0 + timedelta(minutes=10, seconds=59))
    assert (inst.state, due) == ("pending", [])  # 9 min 59 s of the 10
    inst, due = step(inst, obs(True), T0 + timedelta(minutes=11))
    assert (inst.state, inst.episode, inst.since, due) == ("firing", 1, T0 + timedelta(minutes=11), ["firing"])
    inst, due = step(inst, obs(True), T0 + timedelta(minutes=12))
    assert (inst.state, inst.since, due) == ("firing", T0 + timedelta(minutes=11), [])
    inst, due = step(inst, obs(False), T0 + timedelta(minutes=30))
    assert (inst.state, inst.resolved_at, due) == ("resolved", T0 + timedelta(minutes=30), ["resolved"])
    inst, due = step(inst, obs(None, value=None), T0 + timedelta(minutes=31))
    # told once on entering no_data (Grafana's default), keyed by when: it may come back in the same episode
    assert (inst.state, inst.value, due) == ("no_data", None, ["no_data-2024-03-10T12:31"])
    inst, due = step(inst, obs(None, value=None), T0 + timedelta(minutes=31, seconds=30))
    assert (inst.state, due) == ("no_data", [])  # never repeated while it lasts
    inst, due = step(inst, obs(True, for_minutes=0), T0 + timedelta(minutes=32))
    assert (inst.state, inst.episode, due) == ("firing", 2, ["firing"])  # no wait: fires at once, a new episode


def test_pending_that_clears_goes_back_to_ok_without_a_message() -> None:
    inst, _ = step(None, obs(True), T0)
    inst, due = step(inst, obs(False), T0 + timedelta(minutes=5))
    assert (inst.state, inst.pending_since, due) == ("ok", None, [])


def test_repeat_keys_count_the_periods_since_it_fired() -> None:
    inst, _ = step(None, obs(True, for_minutes=0, repeat_hours=2), T0)
    inst = inst.__class__(**{**inst.__dict__, "last_notified_at": T0})
    _, due = step(inst, obs(True, repeat_hours=2), T0 + timedelta(hours=1, minutes=59))
    assert due == []
    _, due = step(inst, obs(True, repeat_hours=2), T0 + timedelta(hours=2))
    assert due == ["repeat-1"]


def test_scopes() -> None:
    assert parse_scope("national").where == {}
    s = parse_scope("icb:qwo, hwb:E08000035,hwb:E08000032")
    # read by models.access.parse_scope: codes upper-cased and sorted (one canonical form for a scope)
    assert s.where == {"icb": ("QWO",), "hwb": ("E08000032", "E08000035")}
    assert s.codes == ("E08000032", "E08000035", "QWO")  # most specific first, as thresholds take them
    with pytest.raises(ValueError):
        parse_scope("region:Y63")


@pytest.mark.parametrize("body, line, words", [
    ('[[rule]]\nname = "a"\nmetric = "nctr_count"\nabove = 1\nbelow = 2\n', 1, "exactly one condition"),
    ('\n\n[[rule]]\nname = "a"\nmetric = "nctr_count"\nscope = "trust:RR8"\nabove = 1\n', 3, "scope 'trust:RR8'"),
    ('[[rule]]\nname = "a"\nmetric = "nctr_count"\nabove = 1\nchannels = ["nope"]\n', 1, "unknown channel 'nope'"),
    ('[[rule]]\nname = "a"\nmetric = "occupancy_rate"\nper = "hwb"\nabove = "high"\n', 1, "`above` must be a number"),
    ('[channels.x]\ntype = "sms"\n', 1, "`type` must be one of email, webhook"),
    ('[channels.x]\ntype = "email"\nto = ["a@nhs.net"]\n\n[[digest]]\nname = "d"\ncron = "bad"\nchannel = "x"\n', 5,
     "digest 'd'"),
])
def test_a_mistake_names_the_file_and_line(tmp_path: Path, body: str, line: int, words: str) -> None:
    path = tmp_path / "alerts.toml"
    path.write_text(body)
    with pytest.raises(AlertsConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path}:{line}:") and words in str(err.value)


def test_example_file_parses_and_reads_in_words() -> None:
    config = load_config(Path(__file__).resolve().parents[2] / "alerts.toml")
    assert config.rules and config.digests
    assert config.rules[0].describe() == (
        "leeds_nctr_high: No longer meet criteria to reside in hwb:E08000035 is above 30 for 15 minutes; "
        "tell bed_bureau, again every 24 hours while it lasts.")
