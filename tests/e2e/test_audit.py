"""The audit log through the real server, on SQLite and PostgreSQL, driven by the official OpenAI SDK.

Requests and admin actions leave chained, signed entries that ``bastion audit verify`` accepts;
an edit made straight in the database makes it fail and name the entry; with ``payloads: full``
``bastion audit export`` shows the decrypted prompt, and after ``bastion audit erase`` the
payload is unreadable while the chain still verifies.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import secrets
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bastion.audit.signing import generate_ed25519
from tests.e2e.conftest import Fakes, Server, start_server, stop_server
from tests.e2e.limits_support import ADMIN_KEY, PROVIDER_ENV, AdminClient, oai, providers_yaml, wait_until

POSTGRES_DSN = os.environ.get("BASTION_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
SIGNING_KEY, PUBLIC_KEY = generate_ed25519()
MASTER_KEY = secrets.token_urlsafe(32)
PROMPT = "My name is Alice and my order 4411 is late"


@dataclass
class Gateway:
    server: Server
    config_path: Path
    storage: str  # "sqlite" | "postgres"
    database: str  # the SQLite file, or the PostgreSQL schema


def _run(coroutine: Any) -> Any:
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def _postgres(statement: str, *arguments: Any, schema: str | None = None) -> list[Any]:
    import asyncpg

    settings = {"search_path": schema} if schema else None
    connection = await asyncpg.connect(POSTGRES_DSN, timeout=5, server_settings=settings)
    try:
        return list(await connection.fetch(statement, *arguments))
    finally:
        await connection.close()


def config_yaml(fakes: Fakes, storage_url: str) -> str:
    return f"""
server:
  admin_key: "{ADMIN_KEY}"
  graceful_shutdown_seconds: 2
{providers_yaml(fakes)}
models:
  gpt-fake: {{provider: openai, model: gpt-4o-mini}}
storage:
  url: "{storage_url}"
  ledger_flush_ms: 20
audit:
  enabled: true
  payloads: full
  signing: ed25519
  signing_key: "{SIGNING_KEY}"
  master_key: "{MASTER_KEY}"
  flush_ms: 20
  checkpoint_every: 3
"""


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def gateway(
    request: pytest.FixtureRequest, fakes: Fakes, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    folder = tmp_path_factory.mktemp(f"audit-{request.param}")
    schema = ""
    if request.param == "sqlite":
        database = str(folder / "bastion.db")
        storage_url = f"sqlite:///{database}"
    else:
        pytest.importorskip("asyncpg")
        try:
            _run(_postgres("SELECT 1"))
        except Exception as error:
            pytest.skip(f"PostgreSQL unreachable at {POSTGRES_DSN}: {error}")
        schema = database = f"bastion_audit_e2e_{secrets.token_hex(6)}"
        _run(_postgres(f"CREATE SCHEMA {schema}"))
        separator = "&" if "?" in POSTGRES_DSN else "?"
        storage_url = f"{POSTGRES_DSN}{separator}search_path={schema}"
    server = start_server(config_yaml(fakes, storage_url), folder, PROVIDER_ENV)
    try:
        yield Gateway(server, folder / "bastion.yaml", request.param, database)
    finally:
        stop_server(server)
        if schema:
            _run(_postgres(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))


def audit_cli(gateway: Gateway, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bastion.cli", "audit", *args, "--config", str(gateway.config_path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=gateway.config_path.parent,
        env={**os.environ, **PROVIDER_ENV},
    )


def verified(gateway: Gateway) -> dict[str, Any]:
    result = audit_cli(gateway, "verify", "--json")
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


def sql(gateway: Gateway, statement: str, *arguments: Any) -> list[Any]:
    """Run SQL on the gateway's database directly (``?`` placeholders), as a database admin could."""
    if gateway.storage == "sqlite":
        with sqlite3.connect(gateway.database) as connection:
            return connection.execute(statement, arguments).fetchall()
    numbered = statement
    for position in range(1, statement.count("?") + 1):
        numbered = numbered.replace("?", f"${position}", 1)
    return _run(_postgres(numbered, *arguments, schema=gateway.database))


