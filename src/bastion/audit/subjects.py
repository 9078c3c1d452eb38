"""Who an entry is about (the data subject), as one string export and erase are asked for.

The subject of a request is its end user if the client named one (OpenAI ``user``, Anthropic
``metadata.user_id``), else the key's user, else the key. End-user ids are chosen by each
tenant's app, so two tenants may both have a user "42": an end user is therefore named within
its tenant (the key's team, else the key), as the end-user limits count them.
"""

from __future__ import annotations

from dataclasses import dataclass

_KINDS = ("end_user", "user", "key")


@dataclass(frozen=True, slots=True)
class Subject:
    kind: str  # "end_user" | "user" | "key"
    ident: str
    tenant: str | None = None  # end users only: the team, else the key

    def __str__(self) -> str:
        if self.kind == "end_user":
            return f"end_user:{self.tenant}/{self.ident}"
        return f"{self.kind}:{self.ident}"


def subject_of(
    end_user: str | None, team_id: str | None, key_id: str | None, user_id: str | None
) -> str | None:
    if end_user:
        return str(Subject("end_user", end_user, team_id or key_id or "-"))
    if user_id:
        return f"user:{user_id}"
    if key_id:
        return f"key:{key_id}"
    return None


def parse_subject(text: str) -> Subject:
    """``end_user:TENANT/ID``, ``user:ID`` or ``key:ID``; ValueError otherwise."""
    kind, separator, rest = text.partition(":")
    if not separator or kind not in _KINDS or not rest:
        raise ValueError(f"a subject is end_user:TENANT/ID, user:ID or key:ID, not {text!r}")
    if kind == "end_user":
        tenant, slash, ident = rest.partition("/")
        if not slash or not tenant or not ident:
            raise ValueError(
                f"an end-user subject is end_user:TENANT/ID (TENANT: team id, else key id), not {text!r}"
            )
        return Subject(kind, ident, tenant)
    return Subject(kind, rest)
