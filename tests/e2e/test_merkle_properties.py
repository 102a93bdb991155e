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


@st.composite
def inclusion_cases(draw: st.DrawFn) -> tuple[list[bytes], int]:
    leaves = draw(trees())
    return leaves, draw(st.integers(0, len(leaves) - 1))


@st.composite
def consistency_cases(draw: st.DrawFn) -> tuple[list[bytes], int]:
    """(leaves, size1) with 0 < size1 < len(leaves): a proof with at least one hash."""
    leaves = draw(trees(min_size=2))
    return leaves, draw(st.integers(1, len(leaves) - 1))


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


def _flip(data: bytes, position: int, mask: int) -> bytes:
    changed = bytearray(data)
    changed[position % len(changed)] ^= mask
    return bytes(changed)


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
def test_generated_inclusion_proofs_match_definition_and_verify(
    case: tuple[list[bytes], int],
) -> None:
    leaves, index = case
    size, root = len(leaves), root_from_leaf_hashes(leaves)
    proof = inclusion_proof_from_leaf_hashes(leaves, index)
    assert inclusion_proof_from_subtrees(index, size, _lookup(leaves)) == proof
    assert root_from_subtrees(size, _lookup(leaves)) == root
    verify_inclusion(leaves[index], index, size, proof, root)


@given(inclusion_cases(), st.data())
def test_inclusion_refuses_any_flipped_byte(
    case: tuple[list[bytes], int], data: st.DataObject
) -> None:
    leaves, index = case
    size, root = len(leaves), root_from_leaf_hashes(leaves)
    proof = inclusion_proof_from_leaf_hashes(leaves, index)
    target = data.draw(st.integers(-2, len(proof) - 1), label="hash (-2 leaf, -1 root)")
    position = data.draw(st.integers(0, 31))
    mask = data.draw(st.integers(1, 255))
    leaf, changed = leaves[index], list(proof)
    if target == -2:
        leaf = _flip(leaf, position, mask)
    elif target == -1:
        root = _flip(root, position, mask)
    else:
        changed[target] = _flip(changed[target], position, mask)
    with pytest.raises(InvalidInclusionProof):
        verify_inclusion(leaf, index, size, changed, root)


@given(inclusion_cases(), st.data())
def test_inclusion_refuses_any_added_dropped_or_swapped_hash(
    case: tuple[list[bytes], int], data: st.DataObject
) -> None:
    leaves, index = case
    size, root = len(leaves), root_from_leaf_hashes(leaves)
    proof = inclusion_proof_from_leaf_hashes(leaves, index)
    changed = list(proof)
    kind = data.draw(st.sampled_from(["insert", "drop", "swap"]))
    if kind == "insert":
        at = data.draw(st.integers(0, len(changed)))
        extra = data.draw(st.sampled_from([*leaves[:4], root, bytes(32)]))
        changed.insert(at, extra)
    elif kind == "drop" and changed:
        del changed[data.draw(st.integers(0, len(changed) - 1))]
    else:
        if len(set(changed)) < 2:
            changed.append(root)
        else:
            i, j = data.draw(st.sampled_from([(i, j) for i in range(len(changed))
                                              for j in range(i) if changed[i] != changed[j]]))
            changed[i], changed[j] = changed[j], changed[i]
    with pytest.raises(InvalidInclusionProof):
        verify_inclusion(leaves[index], index, size, changed, root)


@given(inclusion_cases(), st.data())
def test_inclusion_refuses_any_other_index(
    case: tuple[list[bytes], int], data: st.DataObject
) -> None:
    leaves, index = case
    size, root = len(leaves), root_from_leaf_hashes(leaves)
    proof = inclusion_proof_from_leaf_hashes(leaves, index)
    other = data.draw(sizes_near(index))
    with pytest.raises(InvalidInclusionProof):
        verify_inclusion(leaves[index], other, size, proof, root)


@settings(max_examples=300)
@given(inclusion_cases(), st.data())
def test_inclusion_accepts_another_size_only_with_the_same_path_pattern(
    case: tuple[list[bytes], int], data: st.DataObject
) -> None:
    leaves, index = case
    size, root = len(leaves), root_from_leaf_hashes(leaves)
    proof = inclusion_proof_from_leaf_hashes(leaves, index)
    other = data.draw(sizes_near(size))
    same_pattern = index < other and _path_pattern(index, other) == _path_pattern(index, size)
    if same_pattern:
        verify_inclusion(leaves[index], index, other, proof, root)
    else:
        with pytest.raises(InvalidInclusionProof):
            verify_inclusion(leaves[index], index, other, proof, root)


