"""One contract, both databases: every test runs on SQLite (a temporary file) and PostgreSQL (a fresh schema).

PostgreSQL is ``BASTION_TEST_POSTGRES`` or ``postgresql://postgres@127.0.0.1:5432/test``; its
tests are skipped, saying why, only when that server cannot be reached.
"""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bastion.store.base import TIME_BUCKETS, USAGE_DIMENSIONS, USAGE_METRICS, Store, StoreError
from bastion.store.factory import open_store
from bastion.store.migrations import LATEST_VERSION
from bastion.store.records import KeyRecord, LedgerRow, TeamRecord, UserRecord
from bastion.store.sqlite import SQLiteStore

POSTGRES_DSN = os.environ.get("BASTION_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
T0 = datetime(2026, 1, 19, tzinfo=UTC).timestamp()  # a Monday, 00:00 UTC
DAY = 86_400.0

_postgres_unreachable: list[str | None] = []  # probed once per session


async def _postgres_skip_reason() -> str | None:
    if not _postgres_unreachable:
        try:
            import asyncpg
        except ImportError:
            _postgres_unreachable.append("asyncpg is not installed (pip install -e '.[test]')")
        else:
            try:
                connection = await asyncpg.connect(POSTGRES_DSN, timeout=5)
            except Exception as error:
                _postgres_unreachable.append(f"PostgreSQL at {POSTGRES_DSN} is unreachable: {error}")
            else:
                await connection.close()
                _postgres_unreachable.append(None)
    return _postgres_unreachable[0]


StoreMaker = Callable[[], Store]


@pytest.fixture(params=["sqlite", "postgres"])
async def make_store(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[StoreMaker]:
    """Makes unopened stores that share one database (one file, or one schema dropped afterwards)."""
    made: list[Store] = []
    if request.param == "sqlite":
        path = str(tmp_path / "bastion.db")

        def make() -> Store:
            made.append(SQLiteStore(path))
            return made[-1]

        yield make
        for store in made:
            await store.close()
        return

    reason = await _postgres_skip_reason()
    if reason is not None:
        pytest.skip(reason)
    import asyncpg

    from bastion.store.postgres import PostgresStore

    schema = f"bastion_test_{uuid.uuid4().hex[:16]}"

    def make() -> Store:
        made.append(PostgresStore(POSTGRES_DSN, min_size=1, max_size=4, schema=schema))
        return made[-1]

    try:
        yield make
    finally:
        for store in made:
            await store.close()
        connection = await asyncpg.connect(POSTGRES_DSN)
        try:
            await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await connection.close()


@pytest.fixture
async def store(make_store: StoreMaker) -> Store:
    opened = make_store()
    await opened.open()
    return opened


# --------------------------------------------------------------------------- migrations


async def test_open_twice_applies_migrations_once(make_store: StoreMaker) -> None:
    first = make_store()
    await first.open()
    await first.open()  # a second open on the same instance is a no-op
    assert await first.schema_version() == LATEST_VERSION
    await first.upsert_team(TeamRecord("search"))
    await first.close()

    second = make_store()
    await second.open()
    assert await second.schema_version() == LATEST_VERSION
    assert [team.id for team in await second.list_teams()] == ["search"]


async def test_concurrent_opens_do_not_fail(make_store: StoreMaker) -> None:
    stores = [make_store() for _ in range(3)]
    await asyncio.gather(*(store.open() for store in stores))
    assert [await store.schema_version() for store in stores] == [LATEST_VERSION] * 3
    await asyncio.gather(*(store.upsert_team(TeamRecord(f"team-{i}")) for i, store in enumerate(stores)))
    assert len(await stores[0].list_teams()) == 3


async def test_an_older_schema_is_upgraded_in_place(
    make_store: StoreMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bastion.store import migrations

    with monkeypatch.context() as patch:
        patch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:1])  # a release at version 1
        old = make_store()
        await old.open()
        assert await old.schema_version() == 1
        await old.upsert_team(TeamRecord("search"))
        await old.close()
    new = make_store()
    await new.open()
    assert await new.schema_version() == LATEST_VERSION
    assert [team.id for team in await new.list_teams()] == ["search"]
    await new.write_ledger([LedgerRow("req-1", ts=T0, cache_hit="semantic-hit", cache_similarity=0.5)])
    assert await _ledger_cell(new, "cache_similarity", "req-1") == 0.5


async def test_unopened_store_raises_store_error(make_store: StoreMaker) -> None:
    with pytest.raises(StoreError):
        await make_store().list_teams()


# --------------------------------------------------------------------------- identity


async def test_team_upsert_get_list_and_soft_delete(store: Store) -> None:
    created = await store.upsert_team(
        TeamRecord("search", "Search", limits={"rpm": 60}, metadata={"cc": "42"})
    )
    assert created.created_at > 0 and created.updated_at == created.created_at and created.deleted_at is None
    assert (created.name, created.limits, created.metadata) == ("Search", {"rpm": 60}, {"cc": "42"})

    await asyncio.sleep(0.01)
    updated = await store.upsert_team(TeamRecord("search", "Search team", limits={"rpm": 120}))
    assert updated.created_at == created.created_at
    assert updated.updated_at > created.updated_at
    assert (updated.name, updated.limits, updated.metadata) == ("Search team", {"rpm": 120}, {})
    assert await store.get_team("search") == updated
    await store.upsert_team(TeamRecord("ads"))
    assert [team.id for team in await store.list_teams()] == ["ads", "search"]

    assert await store.delete_team("search") is True
    deleted = await store.get_team("search")
    assert deleted is not None and deleted.deleted_at is not None and deleted.updated_at >= deleted.deleted_at
    assert await store.delete_team("search") is False  # already deleted: the first deleted_at stays
    assert (await store.get_team("search")) == deleted
    assert await store.delete_team("nobody") is False
    assert await store.get_team("nobody") is None
    assert [team.id for team in await store.list_teams()] == ["ads"]

    restored = await store.upsert_team(TeamRecord("search", "Search"))  # upserting brings it back
    assert restored.deleted_at is None and restored.created_at == created.created_at


async def test_user_upsert_list_by_team_and_soft_delete(store: Store) -> None:
    alice = await store.upsert_user(
        UserRecord("alice@example.com", "Alice", team_id="search", limits={"a": 1})
    )
    await store.upsert_user(UserRecord("bob@example.com", "Bob", team_id="ads"))
    await store.upsert_user(UserRecord("carol@example.com", team_id="search"))
    assert alice.team_id == "search" and alice.limits == {"a": 1} and alice.created_at > 0
    assert await store.get_user("alice@example.com") == alice
    assert [user.id for user in await store.list_users()] == [
        "alice@example.com",
        "bob@example.com",
        "carol@example.com",
    ]
    assert [user.id for user in await store.list_users(team_id="search")] == [
        "alice@example.com",
        "carol@example.com",
    ]

    moved = await store.upsert_user(UserRecord("alice@example.com", "Alice", team_id="ads"))
    assert moved.team_id == "ads" and moved.created_at == alice.created_at
    assert await store.delete_user("carol@example.com") is True
    assert await store.delete_user("carol@example.com") is False
    assert await store.list_users(team_id="search") == []
    carol = await store.get_user("carol@example.com")
    assert carol is not None and carol.deleted_at is not None


def _key(key_id: str, **fields: Any) -> KeyRecord:
    return KeyRecord(id=key_id, digest=f"digest-{key_id}", prefix=f"bst_{key_id[-4:]}", **fields)


async def test_key_create_update_list(store: Store) -> None:
    created = await store.create_key(
        _key(
            "key_0001",
            name="ci",
            user_id="alice",
            team_id="search",
            models=["gpt-4o", "claude"],
            limits={"rpm": 10, "budget": {"daily": 5.5}},
            metadata={"owner": "ci", "note": "ünïcode ✓"},
            expires_at=T0 + 0.25,
        )
    )
    assert created.created_at > 0 and created.updated_at == created.created_at and created.revoked_at is None
    assert created.models == ["gpt-4o", "claude"] and created.expires_at == T0 + 0.25
    assert created.metadata == {"owner": "ci", "note": "ünïcode ✓"}
    assert await store.get_key("key_0001") == created
    assert await store.get_key("key_nope") is None

    await asyncio.sleep(0.01)
    changed = KeyRecord(
        id="key_0001",
        digest="another digest",  # ignored: a key's digest never changes
        prefix="bst_xxxx",
        name="ci-2",
        user_id="alice",
        team_id="search",
        models=[],
        limits={"rpm": 20},
        metadata={},
        expires_at=None,
    )
    updated = await store.update_key(changed)
    assert (updated.digest, updated.prefix) == (created.digest, created.prefix)
    assert (updated.name, updated.models, updated.limits, updated.metadata) == ("ci-2", [], {"rpm": 20}, {})
    assert updated.expires_at is None
    assert updated.created_at == created.created_at and updated.updated_at > created.updated_at
    with pytest.raises(StoreError):
        await store.update_key(_key("key_nope"))

    await store.create_key(_key("key_0002", user_id="bob", team_id="search"))
    await store.create_key(_key("key_0003", user_id="bob", team_id="ads"))
    assert [key.id for key in await store.list_keys()] == ["key_0001", "key_0002", "key_0003"]
    assert [key.id for key in await store.list_keys(user_id="bob")] == ["key_0002", "key_0003"]
    assert [key.id for key in await store.list_keys(team_id="search")] == ["key_0001", "key_0002"]
    assert [key.id for key in await store.list_keys(user_id="bob", team_id="ads")] == ["key_0003"]


async def test_revoke_twice_keeps_the_first_revocation(store: Store) -> None:
    await store.create_key(_key("key_0001", user_id="bob"))
    await store.create_key(_key("key_0002", user_id="bob"))
    first = await store.revoke_key("key_0001")
    assert first is not None and first.revoked_at is not None and first.updated_at == first.revoked_at
    await asyncio.sleep(0.01)
    second = await store.revoke_key("key_0001")
    assert second is not None
    assert (second.revoked_at, second.updated_at) == (first.revoked_at, first.updated_at)
    assert await store.revoke_key("key_nope") is None

    assert [key.id for key in await store.list_keys(user_id="bob")] == ["key_0002"]
    listed = await store.list_keys(user_id="bob", include_revoked=True)
    assert [key.id for key in listed] == ["key_0001", "key_0002"]


async def test_duplicate_digest_or_id_is_a_store_error(store: Store) -> None:
    await store.create_key(_key("key_0001"))
    with pytest.raises(StoreError, match="digest"):
        await store.create_key(KeyRecord(id="key_0002", digest="digest-key_0001", prefix="bst_0002"))
    with pytest.raises(StoreError):
        await store.create_key(KeyRecord(id="key_0001", digest="fresh", prefix="bst_0001"))
    assert [key.id for key in await store.list_keys()] == ["key_0001"]
    await store.create_key(_key("key_0003"))  # the store is still usable after the refusals


async def test_identity_changes_since(store: Store) -> None:
    await store.upsert_team(TeamRecord("old-team"))
    await store.upsert_user(UserRecord("old-user"))
    await store.create_key(_key("key_old1"))
    await store.create_key(_key("key_old2"))
    everything = await store.identity_changes(0)
    assert [t.id for t in everything.teams] == ["old-team"]
    assert [u.id for u in everything.users] == ["old-user"]
    assert sorted(k.id for k in everything.keys) == ["key_old1", "key_old2"]
    since = everything.as_of
    assert since >= max(k.updated_at for k in everything.keys)

    await asyncio.sleep(0.02)
    unchanged = await store.identity_changes(since)
    assert unchanged.teams == unchanged.users == unchanged.keys == []
    await store.upsert_team(TeamRecord("new-team"))
    await store.upsert_user(UserRecord("new-user"))
    await store.create_key(_key("key_new1"))
    await store.revoke_key("key_old1")
    await store.delete_user("old-user")
    await store.delete_team("old-team")

    changes = await store.identity_changes(since)
    assert sorted(t.id for t in changes.teams) == ["new-team", "old-team"]
    assert sorted(u.id for u in changes.users) == ["new-user", "old-user"]
    assert sorted(k.id for k in changes.keys) == ["key_new1", "key_old1"]  # key_old2 did not change
    assert next(t for t in changes.teams if t.id == "old-team").deleted_at is not None
    assert next(u for u in changes.users if u.id == "old-user").deleted_at is not None
    assert next(k for k in changes.keys if k.id == "key_old1").revoked_at is not None
    assert changes.as_of >= since

    # at or after: a row changed exactly at ``since`` is included
    new_key = await store.get_key("key_new1")
    assert new_key is not None
    exactly = await store.identity_changes(new_key.updated_at)
    assert "key_new1" in {k.id for k in exactly.keys}


# --------------------------------------------------------------------------- ledger

_FEATURES = ("search", "chat", None)
_MODELS = ("gpt-4o", "claude-sonnet", "gemini-flash")
_PROVIDERS = {"gpt-4o": "openai", "claude-sonnet": "anthropic", "gemini-flash": "gemini"}


def _ledger_rows(count: int = 400, seed: int = 7) -> list[LedgerRow]:
    """Rows over 70 days with varied dimensions; costs are multiples of 1/64 so any sum order is exact."""
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        model = rng.choice(_MODELS)
        prompt = rng.randrange(0, 5000)
        cached = rng.randrange(0, prompt + 1)
        rows.append(
            LedgerRow(
                request_id=f"req-{seed}-{index:05d}",
                ts=T0 + rng.randrange(0, int(70 * DAY * 1000)) / 1000,
                key_id=rng.choice(("key_a", "key_b", "key_c", None)),
                user_id=rng.choice(("alice", "bob", None)),
                team_id=rng.choice(("search", "ads", None)),
                end_user=rng.choice(("u-1", "u-2", None)),
                feature=rng.choice(_FEATURES),
                model=model,
                provider=_PROVIDERS[model],
                deployment=f"{model}-2026",
                route=rng.choice(("chat", "messages", "embeddings")),
                stream=rng.random() < 0.5,
                prompt_tokens=prompt,
                completion_tokens=rng.randrange(0, 2000),
                cached_tokens=cached,
                cache_write_tokens=rng.randrange(0, 100),
                reasoning_tokens=rng.randrange(0, 300),
                cost_usd=rng.randrange(0, 640) / 64,
                usage_estimated=rng.random() < 0.05,
                cache_hit=rng.choice((None, None, "hit", "semantic-hit")),
                cost_saved_usd=rng.randrange(0, 64) / 64,
                latency_ms=float(rng.randrange(5, 5000)),
                ttft_ms=rng.choice((None, float(rng.randrange(1, 500)))),
                status=rng.choice((200, 200, 200, 429, 500)),
                error_code=None,
                attempts=rng.randrange(1, 4),
            )
        )
    # rows on bucket boundaries
    rows.append(LedgerRow("req-edge-week", ts=T0 + 7 * DAY, key_id="key_a", model="gpt-4o", cost_usd=1.0))
    rows.append(
        LedgerRow("req-edge-hour", ts=T0 + 3600 - 0.001, key_id="key_a", model="gpt-4o", cost_usd=0.5)
    )
    rows.append(LedgerRow("req-edge-month", ts=datetime(2026, 2, 1, tzinfo=UTC).timestamp(), cost_usd=2.0))
    return rows


def _bucket_start(ts: float, bucket: str) -> str:
    moment = datetime.fromtimestamp(ts, UTC)
    hour = moment.replace(minute=0, second=0, microsecond=0)
    day = hour.replace(hour=0)
    start = {
        "hour": hour,
        "day": day,
        "week": day - timedelta(days=day.weekday()),
        "month": day.replace(day=1),
    }[bucket]
    return start.isoformat()


def _expected(
    rows: Sequence[LedgerRow],
    group_by: Sequence[str],
    bucket: str | None = None,
    start: float | None = None,
    end: float | None = None,
    filters: dict[str, Any] | None = None,
) -> dict[tuple[Any, ...], dict[str, Any]]:
    groups: dict[tuple[Any, ...], list[LedgerRow]] = {}
    for row in rows:
        if start is not None and row.ts < start:
            continue
        if end is not None and row.ts >= end:
            continue
        if any(getattr(row, name) != value for name, value in (filters or {}).items()):
            continue
        key = tuple(getattr(row, name) for name in group_by)
        if bucket is not None:
            key += (_bucket_start(row.ts, bucket),)
        groups.setdefault(key, []).append(row)
    return {
        key: {
            "requests": len(members),
            "prompt_tokens": sum(r.prompt_tokens for r in members),
            "completion_tokens": sum(r.completion_tokens for r in members),
            "cached_tokens": sum(r.cached_tokens for r in members),
            "cache_write_tokens": sum(r.cache_write_tokens for r in members),
            "reasoning_tokens": sum(r.reasoning_tokens for r in members),
            "cost_usd": sum(r.cost_usd for r in members),
            "cost_saved_usd": sum(r.cost_saved_usd for r in members),
            "cache_hits": sum(1 for r in members if r.cache_hit is not None),
            "errors": sum(1 for r in members if r.status >= 400),
            "avg_latency_ms": sum(r.latency_ms for r in members) / len(members),
        }
        for key, members in groups.items()
    }


def _as_groups(
    report: list[dict[str, Any]], group_by: Sequence[str], bucket: str | None = None
) -> dict[tuple[Any, ...], dict[str, Any]]:
    groups = {}
    for row in report:
        key = tuple(row[name] for name in group_by) + ((row["bucket"],) if bucket else ())
        assert list(row) == [*group_by, *(["bucket"] if bucket else []), *USAGE_METRICS]
        assert key not in groups
        groups[key] = {name: row[name] for name in USAGE_METRICS}
    return groups


def _assert_same(
    actual: dict[tuple[Any, ...], dict[str, Any]], expected: dict[tuple[Any, ...], dict[str, Any]]
) -> None:
    assert set(actual) == set(expected)
    for key, totals in expected.items():
        got = actual[key]
        assert got["avg_latency_ms"] == pytest.approx(totals["avg_latency_ms"]), key
        exact = {name: value for name, value in totals.items() if name != "avg_latency_ms"}
        assert {name: got[name] for name in exact} == exact, key
        assert all(type(got[name]) is type(value) for name, value in exact.items()), key


async def test_write_ledger_is_idempotent_on_request_id(store: Store) -> None:
    rows = _ledger_rows(50)
    await store.write_ledger(rows[:30])
    await store.write_ledger([])
    # a retried batch overlapping the first one; a repeated id keeps the first row written
    replay = [*rows[20:], LedgerRow(rows[0].request_id, ts=rows[0].ts, cost_usd=999.0)]
    await store.write_ledger(replay)
    _assert_same(_as_groups(await store.usage_report([]), []), _expected(rows, []))


async def test_write_ledger_batch_is_atomic(store: Store) -> None:
    good = LedgerRow("req-good", ts=T0, cost_usd=1.0, cache_hit="semantic-hit", cache_similarity=0.9134)
    bad = LedgerRow(None, ts=T0)  # type: ignore[arg-type]  # NOT NULL request_id
    with pytest.raises(StoreError):
        await store.write_ledger([good, bad])
    assert await store.usage_report([]) == []
    await store.write_ledger([good, LedgerRow("req-exact-hit", ts=T0, cache_hit="hit")])
    assert [row["requests"] for row in await store.usage_report([])] == [2]
    assert await _ledger_cell(store, "cache_similarity", "req-good") == 0.9134
    assert await _ledger_cell(store, "cache_similarity", "req-exact-hit") is None


async def _ledger_cell(store: Store, column: str, request_id: str) -> Any:
    """One stored ledger value, read past the Store interface (which reports only sums)."""
    sql = f"SELECT {column} FROM ledger WHERE request_id = "
    if isinstance(store, SQLiteStore):
        return (await store._read(sql + "?", (request_id,)))[0][0]
    return await store._require_pool().fetchval(sql + "$1", request_id)  # type: ignore[attr-defined]


async def test_usage_report_by_each_dimension(store: Store) -> None:
    rows = _ledger_rows()
    await store.write_ledger(rows[:200])
    await store.write_ledger(rows[200:])
    for dimension in USAGE_DIMENSIONS:
        report = await store.usage_report([dimension])
        _assert_same(_as_groups(report, [dimension]), _expected(rows, [dimension]))
    two = ["team_id", "model"]
    _assert_same(_as_groups(await store.usage_report(two), two), _expected(rows, two))
    _assert_same(_as_groups(await store.usage_report([]), []), _expected(rows, []))


async def test_usage_report_by_time_bucket(store: Store) -> None:
    rows = _ledger_rows()
    await store.write_ledger(rows)
    for bucket in TIME_BUCKETS:
        report = await store.usage_report(["model"], bucket=bucket, limit=100_000)
        _assert_same(_as_groups(report, ["model"], bucket), _expected(rows, ["model"], bucket))
        plain = await store.usage_report([], bucket=bucket, limit=100_000)
        _assert_same(_as_groups(plain, [], bucket), _expected(rows, [], bucket))
    weeks = {row["bucket"] for row in await store.usage_report([], bucket="week")}
    assert all(datetime.fromisoformat(week).weekday() == 0 for week in weeks)


async def test_usage_report_filters_and_time_range(store: Store) -> None:
    rows = _ledger_rows()
    await store.write_ledger(rows)
    start, end = T0 + 7 * DAY, T0 + 21 * DAY  # start inclusive (an edge row sits on it), end exclusive
    cases: list[dict[str, Any]] = [
        {"filters": {"team_id": "search"}},
        {"filters": {"team_id": "search", "status": 200}},
        {"filters": {"feature": None}},  # None matches rows without a feature
        {"filters": {"key_id": "key_a", "model": "gpt-4o"}, "start": start, "end": end},
        {"start": start},
        {"end": end},
        {"start": start, "end": end, "bucket": "day"},
    ]
    for case in cases:
        for group_by in (["user_id"], ["provider", "feature"]):
            report = await store.usage_report(group_by, limit=100_000, **case)
            _assert_same(_as_groups(report, group_by, case.get("bucket")), _expected(rows, group_by, **case))
    assert await store.usage_report(["model"], start=T0 + 365 * DAY) == []


async def test_usage_report_order_and_limit(store: Store) -> None:
    rows = _ledger_rows()
    await store.write_ledger(rows)
    report = await store.usage_report(["key_id"])
    costs = [row["cost_usd"] for row in report]
    assert costs == sorted(costs, reverse=True)
    assert await store.usage_report(["key_id"], limit=2) == report[:2]
    by_day = await store.usage_report(["model"], bucket="day", limit=100_000)
    order = [(-row["cost_usd"], row["bucket"]) for row in by_day]
    assert order == sorted(order)


async def test_usage_report_refuses_unknown_names(store: Store) -> None:
    with pytest.raises(ValueError, match="dimension"):
        await store.usage_report(["cost_usd; DROP TABLE ledger"])
    with pytest.raises(ValueError, match="dimension"):
        await store.usage_report(["model"], filters={"route": "chat"})
    with pytest.raises(ValueError, match="bucket"):
        await store.usage_report(["model"], bucket="minute")
    with pytest.raises(ValueError):
        await store.spend_since("request_id", 0)


async def test_spend_since(store: Store) -> None:
    rows = _ledger_rows()
    await store.write_ledger(rows)
    start = T0 + 30 * DAY
    for dimension in ("key_id", "user_id", "team_id", "feature"):
        expected: dict[str, float] = {}
        for row in rows:
            value = getattr(row, dimension)
            if row.ts >= start and value is not None:
                expected[value] = expected.get(value, 0.0) + row.cost_usd
        assert await store.spend_since(dimension, start) == expected
    assert await store.spend_since("team_id", T0 + 365 * DAY) == {}


# --------------------------------------------------------------------------- factory


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///bastion.db", "bastion.db"),
        ("sqlite:///data/bastion.db", "data/bastion.db"),
        ("sqlite:////var/lib/bastion/bastion.db", "/var/lib/bastion/bastion.db"),
        ("state/bastion.db", "state/bastion.db"),
        ("/tmp/bastion.db", "/tmp/bastion.db"),
    ],
)
def test_open_store_sqlite_urls(url: str, path: str) -> None:
    store = open_store(url)
    assert isinstance(store, SQLiteStore) and store.path == path


