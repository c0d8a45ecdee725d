"""The demo integrated care system's fixed geography and its services.

Two real ICBs with their real HWB (ONS) and acute trust (ODS) codes, so that
the demo joins to the shipped reference geography and to the published sitrep
benchmark. Populations are ONS Census 2021 figures, rounded. Services are
invented (names, providers, CQC-like IDs) but sized from each HWB's demand,
so that capacity is tight enough to cause delays and loose enough to keep
queues finite.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

from models.vocab import SERVICE_TYPES

# About 2 hub (complex) discharges per 100,000 residents per day: the order of
# magnitude of pathway 1-3 discharges in the Acute Discharge SitRep.
DISCHARGES_PER_100K_PER_DAY = 2.0
PATHWAY_MIX: dict[int, float] = {1: 0.70, 2: 0.17, 3: 0.13}

HOME_BASED = frozenset({"P1_REABLEMENT", "P1_REHAB", "P1_BRIDGING"})

# How the capacity of a pathway splits across its service types.
TYPE_SHARE: dict[int, dict[str, float]] = {
    1: {"P1_REABLEMENT": 0.5, "P1_REHAB": 0.3, "P1_BRIDGING": 0.2},
    2: {"P2_COMMUNITY_HOSPITAL": 0.35, "P2_CARE_HOME": 0.45, "P2_IC_UNIT": 0.20},
    3: {"P3_RESIDENTIAL": 0.55, "P3_NURSING": 0.45},
}

# Mean days a person holds a slot or bed (as measured from demo_sim, where
# readmissions cut some episodes short): P1/P2 are IC episodes;
# P3 is the turnover of the care home beds the hub can place into.
MEAN_STAY_DAYS: dict[int, float] = {1: 18.7, 2: 26.5, 3: 45.0}
# Open capacity = demand x stay / this; P2 runs hottest, as it does in real life.
TARGET_OCCUPANCY: dict[int, float] = {1: 0.88, 2: 0.95, 3: 0.95}


@dataclass(frozen=True)
class Hwb:
    code: str  # ONS code of the upper-tier authority
    short: str  # the council's mySociety code, used for hub and case IDs
    name: str
    council: str
    icb_code: str
    population: int
    areas: tuple[str, ...]  # towns, for plausible service names
    acute_sites: tuple[tuple[str, float], ...]  # trust ODS code, share of residents
    community_provider: str


HWBS: tuple[Hwb, ...] = (
    Hwb("E08000032", "BRD", "Bradford", "City of Bradford Metropolitan District Council", "QWO", 546_400,
        ("Bradford", "Keighley", "Shipley", "Bingley", "Ilkley"), (("RAE", 0.78), ("RCF", 0.22)),
        "Bradford District Care NHS Foundation Trust"),
    Hwb("E08000033", "CLD", "Calderdale", "Calderdale Metropolitan Borough Council", "QWO", 206_600,
        ("Halifax", "Brighouse", "Todmorden", "Elland"), (("RWY", 1.0),),
        "Calderdale and Huddersfield NHS Foundation Trust"),
    Hwb("E08000034", "KIR", "Kirklees", "Kirklees Council", "QWO", 433_300,
        ("Huddersfield", "Dewsbury", "Batley", "Holmfirth", "Mirfield"), (("RWY", 0.6), ("RXF", 0.4)),
        "Locala Health and Wellbeing CIC"),
    Hwb("E08000035", "LDS", "Leeds", "Leeds City Council", "QWO", 812_000,
        ("Leeds", "Seacroft", "Armley", "Garforth", "Wetherby", "Otley"), (("RR8", 1.0),),
        "Leeds Community Healthcare NHS Trust"),
    Hwb("E08000036", "WKF", "Wakefield", "Wakefield Metropolitan District Council", "QWO", 353_300,
        ("Wakefield", "Pontefract", "Castleford", "Ossett"), (("RXF", 1.0),),
        "Mid Yorkshire Teaching NHS Trust"),
    Hwb("E06000043", "BNH", "Brighton and Hove", "Brighton and Hove City Council", "QNX", 277_100,
        ("Brighton", "Hove", "Portslade", "Rottingdean"), (("RYR", 1.0),),
        "Sussex Community NHS Foundation Trust"),
    Hwb("E10000011", "ESX", "East Sussex", "East Sussex County Council", "QNX", 545_800,
        ("Eastbourne", "Hastings", "Lewes", "Bexhill", "Crowborough", "Seaford"), (("RXC", 0.85), ("RYR", 0.15)),
        "East Sussex Healthcare NHS Trust"),
    Hwb("E10000032", "WSX", "West Sussex", "West Sussex County Council", "QNX", 882_700,
        ("Worthing", "Chichester", "Crawley", "Horsham", "Bognor Regis", "Haywards Heath"),
        (("RYR", 0.8), ("RTP", 0.2)),
        "Sussex Community NHS Foundation Trust"),
)
HWB_BY_CODE: dict[str, Hwb] = {h.code: h for h in HWBS}

# Invented independent-sector providers: no real company's figures are implied.
_CARE_GROUPS = ("Oakleaf Care Group", "Brightwater Healthcare Ltd", "Meadowbank Care Homes Ltd",
                "Hollybrook Care Ltd", "Greystone Nursing Homes", "Kingfisher Care Partnership")
_HOME_CARE = ("Cornerstone Home Care Ltd", "Willowtree Domiciliary Care", "Homeward Bound Care CIC",
              "Northgate Home Support Ltd")
_HOME_STEMS = ("Beech", "Rowan", "Willow", "Oak", "Heather", "Meadow", "Elm", "Holly", "Laurel",
               "Hawthorn", "Cedar", "Birch", "Maple", "Juniper", "Larch", "Alder", "Linden", "Hazel")
_HOME_SUFFIXES = ("Court", "Lodge", "House", "Grange", "View", "Manor")


@dataclass(frozen=True)
class Service:
    service_id: str
    service_name: str
    provider_name: str
    service_type: str
    hwb_code: str
    capacity: int
    report_every_hours: float  # how often it reports to the capacity tracker

    @property
    def pathway(self) -> int:
        return SERVICE_TYPES[self.service_type]


def daily_demand(hwb: Hwb, pathway: int) -> float:
    """Expected hub discharges a day on a pathway for an HWB's residents."""
    return hwb.population / 100_000 * DISCHARGES_PER_100K_PER_DAY * PATHWAY_MIX[pathway]


