"""Ballots on their own: marking, proofs bound to their place, the Benaloh opening.

docs/spec.md §11. A selection's 0/1 proof is bound to (H_E, device ID, sequence, contest,
selection) and a contest's range proof to (H_E, device ID, sequence, contest): a
ciphertext with its valid proof, moved to another ballot, contest or selection, must be
refused by both verification paths (the batch and the reference one), even when the
mover recomputes the tracking code. A challenged ballot is re-encrypted from its
published master nonce; a fresh marking after it uses fresh nonces.
"""

from __future__ import annotations

import dataclasses

import pytest

from e2e.ballot import (
    BallotOpening,
    EncryptedBallot,
    EncryptedContest,
    chain_seed,
    encrypt_ballot,
    mark_ballot,
    tracking_code,
    verify_ballot,
    verify_opening,
)
from e2e.context import ElectionContext
from e2e.errors import InvalidBallot, InvalidProof, ManifestError, PaperchainError

MAYOR, MEASURE_A, MEASURE_B = 0, 5, 6  # contest indices in the demo manifest


def _ballot(context: ElectionContext, *, device: str = "kiosk-1", sequence: int = 1,
            mayor: str = "alice-adams", nonce: bytes | None = None) -> EncryptedBallot:
    marked = mark_ballot(context.manifest, "ward-1", {"mayor": [mayor],
                                                      "parks-commission": ["pablo-diaz"]})
    return encrypt_ballot(context, marked, device_id=device, session="s1", sequence=sequence,
                          previous_code=chain_seed(context.extended_base_hash, device, "s1"),
                          master_nonce=nonce).ballot


def _recoded(context: ElectionContext, ballot: EncryptedBallot,
             contests: tuple[EncryptedContest, ...]) -> EncryptedBallot:
    """``ballot`` with ``contests``, its tracking code recomputed (as a forger would)."""
    changed = dataclasses.replace(ballot, contests=contests)
    code = tracking_code(context.extended_base_hash, ballot.previous_code, ballot.device_id,
                         ballot.style_id, changed.ciphertexts())
    return dataclasses.replace(changed, tracking_code=code)


def _position(ballot: EncryptedBallot, contest: int) -> int:
    return [c.index for c in ballot.contests].index(contest)


@pytest.mark.parametrize("fast", [True, False])
def test_honest_ballot_verifies(context, fast: bool) -> None:  # type: ignore[no-untyped-def]
    verify_ballot(context, _ballot(context), fast=fast)


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("other", [{"device": "kiosk-2"}, {"sequence": 2}])
def test_rejects_selection_moved_from_another_ballot(context, fast: bool, other: dict
                                                     ) -> None:  # type: ignore[no-untyped-def]
    """The same vote, encrypted for another device or sequence number (so the contest's
    product and range proof would match too): the moved selection's proof is refused."""
    target = _ballot(context)
    source = _ballot(context, **{"device": "kiosk-1", "sequence": 1, **other})
    m = _position(target, MAYOR)
    moved = dataclasses.replace(target.contests[m], selections=(
        source.contests[m].selections[0], *target.contests[m].selections[1:]))
    contests = (*target.contests[:m], moved, *target.contests[m + 1:])
    with pytest.raises(InvalidProof) as raised:
        verify_ballot(context, _recoded(context, target, contests), fast=fast)
    assert "contest 0 selection 0" in str(raised.value)


@pytest.mark.parametrize("fast", [True, False])
def test_rejects_whole_contest_moved_from_another_ballot(context, fast: bool
                                                         ) -> None:  # type: ignore[no-untyped-def]
    target, source = _ballot(context), _ballot(context, device="kiosk-2")
    m = _position(target, MAYOR)
    contests = (*target.contests[:m], source.contests[m], *target.contests[m + 1:])
    with pytest.raises(InvalidProof):
        verify_ballot(context, _recoded(context, target, contests), fast=fast)


@pytest.mark.parametrize("fast", [True, False])
def test_rejects_selections_swapped_within_a_contest(context, fast: bool
                                                     ) -> None:  # type: ignore[no-untyped-def]
    """Swapping two selections keeps the contest's product (its range proof still holds):
    only the selection index in each proof's context can refuse it."""
    target = _ballot(context)
    m = _position(target, MAYOR)
    first, second, *rest = target.contests[m].selections
    swapped = dataclasses.replace(target.contests[m], selections=(second, first, *rest))
    contests = (*target.contests[:m], swapped, *target.contests[m + 1:])
    with pytest.raises(InvalidProof) as raised:
        verify_ballot(context, _recoded(context, target, contests), fast=fast)
    assert "contest 0 selection 0" in str(raised.value)


