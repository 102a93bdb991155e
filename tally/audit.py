"""The ballot-comparison audit: parameters, seed, rounds, readings, decrypted CVRs, risk.

docs/spec.md §19.4–§19.7. Everything here is a pure function of published data
plus the payload formats of the audit's ledger entries; ``tally.audit_check`` replays
them during the verifier's pass and ``tally.audit_workflow`` takes the steps.

* **Parameters** (``audit-parameters``, an auditor): the risk limit; the risk function
  with every parameter (super-simple Kaplan–Markov with γ, or ALPHA with its η); the
  sample-size estimator; the sampler (Rivest's SHA-256 consistent sampler with
  replacement, 18-digit tickets, id string ``str((batch, position))``, positions from
  1, the phantom batch); the pairing rules; and per contest its population (N, cards,
  CVRs, cast ballots, phantoms) and assertions with margins, all from the decrypted
  results and the reconciliation in force. A contest that sampling cannot confirm (a
  tie, a supermajority measure that failed with a threshold above 1/2) is listed as not
  auditable: only a full hand count settles it.
* **Seed** (``audit-seed``): at least 20 decimal digits, who rolled them and when; once.
* **Rounds** (``audit-round``): draws k+1..k+n of the sampler over the frame (paper
  batches, then phantoms); the CVRs of newly drawn paired cards, with their
  ciphertexts, to be decrypted after the readings.
* **Readings** (``audit-reading``): what a card's printed text says, per contest — a
  vote (selection IDs), blank, contest not on card, or the board cannot agree — and the
  card's condition (found as listed, not found, the ID on it differs, marked SPOILED,
  TEST or DUPLICATE, QR and text disagree, damaged), signed by two board members: the
  entry's writer and a cosignature (tag ``audit-board``) over the same bytes.
* **Sign-off** (``audit-signoff``): both members sign the round's readings (their digest).
* **Decrypted CVRs**: trustees' shares (``audit-decryption-share``) and their
  combination (``audit-cvrs``), only after the sign-off: the board never sees a CVR.
* **Risk** (``audit-risk``): per assertion, the draws holding its contest, discrepancies
  o1/o2/u1/u2 and the p-value; the decision (continue with a next round, confirmed,
  escalate to a full hand count). ``audit-end`` records the outcome, and after an
  escalation ``hand-count`` the certified counts that replace the E2E result.

What a reading counts as (``paper_votes``): a card not found, with another ID, or
marked SPOILED or TEST, and a contest the board cannot agree on, read as a phantom
(0: the worst case); a vote with more marks than allowed is an overvote (no vote);
"contest not on card" counts as 0 under card-style sampling (``tally.assorters``).
A draw of an unpaired card takes a phantom CVR; a phantom draw is worst case both ways.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from e2e.encoding import ObjectReader, canonical_json, parse_canonical_json
from e2e.errors import EncodingError, InvalidSignature, PaperchainError, UsageError
from e2e.group import GroupParameters
from e2e.hashing import Tag, hash_fields
from e2e.manifest import ContestKind as ManifestKind
from e2e.manifest import Manifest
from e2e.signing import SIGNATURE_BYTES, SignatureTag, SigningKey, VerifyKey
from tally.assorters import (
    Absent,
    Assertion,
    Assorter,
    Contest,
    ContestKind,
    PhantomRule,
    Votes,
    make_assertions,
)
from tally.audit_polling import (
    POLLING_RULES,
    PollingRiskFunction,
    bravo_draws_expected,
    bravo_risk,
    polling_side,
)
from tally.decrypt import DecryptionShare
from tally.pairing import PHANTOM_BATCH, RULES, Population
from tally.risk import (
    ARLO_ERROR_RATES,
    DEFAULT_GAMMA,
    AlphaMart,
    DiscrepancyCounts,
    FixedEta,
    OptimalComparison,
    kaplan_markov_expected_sample_size,
    kaplan_markov_next_round_size,
    kaplan_markov_p_value,
)
from tally.sampler import AuditSeed, Ticket, draw_sample

__all__ = [
    "CONDITIONS",
    "READING_KINDS",
    "AssertionRisk",
    "AssertionSpec",
    "AuditCvrs",
    "AuditEnd",
    "AuditParameters",
    "AuditRisk",
    "AuditRound",
    "AuditShares",
    "BoardSigned",
    "CardReading",
    "ContestReading",
    "ContestSpec",
    "DecryptedCvr",
    "HandCount",
    "PollingRiskFunction",
    "RiskFunction",
    "SeedEntry",
    "assess",
    "assess_polling",
    "audit_contest",
    "build_contest_specs",
    "cvr_votes",
    "decide",
    "draws_for",
    "initial_round_size",
    "next_round_size",
    "paper_votes",
    "readings_digest",
]

CONDITIONS = ("ok", "not-found", "id-differs", "marked-spoiled", "marked-test",
              "marked-duplicate", "qr-text-disagree", "damaged")
"""A sampled card's condition as the board finds it."""

_WORST_CASE_CONDITIONS = frozenset({"not-found", "id-differs", "marked-spoiled",
                                    "marked-test"})

READING_KINDS = ("votes", "blank", "not-on-card", "cannot-agree")
"""What the printed text says about one contest."""

DECISIONS = ("continue", "confirmed", "escalate")
OUTCOMES = ("confirmed", "full-hand-count")


def _number(text: object, where: str) -> float:
    """A real number carried as a decimal string (payloads have no floats)."""
    if not isinstance(text, str):
        raise EncodingError("expected a decimal string", where)
    try:
        value = float(Decimal(text))
    except ArithmeticError:
        raise EncodingError(f"{text!r} is not a decimal number", where) from None
    if not math.isfinite(value) or repr(value) != text:
        raise EncodingError(f"{text!r} is not the shortest form of a finite number", where)
    return value


