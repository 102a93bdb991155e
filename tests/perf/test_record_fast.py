"""The verifier's fast pass (chunks, batches, executors, reused verdicts) against its
reference pass (``fast=False``: checked decoding, each proof on its own, α in memory).

Same findings in the same order, same counts, same encrypted totals — on an honest
ledger and on ledgers with a bad proof, an element outside the subgroup, a replayed α,
a broken chain, a bad signature and a wrong device close; inline, through a process
pool with small chunks (so findings of later entries are found while ballots are in
flight), and through a Dask cluster.
"""

from __future__ import annotations

import itertools
import json
import os
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor

import pytest
from gmpy2 import mpz
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import e2e.parallel
import e2e.verify
from e2e.ballot import BallotOpening, chain_seed, encrypt_ballot
from e2e.encoding import canonical_json
from e2e.errors import RecordError, UsageError
from e2e.group import TEST_GROUP
from e2e.ledger.entry import Entry, decode_envelope
from e2e.ledger.types import EntryType
from e2e.manifest import demo_manifest
from e2e.scratch import KeySet
from e2e.verdicts import VerdictCache
from e2e.verify import RecordVerifier
from e2e.voting import CastBallot, ChallengedBallot
from tests.perf.ledgers import (
    SyntheticElection,
    envelopes_of,
    interleave_record,
    random_choices,
    read_envelopes,
    write_envelopes,
)

G = TEST_GROUP


@pytest.fixture(scope="module")
def election() -> SyntheticElection:
    return SyntheticElection.create(G, demo_manifest(), devices=2)


@pytest.fixture(scope="module")
def honest(election: SyntheticElection) -> list[Entry]:
    return [*election.opening_entries(), *election.chain("kiosk-1", 9, challenge_every=4),
            *election.chain("kiosk-2", 8), *election.closing_entries()]


@pytest.fixture(scope="module")
def pool():
    with ProcessPoolExecutor(max_workers=2) as executor:
        yield executor


def _products(totals) -> dict:
    """The products that are not (1, 1) (an empty product, or every ballot taken back)."""
    return {k: (v.alpha.value, v.beta.value) for k, v in totals.items()
            if not (v.alpha.is_one() and v.beta.is_one())}


def _interleaved(*chains: list[Entry]) -> list[Entry]:
    """The devices' entries in turn, each device's own order kept: an election day's ledger."""
    merged, queues = [], [list(chain) for chain in chains]
    while any(queues):
        for queue in queues:
            if queue:
                merged.append(queue.pop(0))
    return merged


def _run(election: SyntheticElection, entries: list[Entry], **options):
    verifier = RecordVerifier(election.election_id, allow_test_group=True, **options)
    report = verifier.run(list(envelopes_of(entries)))
    aggregate = verifier.aggregate
    return {
        "findings": [str(f) for f in report.findings],
        "checks": report.checks,
        "totals": _products(aggregate.totals),
        "device_totals": {device: products for device, totals in aggregate.device_totals.items()
                          if (products := _products(totals))},
        "counts": (aggregate.ballots, {k: v for k, v in aggregate.ballots_per_contest.items()
                                       if v}, aggregate.device_styles),
        "codes": (set(verifier.cast_codes), set(verifier.challenged_codes),
                  set(verifier.spoiled_paper_ids)),
    }


def _all_ways(election: SyntheticElection, entries: list[Entry], pool) -> dict:
    reference = _run(election, entries, fast=False)
    inline = _run(election, entries, executor=None, verdicts=VerdictCache())
    pooled = _run(election, entries, executor=pool, chunk_size=3, in_flight=2,
                  verdicts=VerdictCache())
    cached = _run(election, entries, executor=pool, chunk_size=5)  # the process's verdicts
    # windows of three chunks: each chunk back makes room for one of the next window's
    refilled = _run(election, entries, executor=pool, chunk_size=2, in_flight=6,
                    verdicts=VerdictCache())
    # every device's products wait on disk between loans (e2e.held_products)
    spilled = _run(election, entries, executor=pool, chunk_size=2, in_flight=4,
                   verdicts=VerdictCache(), held_memory=0)
    assert inline == reference
    assert pooled == reference
    assert cached == reference
    assert refilled == reference
    assert spilled == reference
    return reference


def _resign(election: SyntheticElection, entry: Entry, payload: bytes) -> Entry:
    election.sequences[entry.writer_id] = entry.sequence
    return election.sign(entry.writer_id, entry.entry_type, payload)


def _tamper_ballot(election: SyntheticElection, entries: list[Entry], position: int,
                   change) -> list[Entry]:
    ballots = [i for i, e in enumerate(entries) if e.entry_type == EntryType.BALLOT]
    index = ballots[position]
    document = json.loads(entries[index].payload)
    change(document["ballot"])
    changed = list(entries)
    changed[index] = _resign(election, entries[index], canonical_json(document))
    return changed


def test_honest_ledger_gives_the_same_report_every_way(election, honest, pool) -> None:
    report = _all_ways(election, honest, pool)
    assert report["findings"] == []
    assert report["checks"]["cast ballots verified"] == 17
    assert report["checks"]["challenged ballots re-encrypted"] == 2


@pytest.fixture(scope="module")
def interleaved(election: SyntheticElection) -> list[Entry]:
    return [*election.opening_entries(),
            *_interleaved(election.chain("kiosk-1", 9, challenge_every=4, compact=True),
                          election.chain("kiosk-2", 8, compact=True)),
            *election.closing_entries()]


