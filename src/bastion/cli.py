"""The ``bastion`` command: serve, demo, config check; keys, users, teams, usage, db, audit in cli_admin."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from bastion import __version__
from bastion.config import BastionConfig
from bastion.config_loader import ConfigError, default_config, load_config_file

if TYPE_CHECKING:
    from bastion.workers import WorkerSeat


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bastion", description="A production gateway for LLM APIs.")
    parser.add_argument("--version", action="version", version=f"bastion {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", help="YAML config (default: ./bastion.yaml if present, else zero-config)")
    serve.add_argument("--host", help="address to bind (overrides server.host)")
    serve.add_argument("--port", type=int, help="port to bind (overrides server.port; default 8080)")
    serve.add_argument(
        "--workers",
        type=_positive,
        default=1,
        help="worker processes sharing the port, one per core (default 1); more than one needs "
        "limits.backend: redis or limits.per_process: true",
    )

    demo = commands.add_parser(
        "demo", help="run the gateway on simulated providers and drive traffic through it"
    )
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--seconds", type=float, help="how long to drive traffic (default 60)")
    demo.add_argument("--requests", type=int, help="stop after this many requests")
    demo.add_argument("--exit", action="store_true", help="stop after the report instead of serving on")

    config = commands.add_parser("config", help="config tools")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    check = config_commands.add_parser("check", help="validate a config file and print what it sets up")
    check.add_argument("file")

    from bastion import cli_admin

    cli_admin.add_commands(commands)

    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "demo":
        from bastion.demo import run_demo

        return run_demo(
            port=args.port, seconds=args.seconds, requests=args.requests, keep_serving=not args.exit
        )
    if args.command == "config":
        return _config_check(args.file)
    try:
        loaded = _load(args.config)[0]
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    return cli_admin.run(args.command, args, loaded)


def _load(path: str | None) -> tuple[BastionConfig, list[str], str]:
    if path:
        return load_config_file(path), [], path
    if Path("bastion.yaml").exists():
        return load_config_file("bastion.yaml"), [], "./bastion.yaml"
    config, notices = default_config()
    return config, notices, "zero-config"


def _config_check(path: str) -> int:
    try:
        config = load_config_file(path)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    from bastion.guards.stage import GuardStage

    try:
        guards = GuardStage.build(config)  # loads classifier hooks: a bad import path fails here
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"{path}: OK")
    if guards is not None:
        on = sorted(
            {
                f"{n}={getattr(config.guards, n).mode}"
                for n in type(config.guards).model_fields
                if n != "overrides" and getattr(config.guards, n).mode != "off"
            }
        )
        print(f"  guards: {', '.join(on) or 'off by default'}; {len(config.guards.overrides)} override(s)")
    for name, provider in config.providers.items():
        print(f"  provider {name}: {provider.type}")
    for name, group in config.models.items():
        targets = ", ".join(f"{d.provider}/{d.model}" for d in group.deployments)
        print(f"  model {name} ({group.kind}) -> {targets}")
    print(f"  storage: {_redacted(config.storage.url)}" + ("" if config.storage.ledger else " (ledger off)"))
    limits = config.limits
    print(
        f"  limit counters: {limits.backend}"
        + (f" ({_redacted(limits.redis_url)})" if limits.redis_url else "")
    )
    scoped = [("keys", limits.keys), ("end users", limits.end_users)]
    scoped += [(f"model {n}", spec) for n, spec in limits.models.items()]
    scoped += [(f"feature {n}", spec) for n, spec in limits.features.items()]
    for what, spec in scoped:
        if not spec.empty:
            print(f"  limits for {what}: {spec.model_dump(exclude_none=True)}")
    audit = config.audit
    if audit.enabled:
        kept = {
            category: days
            for category, days in audit.retention.model_dump(exclude={"interval_seconds"}).items()
            if days is not None
        }
        print(
            f"  audit: on (payloads {audit.payloads}, {audit.signing} signatures, "
            f"checkpoint every {audit.checkpoint_every} entries or {audit.checkpoint_seconds:g} s"
            + (f", retention {kept}" if kept else ", kept forever")
            + ")"
        )
    from bastion.accounting.catalog import PriceCatalog

    unpriced = PriceCatalog(config).unpriced
    if unpriced:
        print(f"  no price known for: {', '.join(unpriced)} (counted at $0; set pricing:)")
    return 0


def _redacted(url: str | None) -> str:
    """A storage or Redis URL without its password."""
    from bastion.store.base import redact_secrets

    return redact_secrets(url or "")


def _serve(args: argparse.Namespace) -> int:
    try:
        config, notices, source = _load(args.config)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    updates = {}
    if args.host:
        updates["host"] = args.host
    if args.port:
        updates["port"] = args.port
    if updates:
        config = config.model_copy(update={"server": config.server.model_copy(update=updates)})

    def config_source() -> BastionConfig:
        # host and port cannot change under a running server; everything else can
        fresh = _load(args.config)[0]
        return fresh.model_copy(
            update={
                "server": fresh.server.model_copy(
                    update={
                        "host": config.server.host,
                        "port": config.server.port,
                    }
                )
            }
        )

    if args.workers == 1:
        return serve(config, notices=notices, source=source, config_source=config_source)
    from bastion.workers import run_workers

    def serve_worker(
        config: BastionConfig, seat: WorkerSeat, source_of_config: Callable[[], BastionConfig]
    ) -> int:
        said = notices if seat.index == 0 else None
        return serve(config, notices=said, source=source, config_source=source_of_config, worker=seat)

    return run_workers(config, args.workers, serve_worker, config_source)


def serve(
    config: BastionConfig,
    *,
    notices: list[str] | None = None,
    source: str = "config",
    config_source: Callable[[], BastionConfig] | None = None,
    worker: WorkerSeat | None = None,
) -> int:
    """Run the server in the foreground until SIGINT/SIGTERM (graceful: in-flight streams finish).

    ``worker``: this process is one of ``serve --workers N``'s, serving the supervisor's sockets.
    """
    import uvicorn

    from bastion.app import BastionApp
    from bastion.gateway import Gateway, is_loopback

    server = config.server
    logging.basicConfig(
        level=server.log_level.upper(),
        format="%(asctime)s %(levelname)s "
        + ("" if worker is None else f"[worker {worker.index}] ")
        + "%(name)s: %(message)s",
        stream=sys.stderr,
        force=True,  # a worker inherits the supervisor's logging
    )
    _allow_open_files()
    if server.access_log:
        logging.getLogger("bastion.access").setLevel(logging.INFO)
    else:
        logging.getLogger("bastion.access").setLevel(logging.WARNING)
    log = logging.getLogger("bastion")
    try:
        gateway = Gateway.from_config(config)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    if gateway.auth.dev_mode and server.dev_mode is None:
        # keys made with `bastion keys create` live in storage: read them before deciding
        import asyncio

        asyncio.run(_load_identities(gateway))
    if gateway.auth.dev_mode:
        if not is_loopback(server.host):
            print(
                f"refusing to bind {server.host}: no API keys are configured (local development mode). "
                "Set server.api_keys (or server.admin_key) before exposing the gateway.",
                file=sys.stderr,
            )
            return 2
        notices = [
            *(notices or []),
            "LOCAL DEVELOPMENT MODE: no keys configured, any bearer token is accepted.",
        ]
    for notice in notices or []:
        log.warning("*** %s ***", notice)
    log.info(
        "bastion %s: %s, %d providers, %d models, listening on http://%s:%d",
        __version__,
        source,
        len(gateway.providers),
        len(gateway.router.groups),
        server.host,
        server.port,
    )
    uvicorn_config = uvicorn.Config(
        BastionApp(gateway, config_source),
        host=server.host,
        port=server.port,
        loop="uvloop" if _has("uvloop") else "asyncio",
        http="httptools" if _has("httptools") else "h11",
        lifespan="on",
        access_log=False,
        log_level="warning" if server.log_level == "info" else server.log_level,
        timeout_graceful_shutdown=int(server.graceful_shutdown_seconds),
        timeout_keep_alive=75,
        backlog=4096,
        server_header=False,
        date_header=False,
    )
    # uvicorn drains in-flight requests on SIGTERM/SIGINT, then re-raises the signal to the handler
    # that was there before it; make that one a clean exit, since the shutdown was graceful.
    for handled in (signal.SIGTERM, signal.SIGINT):
        signal.signal(handled, _exit_cleanly)
    if worker is None:
        uvicorn.Server(uvicorn_config).run()
    else:
        worker.serve(uvicorn.Server(uvicorn_config))
    return 0


async def _load_identities(gateway: object) -> None:
    """Read the stored keys with a short-lived connection (the server opens its own in its event loop)."""
    from bastion.store.factory import open_store

    store = open_store(gateway.config.storage.url, pool_max_size=1)  # type: ignore[attr-defined]
    try:
        await store.open()
        gateway.services.identities.apply(await store.identity_changes(0.0))  # type: ignore[attr-defined]
    finally:
        await store.close()


def _allow_open_files() -> None:
    """Raise the soft limit on open files to the hard one, as Go's runtime does.

    Every stream holds two sockets (client and provider); the usual soft limit of 1,024 would cap
    a process near 500 concurrent streams while the hard limit allows far more.
    """
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


if __name__ == "__main__":
    sys.exit(main())
