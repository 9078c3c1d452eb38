"""``bastion keys|users|teams|usage|db|audit``: identities, the ledger and the audit log from a shell.

These commands talk to the configured storage directly (no server needs to run); a running
gateway picks the changes up within ``limits.identity_refresh_seconds``. With ``audit.enabled``
every change they make is an audit entry too (actor ``cli:<os user>@<host>``), written in the
command's own chain before it exits.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import functools
import getpass
import re
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from bastion.audit.signing import AuditKeyError
from bastion.audit.summary import safe_summary
from bastion.audit.writer import AuditLog, host_name, new_writer_id
from bastion.config import BastionConfig
from bastion.errors import GatewayError
from bastion.identity.manage import IdentityManager, public_key
from bastion.store.base import TIME_BUCKETS, USAGE_DIMENSIONS, Store, StoreError
from bastion.store.factory import open_store


def add_commands(commands: Any) -> None:
    keys = commands.add_parser("keys", help="create, list and revoke virtual keys")
    key_commands = keys.add_subparsers(dest="action", required=True)
    create = key_commands.add_parser("create", help="create a key (the secret is printed once)")
    create.add_argument("--name", default="")
    create.add_argument("--user", dest="user_id")
    create.add_argument("--team", dest="team_id")
    create.add_argument("--models", help="comma-separated model groups the key may use (default: all)")
    create.add_argument("--expires-in-days", type=float)
    create.add_argument("--metadata", action="append", default=[], metavar="KEY=VALUE")
    _limit_options(create)
    listing = key_commands.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--user", dest="user_id")
    listing.add_argument("--team", dest="team_id")
    listing.add_argument("--all", action="store_true", help="include revoked keys")
    revoke = key_commands.add_parser("revoke", help="revoke a key: refused everywhere within seconds")
    revoke.add_argument("key_id")

    people_commands: list[Any] = []
    for kind in ("users", "teams"):
        parser = commands.add_parser(kind, help=f"manage {kind} and their limits and budgets")
        actions = parser.add_subparsers(dest="action", required=True)
        people_commands.append(actions)
        made = actions.add_parser("create", help=f"create one of the {kind}")
        made.add_argument("id")
        made.add_argument("--name", default="")
        if kind == "users":
            made.add_argument("--team", dest="team_id")
        _limit_options(made)
        changed = actions.add_parser(
            "update", help="change limits, name" + (" or team" if kind == "users" else "")
        )
        changed.add_argument("id")
        changed.add_argument("--name")
        if kind == "users":
            changed.add_argument("--team", dest="team_id")
        _limit_options(changed)
        listed = actions.add_parser("list")
        if kind == "users":
            listed.add_argument("--team", dest="team_id")
        removed = actions.add_parser("delete", help="delete (its keys stop working)")
        removed.add_argument("id")

    usage = commands.add_parser("usage", help="tokens and spend from the ledger, grouped and bucketed")
    usage.add_argument("--group-by", default="model", help=f"comma-separated: {', '.join(USAGE_DIMENSIONS)}")
    usage.add_argument("--since", default="30d", help="how far back: 90m, 24h, 7d (default 30d)")
    usage.add_argument("--start", help="ISO date/time (overrides --since)")
    usage.add_argument("--end", help="ISO date/time")
    usage.add_argument("--bucket", choices=TIME_BUCKETS)
    for dimension in USAGE_DIMENSIONS:
        usage.add_argument(f"--{dimension.replace('_', '-')}", dest=f"filter_{dimension}", metavar="VALUE")
    usage.add_argument("--json", action="store_true")

    db = commands.add_parser("db", help="database tools")
    db_commands = db.add_subparsers(dest="action", required=True)
    db_commands.add_parser("upgrade", help="apply pending migrations (the server also does at start-up)")

    audit = commands.add_parser("audit", help="verify the audit log; export or erase a data subject")
    audit_commands = audit.add_subparsers(dest="action", required=True)
    verify = audit_commands.add_parser(
        "verify", help="check every chain; exit 0 when intact, 1 naming the first bad entry, 2 if it cannot"
    )
    verify.add_argument("--json", action="store_true", help="print the report as JSON (keep it as anchors)")
    verify.add_argument(
        "--anchors", metavar="FILE", help="an earlier `verify --json` output: chains must still reach it"
    )
    export = audit_commands.add_parser("export", help="print everything held about a data subject, as JSON")
    export.add_argument("--subject", required=True, help="end_user:TENANT/ID, user:ID or key:ID")
    export.add_argument("--output", metavar="FILE", help="write to FILE instead of standard output")
    erase = audit_commands.add_parser(
        "erase", help="destroy a subject's payload keys (crypto-shredding); the chain still verifies"
    )
    erase.add_argument("--subject", required=True, help="end_user:TENANT/ID, user:ID or key:ID")
    erase.add_argument(
        "--yes", action="store_true", help="confirm: the stored payloads become unreadable forever"
    )
    keygen = audit_commands.add_parser(
        "keygen", help="print new signing and master keys for the audit config"
    )
    keygen.add_argument("--signing", choices=("ed25519", "hmac"), default="ed25519")

    # --config also after the action (`bastion keys create --config c.yaml`); SUPPRESS keeps one
    # given before the action from being reset to the default by the action's own parser
    leaves = [
        leaf
        for group in (key_commands, *people_commands, db_commands, audit_commands)
        for leaf in group.choices.values()
    ]
    config_help = "YAML config naming the storage (default: ./bastion.yaml)"
    for parser in (keys, usage, db, audit, *(commands.choices[k] for k in ("users", "teams"))):
        parser.add_argument("--config", help=config_help)
    for action in leaves:
        action.add_argument("--config", default=argparse.SUPPRESS, help=config_help)


def _limit_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rpm", type=int, help="requests per minute")
    parser.add_argument("--tpm", type=int, help="tokens per minute")
    parser.add_argument("--concurrent", type=int, help="requests in flight")
    for period in ("day", "week", "month", "lifetime"):
        parser.add_argument(f"--budget-{period}", type=float, metavar="USD")
    parser.add_argument("--budget-mode", choices=("hard", "soft"))


def _limits(args: argparse.Namespace) -> dict[str, Any] | None:
    limits: dict[str, Any] = {}
    for option, field in (
        ("rpm", "requests_per_minute"),
        ("tpm", "tokens_per_minute"),
        ("concurrent", "max_concurrent"),
    ):
        if getattr(args, option) is not None:
            limits[field] = getattr(args, option)
    budget = {
        p: v for p in ("day", "week", "month", "lifetime") if (v := getattr(args, f"budget_{p}")) is not None
    }
    if budget or args.budget_mode:
        budget["mode"] = args.budget_mode or "hard"
        limits["budget"] = budget
    return limits or None


Handler = Callable[[Store, argparse.Namespace, "AuditLog | None"], Awaitable[int]]


def run(command: str, args: argparse.Namespace, config: BastionConfig) -> int:
    if command == "audit" and args.action == "keygen":
        from bastion.audit.commands import keygen

        return keygen(args.signing)
    handlers: dict[str, Handler] = {
        "keys": _keys,
        "users": _people,
        "teams": _people,
        "usage": _usage,
        "db": _db,
        "audit": functools.partial(_audit, config=config),
    }
    try:
        return asyncio.run(_with_store(config, lambda store, audit: handlers[command](store, args, audit)))
    except GatewayError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 1
    except StoreError as error:
        print(f"storage error: {error}", file=sys.stderr)
        return 2 if command == "audit" else 1
    except AuditKeyError as error:
        print(f"audit: {error}", file=sys.stderr)
        return 2


async def _with_store(
    config: BastionConfig, action: Callable[[Store, AuditLog | None], Awaitable[int]]
) -> int:
    store = open_store(config.storage.url, pool_max_size=2)
    await store.open()
    audit = None
    try:
        if config.audit.enabled:
            writer_id = new_writer_id(f"{config.audit.replica_id or host_name()}-cli")
            audit = AuditLog.build(config.audit, store, writer_id=writer_id)
        return await action(store, audit)
    finally:
        if audit is not None:
            await audit.close()  # writes the command's entries and signs its chain's head
        await store.close()


def cli_actor() -> str:
    """Who runs the command, for the audit log."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}@{host_name()}"


