"""What of an admin action's result an audit entry keeps: the fields known to hold no secret."""

from __future__ import annotations

from typing import Any

#: result fields an audit summary may keep: identifiers, names, limits and states, never a secret
#: (a created key's ``key`` is left out) nor free text that might echo one (reload problems)
_SUMMARY_FIELDS = (
    "id",
    "name",
    "prefix",
    "user_id",
    "team_id",
    "models",
    "limits",
    "metadata",
    "expires_at",
    "status",
    "revoked_at",
    "deleted",
    "reloaded",
    "error",
)


def safe_summary(payload: object) -> dict[str, Any]:
    """The secret-free part of an admin response, for its audit entry."""
    if not isinstance(payload, dict):
        return {}
    summary = {name: payload[name] for name in _SUMMARY_FIELDS if name in payload}
    if isinstance(payload.get("problems"), list):
        summary["problems"] = len(payload["problems"])
    return summary