@pytest.mark.parametrize("fast", [True, False])
def test_rejects_contest_moved_to_another_contest(context, fast: bool
                                                  ) -> None:  # type: ignore[no-untyped-def]
    """Measures A and B (ward 2) have the same shape, yes/no, vote for 1: their encrypted
    contents swapped (indices kept) are refused only by the contest index in every proof's
    context."""
    marked = mark_ballot(context.manifest, "ward-2", {"measure-a": ["yes"], "measure-b": ["no"]})
    target = encrypt_ballot(context, marked, device_id="kiosk-1", session="s1", sequence=1,
                            previous_code=chain_seed(context.extended_base_hash, "kiosk-1",
                                                     "s1")).ballot
    a, b = _position(target, MEASURE_A), _position(target, MEASURE_B)
    contests = list(target.contests)
    contests[a] = dataclasses.replace(target.contests[b], index=MEASURE_A)
    contests[b] = dataclasses.replace(target.contests[a], index=MEASURE_B)
    with pytest.raises(InvalidProof) as raised:
        verify_ballot(context, _recoded(context, target, tuple(contests)), fast=fast)
    assert f"contest {MEASURE_A}" in str(raised.value)


@pytest.mark.parametrize("fast", [True, False])
def test_rejects_ballot_whose_tracking_code_is_not_its_hash(context, fast: bool
                                                            ) -> None:  # type: ignore[no-untyped-def]
    ballot = _ballot(context)
    with pytest.raises(InvalidBallot, match="tracking code"):
        verify_ballot(context, dataclasses.replace(ballot, tracking_code=bytes(32)), fast=fast)


def test_overvote_is_refused_at_marking(context) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PaperchainError, match="overvote"):
        mark_ballot(context.manifest, "ward-1", {"mayor": ["alice-adams", "bruno-okafor"]})


def test_contest_not_on_the_style_is_refused_at_marking(context) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises((ManifestError, InvalidBallot, PaperchainError), match="not on ballot"):
        mark_ballot(context.manifest, "ward-1", {"ward-2-council": ["maria-santos"]})


# --- Benaloh challenge -----------------------------------------------------------------------


def test_challenged_ballot_reencrypts_from_its_opening(context) -> None:  # type: ignore[no-untyped-def]
    marked = mark_ballot(context.manifest, "ward-1", {"mayor": ["carmen-reyes"]})
    pending = encrypt_ballot(context, marked, device_id="kiosk-1", session="s1", sequence=1,
                             previous_code=chain_seed(context.extended_base_hash, "kiosk-1",
                                                      "s1"))
    opening = pending.opening()
    verify_opening(context, pending.ballot, opening)
    # Another choice with the same nonce: the published plaintext is not what was encrypted.
    other = mark_ballot(context.manifest, "ward-1", {"mayor": ["dmitri-volkov"]})
    with pytest.raises(InvalidBallot, match="re-encryption differs") as raised:
        verify_opening(context, pending.ballot, BallotOpening(opening.master_nonce, other))
    assert "contest 0 selection 2" in str(raised.value)
    # The right plaintext with another nonce.
    with pytest.raises(InvalidBallot, match="re-encryption differs"):
        verify_opening(context, pending.ballot, BallotOpening(bytes(32), marked))


def test_new_marking_after_a_challenge_uses_fresh_nonces(context) -> None:  # type: ignore[no-untyped-def]
    marked = mark_ballot(context.manifest, "ward-1", {"mayor": ["carmen-reyes"]})
    seed = chain_seed(context.extended_base_hash, "kiosk-1", "s1")
    challenged = encrypt_ballot(context, marked, device_id="kiosk-1", session="s1", sequence=1,
                                previous_code=seed)
    again = encrypt_ballot(context, marked, device_id="kiosk-1", session="s1", sequence=2,
                           previous_code=challenged.ballot.tracking_code)
    assert challenged.opening().master_nonce != again.opening().master_nonce
    alphas = {s.ciphertext.alpha for b in (challenged, again) for c in b.ballot.contests
              for s in c.selections}
    assert len(alphas) == 2 * sum(len(c.selections) for c in again.ballot.contests)


def test_cast_ballot_erases_its_secrets(context) -> None:  # type: ignore[no-untyped-def]
    marked = mark_ballot(context.manifest, "ward-1", {"mayor": ["carmen-reyes"]})
    pending = encrypt_ballot(context, marked, device_id="kiosk-1", session="s1", sequence=1,
                             previous_code=chain_seed(context.extended_base_hash, "kiosk-1",
                                                      "s1"))
    assert "held" in repr(pending)
    nonce = pending.opening().master_nonce
    pending.erase()
    assert pending.erased
    assert nonce.hex() not in repr(pending)
    with pytest.raises(PaperchainError, match="erased"):
        pending.opening()
