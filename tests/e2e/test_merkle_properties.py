"""RFC 9162 Merkle proofs as properties, against the naive definitions.

For random trees the proofs computed from subtree hashes equal the RFC's recursive
definitions, verify, and stop verifying after any single-byte or single-field change.

Sizes are the one field a verifier cannot always catch: RFC 9162's verifiers see only
the left/right pattern of a proof, so a claimed size with the same pattern (e.g. leaf 0
of 3 and of 4 leaves) recomputes the same root and is accepted — telling them apart would
take a hash collision between a leaf and a node (signed tree heads bind size and root).
The size tests therefore check the exact rule: a changed size is accepted **if and only
if** the RFC's PATH / SUBPROOF recursion gives it the same pattern. ``_path_pattern`` and
``_subproof_pattern`` derive that pattern from the recursion, independently of the
verifiers' bit arithmetic.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from e2e.merkle import (
    MAX_TREE_SIZE,
    InvalidConsistencyProof,
    InvalidInclusionProof,
    NodeId,
    consistency_proof_from_leaf_hashes,
    consistency_proof_from_subtrees,
    inclusion_proof_from_leaf_hashes,
    inclusion_proof_from_subtrees,
    root_from_leaf_hashes,
    root_from_subtrees,
    verify_consistency,
    verify_inclusion,
)

MAX_LEAVES = 300


# -------------------------------------------------------------- reusable strategies


def _leaves(seed: bytes, size: int) -> list[bytes]:
    # Distinct pseudo-random leaf hashes, cheap to draw (hypothesis shrinks seed and size).
    return [hashlib.sha256(seed + i.to_bytes(8, "big")).digest() for i in range(size)]


@st.composite
def trees(draw: st.DrawFn, min_size: int = 1, max_size: int = MAX_LEAVES) -> list[bytes]:
    """The leaf hashes of a random tree."""
    size = draw(st.integers(min_size, max_size))
    return _leaves(draw(st.binary(min_size=1, max_size=8)), size)


@dataclass(frozen=True, slots=True)
class InclusionCase:
    """A tree, one of its leaves, and that leaf's proof (the RFC's definition)."""

    leaves: list[bytes]
    index: int
    size: int
    root: bytes
    proof: list[bytes]


@dataclass(frozen=True, slots=True)
class ConsistencyCase:
    """A tree, an earlier size 0 < size1 < size2, and the proof between them."""

    leaves: list[bytes]
    size1: int
    size2: int
    root1: bytes
    root2: bytes
    proof: list[bytes]


@st.composite
def inclusion_cases(draw: st.DrawFn) -> InclusionCase:
    leaves = draw(trees())
    index = draw(st.integers(0, len(leaves) - 1))
    return InclusionCase(leaves, index, len(leaves), root_from_leaf_hashes(leaves),
                         inclusion_proof_from_leaf_hashes(leaves, index))


@st.composite
def consistency_cases(draw: st.DrawFn) -> ConsistencyCase:
    leaves = draw(trees(min_size=2))
    size1 = draw(st.integers(1, len(leaves) - 1))  # size1 < size2: the proof is not empty
    return ConsistencyCase(leaves, size1, len(leaves), root_from_leaf_hashes(leaves[:size1]),
                           root_from_leaf_hashes(leaves),
                           consistency_proof_from_leaf_hashes(leaves, size1))


def sizes_near(size: int) -> st.SearchStrategy[int]:
    """Another size: close by, a power of two or so, or anywhere in uint64."""
    return st.one_of(
        st.integers(max(0, size - 4), size + 4),
        st.integers(0, 2 * size + 2),
        st.sampled_from([size * 2, size // 2, size ^ 1, size ^ 2, 1 << size.bit_length()]),
        st.integers(0, MAX_TREE_SIZE),
    ).filter(lambda other: other != size)


def _lookup(leaves: Sequence[bytes]):
    def subtrees(nodes: Sequence[NodeId]) -> list[bytes]:
        return [root_from_leaf_hashes(leaves[i << lv : (i + 1) << lv]) for lv, i in nodes]

    return subtrees


def _flip_one(data: st.DataObject, hashes: list[bytes]) -> list[bytes]:
    """The same hashes with one byte of one of them changed."""
    target = data.draw(st.integers(0, len(hashes) - 1), label="which hash")
    position, mask = data.draw(st.integers(0, 31)), data.draw(st.integers(1, 255))
    changed = bytearray(hashes[target])
    changed[position] ^= mask
    return [*hashes[:target], bytes(changed), *hashes[target + 1 :]]


def _restructured(data: st.DataObject, proof: list[bytes], extras: list[bytes]) -> list[bytes]:
    """The proof with one hash inserted (from ``extras``), dropped, or two distinct hashes
    swapped; when there is nothing to drop or swap, one hash is appended instead."""
    changed = list(proof)
    kind = data.draw(st.sampled_from(["insert", "drop", "swap"]))
    distinct = [(i, j) for i in range(len(changed)) for j in range(i) if changed[i] != changed[j]]
    if kind == "drop" and changed:
        del changed[data.draw(st.integers(0, len(changed) - 1))]
    elif kind == "swap" and distinct:
        i, j = data.draw(st.sampled_from(distinct))
        changed[i], changed[j] = changed[j], changed[i]
    else:
        changed.insert(data.draw(st.integers(0, len(changed))), data.draw(st.sampled_from(extras)))
    return changed


# ------------------------------------------------- the RFC's recursions, as patterns


def _path_pattern(m: int, n: int) -> tuple[bool, ...]:
    """For PATH(m, D[n]) (§2.1.3.1): per proof hash, leaf first, whether it is a left sibling."""
    if n <= 1:
        return ()
    k = 1 << ((n - 1).bit_length() - 1)
    if m < k:
        return (*_path_pattern(m, k), False)
    return (*_path_pattern(m - k, n - k), True)


def _subproof_pattern(m: int, n: int, whole: bool = True) -> tuple[str, ...]:
    """For SUBPROOF(m, D[n], b) (§2.1.4.1): 'seed' (MTH(D[m]) itself), then per hash 'L'
    (left of the old tree's edge: in both roots) or 'R' (new: in the second root only)."""
    if m == n:
        return () if whole else ("seed",)
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return (*_subproof_pattern(m, k, whole), "R")
    return (*_subproof_pattern(m - k, n - k, False), "L")


# ---------------------------------------------------------------- inclusion


@settings(max_examples=200)
@given(inclusion_cases())
def test_generated_inclusion_proofs_match_definition_and_verify(case: InclusionCase) -> None:
    assert inclusion_proof_from_subtrees(case.index, case.size, _lookup(case.leaves)) == case.proof
    assert root_from_subtrees(case.size, _lookup(case.leaves)) == case.root
    verify_inclusion(case.leaves[case.index], case.index, case.size, case.proof, case.root)


@given(inclusion_cases(), st.data())
def test_inclusion_refuses_any_flipped_byte(case: InclusionCase, data: st.DataObject) -> None:
    leaf, root, *proof = _flip_one(data, [case.leaves[case.index], case.root, *case.proof])
    with pytest.raises(InvalidInclusionProof):
        verify_inclusion(leaf, case.index, case.size, proof, root)


@given(inclusion_cases(), st.data())
def test_inclusion_refuses_any_added_dropped_or_swapped_hash(
    case: InclusionCase, data: st.DataObject
) -> None:
    proof = _restructured(data, case.proof, [*case.leaves[:4], case.root, bytes(32)])
    with pytest.raises(InvalidInclusionProof):
        verify_inclusion(case.leaves[case.index], case.index, case.size, proof, case.root)


@given(inclusion_cases(), st.data())
def test_inclusion_refuses_any_other_index(case: InclusionCase, data: st.DataObject) -> None:
    other = data.draw(sizes_near(case.index))
    with pytest.raises(InvalidInclusionProof):
        verify_inclusion(case.leaves[case.index], other, case.size, case.proof, case.root)


@settings(max_examples=300)
@given(inclusion_cases(), st.data())
def test_inclusion_accepts_another_size_only_with_the_same_path_pattern(
    case: InclusionCase, data: st.DataObject
) -> None:
    other = data.draw(sizes_near(case.size))
    same_pattern = case.index < other and (
        _path_pattern(case.index, other) == _path_pattern(case.index, case.size)
    )
    leaf = case.leaves[case.index]
    if same_pattern:
        verify_inclusion(leaf, case.index, other, case.proof, case.root)
    else:
        with pytest.raises(InvalidInclusionProof):
            verify_inclusion(leaf, case.index, other, case.proof, case.root)


# -------------------------------------------------------------- consistency


@settings(max_examples=200)
@given(consistency_cases())
def test_generated_consistency_proofs_match_definition_and_verify(case: ConsistencyCase) -> None:
    lookup = _lookup(case.leaves)
    assert consistency_proof_from_subtrees(case.size1, case.size2, lookup) == case.proof
    verify_consistency(case.size1, case.size2, case.proof, case.root1, case.root2)


@given(consistency_cases(), st.data())
def test_consistency_refuses_any_flipped_byte(case: ConsistencyCase, data: st.DataObject) -> None:
    root1, root2, *proof = _flip_one(data, [case.root1, case.root2, *case.proof])
    with pytest.raises(InvalidConsistencyProof):
        verify_consistency(case.size1, case.size2, proof, root1, root2)


@given(consistency_cases(), st.data())
def test_consistency_refuses_any_added_dropped_or_swapped_hash(
    case: ConsistencyCase, data: st.DataObject
) -> None:
    proof = _restructured(data, case.proof, [case.root1, case.root2, case.leaves[0], bytes(32)])
    with pytest.raises(InvalidConsistencyProof):
        verify_consistency(case.size1, case.size2, proof, case.root1, case.root2)


@given(consistency_cases())
def test_consistency_refuses_swapped_roots(case: ConsistencyCase) -> None:
    with pytest.raises(InvalidConsistencyProof):
        verify_consistency(case.size1, case.size2, case.proof, case.root2, case.root1)


@settings(max_examples=300)
@given(consistency_cases(), st.data())
def test_consistency_accepts_other_sizes_only_with_the_same_pattern(
    case: ConsistencyCase, data: st.DataObject
) -> None:
    if data.draw(st.booleans(), label="change size1"):
        other1, other2 = data.draw(sizes_near(case.size1)), case.size2
    else:
        other1, other2 = case.size1, data.draw(sizes_near(case.size2))
    same_pattern = 0 < other1 < other2 and (
        _subproof_pattern(other1, other2) == _subproof_pattern(case.size1, case.size2)
    )
    if same_pattern:
        verify_consistency(other1, other2, case.proof, case.root1, case.root2)
    else:
        with pytest.raises(InvalidConsistencyProof):
            verify_consistency(other1, other2, case.proof, case.root1, case.root2)


def test_patterns_are_not_trivially_equal() -> None:
    """The size rule above is not vacuous: both outcomes occur."""
    assert _path_pattern(0, 3) == _path_pattern(0, 4)  # accepted with the other size
    assert _path_pattern(2, 3) != _path_pattern(2, 4)
    assert _subproof_pattern(2, 3) == _subproof_pattern(2, 4)
    assert _subproof_pattern(3, 8) != _subproof_pattern(3, 4)
