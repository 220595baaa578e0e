"""The ``misybot`` command: database migrations, demo data, CSV import and the agents."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path

from sqlalchemy.orm import Session

from misybot.enums import Persona
from misybot.settings import get_settings

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not hasattr(args, "handler"):
        parser.print_help()
        return EXIT_USAGE
    from misybot.errors import MisybotError, NotFound

    try:
        return args.handler(args)
    except NotFound as error:
        print(f"Not found: {error}")
        return EXIT_FAILED
    except MisybotError as error:
        print(f"Refused: {error}")
        return EXIT_FAILED
    except BrokenPipeError:
        # The reader went away (`misybot ... | head`): not an error of ours.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - replaces the closed stream for good
        return EXIT_OK


# ------------------------------------------------------------------------------- plumbing
def _engine():
    from misybot.db.engine import create_db_engine

    return create_db_engine(get_settings().database_url)


def _require_schema(engine) -> None:
    from misybot.db.migrate import current_revision, head_revision
    from misybot.errors import MisybotError

    if current_revision(engine) != head_revision():
        raise MisybotError("the database schema is not up to date; run `misybot db upgrade`")


def _run_in_session(work: Callable[[Session], int]) -> int:
    from misybot.db.session import make_session_factory, session_scope

    engine = _engine()
    try:
        _require_schema(engine)
        # A command writes: on SQLite it takes the write lock up front and waits its turn
        # behind a running worker or action server, instead of failing halfway through.
        writer = engine.execution_options(sqlite_begin="BEGIN IMMEDIATE")
        with session_scope(make_session_factory(writer)) as session:
            return work(session)
    finally:
        engine.dispose()


def _actor(session: Session, args: argparse.Namespace):
    from misybot.store.tenancy import resolve_actor

    return resolve_actor(session, args.company, args.user)


def _jsonable(value):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(_jsonable(k)): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal | Path):
        return str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def _print_json(value) -> None:
    print(json.dumps(_jsonable(value), indent=2, ensure_ascii=False))


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=get_settings().timezone)
    return moment


# ------------------------------------------------------------------------------- commands
def _db_upgrade(args: argparse.Namespace) -> int:
    from misybot.db.migrate import upgrade

    engine = _engine()
    try:
        revision = upgrade(engine, args.revision)
    finally:
        engine.dispose()
    print(f"database at revision {revision} ({engine.url.render_as_string(hide_password=True)})")
    return EXIT_OK


def _company_id(session: Session, slug: str | None) -> int | None:
    from sqlalchemy import select

    from misybot.db.models import Company
    from misybot.errors import NotFound

    if slug is None:
        return None
    found = session.execute(select(Company.id).where(Company.slug == slug)).scalar_one_or_none()
    if found is None:
        raise NotFound(f"company {slug!r}")
    return found


def _inbox_failed(args: argparse.Namespace) -> int:
    from misybot.inbox_admin import failed_messages

    def work(session: Session) -> int:
        found = failed_messages(session, _company_id(session, args.company), args.limit)
        if args.json:
            _print_json(found)
            return EXIT_OK
        if not found:
            print("no failed messages")
        for message in found:
            text = message.text if len(message.text) <= 60 else message.text[:59] + "…"
            print(
                f"#{message.id} {message.received_at:%Y-%m-%d %H:%M} {message.channel.value} "
                f"{message.sender} ({message.company or 'unregistered'}) "
                f"{message.status.value}, {message.attempts} attempt(s): "
                f"{message.error or 'over the rate limit'}\n    {text!r}"
            )
        return EXIT_OK

    return _run_in_session(work)


def _inbox_retry(args: argparse.Namespace) -> int:
    from misybot.inbox_admin import retry_message

    def work(session: Session) -> int:
        if not retry_message(session, args.id, _company_id(session, args.company)):
            print(f"no failed or refused message #{args.id}")
            return EXIT_FAILED
        print(f"message #{args.id} will be processed again by the running server")
        return EXIT_OK

    return _run_in_session(work)


def _secrets_show(args: argparse.Namespace) -> int:
    settings = get_settings()
    value = settings.api_token if args.name == "rasa-api-token" else settings.signing_key.decode()
    print(value)
    return EXIT_OK


def _worker(args: argparse.Namespace) -> int:
    from misybot.db.engine import create_db_engine
    from misybot.orchestrator.worker import run_worker

    logging.getLogger("misybot").setLevel(logging.INFO)
    # No pool pre-ping (a query per checkout): a worker retries whatever a dropped connection
    # interrupts (claims on the next round, executions through their lease).
    engine = create_db_engine(get_settings().database_url, pool_pre_ping=False)
    _require_schema(engine)
    try:
        run_worker(engine, concurrency=args.concurrency)
    finally:
        engine.dispose()
    return EXIT_OK


def _health(args: argparse.Namespace) -> int:
    from misybot.health import HealthProbe, HealthThresholds, describe

    settings = get_settings()
    engine = _engine()
    try:
        report = HealthProbe(engine, HealthThresholds.from_settings(settings)).check()
    finally:
        engine.dispose()
    if args.json:
        _print_json(report.figures())
    else:
        print(describe(report))
    return EXIT_OK if report.healthy else EXIT_FAILED


def _db_current(args: argparse.Namespace) -> int:
    from misybot.db.migrate import current_revision, head_revision

    engine = _engine()
    try:
        current = current_revision(engine)
    finally:
        engine.dispose()
    print(f"current {current or 'none'}, head {head_revision()}")
    return EXIT_OK if current == head_revision() else EXIT_FAILED


def _demo_user(args: argparse.Namespace) -> int:
    from misybot.demo import demo_user

    spec = demo_user(args.persona)
    if args.describe:
        voice = spec.persona.value if spec.persona else "the default"
        print(f"{spec.name} ({spec.role.value}, {voice} voice) <{spec.email}>")
    else:
        print(spec.email)
    return 0


def _demo_seed(args: argparse.Namespace) -> int:
    from misybot.db.migrate import upgrade
    from misybot.db.session import make_session_factory, session_scope
    from misybot.demo import seed_demo

    engine = _engine()
    try:
        upgrade(engine)
        with session_scope(make_session_factory(engine)) as session:
            summary = seed_demo(session, now=args.now, seed=args.seed, reset=args.reset)
    finally:
        engine.dispose()
    if summary.created:
        print(f"seeded companies {', '.join(summary.companies)} (today = {summary.today})")
    else:
        print(
            f"demo data already present (company {summary.companies[0]!r}); nothing written "
            "(use --reset to recreate it)"
        )
    if not args.quiet:
        width = max(len(name) for name in summary.counts)
        for table, count in summary.counts.items():
            print(f"  {table:<{width}}  {count:>7}")
    return EXIT_OK


def _company_create(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from misybot.db.models import Company, Location
    from misybot.enums import LocationKind

    def work(session: Session) -> int:
        if session.execute(select(Company).where(Company.slug == args.slug)).first():
            print(f"company {args.slug!r} already exists")
            return EXIT_FAILED
        company = Company(slug=args.slug, name=args.name, timezone=args.timezone)
        session.add(company)
        session.flush()
        for entry in args.location:
            name, _, code = entry.partition(":")
            session.add(
                Location(
                    company_id=company.id,
                    name=name.strip(),
                    code=(code or name[:3]).strip().upper(),
                    kind=LocationKind.WAREHOUSE,
                    city=name.strip(),
                )
            )
        print(f"created company {args.slug!r} with {len(args.location)} location(s)")
        return EXIT_OK

    return _run_in_session(work)


def _company_update(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from misybot.db.models import Company

    def work(session: Session) -> int:
        company = session.execute(
            select(Company).where(Company.slug == args.slug)
        ).scalar_one_or_none()
        if company is None:
            print(f"no company {args.slug!r}")
            return EXIT_FAILED
        company.timezone = args.timezone
        # Digests keep their local time: the next one moves to that time in the new zone.
        from misybot.notify.subscriptions import follow_timezone

        moved = follow_timezone(session, company.id)
        print(f"company {args.slug!r}: time zone {args.timezone} ({moved} digest(s) moved)")
        return EXIT_OK

    return _run_in_session(work)


def _zone_name(value: str) -> str:
    """An IANA time zone name argparse accepts ("Europe/Lisbon"), else a clear error."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise argparse.ArgumentTypeError(
            f"unknown time zone {value!r} (e.g. Europe/Lisbon)"
        ) from error
    return value


