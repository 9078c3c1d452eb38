"""Audit fixtures: an opened store on each database, a raw-SQL hand for tampering, and a populated log."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bastion.audit.config import AuditConfig
from bastion.audit.signing import Signer
from bastion.audit.writer import AuditLog
from bastion.context import GuardDecision, RequestContext
from bastion.store.base import Store
from bastion.store.records import LedgerRow
from bastion.store.sqlite import SQLiteStore

# the store fixtures (SQLite, and PostgreSQL when it answers) are the store contract tests' own
from tests.unit.store.test_store_contract import make_store, store  # noqa: F401

HMAC_KEY = "an-hmac-key-for-tests-0123456789abcdef"
OTHER_HMAC_KEY = "another-hmac-key-for-tests-0123456789ab"
MASTER_KEY = "a-master-key-for-tests-0123456789abcdef!"
T0 = 1_760_000_000.0


def audit_config(**overrides: Any) -> AuditConfig:
    settings: dict[str, Any] = {
        "enabled": True,
        "signing_key": HMAC_KEY,
        "checkpoint_every": 5,
        "checkpoint_seconds": 3600,
        "batch_size": 4,
        **overrides,
    }
    return AuditConfig(**settings)


async def raw(store: Store, sql: str, *arguments: Any) -> list[Any]:  # noqa: F811
    """Run SQL straight on the database, as someone with write access to it would (``?`` placeholders)."""
    if isinstance(store, SQLiteStore):
        connection = store._writer
        assert connection is not None
        cursor = await connection.execute(sql, arguments)
        rows = list(await cursor.fetchall())
        await cursor.close()
        return rows
    position = 0

    def numbered(_: Any) -> str:
        nonlocal position
        position += 1
        return f"${position}"

    import re

    pool = store._pool  # type: ignore[attr-defined]
    return list(await pool.fetch(re.sub(r"\?", numbered, sql), *arguments))


@dataclass
class Clock:
    now: float = T0

    def __call__(self) -> float:
        return self.now


def request_context(
    request_id: str, *, end_user: str | None = "alice", prompt: str = "hello", answer: str = "hi there"
) -> tuple[RequestContext, LedgerRow]:
    ctx = RequestContext(request_id=request_id, ingress="openai")
    ctx.client_body = {"model": "gpt", "messages": [{"role": "user", "content": prompt}], "user": end_user}
    ctx.answer_text = answer
    ctx.guards = [GuardDecision("pii", "input", "mask", "email=1")]
    row = LedgerRow(
        request_id=request_id,
        ts=T0,
        key_id="key_1",
        user_id="bob",
        team_id="search",
        end_user=end_user,
        model="gpt",
        provider="openai",
        deployment="gpt-4o-mini",
        route="chat",
        prompt_tokens=10,
        completion_tokens=3,
        cost_usd=0.0012,
        status=200,
    )
    return ctx, row


async def populate(log: AuditLog, requests: int = 23, admin: int = 7) -> None:
    """Write ``requests`` request entries and ``admin`` admin entries, in batches."""
    for number in range(requests):
        ctx, row = request_context(f"req-{number}", end_user="alice" if number % 2 else "carol")
        log.record_request(ctx, row)
        if number < admin:
            log.record_admin("admin:test", "keys.create", f"key_{number}", {"name": f"k{number}"})
    await log.flush()


def signer(key: str = HMAC_KEY) -> Signer:
    return Signer.from_config(AuditConfig(signing_key=key))
