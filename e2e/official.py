"""An election official's steps on the ledger: setup, the ceremony's close, the polls.

* ``build_setup`` assembles the setup from the manifest, the trustees' public cards
  and the keys of every other writer and witness;
* ``advance_ceremony`` closes the ceremony when every participant has confirmed, or
  aborts it when a dealer's reveal fails against its commitments (``abort_ceremony``
  for a dealer who never answered, at the official's decision);
* ``open_voting`` / ``close_voting`` move the election between phases.
"""

from __future__ import annotations

from collections.abc import Sequence

from e2e.ceremony import Abort, gather_close, replay_ceremony, reveal_is_valid
from e2e.encoding import ObjectReader, canonical_json, parse_canonical_json
from e2e.errors import CeremonyError
from e2e.group import GroupParameters
from e2e.ledger.client import LedgerClient, Writer, read_setup
from e2e.ledger.operator import AppendResult
from e2e.ledger.types import EntryType
from e2e.manifest import Manifest
from e2e.setup import ElectionSetup, Role, TrusteeInfo, WitnessInfo, WriterInfo
from e2e.signing import VerifyKey

__all__ = [
    "PhaseNote",
    "abort_ceremony",
    "advance_ceremony",
    "build_setup",
    "close_voting",
    "open_voting",
]


def build_setup(
    *, manifest: Manifest, group: GroupParameters, threshold: int,
    trustees: Sequence[TrusteeInfo], officials: Sequence[tuple[str, VerifyKey]],
    devices: Sequence[tuple[str, VerifyKey, str]] = (),
    auditors: Sequence[tuple[str, VerifyKey]] = (),
    witnesses: Sequence[WitnessInfo] = (), witness_threshold: int = 0,
    operator_key: VerifyKey, log_origin: str,
) -> ElectionSetup:
    writers = [WriterInfo(w, Role.OFFICIAL, k) for w, k in officials]
    writers += [WriterInfo(t.writer_id, Role.TRUSTEE, t.signing_key) for t in trustees]
    writers += [WriterInfo(d, Role.DEVICE, k, location) for d, k, location in devices]
    writers += [WriterInfo(a, Role.AUDITOR, k) for a, k in auditors]
    return ElectionSetup(
        group=group, manifest=manifest, threshold=threshold,
        trustees=tuple(sorted(trustees, key=lambda t: t.index)), writers=tuple(writers),
        witnesses=tuple(witnesses), witness_threshold=witness_threshold,
        operator_key=operator_key, log_origin=log_origin,
    )


def advance_ceremony(ledger: LedgerClient, writer: Writer, *, allow_test_group: bool = False
                     ) -> str | None:
    """Close or abort the current attempt if its state calls for it; say what was done."""
    setup = read_setup(ledger, allow_test_group)
    progress = replay_ceremony(setup, ledger.entries(0))
    if progress.outcome is not None:
        return None
    cheaters = sorted({reveal.dealer for reveal in progress.reveals.values()
                       if not reveal_is_valid(progress, reveal)})
    if cheaters:
        abort_ceremony(ledger, writer, cheaters, "revealed share fails against the commitments",
                       allow_test_group=allow_test_group)
        return f"aborted attempt {progress.attempt}: excluded dealer(s) {cheaters}"
    if (progress.all_dealt and not progress.unanswered_complaints()
            and set(progress.confirmations) == set(progress.participants)):
        writer.write(EntryType.CEREMONY_CLOSE, gather_close(progress).to_payload())
        return (f"closed the ceremony (attempt {progress.attempt}, trustees "
                f"{list(progress.participants)})")
    return None


def abort_ceremony(ledger: LedgerClient, writer: Writer, dealers: Sequence[int], reason: str,
                   *, allow_test_group: bool = False) -> AppendResult:
    setup = read_setup(ledger, allow_test_group)
    progress = replay_ceremony(setup, ledger.entries(0))
    if progress.outcome is not None:
        raise CeremonyError("the ceremony has already closed")
    return writer.write(EntryType.CEREMONY_ABORT,
                        Abort(progress.attempt, tuple(dealers), reason).to_payload())


class PhaseNote:
    """Payload of ``voting-open`` and ``voting-close``: a short public note."""

    @staticmethod
    def encode(note: str) -> bytes:
        return canonical_json({"version": 1, "note": note})

    @staticmethod
    def decode(data: bytes, where: str) -> str:
        obj = ObjectReader(parse_canonical_json(data, where), where)
        obj.version([1])
        note = obj.string("note", 1024)
        obj.done()
        return note


def open_voting(writer: Writer, note: str = "polls open") -> AppendResult:
    return writer.write(EntryType.VOTING_OPEN, PhaseNote.encode(note))


def close_voting(writer: Writer, note: str = "polls closed") -> AppendResult:
    return writer.write(EntryType.VOTING_CLOSE, PhaseNote.encode(note))
