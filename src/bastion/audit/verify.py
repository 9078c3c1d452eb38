"""``bastion audit verify``: walk every chain and say where the stored log stops being what was written.

Per chain, in seq order, it checks that each entry's body hashes to its stored hash, sits in
its own chain and place (``chain``, ``seq`` in the hashed body), links to the entry before it
(``prev``), agrees with its indexed columns, and that no seq is missing. It then checks the
signatures of the checkpoints, the head and any prune marker, that the entries match what
those sign (so a chain re-hashed after an edit is caught), that no checkpoint is missing from
their linked list, that nothing lies past the signed head, and that every chain another chain
witnessed still exists and still reaches what was witnessed (a chain deleted whole, or cut
back to an older copy of its head, is caught as long as a surviving checkpoint saw it).

Entries appended while verify runs are left for the next run: each chain is verified up to
the head read when its walk starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from bastion.audit.canonical import GENESIS_HASH, sha256_hex
from bastion.audit.chain import checkpoint_message, head_message, prune_message
from bastion.audit.signing import Signer
from bastion.store.audit_base import AuditCheckpointRow, AuditEntryRow, AuditPruneRow, AuditStore

_PAGE = 2000
#: problems listed per chain after the first (which is the one that matters: the rest often follow)
MAX_PROBLEMS_PER_CHAIN = 20
_COLUMNS = ("ts", "kind", "subject", "request_id")


@dataclass(frozen=True, slots=True)
class Problem:
    chain_id: str
    seq: int | None
    #: edited | missing | inserted | reordered | moved | bad_signature | unknown_key | no_head |
    #: checkpoint_missing | chain_missing | rolled_back | payload_edited
    kind: str
    detail: str

    def __str__(self) -> str:
        where = f"chain {self.chain_id}" + (f" seq {self.seq}" if self.seq is not None else "")
        return f"{where}: {self.kind} - {self.detail}"


@dataclass(slots=True)
class ChainReport:
    chain_id: str
    entries: int = 0  # entries verified
    first_seq: int | None = None
    last_seq: int | None = None
    head_seq: int | None = None
    head_hash: str | None = None
    head_checkpoint_seq: int | None = None
    checkpoints: int = 0
    closed: bool = False
    pruned_through: int | None = None
    problems: list[Problem] = field(default_factory=list)
    hashes: dict[int, str] = field(default_factory=dict, repr=False)  # at witnessed seqs

    def add(self, seq: int | None, kind: str, detail: str) -> None:
        if len(self.problems) < MAX_PROBLEMS_PER_CHAIN + 1:
            self.problems.append(Problem(self.chain_id, seq, kind, detail))


@dataclass(slots=True)
class VerifyReport:
    chains: list[ChainReport]
    problems: list[Problem]  # chain-crossing ones (witnessed chains that are gone or cut back)

    @property
    def all_problems(self) -> list[Problem]:
        return [problem for chain in self.chains for problem in chain.problems] + self.problems

    @property
    def ok(self) -> bool:
        return not self.all_problems

    def as_json(self) -> dict[str, Any]:
        """What ``verify --json`` prints; keep it elsewhere and give it back as ``--anchors`` later."""
        return {
            "ok": self.ok,
            "chains": [
                {
                    "chain_id": chain.chain_id,
                    "entries": chain.entries,
                    "first_seq": chain.first_seq,
                    "last_seq": chain.last_seq,
                    "head_seq": chain.head_seq,
                    "head_hash": chain.head_hash,
                    "checkpoints": chain.checkpoints,
                    "closed": chain.closed,
                    "pruned_through": chain.pruned_through,
                }
                for chain in self.chains
            ],
            "problems": [asdict(problem) for problem in self.all_problems],
        }


@dataclass(frozen=True, slots=True)
class _Witness:
    chain_id: str
    seq: int
    hash: str
    by: str  # who saw it: "chain X seq N" or "the anchors file"


class Verifier:
    def __init__(self, store: AuditStore, signer: Signer) -> None:
        if not signer.can_verify:
            raise ValueError("verify needs the signing key, a previous key or an Ed25519 public key")
        self.store = store
        self.signer = signer

    async def run(self, anchors: Sequence[dict[str, Any]] = ()) -> VerifyReport:
        summaries = {summary.chain_id: summary for summary in await self.store.audit_chains()}
        prunes = {prune.chain_id: prune for prune in await self.store.audit_prunes()}
        checkpoints = {chain_id: await self.store.audit_checkpoints(chain_id) for chain_id in summaries}
        witnesses = [
            _Witness(
                str(w.get("chain")),
                int(w.get("seq", -1)),
                str(w.get("hash")),
                f"chain {c.chain_id} seq {c.seq}",
            )
            for rows in checkpoints.values()
            for c in rows
            for w in c.witness
            if isinstance(w, dict)
        ]
        witnesses += [
            _Witness(str(a.get("chain_id")), int(a["head_seq"]), str(a.get("head_hash")), "the anchors file")
            for a in anchors
            if a.get("head_seq") is not None
        ]
        wanted: dict[str, set[int]] = {}
        for witness in witnesses:
            wanted.setdefault(witness.chain_id, set()).add(witness.seq)
        reports = []
        for chain_id, summary in summaries.items():
            report = ChainReport(chain_id)
            await self._chain(report, summary.last_seq, prunes.get(chain_id), wanted.get(chain_id, set()))
            reports.append(report)
        by_id = {report.chain_id: report for report in reports}
        crossing = [problem for witness in witnesses if (problem := await self._witnessed(witness, by_id))]
        return VerifyReport(reports, crossing)

    # ----------------------------------------------------------------- one chain
    async def _chain(
        self,
        report: ChainReport,
        last_stored: int | None,
        prune: AuditPruneRow | None,
        wanted: set[int],
    ) -> None:
        chain_id = report.chain_id
        head = await self.store.audit_head(chain_id)
        # read after the head, so the checkpoint it names is there (later ones are past ``limit``)
        checkpoints = await self.store.audit_checkpoints(chain_id)
        if head is None:
            report.add(None, "no_head", "the chain has no signed head (deleted)")
            limit = last_stored or 0
        else:
            report.head_seq, report.head_hash, report.closed = head.seq, head.hash, head.closed
            report.head_checkpoint_seq = head.checkpoint_seq
            self._signature(report, head.seq, "head", head.key_id, head_message(head), head.signature)
            limit = head.seq
            if last_stored is not None and last_stored > head.seq:
                report.add(
                    head.seq + 1, "inserted", f"entries up to seq {last_stored} lie past the signed head"
                )
        expected_seq: int = 1
        expected_prev: str | None = GENESIS_HASH
        if prune is not None:
            report.pruned_through = prune.through_seq
            self._signature(
                report, prune.through_seq, "prune marker", prune.key_id, prune_message(prune), prune.signature
            )
            expected_seq, expected_prev = prune.through_seq + 1, prune.hash
        hashes: dict[int, str] = {0: GENESIS_HASH}
        if prune is not None:
            hashes[prune.through_seq] = prune.hash
        wanted_here = wanted | {c.seq for c in checkpoints} | ({head.seq} if head else set())
        after = 0
        while after < limit:
            page = await self.store.audit_entries(chain_id, after, min(_PAGE, limit - after))
            if not page:
                break
            digests: dict[int, tuple[str, AuditEntryRow]] = {}
            for row in page:
                if row.seq > limit:
                    break
                expected_seq, expected_prev = self._entry(report, row, expected_seq, expected_prev, digests)
                if row.seq in wanted_here:
                    hashes[row.seq] = row.hash
            after = page[-1].seq
            await self._payloads(report, digests)
        if expected_seq <= limit:
            report.add(
                expected_seq,
                "missing",
                f"entries {expected_seq}..{limit} are gone (the signed head is at {limit})",
            )
        elif head is not None and hashes.get(head.seq) not in (None, head.hash):
            report.add(head.seq, "edited", "the last entry differs from the signed head")
        self._checkpoints(report, checkpoints, prune, limit, hashes)
        report.hashes = {seq: hashes[seq] for seq in wanted if seq in hashes}
        report.problems.sort(key=lambda problem: -1 if problem.seq is None else problem.seq)  # earliest first

    def _entry(
        self,
        report: ChainReport,
        row: AuditEntryRow,
        expected_seq: int,
        expected_prev: str | None,
        digests: dict[int, tuple[str, AuditEntryRow]],
    ) -> tuple[int, str | None]:
        """Check one entry; return the seq and prev hash the next one must have (None: not known)."""
        seq = row.seq
        report.entries += 1
        report.first_seq = seq if report.first_seq is None else report.first_seq
        report.last_seq = seq
        try:
            body = orjson.loads(row.body)
        except orjson.JSONDecodeError:
            report.add(seq, "edited", "the body is not the JSON that was hashed")
            return seq + 1, None
        if not isinstance(body, dict):
            report.add(seq, "edited", "the body is not the JSON object that was hashed")
            return seq + 1, None
        if sha256_hex(row.body.encode()) != row.hash:
            report.add(seq, "edited", "the content does not match its stored hash")
            return seq + 1, None  # which of the two was altered is unknown: skip the next link
        if body.get("chain") != report.chain_id:
            report.add(seq, "moved", f"the entry belongs to chain {body.get('chain')} seq {body.get('seq')}")
        elif body.get("seq") != seq:
            written = body.get("seq")
            inserted = isinstance(written, int) and written < seq
            report.add(
                seq,
                "inserted" if inserted else "reordered",
                f"the entry written as seq {written} is stored at seq {seq}"
                + (" (an entry was inserted before it)" if inserted else ""),
            )
        elif seq < expected_seq:
            report.add(
                seq, "inserted", f"the chain was pruned through seq {expected_seq - 1}; this entry is extra"
            )
        elif seq > expected_seq:
            report.add(expected_seq, "missing", f"entries {expected_seq}..{seq - 1} are gone")
        elif expected_prev is not None and body.get("prev") != expected_prev:
            report.add(
                seq - 1 if seq > 1 else seq,
                "edited" if seq > 1 else "inserted",
                f"its hash no longer matches the link held by seq {seq} (edited and re-hashed, or replaced)",
            )
        else:
            for column in _COLUMNS:
                if getattr(row, column) != body.get(column):
                    report.add(seq, "edited", f"the {column} column differs from the hashed body")
                    break
            if row.prev_hash != body.get("prev"):
                report.add(seq, "edited", "the prev_hash column differs from the hashed body")
        payload = body.get("payload")
        if isinstance(payload, dict) and payload.get("sealed_sha256"):
            digests[seq] = (str(payload["sealed_sha256"]), row)
        return seq + 1, row.hash

    async def _payloads(self, report: ChainReport, digests: dict[int, tuple[str, AuditEntryRow]]) -> None:
        """Stored payloads must be the sealed bytes the chain hashed (missing ones expired)."""
        if not digests:
            return
        for payload in await self.store.audit_payloads(report.chain_id, sorted(digests)):
            digest, entry = digests[payload.seq]
            if sha256_hex(payload.sealed) != digest:
                report.add(
                    payload.seq, "payload_edited", "the stored payload is not the one the entry hashed"
                )
            elif payload.subject != entry.subject or payload.request_id != entry.request_id:
                report.add(payload.seq, "payload_edited", "the payload row names another subject or request")

    def _checkpoints(
        self,
        report: ChainReport,
        checkpoints: list[AuditCheckpointRow],
        prune: AuditPruneRow | None,
        limit: int,
        hashes: dict[int, str],
    ) -> None:
        report.checkpoints = len(checkpoints)
        floor = prune.through_seq if prune is not None else 0
        previous: int | None = None
        previous_good = floor
        for position, checkpoint in enumerate(checkpoints):
            self._signature(
                report,
                checkpoint.seq,
                "checkpoint",
                checkpoint.key_id,
                checkpoint_message(checkpoint),
                checkpoint.signature,
            )
            if position == 0:
                if prune is None and checkpoint.seq != 0:
                    report.add(0, "checkpoint_missing", "the chain's opening checkpoint is gone")
                elif prune is not None and checkpoint.seq != floor:
                    report.add(
                        floor, "checkpoint_missing", "the checkpoint retention kept as the anchor is gone"
                    )
            elif checkpoint.prev_seq != previous:
                report.add(
                    checkpoint.prev_seq,
                    "checkpoint_missing",
                    f"the checkpoint before seq {checkpoint.seq} is gone",
                )
            previous = checkpoint.seq
            if checkpoint.seq > limit:
                continue  # signed after the head was read: checked on the next run
            stored = hashes.get(checkpoint.seq)
            if stored is not None and stored != checkpoint.hash:
                report.add(
                    checkpoint.seq,
                    "edited",
                    f"the entry differs from the signed checkpoint: entries after seq {previous_good} "
                    "were changed and re-hashed",
                )
            elif stored is not None:
                previous_good = checkpoint.seq
        if not checkpoints and (report.head_seq is not None or prune is None):
            report.add(0, "checkpoint_missing", "the chain has no checkpoint left")
        named = report.head_checkpoint_seq
        if named is not None and named >= floor and named not in {c.seq for c in checkpoints}:
            report.add(named, "checkpoint_missing", "the checkpoint the signed head names is gone")

    def _signature(
        self, report: ChainReport, seq: int, what: str, key_id: str, message: bytes, signature: str
    ) -> None:
        problem = self.signer.verify(key_id, message, signature)
        if problem is not None:
            kind = "unknown_key" if "not configured" in problem else "bad_signature"
            report.add(seq, kind, f"{what}: {problem}")

    # ----------------------------------------------------------------- across chains
    async def _witnessed(self, witness: _Witness, reports: dict[str, ChainReport]) -> Problem | None:
        report = reports.get(witness.chain_id)
        if report is None:
            return Problem(
                witness.chain_id,
                witness.seq,
                "chain_missing",
                f"witnessed by {witness.by}, the chain is gone",
            )
        if report.pruned_through is not None and witness.seq <= report.pruned_through:
            return None
        stored = report.hashes.get(witness.seq)
        if stored is not None:
            if stored != witness.hash:
                return Problem(
                    witness.chain_id, witness.seq, "edited", f"differs from what {witness.by} witnessed"
                )
            return None
        verified_to = report.head_seq or 0
        if witness.seq <= verified_to:
            return None  # the entry itself is reported missing in the chain's own report
        head = await self.store.audit_head(witness.chain_id)
        if head is not None and head.seq >= witness.seq:
            return None  # the chain moved on while verify ran: checked on the next run
        return Problem(
            witness.chain_id,
            witness.seq,
            "rolled_back",
            f"{witness.by} witnessed seq {witness.seq}, but the signed head is at {verified_to}: "
            "entries were deleted and an older head put back",
        )