def test_requests_and_admin_actions_are_chained_exported_and_erased(gateway: Gateway) -> None:
    url = gateway.server.url
    admin = AdminClient(url)
    admin.create_team("support")
    admin.create_user("dave", team_id="support")
    secret, created = admin.create_key(name="support bot", user_id="dave", team_id="support")
    client = oai(url, secret)
    answer = client.chat.completions.create(
        model="gpt-fake", messages=[{"role": "user", "content": PROMPT}], user="alice", max_tokens=20
    )
    assert answer.choices[0].message.content
    stream = client.chat.completions.create(
        model="gpt-fake", messages=[{"role": "user", "content": "stream please"}], user="alice", stream=True
    )
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    client.chat.completions.create(model="gpt-fake", messages=[{"role": "user", "content": "no end user"}])

    # the writer flushes every 20 ms: wait for 3 request entries and 3 admin entries
    def written() -> dict[str, Any] | None:
        report = verified(gateway)
        kinds = sql(gateway, "SELECT kind, COUNT(*) FROM audit_entries GROUP BY kind")
        counts = {row[0]: row[1] for row in kinds}
        return report if counts.get("request", 0) >= 3 and counts.get("admin", 0) >= 3 else None

    report, _ = wait_until(written, 15, "audit entries written")
    assert report["ok"], report["problems"]
    assert sum(chain["entries"] for chain in report["chains"]) >= 6
    assert verified(gateway)["ok"]
    assert audit_cli(gateway, "verify").returncode == 0

    # the key secret is nowhere in the audit log; the admin entry names the key and the action
    bodies = [row[0] for row in sql(gateway, "SELECT body FROM audit_entries")]
    assert not any(secret in body for body in bodies)
    actions = [json.loads(body) for body in bodies if '"kind":"admin"' in body]
    assert {"teams.create", "users.create", "keys.create"} <= {entry["action"] for entry in actions}
    key_entry = next(entry for entry in actions if entry["action"] == "keys.create")
    assert key_entry["target"] == created["id"] and key_entry["actor"].startswith("admin:")
    assert ADMIN_KEY not in key_entry["actor"]

    # export: the end user's entries, ledger rows and decrypted prompts
    subject = "end_user:support/alice"
    exported = audit_cli(gateway, "export", "--subject", subject)
    assert exported.returncode == 0, exported.stderr
    document = json.loads(exported.stdout)
    assert len(document["audit_entries"]) == 2 and len(document["ledger"]) >= 1
    decrypted = [p for p in document["payloads"] if p["status"] == "decrypted"]
    assert len(decrypted) == 2
    assert any(m["content"] == PROMPT for p in decrypted for m in p["request"]["messages"])
    # the answers as the client received them, the streamed one reassembled from its chunks
    answers = {p["answer"] for p in decrypted}
    assert answer.choices[0].message.content in answers
    assert any(a and "stream please" in a for a in answers)
    assert PROMPT not in " ".join(bodies)  # only the sealed payload's digest is chained

    # erase: the subject's key is destroyed; the payloads are unreadable; the chain still verifies
    refused = audit_cli(gateway, "erase", "--subject", subject)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    erased = audit_cli(gateway, "erase", "--subject", subject, "--yes")
    assert erased.returncode == 0, erased.stderr
    assert json.loads(erased.stdout)["payloads_unreadable"] == 2
    after = json.loads(audit_cli(gateway, "export", "--subject", subject).stdout)
    assert [p["status"] for p in after["payloads"]] == ["unreadable", "unreadable"]
    assert not any(PROMPT in json.dumps(p) for p in after["payloads"])
    # reading and erasing someone's data are audited actions too
    assert {"audit.export", "audit.erase"} <= {entry.get("action") for entry in after["audit_entries"]}
    final = verified(gateway)
    assert final["ok"], final["problems"]
    admin.close()


def test_an_edit_in_the_database_fails_verify_naming_the_entry(gateway: Gateway) -> None:
    client = oai(gateway.server.url, AdminClient(gateway.server.url).create_key(name="tamper")[0])
    client.chat.completions.create(model="gpt-fake", messages=[{"role": "user", "content": "bill me"}])
    wait_until(
        lambda: (
            verified(gateway)["ok"] and sql(gateway, "SELECT 1 FROM audit_entries WHERE kind = 'request'")
        ),
        15,
        "entries",
    )
    chain_id, seq = sql(
        gateway, "SELECT chain_id, seq FROM audit_entries WHERE kind = 'request' ORDER BY ts LIMIT 1"
    )[0]
    sql(
        gateway,
        "UPDATE audit_entries SET body = replace(body, '\"status\":200', '\"status\":201') "
        "WHERE chain_id = ? AND seq = ?",
        chain_id,
        seq,
    )
    result = audit_cli(gateway, "verify")
    assert result.returncode == 1, result.stdout
    assert f"chain {chain_id} seq {seq}: edited" in result.stdout
    # put it back: the log verifies again (the other tests in this module share it)
    sql(
        gateway,
        "UPDATE audit_entries SET body = replace(body, '\"status\":201', '\"status\":200') "
        "WHERE chain_id = ? AND seq = ?",
        chain_id,
        seq,
    )
    assert audit_cli(gateway, "verify").returncode == 0


def test_cli_admin_commands_are_audited_in_their_own_chain(gateway: Gateway) -> None:
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "bastion.cli",
            "keys",
            "create",
            "--name",
            "from-cli",
            "--config",
            str(gateway.config_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=gateway.config_path.parent,
        env={**os.environ, **PROVIDER_ENV},
    )
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    rows = sql(gateway, "SELECT chain_id, body FROM audit_entries WHERE kind = 'admin'")
    cli = [(chain_id, json.loads(body)) for chain_id, body in rows if '"actor":"cli:' in body]
    created = [(chain_id, entry) for chain_id, entry in cli if entry["action"] == "keys.create"]
    assert len(created) == 1 and created[0][1]["summary"]["name"] == "from-cli"
    assert "-cli-" in created[0][0] and created[0][0].endswith("/admin")  # the command's own chain
    assert secret not in json.dumps(cli)
    assert audit_cli(gateway, "verify").returncode == 0