def _split(total: int, lo: int, hi: int, typical: int) -> list[int]:
    """Sizes of the services that make up `total`, each within [lo, hi]."""
    n = max(1, math.ceil(total / typical))
    base, extra = divmod(total, n)
    return [min(hi, max(lo, base + (1 if i < extra else 0))) for i in range(n)]


def _name(rng: random.Random, hwb: Hwb, service_type: str, area: str, used: set[str]) -> tuple[str, str]:
    """A plausible (service name, provider name) for a service of a type in an area."""
    if service_type == "P1_REABLEMENT":
        return f"{area} Reablement Service", hwb.council
    if service_type == "P1_REHAB":
        return f"{area} Community Rehabilitation Team", hwb.community_provider
    if service_type == "P1_BRIDGING":
        return f"{area} Bridging Home Care", rng.choice(_HOME_CARE)
    if service_type == "P2_COMMUNITY_HOSPITAL":
        return f"{area} Community Hospital", hwb.community_provider
    if service_type == "P2_IC_UNIT":
        return f"{area} Intermediate Care Unit", hwb.council
    while True:  # care homes: a distinct invented name each
        name = f"{rng.choice(_HOME_STEMS)} {rng.choice(_HOME_SUFFIXES)}"
        if name not in used:
            used.add(name)
            break
    if service_type == "P2_CARE_HOME":
        return f"{name} (discharge to assess beds)", rng.choice(_CARE_GROUPS)
    kind = "Residential Home" if service_type == "P3_RESIDENTIAL" else "Nursing Home"
    return f"{name} {kind}", rng.choice(_CARE_GROUPS)


def build_services(seed: int) -> list[Service]:
    """About 60 services over the 8 HWBs, sized from demand; deterministic for a seed."""
    rng = random.Random(f"demo-world-{seed}")
    services: list[Service] = []
    ids: set[str] = set()
    names: set[str] = set()
    for hwb in HWBS:
        for pathway in (1, 2, 3):
            # Some places commission more than others: this is what makes one
            # HWB's P2 beds run out while its neighbour's do not.
            generosity = rng.uniform(0.95, 1.08)
            open_needed = daily_demand(hwb, pathway) * MEAN_STAY_DAYS[pathway] / TARGET_OCCUPANCY[pathway]
            totals = {t: round(open_needed * generosity * share) for t, share in TYPE_SHARE[pathway].items()}
            # A type too small to run as its own service here is folded into the
            # pathway's largest type, so the pathway keeps the capacity it needs.
            largest = max(totals, key=totals.__getitem__)
            for service_type in list(totals):
                if service_type != largest and totals[service_type] < (20 if service_type in HOME_BASED else 10):
                    totals[largest] += totals.pop(service_type)
            for service_type, total in totals.items():
                home = service_type in HOME_BASED
                lo, hi, typical = (20, 150, 140) if home else (10, 40, 36)
                first_area = rng.randrange(len(hwb.areas))
                for i, size in enumerate(_split(total, lo, hi, typical)):
                    while True:
                        sid = "1-" + str(rng.randrange(10**8, 10**10))  # CQC-like: 9 or 10 digits
                        if sid not in ids:
                            ids.add(sid)
                            break
                    # Distinct towns per type keep the names of one type distinct.
                    area = hwb.areas[(first_area + i) % len(hwb.areas)]
                    name, provider = _name(rng, hwb, service_type, area, names)
                    services.append(Service(
                        service_id=sid, service_name=name, provider_name=provider,
                        service_type=service_type, hwb_code=hwb.code, capacity=size,
                        report_every_hours=rng.choice((3.0, 4.0, 6.0)),
                    ))
    return services