# --- parameters ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RiskFunction:
    """The risk measure and all its parameters.

    ``kaplan-markov``: super-simple Kaplan–Markov (Stark 2010), γ = ``gamma``, with
    replacement; its p-value after the last draw decides. ``alpha``: ALPHA (Stark 2023)
    with replacement and SHANGRLA's optimal comparison η for two-vote overstatement rate
    ``error_rate_2``; its sequential p-value (the minimum over the draws) decides.
    """

    name: str = "kaplan-markov"
    gamma: float = DEFAULT_GAMMA
    error_rate_2: float = 1e-5

    def __post_init__(self) -> None:
        if self.name not in ("kaplan-markov", "alpha"):
            raise UsageError(f"unknown risk function {self.name!r} (kaplan-markov or alpha)")
        if not self.gamma > 1:
            raise UsageError(f"gamma must be greater than 1, got {self.gamma}")
        if not 0 < self.error_rate_2 < 1:
            raise UsageError("the two-vote error rate must be in (0, 1)")

    def to_json(self) -> dict[str, Any]:
        if self.name == "kaplan-markov":
            return {"name": self.name, "gamma": repr(self.gamma), "with_replacement": True}
        return {"name": self.name, "eta": "optimal-comparison",
                "error_rate_2": repr(self.error_rate_2), "with_replacement": True}

    @classmethod
    def from_json(cls, obj: ObjectReader) -> RiskFunction:
        name = obj.choice("name", ("kaplan-markov", "alpha"))
        if obj.raw("with_replacement") is not True:
            raise EncodingError("this audit samples with replacement",
                                obj.path("with_replacement"))
        if name == "kaplan-markov":
            return cls(name, gamma=_number(obj.raw("gamma"), obj.path("gamma")))
        obj.choice("eta", ("optimal-comparison",))
        return cls(name, error_rate_2=_number(obj.raw("error_rate_2"), obj.path("error_rate_2")))


@dataclass(frozen=True, slots=True)
class AssertionSpec:
    """One assertion. A polling audit also records what its risk function needs: the
    reported votes of the winner and of the loser (all others, for a supermajority), the
    threshold t of the winner's share (1/2, or the supermajority's f) and ALPHA's η."""

    winner: str
    loser: str | None
    margin: float
    winner_votes: int | None = None
    loser_votes: int | None = None
    threshold: Fraction | None = None
    eta: float | None = None

    def polling_json(self) -> dict[str, Any]:
        if self.winner_votes is None or self.threshold is None:
            return {}
        out: dict[str, Any] = {
            "winner_votes": self.winner_votes, "loser_votes": self.loser_votes,
            "threshold": f"{self.threshold.numerator}/{self.threshold.denominator}"}
        if self.eta is not None:
            out["eta"] = repr(self.eta)
        return out

    def label(self) -> str:
        return f"{self.winner} v {self.loser if self.loser is not None else 'all others'}"


@dataclass(frozen=True, slots=True)
class ContestSpec:
    """One contest in the parameters: its population (rule 6 of ``tally.pairing``), the
    reported winners, and its assertions (none when it is not auditable)."""

    contest_id: str
    index: int
    population: int
    cards: int
    cvrs: int
    cast: int
    phantoms: int
    winners: tuple[str, ...]
    auditable: bool
    note: str
    assertions: tuple[AssertionSpec, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "contest": self.contest_id, "index": self.index, "population": self.population,
            "cards": self.cards, "cvrs": self.cvrs, "cast": self.cast,
            "phantoms": self.phantoms, "winners": list(self.winners),
            "auditable": self.auditable, "note": self.note,
            "assertions": [{"winner": a.winner, "loser": a.loser, "margin": repr(a.margin),
                            **a.polling_json()} for a in self.assertions],
        }

    @classmethod
    def from_json(cls, r: ObjectReader) -> ContestSpec:
        def assertion(a: ObjectReader) -> AssertionSpec:
            loser = a.raw("loser")
            if loser is not None and not isinstance(loser, str):
                raise EncodingError("expected null or a selection ID", a.path("loser"))
            spec = AssertionSpec(a.string("winner", 64), loser,
                                 _number(a.raw("margin"), a.path("margin")))
            if not a.has("winner_votes"):
                return spec
            text = a.string("threshold", 40)
            try:
                threshold = Fraction(text)
            except (ValueError, ZeroDivisionError):
                raise EncodingError("a fraction n/d", a.path("threshold")) from None
            if f"{threshold.numerator}/{threshold.denominator}" != text:
                raise EncodingError("a fraction n/d in lowest terms", a.path("threshold"))
            eta = _number(a.raw("eta"), a.path("eta")) if a.has("eta") else None
            return AssertionSpec(spec.winner, spec.loser, spec.margin, a.integer("winner_votes"),
                                 a.integer("loser_votes"), threshold, eta)

        winners = r.items("winners", 1000)
        if not all(isinstance(w, str) for w in winners):
            raise EncodingError("selection IDs", r.path("winners"))
        auditable = r.raw("auditable")
        if not isinstance(auditable, bool):
            raise EncodingError("expected true or false", r.path("auditable"))
        return cls(r.string("contest", 64), r.integer("index", 0, 10_000),
                   r.integer("population"), r.integer("cards"), r.integer("cvrs"),
                   r.integer("cast"), r.integer("phantoms"), tuple(winners), auditable,
                   r.string("note", 1024), tuple(r.mapped("assertions", assertion, 10_000)))


