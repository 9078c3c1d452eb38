"""Limit counters on Redis: exact across replicas, one round trip per admission and per settlement.

``acquire`` runs one Lua script that reads every counter, decides, and writes the reservations
only if every check passed; the script reads the clock from ``redis.call('TIME')`` so replicas
with skewed clocks still agree. The script returns the raw state it decided on, and the results
are computed by the same functions the memory backend uses, so both report alike.

Keys (``prefix`` + kind + the check's key), all with a TTL so idle counters disappear:

- ``{prefix}rate:{key}``: the GCRA TAT (a float string), expiring when the TAT is reached.
- ``{prefix}conc:{key}``: a sorted set lease id -> expiry, expiring with its last lease.
- ``{prefix}budget:{key}``: integer nano-dollars (INCRBY keeps them exact), expiring at ``expires_at``.
- ``{prefix}once:{marker}``: a ``first_time`` marker.

One script touches several keys; on Redis Cluster give the prefix a hash tag (``{bastion}:``) so
they share a slot.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from bastion.limits.checks import (
    Adjustment,
    BudgetAdjustment,
    BudgetCheck,
    Check,
    ConcurrencyRelease,
    Counters,
    Decision,
    RateAdjustment,
    RateCheck,
)
from bastion.limits.errors import CountersUnavailable
from bastion.limits.memory import (
    SLACK_SECONDS,
    budget_result,
    concurrency_result,
    decision,
    rate_parameters,
    rate_result,
    to_nano,
    to_usd,
)

# Lua numbers are doubles: every float leaves the script through string.format('%.17g') (the
# default conversion keeps 14 digits, ~100 us at today's epoch) and integers through '%.0f'.
# With a test clock, test time and the server's TTLs drift apart: TTLs get a minute of padding so
# a key never disappears before the test clock says (stale TATs and leases read as absent anyway).
# Parameters arrive packed in one space-separated argument and the reply leaves as one string:
# without hiredis, redis-py spends more time encoding and parsing 30 small items than Redis
# spends running the script.
_PROLOGUE = """
local now, pad
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now, pad = tonumber(t[1]) + tonumber(t[2]) / 1000000, 0
else
  now, pad = tonumber(ARGV[1]), 60000
