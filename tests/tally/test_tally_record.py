"""The tally, the decryption shares and the results as the verifier sees them on a ledger.

Issue "From marked ballot to verified tally", must-show negatives: a dropped, an
added-after-close and a spoiled-but-counted ballot in the tally; a device chain cut at
its tail; a share whose verification key is not derived from the commitments; results
combined with Lagrange coefficients other than the verifier's; fewer than k shares; a
count above its bound. And the empty aggregate: a contest no cast ballot holds has the
total (1, 1), is decrypted to 0 and verifies.

Ledgers are written as bare envelopes (``tests.perf.ledgers``: a closed ceremony with
fixed keys, devices' chains) and every entry after the close is signed here by its
writer, so each test changes exactly one thing and the verifier alone judges it.
"""

from __future__ import annotations

import dataclasses
import random
from collections import OrderedDict
from collections.abc import Callable

import pytest

from e2e.ballot import BallotOpening, chain_seed, encrypt_ballot
from e2e.elgamal import Ciphertext
from e2e.group import TEST_GROUP
from e2e.ledger.entry import Entry, leaf_hash_of, sign_entry
from e2e.ledger.types import EntryType
from e2e.manifest import demo_manifest
from e2e.nonces import DerivedNonces
from e2e.proofs import prove_chaum_pedersen
from e2e.record import StreamingRoot
from e2e.trustee import KeyShare
from e2e.verify import RecordVerifier, VerificationReport
from e2e.voting import CastBallot, ChallengedBallot, DeviceClose
from tally.aggregate import TallyStatement, statement_from_aggregate
from tally.decrypt import (
    DecryptionShare,
    PartialDecryption,
    combine,
    compute_share,
    share_context,
)
from tally.results import Results
from tally.verify import tally_subject, verify_election
from tests.perf.ledgers import SyntheticElection, envelopes_of, random_choices

G = TEST_GROUP
WARD_2_COUNCIL = 3  # the demo manifest's contest on ward-2 ballots only


@pytest.fixture(scope="module")
def election() -> SyntheticElection:
    return SyntheticElection.create(G, demo_manifest(), devices=2)


def _sign(election: SyntheticElection, entries: list[Entry], writer: str, entry_type: str,
          payload: bytes) -> Entry:
    """``writer``'s next entry after ``entries`` (sequence numbers continue theirs)."""
    if writer == "official-1":
        key = election.official_key
    elif writer.startswith("trustee-"):
        key = election.script.trustee_keys[int(writer.split("-")[1])]
    else:
        key = election.device_keys[writer]
    sequences = [e.sequence for e in entries if e.writer_id == writer]
    sequence = max(sequences) + 1 if sequences else 0
    return sign_entry(key, str(entry_type), election.election_id, writer, sequence, payload)


def _ward_1_chain(election: SyntheticElection, device: str, count: int, *,
                  challenge_at: int | None = None) -> list[Entry]:
    """``count`` cast ward-1 ballots of ``device`` (one challenged first at ``challenge_at``),
    then the device's close: no ballot holds the ward-2 council contest."""
    context, rng = election.context, random.Random(device)
    previous = chain_seed(context.extended_base_hash, device, "s1")
    entries: list[Entry] = []
    sequence = 1

    def add(entry_type: str, payload: bytes) -> None:
        entries.append(_sign(election, entries, device, entry_type, payload))

    for n in range(count):
        marked = random_choices(context.manifest, "ward-1", rng)
        if n == challenge_at:
            spoiled = encrypt_ballot(context, marked, device_id=device, session="s1",
                                     sequence=sequence, previous_code=previous)
            add(EntryType.CHALLENGE, ChallengedBallot(spoiled.ballot, BallotOpening(
                spoiled.opening().master_nonce, marked), bytes(16)).to_payload())
            previous, sequence = spoiled.ballot.tracking_code, sequence + 1
        pending = encrypt_ballot(context, marked, device_id=device, session="s1",
                                 sequence=sequence, previous_code=previous)
        add(EntryType.BALLOT, CastBallot(pending.ballot).to_payload())
        previous, sequence = pending.ballot.tracking_code, sequence + 1
    add(EntryType.DEVICE_CLOSE, DeviceClose(device, "s1", sequence - 1, previous).to_payload())
    return entries