@pytest.mark.parametrize("url", ["postgresql://bastion:secret@db:5432/bastion", "postgres://db/bastion"])
def test_open_store_postgres_urls(url: str) -> None:
    pytest.importorskip("asyncpg")
    store = open_store(url, pool_max_size=3)
    assert store.dialect == "postgres"
    assert "secret" not in repr(store)


@pytest.mark.parametrize("url", ["mysql://root:hunter2@db/bastion", "sqlite://bastion.db", "bastion.sqlite"])
def test_open_store_refuses_unknown_urls(url: str) -> None:
    with pytest.raises(StoreError) as refused:
        open_store(url)
    assert "hunter2" not in str(refused.value)


async def test_postgres_connection_error_hides_the_password() -> None:
    pytest.importorskip("asyncpg")
    from bastion.store.postgres import PostgresStore

    store = PostgresStore("postgresql://bastion:hunter2@127.0.0.1:1/bastion", schema="x")
    with pytest.raises(StoreError) as refused:
        await store.open()
    assert "hunter2" not in str(refused.value) and "127.0.0.1" in str(refused.value)


async def test_sqlite_creates_the_parent_directory(tmp_path: Any) -> None:
    store = SQLiteStore(str(tmp_path / "nested" / "dir" / "bastion.db"))
    await store.open()
    try:
        assert await store.schema_version() == LATEST_VERSION
    finally:
        await store.close()


async def test_a_reused_request_id_keeps_every_request(store: Store) -> None:
    """Clients may send the same x-request-id twice: both requests are on the ledger."""
    first = LedgerRow("client-trace-1", ts=T0, key_id="k1", cost_usd=1.0)
    second = LedgerRow("client-trace-1", ts=T0 + 5, key_id="k2", cost_usd=2.0)
    await store.write_ledger([first])
    await store.write_ledger([second, first])  # the first again: a retried batch stays idempotent
    totals = await store.usage_report([])
    assert totals[0]["requests"] == 2 and totals[0]["cost_usd"] == 3.0
    latest = await store.get_ledger_row("client-trace-1")
    assert latest is not None and latest.key_id == "k2"
    mine = await store.get_ledger_row("client-trace-1", "k1")
    assert mine is not None and mine.cost_usd == 1.0
    assert await store.get_ledger_row("client-trace-1", "k3") is None
