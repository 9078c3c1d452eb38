"""``bastion demo``: the gateway on simulated providers under a minute of realistic traffic.

It shows what Bastion does without any provider key. Three simulated providers: *steady*,
*flaky* (one answer in five fails, and it has an outage halfway through the run) and *slow*
(a cheap provider having a bad day: two seconds to the first token). Three teams' applications
call the gateway with their own virtual keys, created through the admin API: a support bot that
streams, a search box, a summariser, an autocomplete. While they do, the flaky provider's
errors are absorbed by failover, the slow provider's breaker opens on its time to first token and
its traffic moves to the fallback model group, repeated questions are answered from the cache,
and customers' email addresses are masked before they leave the gateway. The report says all of
that with the ledger's spend per feature, team and user; then the gateway keeps serving, with
the dashboard's URL and admin key printed. Prices are illustrative list rates of small and
mid-size models; the ledger is a temporary SQLite file.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sys
import tempfile
from collections.abc import Callable
from typing import Any

import aiohttp

from bastion.config import BastionConfig
from bastion.demo_progress import BreakerWatch, ProgressBar
from bastion.demo_report import Report
from bastion.demo_traffic import TEAMS, Traffic

#: the breaker's rest before it probes again; shorter than the default 15 s so that a minute
#: shows a trip, a failed probe and a recovery
OPEN_SECONDS = 8.0
SLOW_TTFT_MS = 2000
SLOW_BREAKER_TTFT_MS = 800
# illustrative prices, USD per 1M tokens
SMALL_MODEL = {"input": 0.15, "output": 0.60}
MID_MODEL = {"input": 0.40, "output": 1.60}
CHEAP_MODEL = {"input": 0.10, "output": 0.40}
EMBEDDING_MODEL = {"input": 0.02, "output": 0.0}


def demo_config(*, port: int, ledger_path: str, admin_key: str, seconds: float) -> dict[str, Any]:
    """The demo gateway's config; the flaky provider's outage is placed in the middle of the run."""
    breaker = {"open_seconds": OPEN_SECONDS}
    return {
        "server": {"port": port, "admin_key": admin_key, "log_level": "warning"},
        "storage": {"url": f"sqlite:///{ledger_path}", "ledger_flush_ms": 50},
        "providers": {
            "steady": {"type": "simulator", "ttft_ms": 120, "tokens_per_second": 150, "seed": 1},
            "flaky": {
                "type": "simulator",
                "ttft_ms": 60,
                "tokens_per_second": 200,
                "error_rate": 0.2,
                "error_status": 503,
                "outages": [
                    {"start_seconds": round(seconds * 0.4, 1), "duration_seconds": max(1.0, seconds * 0.2)}
                ],
                "seed": 2,
            },
            "slow": {"type": "simulator", "ttft_ms": SLOW_TTFT_MS, "tokens_per_second": 80, "seed": 3},
        },
        "models": {
            # the support bot and autocomplete: the cheaper flaky provider first, steady behind it
            "demo-chat": {
                "strategy": "priority",
                "deployments": [
                    {"provider": "flaky", "model": "flaky-sim-1", "pricing": SMALL_MODEL},
                    {"provider": "steady", "model": "steady-sim-1", "pricing": MID_MODEL},
                ],
                "breaker": breaker,
                "static_reply": "The assistant is busy right now; please try again in a minute.",
            },
            # search answers and summaries: the cheapest model, until it is too slow to wait for
            "demo-mini": {
                "provider": "slow",
                "model": "slow-sim-1",
                "pricing": CHEAP_MODEL,
                "breaker": {**breaker, "ttft_threshold_ms": SLOW_BREAKER_TTFT_MS},
                "fallbacks": ["demo-steady"],
            },
            "demo-steady": {"provider": "steady", "model": "steady-sim-1", "pricing": MID_MODEL},
            "demo-embed": {
                "provider": "steady",
                "model": "embed-sim-1",
                "kind": "embeddings",
                "pricing": EMBEDDING_MODEL,
            },
        },
        # customers write their contact details into the support chat: mask them there
        "guards": {"overrides": [{"models": ["demo-chat"], "pii": {"mode": "mask"}}]},
    }


async def create_identities(session: aiohttp.ClientSession, base: str, admin_key: str) -> dict[str, str]:
    """Teams, users and one virtual key per user, through the admin API; returns user id -> key."""
    headers = {"authorization": f"Bearer {admin_key}"}
    keys: dict[str, str] = {}

    async def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with session.post(f"{base}/admin/{path}", json=body, headers=headers) as response:
            payload: dict[str, Any] = await response.json()
            if response.status != 201:
                raise RuntimeError(f"POST /admin/{path}: {response.status} {payload}")
            return payload

    for team_id, (team_name, members) in TEAMS.items():
        await post("teams", {"id": team_id, "name": team_name})
        for user_id, user_name in members:
            await post("users", {"id": user_id, "name": user_name, "team_id": team_id})
            created = await post("keys", {"name": f"{user_name}'s app", "user_id": user_id})
            keys[user_id] = created["key"]
    return keys


def run_demo(
    *,
    port: int = 8080,
    seconds: float | None = None,
    requests: int | None = None,
    keep_serving: bool = True,
) -> int:
    """Start the gateway in-process, drive traffic, print the report, then (by default) keep serving.

    Traffic runs for ``seconds`` (60 when neither limit is given) or until ``requests`` were sent,
    whichever comes first.
    """
    import uvicorn

    from bastion.app import BastionApp
    from bastion.gateway import Gateway

    if seconds is None and requests is None:
        seconds = 60.0
    # the outage is timed from start-up; without a duration, guess one from the request count
    planned_seconds = seconds if seconds is not None else max(5.0, (requests or 0) / 20)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # the report tells what breakers and failovers did; their log lines would break the progress bar
    logging.getLogger("bastion").setLevel(logging.ERROR)
    admin_key = "demo-admin-" + secrets.token_urlsafe(16)
    ledger_path = f"{tempfile.mkdtemp(prefix='bastion-demo-')}/demo.db"
    config = BastionConfig.model_validate(
        demo_config(port=port, ledger_path=ledger_path, admin_key=admin_key, seconds=planned_seconds)
    )
    gateway = Gateway.from_config(config)
    server = uvicorn.Server(
        uvicorn.Config(BastionApp(gateway), host="127.0.0.1", port=port, lifespan="on", log_level="warning")
    )

    async def main() -> int:
        serving = asyncio.create_task(server.serve())
        while not server.started:
            if serving.done():
                print(f"could not start the gateway on port {port}", file=sys.stderr)
                return 1
            await asyncio.sleep(0.02)
        base = f"http://127.0.0.1:{port}"
        try:
            keys = await drive_and_report(base, admin_key, seconds, requests, lambda: server.should_exit)
        except BaseException:
            server.should_exit = True  # stop serving, or the process would hang on the server task
            await serving
            raise
        logging.getLogger("bastion").setLevel(logging.WARNING)
        if not keep_serving or server.should_exit:
            server.should_exit = True
            await serving
            return 0
        print(
            f"\nThe gateway keeps running (Ctrl-C to stop).\n"
            f"  dashboard  {base}/dashboard   admin key: {admin_key}\n"
            f"  ledger     {ledger_path}\n"
            f"  try        curl -s {base}/v1/chat/completions "
            f"-H 'authorization: Bearer {keys['alice@acme.test']}' "
            '-d \'{"model": "demo-chat", "messages": [{"role": "user", "content": "hi"}]}\'',
            flush=True,
        )
        await serving
        return 0

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        return 0


async def drive_and_report(
    base: str,
    admin_key: str,
    seconds: float | None,
    requests: int | None,
    interrupted: Callable[[], bool],
) -> dict[str, str]:
    """Create the callers, run the traffic under the progress bar, print the report; returns the keys.

    ``interrupted`` says the server is shutting down (Ctrl-C): the traffic stops and there is no
    report, since the ledger it reads is going away with the server.
    """
    async with aiohttp.ClientSession() as session:
        keys = await create_identities(session, base, admin_key)
        describe(base, seconds, requests)
        traffic = Traffic(base, keys, seconds=seconds, requests=requests, should_stop=interrupted)
        watch = BreakerWatch(base, admin_key)
        finished = asyncio.Event()
        bar = asyncio.create_task(ProgressBar(traffic, watch).run(session, finished))
        try:
            await traffic.run()
        finally:
            finished.set()
            await bar
        if interrupted():
            print("interrupted: stopping the gateway", file=sys.stderr)
            return keys
        await Report(traffic, watch).print(session, base, admin_key)
    return keys


def describe(base: str, seconds: float | None, requests: int | None) -> None:
    """What is about to happen, before the progress bar starts."""
    limit = f"{seconds:g} s" if seconds is not None else f"{requests} requests"
    if seconds is not None and requests is not None:
        limit += f" or {requests} requests"
    users = sum(len(members) for _, members in TEAMS.values())
    print(
        f"Bastion demo: gateway on {base}, simulated providers (no provider key needed).\n"
        f"  steady  answers in ~120 ms\n"
        f"  flaky   cheaper; 1 in 5 requests fails with 503, and an outage halfway through\n"
        f"  slow    the cheapest; {SLOW_TTFT_MS / 1000:g} s to the first token today "
        f"(its breaker opens above {SLOW_BREAKER_TTFT_MS} ms)\n"
        f"Driving {limit} of traffic from {users} users in {len(TEAMS)} teams, each with a virtual key: "
        "support-bot (streams, PII masked), search (embeddings, cached FAQ), summarise, autocomplete.\n",
        flush=True,
    )
