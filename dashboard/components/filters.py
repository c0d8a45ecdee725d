"""The filter bar shared by pages: ICB, place, HWB, pathway, service type, dates and `at`.

All state lives in the URL query string: the page layout reads it on load,
and a clientside callback writes every change back with
`history.replaceState` (no reload, no re-render of the page), so a view can be
bookmarked, shared and reopened exactly. Choosing an ICB narrows the places
and HWBs offered; choosing a place narrows the HWBs.
"""
from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, Iterable

from dash import Input, Output, State, callback, clientside_callback, dcc, html, no_update

from dashboard.state import FilterState
from models.access import allowed_hwbs
from models.geography import Geography
from models.periods import LONDON
from models.vocab import SERVICE_TYPE_LABELS

ALL_FILTERS: tuple[str, ...] = ("icb", "place", "hwb", "pathway", "service_type", "dates", "at")
PATHWAY_LABELS: dict[str, str] = {"0": "Pathway 0: home, no new support", "1": "Pathway 1: home with support",
                                  "2": "Pathway 2: bed-based rehabilitation", "3": "Pathway 3: long-term care bed"}


def fid(prefix: str, name: str) -> str:
    """Component ids are prefixed per page, so pages never collide."""
    return f"{prefix}-f-{name}"


def _icb_options(geo: Geography) -> list[dict[str, str]]:
    allowed = allowed_hwbs(geo)  # only what the principal's scope covers (models.access)
    return [{"label": f"{i.name.replace('Integrated Care Board', 'ICB')} ({i.code})", "value": i.code}
            for i in sorted(geo.icbs.values(), key=lambda i: i.name)
            if allowed is None or allowed.intersection(geo.hwbs_in_icb(i.code))]


def place_options(geo: Geography, icbs: Iterable[str]) -> list[dict[str, str]]:
    chosen = {c.upper() for c in icbs}
    allowed = allowed_hwbs(geo)
    places = [p for p in geo.places.values() if (not chosen or p.icb in chosen)
              and (allowed is None or allowed.intersection(p.hwbs))]
    return [{"label": p.name, "value": p.code} for p in sorted(places, key=lambda p: p.name)]


def hwb_options(geo: Geography, icbs: Iterable[str], places: Iterable[str]) -> list[dict[str, str]]:
    chosen_icbs = {c.upper() for c in icbs}
    chosen_places = set(places)
    allowed = allowed_hwbs(geo)
    hwbs = [h for h in geo.hwbs.values()
            if (not chosen_icbs or h.icb in chosen_icbs) and (not chosen_places or h.place in chosen_places)
            and (allowed is None or h.code in allowed)]
    return [{"label": f"{h.name} ({h.code})", "value": h.code} for h in sorted(hwbs, key=lambda h: h.name)]


def _keep_unknown(options: list[dict[str, str]], values: Iterable[str]) -> list[dict[str, str]]:
    """Offer a code from the URL that the reference geography does not know, so the dropdown keeps it:
    otherwise the dropdown drops it, the URL loses it, and the page silently shows everything instead
    of saying the code is unknown."""
    known = {o["value"] for o in options}
    return options + [{"label": f"{v} (unknown code)", "value": v} for v in values if v not in known]


def _field(label: str, control: Any, control_id: str, *, hint: str | None = None) -> html.Div:
    return html.Div([html.Label(label, htmlFor=control_id, className="hw-filter__label"), control,
                     html.Div(hint, className="hw-filter__hint") if hint else None], className="hw-filter")


def filter_bar(prefix: str, state: FilterState, geo: Geography, *, show: Iterable[str] = ALL_FILTERS) -> html.Section:
    shown = set(show)
    fields: list[Any] = []
    if "icb" in shown:
        fields.append(_field("ICB", dcc.Dropdown(id=fid(prefix, "icb"), options=_keep_unknown(_icb_options(geo), state.icb),
                                                 value=list(state.icb),
                                                 multi=True, placeholder="All ICBs"), fid(prefix, "icb")))
    if "place" in shown:
        fields.append(_field("Place", dcc.Dropdown(id=fid(prefix, "place"), options=_keep_unknown(place_options(geo, state.icb), state.place),
                                                   value=list(state.place), multi=True, placeholder="All places"),
                             fid(prefix, "place")))
    if "hwb" in shown:
        fields.append(_field("Health and wellbeing board", dcc.Dropdown(
            id=fid(prefix, "hwb"), options=_keep_unknown(hwb_options(geo, state.icb, state.place), state.hwb),
            value=list(state.hwb),
            multi=True, placeholder="All HWBs"), fid(prefix, "hwb")))
    if "pathway" in shown:
        fields.append(_field("Pathway", dcc.Dropdown(
            id=fid(prefix, "pathway"), options=[{"label": v, "value": k} for k, v in PATHWAY_LABELS.items()],
            value=list(state.pathway), multi=True, placeholder="All pathways"), fid(prefix, "pathway")))
    if "service_type" in shown:
        fields.append(_field("Service type", dcc.Dropdown(
            id=fid(prefix, "service_type"), options=[{"label": v, "value": k} for k, v in SERVICE_TYPE_LABELS.items()],
            value=list(state.service_type), multi=True, placeholder="All service types"), fid(prefix, "service_type"),
            hint="Capacity figures only"))
    if "dates" in shown:
        end = (state.to - timedelta(days=1)) if state.to else None
        fields.append(_field("Dates (first and last day)", dcc.DatePickerRange(
            id=fid(prefix, "dates"), start_date=state.from_.isoformat() if state.from_ else None,
            end_date=end.isoformat() if end else None, display_format="D MMM YYYY", clearable=True,
            first_day_of_week=1, start_date_placeholder_text=f"last {state.default_days} days", end_date_placeholder_text="to today"),
            fid(prefix, "dates")))
    if "at" in shown:
        at_local = state.at.astimezone(LONDON).strftime("%Y-%m-%dT%H:%M") if state.at else ""
        fields.append(_field("As at (London time)", dcc.Input(
            id=fid(prefix, "at"), type="datetime-local", value=at_local, debounce=True, className="hw-input"),
            fid(prefix, "at"), hint="Empty: now"))
    return html.Section(fields, className="hw-filters", **{"aria-label": "Filters"})


