"""RAG levels: registry defaults, and a deployment's overrides per scope."""
from __future__ import annotations

from pathlib import Path

import pytest

from models.thresholds import ThresholdsError, deployment_thresholds, rag, thresholds_for, validate


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "thresholds.toml"
    path.write_text(
        '[defaults.nctr_count]\ngreen = 50\nred = 100\n\n'
        '[scope.QWO.nctr_count]\ngreen = 80\nred = 120\n\n'
        '[scope."E08000035".nctr_count]\ngreen = 20\nred = 30\n')
    monkeypatch.setenv("HOMEWARD_THRESHOLDS", str(path))
    return path


def test_registry_default_down_metric(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOMEWARD_THRESHOLDS", str(tmp_path / "absent.toml"))
    # mean_delay_days: lower is better, green <= 2, red >= 5
    assert [rag("mean_delay_days", v) for v in (2.0, 2.1, 4.9, 5.0)] == ["green", "amber", "amber", "red"]
    # home_91d_rate: higher is better, green >= 0.82, red <= 0.75
    assert [rag("home_91d_rate", v) for v in (0.82, 0.8, 0.75)] == ["green", "amber", "red"]
    assert rag("mean_delay_days", None) is None
    assert rag("nctr_count", 500) is None  # a count without a deployment threshold has no level


def test_scope_overrides_most_specific_first(config: Path) -> None:
    assert rag("nctr_count", 60) == "amber"  # defaults 50 / 100
    assert rag("nctr_count", 60, ["QWO"]) == "green"  # ICB 80 / 120
    assert rag("nctr_count", 60, ["E08000035", "QWO"]) == "red"  # Leeds 20 / 30 beats the ICB
    assert rag("nctr_count", 60, ["qwo"]) == "green"  # codes in any case
    qnx = thresholds_for("nctr_count", ["QNX"])
    assert qnx is not None and qnx.green == 50


def test_bad_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[defaults.beds_magic]\ngreen = 1\nred = 2\n")
    monkeypatch.setenv("HOMEWARD_THRESHOLDS", str(path))
    with pytest.raises(ThresholdsError, match="beds_magic"):
        validate()


def test_shipped_file_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOMEWARD_THRESHOLDS", raising=False)
    validate()
    assert thresholds_for("nctr_count", ["QWO"]) is not None


def test_deployment_thresholds_are_listed_for_the_definitions_page(config: Path) -> None:
    from models.metrics import Thresholds

    assert deployment_thresholds("nctr_count") == [
        (None, Thresholds(50, 100)), ("E08000035", Thresholds(20, 30)), ("QWO", Thresholds(80, 120))]
    assert deployment_thresholds("mean_delay_days") == []
