"""Homeward: command line entry and the web application factory.

`python app.py --help` lists the commands. `create_app()` builds the Dash app
(pages + HTTP API); gunicorn uses `app:server`, created on first access so
that nothing opens the store before the server forks.
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Any, Sequence

from models import settings
from models.vocab import FEEDS

SERVE_THREADS = 8  # as many as the store's pool (models.db) serves at once


def create_app(*, start_scheduler: bool = False) -> Any:
    """The Dash app with its pages and the HTTP API; optionally the in-process scheduler."""
    from dashboard.server import build_app

    dash_app = build_app()
    if start_scheduler:
        _start_scheduler()
    return dash_app


def __getattr__(name: str) -> Any:  # lazily, for `gunicorn app:server`
    if name == "server":
        return create_app(start_scheduler=False).server
    raise AttributeError(name)


def _port_in_use(host: str, port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def _cmd_serve(args: argparse.Namespace) -> int:
    from models.db import init_store

    # Asked first: with the port taken, the server would stop after the scheduler and the warm-up
    # had started on the store, and the process would end untidily.
    if settings.auth_mode() not in settings.AUTH_MODES:
        print(f"HOMEWARD_AUTH must be one of {', '.join(settings.AUTH_MODES)}, not {settings.auth_mode()!r}",
              file=sys.stderr)
        return 2
    if settings.auth_mode() == "oidc":
        missing = [name for name, value in (("HOMEWARD_OIDC_ISSUER", settings.oidc_issuer()),
                                            ("HOMEWARD_OIDC_CLIENT_ID", settings.oidc_client_id()))
                   if not value]
        if not settings.oidc_roles_file().is_file():
            missing.append(f"HOMEWARD_OIDC_ROLES (no file {settings.oidc_roles_file()})")
        if missing:
            print(f"HOMEWARD_AUTH=oidc needs {', '.join(missing)}", file=sys.stderr)
            return 2
    from dashboard.auth import is_loopback

    if settings.auth_mode() == "none" and not is_loopback(args.host):
        print(f"HOMEWARD_AUTH=none serves this machine only: bind to 127.0.0.1, not {args.host}", file=sys.stderr)
        return 2
    if _port_in_use(args.host, args.port):
        print(f"port {args.port} on {args.host} is in use: stop what holds it, or choose another with --port",
              file=sys.stderr)
        return 2
    engine = init_store()
    _announce_sign_in(engine, f"http://{args.host}:{args.port}/")
    dash_app = create_app(start_scheduler=not args.no_scheduler)
    from dashboard.server import warm_up

    warm_up(dash_app)
    import waitress

    # One process, threads: the DuckDB file takes one writer, and the scheduler runs in this process.
    # ident="": no Server header naming the software; the lookahead lets a request see its client go.
    waitress.serve(dash_app.server, host=args.host, port=args.port, threads=SERVE_THREADS, ident="",
                   channel_request_lookahead=1, max_request_body_size=settings.ingest_max_bytes() + 1024 * 1024)
    return 0


def _announce_sign_in(engine: Any, url: str) -> None:
    """First start with local sign-in: the initial admin's password, printed this once (it is also in
    <data dir>/initial-admin-password, 0600); afterwards, where that file is while it is kept."""
    from dashboard.auth import ensure_initial_admin

    mode = settings.auth_mode()
    if mode == "none":
        print(f"Homeward: {url} (No sign-in: local use only)", flush=True)
        return
    if mode != "local":
        return
    password = ensure_initial_admin(engine)
    kept = settings.data_dir() / "initial-admin-password"
    if password:
        print(f"Homeward: sign in at {url}signin as admin with password {password}\n"
              f"(printed once; also in {kept}, readable by you only: change it by adding accounts and removing admin)",
              flush=True)
    elif kept.exists():
        print(f"Homeward: sign in at {url}signin (the initial admin password is in {kept})", flush=True)
    else:
        print(f"Homeward: sign in at {url}signin", flush=True)


def _cmd_init(args: argparse.Namespace) -> int:
    from models.db import init_store

    engine = init_store()
    print(f"store ready: {settings.db_url()}")
    _announce_sign_in(engine, "http://127.0.0.1:8050/")
    return 0


def _cmd_users(args: argparse.Namespace) -> int:
    from dashboard.auth import forget
    from models import accounts
    from models.access import ScopeError
    from models.db import init_store

    engine = init_store()
    try:
        if args.action == "add":
            if not args.role or not args.scope:
                raise ScopeError("users add needs --role and --scope")
            if args.password_stdin:
                password = sys.stdin.readline().rstrip("\r\n")
                if len(password) < 12:
                    raise ScopeError("the password must be 12 characters or more")
            else:
                import secrets

                password = secrets.token_urlsafe(15)
            p = accounts.add_account(engine, args.name, args.role, args.scope, password)
            accounts.record(engine, "account_added", actor_name="cli",
                            detail={"account": p.name, "role": p.role, "scope": p.scope_text})
            print(f"added {p.name}: {p.role}, {p.scope_text}")
            if not args.password_stdin:
                print(password)  # shown once, alone on the last line
        elif args.action == "list":
            for row in accounts.list_accounts(engine):
                print(f"{row['name']}\t{row['role']}\t{row['scope']}\t{row['created_at']:%Y-%m-%d %H:%M}")
        else:
            if not accounts.remove_account(engine, args.name):
                raise ScopeError(f"no account {args.name!r}")
            forget("user", args.name)
            accounts.record(engine, "account_removed", actor_name="cli", detail={"account": args.name})
            print(f"removed {args.name}")
    except ScopeError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    return 0


def _cmd_tokens(args: argparse.Namespace) -> int:
    from models import accounts
    from models.access import ScopeError
    from models.db import init_store

    engine = init_store()
    try:
        if args.action == "create":
            if not args.kind or not args.role or not args.scope:
                raise ScopeError("tokens create needs --kind, --role and --scope")
            token = accounts.create_token(engine, args.name, args.kind, args.role, args.scope, args.expires)
            accounts.record(engine, "token_created", actor_name="cli",
                            detail={"token": args.name, "kind": args.kind, "role": args.role, "scope": args.scope,
                                    "expires_days": args.expires})
            print(f"token {args.name} ({args.kind}, {args.role}, {args.scope}); shown once, keep it safe:")
            print(token)
        elif args.action == "list":
            for row in accounts.list_tokens(engine):
                state = ("revoked" if row["revoked_at"] else
                         f"expires {row['expires_at']:%Y-%m-%d}" if row["expires_at"] else "no expiry")
                print(f"{row['name']}\t{row['kind']}\t{row['role']}\t{row['scope']}\t{state}")
        else:
            if not accounts.revoke_token(engine, args.name):
                raise ScopeError(f"no live token {args.name!r}")
            accounts.record(engine, "token_revoked", actor_name="cli", detail={"token": args.name})
            print(f"revoked {args.name}")
    except ScopeError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    return 0


def _cmd_ingest(args: argparse.Namespace) -> int:
    from ingest.cli import run_ingest_command

    return run_ingest_command(args.feed, args.source, as_json=args.json)


def _cmd_scheduler(args: argparse.Namespace) -> int:
    from ingest.scheduler import run_blocking

    _wire_scheduler()
    run_blocking()
    return 0


def _cmd_query(args: argparse.Namespace) -> int:
    from models.cli import run_query_command

    return run_query_command(args)


def _cmd_metrics(args: argparse.Namespace) -> int:
    from models.cli import run_metrics_command

    return run_metrics_command(args)


def _cmd_demo(args: argparse.Namespace) -> int:
    from ingest.demo import run_demo_command

    return run_demo_command(days=args.days, seed=args.seed)


def _cmd_alerts(args: argparse.Namespace) -> int:
    from alerts.cli import run_check_command

    return run_check_command(args.at)


def _cmd_digest(args: argparse.Namespace) -> int:
    from alerts.digest import run_digest_command

    return run_digest_command(args.name, args.at, dry_run=args.dry_run)


def _start_scheduler() -> None:
    """The in-process scheduler of `serve` (the DuckDB form: the store takes one writer, this process)."""
    from ingest.scheduler import build_scheduler
    from models.db import get_engine

    _wire_scheduler()
    build_scheduler(get_engine()).start()


def _wire_scheduler() -> None:
    """Alerts ride on the scheduler (every minute, after each successful ingest run, and the digests)."""
    from alerts.schedule import add_alert_jobs
    from ingest.scheduler import HOOKS

    if add_alert_jobs not in HOOKS:
        HOOKS.append(add_alert_jobs)


def _cmd_plan(args: argparse.Namespace) -> int:
    from planner.cli import run_plan_command

    return run_plan_command(args.scenario)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="app.py", description="Homeward: live system visibility for intermediate care.")
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("serve", help="serve the dashboard and API (default command)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8050)
    p.add_argument("--no-scheduler", action="store_true", help="do not run the scheduled ingest jobs in this process")
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("init", help="create or migrate the store, load reference geography")
    p.set_defaults(func=_cmd_init)

    p = sub.add_parser("ingest", help="run one feed once from a file, folder or URL")
    p.add_argument("feed", choices=FEEDS)
    p.add_argument("source", help="file, folder or http(s) URL")
    p.add_argument("--json", action="store_true", help="print the run summary as JSON")
    p.set_defaults(func=_cmd_ingest)

    p = sub.add_parser("scheduler", help="run only the scheduled ingest jobs (scaled-out form)")
    p.set_defaults(func=_cmd_scheduler)

    p = sub.add_parser("query", help="compute a metric from the metrics layer and print it")
    p.add_argument("metric")
    p.add_argument("--at", help="ISO 8601 time (default now)")
    p.add_argument("--from", dest="from_", metavar="D", help="first day of the window, YYYY-MM-DD")
    p.add_argument("--to", metavar="D", help="day after the window, YYYY-MM-DD (half-open)")
    p.add_argument("--grain", help="day, week or month")
    p.add_argument("--by", help="comma-separated dimensions")
    p.add_argument("--where", action="append", default=[], metavar="K=V", help="filter; repeat for more")
    p.add_argument("--format", default="json", help="json or csv")
    p.set_defaults(func=_cmd_query)

    p = sub.add_parser("metrics", help="list the metric catalogue")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_metrics)

    from models.access import ROLES

    p = sub.add_parser("users", help="sign-in accounts: add NAME --role ROLE --scope SCOPE [--password-stdin], list, remove NAME")
    users = p.add_subparsers(dest="action", required=True)
    u = users.add_parser("add", help="add an account (a random password is printed unless --password-stdin)")
    u.add_argument("name")
    u.add_argument("--role", choices=ROLES)
    u.add_argument("--scope", help="national, or a comma-separated list like icb:QWO,place:CODE,hwb:E08000035")
    u.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    users.add_parser("list", help="list the accounts")
    u = users.add_parser("remove", help="remove an account")
    u.add_argument("name")
    p.set_defaults(func=_cmd_users)

    p = sub.add_parser("tokens", help="wall and API tokens: create NAME --kind wall|api --role ROLE --scope SCOPE [--expires DAYS], list, revoke NAME")
    tokens = p.add_subparsers(dest="action", required=True)
    t = tokens.add_parser("create", help="create a token (printed once, alone on the last line)")
    t.add_argument("name")
    t.add_argument("--kind", choices=("wall", "api"))
    t.add_argument("--role", choices=ROLES)
    t.add_argument("--scope")
    t.add_argument("--expires", type=int, metavar="DAYS")
    tokens.add_parser("list", help="list the tokens")
    t = tokens.add_parser("revoke", help="revoke a token")
    t.add_argument("name")
    p.set_defaults(func=_cmd_tokens)

    p = sub.add_parser("demo", help="generate the demo system's history and feed files")
    p.add_argument("--days", type=int, default=90)
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("alerts", help="alert rules: `alerts check` evaluates them once and sends what is due")
    alerts_sub = p.add_subparsers(dest="alerts_command", required=True)
    p = alerts_sub.add_parser("check", help="evaluate every rule now, send what is due, print the instances")
    p.add_argument("--at", help="ISO 8601 time (default now)")
    p.set_defaults(func=_cmd_alerts)

    p = sub.add_parser("digest", help="morning digests: `digest send NAME`")
    digest_sub = p.add_subparsers(dest="digest_command", required=True)
    p = digest_sub.add_parser("send", help="build and send one digest now")
    p.add_argument("name")
    p.add_argument("--at", help="ISO 8601 time (default now)")
    p.add_argument("--dry-run", action="store_true", help="write the email to a file and print its path")
    p.set_defaults(func=_cmd_digest)

    p = sub.add_parser("plan", help="simulate a what-if capacity scenario (JSON file) and print the result as JSON")
    p.add_argument("scenario", help="scenario JSON file (see the /planner page or issue 15 for its shape)")
    p.set_defaults(func=_cmd_plan)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    settings.load_dotenv_once()
    logging.basicConfig(level=settings.log_level(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["serve", *(argv or [])])
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