def test_interleaved_devices_give_the_same_totals_per_device_every_way(
        election, interleaved, honest, pool) -> None:
    """Chunks of an interleaved ledger hold ballots of both devices, so each device's
    running product is lent from chunk to chunk (and sometimes held twice while one is on
    loan): every way still gives the reference pass's products per device."""
    writers = [e.writer_id for e in interleaved if e.entry_type == EntryType.BALLOT]
    assert writers[:4] == ["kiosk-1", "kiosk-2", "kiosk-1", "kiosk-2"]
    report = _all_ways(election, interleaved, pool)
    assert report["findings"] == []
    assert set(report["device_totals"]) == {"kiosk-1", "kiosk-2"}
    assert report["counts"][0] == 17
    verdicts = VerdictCache()  # a tally's second pass: ciphertexts alone, in larger chunks
    options = {"executor": pool, "chunk_size": 2, "in_flight": 3, "verdicts": verdicts}
    first = _run(election, interleaved, **options)
    assert _run(election, interleaved, **options) == first == report


def test_devices_products_wait_on_disk_beyond_the_memory_bound(election, interleaved,
                                                               pool) -> None:
    """``held_memory=0``: every device's products wait in the verifier's temporary file
    between loans (``e2e.held_products``), and the pass gives what a pass holding them in
    memory gives."""
    options = {"executor": pool, "chunk_size": 2, "in_flight": 4}
    on_disk = RecordVerifier(election.election_id, allow_test_group=True,
                             verdicts=VerdictCache(), held_memory=0, **options)
    assert on_disk.run(list(envelopes_of(interleaved))).ok
    held = on_disk.aggregate._held
    assert held.in_memory == 0
    assert held.on_disk > 0
    in_memory = RecordVerifier(election.election_id, allow_test_group=True,
                               verdicts=VerdictCache(), **options)
    assert in_memory.run(list(envelopes_of(interleaved))).ok
    assert in_memory.aggregate._held.on_disk == 0
    assert on_disk.aggregate == in_memory.aggregate
    assert on_disk.aggregate.ballots == 17


def test_a_chunk_is_lent_the_products_of_at_most_devices_per_chunk_devices(
        election, interleaved, pool, monkeypatch) -> None:
    """An interleaved ledger's window holds ballots of both devices: with one device per
    chunk, every chunk is lent one device's products (and a window closes at a device a
    chunk), and the pass gives the reference pass's totals and findings."""
    lent: list[int] = []
    lend = e2e.verify.CastAggregate.lend

    def counted(self, devices):
        devices = list(devices)
        lent.append(len(devices))
        return lend(self, devices)

    monkeypatch.setattr(e2e.verify.CastAggregate, "lend", counted)
    options = {"executor": pool, "chunk_size": 8, "in_flight": 4, "verdicts": VerdictCache()}
    report = _run(election, interleaved, devices_per_chunk=1, **options)
    assert lent
    assert max(lent) == 1  # (without the bound: 2, a chunk of 8 ballots holds both devices)
    monkeypatch.setattr(e2e.verify.CastAggregate, "lend", lend)
    assert report == _run(election, interleaved, fast=False)


def test_the_totals_are_not_read_while_products_are_on_loan(election, honest) -> None:
    """A product lent to a chunk in flight is missing from what the aggregate holds: totals
    read then would be wrong, so reading them is refused until the chunk is merged."""
    verifier = RecordVerifier(election.election_id, allow_test_group=True, fast=False)
    assert verifier.run(list(envelopes_of(honest))).ok
    aggregate, group = verifier.aggregate, election.context.group
    before = dict(aggregate.totals)
    loans = aggregate.lend(["kiosk-1", "kiosk-3"])
    assert list(loans) == ["kiosk-1"]
    with pytest.raises(RecordError, match="while chunks still hold"):
        aggregate.total(election.context, 0, 0)
    with pytest.raises(RecordError, match="while chunks still hold"):
        aggregate.device_total(election.context, "kiosk-2", 0, 0)
    width = group.p_bytes
    with pytest.raises(RecordError, match="not lent"):
        aggregate.merge(group, e2e.parallel.PartialAggregate(group.p, width).pack(), returned=2)
    back = e2e.parallel.PartialAggregate.lent(group.p, width, loans).pack()
    aggregate.merge(group, back, returned=1)
    assert aggregate.totals == before


@settings(max_examples=40, deadline=None)
@given(ballots=st.lists(st.tuples(st.sampled_from("abc"),
                                  st.lists(st.integers(1, 1_000), min_size=4, max_size=4)),
                        min_size=1, max_size=12),
       cuts=st.lists(st.integers(0, 12), max_size=4))
def test_lent_products_multiply_like_one_product(ballots, cuts) -> None:
    """Ballots multiplied into partial products in any split, the partials packed and lent
    (several per device, folded) to a last chunk: each device's product is the plain one."""
    p, width = mpz(1_000_003), 3
    rows = [(device, [(0, [(mpz(a), mpz(b)),
                           (mpz(c), mpz(d))])])
            for device, (a, b, c, d) in ballots]
    bounds = sorted({0, len(rows), *(min(c, len(rows)) for c in cuts)})
    loans: dict[str, list] = {}
    for start, end in itertools.pairwise(bounds):
        part = e2e.parallel.PartialAggregate(p, width)
        for device, row in rows[start:end]:
            part.add(device, "s", row)
        for device, products in part.pack().products.items():
            loans.setdefault(device, []).append(products)
    last = e2e.parallel.PartialAggregate.lent(p, width, loans).pack().products
    for device in {d for d, _ in rows}:
        expected = [[1, 1], [1, 1]]
        for other, row in rows:
            if other == device:
                for j, (alpha, beta) in enumerate(row[0][1]):
                    expected[j] = [expected[j][0] * alpha % p, expected[j][1] * beta % p]
        assert last[device] == e2e.parallel.pack_products({0: expected}, width)