@pytest.fixture(scope="module")
def voting(election: SyntheticElection) -> list[Entry]:
    """Setup to the close of voting: kiosk-1 casts 4 (one challenged first), kiosk-2 casts 3."""
    opening = election.opening_entries()
    chains = [*_ward_1_chain(election, "kiosk-1", 4, challenge_at=1),
              *_ward_1_chain(election, "kiosk-2", 3)]
    closing = _sign(election, opening, "official-1", EntryType.VOTING_CLOSE,
                    election.closing_entries()[0].payload)
    return [*opening, *chains, closing]


def _verify(entries: list[Entry], *, require_results: bool = True
            ) -> tuple[VerificationReport, RecordVerifier]:
    return verify_election(envelopes_of(entries), allow_test_group=True,
                           require_results=require_results)


def _root(entries: list[Entry]) -> bytes:
    root = StreamingRoot()
    for raw in envelopes_of(entries):
        root.add(leaf_hash_of(raw))
    return root.root()


def _statement(election: SyntheticElection, entries: list[Entry]) -> TallyStatement:
    """The honest tally of ``entries`` (which end with the close of voting)."""
    report, verifier = _verify(entries, require_results=False)
    assert report.ok, _findings(report)
    assert verifier.voting_close_index is not None
    return statement_from_aggregate(election.context, verifier.aggregate,
                                    verifier.voting_close_index,
                                    close_head=(len(entries), _root(entries)))


def _share(election: SyntheticElection, trustee: int, subject: str,
           statement: TallyStatement) -> DecryptionShare:
    context = election.context
    key = KeyShare(trustee, election.script.key_share(trustee), context.extended_base_hash,
                   context.joint_key)
    return compute_share(key, context, subject, statement.totals,
                         DerivedNonces(bytes([trustee]) * 32))


def _decrypted(election: SyntheticElection, entries: list[Entry], statement: TallyStatement,
               trustees: tuple[int, ...] = (1, 3),
               results: Callable[[Results, list[DecryptionShare]], Results] | None = None,
               shares: dict[int, DecryptionShare] | None = None) -> list[Entry]:
    """``entries`` + the tally + the shares of ``trustees`` + the (possibly changed) results."""
    out = [*entries, _sign(election, entries, "official-1", EntryType.TALLY,
                           statement.to_payload())]
    subject = tally_subject(len(entries))
    made = []
    for t in trustees:
        share = (shares or {}).get(t) or _share(election, t, subject, statement)
        made.append(share)
        out.append(_sign(election, out, f"trustee-{t}", EntryType.DECRYPTION_SHARE,
                         share.to_payload()))
    honest = [_share(election, s.trustee, subject, statement) for s in made]
    combined = (combine(election.context, honest, statement.totals,
                        dict(statement.ballots_per_contest))
                if len(made) >= election.context.setup.threshold else [])
    published = Results(len(entries), trustees, tuple(combined))
    if results is not None:
        published = results(published, made)
    out.append(_sign(election, out, "official-1", EntryType.RESULTS, published.to_payload()))
    return out


def _findings(report: VerificationReport) -> list[str]:
    return [str(f) for f in report.findings]


def _ballot(entry: Entry) -> CastBallot:
    return CastBallot.from_payload(entry.payload, G, "payload")


def _with_ballot(statement: TallyStatement, ballot_entry: Entry, sign: int, *,
                 move_counts: bool = False) -> TallyStatement:
    """The statement with one ballot's ciphertexts multiplied in (+1) or divided out (−1);
    its ballot counts moved with it or (default) left alone, so that only the encrypted
    totals can give it away."""
    ballot = (ChallengedBallot.from_payload(ballot_entry.payload, G, "payload").ballot
              if ballot_entry.entry_type == EntryType.CHALLENGE else _ballot(ballot_entry).ballot)
    cipher = {(c.index, j): s.ciphertext for c in ballot.contests
              for j, s in enumerate(c.selections)}
    totals = []
    for c, s, total in statement.totals:
        part = cipher.get((c, s))
        if part is not None:
            total = total * part if sign > 0 else Ciphertext(total.alpha / part.alpha,
                                                             total.beta / part.beta)
        totals.append((c, s, total))
    if not move_counts:
        return dataclasses.replace(statement, totals=tuple(totals))
    held = {c.index for c in ballot.contests}
    per_contest = tuple((c, n + sign if c in held else n)
                        for c, n in statement.ballots_per_contest)
    return dataclasses.replace(statement, ballots=statement.ballots + sign,
                               ballots_per_contest=per_contest, totals=tuple(totals))


