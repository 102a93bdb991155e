"""Published results: the counts, with what they were combined from.

docs/spec.md §14.3. The ``results`` entry lists, for the tally at ledger index
``tally_index``, the trustees whose shares were combined and, per (contest,
selection), the combined M = ∏ M_ℓ^{w_ℓ} and the count t with g^t = B / M. The
verifier recomputes every M with its own Lagrange coefficients and every count, and
bounds each count by the number of ballots holding the contest.
"""

from __future__ import annotations

from dataclasses import dataclass

from e2e.encoding import ObjectReader, canonical_json, parse_canonical_json
from e2e.errors import EncodingError
from e2e.group import ElementModP, GroupParameters
from e2e.manifest import Manifest

__all__ = ["ContestResult", "Results", "contest_results"]


@dataclass(frozen=True, slots=True)
class Results:
    tally_index: int
    trustees: tuple[int, ...]
    counts: tuple[tuple[int, int, ElementModP, int], ...]  # contest, selection, M, count

    def to_payload(self) -> bytes:
        return canonical_json({
            "version": 1, "tally_index": self.tally_index, "trustees": list(self.trustees),
            "counts": [{"contest": c, "selection": s, "combined": m.to_hex(), "count": n}
                       for c, s, m, n in self.counts],
        })

    @classmethod
    def from_payload(cls, data: bytes, group: GroupParameters, where: str) -> Results:
        obj = ObjectReader(parse_canonical_json(data, where), where)
        obj.version([1])
        trustees = obj.items("trustees", 64)
        counts = obj.mapped("counts", lambda r: (
            r.integer("contest", 0, 10_000), r.integer("selection", 0, 1000),
            r.element("combined", group), r.integer("count")), 1_000_000)
        result = cls(obj.integer("tally_index"),
                     tuple(int(t) for t in trustees if isinstance(t, int)), tuple(counts))
        if len(result.trustees) != len(trustees):
            raise EncodingError("trustee indices are integers", obj.path("trustees"))
        obj.done()
        return result

    def count_of(self, contest: int, selection: int) -> int:
        for c, s, _, n in self.counts:
            if (c, s) == (contest, selection):
                return n
        raise KeyError((contest, selection))


@dataclass(frozen=True, slots=True)
class ContestResult:
    """A contest's outcome for display: (label, votes) in manifest order, and the winners."""

    contest_id: str
    title: str
    kind: str
    ballots: int
    votes: tuple[tuple[str, int], ...]
    winners: tuple[str, ...]
    note: str


def contest_results(manifest: Manifest, results: Results,
                    ballots_per_contest: dict[int, int], language: str = "en"
                    ) -> list[ContestResult]:
    """Per contest: votes per selection and the winners as the manifest's rules decide."""
    out = []
    for index, contest in enumerate(manifest.contests):
        votes = tuple((s.label.get(language), results.count_of(index, j))
                      for j, s in enumerate(contest.selections))
        ballots = ballots_per_contest.get(index, 0)
        note = ""
        if contest.kind == "supermajority":
            yes, no = votes[0][1], votes[1][1]
            threshold = contest.threshold
            # SHANGRLA's supermajority assertion: "yes" gets MORE than the fraction f of the
            # valid votes in the contest (strictly; a tie at f fails).
            passed = yes * threshold.denominator > threshold.numerator * (yes + no)
            winners = (votes[0][0],) if passed else (votes[1][0],)
            fraction = f"{threshold.numerator}/{threshold.denominator}"
            note = (f"needs more than {fraction} of valid votes: "
                    f"{'passes' if passed else 'fails'}")
        else:
            ranked = sorted(votes, key=lambda item: -item[1])
            cutoff = ranked[contest.winners - 1][1] if ranked else 0
            winners = tuple(label for label, count in ranked[:contest.winners])
            tied = [label for label, count in ranked if count == cutoff]
            if len(tied) > 1 and any(label not in winners for label in tied):
                note = f"tie at {cutoff} votes between {', '.join(tied)}: resolved by law, not here"
        out.append(ContestResult(contest.id, contest.title.get(language), contest.kind, ballots,
                                 votes, winners, note))
    return out