@dataclass(frozen=True, slots=True)
class AuditParameters:
    """Payload of ``audit-parameters`` (module docstring)."""

    reconciliation_index: int
    tally_index: int
    risk_limit: float
    risk_function: RiskFunction | PollingRiskFunction
    contests: tuple[ContestSpec, ...]
    frame: tuple[tuple[str, int], ...]
    initial_round_size: int
    software: str
    mode: str = "comparison"

    def __post_init__(self) -> None:
        if not 0 < self.risk_limit < 1:
            raise UsageError(f"the risk limit must be in (0, 1), got {self.risk_limit}")
        polling = isinstance(self.risk_function, PollingRiskFunction)
        if self.mode not in ("comparison", "polling") or polling != (self.mode == "polling"):
            raise UsageError(f"a {self.mode} audit cannot use the risk function "
                             f"{self.risk_function.name!r}")

    @property
    def polling(self) -> bool:
        return self.mode == "polling"

    def to_json(self) -> dict[str, Any]:
        if self.polling:
            return self._polling_json()
        return {
            "version": 1, "reconciliation_index": self.reconciliation_index,
            "tally_index": self.tally_index, "risk_limit": repr(self.risk_limit),
            "risk_function": self.risk_function.to_json(),
            "sample_size_estimate": {
                "method": "arlo-supersimple", "o1_rate": repr(ARLO_ERROR_RATES.o1),
                "o2_rate": repr(ARLO_ERROR_RATES.o2), "u1_rate": repr(ARLO_ERROR_RATES.u1),
                "u2_rate": repr(ARLO_ERROR_RATES.u2)},
            "sampler": {"name": "rivest-consistent-sampler", "hash": "sha256",
                        "with_replacement": True, "ticket_digits": 18,
                        "id_string": "str((batch name, position))", "positions_from": 1,
                        "phantom_batch": PHANTOM_BATCH},
            "pairing": {"rules": RULES, "phantom_rule": PhantomRule.WORST_CASE.value,
                        "card_style": True},
            "contests": [c.to_json() for c in self.contests],
            "frame": [{"batch": b, "cards": n} for b, n in self.frame],
            "initial_round_size": self.initial_round_size, "software": self.software,
        }

    def _polling_json(self) -> dict[str, Any]:
        """A ballot-polling audit's parameters: ``mode`` polling, no CVR pairing."""
        return {
            "version": 1, "mode": "polling", "reconciliation_index": self.reconciliation_index,
            "tally_index": self.tally_index, "risk_limit": repr(self.risk_limit),
            "risk_function": self.risk_function.to_json(),
            "sample_size_estimate": {"method": "bravo-asn"},
            "sampler": {"name": "rivest-consistent-sampler", "hash": "sha256",
                        "with_replacement": True, "ticket_digits": 18,
                        "id_string": "str((batch name, position))", "positions_from": 1,
                        "phantom_batch": PHANTOM_BATCH},
            "population": {"rules": POLLING_RULES,
                           "phantom_rule": PhantomRule.WORST_CASE.value, "card_style": False},
            "contests": [c.to_json() for c in self.contests],
            "frame": [{"batch": b, "cards": n} for b, n in self.frame],
            "initial_round_size": self.initial_round_size, "software": self.software,
        }

    def to_payload(self) -> bytes:
        return canonical_json(self.to_json())

    @classmethod
    def from_payload(cls, data: bytes, where: str = "audit-parameters") -> AuditParameters:
        obj = ObjectReader(parse_canonical_json(data, where), where)
        obj.version([1])
        mode = "comparison"
        risk_function: RiskFunction | PollingRiskFunction
        if obj.has("mode"):  # a comparison audit's parameters carry no mode (as before)
            mode = obj.choice("mode", ("polling",))
            fixed = AuditParameters(0, 0, 0.5, PollingRiskFunction(), (), (), 0, "",
                                    "polling").to_json()
            for key in ("sample_size_estimate", "sampler", "population"):
                if obj.raw(key) != fixed[key]:
                    raise EncodingError(f"this software knows only {fixed[key]}", obj.path(key))
            risk_reader = obj.obj("risk_function")
            risk_function = PollingRiskFunction.from_json(risk_reader)
        else:
            fixed = AuditParameters(0, 0, 0.5, RiskFunction(), (), (), 0, "").to_json()
            for key in ("sample_size_estimate", "sampler", "pairing"):
                if obj.raw(key) != fixed[key]:
                    raise EncodingError(f"this software knows only {fixed[key]}", obj.path(key))
            risk_reader = obj.obj("risk_function")
            risk_function = RiskFunction.from_json(risk_reader)
        risk_reader.done()
        result = cls(
            obj.integer("reconciliation_index"), obj.integer("tally_index"),
            _number(obj.raw("risk_limit"), obj.path("risk_limit")), risk_function,
            tuple(obj.mapped("contests", ContestSpec.from_json, 10_000)),
            tuple(obj.mapped("frame", lambda r: (r.string("batch", 100), r.integer("cards")),
                             1_000_000)),
            obj.integer("initial_round_size"), obj.string("software", 128), mode)
        obj.done()
        return result

    def contest(self, contest_id: str) -> ContestSpec:
        for spec in self.contests:
            if spec.contest_id == contest_id:
                return spec
        raise UsageError(f"contest {contest_id!r} is not in the audit")


def audit_contest(contest: Any) -> Contest:
    """``tally.assorters.Contest`` of a manifest contest (selection IDs as candidates).

    A plurality contest whose vote-for equals its winners maps to PLURALITY; otherwise to
    APPROVAL with that many seats (the same pairwise assorter); overvotes are removed
    before assorting (``paper_votes``), so the kinds differ in nothing else.
    """
    candidates = tuple(s.id for s in contest.selections)
    if contest.kind is ManifestKind.SUPERMAJORITY:
        return Contest(contest.id, ContestKind.SUPERMAJORITY, candidates,
                       share_to_win=contest.threshold)  # the exact Fraction
    if contest.kind is ManifestKind.PLURALITY and contest.vote_for == contest.winners:
        return Contest(contest.id, ContestKind.PLURALITY, candidates, seats=contest.winners)
    return Contest(contest.id, ContestKind.APPROVAL, candidates, seats=contest.winners)


def build_contest_specs(manifest: Manifest, counts: Mapping[tuple[int, int], int],
                        population: Population, polling: PollingRiskFunction | None = None
                        ) -> tuple[ContestSpec, ...]:
    """Every contest of the manifest with its population and assertions, from the decrypted
    counts ((contest, selection) → count) and the pairing (for a polling audit, the polling
    population and each assertion's reported votes, threshold and η)."""
    specs = []
    for index, contest in enumerate(manifest.contests):
        pop = population.contest(index)
        totals = {s.id: counts.get((index, j), 0) for j, s in enumerate(contest.selections)}
        winners: tuple[str, ...] = ()
        assertions: tuple[AssertionSpec, ...] = ()
        note = ""
        if pop.population == 0:
            note = "no card, CVR or cast ballot holds this contest: nothing to audit"
        else:
            try:
                made = make_assertions(audit_contest(contest), totals, cards=pop.population)
            except UsageError as err:
                note = f"not auditable by sampling: {err.reason}"
            else:
                winners = tuple(dict.fromkeys(a.assorter.winner for a in made))
                assertions = tuple(AssertionSpec(a.assorter.winner, a.assorter.loser,
                                                 a.margin) for a in made)
                if polling is not None:
                    assertions = tuple(_polling_spec(audit_contest(contest), totals, a, polling)
                                       for a in assertions)
                if any(a.margin <= 0 for a in assertions):
                    note = "a margin of 0: only a full hand count can confirm it"
        auditable = bool(assertions) and all(a.margin > 0 for a in assertions)
        if pop.population > 0 and not assertions and not note:
            note = "no assertion"
        specs.append(ContestSpec(contest.id, index, pop.population, pop.cards, pop.cvrs,
                                 pop.cast, pop.shortfall, winners,
                                 auditable or pop.population == 0, note, assertions))
    return tuple(specs)