def _positions(entries: list[Entry], entry_type: str, writer: str | None = None) -> list[int]:
    return [i for i, e in enumerate(entries)
            if e.entry_type == entry_type and writer in (None, e.writer_id)]


# --- the honest election ----------------------------------------------------------------------


def test_honest_tally_shares_and_results_verify_with_an_empty_contest(election, voting) -> None:
    statement = _statement(election, voting)
    assert statement.ballots == 7
    assert statement.ballots_holding(WARD_2_COUNCIL) == 0
    for c, _, total in statement.totals:
        if c == WARD_2_COUNCIL:  # the empty aggregate: (1, 1), handled, not refused
            assert total.alpha.is_one()
            assert total.beta.is_one()
    report, _ = _verify(_decrypted(election, voting, statement))
    assert report.ok, _findings(report)
    assert report.checks["decryption shares (Chaum–Pedersen proofs)"] == 2
    assert report.checks["results recomputed from shares"] == 1
    results = report.facts["results"]
    assert all(results.count_of(WARD_2_COUNCIL, j) == 0 for j in range(3))
    assert sum(results.count_of(0, j) for j in range(4)) <= 7


def test_any_two_of_three_trustees_give_the_same_counts(election, voting) -> None:
    statement = _statement(election, voting)
    counts = set()
    for pair in ((1, 2), (1, 3), (2, 3)):
        report, _ = _verify(_decrypted(election, voting, statement, pair))
        assert report.ok, _findings(report)
        counts.add(tuple(n for *_, n in report.facts["results"].counts))
    assert len(counts) == 1


# --- the tally covers exactly the valid cast ballots -------------------------------------------


def test_tally_with_a_dropped_ballot_is_refused(election, voting) -> None:
    dropped = voting[_positions(voting, EntryType.BALLOT, "kiosk-2")[1]]
    for move_counts, words in ((False, "not the product of exactly the valid cast ballots"),
                               (True, "the tally counts 6 ballots, the ledger holds 7 valid")):
        statement = _with_ballot(_statement(election, voting), dropped, -1,
                                 move_counts=move_counts)
        report, _ = _verify([*voting, _sign(election, voting, "official-1", EntryType.TALLY,
                                            statement.to_payload())], require_results=False)
        (finding,) = _findings(report)
        assert f"ledger entry {len(voting)} (tally" in finding
        assert words in finding


def test_tally_counting_a_spoiled_ballot_is_refused(election, voting) -> None:
    (challenged,) = _positions(voting, EntryType.CHALLENGE)
    for move_counts, words in ((False, "not the product of exactly the valid cast ballots"),
                               (True, "the tally counts 8 ballots, the ledger holds 7 valid")):
        statement = _with_ballot(_statement(election, voting), voting[challenged], +1,
                                 move_counts=move_counts)
        report, _ = _verify([*voting, _sign(election, voting, "official-1", EntryType.TALLY,
                                            statement.to_payload())], require_results=False)
        (finding,) = _findings(report)
        assert words in finding


def test_ballot_added_after_the_close_is_found_and_never_counted(election, voting) -> None:
    """kiosk-2 writes a 4th ballot, continuing its chain, after the polls closed (and after
    its own close): the verifier names it, and a tally that counts it is refused."""
    context = election.context
    last = _ballot(voting[_positions(voting, EntryType.BALLOT, "kiosk-2")[-1]]).ballot
    late = encrypt_ballot(context, random_choices(context.manifest, "ward-1", random.Random(9)),
                          device_id="kiosk-2", session="s1", sequence=last.sequence + 1,
                          previous_code=last.tracking_code)
    entries = [*voting, _sign(election, voting, "kiosk-2", EntryType.BALLOT,
                              CastBallot(late.ballot).to_payload())]
    honest = _statement(election, voting)
    report, _ = _verify(entries, require_results=False)
    (finding,) = _findings(report)
    assert f"ledger entry {len(voting)} (ballot by kiosk-2)" in finding
    counted = _with_ballot(dataclasses.replace(honest, close_head_size=len(entries)),
                           entries[-1], +1)
    report, _ = _verify([*entries, _sign(election, entries, "official-1", EntryType.TALLY,
                                         counted.to_payload())], require_results=False)
    findings = _findings(report)
    assert len(findings) == 2
    assert "not the product of exactly the valid cast ballots" in findings[1]


