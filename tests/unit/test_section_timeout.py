"""A page section stopped at the request's time limit logs one line (no traceback) and says so on the page."""
from __future__ import annotations

import logging

import pytest

from dashboard.components.common import guarded
from models.deadline import QueryTimeout


def test_a_timed_out_section_logs_one_line_and_says_why(caplog: pytest.LogCaptureFixture,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOMEWARD_QUERY_TIMEOUT_SECONDS", "5")

    def slow() -> None:
        raise QueryTimeout("the store work of this request took longer than its time limit")

    with caplog.at_level(logging.INFO):
        shown = guarded(slow, "Flow chart")
    assert [(r.levelno, r.exc_info) for r in caplog.records] == [(logging.WARNING, None)]
    assert "\n" not in caplog.records[0].getMessage()
    assert "Flow chart took longer than the time limit (5 seconds)" in str(shown)