def _import(args: argparse.Namespace) -> int:
    from misybot.importer import import_csv

    path = Path(args.file)
    if not path.is_file():
        print(f"no such file: {path}")
        return EXIT_FAILED

    def work(session: Session) -> int:
        if args.kind == "users":  # people are added by a named admin, audited
            from misybot.people.team import admin_actor

            if not args.user:
                print("importing users needs the admin doing it: --user <admin's e-mail>")
                return EXIT_FAILED
            actor = admin_actor(session, args.company, args.user)
        else:
            actor = _actor(session, args)
        result = import_csv(session, actor, args.kind, path)
        if result.errors:
            print(f"{path}: {len(result.errors)} problem(s); nothing was imported")
            for error in result.errors:
                print(f"  {error}")
            session.rollback()
            return EXIT_FAILED
        print(
            f"{path}: imported {result.rows} {args.kind} row(s): {result.created} created, "
            f"{result.updated} updated, {result.unchanged} unchanged"
        )
        return EXIT_OK

    return _run_in_session(work)


def _agent(work: Callable[[Session, object, argparse.Namespace], object], text=None):
    """A command handler running one agent call and printing its result."""

    def handler(args: argparse.Namespace) -> int:
        def run(session: Session) -> int:
            result = work(session, _actor(session, args), args)
            if text is not None and not args.json:
                print(text(result))
            else:
                _print_json(result)
            return EXIT_OK

        return _run_in_session(run)

    return handler


