"""RFC 9162 Merkle tree: known answers from transparency-dev/merkle, and every check's failure.

The vectors (tests/vectors/merkle_rfc9162.json, provenance in tests/vectors/README.md) give
roots for sizes 0-8, valid proofs, and 196 golden probes. Every ``want_error`` probe must be
refused and every other accepted — except the one probe the file's notes flag, where our
32-byte policy refuses what transparency-dev's Go verifier accepts (see
``POLICY_REFUSES``). The negative tests below each remove the need for one check: they
assert the specific reason, so a removed check that a later one happens to catch still
fails its test.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from e2e.errors import LedgerError, UsageError
from e2e.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    InvalidConsistencyProof,
    InvalidInclusionProof,
    NodeId,
    consistency_proof_from_leaf_hashes,
    consistency_proof_from_subtrees,
    inclusion_proof_from_leaf_hashes,
    inclusion_proof_from_subtrees,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    root_from_subtrees,
    subtrees_of_range,
    verify_consistency,
    verify_inclusion,
)

VECTORS = json.loads(
    (Path(__file__).parents[1] / "vectors" / "merkle_rfc9162.json").read_text(encoding="utf-8")
)
LEAF_INPUTS = [bytes.fromhex(x) for x in VECTORS["leaf_inputs_hex"]]
LEAF_HASHES = [leaf_hash(x) for x in LEAF_INPUTS]
ROOTS = {
    int(size): bytes.fromhex(root)
    for size, root in VECTORS["root_hashes_by_tree_size"].items()
    if not size.startswith("_")
}

# Probes whose upstream expectation our policy reverses, with the reason (module docstring
# of e2e.merkle, policy 1).
POLICY_REFUSES = {
    "testdata/consistency/additional/sizes-are-equal-one-and-proof-is-empty.json":
        "must be 32 bytes",
}


def _hex(value: str | None) -> bytes | None:
    return None if value is None else bytes.fromhex(value)


def _subtrees_over(leaves: Sequence[bytes]):
    """A SubtreeHashes lookup computed naively from every leaf hash."""

    def lookup(nodes: Sequence[NodeId]) -> list[bytes]:
        return [root_from_leaf_hashes(leaves[i << lv : (i + 1) << lv]) for lv, i in nodes]

    return lookup


# ------------------------------------------------------------------- known answers


def test_leaf_hashes_match_vectors() -> None:
    assert [h.hex() for h in LEAF_HASHES] == VECTORS["leaf_hashes_hex"]


def test_empty_root_is_sha256_of_nothing() -> None:
    assert ROOTS[0] == EMPTY_ROOT
    assert root_from_leaf_hashes([]) == EMPTY_ROOT
    assert root_from_subtrees(0, _subtrees_over([])) == EMPTY_ROOT


@pytest.mark.parametrize("size", range(9))
def test_roots_match_vectors(size: int) -> None:
    assert root_from_leaf_hashes(LEAF_HASHES[:size]) == ROOTS[size]
    assert root_from_subtrees(size, _subtrees_over(LEAF_HASHES)) == ROOTS[size]


def test_node_hashes_by_level_match_complete_subtrees() -> None:
    levels = {k: v for k, v in VECTORS["node_hashes_by_level"].items() if not k.startswith("_")}
    lookup = _subtrees_over(LEAF_HASHES)
    for level, hashes in levels.items():
        nodes = [(int(level), i) for i in range(len(hashes))]
        assert [h.hex() for h in lookup(nodes)] == hashes


VALID_INCLUSION = [v for v in VECTORS["inclusion_proofs"]["vectors"] if "leaf_index" in v]
VALID_CONSISTENCY = VECTORS["consistency_proofs"]["vectors"]


@pytest.mark.parametrize(
    "vector", VALID_INCLUSION, ids=lambda v: f"leaf{v['leaf_index']}-of-{v['tree_size']}"
)
def test_valid_inclusion_proofs_verify_and_are_generated(vector: dict[str, Any]) -> None:
    proof = [bytes.fromhex(p) for p in vector["proof"]]
    index, size = vector["leaf_index"], vector["tree_size"]
    assert leaf_hash(bytes.fromhex(vector["leaf_input"])).hex() == vector["leaf_hash"]
    verify_inclusion(bytes.fromhex(vector["leaf_hash"]), index, size, proof,
                     bytes.fromhex(vector["root"]))
    assert inclusion_proof_from_leaf_hashes(LEAF_HASHES[:size], index) == proof
    assert inclusion_proof_from_subtrees(index, size, _subtrees_over(LEAF_HASHES)) == proof


@pytest.mark.parametrize(
    "vector", VALID_CONSISTENCY, ids=lambda v: f"{v['size1']}-to-{v['size2']}"
)
def test_valid_consistency_proofs_verify_and_are_generated(vector: dict[str, Any]) -> None:
    proof = [bytes.fromhex(p) for p in vector["proof"]]
    size1, size2 = vector["size1"], vector["size2"]
    verify_consistency(size1, size2, proof, bytes.fromhex(vector["root1"]),
                       bytes.fromhex(vector["root2"]))
    assert consistency_proof_from_leaf_hashes(LEAF_HASHES[:size2], size1) == proof
    assert consistency_proof_from_subtrees(size1, size2, _subtrees_over(LEAF_HASHES)) == proof


def test_every_proof_among_eight_leaves_verifies() -> None:
    """Beyond the listed vectors: all 36 inclusion and 36 consistency proofs for sizes 1-8."""
    for size in range(1, 9):
        for index in range(size):
            proof = inclusion_proof_from_leaf_hashes(LEAF_HASHES[:size], index)
            verify_inclusion(LEAF_HASHES[index], index, size, proof, ROOTS[size])
        for size1 in range(1, size + 1):
            proof = consistency_proof_from_leaf_hashes(LEAF_HASHES[:size], size1)
            verify_consistency(size1, size, proof, ROOTS[size1], ROOTS[size])


INCLUSION_PROBES = VECTORS["inclusion_probes"]["probes"]
CONSISTENCY_PROBES = VECTORS["consistency_probes"]["probes"]


def test_all_196_golden_probes_are_present() -> None:
    counts = VECTORS["notes"]["counts"]
    assert len(INCLUSION_PROBES) == counts["inclusion_probes"] == 98
    assert len(CONSISTENCY_PROBES) == counts["consistency_probes"] == 98
    assert sum(p["want_error"] for p in INCLUSION_PROBES) == 92
    assert sum(p["want_error"] for p in CONSISTENCY_PROBES) == 92
    assert set(POLICY_REFUSES) <= {p["file"] for p in CONSISTENCY_PROBES}


@pytest.mark.parametrize("probe", INCLUSION_PROBES, ids=lambda p: p["file"])
def test_golden_inclusion_probe(probe: dict[str, Any]) -> None:
    def run() -> None:
        verify_inclusion(_hex(probe["leaf_hash"]), probe["leaf_index"], probe["tree_size"],
                         [_hex(p) for p in probe["proof"]], _hex(probe["root"]))

    if probe["want_error"]:
        with pytest.raises(InvalidInclusionProof):
            run()
    else:
        run()


@pytest.mark.parametrize("probe", CONSISTENCY_PROBES, ids=lambda p: p["file"])
def test_golden_consistency_probe(probe: dict[str, Any]) -> None:
    def run() -> None:
        verify_consistency(probe["size1"], probe["size2"], [_hex(p) for p in probe["proof"]],
                           _hex(probe["root1"]), _hex(probe["root2"]))

    if probe["file"] in POLICY_REFUSES:
        # Upstream accepts equal sizes with equal 12-byte roots; a root must be a digest.
        assert probe["want_error"] is False
        with pytest.raises(InvalidConsistencyProof, match=POLICY_REFUSES[probe["file"]]):
            run()
    elif probe["want_error"]:
        with pytest.raises(InvalidConsistencyProof):
            run()
    else:
        run()


def test_verifier_errors_are_ledger_errors() -> None:
    assert issubclass(InvalidInclusionProof, LedgerError)
    assert issubclass(InvalidConsistencyProof, LedgerError)


# ----------------------------------------------------- inclusion: one test per check

ROOT8 = ROOTS[8]
PROOF_5_OF_8 = inclusion_proof_from_leaf_hashes(LEAF_HASHES, 5)


def _include(**changes: Any) -> None:
    args: dict[str, Any] = {"leaf_hash": LEAF_HASHES[5], "index": 5, "tree_size": 8,
                            "proof": PROOF_5_OF_8, "root": ROOT8}
    args.update(changes)
    verify_inclusion(args["leaf_hash"], args["index"], args["tree_size"], args["proof"],
                     args["root"])


def test_inclusion_baseline_verifies() -> None:
    _include()


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"leaf_hash": LEAF_HASHES[5].hex()}, "leaf hash must be bytes"),
        ({"leaf_hash": LEAF_HASHES[5][:31]}, "leaf hash must be 32 bytes"),
        ({"root": ROOT8 + b"\x00"}, "root must be 32 bytes"),
        ({"root": None}, "root must be bytes"),
        ({"proof": [*PROOF_5_OF_8[:2], PROOF_5_OF_8[2][:16]]}, r"proof\[2\] must be 32 bytes"),
        ({"proof": b"".join(PROOF_5_OF_8)}, "proof must be a sequence"),
        ({"index": True}, "leaf index must be an integer"),
        ({"index": 5.0}, "leaf index must be an integer"),
        ({"index": -1}, "leaf index -1 is outside"),
        ({"tree_size": 2**64}, "tree size 18446744073709551616 is outside"),
        ({"index": 8}, "not below the tree size"),
        ({"tree_size": 0, "index": 0, "proof": []}, "not below the tree size"),
        ({"proof": [*PROOF_5_OF_8, PROOF_5_OF_8[0]]}, "more hashes"),
        ({"proof": PROOF_5_OF_8[:2]}, "fewer hashes"),
        ({"root": ROOTS[7]}, "does not lead"),
        ({"leaf_hash": LEAF_HASHES[4]}, "does not lead"),
    ],
    ids=[
        "leaf-hash-not-bytes", "leaf-hash-short", "root-long", "root-missing",
        "proof-element-short", "proof-not-a-sequence", "index-bool", "index-float",
        "index-negative", "size-beyond-uint64", "index-not-below-size", "empty-tree",
        "proof-too-long", "proof-too-short", "wrong-root", "wrong-leaf",
    ],
)
def test_inclusion_refuses(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidInclusionProof, match=reason):
        _include(**changes)


def test_inclusion_refuses_index_two_to_the_64_minus_one_in_small_tree() -> None:
    # The golden probe "leafIdx-sub-@1" on a one-leaf tree: index wrapped to 2^64 - 1.
    with pytest.raises(InvalidInclusionProof, match="not below"):
        verify_inclusion(LEAF_HASHES[0], 2**64 - 1, 1, [], ROOTS[1])


# --------------------------------------------------- consistency: one test per check

PROOF_3_TO_8 = consistency_proof_from_leaf_hashes(LEAF_HASHES, 3)


def _consistent(**changes: Any) -> None:
    args: dict[str, Any] = {"size1": 3, "size2": 8, "proof": PROOF_3_TO_8,
                            "root1": ROOTS[3], "root2": ROOT8}
    args.update(changes)
    verify_consistency(args["size1"], args["size2"], args["proof"], args["root1"],
                       args["root2"])


def test_consistency_baseline_verifies() -> None:
    _consistent()


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"root1": ROOTS[3][:31]}, "first root must be 32 bytes"),
        ({"root2": bytearray(ROOT8)}, "second root must be bytes"),
        ({"proof": [b""]}, r"proof\[0\] must be 32 bytes"),
        ({"proof": "00" * 32}, "proof must be a sequence"),
        ({"size1": False}, "first size must be an integer"),
        ({"size2": 2**64}, "second size 18446744073709551616 is outside"),
        ({"size1": -3}, "first size -3 is outside"),
        ({"size1": 0, "root1": EMPTY_ROOT}, "from the empty tree"),
        ({"size1": 0, "size2": 0, "proof": [], "root1": EMPTY_ROOT, "root2": EMPTY_ROOT},
         "from the empty tree"),
        ({"size1": 8, "size2": 3, "root1": ROOT8, "root2": ROOTS[3]}, "exceeds"),
        ({"size1": 8, "root1": ROOT8, "proof": [ROOT8]}, "between equal sizes must be empty"),
        ({"size1": 8, "root1": ROOTS[7], "proof": []}, "two different roots"),
        ({"proof": []}, "an empty proof cannot"),
        ({"proof": [*PROOF_3_TO_8, PROOF_3_TO_8[0]]}, "more hashes"),
        ({"proof": PROOF_3_TO_8[:-1]}, "fewer hashes"),
        ({"root1": ROOTS[2]}, "first root"),
        ({"root2": ROOTS[7]}, "second root"),
    ],
    ids=[
        "root1-short", "root2-not-bytes", "proof-element-empty", "proof-a-string",
        "size1-bool", "size2-beyond-uint64", "size1-negative", "from-empty-tree",
        "both-sizes-zero", "size1-above-size2", "equal-sizes-nonempty-proof",
        "equal-sizes-different-roots", "empty-proof", "proof-too-long", "proof-too-short",
        "wrong-first-root", "wrong-second-root",
    ],
)
def test_consistency_refuses(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidConsistencyProof, match=reason):
        _consistent(**changes)


def test_consistency_between_equal_sizes_with_equal_roots_verifies() -> None:
    verify_consistency(5, 5, [], ROOTS[5], ROOTS[5])


def test_consistency_from_power_of_two_size_uses_first_root() -> None:
    # RFC 9162 §2.1.4.2 step 2: the proof omits root1 when size1 is a power of two.
    proof = consistency_proof_from_leaf_hashes(LEAF_HASHES, 4)
    assert ROOTS[4] not in proof
    verify_consistency(4, 8, proof, ROOTS[4], ROOT8)
    with pytest.raises(InvalidConsistencyProof):
        verify_consistency(4, 8, proof, ROOTS[3], ROOT8)


# ------------------------------------------------------------------- generators


def test_naive_inclusion_proof_refuses_index_outside_tree() -> None:
    with pytest.raises(UsageError, match="not in a tree of size 8"):
        inclusion_proof_from_leaf_hashes(LEAF_HASHES, 8)


def test_naive_consistency_proof_refuses_empty_first_tree() -> None:
    with pytest.raises(UsageError, match="needs 0 < m <= n"):
        consistency_proof_from_leaf_hashes(LEAF_HASHES, 0)


def test_subtree_inclusion_proof_refuses_index_outside_tree() -> None:
    with pytest.raises(UsageError, match="not in a tree of size 8"):
        inclusion_proof_from_subtrees(8, 8, _subtrees_over(LEAF_HASHES))


def test_subtree_consistency_proof_refuses_first_size_beyond_second() -> None:
    with pytest.raises(UsageError, match="needs 0 < size1 <= size2"):
        consistency_proof_from_subtrees(5, 4, _subtrees_over(LEAF_HASHES))


def test_subtree_root_refuses_negative_size() -> None:
    with pytest.raises(UsageError, match="negative size"):
        root_from_subtrees(-1, _subtrees_over(LEAF_HASHES))


def test_subtrees_of_range_splits_into_aligned_subtrees() -> None:
    assert subtrees_of_range(0, 7) == [(2, 0), (1, 2), (0, 6)]
    assert subtrees_of_range(8, 13) == [(2, 2), (0, 12)]
    assert subtrees_of_range(4, 8) == [(2, 1)]


@pytest.mark.parametrize(("start", "end"), [(6, 12), (2, 5), (3, 3), (-2, 0)])
def test_subtrees_of_range_refuses_ranges_outside_the_tree_shape(start: int, end: int) -> None:
    with pytest.raises(UsageError):
        subtrees_of_range(start, end)


def test_subtree_proof_refuses_lookup_returning_wrong_count() -> None:
    with pytest.raises(UsageError, match="lookup gave 0"):
        inclusion_proof_from_subtrees(5, 8, lambda nodes: [])


def test_subtree_proof_asks_for_few_nodes() -> None:
    """O(log n): a proof at 10^6 leaves asks for a few dozen subtree hashes in one call."""
    calls: list[int] = []

    def lookup(nodes: Sequence[NodeId]) -> list[bytes]:
        calls.append(len(nodes))
        return [bytes(HASH_SIZE)] * len(nodes)

    inclusion_proof_from_subtrees(123_457, 1_000_000, lookup)
    consistency_proof_from_subtrees(654_321, 1_000_000, lookup)
    root_from_subtrees(1_000_000, lookup)
    assert len(calls) == 3
    assert max(calls) <= 2 * 20


def test_node_hash_separates_leaves_from_nodes() -> None:
    # 0x00 / 0x01 prefixes: the same 64 bytes hash differently as a leaf and as a node.
    left, right = LEAF_HASHES[0], LEAF_HASHES[1]
    assert node_hash(left, right) != leaf_hash(left + right)
    assert node_hash(left, right) == ROOTS[2]