end
local lease = ARGV[2]
local spec = {}
for field in string.gmatch(ARGV[3], '%S+') do spec[#spec + 1] = field end
local function fmt(x) return string.format('%.17g', x) end
local function ms(seconds) return string.format('%.0f', math.ceil(seconds * 1000) + pad) end
"""

# KEYS[i]: the counter of check i. ARGV[1]: now ('' = server TIME, else a test clock); ARGV[2]: the
# lease id; ARGV[3]: five fields per check:
#   r <emission interval> <tolerance (units)> <cost> 0
#   c <limit> <lease seconds> 0 0
#   b <limit (nano-dollars)> <amount (nano-dollars)> <hard: 1 | 0> <expires_at (0 = never)>
# Reply: "<allowed 1|0> <now>" then per check "<passed 1|0>" and its state before the decision:
#   r: "<max(TAT, now)> 0"    c: "<live leases> <lease already held 1|0>"    b: "<nano-dollars> 0"
_ACQUIRE = (
    _PROLOGUE
    + f"local SLACK = {SLACK_SECONDS!r}\n"
    + """
local reply = {1, fmt(now)}
for i, key in ipairs(KEYS) do
  local a = (i - 1) * 5 + 1
  local kind = spec[a]
  local passed, state, extra = false, 0, 0
  if kind == 'r' then
    local interval, tolerance, cost = tonumber(spec[a + 1]), tonumber(spec[a + 2]), tonumber(spec[a + 3])
    local tat = tonumber(redis.call('GET', key)) or now
    if tat < now then tat = now end
    passed = tat + cost * interval - now <= tolerance * interval + SLACK
    state = fmt(tat)
  elseif kind == 'c' then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', fmt(now))
    local held = redis.call('ZSCORE', key, lease) ~= false
    state = redis.call('ZCARD', key)
    passed = held or state < tonumber(spec[a + 1])
    extra = held and 1 or 0
  else
    local spent = tonumber(redis.call('GET', key)) or 0
    passed = spec[a + 3] == '0' or spent + tonumber(spec[a + 2]) <= tonumber(spec[a + 1])
    state = string.format('%.0f', spent)
  end
  if not passed then reply[1] = 0 end
  reply[#reply + 1] = passed and 1 or 0
  reply[#reply + 1] = state
  reply[#reply + 1] = extra
end
if reply[1] == 1 then
  for i, key in ipairs(KEYS) do
    local a = (i - 1) * 5 + 1
    local kind = spec[a]
    if kind == 'r' then
      -- Re-read: two checks on one key both count (the memory backend does the same).
      local tat = tonumber(redis.call('GET', key)) or now
      if tat < now then tat = now end
      tat = tat + tonumber(spec[a + 3]) * tonumber(spec[a + 1])
      if tat > now then redis.call('SET', key, fmt(tat), 'PX', ms(tat - now)) end
    elseif kind == 'c' then
      local lease_seconds = tonumber(spec[a + 2])
      redis.call('ZADD', key, fmt(now + lease_seconds), lease)
      local ttl = ms(lease_seconds)
      if redis.call('PTTL', key) < tonumber(ttl) then redis.call('PEXPIRE', key, ttl) end
    else
      redis.call('INCRBY', key, spec[a + 2])
      local expires_at = tonumber(spec[a + 4])
      if expires_at > 0 then redis.call('PEXPIRE', key, ms(expires_at - now)) end
    end
  end
end
return table.concat(reply, ' ')
"""
)

# KEYS[i]: the counter of adjustment i. ARGV[1]: now, ARGV[2]: the lease id; ARGV[3]: three fields
# per adjustment:  r <emission interval> <delta (units)>   b <delta (nano-dollars)> <expires_at>   c 0 0
# Reply: the new nano-dollar totals of the budget adjustments, in order, space-separated.
_SETTLE = (
    _PROLOGUE
    + """
local totals = {}
for i, key in ipairs(KEYS) do
  local a = (i - 1) * 3 + 1
  local kind = spec[a]
  if kind == 'r' then
    local interval, delta = tonumber(spec[a + 1]), tonumber(spec[a + 2])
    local tat = tonumber(redis.call('GET', key)) or now
    if delta > 0 then
      if tat < now then tat = now end
      tat = tat + delta * interval
    else
      tat = tat + delta * interval
      if tat < now then tat = now end
    end
    if tat > now then
      redis.call('SET', key, fmt(tat), 'PX', ms(tat - now))
    else
      redis.call('DEL', key)
    end
  elseif kind == 'b' then
    local spent = tonumber(redis.call('GET', key))
    local total = (spent or 0) + tonumber(spec[a + 1])
    if total < 0 then total = 0 end
    if spent ~= nil or total ~= 0 then
      redis.call('INCRBY', key, string.format('%.0f', total - (spent or 0)))
      local expires_at = tonumber(spec[a + 2])
      if expires_at > 0 then redis.call('PEXPIRE', key, ms(expires_at - now)) end
    end
    totals[#totals + 1] = string.format('%.0f', total)
  else
    redis.call('ZREM', key, lease)
  end
end
return table.concat(totals, ' ')
"""
)


class RedisCounters(Counters):
    """Counters in Redis, shared by every replica pointed at the same server.

    ``clock`` is for tests only: when given, its time replaces the server's TIME in the scripts
    (so a test can move time), and TTLs are computed relative to it. Production leaves it None.
    Retries are off: a timed-out script may have been applied, and running it again would
    reserve twice. Every Redis or socket error surfaces as ``CountersUnavailable``.
    """

    def __init__(
        self,
        url: str,
        prefix: str = "bastion:",
        clock: Callable[[], float] | None = None,
        socket_timeout: float = 0.25,
        max_connections: int = 64,
    ) -> None:
        self._prefix = prefix
        self._clock = clock
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=socket_timeout,  # waiting for a free connection counts as a timeout too
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            retry=Retry(NoBackoff(), 0),
        )
        self._client = Redis(connection_pool=pool)
        self._acquire_script = self._client.register_script(_ACQUIRE)
        self._settle_script = self._client.register_script(_SETTLE)

    async def start(self) -> None:
        """Check the server answers and load both scripts (so the first request needs no EVAL)."""
        try:
            await self._client.ping()
            for script in (self._acquire_script, self._settle_script):
                script.sha = await self._client.script_load(script.script)
        except (RedisError, OSError) as error:
            raise CountersUnavailable(f"Redis counters unavailable: {error}") from error

    async def close(self) -> None:
        await self._client.aclose()
        await self._client.connection_pool.disconnect()

    async def acquire(self, checks: Sequence[Check], lease_id: str) -> Decision:
        if not checks:
            return Decision(True)
        prefix = self._prefix
        keys: list[str] = []
        spec: list[str] = []
        for check in checks:
            if isinstance(check, RateCheck):
                interval, tolerance = rate_parameters(check.limit, check.period, check.burst)
                keys.append(f"{prefix}rate:{check.key}")
                spec.append(f"r {interval!r} {tolerance} {check.cost} 0")
            elif isinstance(check, BudgetCheck):
                keys.append(f"{prefix}budget:{check.key}")
                limit, amount = to_nano(check.limit_usd), to_nano(check.amount_usd)
                spec.append(f"b {limit} {amount} {1 if check.hard else 0} {float(check.expires_at)!r}")
            else:
                keys.append(f"{prefix}conc:{check.key}")
                spec.append(f"c {check.limit} {float(check.lease_seconds)!r} 0 0")
        reply = await self._run(self._acquire_script, keys, [self._now_argument(), lease_id, " ".join(spec)])
        fields = reply.split()
        allowed = fields[0] == b"1"
        now = float(fields[1])
        results = []
        for index, check in enumerate(checks):
            passed, state, extra = fields[2 + 3 * index : 5 + 3 * index]
            passed = passed == b"1"
            if isinstance(check, RateCheck):
                interval, tolerance = rate_parameters(check.limit, check.period, check.burst)
                results.append(rate_result(check, interval, tolerance, float(state), now, passed, allowed))
            elif isinstance(check, BudgetCheck):
                limit, amount = to_nano(check.limit_usd), to_nano(check.amount_usd)
                results.append(budget_result(check, limit, int(state), amount, now, passed, allowed))
            else:
                held = extra == b"1"
                results.append(concurrency_result(check, int(state), held, passed, allowed))
        return decision(allowed, results)

    async def settle(self, adjustments: Sequence[Adjustment], lease_id: str) -> dict[str, float]:
        prefix = self._prefix
        keys: list[str] = []
        spec: list[str] = []
        budget_keys: list[str] = []
        for adjustment in adjustments:
            if isinstance(adjustment, RateAdjustment):
                interval, tolerance = rate_parameters(adjustment.limit, adjustment.period, 1)
                if tolerance < 0 or adjustment.delta == 0:
                    continue
                keys.append(f"{prefix}rate:{adjustment.key}")
                spec.append(f"r {interval!r} {adjustment.delta}")
            elif isinstance(adjustment, BudgetAdjustment):
                budget_keys.append(adjustment.key)
                keys.append(f"{prefix}budget:{adjustment.key}")
                spec.append(f"b {to_nano(adjustment.delta_usd)} {float(adjustment.expires_at)!r}")
            elif isinstance(adjustment, ConcurrencyRelease):
                keys.append(f"{prefix}conc:{adjustment.key}")
                spec.append("c 0 0")
        if not keys:
            return {}
        reply = await self._run(self._settle_script, keys, [self._now_argument(), lease_id, " ".join(spec)])
        totals = reply.split()
        return {key: to_usd(int(total)) for key, total in zip(budget_keys, totals, strict=True)}

    async def budget_totals(self, keys: Sequence[str]) -> dict[str, float]:
        if not keys:
            return {}
        try:
            values = await self._client.mget([f"{self._prefix}budget:{key}" for key in keys])
        except (RedisError, OSError) as error:
            raise CountersUnavailable(f"Redis counters unavailable: {error}") from error
        return {key: to_usd(int(value or 0)) for key, value in zip(keys, values, strict=True)}

    async def seed_budget(self, key: str, spent_usd: float, expires_at: float) -> None:
        expiry = self._expiry(expires_at)
        if expiry is None:
            return
        name = f"{self._prefix}budget:{key}"
        try:
            await self._client.set(name, to_nano(spent_usd), nx=True, **expiry)
        except (RedisError, OSError) as error:
            raise CountersUnavailable(f"Redis counters unavailable: {error}") from error

    async def first_time(self, marker: str, expires_at: float) -> bool:
        expiry = self._expiry(expires_at)
        if expiry is None:
            return True  # the marker would already be expired: nothing to remember
        try:
            return bool(await self._client.set(f"{self._prefix}once:{marker}", 1, nx=True, **expiry))
        except (RedisError, OSError) as error:
            raise CountersUnavailable(f"Redis counters unavailable: {error}") from error

    def _now_argument(self) -> str:
        return "" if self._clock is None else repr(self._clock())

    def _expiry(self, expires_at: float) -> dict[str, int] | None:
        """SET's expiry option for ``expires_at`` ({} = never), or None when it is already past."""
        if expires_at <= 0:
            return {}
        if self._clock is None:
            if expires_at <= time.time():
                return None
            return {"pxat": math.ceil(expires_at * 1000)}
        milliseconds = math.ceil((expires_at - self._clock()) * 1000)
        return {"px": milliseconds} if milliseconds > 0 else None

    async def _run(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return await script(keys=keys, args=args)
        except (RedisError, OSError) as error:
            raise CountersUnavailable(f"Redis counters unavailable: {error}") from error