def _inventory(session, actor, args):
    from misybot.agents.inventory import InventoryQuery, check_inventory

    return check_inventory(
        session,
        actor,
        InventoryQuery(sku=args.sku, product=args.product, location=args.location,
                       as_of=args.as_of),
    )  # fmt: skip


def _inventory_text(status) -> str:
    label = status.status.value.replace("_", " ").upper()
    lines = [
        f"{status.sku} {status.name}: {status.total_quantity} {status.unit} - {label} "
        f"(reorder point {status.reorder_point})",
    ]
    for loc in status.locations:
        minimum = "" if loc.reorder_point is None else f" (min {loc.reorder_point})"
        lines.append(
            f"  {loc.location:<10} {loc.quantity:>6}{minimum} {loc.status.value.replace('_', ' ')}"
        )
    coverage = "n/a" if status.days_of_coverage is None else f"{status.days_of_coverage} days"
    lines.append(
        f"avg daily usage ({status.usage_window_days} d): {status.avg_daily_usage} | "
        f"coverage: {coverage} | on order: {status.on_order} | lead time: "
        f"{status.lead_time_days} d | supplier: {status.preferred_supplier or '-'}"
    )
    if status.last_reorder:
        last = status.last_reorder
        lines.append(
            f"last reorder: {last.po_number} ({last.status.value}) on {last.ordered_on}, "
            f"{last.quantity_ordered} ordered from {last.supplier}"
        )
    lines.extend(f"- {advice}" for advice in status.recommendations)
    lines.append(f"({status.query_ms} ms)")
    return "\n".join(lines)


def _alerts(session, actor, args):
    from misybot.agents import alerts as agent
    from misybot.enums import AlertCategory, AlertSeverity, AlertStatus

    if args.action == "scan":
        return agent.scan_alerts(session, actor, agent.AlertScanRequest())
    alert_filter = agent.AlertFilter(
        severity=AlertSeverity(args.severity) if args.severity else None,
        category=AlertCategory(args.category) if args.category else None,
        status=AlertStatus(args.status) if args.status else None,
        sku=args.sku,
        location=args.location,
    )
    if args.action == "list":
        return agent.list_alerts(session, actor, alert_filter)
    filtered = any([args.severity, args.category, args.status, args.sku, args.location])
    if args.id is None and not (filtered or args.all):
        from misybot.errors import InvalidInput

        raise InvalidInput("alert_id", "give --id, a filter, or --all")
    action = agent.AlertAction(
        alert_id=args.id, filter=None if args.id is not None else alert_filter, note=args.note
    )
    if args.action == "ack":
        return agent.acknowledge_alerts(session, actor, action)
    return agent.resolve_alerts(session, actor, action)