def _polling_spec(contest: Contest, totals: Mapping[str, int], a: AssertionSpec,
                  function: PollingRiskFunction) -> AssertionSpec:
    """``a`` with the reported votes, the threshold and η a polling risk function needs."""
    winner_votes = totals[a.winner]
    if a.loser is None:
        loser_votes = sum(totals.values()) - winner_votes
        threshold = contest.exact_share
    else:
        loser_votes = totals[a.loser]
        threshold = Fraction(1, 2)
    eta = None
    if function.name == "alpha" and a.margin > 0:
        upper = Assorter(contest, a.winner, a.loser).upper_bound
        eta = (1 + a.margin) / 2 if function.fixed_eta is None else function.fixed_eta
        if not 0.5 < eta <= upper:
            raise UsageError(f"contest {contest.name!r}, {a.label()}: η = {eta!r} is not in "
                             f"(1/2, u] with u = {upper!r} (the assorter's upper bound)")
    return AssertionSpec(a.winner, a.loser, a.margin, winner_votes, loser_votes, threshold, eta)


def _assertion(manifest: Manifest, spec: ContestSpec, a: AssertionSpec) -> Assertion:
    contest = audit_contest(manifest.contests[spec.index])
    return Assertion(Assorter(contest, a.winner, a.loser), a.margin, spec.population, 0,
                     None if a.loser is None else 0)


def _expected_draws(spec: ContestSpec, risk_limit: float, gamma: float, frame_size: int,
                    per_assertion: Mapping[str, tuple[int, DiscrepancyCounts]] | None = None
                    ) -> int | None:
    """Draws (of the whole frame) expected to confirm ``spec``; None: not by sampling."""
    if spec.population == 0:
        return 0
    if not spec.auditable:
        return None
    needed = 0
    for a in spec.assertions:
        margin = min(a.margin, 1.0)
        if per_assertion is None or per_assertion[a.label()][0] == 0:
            n = kaplan_markov_expected_sample_size(
                risk_limit=risk_limit, diluted_margin=margin, rates=ARLO_ERROR_RATES,
                gamma=gamma, population=spec.population)
        else:
            drawn, counts = per_assertion[a.label()]
            n = drawn + kaplan_markov_next_round_size(
                risk_limit=risk_limit, diluted_margin=margin, sample_size=drawn,
                discrepancies=counts, gamma=gamma, population=spec.population)
        needed = max(needed, n)
    if needed >= spec.population:
        return None  # as many draws as cards: a full hand count is the better road
    # Draws hold the contest with chance population/frame: scale to whole-frame draws.
    return math.ceil(needed * frame_size / spec.population)


def _polling_draws(spec: ContestSpec, risk_limit: float, frame_size: int,
                   drawn: Mapping[str, tuple[int, int, int]] | None = None) -> int | None:
    """Further whole-frame draws BRAVO's average sample number expects for ``spec`` (its
    assertions not yet met, with ``drawn``: label → (draws, winner draws, loser draws));
    None: only a full hand count can settle it."""
    if spec.population == 0:
        return 0
    if not spec.auditable:
        return None
    needed, so_far = 0, 0
    for a in spec.assertions:
        if a.winner_votes is None or a.loser_votes is None or a.threshold is None:
            raise UsageError("a polling assertion without its reported votes")
        draws, w, ell = (0, 0, 0) if drawn is None else drawn.get(a.label(), (0, 0, 0))
        if drawn is not None and a.label() not in drawn:
            continue  # met already
        more = bravo_draws_expected(risk_limit, a.winner_votes, a.loser_votes, a.threshold,
                                    spec.population, w, ell)
        if more is None:
            return None
        needed, so_far = max(needed, more if drawn is None else max(more, 1)), max(so_far, draws)
    if so_far + needed >= spec.population:
        return None  # as many draws as cards: a full hand count is the better road
    return math.ceil(needed * frame_size / spec.population)


def initial_round_size(contests: Sequence[ContestSpec], risk_limit: float, gamma: float,
                       frame_size: int, *, polling: bool = False) -> int:
    """The first round's draws: enough for every auditable contest at Arlo's expected error
    rates (0 when some contest can only be settled by a full hand count)."""
    sizes = [_polling_draws(c, risk_limit, frame_size) if polling
             else _expected_draws(c, risk_limit, gamma, frame_size) for c in contests]
    if any(s is None for s in sizes):
        return 0
    return max((s for s in sizes if s is not None), default=0)


# --- entries of the rounds ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SeedEntry:
    """Payload of ``audit-seed``."""

    seed: AuditSeed
    rolled_by: tuple[str, ...]
    rolled_at: str

    def to_payload(self) -> bytes:
        return canonical_json({"version": 1, "seed": self.seed.digits,
                               "rolled_by": list(self.rolled_by), "rolled_at": self.rolled_at})

    @classmethod
    def from_payload(cls, data: bytes, where: str = "audit-seed") -> SeedEntry:
        obj = ObjectReader(parse_canonical_json(data, where), where)
        obj.version([1])
        try:
            seed = AuditSeed(obj.string("seed", 1000))
        except UsageError as err:
            raise EncodingError(err.reason, obj.path("seed")) from None
        rolled_by = obj.items("rolled_by", 100)
        if not rolled_by or not all(isinstance(n, str) and 0 < len(n) <= 200 for n in rolled_by):
            raise EncodingError("one or more names", obj.path("rolled_by"))
        result = cls(seed, tuple(rolled_by), obj.string("rolled_at", 100))
        obj.done()
        if not result.rolled_at:
            raise EncodingError("when the seed was rolled", obj.path("rolled_at"))
        return result