class _CountedReads(dict):  # type: ignore[type-arg]
    """A lent product whose contests' reads are counted (shared memory's, in a worker)."""

    reads = 0

    def __getitem__(self, contest: int) -> bytes:
        type(self).reads += 1
        return dict.__getitem__(self, contest)

    def items(self):  # type: ignore[no-untyped-def, override]
        return ((contest, self[contest]) for contest in self)


def test_a_device_lent_to_a_chunk_is_read_when_its_first_ballot_comes() -> None:
    """A chunk's lent products are read (out of shared memory, into numbers) device by
    device, as its ballots come; a device lent and not multiplied (its ballots refused)
    goes back exactly as it came; one lent twice goes back folded into one."""
    p, width = mpz(1_000_003), 3
    packed = e2e.parallel.pack_products
    _CountedReads.reads = 0
    lent = {"a": [_CountedReads(packed({0: [[mpz(2), mpz(3)]]}, width))],
            "b": [_CountedReads(packed({0: [[mpz(5), mpz(7)]], 1: [[mpz(11), mpz(13)]]}, width))],
            "c": [packed({0: [[mpz(17), mpz(19)]]}, width),
                  packed({0: [[mpz(23), mpz(29)]]}, width)]}
    partial = e2e.parallel.PartialAggregate.lent(p, width, lent)
    assert _CountedReads.reads == 0
    partial.add("a", "s", [(0, [(mpz(31), mpz(37))])])
    assert _CountedReads.reads == 1  # device a's one contest, not device b's two
    back = partial.pack()
    assert back.products["a"] == packed({0: [[mpz(62), mpz(111)]]}, width)
    assert back.products["b"] == dict(lent["b"][0])
    assert back.products["c"] == packed({0: [[mpz(17 * 23), mpz(19 * 29)]]}, width)
    assert back.styles == {"a": {"s": 1}}
    assert back.contests == {0: 1}


def test_bad_proof_is_found_in_the_same_words_and_excluded(election, honest, pool) -> None:
    def bump(ballot: dict) -> None:
        branch = ballot["contests"][1]["selections"][2]["proof"][0]
        branch[3] = format((int(branch[3], 16) + 1) % int(G.q), "x").rjust(2 * G.q_bytes, "0")

    report = _all_ways(election, _tamper_ballot(election, honest, 5, bump), pool)
    assert len(report["findings"]) == 1
    assert "contest 1 selection 2: branch 0" in report["findings"][0]
    assert "excluded from the tally" in report["findings"][0]
    assert report["counts"][0] == 16


def test_element_outside_the_subgroup_is_found_in_the_same_words(election, honest, pool) -> None:
    def negate(ballot: dict) -> None:
        selection = ballot["contests"][0]["selections"][1]
        selection["beta"] = format(int(G.p) - int(selection["beta"], 16), "x").rjust(
            2 * G.p_bytes, "0")

    report = _all_ways(election, _tamper_ballot(election, honest, 2, negate), pool)
    # A ballot that does not decode does not move its chain: the next one is out of turn.
    assert len(report["findings"]) == 2
    assert "contests[0].selections[1].beta: not in the order-q subgroup" in report["findings"][0]
    assert "sequence 4, expected 3" in report["findings"][1]


def test_replayed_alpha_is_refused_after_the_first_use(election, honest, pool) -> None:
    """kiosk-2 casts a ballot with the master nonce of a kiosk-1 ballot: valid proofs, the
    same α values — the second use is refused, the first stays counted."""
    context = election.context
    import random
    marked = random_choices(context.manifest, "ward-1", random.Random(7))
    nonce = b"\x07" * 32
    first = encrypt_ballot(context, marked, device_id="kiosk-1", session="s1", sequence=1,
                           previous_code=chain_seed(context.extended_base_hash, "kiosk-1", "s1"),
                           master_nonce=nonce)
    head = election.opening_entries()
    election.sequences["kiosk-1"] = 0
    one = [election.sign("kiosk-1", EntryType.BALLOT, CastBallot(first.ballot).to_payload())]
    second = encrypt_ballot(context, marked, device_id="kiosk-2", session="s1", sequence=1,
                            previous_code=chain_seed(context.extended_base_hash, "kiosk-2", "s1"),
                            master_nonce=nonce)
    election.sequences["kiosk-2"] = 0
    two = [election.sign("kiosk-2", EntryType.BALLOT, CastBallot(second.ballot).to_payload())]
    from e2e.voting import DeviceClose
    closes = [election.sign("kiosk-1", EntryType.DEVICE_CLOSE, DeviceClose(
                  "kiosk-1", "s1", 1, first.ballot.tracking_code).to_payload()),
              election.sign("kiosk-2", EntryType.DEVICE_CLOSE, DeviceClose(
                  "kiosk-2", "s1", 1, second.ballot.tracking_code).to_payload())]
    entries = [*head, *one, *two, *closes, *election.closing_entries()]
    report = _all_ways(election, entries, pool)
    assert len(report["findings"]) == 1
    assert "already used by an earlier ballot" in report["findings"][0]
    assert "kiosk-2" in report["findings"][0]
    assert report["counts"][0] == 1


