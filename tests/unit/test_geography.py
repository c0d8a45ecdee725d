"""Reference geography on both stores.

Expected values were read by hand from the published sources in
shared/data/reference/ (ONS lookups, mySociety register, ODS register) and
the NHS England Acute SitRep workbooks, not from this code's output.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from models import geography
from models.geography import PlacesError, get_geography, load_reference, resolve_hwb_code
from models.tables import hwb, hwb_alias, hwb_icb_split, icb, place, region, trust

WEST_YORKSHIRE = ["E08000032", "E08000033", "E08000034", "E08000035", "E08000036"]  # Bradford … Wakefield
SUSSEX = ["E06000043", "E10000011", "E10000032"]  # Brighton and Hove, East Sussex, West Sussex


def _counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
                for t in (region, icb, hwb, hwb_alias, hwb_icb_split, trust, place)}


def test_counts(store: sa.Engine) -> None:
    counts = _counts(store)
    assert counts["region"] == 7
    assert counts["icb"] == 42
    assert counts["hwb"] == 151  # 153 upper-tier authorities, City of London and Isles of Scilly folded in
    assert counts["place"] == 151  # default: one place per HWB
    assert counts["hwb_alias"] == 2
    assert counts["hwb_icb_split"] == 24  # 12 split districts, two ICBs each
    geo = get_geography(store)
    assert (len(geo.regions), len(geo.icbs), len(geo.hwbs), len(geo.places)) == (7, 42, 151, 151)


def test_demo_icbs(store: sa.Engine) -> None:
    geo = get_geography(store)
    wy, sx = geo.icbs["QWO"], geo.icbs["QNX"]
    assert (wy.name, wy.ons_code, wy.region) == ("NHS West Yorkshire Integrated Care Board", "E54000054", "Y63")
    assert geo.regions["Y63"].name == "North East and Yorkshire"
    # Sussex and Surrey Heartlands carry their 2024 E54 codes, not the 2022 ones.
    assert (sx.name, sx.ons_code, sx.region) == ("NHS Sussex Integrated Care Board", "E54000064", "Y59")
    assert geo.icbs["QXU"].ons_code == "E54000063"
    assert geo.regions["Y59"].name == "South East"

    assert geo.hwbs_in_icb("QWO") == WEST_YORKSHIRE
    assert geo.hwbs_in_icb("qnx") == SUSSEX
    assert geo.hwbs["E08000035"].name == "Leeds"
    assert geo.hwbs["E08000035"].icb == "QWO"
    assert geo.hwbs["E06000043"].name == "Brighton and Hove"
    assert geo.hwbs["E06000043"].icb == "QNX"
    # West Sussex: Chichester has 4 LSOAs in Surrey Heartlands, the rest of the county is Sussex.
    assert geo.hwbs["E10000032"].icb == "QNX"
    # North Yorkshire: Craven is mostly West Yorkshire, but the county is mostly Humber and North Yorkshire.
    assert geo.hwbs["E06000065"].icb == "QOQ"
    assert geo.icb_of_hwb("e08000032") == "QWO"


def test_icb_table_row(store: sa.Engine) -> None:
    with store.connect() as conn:
        row = conn.execute(sa.select(icb).where(icb.c.icb_code == "QXU")).one()
    assert (row.icb_ons_code, row.name, row.region_code) == (
        "E54000063", "NHS Surrey Heartlands Integrated Care Board", "Y59")


def test_resolve_hwb_code(store: sa.Engine) -> None:
    geo = get_geography(store)
    assert resolve_hwb_code("E09000001", geo) == "E09000012"  # City of London -> Hackney
    assert resolve_hwb_code("E06000053", geo) == "E06000052"  # Isles of Scilly -> Cornwall
    assert resolve_hwb_code(" e08000035 ", geo) == "E08000035"
    assert resolve_hwb_code("E07000225", geo) is None  # Chichester: a district, not an HWB
    assert resolve_hwb_code("E10000023", geo) is None  # North Yorkshire County Council, abolished 2023
    assert resolve_hwb_code("W06000015", geo) is None  # Cardiff
    assert resolve_hwb_code("", geo) is None
    assert "E09000001" not in geo.hwbs and "E06000053" not in geo.hwbs


def test_split_districts(store: sa.Engine) -> None:
    with store.connect() as conn:
        rows = conn.execute(
            sa.select(hwb_icb_split.c.lad_code, hwb_icb_split.c.hwb_code, hwb_icb_split.c.icb_code,
                      hwb_icb_split.c.lsoa_count)
            .where(hwb_icb_split.c.lad_code.in_(["E07000225", "E07000163"]))
            .order_by(hwb_icb_split.c.lad_code, hwb_icb_split.c.icb_code)).all()
    assert [tuple(r) for r in rows] == [
        ("E07000163", "E06000065", "QE1", 3),   # Craven -> North Yorkshire (unitary since 2023)
        ("E07000163", "E06000065", "QWO", 29),
        ("E07000225", "E10000032", "QNX", 67),  # Chichester -> West Sussex
        ("E07000225", "E10000032", "QXU", 4),
    ]
    geo = get_geography(store)
    assert len({s.lad_code for s in geo.splits}) == 12


def test_acute_trusts(store: sa.Engine) -> None:
    geo = get_geography(store)
    leeds = geo.trusts["RR8"]
    assert (leeds.name, leeds.icb, leeds.region) == ("Leeds Teaching Hospitals NHS Trust", "QWO", "Y63")
    # ODS (2021) puts Harrogate in Humber and North Yorkshire; NHS England's SitRep counts it in West Yorkshire.
    assert geo.trusts["RCD"].icb == "QWO"
    assert geo.trusts_in_icb("QWO") == ["RAE", "RCD", "RCF", "RR8", "RWY", "RXF"]
    assert geo.trusts["RYR"].icb == "QNX"  # University Hospitals Sussex
    assert "RT4" not in geo.trusts  # Welsh Ambulance Services: in the ODS file, not an English acute trust
    assert all(t.icb in geo.icbs for t in geo.trusts.values())


def test_load_twice_is_idempotent(store: sa.Engine) -> None:
    before = _counts(store)
    load_reference(store)
    load_reference(store)
    assert _counts(store) == before


def _write_places(tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "places.toml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("HOMEWARD_PLACES", str(path))
    return path


def test_places_file_merges_hwbs(store: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_places(tmp_path, """
[places.WY-CK]
name = "Calderdale and Kirklees"
hwbs = ["E08000033", "e08000034"]
""", monkeypatch)
    geo_before = get_geography(store)
    load_reference(store)
    geo = get_geography(store)
    assert geo is not geo_before  # load_reference dropped the cached snapshot
    assert len(geo.places) == 150 and len(geo.hwbs) == 151
    merged = geo.places["WY-CK"]
    assert (merged.name, merged.icb, merged.hwbs) == ("Calderdale and Kirklees", "QWO", ("E08000033", "E08000034"))
    assert geo.hwbs["E08000034"].place == "WY-CK"
    assert geo.places["E08000035"].hwbs == ("E08000035",)  # Leeds keeps its default place
    assert geo.places_in_icb("QWO") == ["E08000032", "E08000035", "E08000036", "WY-CK"]
    with store.connect() as conn:
        assert conn.execute(sa.select(place.c.icb_code).where(place.c.place_code == "WY-CK")).scalar_one() == "QWO"


@pytest.mark.parametrize("body, message", [
    ('[places.X]\nname = "Leeds and Brighton"\nhwbs = ["E08000035", "E06000043"]\n', "spans ICBs"),
    ('[places.A]\nname = "A"\nhwbs = ["E08000035"]\n[places.B]\nname = "B"\nhwbs = ["E08000035", "E08000036"]\n',
     "more than one place"),
    ('[places.A]\nname = "A"\nhwbs = ["E07000225"]\n', "not a health and wellbeing board"),
])
def test_places_file_errors_leave_store_unchanged(duck_store: sa.Engine, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch, body: str, message: str) -> None:
    before = _counts(duck_store)
    _write_places(tmp_path, body, monkeypatch)
    with pytest.raises(PlacesError, match=message):
        load_reference(duck_store)
    assert _counts(duck_store) == before
    assert geography.get_geography(duck_store).hwbs["E08000035"].place == "E08000035"


def test_population_per_hwb(store: sa.Engine) -> None:
    """mySociety's pop-2020 (ONS mid-2020 estimates), read by hand from the register; an aliased authority's
    residents are counted in the HWB it reports into, as its cases are."""
    geo = get_geography(store)
    assert geo.hwbs["E08000035"].population == 798_786  # Leeds
    assert geo.hwbs["E09000012"].population == 280_941 + 10_938  # Hackney + City of London
    assert geo.hwbs["E06000052"].population == 573_299 + 2_226  # Cornwall + Isles of Scilly
    assert sum(h.population or 0 for h in geo.hwbs.values()) == 56_550_138  # England, mid-2020