@dataclass(frozen=True, slots=True)
class AuditRound:
    """Payload of ``audit-round``: draws ``draws_before``+1 .. +``len(tickets)`` and the CVRs
    (ballot ID → per contest the selections' (α, β) as hex) to decrypt after the readings."""

    round: int
    draws_before: int
    tickets: tuple[Ticket, ...]
    decrypt: tuple[tuple[bytes, str, tuple[tuple[int, tuple[tuple[str, str], ...]], ...]], ...]

    def to_payload(self) -> bytes:
        return canonical_json({
            "version": 1, "round": self.round, "draws_before": self.draws_before,
            "tickets": [{"ticket_number": t.ticket_number, "batch": t.batch,
                         "position": t.position, "generation": t.generation}
                        for t in self.tickets],
            "decrypt": [{"ballot_id": ballot_id.hex(), "device_id": device,
                         "contests": [{"index": i, "selections": [[a, b] for a, b in row]}
                                      for i, row in contests]}
                        for ballot_id, device, contests in self.decrypt]})

    @classmethod
    def from_payload(cls, data: bytes, where: str = "audit-round") -> AuditRound:
        obj = ObjectReader(parse_canonical_json(data, where), where)
        obj.version([1])
        tickets = obj.mapped("tickets", lambda r: Ticket(
            r.string("ticket_number", 200), r.string("batch", 100), r.integer("position", 1),
            r.integer("generation", 1)), 1_000_000)

        def cvr(r: ObjectReader) -> tuple[bytes, str, tuple[tuple[int, tuple[tuple[str, str],
                                                                             ...]], ...]]:
            def contest(c: ObjectReader) -> tuple[int, tuple[tuple[str, str], ...]]:
                rows = c.items("selections", 1000)
                if not all(isinstance(x, list) and len(x) == 2
                           and all(isinstance(y, str) for y in x) for x in rows):
                    raise EncodingError("[alpha, beta] hex pairs", c.path("selections"))
                return c.integer("index", 0, 10_000), tuple((x[0], x[1]) for x in rows)

            return (r.hex_bytes("ballot_id", 16), r.string("device_id", 64),
                    tuple(r.mapped("contests", contest, 1000)))

        result = cls(obj.integer("round", 1), obj.integer("draws_before"), tuple(tickets),
                     tuple(obj.mapped("decrypt", cvr, 1_000_000)))
        obj.done()
        return result


def draws_for(seed: AuditSeed, frame: Mapping[str, int], size: int, already: int
              ) -> tuple[Ticket, ...]:
    """Draws already+1 .. already+size of the frame's sequence, with replacement."""
    return draw_sample(seed, frame, size, with_replacement=True, already_drawn=already)


@dataclass(frozen=True, slots=True)
class ContestReading:
    kind: str
    votes: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.kind not in READING_KINDS:
            raise EncodingError(f"a reading is one of {list(READING_KINDS)}, got {self.kind!r}")
        if self.kind != "votes" and self.votes:
            raise EncodingError(f"a {self.kind!r} reading has no votes")
        if self.kind == "votes" and not self.votes:
            raise EncodingError("a 'votes' reading names at least one selection "
                                "(a contest with none is 'blank')")


@dataclass(frozen=True, slots=True)
class CardReading:
    """What the board read on one sampled card (module docstring)."""

    round: int
    batch: str
    position: int
    ballot_id: bytes | None  # as read off the card, if it could be
    condition: str
    contests: tuple[tuple[str, ContestReading], ...]  # (contest ID, reading), manifest order

    def __post_init__(self) -> None:
        if self.condition not in CONDITIONS:
            raise EncodingError(f"a card's condition is one of {list(CONDITIONS)}, got "
                                f"{self.condition!r}")

    def reading(self, contest_id: str) -> ContestReading | None:
        for cid, reading in self.contests:
            if cid == contest_id:
                return reading
        return None

    def body(self) -> dict[str, Any]:
        return {
            "version": 1, "round": self.round, "batch": self.batch, "position": self.position,
            "ballot_id": None if self.ballot_id is None else self.ballot_id.hex(),
            "condition": self.condition,
            "contests": [{"contest": cid, "reading": r.kind, "votes": sorted(r.votes)}
                         for cid, r in self.contests]}

    @classmethod
    def from_json(cls, obj: ObjectReader) -> CardReading:
        raw_id = obj.raw("ballot_id")
        ballot_id = None if raw_id is None else obj.hex_bytes("ballot_id", 16)

        def contest(r: ObjectReader) -> tuple[str, ContestReading]:
            votes = r.items("votes", 1000)
            if not all(isinstance(v, str) for v in votes) or votes != sorted(set(votes)):
                raise EncodingError("selection IDs, each once, sorted", r.path("votes"))
            try:
                reading = ContestReading(r.choice("reading", READING_KINDS), frozenset(votes))
            except EncodingError as err:  # located here unless it names its place already
                raise (err if err.where else err.at(r.where)) from None
            return r.string("contest", 64), reading

        return cls(obj.integer("round", 1), obj.string("batch", 100), obj.integer("position", 1),
                   ballot_id, obj.choice("condition", CONDITIONS),
                   tuple(obj.mapped("contests", contest, 10_000)))

    def check_against(self, manifest: Manifest) -> None:
        """Every contest of the manifest once, in manifest order, votes for its selections
        (unless the card is one of the worst-case conditions, which need no contests)."""
        where = f"reading of ({self.batch!r}, {self.position})"
        ids = [cid for cid, _ in self.contests]
        if self.condition in _WORST_CASE_CONDITIONS and not ids:
            return
        if ids != [c.id for c in manifest.contests]:
            raise EncodingError("a reading lists every contest of the manifest once, in "
                                "manifest order ('not-on-card' for those the card lacks)", where)
        for contest, (_, reading) in zip(manifest.contests, self.contests, strict=True):
            known = {s.id for s in contest.selections}
            unknown = sorted(reading.votes - known)
            if unknown:
                raise EncodingError(f"contest {contest.id!r} has no selection(s) {unknown}",
                                    where)


@dataclass(frozen=True, slots=True)
class BoardSigned:
    """A reading or a sign-off with the two board members: the writer and the cosigner."""

    body: dict[str, Any]
    board: tuple[str, str]
    cosignature: bytes

    @staticmethod
    def message(body: Mapping[str, Any], board: tuple[str, str]) -> bytes:
        return canonical_json({**body, "board": list(board)})

    @classmethod
    def sign(cls, body: dict[str, Any], writer_id: str, cosigner_id: str, cosigner: SigningKey,
             election_id: str) -> BoardSigned:
        if writer_id == cosigner_id:
            raise UsageError("two different board members sign")
        board = (writer_id, cosigner_id)
        signature = cosigner.sign(SignatureTag.AUDIT_BOARD, election_id, cls.message(body, board))
        return cls(body, board, signature)

    def to_payload(self) -> bytes:
        return canonical_json({**self.body, "board": list(self.board),
                               "cosignature": self.cosignature.hex()})

    @classmethod
    def from_payload(cls, data: bytes, where: str) -> BoardSigned:
        """The body (every other key: its reader checks them), the board, the cosignature."""
        obj = ObjectReader(parse_canonical_json(data, where), where)
        obj.version([1])
        board = obj.items("board", 2)
        if len(board) != 2 or not all(isinstance(b, str) for b in board):
            raise EncodingError("two board members' writer IDs", obj.path("board"))
        cosignature = obj.hex_bytes("cosignature", SIGNATURE_BYTES)
        body = {k: v for k, v in parse_canonical_json(data, where).items()
                if k not in ("board", "cosignature")}
        return cls(body, (board[0], board[1]), cosignature)

    def verify(self, writer_id: str, cosigner_key: VerifyKey, election_id: str) -> None:
        if self.board[0] != writer_id:
            raise InvalidSignature(f"the board names {self.board[0]!r} first but "
                                   f"{writer_id!r} wrote the entry")
        if self.board[1] == writer_id:
            raise InvalidSignature("the same member signed twice: two members must sign")
        cosigner_key.verify(SignatureTag.AUDIT_BOARD, election_id,
                            self.message(self.body, self.board), self.cosignature)