def test_broken_chain_bad_signature_and_wrong_close_keep_their_order(election, honest,
                                                                     pool) -> None:
    entries = list(honest)
    ballots = [i for i, e in enumerate(entries) if e.entry_type == EntryType.BALLOT]
    # A bad signature on kiosk-2's 3rd ballot (refused by the rules, found here, in order).
    victim = entries[ballots[11]]
    entries[ballots[11]] = Entry(victim.entry_type, victim.election_id, victim.writer_id,
                                 victim.sequence, victim.payload, bytes(64))
    # kiosk-1's 2nd and 3rd ballots swapped: two chain findings.
    entries[ballots[1]], entries[ballots[2]] = entries[ballots[2]], entries[ballots[1]]
    report = _all_ways(election, entries, pool)
    assert len(report["findings"]) >= 4
    positions = [int(f.split("ledger entry ")[1].split(" ")[0]) for f in report["findings"]
                 if f.startswith("ledger entry ")]
    assert positions == sorted(positions)


def test_challenged_ballot_with_a_false_opening_is_found(election, honest, pool) -> None:
    entries = list(honest)
    index = next(i for i, e in enumerate(entries) if e.entry_type == EntryType.CHALLENGE)
    challenged = ChallengedBallot.from_payload(entries[index].payload, G, "payload")
    votes = challenged.opening.marked.votes
    flipped = ((votes[0][0], tuple(1 - v for v in votes[0][1])), *votes[1:])
    marked = type(challenged.opening.marked)(challenged.opening.marked.style_id, flipped)
    payload = ChallengedBallot(challenged.ballot, BallotOpening(
        challenged.opening.master_nonce, marked), challenged.paper_ballot_id).to_payload()
    entries[index] = _resign(election, entries[index], payload)
    report = _all_ways(election, entries, pool)
    assert len(report["findings"]) == 1
    assert "challenge" in report["findings"][0]


def test_a_second_pass_verifies_no_ballot_and_no_signature_again(election, honest,
                                                                 monkeypatch) -> None:
    verdicts = VerdictCache()
    envelopes = list(envelopes_of(honest))
    RecordVerifier(election.election_id, allow_test_group=True, executor=None,
                   verdicts=verdicts).run(envelopes)
    calls = {"ballots": 0, "signatures": 0}
    check = e2e.parallel.check_cast_payloads

    def counting_check(context, payloads):
        calls["ballots"] += len(payloads)
        return check(context, payloads)

    verify_signature = Entry.verify_signature

    def counting_signature(self, key):
        calls["signatures"] += 1
        return verify_signature(self, key)

    monkeypatch.setattr(e2e.parallel, "check_cast_payloads", counting_check)
    monkeypatch.setattr(Entry, "verify_signature", counting_signature)
    report = RecordVerifier(election.election_id, allow_test_group=True, executor=None,
                            verdicts=verdicts).run(envelopes)
    assert report.ok
    assert calls == {"ballots": 0, "signatures": 0}
    assert report.checks["cast ballots verified"] == 17


def test_per_ballot_state_stays_within_its_memory_bound_and_is_reused_from_disk(
        election, honest, pool, monkeypatch) -> None:
    """Verdicts and tracking codes beyond a small bound go to the scratch store, not to
    memory; a second pass still verifies no ballot and no signature again (the verdicts
    come back from disk), and a changed ballot is still verified and refused."""
    bound = 4
    monkeypatch.setattr(e2e.verify, "_CODES_IN_MEMORY", bound)
    verdicts = VerdictCache(memory_limit=bound)
    envelopes = list(envelopes_of(honest))
    options = {"executor": pool, "chunk_size": 3, "in_flight": 2, "verdicts": verdicts}
    first = RecordVerifier(election.election_id, allow_test_group=True, **options)
    assert first.run(envelopes).ok
    assert verdicts.in_memory <= bound
    assert verdicts.on_disk > 30  # 19 ballots' and every entry's signature's verdicts
    # on disk at their entries' ledger indices, so that the next pass reads them in order
    store = verdicts._keys._disk
    assert store is not None
    positions = [p for (p,) in store.db.execute("SELECT p FROM keys")]
    assert positions == sorted(positions)
    assert set(range(25)) <= set(positions)
    assert max(positions) < len(envelopes)
    for codes, held in ((first.cast_codes, 17), (first.challenged_codes, 2)):
        assert codes.in_memory <= bound
        assert len(codes) == held == len(set(codes))
    reference = _run(election, honest, fast=False)
    assert (set(first.cast_codes), set(first.challenged_codes),
            set(first.spoiled_paper_ids)) == reference["codes"]

    calls = {"ballots": 0, "signatures": 0}
    check = e2e.parallel.check_cast_payloads
    verify_signature = Entry.verify_signature

    def counting_check(context, payloads):
        calls["ballots"] += len(payloads)
        return check(context, payloads)

    def counting_signature(self, key):
        calls["signatures"] += 1
        return verify_signature(self, key)

    monkeypatch.setattr(e2e.parallel, "check_cast_payloads", counting_check)
    monkeypatch.setattr(Entry, "verify_signature", counting_signature)
    options["executor"] = None  # in this process, where the counters are
    second = RecordVerifier(election.election_id, allow_test_group=True, **options)
    assert second.run(envelopes).ok
    assert calls == {"ballots": 0, "signatures": 0}
    assert second.aggregate == first.aggregate
    assert verdicts.in_memory <= bound

    def bump(ballot: dict) -> None:
        branch = ballot["contests"][1]["selections"][2]["proof"][0]
        branch[3] = format((int(branch[3], 16) + 1) % int(G.q), "x").rjust(2 * G.q_bytes, "0")

    tampered = _tamper_ballot(election, honest, 5, bump)
    report = RecordVerifier(election.election_id, allow_test_group=True,
                            **options).run(list(envelopes_of(tampered)))
    assert calls["ballots"] >= 1  # the changed bytes have no verdict: verified again
    assert [f.problem for f in report.findings if "excluded from the tally" in f.problem]


