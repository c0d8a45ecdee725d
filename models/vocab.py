"""Coded values of the feeds and metrics (shared/spec/feeds.md), named once."""
from __future__ import annotations

# The feeds, by the names the CLI, feeds.toml, the run log and the API use.
VACANCY_FEED = "vacancy"
HUB_CASES_FEED = "hub_cases"
ACUTE_SITREP_FEED = "nhse_acute_sitrep"
COMMUNITY_SITREP_FEED = "nhse_community_sitrep"
REFERENCE_FEED = "reference"  # the shipped reference geography, reloaded: no payload of its own
SITREP_FEEDS: tuple[str, ...] = (ACUTE_SITREP_FEED, COMMUNITY_SITREP_FEED)
DELIVERED_FEEDS: tuple[str, ...] = (VACANCY_FEED, HUB_CASES_FEED, *SITREP_FEEDS)  # a payload is parsed and loaded
FEEDS: tuple[str, ...] = (*DELIVERED_FEEDS, REFERENCE_FEED)

SERVICE_TYPES: dict[str, int] = {  # service_type -> pathway it implies
    "P1_REABLEMENT": 1, "P1_REHAB": 1, "P1_BRIDGING": 1,
    "P2_COMMUNITY_HOSPITAL": 2, "P2_CARE_HOME": 2, "P2_IC_UNIT": 2,
    "P3_RESIDENTIAL": 3, "P3_NURSING": 3,
}
SERVICE_TYPE_LABELS: dict[str, str] = {
    "P1_REABLEMENT": "Home-based reablement", "P1_REHAB": "Home-based rehabilitation",
    "P1_BRIDGING": "Bridging domiciliary care", "P2_COMMUNITY_HOSPITAL": "Community hospital bed",
    "P2_CARE_HOME": "Short-term care home bed", "P2_IC_UNIT": "Intermediate care unit",
    "P3_RESIDENTIAL": "Residential care home bed", "P3_NURSING": "Nursing home bed",
}
DELAY_REASONS: tuple[str, ...] = (
    "MEDICAL", "THERAPY", "REFERRAL", "MEDICINES", "TRANSPORT", "HUB_CONFIRMATION", "P1_NEW_CARE",
    "P1_CONTINUE_REHAB", "P2_BED", "P3_CARE_HOME", "P3_END_OF_LIFE", "EQUIPMENT", "FAMILY_CHOICE", "HOUSING",
    "SAFEGUARDING", "READMISSION", "NO_PLAN", "DIAGNOSTIC", "INFECTION", "CHC_DECISION",
)
NOT_RECORDED = "NOT_RECORDED"
PATHWAYS: tuple[str, ...] = ("0", "1", "2", "3")  # discharge pathways as the feeds and filters write them
IC_OUTCOMES: tuple[str, ...] = ("home_no_support", "home_with_care", "residential_care", "nursing_care",
                                "readmitted", "died", "other")
STATUS_91D: tuple[str, ...] = ("at_home", "in_hospital", "care_home", "died", "unknown")
AGE_BANDS: tuple[str, ...] = ("18-64", "65-74", "75-84", "85+")
SITREP_LEVELS: tuple[str, ...] = ("england", "region", "icb", "trust", "provider")
