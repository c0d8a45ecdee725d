"""Words for codes, as people in care transfer hubs say them (presentation only)."""
from __future__ import annotations

from typing import Final

from models.vocab import (
    ACUTE_SITREP_FEED,
    COMMUNITY_SITREP_FEED,
    HUB_CASES_FEED,
    REFERENCE_FEED,
    SERVICE_TYPE_LABELS,
    VACANCY_FEED,
)

__all__ = ["DELAY_REASON_LABELS", "FEED_LABELS", "IC_OUTCOME_LABELS", "PATHWAY_SHORT", "SERVICE_TYPE_LABELS"]

PATHWAY_SHORT: Final[dict[str, str]] = {"0": "Pathway 0", "1": "Pathway 1", "2": "Pathway 2", "3": "Pathway 3",
                                        "None": "No pathway yet"}

DELAY_REASON_LABELS: Final[dict[str, str]] = {
    "MEDICAL": "Medical decision or intervention", "THERAPY": "Therapy decision or intervention",
    "REFERRAL": "Referral to hub or service", "MEDICINES": "Medicines to take home", "TRANSPORT": "Transport",
    "HUB_CONFIRMATION": "Hub or service confirmation", "P1_NEW_CARE": "P1: new care at home",
    "P1_CONTINUE_REHAB": "P1: continuing rehab at home", "P2_BED": "P2: community bed",
    "P3_CARE_HOME": "P3: care home bed", "P3_END_OF_LIFE": "P3: end-of-life bed",
    "EQUIPMENT": "Equipment or adaptations", "FAMILY_CHOICE": "Person or family not in agreement",
    "HOUSING": "Housing", "SAFEGUARDING": "Safeguarding or Court of Protection", "READMISSION": "Readmission",
    "NO_PLAN": "No plan", "DIAGNOSTIC": "Diagnostic test", "INFECTION": "Infection control",
    "CHC_DECISION": "CHC funding decision", "NOT_RECORDED": "Not recorded",
}

IC_OUTCOME_LABELS: Final[dict[str, str]] = {
    "home_no_support": "Home, no support", "home_with_care": "Home with care", "residential_care": "Residential care",
    "nursing_care": "Nursing care", "readmitted": "Readmitted", "died": "Died", "other": "Other",
}

FEED_LABELS: Final[dict[str, str]] = {
    VACANCY_FEED: "Provider vacancies", HUB_CASES_FEED: "Care transfer hub cases",
    ACUTE_SITREP_FEED: "NHS England acute discharge sitrep",
    COMMUNITY_SITREP_FEED: "NHS England community discharge sitrep", REFERENCE_FEED: "Reference geography",
}