def _reorder(session, actor, args):
    from misybot.agents.reorder import ReorderRequest, reorder

    return reorder(
        session,
        actor,
        ReorderRequest(sku=args.sku, product=args.product, quantity=args.quantity,
                       supplier=args.supplier, location=args.location,
                       idempotency_key=args.idempotency_key),
    )  # fmt: skip


def _stock(session, actor, args):
    from misybot.agents.stock import StockUpdateMode, StockUpdateRequest, update_stock
    from misybot.enums import MovementKind

    mode, quantity = next(
        (mode, value)
        for mode, value in (("set", args.set), ("add", args.add), ("remove", args.remove))
        if value is not None
    )
    return update_stock(
        session,
        actor,
        StockUpdateRequest(mode=StockUpdateMode(mode), quantity=quantity, reason=args.reason,
                           sku=args.sku, product=args.product, location=args.location,
                           kind=MovementKind(args.kind) if args.kind else None,
                           idempotency_key=args.idempotency_key),
    )  # fmt: skip


def _report(session, actor, args):
    from misybot.agents.reports import ReportRequest, generate_report
    from misybot.enums import ReportType

    return generate_report(
        session, actor, ReportRequest(ReportType(args.type), args.start, args.end)
    )


def _metrics(session, actor, args):
    from misybot.agents.metrics import MetricsRequest, compute_metrics

    return compute_metrics(session, actor, MetricsRequest(args.start, args.end))


def _digest(session, actor, args):
    from misybot.agents.digest import DigestRequest, daily_digest

    return daily_digest(session, actor, DigestRequest(day=args.day))


def _supplier(session, actor, args):
    from misybot.agents.suppliers import SupplierQuery, check_supplier

    return check_supplier(
        session, actor, SupplierQuery(supplier=args.name, sku=args.sku, product=args.product)
    )


def _supplier_performance(session, actor, args):
    from misybot.agents.suppliers import SupplierPerformanceRequest, supplier_performance

    return supplier_performance(
        session,
        actor,
        SupplierPerformanceRequest(start=args.start, end=args.end, supplier=args.name),
    )