def test_device_chain_cut_at_its_tail_is_found(election, voting) -> None:
    last = _positions(voting, EntryType.BALLOT, "kiosk-1")[-1]
    close = last + 1
    assert voting[close].entry_type == EntryType.DEVICE_CLOSE
    # The last ballot cut, the device's close (still saying 5 ballots and the cut ballot's
    # code) re-signed in its place so that no sequence number is missing: the chain says 4.
    resigned = sign_entry(election.device_keys["kiosk-1"], voting[close].entry_type,
                          election.election_id, "kiosk-1", voting[last].sequence,
                          voting[close].payload)
    report, _ = _verify([*voting[:last], resigned, *voting[close + 1:]], require_results=False)
    finding, unclosed = _findings(report)  # 5: the challenged ballot is in the chain too
    assert f"ledger entry {last} (device-close by kiosk-1) device kiosk-1 close" in finding
    assert "device says 5 ballots, its chain holds 4" in finding
    assert "kiosk-1: its chain was never closed" in unclosed
    # The last ballot and the close cut: the chain was never closed.
    report, _ = _verify([*voting[:last], *voting[close + 1:]], require_results=False)
    assert _findings(report) == ["device kiosk-1: its chain was never closed (its tail may be "
                                 "cut)"]
    # Only the last ballot cut: its writer's sequence numbers have a gap, and the close
    # (refused for it) leaves the chain unclosed.
    report, _ = _verify([*voting[:last], *voting[close:]], require_results=False)
    findings = _findings(report)
    assert f"ledger entry {last} (device-close by kiosk-1)" in findings[0]
    assert "out of sequence" in findings[0]
    assert "never closed" in findings[1]


# --- decryption shares and results ------------------------------------------------------------


def test_share_with_a_key_not_derived_from_the_commitments_is_refused(election, voting) -> None:
    """Trustee 3 decrypts with a secret of its own choosing, s' ≠ s_3, and publishes
    K' = g^{s'} with proofs that hold for K': the verifier derives K_3 from the ceremony's
    commitments, refuses the share, and the results that combine it."""
    context = election.context
    statement = _statement(election, voting)
    subject = tally_subject(len(voting))
    secret = election.script.key_share(3) + G.exponent_of(1)
    partials = []
    for c, s, total in statement.totals:
        value, proof = prove_chaum_pedersen(
            secret, total.alpha, share_context(context.extended_base_hash, subject, 3, c, s,
                                               total.beta), DerivedNonces(bytes(32)))
        partials.append(PartialDecryption(c, s, value, proof))
    forged = DecryptionShare(subject, 3, G.g_pow(secret), tuple(partials))
    entries = _decrypted(election, voting, statement, (1, 3), shares={3: forged})
    report, _ = _verify(entries)
    findings = _findings(report)
    share_at = len(voting) + 2
    assert f"ledger entry {share_at} (decryption-share by trustee-3)" in findings[0]
    assert "not the one derived from the ceremony's commitments" in findings[0]
    assert any("not valid on the ledger" in f for f in findings)


def test_results_combined_with_other_lagrange_coefficients_are_refused(election, voting
                                                                       ) -> None:
    """M = ∏ M_ℓ (every coefficient 1, as if read from the record instead of computed)."""
    statement = _statement(election, voting)

    def unweighted(results: Results, shares: list[DecryptionShare]) -> Results:
        counts = []
        for position, (c, s, _, n) in enumerate(results.counts):
            m = shares[0].partials[position].value * shares[1].partials[position].value
            counts.append((c, s, m, n))
        return dataclasses.replace(results, counts=tuple(counts))

    report, _ = _verify(_decrypted(election, voting, statement, results=unweighted))
    findings = _findings(report)
    assert "recomputed with the verifier's Lagrange coefficients" in findings[0]
    assert "results contest 0 selection 0" in findings[0]


