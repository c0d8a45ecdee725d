"""Every setting is declared once, documented in the README, and has help (after datasette)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from models.settings import ACCESSORS, SETTINGS

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_has_help_and_an_accessor() -> None:
    for setting in SETTINGS:
        assert len(setting.help) > 20, setting.name
        assert setting.default, setting.name
        assert setting.name in ACCESSORS, setting.name


def test_readme_documents_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    for setting in SETTINGS:
        assert f"| `{setting.name}` |" in readme, f"{setting.name} missing from the README's configuration table"


def test_code_uses_only_declared_settings() -> None:
    declared = {s.name for s in SETTINGS}
    used: set[str] = set()
    for folder in ("models", "ingest", "dashboard", "app.py"):
        for path in ([ROOT / folder] if folder.endswith(".py") else (ROOT / folder).rglob("*.py")):
            used |= set(re.findall(r"\bHOMEWARD_[A-Z_]+\b", path.read_text()))
    assert used - declared == set(), f"undeclared settings used in code: {sorted(used - declared)}"


def test_data_dir_default_and_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from models import settings

    monkeypatch.delenv("HOMEWARD_DATA_DIR", raising=False)
    monkeypatch.delenv("HOMEWARD_DB_URL", raising=False)
    assert settings.data_dir() == ROOT / "data"
    assert settings.db_url() == f"duckdb:///{ROOT / 'data' / 'homeward.duckdb'}"
    monkeypatch.setenv("HOMEWARD_DATA_DIR", str(tmp_path))
    assert settings.db_url() == f"duckdb:///{tmp_path / 'homeward.duckdb'}"