# -------------------------------------------------------------- consistency


@settings(max_examples=200)
@given(consistency_cases())
def test_generated_consistency_proofs_match_definition_and_verify(
    case: tuple[list[bytes], int],
) -> None:
    leaves, size1 = case
    size2 = len(leaves)
    proof = consistency_proof_from_leaf_hashes(leaves, size1)
    assert consistency_proof_from_subtrees(size1, size2, _lookup(leaves)) == proof
    verify_consistency(size1, size2, proof, root_from_leaf_hashes(leaves[:size1]),
                       root_from_leaf_hashes(leaves))


@given(consistency_cases(), st.data())
def test_consistency_refuses_any_flipped_byte(
    case: tuple[list[bytes], int], data: st.DataObject
) -> None:
    leaves, size1 = case
    size2 = len(leaves)
    root1, root2 = root_from_leaf_hashes(leaves[:size1]), root_from_leaf_hashes(leaves)
    proof = consistency_proof_from_leaf_hashes(leaves, size1)
    target = data.draw(st.integers(-2, len(proof) - 1), label="hash (-2 root1, -1 root2)")
    position, mask = data.draw(st.integers(0, 31)), data.draw(st.integers(1, 255))
    changed = list(proof)
    if target == -2:
        root1 = _flip(root1, position, mask)
    elif target == -1:
        root2 = _flip(root2, position, mask)
    else:
        changed[target] = _flip(changed[target], position, mask)
    with pytest.raises(InvalidConsistencyProof):
        verify_consistency(size1, size2, changed, root1, root2)


@given(consistency_cases(), st.data())
def test_consistency_refuses_any_added_dropped_or_swapped_hash(
    case: tuple[list[bytes], int], data: st.DataObject
) -> None:
    leaves, size1 = case
    size2 = len(leaves)
    root1, root2 = root_from_leaf_hashes(leaves[:size1]), root_from_leaf_hashes(leaves)
    changed = consistency_proof_from_leaf_hashes(leaves, size1)
    kind = data.draw(st.sampled_from(["insert", "drop", "swap", "swap-roots"]))
    if kind == "insert":
        changed.insert(data.draw(st.integers(0, len(changed))),
                       data.draw(st.sampled_from([root1, root2, leaves[0], bytes(32)])))
    elif kind == "drop":
        del changed[data.draw(st.integers(0, len(changed) - 1))]
    elif kind == "swap" and len(set(changed)) >= 2:
        i, j = data.draw(st.sampled_from([(i, j) for i in range(len(changed))
                                          for j in range(i) if changed[i] != changed[j]]))
        changed[i], changed[j] = changed[j], changed[i]
    else:
        root1, root2 = root2, root1
    with pytest.raises(InvalidConsistencyProof):
        verify_consistency(size1, size2, changed, root1, root2)


@settings(max_examples=300)
@given(consistency_cases(), st.data())
def test_consistency_accepts_other_sizes_only_with_the_same_pattern(
    case: tuple[list[bytes], int], data: st.DataObject
) -> None:
    leaves, size1 = case
    size2 = len(leaves)
    root1, root2 = root_from_leaf_hashes(leaves[:size1]), root_from_leaf_hashes(leaves)
    proof = consistency_proof_from_leaf_hashes(leaves, size1)
    if data.draw(st.booleans(), label="change size1"):
        other1, other2 = data.draw(sizes_near(size1)), size2
    else:
        other1, other2 = size1, data.draw(sizes_near(size2))
    same_pattern = 0 < other1 < other2 and (
        _subproof_pattern(other1, other2) == _subproof_pattern(size1, size2)
    )
    if same_pattern:
        verify_consistency(other1, other2, proof, root1, root2)
    else:
        with pytest.raises(InvalidConsistencyProof):
            verify_consistency(other1, other2, proof, root1, root2)


def test_patterns_are_not_trivially_equal() -> None:
    """The size rule above is not vacuous: both outcomes occur."""
    assert _path_pattern(0, 3) == _path_pattern(0, 4)  # accepted with the other size
    assert _path_pattern(2, 3) != _path_pattern(2, 4)
    assert _subproof_pattern(2, 3) == _subproof_pattern(2, 4)
    assert _subproof_pattern(3, 8) != _subproof_pattern(3, 4)