def test_a_verdict_row_written_into_the_scratch_file_is_not_a_verdict() -> None:
    verdicts = VerdictCache(memory_limit=1)
    held = [VerdictCache.key(b"test", bytes([n])) for n in range(3)]
    for key in held:
        verdicts.add(key)
    assert verdicts.in_memory == 1
    assert verdicts.on_disk == 2
    assert all(key in verdicts for key in held)
    forged = VerdictCache.key(b"test", b"forged")
    store = verdicts._keys._disk  # the process's scratch database
    assert store is not None
    store.db.execute("INSERT INTO keys VALUES (0, ?)", (forged,))
    store.db.execute("INSERT INTO keys VALUES (7, ?)", (forged,))
    assert forged not in verdicts
    assert not verdicts.has(forged, 7)
    verdicts.clear()
    assert len(verdicts) == 0
    assert held[0] not in verdicts


def test_a_key_is_found_at_the_position_it_was_added_at_only() -> None:
    """In memory and on disk alike; a bad position is refused, not stored."""
    verdicts = VerdictCache(memory_limit=2)
    held = [(VerdictCache.key(b"test", bytes([n])), 10 + n) for n in range(5)]
    for key, position in held:
        verdicts.add(key, position)
    assert verdicts.in_memory == 2
    assert verdicts.on_disk == 3
    for key, position in held:  # the first three from disk, the last two from memory
        assert verdicts.has(key, position)
        assert not verdicts.has(key, position + 1)
        assert key not in verdicts  # (at position 0)
    store = verdicts._keys._disk
    assert store is not None
    assert [p for (p,) in store.db.execute("SELECT p FROM keys")] == [10, 11, 12]
    codes = KeySet(1)
    codes.add(b"code", 3)
    codes.add(b"code", 4)  # the same bytes at another position: another member
    assert len(codes) == 2
    assert codes.has(b"code", 3)
    assert codes.has(b"code", 4)
    assert b"code" not in codes
    for bad in (-1, 1 << 63):
        with pytest.raises(ValueError, match="position"):
            codes.add(b"code", bad)
        with pytest.raises(ValueError, match="position"):
            codes.has(b"code", bad)
    assert len(codes) == 2


def test_a_key_set_counts_distinct_keys_across_memory_and_disk() -> None:
    codes = KeySet(2)
    for n in (1, 2, 3, 4, 1, 2, 5):
        codes.add(bytes([n]))
    assert codes.in_memory == 2
    assert len(codes) == 5
    assert sorted(codes) == [bytes([n]) for n in range(1, 6)]
    assert bytes([3]) in codes
    assert bytes([6]) not in codes
    with pytest.raises(TypeError, match="cannot list"):
        iter(KeySet(2, keyed=True))
    with pytest.raises(ValueError, match="at least 1"):
        KeySet(0)


def test_dask_cluster_gives_the_same_verdict(election, honest) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        dask = _run(election, honest, executor=client.get_executor(), chunk_size=4,
                    verdicts=VerdictCache())
    assert dask == _run(election, honest, fast=False)


def test_compact_payloads_decode_to_the_same_ballots_and_verify_the_same(election, pool
                                                                        ) -> None:
    entries = [*election.opening_entries(), *election.chain("kiosk-1", 6, compact=True),
               *election.chain("kiosk-2", 5, challenge_every=3, compact=True),
               *election.closing_entries()]
    ballots = [e for e in entries if e.entry_type == EntryType.BALLOT]
    assert all(e.payload.startswith(b"PCCB\x02") for e in ballots)
    for entry in ballots:
        ballot = CastBallot.from_payload(entry.payload, G, "payload").ballot
        assert CastBallot(ballot).to_payload(compact=True) == entry.payload
        assert len(entry.payload) < len(CastBallot(ballot).to_payload()) * 0.6
    report = _all_ways(election, entries, pool)
    assert report["findings"] == []
    # One flipped byte in a proof response of the third ballot: both passes, same words.
    index = entries.index(ballots[2])
    payload = bytearray(ballots[2].payload)
    payload[-5] ^= 0x01
    entries[index] = _resign(election, ballots[2], bytes(payload))
    report = _all_ways(election, entries, pool)
    assert len(report["findings"]) >= 1
    assert "excluded from the tally" in report["findings"][0] or "response" in \
        report["findings"][0]


def test_a_second_pass_through_a_pool_sends_ciphertexts_alone_and_counts_the_same(
        election, pool, monkeypatch) -> None:
    entries = [*election.opening_entries(), *election.chain("kiosk-1", 6, compact=True),
               *election.chain("kiosk-2", 5, challenge_every=3, compact=True),
               *election.closing_entries()]
    verdicts = VerdictCache()
    options = {"executor": pool, "chunk_size": 3, "in_flight": 2, "verdicts": verdicts}
    first = RecordVerifier(election.election_id, allow_test_group=True, **options)
    assert first.run(list(envelopes_of(entries))).ok
    stripped = []
    strip = e2e.verify.strip_proofs

    def counting_strip(context, payload):
        stripped.append(payload)
        return strip(context, payload)

    monkeypatch.setattr(e2e.verify, "strip_proofs", counting_strip)
    second = RecordVerifier(election.election_id, allow_test_group=True, **options)
    assert second.run(list(envelopes_of(entries))).ok
    assert len(stripped) == first.aggregate.ballots == 11  # every cast ballot, once
    assert second.aggregate == first.aggregate  # totals, per device too, and every count
    assert set(second.cast_codes) == set(first.cast_codes)


class _Counting(Executor):
    """Counts the chunks submitted to the executor it wraps."""

    def __init__(self, inner: Executor) -> None:
        self.inner = inner
        self.submitted = 0

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.submitted += 1
        return self.inner.submit(fn, *args, **kwargs)


