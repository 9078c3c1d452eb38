"""Cache keys: the part of a chat request that decides its answer, in canonical form, hashed.

Two requests share a key when they would get the same answer from the same model group for
the same tenant:

* fields are compared after parsing, so JSON whitespace and the order of fields (at the top
  level and inside messages) do not matter, and an explicit ``null`` equals an absent field;
  integral floats of the sampling fields equal integers (``temperature: 0.0`` is ``0``);
* fields that do not change the answer are left out: ``model`` (the resolved model group
  stands for it), ``stream`` and ``stream_options`` (a stream and a JSON answer share an
  entry), ``user``, ``metadata`` and ``store``;
* inside ``tools``, ``functions`` and ``response_format`` the order is kept: structured
  outputs follow a schema's property order, so a reordered schema may get a different answer;
* the partition (model group, a fingerprint of its deployments, and the tenant) is hashed in,
  so one tenant's key can never name another tenant's entry; entries carry their partition
  and a lookup checks it as well.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from bastion.identity.principal import Principal

#: request fields that do not change the answer
EXCLUDED_FIELDS = frozenset({"model", "stream", "stream_options", "user", "metadata", "store"})
#: fields whose inner order is kept (a schema's property order can change a structured answer)
ORDERED_FIELDS = ("tools", "functions", "response_format")
#: numeric fields where 0.0 and 0 mean the same
_NUMERIC_FIELDS = frozenset({"temperature", "top_p", "presence_penalty", "frequency_penalty"})
SHARED_TENANT = "*"


def tenant_of(principal: Principal | None, shared: bool) -> str:
    """Whose entries a request may see: its team's, else its key's; ``*`` for a shared group."""
    if shared:
        return SHARED_TENANT
    if principal is None:
        return "anonymous"
    if principal.team_id:
        return f"team:{principal.team_id}"
    return f"key:{principal.key_id}"


def partition_of(group: str, fingerprint: str, tenant: str) -> str:
    return f"{group}|{fingerprint}|{tenant}"


def group_fingerprint(deployments: list[tuple[str, str, dict[str, Any]]]) -> str:
    """A short digest of what serves a group (provider, model, params); changing it empties its cache."""
    return hashlib.blake2b(orjson.dumps(deployments, option=orjson.OPT_SORT_KEYS), digest_size=4).hexdigest()


def canonical_request(body: dict[str, Any], *, without: frozenset[str] = frozenset()) -> bytes:
    """The request's answer-deciding fields as bytes that are equal exactly when the fields are."""
    fields: dict[str, Any] = {}
    ordered: list[Any] = []
    for name, value in body.items():
        if value is None or name in EXCLUDED_FIELDS or name in without:
            continue
        if name in _NUMERIC_FIELDS and isinstance(value, float) and value.is_integer():
            value = int(value)
        fields[name] = value
    for name in ORDERED_FIELDS:
        ordered.append(fields.pop(name, None))
    return orjson.dumps(fields, option=orjson.OPT_SORT_KEYS) + b"\n" + orjson.dumps(ordered)


def cache_key(partition: str, body: dict[str, Any]) -> str:
    """The entry's key: partition and canonical request, hashed (hex, 32 characters)."""
    digest = hashlib.blake2b(partition.encode(), digest_size=16)
    digest.update(b"\0")
    digest.update(canonical_request(body))
    return digest.hexdigest()


def is_repeatable(body: dict[str, Any]) -> bool:
    """Asked to be repeatable: temperature 0, or a seed."""
    temperature = body.get("temperature")
    return (temperature == 0 and not isinstance(temperature, bool)) or body.get("seed") is not None


def uncacheable_reason(body: dict[str, Any]) -> str | None:
    """Why a request's answer cannot be stored and replayed faithfully, or None."""
    n = body.get("n")
    if n is not None and n != 1:
        return "n"  # several choices: the cache keeps one
    if body.get("logprobs"):
        return "logprobs"  # not kept by the cache
    return None