def filter_inputs(prefix: str, show: Iterable[str] = ALL_FILTERS) -> dict[str, Any]:
    """The bar's values as callback inputs, as keyword arguments named after the URL keys."""
    shown = set(show)
    inputs: dict[str, Any] = {k: Input(fid(prefix, k), "value")
                              for k in ("icb", "place", "hwb", "pathway", "service_type") if k in shown}
    if "dates" in shown:
        inputs["start_date"] = Input(fid(prefix, "dates"), "start_date")
        inputs["end_date"] = Input(fid(prefix, "dates"), "end_date")
    if "at" in shown:
        inputs["at"] = Input(fid(prefix, "at"), "value")
    return inputs


def state_from_inputs(values: dict[str, Any], extra: dict[str, str] | None = None, *,
                      default_days: int = 28) -> FilterState:
    """The same state the URL would give: values from the bar, dates converted to the half-open window."""
    args: dict[str, Any] = {k: values.get(k) for k in ("icb", "place", "hwb", "pathway", "service_type", "at")}
    if values.get("start_date"):
        args["from"] = str(values["start_date"])[:10]
    if values.get("end_date"):
        from datetime import date

        args["to"] = (date.fromisoformat(str(values["end_date"])[:10]) + timedelta(days=1)).isoformat()
    args.update(extra or {})
    return FilterState.from_args(args, default_days=default_days)


# Writes the bar's values into the URL, keeping any other parameters (theme, refresh ...).
_URL_SYNC_JS = """
function(%(args)s) {
    var keys = %(keys)s;
    var values = Array.prototype.slice.call(arguments);
    var params = new URLSearchParams(window.location.search);
    ["icb", "place", "hwb", "pathway", "service_type", "from", "to", "at"].forEach(function(k) { params.delete(k); });
    keys.forEach(function(key, i) {
        var v = values[i];
        if (v === null || v === undefined || v === "") { return; }
        if (key === "start_date") { params.append("from", String(v).slice(0, 10)); return; }
        if (key === "end_date") {
            var d = new Date(String(v).slice(0, 10) + "T00:00:00Z");
            d.setUTCDate(d.getUTCDate() + 1);
            params.append("to", d.toISOString().slice(0, 10));
            return;
        }
        (Array.isArray(v) ? v : [v]).forEach(function(item) { params.append(key, item); });
    });
    var qs = params.toString();
    var url = window.location.pathname + (qs ? "?" + qs : "") + window.location.hash;
    if (url !== window.location.pathname + window.location.search + window.location.hash) {
        window.history.replaceState(window.history.state, "", url);
    }
    return window.dash_clientside.no_update;
}
"""


def register_filter_callbacks(prefix: str, show: Iterable[str] = ALL_FILTERS) -> None:
    """The bar's callbacks for one page: URL sync (clientside) and geographic narrowing."""
    shown = tuple(k for k in ALL_FILTERS if k in set(show))
    inputs = filter_inputs(prefix, shown)
    keys = list(inputs)
    clientside_callback(
        _URL_SYNC_JS % {"args": ", ".join(f"a{i}" for i in range(len(keys))), "keys": json.dumps(keys)},
        Output(f"{prefix}-f-sync", "children"),
        *inputs.values(),
        prevent_initial_call=True,
    )
    if "icb" in shown and "place" in shown:
        @callback(Output(fid(prefix, "place"), "options"), Output(fid(prefix, "place"), "value"),
                  Input(fid(prefix, "icb"), "value"), State(fid(prefix, "place"), "value"),
                  prevent_initial_call=True)
        def _narrow_places(icbs: list[str] | None, places: list[str] | None) -> tuple[list[dict[str, str]], list[str]]:
            from dashboard.data import geography

            options = place_options(geography(), icbs or [])
            allowed = {o["value"] for o in options}
            kept = [p for p in (places or []) if p in allowed]
            # leave the value alone unless something must go: a choice made while this ran is not lost
            return options, (kept if kept != (places or []) else no_update)

    if "hwb" in shown and ("icb" in shown or "place" in shown):
        narrowing = [Input(fid(prefix, k), "value") for k in ("icb", "place") if k in shown]

        @callback(Output(fid(prefix, "hwb"), "options"), Output(fid(prefix, "hwb"), "value"),
                  *narrowing, State(fid(prefix, "hwb"), "value"), prevent_initial_call=True)
        def _narrow_hwbs(*args: Any) -> tuple[list[dict[str, str]], list[str]]:
            from dashboard.data import geography

            *chosen, hwbs = args
            icbs = chosen[0] if "icb" in shown else []
            places = chosen[-1] if "place" in shown else []
            options = hwb_options(geography(), icbs or [], places or [])
            allowed = {o["value"] for o in options}
            kept = [h for h in (hwbs or []) if h in allowed]
            return options, (kept if kept != (hwbs or []) else no_update)


def sync_target(prefix: str) -> html.Div:
    """The clientside URL writer's (unused) output."""
    return html.Div(id=f"{prefix}-f-sync", hidden=True)
