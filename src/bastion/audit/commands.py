"""What ``bastion audit verify|export|erase|keygen`` print, and their exit codes.

verify: 0 when every chain is intact, 1 when something was tampered with (the first problem of
each chain is printed: chain, seq, what is wrong), 2 when it cannot verify (no key, storage
unreachable). export and erase: 0 done, 2 refused (bad subject, erase without ``--yes``).
"""

from __future__ import annotations

import asyncio
import secrets
import sys
from pathlib import Path
from typing import Any

import orjson

from bastion.audit.config import AuditConfig
from bastion.audit.gdpr import erase_subject, export_subject
from bastion.audit.payloads import PayloadVault
from bastion.audit.signing import AuditKeyError, Signer, generate_ed25519
from bastion.audit.subjects import parse_subject
from bastion.audit.verify import Verifier, VerifyReport
from bastion.audit.writer import AuditLog
from bastion.store.base import Store


async def verify(store: Store, config: AuditConfig, as_json: bool, anchors_path: str | None) -> int:
    signer = Signer.from_config(config)
    if not signer.can_verify:
        raise AuditKeyError(
            "verify needs audit.signing_key (or signing_key_file, previous_keys, public_keys)"
        )
    anchors: list[dict[str, Any]] = []
    if anchors_path:
        try:
            anchors = orjson.loads(await asyncio.to_thread(Path(anchors_path).read_bytes)).get("chains", [])
        except (OSError, orjson.JSONDecodeError, AttributeError) as error:
            print(f"cannot read the anchors file {anchors_path}: {error}", file=sys.stderr)
            return 2
    report = await Verifier(store, signer).run(anchors)
    if as_json:
        print(orjson.dumps(report.as_json(), option=orjson.OPT_INDENT_2).decode())
    else:
        _print_report(report)
    return 0 if report.ok else 1


def _print_report(report: VerifyReport) -> None:
    entries = sum(chain.entries for chain in report.chains)
    for chain in report.chains:
        if chain.problems:
            print(str(chain.problems[0]))
            if len(chain.problems) > 1:
                print(f"  … and {len(chain.problems) - 1} more problems in this chain")
            continue
        span = f"seq {chain.first_seq}..{chain.last_seq}" if chain.entries else "no entries left"
        pruned = f", pruned through {chain.pruned_through}" if chain.pruned_through is not None else ""
        state = "closed" if chain.closed else "open"
        print(
            f"chain {chain.chain_id}: ok, {chain.entries} entries ({span}{pruned}), "
            f"{chain.checkpoints} checkpoints, signed head at {chain.head_seq} ({state})"
        )
    for problem in report.problems:
        print(str(problem))
    problems = report.all_problems
    if problems:
        chains = len({problem.chain_id for problem in problems})
        print(f"FAILED: {len(problems)} problems in {chains} chains; first: {problems[0]}")
    else:
        print(f"OK: {len(report.chains)} chains, {entries} entries verified")


async def export(
    store: Store, config: AuditConfig, subject: str, output: str | None, audit: AuditLog | None, actor: str
) -> int:
    if not _valid_subject(subject):
        return 2
    try:
        master = config.resolved_master_key()
    except ValueError as error:
        raise AuditKeyError(str(error)) from None
    document = await export_subject(store, subject, PayloadVault(master) if master else None)
    if audit is not None:  # reading someone's personal data is itself an action to account for
        audit.record_admin(
            actor, "audit.export", subject, {"payloads": len(document["payloads"])}, subject=subject
        )
    text = orjson.dumps(document, option=orjson.OPT_INDENT_2).decode()
    if output:
        await asyncio.to_thread(Path(output).write_text, text + "\n")
        print(f"wrote everything held about {subject} to {output}", file=sys.stderr)
    else:
        print(text)
    return 0


async def erase(store: Store, subject: str, confirmed: bool, audit: AuditLog | None, actor: str) -> int:
    if not _valid_subject(subject):
        return 2
    if not confirmed:
        print(
            f"refusing to erase {subject} without --yes: its stored prompts and answers "
            "become unreadable forever",
            file=sys.stderr,
        )
        return 2
    report = await erase_subject(store, subject, audit, actor)
    if audit is None:
        report["note"] = "audit.enabled is false: this erasure was not recorded in the audit log"
    print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    return 0


def keygen(signing: str) -> int:
    """Print fresh keys as the audit section of a config (keep them in a secret store, not in git)."""
    master = secrets.token_urlsafe(32)
    if signing == "ed25519":
        private, public = generate_ed25519()
        print("# the private key signs; an auditor verifies with the public key alone (audit.public_keys)")
        print(f"# public key: {public}")
        lines = ["  signing: ed25519", f"  signing_key: {private}"]
    else:
        lines = ["  signing: hmac", f"  signing_key: {secrets.token_urlsafe(32)}"]
    print("audit:\n  enabled: true\n" + "\n".join(lines) + f"\n  master_key: {master}")
    return 0


def _valid_subject(subject: str) -> bool:
    try:
        parse_subject(subject)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return False
    return True