def test_use_scheduler_moves_the_default_executor_to_dask(election, honest,
                                                          monkeypatch) -> None:
    distributed = pytest.importorskip("distributed")
    monkeypatch.setattr(e2e.parallel, "_shared", None)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:  # in-process
        e2e.parallel.use_scheduler(cluster.scheduler_address)
        dask = e2e.parallel.shared_executor()
        assert type(dask).__module__.startswith("distributed")
        counting = _Counting(dask)
        e2e.parallel._shared = counting
        try:  # "auto" moves to the shared executor after four chunks
            report = _run(election, honest, chunk_size=2, verdicts=VerdictCache())
        finally:
            dask.shutdown()
            dask._client.close()  # type: ignore[attr-defined]  # before its cluster
            e2e.parallel._shared = None
    assert counting.submitted > 0
    assert report == _run(election, honest, fast=False)


def test_the_scheduler_option_reaches_the_shared_executor(monkeypatch) -> None:
    from paperchain.cli import main
    addresses = []
    monkeypatch.setattr(e2e.parallel, "use_scheduler", addresses.append)
    with pytest.raises(SystemExit) as exited:
        main(["--scheduler", "tcp://127.0.0.1:8786", "bench", "--help"])
    assert exited.value.code == 0
    assert addresses == ["tcp://127.0.0.1:8786"]


def test_an_unreachable_scheduler_is_a_clear_error() -> None:
    pytest.importorskip("distributed")
    with pytest.raises(UsageError, match="cannot use the Dask scheduler"):
        e2e.parallel.make_executor(scheduler="not-a-scheduler-address::")


def _plain_read(path) -> list[bytes]:
    with path.open("rb") as source:
        envelopes = []
        while head := source.read(4):
            envelopes.append(source.read(int.from_bytes(head, "big")))
        return envelopes


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(0, 9_000), max_size=30),
       block=st.sampled_from([1, 3, 4, 5, 4096, 8192]), direct=st.booleans(),
       cut=st.none() | st.integers(0, 300_000))
def test_the_record_reader_gives_exactly_the_written_envelopes(
        tmp_path, monkeypatch, sizes: list[int], block: int, direct: bool,
        cut: int | None) -> None:
    """Blocks of any size (an envelope or its length split across blocks), direct reads
    or not, and a truncated file: the same bytes as a plain read, the short tail too."""
    import tests.perf.ledgers as ledgers
    monkeypatch.setattr(ledgers, "_BLOCK", max(block, 4096) if direct else block)
    path = tmp_path / "record.bin"
    ledgers.write_envelopes(path, [bytes([n % 251]) * n for n in sizes])
    if cut is not None:
        path.write_bytes(path.read_bytes()[:cut])
    expected = _plain_read(path)
    got = list(ledgers.read_envelopes(path, direct=direct))
    assert len(got) == len(expected)
    assert got[:-1] == expected[:-1]
    if got and got[-1] != expected[-1]:
        # a length cut inside its 4 bytes: a plain read gives b"" (a read of the short
        # length's value at the end of the file), ours those bytes: both are refused
        assert expected[-1] == b""
        assert 0 < len(got[-1]) < 4


def test_a_source_that_fails_midway_has_every_entry_before_it_checked(election, honest
                                                                       ) -> None:
    """A record that cannot be read past some entry (a store's error): every entry before
    it is checked as in a record that ends there, and the error is a finding."""
    envelopes = list(envelopes_of(honest))
    stop = len(envelopes) - 3

    def source():
        yield from envelopes[:stop]
        raise RecordError("the store is unreadable here", "ledger store")

    verifier = RecordVerifier(election.election_id, allow_test_group=True, executor=None,
                              verdicts=VerdictCache())
    report = verifier.run(source())
    whole = RecordVerifier(election.election_id, allow_test_group=True, executor=None,
                           verdicts=VerdictCache())
    whole.run(envelopes[:stop])
    assert report.checks == whole.report.checks
    assert report.checks["envelopes chained"] == stop
    assert str(report.findings[0]) == "ledger store: the store is unreadable here"


def test_an_interleaved_record_is_the_same_election_with_its_devices_in_turn(
        election, honest, tmp_path) -> None:
    """The benchmark's election-day layout: every entry kept byte for byte (signatures
    verify), the devices' ballots in turn, the chain rebuilt — and the same tally."""
    sequential, interleaved = tmp_path / "sequential.bin", tmp_path / "interleaved.bin"
    write_envelopes(sequential, envelopes_of(honest))
    assert interleave_record(sequential, interleaved) == len(honest)
    envelopes = list(read_envelopes(interleaved))
    entries = [decode_envelope(raw).entry() for raw in envelopes]
    assert sorted(e.encode() for e in entries) == sorted(e.encode() for e in honest)
    writers = [e.writer_id for e in entries if e.entry_type == EntryType.BALLOT]
    assert writers[:6] == ["kiosk-1", "kiosk-2"] * 3
    first = RecordVerifier(election.election_id, allow_test_group=True, executor=None)
    again = RecordVerifier(election.election_id, allow_test_group=True, executor=None)
    assert first.run(read_envelopes(sequential)).ok
    report = again.run(envelopes)
    assert report.ok, report.findings
    assert again.aggregate == first.aggregate