def readings_digest(readings: Sequence[CardReading]) -> bytes:
    """H(audit-readings-digest; [canonical body of each reading of the round, in order])."""
    return hash_fields(Tag.AUDIT_READINGS_DIGEST, [canonical_json(r.body()) for r in readings])


@dataclass(frozen=True, slots=True)
class AuditShares:
    """Payload of ``audit-decryption-share``: one trustee's ``DecryptionShare`` per CVR the
    round names, in its order (subject ``audit-cvr/<ballot ID>@<round entry index>``)."""

    round: int
    shares: tuple[DecryptionShare, ...]

    def to_payload(self) -> bytes:
        return canonical_json({"version": 1, "round": self.round, "shares": [
            parse_canonical_json(s.to_payload(), "share") for s in self.shares]})

    @classmethod
    def from_payload(cls, data: bytes, group: GroupParameters,
                     where: str = "audit-decryption-share") -> AuditShares:
        obj = ObjectReader(parse_canonical_json(data, where), where)
        obj.version([1])
        items = obj.items("shares", 1_000_000)
        shares = tuple(DecryptionShare.from_payload(canonical_json(item), group,
                                                    f"{where}.shares[{n}]")
                       for n, item in enumerate(items))
        result = cls(obj.integer("round", 1), shares)
        obj.done()
        return result


@dataclass(frozen=True, slots=True)
class DecryptedCvr:
    """A sampled CVR's plaintext: per (contest, selection) 0 or 1."""

    ballot_id: bytes
    trustees: tuple[int, ...]
    counts: tuple[tuple[int, int, str, int], ...]  # contest, selection, combined M (hex), count


@dataclass(frozen=True, slots=True)
class AuditCvrs:
    """Payload of ``audit-cvrs``: the combined decryptions of a round's CVRs."""

    round: int
    cvrs: tuple[DecryptedCvr, ...]

    def to_payload(self) -> bytes:
        return canonical_json({"version": 1, "round": self.round, "cvrs": [
            {"ballot_id": c.ballot_id.hex(), "trustees": list(c.trustees),
             "counts": [{"contest": i, "selection": j, "combined": m, "count": n}
                        for i, j, m, n in c.counts]} for c in self.cvrs]})

    @classmethod
    def from_payload(cls, data: bytes, where: str = "audit-cvrs") -> AuditCvrs:
        obj = ObjectReader(parse_canonical_json(data, where), where)
        obj.version([1])

        def cvr(r: ObjectReader) -> DecryptedCvr:
            trustees = r.items("trustees", 64)
            if not all(isinstance(t, int) and not isinstance(t, bool) for t in trustees):
                raise EncodingError("trustee indices", r.path("trustees"))
            return DecryptedCvr(r.hex_bytes("ballot_id", 16), tuple(trustees), tuple(
                r.mapped("counts", lambda c: (c.integer("contest", 0, 10_000),
                                              c.integer("selection", 0, 1000),
                                              c.string("combined", 4096),
                                              c.integer("count", 0, 1)), 100_000)))

        result = cls(obj.integer("round", 1), tuple(obj.mapped("cvrs", cvr, 1_000_000)))
        obj.done()
        return result


def cvr_votes(manifest: Manifest, decrypted: DecryptedCvr, contest_index: int) -> Votes:
    """The decrypted CVR's reading of one contest (NOT_ON_CARD if its style lacks it)."""
    contest = manifest.contests[contest_index]
    votes = {contest.selections[j].id: n for i, j, _, n in decrypted.counts if i == contest_index}
    if not votes:
        return Absent.NOT_ON_CARD
    return votes


def paper_votes(manifest: Manifest, reading: CardReading | None, contest_index: int) -> Votes:
    """What the paper counts as, for one contest (module docstring)."""
    if reading is None or reading.condition in _WORST_CASE_CONDITIONS:
        return Absent.PHANTOM
    contest = manifest.contests[contest_index]
    found = reading.reading(contest.id)
    if found is None or found.kind == "cannot-agree":
        return Absent.PHANTOM
    if found.kind == "not-on-card":
        return Absent.NOT_ON_CARD
    if len(found.votes) > contest.limit:  # an overvote: no valid vote in this contest
        return {}
    return {s: 1 for s in found.votes}


# --- risk ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AssertionRisk:
    """One assertion after the draws so far: the draws holding its contest, their
    discrepancies, and the p-value after each of those draws."""

    contest_id: str
    assertion: str
    draws: int
    counts: DiscrepancyCounts
    p_history: tuple[float, ...]
    p_value: float
    tally: tuple[int, int] | None = None  # polling: draws read for the winner, the loser

    def to_json(self) -> dict[str, Any]:
        if self.tally is not None:
            return {"contest": self.contest_id, "assertion": self.assertion,
                    "draws": self.draws, "winner_draws": self.tally[0],
                    "loser_draws": self.tally[1], "p_value": repr(self.p_value)}
        return {"contest": self.contest_id, "assertion": self.assertion, "draws": self.draws,
                "o1": self.counts.o1, "o2": self.counts.o2, "u1": self.counts.u1,
                "u2": self.counts.u2, "p_value": repr(self.p_value)}


@dataclass(frozen=True, slots=True)
class DrawEvaluation:
    """One draw seen by one assertion: the overstatement ω and the value B (comparison), or
    the paper's assorter value and ``side`` — "winner", "loser" or "neither" — with ω NaN
    (ballot polling, which has no overstatement)."""

    draw: int
    batch: str
    position: int
    omega: float
    value: float
    counts: DiscrepancyCounts
    side: str | None = None


