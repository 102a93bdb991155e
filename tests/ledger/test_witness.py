"""Witnesses, `ledger check` and receipt checks through real HTTP on 127.0.0.1.

A dishonest operator rewrites its history (``rewrite_history``: a second operator with
the same key on a doctored copy of the store) after two witnesses cosigned the honest
one; comparing the operator with the witnesses must yield a proof anyone can check
offline, and a voter holding a signed inclusion promise must be able to prove that
their ballot vanished.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from e2e.encoding import canonical_json
from e2e.errors import LedgerError, StateError
from e2e.keystore import atomic_write
from e2e.ledger.entry import decode_entry
from e2e.ledger.equivocation import EquivocationKind, verify_equivocation_proof
from e2e.ledger.heads import HeadPolicy, verify_cosigned_head
from e2e.ledger.http_client import HttpLedger
from e2e.ledger.monitor import Party, check_logs
from e2e.ledger.receipts import check_receipt
from e2e.ledger.witness import EquivocationDetected
from e2e.official import close_voting
from paperchain.cli import main
from tally.workflow import publish_tally
from tests.ledger.service_helpers import Election, Network, make_election, rewrite_history, running


@pytest.fixture
def election(tmp_path: Path) -> Election:
    return make_election(tmp_path)


@pytest.fixture
def network(election: Election) -> Iterator[Network]:
    """Setup, ceremony and six registrations (17 entries), cosigned by w1 and w2."""
    with running(election) as net:
        net.write_setup_and_ceremony()
        net.register_devices([f"annex-{i}" for i in range(6)])
        net.sync()
        net.sync()
        yield net


def parties(network: Network) -> list[Party]:
    urls = [network.url, network.witness_url("w1"), network.witness_url("w2")]
    return [Party(url, HttpLedger(url)) for url in urls]


def test_witness_copies_only_new_entries_and_cosigns(network: Network) -> None:
    w1 = network.witnesses["w1"]
    assert w1.store.size() == 17
    network.register_devices(["late-1", "late-2"])
    result = w1.sync(network.client)
    assert (result.new_entries, result.cosigned) == (2, True)
    assert w1.sync(network.client).cosigned is False  # nothing new
    network.sync("w2")
    head = network.client.head_at(19)
    assert head is not None
    verify_cosigned_head(HeadPolicy.from_setup(network.election.setup), head)
    assert network.client.cosigned_head() == head


def test_honest_ledger_checks_consistent(network: Network) -> None:
    network.register_devices(["late-1"])
    network.sync("w1")  # w1 is ahead of w2: different sizes, still consistent
    report = check_logs(parties(network))
    assert report.ok, (report.findings, report.proofs)
    assert report.pairs_consistent >= 1


def _flip_signature(raw: bytes) -> bytes:
    return raw[:-1] + bytes([raw[-1] ^ 1])


def _modify(election: Election) -> Callable[[list[bytes]], list[bytes]]:
    return lambda entries: [*entries[:13], _flip_signature(entries[13]), *entries[14:]]


def _drop(election: Election) -> Callable[[list[bytes]], list[bytes]]:
    return lambda entries: entries[:13] + entries[14:]


def _reorder(election: Election) -> Callable[[list[bytes]], list[bytes]]:
    return lambda entries: [*entries[:13], entries[14], entries[13], *entries[15:]]


def _truncate(election: Election) -> Callable[[list[bytes]], list[bytes]]:
    return lambda entries: entries[:12]


def _fork(election: Election) -> Callable[[list[bytes]], list[bytes]]:
    def fork(entries: list[bytes]) -> list[bytes]:
        sequence = decode_entry(entries[11]).sequence + 1
        return entries[:12] + [election.register_device(f"fork-{i}", sequence + i)
                               for i in range(9)]
    return fork


@pytest.mark.parametrize(("rewrite", "kind"), [
    (_modify, EquivocationKind.SAME_SIZE),
    (_reorder, EquivocationKind.SAME_SIZE),
    (_drop, EquivocationKind.TIME_ORDER),
    (_truncate, EquivocationKind.TIME_ORDER),
    (_fork, EquivocationKind.INCONSISTENT),
])
def test_rewritten_history_yields_an_offline_proof(
        network: Network, tmp_path: Path,
        rewrite: Callable[[Election], Callable[[list[bytes]], list[bytes]]],
        kind: EquivocationKind) -> None:
    election = network.election
    network.replace_operator(rewrite_history(election.ledger_dir, tmp_path / "rewritten",
                                             rewrite(election)))
    report = check_logs(parties(network))
    assert report.proofs, report.findings
    proof = report.proofs[0]
    assert proof.kind == kind
    checked = verify_equivocation_proof(proof.to_bytes(),
                                        operator_key=election.setup.operator_key)
    assert checked.kind == kind
    with pytest.raises(EquivocationDetected) as caught:
        network.witnesses["w1"].sync(network.client)
    assert caught.value.proof is not None
    verify_equivocation_proof(caught.value.proof.to_bytes())


def test_witness_refuses_to_copy_a_forged_entry(election: Election, tmp_path: Path) -> None:
    with running(election) as network:
        network.write_setup_and_ceremony()
        network.sync()
        network.register_devices(["annex-1", "annex-2"])
        forged = rewrite_history(election.ledger_dir, tmp_path / "forged",
                                 lambda e: [*e[:11], _flip_signature(e[11]), *e[12:]])
        network.replace_operator(forged)
        with pytest.raises(LedgerError, match=r"entry 11.*signature does not verify"):
            network.witnesses["w1"].sync(network.client)
        head = network.witnesses["w1"].heads.latest()
        assert head is not None
        assert head.size == 11  # nothing cosigned past the forgery


def test_receipt_check_finds_cast_and_challenged_ballots(election: Election) -> None:
    with running(election) as network:
        network.write_setup_and_ceremony()
        network.open_voting()
        recorded = network.cast(["cast", "challenged", "cast"])
        network.sync()
        network.sync()
        witnesses = [Party(network.witness_url(w), HttpLedger(network.witness_url(w)))
                     for w in ("w1", "w2")]
        for (code, appended), status in zip(recorded, ["cast", "challenged", "cast"],
                                            strict=True):
            result = check_receipt(code, operator=network.client, witnesses=witnesses,
                                   promise=appended.promise, allow_test_group=True)
            assert result.status == status, result.notes
            assert result.index == appended.index
            assert set(result.cosigners) == {"w1", "w2"}
        unknown = check_receipt(b"\x07" * 32, operator=network.client, witnesses=witnesses,
                                allow_test_group=True)
        assert unknown.status == "missing"
        network.cast(["cast"])  # not cosigned yet
        code, appended = network.cast(["cast"])[0]
        pending = check_receipt(code, operator=network.client, witnesses=witnesses,
                                allow_test_group=True)
        assert pending.status == "pending"


def test_vanished_ballot_is_provable_from_its_promise(election: Election,
                                                      tmp_path: Path) -> None:
    with running(election) as network:
        network.write_setup_and_ceremony()
        network.open_voting()
        network.sync()  # the witnesses have cosigned up to the open of the polls
        (code, appended), = network.cast(["cast"])
        dropped = rewrite_history(election.ledger_dir, tmp_path / "dropped",
                                  lambda entries: entries[: appended.index])
        network.replace_operator(dropped)
        network.register_devices(["annex-1", "annex-2"])  # the log moves on past the index
        network.sync()
        network.sync()
        witnesses = [Party(network.witness_url(w), HttpLedger(network.witness_url(w)))
                     for w in ("w1", "w2")]
        without_promise = check_receipt(code, operator=network.client, witnesses=witnesses,
                                        allow_test_group=True)
        assert without_promise.status == "missing"
        result = check_receipt(code, operator=network.client, witnesses=witnesses,
                               promise=appended.promise, allow_test_group=True)
        assert result.status == "broken-promise"
        assert result.proof is not None
        proof = verify_equivocation_proof(result.proof.to_bytes(),
                                          operator_key=election.setup.operator_key)
        assert proof.kind == EquivocationKind.BROKEN_PROMISE
        assert proof.promise == appended.promise


def test_running_witness_stops_with_a_proof_when_the_operator_forks(network: Network) -> None:
    election = network.election
    network.replace_operator(rewrite_history(election.ledger_dir, election.directory / "fork",
                                             _fork(election)))
    reports: list[str] = []
    stop = threading.Event()

    def report(message: str) -> None:  # a refusal would be reported and retried: stop then
        reports.append(message)
        stop.set()

    with pytest.raises(EquivocationDetected) as caught:
        network.witnesses["w1"].run(network.client, interval=0.01, stop=stop, report=report)
    assert caught.value.proof is not None
    verify_equivocation_proof(caught.value.proof.to_bytes(),
                              operator_key=election.setup.operator_key)
    assert reports == []  # not reported as a refusal and retried


def test_witness_command_writes_the_proof_and_exits_2(network: Network, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    election = network.election
    directory = election.directory / "witnesses" / "w1"  # w1's store: it cosigned 17 entries
    key = election.witness_keys["w1"]
    atomic_write(directory / "witness.key", key.seed.hex().encode(), mode=0o600)
    atomic_write(directory / "witness.json", canonical_json({
        "version": 1, "witness_id": "w1", "election_id": election.election_id,
        "test_group": True, "key": key.verify_key.to_hex(), "store": "sqlite:witness.sqlite"}))
    network.replace_operator(rewrite_history(election.ledger_dir, tmp_path / "forked",
                                             _fork(election)))
    proof = tmp_path / "proof.json"
    with pytest.raises(SystemExit) as exited:
        main(["ledger", "witness", "--url", network.url, "--dir", str(directory),
              "--interval", "0.05", "--proof-out", str(proof)])
    err = capsys.readouterr().err
    assert exited.value.code == 2, err
    assert "EQUIVOCATION" in err
    assert "Traceback" not in err
    checked = verify_equivocation_proof(proof.read_bytes(),
                                        operator_key=election.setup.operator_key)
    assert checked.election_id == election.election_id


def test_tally_waits_for_k_witness_cosignatures_on_the_close_of_voting(
        network: Network) -> None:
    network.open_voting()
    close_voting(network.official())
    official = network.official()
    with pytest.raises(StateError, match="does not cover the close of voting"):
        publish_tally(network.client, official, allow_test_group=True)
    network.sync("w1")  # 1 of the 2 the setup requires
    with pytest.raises(StateError, match="does not cover the close of voting"):
        publish_tally(network.client, official, allow_test_group=True)
    network.sync("w2")
    result = publish_tally(network.client, official, allow_test_group=True)
    head = network.client.cosigned_head()  # the close-of-voting head, cosigned by both
    assert head is not None
    assert head.size == result.index