def test_results_from_fewer_than_k_shares_are_refused(election, voting) -> None:
    statement = _statement(election, voting)

    def one_trustee(results: Results, shares: list[DecryptionShare]) -> Results:
        return dataclasses.replace(results, trustees=(1,))

    report, _ = _verify(_decrypted(election, voting, statement, results=one_trustee))
    findings = _findings(report)
    assert "1 trustee share(s) given, the threshold is 2" in findings[0]
    # Only one share on the ledger at all: the same.
    report, _ = _verify(_decrypted(election, voting, statement, (1,), results=one_trustee))
    assert "the threshold is 2" in _findings(report)[0]


def test_count_above_its_bound_is_refused(election, voting) -> None:
    statement = _statement(election, voting)
    bound = statement.ballots_holding(0)

    def inflated(results: Results, shares: list[DecryptionShare]) -> Results:
        (c, s, m, _), *rest = results.counts
        return dataclasses.replace(results, counts=((c, s, m, bound + 1), *rest))

    report, _ = _verify(_decrypted(election, voting, statement, results=inflated))
    findings = _findings(report)
    assert f"count {bound + 1} differs from the decrypted count" in findings[0]


def test_results_for_a_tally_whose_total_exceeds_the_bound_are_refused(election, voting
                                                                       ) -> None:
    """The decryption itself is bounded: a total encrypting more than the ballots holding
    the contest has no count (combine refuses), whatever the shares say."""
    statement = _statement(election, voting)
    total = statement.totals[0][2]
    extra = Ciphertext(total.alpha, total.beta * G.g_pow(G.exponent_of(8)))
    targets = [(0, 0, extra)]
    shares = [_share(election, t, "tally@99", dataclasses.replace(statement, totals=tuple(
        targets))) for t in (1, 3)]
    with pytest.raises(Exception, match=r"in 0\.\.7"):
        combine(election.context, shares, targets, {0: 7})


def test_combine_is_remembered_for_the_same_inputs_only_and_never_a_refusal(
        election, voting, monkeypatch) -> None:
    """``combine`` is memoized per process: the same shares, targets and bounds give the
    remembered outcome without recomputing it; another pair of trustees, a changed partial
    value or other bounds are computed anew; a refusal is raised again every time."""
    import tally.decrypt as decrypt

    monkeypatch.setattr(decrypt, "_COMBINED", OrderedDict())  # what earlier tests left
    statement = _statement(election, voting)
    targets, bounds = statement.totals, dict(statement.ballots_per_contest)
    shares = [_share(election, t, "tally@98", statement) for t in (1, 3)]
    first = combine(election.context, shares, targets, bounds)
    logs: list[int] = []
    real = decrypt.discrete_log
    monkeypatch.setattr(decrypt, "discrete_log", lambda e, b: logs.append(b) or real(e, b))

    assert combine(election.context, shares, targets, bounds) == first
    assert logs == []  # remembered: nothing recomputed

    other = combine(election.context, [_share(election, t, "tally@98", statement)
                                       for t in (1, 2)], targets, bounds)
    assert len(logs) == len(targets)  # another pair of trustees: computed anew ...
    assert [n for *_, n in other] == [n for *_, n in first]  # ... to the same counts

    partial = shares[0].partials[0]
    changed = dataclasses.replace(shares[0], partials=(
        dataclasses.replace(partial, value=partial.value * G.generator), *shares[0].partials[1:]))
    with pytest.raises(Exception, match="not g\\^m"):
        combine(election.context, [changed, shares[1]], targets, bounds)

    tight = {contest: 0 for contest in bounds}
    for _ in range(2):
        before = len(logs)
        if any(n for *_, n in first):
            with pytest.raises(Exception, match="not g\\^m"):
                combine(election.context, shares, targets, tight)
        assert len(logs) > before  # the refusal is recomputed each time


def test_missing_results_are_a_finding(election, voting) -> None:
    statement = _statement(election, voting)
    entries = _decrypted(election, voting, statement)[:-1]
    report, _ = _verify(entries)
    assert _findings(report) == ["record: no verified results on the ledger"]