def assess(manifest: Manifest, parameters: AuditParameters, population: Population,
           tickets: Sequence[Ticket], readings: Mapping[tuple[str, int], CardReading],
           decrypted: Mapping[bytes, DecryptedCvr],
           evaluations: dict[str, list[DrawEvaluation]] | None = None
           ) -> list[AssertionRisk]:
    """Every assertion's risk after ``tickets`` (all draws so far, in order). Draws of cards
    without a reading or a decrypted CVR (when one is due) must not be passed."""
    if parameters.polling:
        return assess_polling(manifest, parameters, population, tickets, readings,
                              evaluations)
    out = []
    function = parameters.risk_function
    for spec in parameters.contests:
        for a in spec.assertions:
            assertion = _assertion(manifest, spec, a)
            counts = DiscrepancyCounts()
            history: list[float] = []
            values: list[float] = []
            seen = []
            for number, ticket in enumerate(tickets, start=1):
                if not population.holds(ticket.batch, ticket.position, spec.index):
                    continue
                pair = population.pair_at(ticket.batch, ticket.position)
                if pair is None:  # a phantom card: no paper, no CVR
                    cvr: Votes = Absent.PHANTOM
                    paper: Votes = Absent.PHANTOM
                else:
                    reading = readings.get((ticket.batch, ticket.position))
                    paper = paper_votes(manifest, reading, spec.index)
                    if pair.cvr is None:
                        cvr = Absent.PHANTOM
                    else:
                        cvr = cvr_votes(manifest, decrypted[pair.cvr], spec.index)
                omega = assertion.overstatement(cvr, paper, phantom_rule=PhantomRule.WORST_CASE,
                                                use_style=True)
                found = assertion.discrepancy(cvr, paper, phantom_rule=PhantomRule.WORST_CASE,
                                              use_style=True)
                value = assertion.overstatement_value(cvr, paper, use_style=True,
                                                      phantom_rule=PhantomRule.WORST_CASE)
                counts = counts + found
                values.append(value)
                seen.append(DrawEvaluation(number, ticket.batch, ticket.position, omega, value,
                                           found))
                if function.name == "kaplan-markov":
                    history.append(kaplan_markov_p_value(
                        diluted_margin=min(a.margin, 1.0), sample_size=len(values),
                        discrepancies=counts, gamma=function.gamma))
            if function.name == "alpha":
                test = AlphaMart(assertion.overstatement_upper_bound,
                                 OptimalComparison(function.error_rate_2))
                history = list(test.iter_p(values))
                p_value = min(history, default=1.0)
            else:
                p_value = history[-1] if history else 1.0
            if evaluations is not None:
                evaluations[f"{spec.contest_id}: {a.label()}"] = seen
            out.append(AssertionRisk(spec.contest_id, a.label(), len(values), counts,
                                     tuple(history), p_value))
    return out


def assess_polling(manifest: Manifest, parameters: AuditParameters, population: Population,
                   tickets: Sequence[Ticket], readings: Mapping[tuple[str, int], CardReading],
                   evaluations: dict[str, list[DrawEvaluation]] | None = None
                   ) -> list[AssertionRisk]:
    """``assess`` for a ballot-polling audit (``tally.audit_polling``): each draw holding the
    contest is its paper's assorter value (a phantom draw, a card not found, with another
    ID, marked SPOILED or TEST, or a contest the board cannot agree on: 0, the worst case;
    without card-style data "not on card" is no vote, 1/2); BRAVO's risk after the last
    draw, or ALPHA's sequential p-value with the assertion's η."""
    function = parameters.risk_function
    if not isinstance(function, PollingRiskFunction):
        raise UsageError("a comparison audit's parameters")
    out = []
    for spec in parameters.contests:
        for a in spec.assertions:
            assertion = _assertion(manifest, spec, a)
            values: list[float] = []
            history: list[float] = []
            winner_drawn = loser_drawn = 0
            seen = []
            for number, ticket in enumerate(tickets, start=1):
                if not population.holds(ticket.batch, ticket.position, spec.index):
                    continue
                if population.pair_at(ticket.batch, ticket.position) is None:
                    paper: Votes = Absent.PHANTOM
                else:
                    paper = paper_votes(manifest, readings.get((ticket.batch, ticket.position)),
                                        spec.index)
                value = assertion.assorter.assort(paper)
                side = polling_side(value)
                winner_drawn += side == 1
                loser_drawn += side == -1
                values.append(value)
                seen.append(DrawEvaluation(number, ticket.batch, ticket.position, math.nan,
                                           value, DiscrepancyCounts(),
                                           {1: "winner", -1: "loser", 0: "neither"}[side]))
                if function.name == "bravo" and a.margin <= 0:
                    history.append(1.0)  # a tie: no sample confirms it
                elif function.name == "bravo":
                    if (a.winner_votes is None or a.loser_votes is None
                            or a.threshold is None):
                        raise UsageError("a polling assertion without its reported votes")
                    history.append(bravo_risk(a.winner_votes, a.loser_votes, a.threshold,
                                              winner_drawn, loser_drawn))
            if function.name == "alpha" and a.margin <= 0:
                history = [1.0] * len(values)
                p_value = 1.0
            elif function.name == "alpha":
                if a.eta is None:
                    raise UsageError("an ALPHA polling assertion without its η")
                test = AlphaMart(assertion.upper_bound, FixedEta(a.eta))
                history = list(test.iter_p(values))
                p_value = min(history, default=1.0)
            else:
                p_value = history[-1] if history else 1.0
            if evaluations is not None:
                evaluations[f"{spec.contest_id}: {a.label()}"] = seen
            out.append(AssertionRisk(spec.contest_id, a.label(), len(values),
                                     DiscrepancyCounts(), tuple(history), p_value,
                                     (winner_drawn, loser_drawn)))
    return out


def contest_risks(parameters: AuditParameters, risks: Sequence[AssertionRisk]
                  ) -> dict[str, float]:
    """Per contest, the largest p-value of its assertions (1 for one not auditable, 0 for
    one no card holds)."""
    out = {}
    for spec in parameters.contests:
        if spec.population == 0:
            out[spec.contest_id] = 0.0
        elif not spec.auditable:
            out[spec.contest_id] = 1.0
        else:
            out[spec.contest_id] = max(r.p_value for r in risks if r.contest_id == spec.contest_id)
    return out


