"""`/alerts`: alerts firing and pending now, the notification history (who was told, did it arrive),
the rules in words, and silencing an instance for a while with a reason."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import dash
from dash import Input, Output, State, callback, dcc, html

from alerts.delivery import history, kind_words
from alerts.rules import FEED_RULE, AlertsConfigError, load_config
from alerts.states import NO_DATA_MEANING, load_instances, silence
from dashboard.components.common import guarded, page_heading
from models.db import get_engine
from models.formatting import format_time

dash.register_page(__name__, path="/alerts", name="Alerts", title="Alerts · Homeward", order=10,
                   description="Alerts firing and pending, who was told, and the rules.")

PREFIX = "alerts"
UTC = timezone.utc
NOW_STATES = ("firing", "pending", "no_data")


def _may_silence() -> bool:
    """Whether the person asking may silence alerts (admins)."""
    from models.access import current

    return current().at_least("admin")


def _who() -> str:
    """Who is silencing, for the record: the signed-in account or token."""
    from models.access import current

    return current().name


def _time(value: datetime | None) -> str:
    return "—" if value is None else format_time(value.replace(tzinfo=UTC))


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:,.4g}"


def _table(table_id: str, headers: list[str], rows: list[list[Any]], empty: str) -> Any:
    if not rows:
        return html.P(empty, className="hw-state", role="status", id=table_id)
    return html.Div(html.Table([html.Thead(html.Tr([html.Th(h, scope="col") for h in headers])),
                                html.Tbody([html.Tr([html.Td(c) for c in row]) for row in rows])],
                               className="hw-table", id=table_id), className="hw-panel")


def _now() -> Any:
    instances = [i for i in load_instances(get_engine()).values() if i.state in NOW_STATES]
    instances.sort(key=lambda i: (NOW_STATES.index(i.state), i.rule, i.scope))
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = [[html.Strong(i.state.upper().replace("_", " ")), i.rule, i.scope,
             NO_DATA_MEANING if i.state == "no_data" else _num(i.value), _num(i.threshold),
             _time(i.since), _time(i.last_notified_at),
             f"until {_time(i.silenced_until)}: {i.silence_reason}" if i.silenced(now) else ""] for i in instances]
    return _table(f"{PREFIX}-now", ["State", "Rule", "Scope", "Value", "Threshold", "Since", "Last told", "Silenced"],
                  rows, "Nothing is firing or pending, and every rule's metric has a value.")


def _history() -> Any:
    rows = [[kind_words(h["kind"]).lower(), h["rule"], h["scope"] or "", h["channel"], _time(h["created_at"]), h["status"],
             h["recipients"] or "", _time(h["sent_at"]) if h["status"] == "sent" else
             f"{h['error'] or ''} (try {h['attempts']}, next {_time(h['next_attempt_at'])})"]
            for h in history(get_engine())]
    return _table(f"{PREFIX}-history", ["What", "Rule", "Scope", "Channel", "When", "Delivery", "Told", "Sent / error"],
                  rows, "No notification yet.")


def _rules() -> Any:
    try:
        config = load_config()
    except AlertsConfigError as exc:
        return html.P(f"The rules file has a mistake: {exc}", className="hw-banner hw-banner--stale", role="alert")
    items = [html.Li(r.describe()) for r in config.rules]
    items.append(html.Li(f"{FEED_RULE}: any feed past its stale limit (built in); tell "
                         f"{', '.join(config.feed_channels) or 'nobody'}."))
    return html.Ul(items, id=f"{PREFIX}-rules")


def _silence_form() -> Any:
    if not _may_silence():
        return None
    options = [{"label": f"{i.rule} · {i.scope} ({i.state})", "value": k}
               for k, i in sorted(load_instances(get_engine()).items())]
    return html.Div([
        html.H2("Silence an alert", className="hw-panel__title"),
        html.Label("Alert", htmlFor=f"{PREFIX}-silence-key"),
        dcc.Dropdown(id=f"{PREFIX}-silence-key", options=options, placeholder="Choose an alert"),
        html.Label("For how many hours", htmlFor=f"{PREFIX}-silence-hours"),
        dcc.Input(id=f"{PREFIX}-silence-hours", type="number", min=0.25, max=168, value=4),
        html.Label("Reason (kept with the alert)", htmlFor=f"{PREFIX}-silence-reason"),
        dcc.Input(id=f"{PREFIX}-silence-reason", type="text"),
        html.Button("Silence", id=f"{PREFIX}-silence-go"),
        html.Div(id=f"{PREFIX}-silence-result", role="status"),
    ], className="hw-section")


def layout(**_query_args: Any) -> html.Div:
    return html.Div([
        page_heading("Alerts", "Figures past their thresholds and feeds gone quiet: what is firing now, who was "
                     "told, and the rules."),
        html.H2("Now", className="hw-panel__title"), guarded(_now, "Alerts now"),
        html.H2("History", className="hw-panel__title"), guarded(_history, "Notification history"),
        html.H2("Rules", className="hw-panel__title"), guarded(_rules, "Rules"),
        _silence_form(),
    ], className="hw-page")


@callback(Output(f"{PREFIX}-silence-result", "children"), Input(f"{PREFIX}-silence-go", "n_clicks"),
          State(f"{PREFIX}-silence-key", "value"), State(f"{PREFIX}-silence-hours", "value"),
          State(f"{PREFIX}-silence-reason", "value"), prevent_initial_call=True)
def _silence(_n: int | None, key: str | None, hours: float | None, reason: str | None) -> str:
    if not _may_silence():
        return "Only an administrator can silence alerts."
    if not key or not hours or not (reason or "").strip():
        return "Choose an alert, a number of hours and give a reason."
    until = datetime.now(UTC) + timedelta(hours=float(hours))
    if not silence(get_engine(), key, until, reason.strip(), _who()):
        return "That alert no longer exists."
    import flask

    from models import accounts
    from models.access import current

    accounts.record(get_engine(), "alert_silenced", actor=current(), route="/alerts",
                    remote_addr=flask.request.remote_addr,
                    detail={"alert": key, "until": until.isoformat(), "reason": reason.strip()})
    return f"Silenced until {format_time(until)}."
