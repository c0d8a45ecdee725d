"""The demo world written as the two feeds' CSV files, exactly as feeds.md lays them out.

Vacancy times are written in UTC with `Z` (as the Capacity Tracker's API
gives them); hub case times as naive Europe/London local time (as NHS case
management extracts give them). The spec accepts both, and the demo uses
both so that the ingest road is exercised on both.
"""
from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from typing import Iterable

from ingest.demo_sim import LONDON, Case, Report

VACANCY_COLUMNS = (
    "service_id", "service_name", "provider_name", "service_type", "hwb_code",
    "capacity", "occupied", "vacant_accepting", "vacant_reserved", "reported_at",
)
HUB_CASES_COLUMNS = (
    "hub_id", "case_id", "nhs_number", "age", "hwb_code", "acute_site_code", "admitted_at",
    "referred_at", "discharge_ready_at", "pathway", "pathway_decided_at", "delay_reason",
    "discharged_at", "destination_service_id", "ic_started_at", "ic_ended_at", "ic_outcome",
    "readmitted_at", "status_91d", "updated_at",
)
_CASE_TIMES = frozenset(c for c in HUB_CASES_COLUMNS if c.endswith("_at"))


def utc_z(ts: float) -> str:
    # Whole seconds, truncated: truncation keeps every order between times.
    return datetime.fromtimestamp(int(ts), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def london_naive(ts: float) -> str:
    return datetime.fromtimestamp(int(ts), LONDON).strftime("%Y-%m-%dT%H:%M:%S")


def vacancy_row(report: Report) -> list[str]:
    s = report.service
    return [s.service_id, s.service_name, s.provider_name, s.service_type, s.hwb_code,
            str(s.capacity), str(report.occupied), str(report.vacant_accepting),
            str(report.vacant_reserved), utc_z(report.reported_at)]


def hub_case_row(case: Case) -> list[str]:
    row = []
    for column in HUB_CASES_COLUMNS:
        value = getattr(case, column)
        if value is None:
            row.append("")
        elif column in _CASE_TIMES:
            row.append(london_naive(value))
        else:
            row.append(str(value))
    return row


def to_csv(columns: tuple[str, ...], rows: Iterable[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue()


def vacancy_csv(reports: Iterable[Report]) -> str:
    return to_csv(VACANCY_COLUMNS, (vacancy_row(r) for r in reports))


def hub_cases_csv(cases: Iterable[Case]) -> str:
    return to_csv(HUB_CASES_COLUMNS, (hub_case_row(c) for c in cases))