def next_round_size(parameters: AuditParameters, risks: Sequence[AssertionRisk],
                    frame_size: int, drawn: int) -> int | None:
    """More draws expected to confirm every contest not yet confirmed, from the observed
    discrepancy rates (Arlo's next-round rule); None when only a hand count can."""
    met = contest_risks(parameters, risks)
    needed = 0
    for spec in parameters.contests:
        if met[spec.contest_id] <= parameters.risk_limit:
            continue
        if parameters.polling:
            unmet = {r.assertion: (r.draws, *(r.tally or (0, 0))) for r in risks
                     if r.contest_id == spec.contest_id and r.p_value > parameters.risk_limit}
            more = _polling_draws(spec, parameters.risk_limit, frame_size, unmet)
            if more is None:
                return None
            needed = max(needed, more, 1)
            continue
        observed = {r.assertion: (r.draws, r.counts) for r in risks
                    if r.contest_id == spec.contest_id}
        gamma = parameters.risk_function.gamma  # type: ignore[union-attr]
        total = _expected_draws(spec, parameters.risk_limit, gamma,
                                frame_size, observed)
        if total is None:
            return None
        needed = max(needed, total - drawn, 1)
    return needed


def decide(parameters: AuditParameters, risks: Sequence[AssertionRisk], frame_size: int,
           drawn: int) -> tuple[str, int]:
    """The recommended decision after a round: ("confirmed", 0), ("continue", n) or
    ("escalate", 0)."""
    if all(p <= parameters.risk_limit for p in contest_risks(parameters, risks).values()):
        return "confirmed", 0
    more = next_round_size(parameters, risks, frame_size, drawn)
    if more is None:
        return "escalate", 0
    return "continue", more


@dataclass(frozen=True, slots=True)
class AuditRisk:
    """Payload of ``audit-risk``: the risk after a round, and the decision."""

    round: int
    draws: int
    assertions: tuple[AssertionRisk, ...]
    contests: tuple[tuple[str, float], ...]
    decision: str
    next_round_size: int

    def to_payload(self) -> bytes:
        return canonical_json({
            "version": 1, "round": self.round, "draws": self.draws,
            "assertions": [a.to_json() for a in self.assertions],
            "contests": [{"contest": c, "risk": repr(p)} for c, p in self.contests],
            "decision": self.decision, "next_round_size": self.next_round_size})

    @classmethod
    def from_payload(cls, data: bytes, where: str = "audit-risk") -> AuditRisk:
        obj = ObjectReader(parse_canonical_json(data, where), where)
        obj.version([1])
        def assertion(r: ObjectReader) -> AssertionRisk:
            head = (r.string("contest", 64), r.string("assertion", 200), r.integer("draws"))
            if r.has("winner_draws"):  # a polling audit's
                tally = (r.integer("winner_draws"), r.integer("loser_draws"))
                return AssertionRisk(*head, DiscrepancyCounts(), (),
                                     _number(r.raw("p_value"), r.path("p_value")), tally)
            return AssertionRisk(*head, DiscrepancyCounts(
                r.integer("o1"), r.integer("o2"), r.integer("u1"), r.integer("u2")), (),
                _number(r.raw("p_value"), r.path("p_value")))

        assertions = obj.mapped("assertions", assertion, 100_000)
        contests = obj.mapped("contests", lambda r: (
            r.string("contest", 64), _number(r.raw("risk"), r.path("risk"))), 10_000)
        result = cls(obj.integer("round", 1), obj.integer("draws"), tuple(assertions),
                     tuple(contests), obj.choice("decision", DECISIONS),
                     obj.integer("next_round_size"))
        obj.done()
        return result


@dataclass(frozen=True, slots=True)
class AuditEnd:
    """Payload of ``audit-end``."""

    outcome: str
    note: str = ""

    def to_payload(self) -> bytes:
        return canonical_json({"version": 1, "outcome": self.outcome, "note": self.note})

    @classmethod
    def from_payload(cls, data: bytes, where: str = "audit-end") -> AuditEnd:
        obj = ObjectReader(parse_canonical_json(data, where), where)
        obj.version([1])
        result = cls(obj.choice("outcome", OUTCOMES), obj.string("note", 10_000))
        obj.done()
        return result


@dataclass(frozen=True, slots=True)
class HandCount:
    """Payload of ``hand-count``: a full hand count's certified counts, which replace the
    E2E result; per contest ID and selection ID."""

    counts: tuple[tuple[str, str, int], ...]
    certified_by: tuple[str, ...]
    certified_at: str
    note: str = ""

    def to_payload(self) -> bytes:
        return canonical_json({
            "version": 1, "counts": [{"contest": c, "selection": s, "count": n}
                                     for c, s, n in self.counts],
            "certified_by": list(self.certified_by), "certified_at": self.certified_at,
            "note": self.note})

    @classmethod
    def from_payload(cls, data: bytes, where: str = "hand-count") -> HandCount:
        obj = ObjectReader(parse_canonical_json(data, where), where)
        obj.version([1])
        counts = obj.mapped("counts", lambda r: (r.string("contest", 64),
                                                 r.string("selection", 64), r.integer("count")),
                            100_000)
        return cls.certified(obj, counts)

    @classmethod
    def certified(cls, obj: ObjectReader,
                  counts: Sequence[tuple[str, str, int]]) -> HandCount:
        """The hand count of ``counts`` with the certification ``obj`` holds (who certified
        it, when, a note), the last fields of ``obj``: the payload's and the official's
        input file's common tail."""
        certified = obj.items("certified_by", 100)
        if not certified or not all(isinstance(n, str) and n for n in certified):
            raise EncodingError("one or more names", obj.path("certified_by"))
        result = cls(tuple(counts), tuple(certified), obj.string("certified_at", 100),
                     obj.string("note", 10_000))
        obj.done()
        return result

    def check_against(self, manifest: Manifest) -> None:
        expected = [(c.id, s.id) for c in manifest.contests for s in c.selections]
        if [(c, s) for c, s, _ in self.counts] != expected:
            raise EncodingError("a hand count lists every selection of every contest once, "
                                "in manifest order")


def check_signed_reading(signed: BoardSigned) -> CardReading:
    """The reading inside a board-signed payload (the payload reader refuses unknown keys)."""
    try:
        reader = ObjectReader(signed.body, "audit-reading")
        reader.version([1])
        reading = CardReading.from_json(reader)
        reader.done()
    except PaperchainError as err:
        raise err.at("audit-reading") from None
    return reading
