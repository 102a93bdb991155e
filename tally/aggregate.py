"""The tally statement: the encrypted totals of the valid cast ballots, put on the ledger.

docs/spec.md §14.1. After the close of voting an official computes, for every
(contest, selection) of the manifest, the product of that selection's ciphertexts
over exactly the valid cast ballots holding it — (1, 1) where none does — and writes
it as a ``tally`` entry together with the ledger index of the close of voting, the
ballot counts, and the close-of-voting head: the size and root of the witness-cosigned
tree head the tally was computed at (it covers the ``voting-close`` entry and precedes
the tally; docs/spec.md §16.6). Anyone (trustees first of all) recomputes
it from the ledger with ``e2e.verify.RecordVerifier`` and compares (``check_statement``).

Payload version 2 (version 1 had no close-of-voting head and is refused).
"""

from __future__ import annotations

from dataclasses import dataclass

from e2e.context import ElectionContext
from e2e.elgamal import Ciphertext
from e2e.encoding import ObjectReader, canonical_json, parse_canonical_json
from e2e.errors import RecordError
from e2e.verify import CastAggregate

__all__ = ["TallyStatement", "check_statement", "statement_from_aggregate"]


@dataclass(frozen=True, slots=True)
class TallyStatement:
    close_index: int
    ballots: int
    ballots_per_contest: tuple[tuple[int, int], ...]
    totals: tuple[tuple[int, int, Ciphertext], ...]  # (contest, selection, product)
    close_head_size: int  # the cosigned head the tally was computed at
    close_head_root: bytes

    def total(self, contest: int, selection: int) -> Ciphertext:
        for c, s, ciphertext in self.totals:
            if (c, s) == (contest, selection):
                return ciphertext
        raise RecordError(f"the tally has no total for contest {contest} selection {selection}")

    def ballots_holding(self, contest: int) -> int:
        return dict(self.ballots_per_contest).get(contest, 0)

    def to_payload(self) -> bytes:
        return canonical_json({
            "version": 2, "close_index": self.close_index, "ballots": self.ballots,
            "close_head": {"size": self.close_head_size, "root": self.close_head_root.hex()},
            "ballots_per_contest": [{"contest": c, "ballots": n}
                                    for c, n in self.ballots_per_contest],
            "totals": [{"contest": c, "selection": s, "alpha": t.alpha.to_hex(),
                        "beta": t.beta.to_hex()} for c, s, t in self.totals],
        })

    @classmethod
    def from_payload(cls, data: bytes, context: ElectionContext, where: str) -> TallyStatement:
        group = context.group
        obj = ObjectReader(parse_canonical_json(data, where), where)
        obj.version([2])
        head = obj.obj("close_head")
        close_head = (head.integer("size", 1), head.hex_bytes("root", 32))
        head.done()
        per_contest = obj.mapped("ballots_per_contest", lambda r: (r.integer("contest", 0, 10_000),
                                                                   r.integer("ballots")), 10_000)
        totals = obj.mapped("totals", lambda r: (
            r.integer("contest", 0, 10_000), r.integer("selection", 0, 1000),
            Ciphertext(r.element("alpha", group), r.element("beta", group))), 1_000_000)
        result = cls(obj.integer("close_index"), obj.integer("ballots"), tuple(per_contest),
                     tuple(totals), *close_head)
        obj.done()
        return result


def statement_from_aggregate(context: ElectionContext, aggregate: CastAggregate,
                             close_index: int, *, close_head: tuple[int, bytes]
                             ) -> TallyStatement:
    """Every (contest, selection) of the manifest, in manifest order, at ``close_head``
    (size, root)."""
    totals = []
    for contest_index, contest in enumerate(context.manifest.contests):
        for selection_index in range(len(contest.selections)):
            totals.append((contest_index, selection_index,
                           aggregate.total(context, contest_index, selection_index)))
    per_contest = tuple((i, aggregate.ballots_per_contest.get(i, 0))
                        for i in range(len(context.manifest.contests)))
    return TallyStatement(close_index, aggregate.ballots, per_contest, tuple(totals),
                          *close_head)


def check_statement(statement: TallyStatement, expected: TallyStatement) -> None:
    """Raise unless ``statement`` is exactly the recomputed one."""
    if statement.close_index != expected.close_index:
        raise RecordError(f"the tally names close index {statement.close_index}, "
                          f"voting closed at {expected.close_index}")
    if (statement.close_head_size, statement.close_head_root) != (
            expected.close_head_size, expected.close_head_root):
        raise RecordError(f"the tally names the head of size {statement.close_head_size}, "
                          f"expected the one of size {expected.close_head_size}")
    if statement.ballots != expected.ballots:
        raise RecordError(f"the tally counts {statement.ballots} ballots, the ledger holds "
                          f"{expected.ballots} valid cast ballots")
    if statement.ballots_per_contest != expected.ballots_per_contest:
        raise RecordError("the tally's ballot counts per contest differ from the ledger's")
    if [(c, s) for c, s, _ in statement.totals] != [(c, s) for c, s, _ in expected.totals]:
        raise RecordError("the tally does not list every selection of the manifest in order")
    for (c, s, found), (_, _, wanted) in zip(statement.totals, expected.totals, strict=True):
        if found != wanted:
            raise RecordError("the encrypted total is not the product of exactly the valid "
                              "cast ballots", f"tally contest {c} selection {s}")