# --------------------------------------------------------------------------------- parser
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="misybot",
        description="MisyBot operations data and agents. The database is MISYBOT_DATABASE_URL.",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    db = commands.add_parser("db", help="database schema (Alembic migrations)")
    _print_help_by_default(db)
    db_commands = db.add_subparsers(title="db commands", metavar="ACTION")
    upgrade = db_commands.add_parser("upgrade", help="migrate the schema to the newest revision")
    upgrade.add_argument("--revision", default="head")
    upgrade.set_defaults(handler=_db_upgrade)
    current = db_commands.add_parser("current", help="show the schema revision")
    current.set_defaults(handler=_db_current)

    demo = commands.add_parser("demo", help="demo data")
    _print_help_by_default(demo)
    demo_commands = demo.add_subparsers(title="demo commands", metavar="ACTION")
    seed = demo_commands.add_parser("seed", help="create the demo companies (once)")
    seed.add_argument("--seed", type=int, default=20261122, help="random seed")
    seed.add_argument("--now", type=_moment, help="anchor time of the history (default: now)")
    seed.add_argument("--reset", action="store_true", help="delete and recreate the demo data")
    seed.add_argument("--quiet", action="store_true", help="one line, no row counts")
    seed.set_defaults(handler=_demo_seed)
    user = demo_commands.add_parser(
        "user", help="print the e-mail of the demo user with a persona (who `make shell` is)"
    )
    user.add_argument(
        "--persona",
        choices=[*(p.value for p in Persona), "default"],
        help="a reply style, or 'default' (no preference); without it: Ana, the admin",
    )
    user.add_argument("--describe", action="store_true", help="name, role and voice too")
    user.set_defaults(handler=_demo_user)

    company = commands.add_parser("company", help="companies (tenants)")
    _print_help_by_default(company)
    company_commands = company.add_subparsers(title="company commands", metavar="ACTION")
    create = company_commands.add_parser("create", help="create a company and its locations")
    create.add_argument("slug")
    create.add_argument("--name", required=True)
    create.add_argument(
        "--location", action="append", default=[], metavar="NAME[:CODE]", help="repeatable"
    )
    create.add_argument(
        "--timezone", type=_zone_name, default="UTC", help="IANA zone: a digest at 7 is 07:00 here"
    )
    create.set_defaults(handler=_company_create)
    update = company_commands.add_parser("update", help="change a company's time zone")
    update.add_argument("slug")
    update.add_argument("--timezone", type=_zone_name, required=True)
    update.set_defaults(handler=_company_update)

    importer = commands.add_parser("import", help="import a CSV file (all rows or nothing)")
    importer.add_argument("kind", choices=("products", "stock", "suppliers", "users"))
    importer.add_argument("file")
    _tenant_arguments(importer)
    importer.set_defaults(handler=_import)

    agents = commands.add_parser("agents", help="run an agent once and print its result")
    _print_help_by_default(agents)
    agent_commands = agents.add_subparsers(title="agents", metavar="AGENT")

    inventory = agent_commands.add_parser("inventory", help="stock status of one product")
    _tenant_arguments(inventory, json_flag=True)
    _product_arguments(inventory)
    inventory.add_argument("--location")
    inventory.add_argument("--as-of", type=_date)
    inventory.set_defaults(handler=_agent(_inventory, _inventory_text))

    alerts = agent_commands.add_parser("alerts", help="scan, list, acknowledge, resolve alerts")
    alerts.add_argument("action", choices=("scan", "list", "ack", "resolve"))
    _tenant_arguments(alerts, json_flag=True)
    alerts.add_argument("--id", type=int)
    alerts.add_argument("--all", action="store_true", help="ack/resolve every matching alert")
    alerts.add_argument("--severity", choices=("critical", "high", "medium", "low"))
    alerts.add_argument(
        "--category",
        choices=("low_stock", "out_of_stock", "overstock", "late_delivery", "supplier"),
    )
    alerts.add_argument("--status", choices=("open", "acknowledged", "resolved"))
    alerts.add_argument("--sku")
    alerts.add_argument("--location")
    alerts.add_argument("--note")
    alerts.set_defaults(handler=_agent(_alerts))

    reorder = agent_commands.add_parser("reorder", help="draft a purchase order")
    _tenant_arguments(reorder, json_flag=True)
    _product_arguments(reorder)
    reorder.add_argument("--quantity", type=int)
    reorder.add_argument("--supplier")
    reorder.add_argument("--location")
    reorder.add_argument("--idempotency-key")
    reorder.set_defaults(handler=_agent(_reorder))

    stock = agent_commands.add_parser("stock", help="set, add or remove stock")
    _tenant_arguments(stock, json_flag=True)
    _product_arguments(stock)
    change = stock.add_mutually_exclusive_group(required=True)
    change.add_argument("--set", type=int, metavar="N")
    change.add_argument("--add", type=int, metavar="N")
    change.add_argument("--remove", type=int, metavar="N")
    stock.add_argument("--reason", required=True)
    stock.add_argument("--location")
    stock.add_argument(
        "--kind", choices=("receipt", "sale", "consumption", "adjustment", "write_off")
    )
    stock.add_argument("--idempotency-key")
    stock.set_defaults(handler=_agent(_stock))

    report = agent_commands.add_parser("report", help="write a CSV + PNG report")
    _tenant_arguments(report, json_flag=True)
    report.add_argument("--type", required=True, choices=("inventory", "sales", "supplier",
                                                          "financial"))  # fmt: skip
    _range_arguments(report)
    report.set_defaults(handler=_agent(_report))

    metrics = agent_commands.add_parser("metrics", help="key figures for a date range")
    _tenant_arguments(metrics, json_flag=True)
    _range_arguments(metrics)
    metrics.set_defaults(handler=_agent(_metrics))

    digest = agent_commands.add_parser("digest", help="what changed on one day")
    _tenant_arguments(digest, json_flag=True)
    digest.add_argument("--day", type=_date)
    digest.set_defaults(handler=_agent(_digest))

    supplier = agent_commands.add_parser("supplier", help="one supplier, or who supplies a SKU")
    _tenant_arguments(supplier, json_flag=True)
    supplier.add_argument("--name")
    supplier.add_argument("--sku")
    supplier.add_argument("--product")
    supplier.set_defaults(handler=_agent(_supplier))

    performance = agent_commands.add_parser(
        "supplier-performance", help="on-time rate, delays and fill rate per supplier"
    )
    _tenant_arguments(performance, json_flag=True)
    _range_arguments(performance)
    performance.add_argument("--name")
    performance.set_defaults(handler=_agent(_supplier_performance))

    inbox = commands.add_parser("inbox", help="inbound chat messages that failed")
    _print_help_by_default(inbox)
    inbox_commands = inbox.add_subparsers(title="inbox commands", metavar="ACTION")
    failed = inbox_commands.add_parser(
        "failed", help="failed or refused messages, newest first, with their error"
    )
    failed.add_argument("--company", help="only this company's (slug)")
    failed.add_argument("--limit", type=int, default=50)
    failed.add_argument("--json", action="store_true", help="print them as JSON")
    failed.set_defaults(handler=_inbox_failed)
    retry = inbox_commands.add_parser(
        "retry", help="process a failed or refused message again (the running server does it)"
    )
    retry.add_argument("id", type=int)
    retry.add_argument("--company", help="refuse unless the message is this company's (slug)")
    retry.set_defaults(handler=_inbox_retry)

    secrets = commands.add_parser(
        "secrets", help="the installation's generated secrets (created on first use)"
    )
    _print_help_by_default(secrets)
    secrets_commands = secrets.add_subparsers(title="secrets commands", metavar="ACTION")
    show = secrets_commands.add_parser("show", help="print one secret")
    show.add_argument("name", choices=("rasa-api-token", "identity-key"))
    show.set_defaults(handler=_secrets_show)

    worker = commands.add_parser(
        "worker", help="run queued agent executions until stopped (the orchestrator's worker)"
    )
    worker.add_argument(
        "--concurrency", type=int, help="executions at once (default MISYBOT_WORKER_CONCURRENCY)"
    )
    worker.set_defaults(handler=_worker)

    health = commands.add_parser(
        "health",
        help="is the database answering, a worker alive, the inbox keeping up (exit 0 or 1)",
    )
    health.add_argument("--json", action="store_true", help="print the figures as JSON")
    health.set_defaults(handler=_health)

    from misybot.nlu.cli import register as register_nlu
    from misybot.people.cli import register

    register(commands)
    register_nlu(commands)
    return parser


def _print_help_by_default(parser: argparse.ArgumentParser) -> None:
    def show_help(_args: argparse.Namespace) -> int:
        parser.print_help()
        return EXIT_USAGE

    parser.set_defaults(handler=show_help)


def _tenant_arguments(parser: argparse.ArgumentParser, json_flag: bool = False) -> None:
    parser.add_argument("--company", required=True, help="company slug, e.g. demo")
    parser.add_argument(
        "--user", help="act as this user (e-mail, phone or id); default: the system, as admin"
    )
    if json_flag:
        parser.add_argument("--json", action="store_true", help="print the result as JSON")


def _product_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--sku")
    which.add_argument("--product", help="product name (typos forgiven)")


def _range_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="start", type=_date, required=True, metavar="YYYY-MM-DD")
    parser.add_argument("--to", dest="end", type=_date, required=True, metavar="YYYY-MM-DD")


if __name__ == "__main__":
    sys.exit(main())