def test_a_chunk_that_fails_is_a_finding_not_a_crash(election, honest, monkeypatch) -> None:
    """A chunk whose work raises (here: made to) gives a finding and the pass its report,
    not a traceback: the failed window is not waited for again when the pass drains."""
    calls = []
    real = e2e.verify.verify_chunk

    def failing_second(context, tasks, loans=None):
        calls.append(len(tasks))
        if len(calls) == 2:
            raise RecordError("a worker's chunk failed", "chunk 2")
        return real(context, tasks, loans)

    monkeypatch.setattr(e2e.verify, "verify_chunk", failing_second)
    with ThreadPoolExecutor(max_workers=1) as threads:  # futures: the error comes back late
        verifier = RecordVerifier(election.election_id, allow_test_group=True,
                                  executor=threads, chunk_size=3, in_flight=2,
                                  verdicts=VerdictCache())
        report = verifier.run(list(envelopes_of(honest)))
    assert not report.ok
    assert any("chunk 2: a worker's chunk failed" in str(f) for f in report.findings)
    assert report.facts["ledger_entries"] > 0  # the pass ended with its report


class _Recording(ProcessPoolExecutor):
    """A local process pool that notes which function each chunk was sent to."""

    def __init__(self) -> None:
        super().__init__(max_workers=2)
        self.functions: list[str] = []

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.functions.append(fn.__name__)
        return super().submit(fn, *args, **kwargs)


def test_a_local_pool_reads_payloads_from_shared_memory_or_the_pipe_when_there_is_none(
        election, honest, monkeypatch, tmp_path) -> None:
    """Chunks for a local process pool go through shared memory (``e2e.arena``); when its
    space cannot be had, through the pipe: the same report and totals either way, and no
    file left behind."""
    import e2e.arena

    monkeypatch.setattr(e2e.arena, "_SHARED_MEMORY", str(tmp_path))
    reference = _run(election, honest, fast=False)
    with _Recording() as local:
        through_memory = _run(election, honest, executor=local, chunk_size=3, in_flight=4,
                              verdicts=VerdictCache())
        assert set(local.functions) == {"verify_chunk_in_arena"}
        assert list(tmp_path.iterdir()) == []

        def no_space(*_: object) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "posix_fallocate", no_space)
        local.functions.clear()
        through_pipe = _run(election, honest, executor=local, chunk_size=3, in_flight=4,
                            verdicts=VerdictCache())
        assert set(local.functions) == {"verify_chunk"}
        assert list(tmp_path.iterdir()) == []
    assert through_memory == reference
    assert through_pipe == reference


def test_packed_products_of_the_wrong_length_are_refused() -> None:
    """Products come back from the verifier's own workers; bytes that are not whole
    (α, β) pairs are an error naming the contest, never numbers read across a boundary."""
    products = {3: [[mpz(5), mpz(7)], [mpz(11), mpz(13)]]}
    packed = e2e.parallel.pack_products(products, 2)
    assert e2e.parallel.unpack_products(packed, 2) == products
    with pytest.raises(RecordError, match="contest 3's products are 7 bytes"):
        e2e.parallel.unpack_products({3: packed[3][:7]}, 2)


def test_freed_memory_is_returned_after_each_pass_and_at_a_chunk_of_the_other_kind(
        election, honest, monkeypatch) -> None:
    """``e2e.memory``: once at the end of every pass, and once in a chunk's process where its
    chunks change kind (proofs to check → ciphertexts to multiply): never per chunk."""
    calls: list[str] = []
    monkeypatch.setattr(e2e.parallel, "return_freed_memory", lambda: calls.append("chunk"))
    monkeypatch.setattr(e2e.verify, "return_freed_memory", lambda: calls.append("pass"))
    monkeypatch.setattr(e2e.parallel, "_last_phase", None)
    verdicts = VerdictCache()
    envelopes = list(envelopes_of(honest))

    def one_pass() -> None:
        assert RecordVerifier(election.election_id, allow_test_group=True, executor=None,
                              chunk_size=2, verdicts=verdicts).run(envelopes).ok

    one_pass()  # a verification: many chunks, every one with proofs
    assert calls == ["pass"]
    one_pass()  # the tally's pass: its first chunk of ciphertexts alone changes the phase
    assert calls == ["pass", "chunk", "pass"]
    one_pass()
    assert calls == ["pass", "chunk", "pass", "pass"]


def test_a_pass_lets_the_page_caches_of_its_registry_and_codes_go(election, honest,
                                                                  monkeypatch) -> None:
    """At the end of a pass, once: the SQLite page caches of the α registry and of the
    pass's sets of codes (cast, challenged, spoiled paper IDs) — not the verdicts', which
    the next pass reads at random — and the next pass still verifies nothing again and
    counts the same."""
    import e2e.alphas
    import e2e.scratch
    monkeypatch.setattr(e2e.verify, "_CODES_IN_MEMORY", 1)  # every set overflows to disk
    released: list[str] = []
    registry_release = e2e.alphas.AlphaRegistry.release_memory
    store_release = e2e.scratch._DiskStore.release_memory

    def registry_released(self) -> None:
        released.append("registry")
        registry_release(self)

    def store_released(self) -> None:
        released.append(self.path)
        store_release(self)

    monkeypatch.setattr(e2e.alphas.AlphaRegistry, "release_memory", registry_released)
    monkeypatch.setattr(e2e.scratch._DiskStore, "release_memory", store_released)
    verdicts = VerdictCache(memory_limit=1)
    envelopes = list(envelopes_of(honest))
    first = RecordVerifier(election.election_id, allow_test_group=True, executor=None,
                           chunk_size=2, verdicts=verdicts)
    assert first.run(envelopes).ok
    stores = {keys._disk.path for keys in (first.cast_codes, first.challenged_codes,
                                           first.spoiled_paper_ids) if keys._disk is not None}
    assert len(stores) == 3
    assert verdicts._keys._disk is not None  # on disk too, and its cache kept
    assert released.count("registry") == 1
    assert sorted(r for r in released if r != "registry") == sorted(stores)
    second = RecordVerifier(election.election_id, allow_test_group=True, executor=None,
                            chunk_size=2, verdicts=verdicts)
    misses = verdicts.misses
    assert second.run(envelopes).ok
    assert verdicts.misses == misses  # every verdict found again, read back from disk
    assert second.aggregate == first.aggregate
    assert set(second.cast_codes) == set(first.cast_codes)


