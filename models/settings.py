"""Every setting, declared once with its default and help text.

The README's configuration table is tested against this list, so a setting
that is not declared here (or lacks help) fails the suite.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

PROJECT_DIR = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Setting:
    name: str
    default: str  # as written in the README; "" means "derived", see help
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("HOMEWARD_DATA_DIR", "data/",
            "Where the store (embedded form), the kept raw payloads, the pseudonymisation key and the demo feed files live."),
    Setting("HOMEWARD_DB_URL", "duckdb:///<data dir>/homeward.duckdb",
            "SQLAlchemy URL of the store; `postgresql+psycopg://…` for the scaled-out form."),
    Setting("HOMEWARD_CACHE_URL", "in-process",
            "`redis://…` to share the cache between web workers; otherwise an in-process cache."),
    Setting("HOMEWARD_FEEDS", "feeds.toml",
            "Feed configuration file: name, kind, source (URL or folder), schedule."),
    Setting("HOMEWARD_PSEUDO_KEY", "generated into `data/` on first start",
            "Key for pseudonymising NHS numbers (keyed HMAC-SHA256)."),
    Setting("HOMEWARD_DEMO", "0 (1 under `make run`)",
            "Run the demo system's live feeds (served over HTTP on localhost and pulled by the scheduled jobs)."),
    Setting("HOMEWARD_PLACES", "one place per HWB",
            "Optional TOML file mapping places to HWBs: `[places.CODE] name = \"…\", hwbs = [\"E08000035\", …]`."),
    Setting("HOMEWARD_HOME_ICB", "QWO",
            "The deployment's own ICB (ODS code): the default scope of the wall and the benchmark page."),
    Setting("HOMEWARD_THRESHOLDS", "thresholds.toml",
            "RAG thresholds file: `[defaults.METRIC] green = …, red = …` for every scope, `[scope.\"CODE\".METRIC]` for one ICB, place or HWB."),
    Setting("HOMEWARD_STALE_HOURS", "24",
            "Capacity staleness window: a service whose latest report is older than this is not reporting."),
    Setting("HOMEWARD_SUPPRESSION", "1",
            "Apply NHS small-number suppression to aggregate `metric` exports below national level (1 on, 0 off)."),
    Setting("HOMEWARD_LOG_LEVEL", "INFO", "Python logging level."),
    Setting("HOMEWARD_ALERTS", "alerts.toml",
            "Alert rules, channels and morning digests: `[[rule]]`, `[channels.NAME]`, `[[digest]]` (see Alerts below)."),
    Setting("HOMEWARD_SMTP_URL", "none (email channels fail until set)",
            "Mail server for email channels: `smtp://user:password@host:587` (STARTTLS, then login)."),
    Setting("HOMEWARD_SMTP_SENDER", "homeward@localhost",
            "The From address of alert and digest emails."),
    Setting("HOMEWARD_MAX_PERIODS", "day=1100,week=520,month=240,capacity=1100",
            "Most periods one query may ask for, per grain (`day=N,week=N,month=N`), and at any grain for a capacity metric's series (`capacity=N`: a 1,100-day national series takes about 5 s on DuckDB; lower it for a slower store); more is refused with a 400 naming `grain`. Dates must lie in 2000-01-01 .. 2100-01-01."),
    Setting("HOMEWARD_QUERY_TIMEOUT_SECONDS", "30",
            "Longest a web request's store work may run; past it the request is stopped and answered 504."),
    Setting("HOMEWARD_INGEST_MAX_MB", "512",
            "Largest delivery `POST /api/ingest/<feed>` accepts, in MiB; larger is refused with a 413."),
    Setting("HOMEWARD_SETTLE_SECONDS", "5",
            "A file in a drop folder is taken only once its size and modification time have not changed for this many seconds (a file still being copied in waits)."),
    Setting("HOMEWARD_AUTH", "local",
            "Sign-in: `local` (accounts in the store), `oidc` (OpenID Connect, e.g. Microsoft Entra ID: see the OIDC settings below), or `none` (loopback only: everyone is admin, national)."),
    Setting("HOMEWARD_OIDC_ISSUER", "none (needed with `oidc`)",
            "The OpenID provider's issuer URL; its `/.well-known/openid-configuration` is read for the endpoints and keys."),
    Setting("HOMEWARD_OIDC_CLIENT_ID", "none (needed with `oidc`)",
            "The client (application) id Homeward is registered under at the provider."),
    Setting("HOMEWARD_OIDC_CLIENT_SECRET", "none (needed with `oidc`)",
            "The client secret of that registration."),
    Setting("HOMEWARD_OIDC_GROUPS_CLAIM", "groups",
            "The ID token claim listing the person's groups (Entra ID: `groups`, object ids)."),
    Setting("HOMEWARD_OIDC_ROLES", "oidc-roles.toml",
            "TOML file mapping groups to role and scope: `[groups.\"<group id>\"] role = \"analyst\", scope = \"icb:QWO\"`; several groups give the highest role and the union of scopes; no mapped group is refused."),
    Setting("HOMEWARD_SECRET_KEY", "generated into `data/` on first start",
            "Key signing the session cookies; set the same value on every web worker (or share the data folder)."),
    Setting("HOMEWARD_SESSION_HOURS", "8",
            "Idle timeout of a signed-in session, in hours (wall screens' token sessions last until the token is revoked)."),
    Setting("HOMEWARD_FRAME_ANCESTORS", "'self'",
            "Who may show the pages in a frame (CSP `frame-ancestors`), e.g. `'self' https://kiosk.example.nhs.uk`."),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def _raw(name: str) -> str | None:
    if name not in _BY_NAME:
        raise KeyError(f"undeclared setting {name}")
    value = os.environ.get(name)
    return value if value not in (None, "") else None


def load_dotenv_once() -> None:
    """Read `.env` (if any) without overriding the real environment."""
    try:
        from dotenv import load_dotenv
    except ImportError:  # pragma: no cover - dotenv is pinned in requirements
        return
    load_dotenv(PROJECT_DIR / ".env", override=False)


def data_dir() -> Path:
    raw = _raw("HOMEWARD_DATA_DIR")
    path = Path(raw) if raw else PROJECT_DIR / "data"
    if not path.is_absolute():
        path = PROJECT_DIR / path
    return path


def db_url() -> str:
    return _raw("HOMEWARD_DB_URL") or f"duckdb:///{data_dir() / 'homeward.duckdb'}"


def cache_url() -> str | None:
    return _raw("HOMEWARD_CACHE_URL")


def feeds_file() -> Path:
    raw = _raw("HOMEWARD_FEEDS")
    path = Path(raw) if raw else PROJECT_DIR / "feeds.toml"
    return path if path.is_absolute() else PROJECT_DIR / path


def places_file() -> Path | None:
    raw = _raw("HOMEWARD_PLACES")
    if not raw:
        return None
    path = Path(raw)
    return path if path.is_absolute() else PROJECT_DIR / path


def demo_enabled() -> bool:
    return (_raw("HOMEWARD_DEMO") or "0") not in ("0", "false", "no")


def home_icb() -> str:
    return (_raw("HOMEWARD_HOME_ICB") or "QWO").upper()


def thresholds_file() -> Path | None:
    raw = _raw("HOMEWARD_THRESHOLDS")
    path = Path(raw) if raw else PROJECT_DIR / "thresholds.toml"
    return path if path.is_absolute() else PROJECT_DIR / path


def stale_hours() -> float:
    return float(_raw("HOMEWARD_STALE_HOURS") or 24)


def suppression_enabled() -> bool:
    return (_raw("HOMEWARD_SUPPRESSION") or "1") not in ("0", "false", "no")


def settle_seconds() -> float:
    return float(_raw("HOMEWARD_SETTLE_SECONDS") or 5)


def log_level() -> str:
    return (_raw("HOMEWARD_LOG_LEVEL") or "INFO").upper()


def alerts_file() -> Path:
    raw = _raw("HOMEWARD_ALERTS")
    path = Path(raw) if raw else PROJECT_DIR / "alerts.toml"
    return path if path.is_absolute() else PROJECT_DIR / path


def smtp_url() -> str | None:
    return _raw("HOMEWARD_SMTP_URL")


def smtp_sender() -> str:
    return _raw("HOMEWARD_SMTP_SENDER") or "homeward@localhost"


DEFAULT_MAX_PERIODS = {"day": 1100, "week": 520, "month": 240, "capacity": 1100}


def max_periods() -> dict[str, int]:
    """Per grain, and `capacity` for any capacity series; a key left out of the setting keeps its default."""
    out = dict(DEFAULT_MAX_PERIODS)
    for part in (_raw("HOMEWARD_MAX_PERIODS") or "").split(","):
        grain, _, count = part.partition("=")
        if grain.strip() in out and count.strip().isdigit():
            out[grain.strip()] = int(count)
    return out


def query_timeout_seconds() -> float:
    return float(_raw("HOMEWARD_QUERY_TIMEOUT_SECONDS") or 30)


def ingest_max_bytes() -> int:
    return int(float(_raw("HOMEWARD_INGEST_MAX_MB") or 512) * 1024 * 1024)


AUTH_MODES = ("local", "oidc", "none")


def auth_mode() -> str:
    return (_raw("HOMEWARD_AUTH") or "local").lower()


def oidc_issuer() -> str | None:
    return (_raw("HOMEWARD_OIDC_ISSUER") or "").rstrip("/") or None


def oidc_client_id() -> str | None:
    return _raw("HOMEWARD_OIDC_CLIENT_ID")


def oidc_client_secret() -> str | None:
    return _raw("HOMEWARD_OIDC_CLIENT_SECRET")


def oidc_groups_claim() -> str:
    return _raw("HOMEWARD_OIDC_GROUPS_CLAIM") or "groups"


def oidc_roles_file() -> Path:
    return Path(_raw("HOMEWARD_OIDC_ROLES") or PROJECT_DIR / "oidc-roles.toml")


def secret_key_raw() -> str | None:
    return _raw("HOMEWARD_SECRET_KEY")


def session_hours() -> float:
    return float(_raw("HOMEWARD_SESSION_HOURS") or 8)


def frame_ancestors() -> str:
    return _raw("HOMEWARD_FRAME_ANCESTORS") or "'self'"


def pseudo_key_raw() -> str | None:
    return _raw("HOMEWARD_PSEUDO_KEY")


ACCESSORS: dict[str, Callable[[], object]] = {
    "HOMEWARD_DATA_DIR": data_dir,
    "HOMEWARD_DB_URL": db_url,
    "HOMEWARD_CACHE_URL": cache_url,
    "HOMEWARD_FEEDS": feeds_file,
    "HOMEWARD_PSEUDO_KEY": pseudo_key_raw,
    "HOMEWARD_DEMO": demo_enabled,
    "HOMEWARD_PLACES": places_file,
    "HOMEWARD_HOME_ICB": home_icb,
    "HOMEWARD_THRESHOLDS": thresholds_file,
    "HOMEWARD_STALE_HOURS": stale_hours,
    "HOMEWARD_SUPPRESSION": suppression_enabled,
    "HOMEWARD_LOG_LEVEL": log_level,
    "HOMEWARD_ALERTS": alerts_file,
    "HOMEWARD_SMTP_URL": smtp_url,
    "HOMEWARD_SMTP_SENDER": smtp_sender,
    "HOMEWARD_MAX_PERIODS": max_periods,
    "HOMEWARD_QUERY_TIMEOUT_SECONDS": query_timeout_seconds,
    "HOMEWARD_INGEST_MAX_MB": ingest_max_bytes,
    "HOMEWARD_SETTLE_SECONDS": settle_seconds,
    "HOMEWARD_AUTH": auth_mode,
    "HOMEWARD_OIDC_ISSUER": oidc_issuer,
    "HOMEWARD_OIDC_CLIENT_ID": oidc_client_id,
    "HOMEWARD_OIDC_CLIENT_SECRET": oidc_client_secret,
    "HOMEWARD_OIDC_GROUPS_CLAIM": oidc_groups_claim,
    "HOMEWARD_OIDC_ROLES": oidc_roles_file,
    "HOMEWARD_SECRET_KEY": secret_key_raw,
    "HOMEWARD_SESSION_HOURS": session_hours,
    "HOMEWARD_FRAME_ANCESTORS": frame_ancestors,
}