def _record(audit: AuditLog | None, action: str, target: str, result: object, subject: str | None) -> None:
    if audit is not None:
        summary = safe_summary(_plain(result) if not isinstance(result, dict) else result)
        audit.record_admin(cli_actor(), action, target, summary, subject=subject)


async def _audit(
    store: Store, args: argparse.Namespace, audit: AuditLog | None, config: BastionConfig
) -> int:
    from bastion.audit import commands

    if args.action == "verify":
        return await commands.verify(store, config.audit, args.json, args.anchors)
    if args.action == "export":
        return await commands.export(store, config.audit, args.subject, args.output, audit, cli_actor())
    return await commands.erase(store, args.subject, args.yes, audit, cli_actor())


async def _keys(store: Store, args: argparse.Namespace, audit: AuditLog | None) -> int:
    manager = IdentityManager(store)
    if args.action == "create":
        fields: dict[str, Any] = {
            "name": args.name,
            "user_id": args.user_id,
            "team_id": args.team_id,
            "models": [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None,
            "expires_in_days": args.expires_in_days,
            "metadata": dict(_pair(item) for item in args.metadata),
            "limits": _limits(args),
        }
        secret, record = await manager.create_key(fields)
        _record(audit, "keys.create", record.id, public_key(record), f"key:{record.id}")
        print(secret)
        print(
            f"# key id {record.id} (prefix {record.prefix}); store the key now: it is not shown again",
            file=sys.stderr,
        )
        return 0
    if args.action == "list":
        keys = await store.list_keys(user_id=args.user_id, team_id=args.team_id, include_revoked=args.all)
        _table(
            [public_key(k) for k in keys],
            ["id", "prefix", "name", "user_id", "team_id", "models", "status", "limits", "created_at"],
        )
        return 0
    record = await manager.revoke_key(args.key_id)
    _record(audit, "keys.revoke", record.id, public_key(record), f"key:{record.id}")
    print(f"revoked {record.id} ({record.prefix}…)")
    return 0


async def _people(store: Store, args: argparse.Namespace, audit: AuditLog | None) -> int:
    manager = IdentityManager(store)
    kind = "user" if args.command == "users" else "team"
    if args.action == "list":
        rows = await (store.list_users(team_id=args.team_id) if kind == "user" else store.list_teams())
        columns = ["id", "name", "team_id", "limits"] if kind == "user" else ["id", "name", "limits"]
        _table([_plain(r) for r in rows], columns)
        return 0
    if args.action == "delete":
        await (manager.delete_user(args.id) if kind == "user" else manager.delete_team(args.id))
        _record(
            audit,
            f"{args.command}.delete",
            args.id,
            {"id": args.id, "deleted": True},
            _subject(kind, args.id),
        )
        print(f"deleted {kind} {args.id}")
        return 0
    fields: dict[str, Any] = {"id": args.id}
    if args.name is not None:
        fields["name"] = args.name
    if kind == "user" and args.team_id is not None:
        fields["team_id"] = args.team_id
    limits = _limits(args)
    if limits is not None:
        fields["limits"] = limits
    if args.action == "create":
        record = await (manager.create_user(fields) if kind == "user" else manager.create_team(fields))
    else:
        fields.pop("id")
        record = await (
            manager.update_user(args.id, fields) if kind == "user" else manager.update_team(args.id, fields)
        )
    _record(audit, f"{args.command}.{args.action}", args.id, record, _subject(kind, args.id))
    print(orjson.dumps(_plain(record), option=orjson.OPT_INDENT_2).decode())
    return 0


def _subject(kind: str, ident: str) -> str | None:
    return f"user:{ident}" if kind == "user" else None


async def _usage(store: Store, args: argparse.Namespace, audit: AuditLog | None) -> int:
    group_by = [g.strip() for g in args.group_by.split(",") if g.strip()]
    unknown = [g for g in group_by if g not in USAGE_DIMENSIONS]
    if unknown:
        print(
            f"error: cannot group by {', '.join(unknown)}; use {', '.join(USAGE_DIMENSIONS)}", file=sys.stderr
        )
        return 2
    start = _iso(args.start) if args.start else time.time() - _span(args.since)
    filters = {
        d: getattr(args, f"filter_{d}") for d in USAGE_DIMENSIONS if getattr(args, f"filter_{d}") is not None
    }
    if "status" in filters:
        filters["status"] = int(filters["status"])
    rows = await store.usage_report(
        group_by, start=start, end=_iso(args.end) if args.end else None, bucket=args.bucket, filters=filters
    )
    if args.json:
        print(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return 0
    columns = [
        *(["bucket"] if args.bucket else []),
        *group_by,
        "requests",
        "prompt_tokens",
        "completion_tokens",
    ]
    columns += ["cost_usd", "cost_saved_usd", "errors", "avg_latency_ms"]
    _table(rows, columns)
    return 0


async def _db(store: Store, args: argparse.Namespace, audit: AuditLog | None) -> int:
    print(f"{store.dialect} schema at version {await store.schema_version()}")
    return 0


def _pair(item: str) -> tuple[str, str]:
    name, sep, value = item.partition("=")
    if not sep or not name:
        raise GatewayError(f"--metadata expects KEY=VALUE, got {item!r}")
    return name, value


def _span(text: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([mhd])", text.strip())
    if match is None:
        raise GatewayError(f"--since expects a span such as 90m, 24h or 7d, got {text!r}")
    return float(match.group(1)) * {"m": 60, "h": 3600, "d": 86_400}[match.group(2)]


def _iso(text: str) -> float:
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise GatewayError(f"expected an ISO date or date-time, got {text!r}") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).timestamp()


def _plain(record: object) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(record)  # type: ignore[call-overload]


def _table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    if not rows:
        print("(none)")
        return
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return (
            f"{value:.6f}".rstrip("0").rstrip(".")
            if value < 1e9
            else dt.datetime.fromtimestamp(value, dt.UTC).isoformat()
        )
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode() if value else "-"
    return str(value)