def test_a_local_pool_s_payloads_are_written_once_into_shared_memory_and_slots_reused(
        election, honest, pool, monkeypatch) -> None:
    """Through a local process pool, each ballot's payload goes into its window's slot of
    shared memory as it is queued, and the verifier keeps no copy of its own; a window's
    slot is given back once its outcomes are applied, so a pass of many windows uses a
    few slots. The report is the reference pass's."""
    import e2e.arena

    kept_here: list[int] = []
    in_arena: list[bool] = []
    add = e2e.verify._WindowPayloads.add

    def watched_add(self, payload):  # type: ignore[no-untyped-def]
        at = add(self, payload)
        in_arena.append(self.in_arena)
        kept_here.append(len(self._held))
        return at

    made: list[str] = []
    new_slot = e2e.arena.PayloadArena._new_slot

    def counted_new_slot(self):  # type: ignore[no-untyped-def]
        slot = new_slot(self)
        made.append(slot.path)
        return slot

    monkeypatch.setattr(e2e.verify._WindowPayloads, "add", watched_add)
    monkeypatch.setattr(e2e.arena.PayloadArena, "_new_slot", counted_new_slot)
    reference = _run(election, honest, fast=False)
    windows = []
    cut = RecordVerifier._cut

    def counted_cut(self, window):  # type: ignore[no-untyped-def]
        windows.append(len(window))
        return cut(self, window)

    monkeypatch.setattr(RecordVerifier, "_cut", counted_cut)
    through_pool = _run(election, honest, executor=pool, chunk_size=2, in_flight=2,
                        verdicts=VerdictCache())
    assert through_pool == reference
    assert len(in_arena) == sum(windows) == 19  # every ballot, challenged ones too
    assert all(in_arena)
    assert not any(kept_here)
    assert len(windows) >= 9
    assert len(made) <= 4  # three windows at once (filling, ready, in flight), reused


def test_payloads_read_back_out_of_shared_memory_on_the_rare_paths_are_the_ones_queued(
        election, honest, pool, monkeypatch) -> None:
    """A second pass, through a local pool, over a ledger that differs from the first's at
    one early ballot: the α registry forgets the first ledger's later rows there, so the
    ballots queued before it did have their α digests computed here from their payloads,
    read back out of their window's shared memory. Each must be its entry's payload (its
    ciphertexts alone, when verified), and the report the reference pass's."""
    ballots = [i for i, e in enumerate(honest) if e.entry_type == EntryType.BALLOT]
    changed = _tamper_ballot(election, honest, 1,
                             lambda ballot: ballot["contests"][0].update(extra="x"))
    assert changed[ballots[1]].payload != honest[ballots[1]].payload
    verdicts = VerdictCache()
    options = {"executor": pool, "chunk_size": 8, "in_flight": 2, "verdicts": verdicts}
    assert RecordVerifier(election.election_id, allow_test_group=True, **options).run(
        list(envelopes_of(honest))).ok
    current: list[int] = []
    apply = RecordVerifier._apply

    def noted_apply(self, result, item):  # type: ignore[no-untyped-def]
        current.append(item.index)
        return apply(self, result, item)

    read_back: list[tuple[int, bytes]] = []
    rows_of = e2e.verify.verified_rows

    def noted_rows(context, payload):  # type: ignore[no-untyped-def]
        read_back.append((current[-1], payload))
        return rows_of(context, payload)

    monkeypatch.setattr(RecordVerifier, "_apply", noted_apply)
    monkeypatch.setattr(e2e.verify, "verified_rows", noted_rows)
    second = _run(election, changed, **options)
    monkeypatch.undo()
    assert read_back  # the rare path was taken
    context = election.context
    for index, payload in read_back:
        queued = changed[index].payload
        assert payload in (queued, e2e.verify.strip_proofs(context, queued)), index
    assert second == _run(election, changed, fast=False)


@pytest.mark.parametrize("room_for", [1, 3, 7])
def test_shared_memory_that_runs_out_in_the_middle_of_a_window_loses_no_ballot(
        election, honest, pool, monkeypatch, room_for) -> None:
    """Slots grow a page at a time here, and only ``room_for`` of the growths succeed: the
    window whose slot cannot grow keeps its payloads as bytes from then on (those already
    written read back), chunks without room go through the pipe, and the report is still
    the reference pass's."""
    import e2e.arena

    reference = _run(election, honest, fast=False)
    monkeypatch.setattr(e2e.arena, "_GRAIN", 4096)
    allocate = os.posix_fallocate
    growths: list[int] = []

    def limited(descriptor: int, offset: int, length: int) -> None:
        growths.append(length)
        if len(growths) > room_for:
            raise OSError(28, "No space left on device")
        allocate(descriptor, offset, length)

    monkeypatch.setattr(os, "posix_fallocate", limited)
    fell_back: list[int] = []
    add = e2e.verify._WindowPayloads.add

    def watched_add(self, payload):  # type: ignore[no-untyped-def]
        before = self.in_arena
        at = add(self, payload)
        if before and not self.in_arena:
            fell_back.append(at)
        return at

    monkeypatch.setattr(e2e.verify._WindowPayloads, "add", watched_add)
    short = _run(election, honest, executor=pool, chunk_size=4, in_flight=2,
                 verdicts=VerdictCache())
    assert short == reference
    assert any(at > 0 for at in fell_back)  # a window had payloads in its slot already
