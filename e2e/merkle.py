"""The ledger's Merkle tree: RFC 9162 (Certificate Transparency 2.0) hashing and proofs.

Hashing (RFC 9162 §2.1.1), SHA-256 throughout::

    MTH({})        = SHA-256()                                  the empty tree
    leaf hash      = SHA-256(0x00 ‖ d)                          d: the leaf's bytes (an envelope)
    node hash      = SHA-256(0x01 ‖ left ‖ right)
    MTH(D[n])      = node(MTH(D[0:k]), MTH(D[k:n]))             k the largest power of 2 < n

The distinct 0x00 / 0x01 prefixes keep a leaf from passing as an interior node.

Three kinds of function live here:

* the definitions, transcribed as the RFC writes them and working on the list of every
  leaf hash (O(n), a reference for tests and for small logs): ``root_from_leaf_hashes``
  (MTH, §2.1.1), ``inclusion_proof_from_leaf_hashes`` (PATH, §2.1.3.1) and
  ``consistency_proof_from_leaf_hashes`` (PROOF, §2.1.4.1);
* the same three computed from *complete aligned subtree* hashes — node (level, i)
  covers leaves [i·2^level, (i+1)·2^level) — fetched through one ``SubtreeHashes`` call,
  so a store that persists those subtrees answers in O(log n) reads (``root_from_subtrees``,
  ``inclusion_proof_from_subtrees``, ``consistency_proof_from_subtrees``);
* the verifiers, ``verify_inclusion`` (§2.1.3.2) and ``verify_consistency`` (§2.1.4.2),
  with the RFC's argument order. They return ``None`` or raise ``InvalidInclusionProof``
  / ``InvalidConsistencyProof`` (both ``LedgerError``) with the reason.

Verifier policy, stricter than a plain transcription of the RFC where the RFC is silent
(tests/vectors/merkle_rfc9162.json, ``notes.verifier_policy``, lists where it matters):

1. Every hash — leaf hash, root(s), each proof element — is ``bytes`` of exactly 32
   bytes, checked before any hashing. So the golden probe
   ``inclusion/single-entry/empty-root-and-leaf`` (empty leaf hash = empty root, which
   a transcription without a length check accepts) is refused, as by transparency-dev's
   Go verifier; and ``consistency/additional/sizes-are-equal-one-and-proof-is-empty``
   (equal sizes, equal 12-byte roots ``"don't care 2"``), which that Go verifier accepts
   because it only compares root1 == root2 there, is **refused** here: a root that is not
   a SHA-256 digest is not a root.
2. Sizes and indices are ``int`` (``bool`` refused) in 0 ≤ x < 2^64, the range of the
   RFC's uint64 fields.
3. Inclusion: ``index < tree_size`` (so nothing is included in the empty tree).
4. Consistency: no proof *from* an empty tree: ``size1 == 0`` is refused, even when
   ``size2 == 0`` (``consistency/additional/sizes-are-equal-zero-and-proof-is-empty``,
   refused as by the Go verifier, which checks size1 == 0 before the equal-size
   shortcut). Every tree extends the empty tree, so such a proof proves nothing, and a
   client that has seen no head has nothing to check.
5. Consistency: ``size1 > size2`` is refused; ``size1 == size2`` is accepted only with an
   empty proof and ``root1 == root2`` (§2.1.4.1: SUBPROOF(m, D[m], true) = {}).

Roots are public values, so they are compared with ``==``, not in constant time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from e2e.errors import LedgerError, UsageError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MAX_TREE_SIZE",
    "InvalidConsistencyProof",
    "InvalidInclusionProof",
    "NodeId",
    "SubtreeHashes",
    "consistency_proof_from_leaf_hashes",
    "consistency_proof_from_subtrees",
    "inclusion_proof_from_leaf_hashes",
    "inclusion_proof_from_subtrees",
    "leaf_hash",
    "node_hash",
    "root_from_leaf_hashes",
    "root_from_subtrees",
    "subtrees_of_range",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
"""Bytes in every hash of the tree (SHA-256)."""

MAX_TREE_SIZE = 2**64 - 1
"""RFC 9162 carries tree sizes and leaf indices as uint64."""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH({}) = SHA-256 of the empty string (RFC 9162 §2.1.1)."""

NodeId = tuple[int, int]
"""(level, index): the complete subtree over leaves [index·2^level, (index+1)·2^level)."""

SubtreeHashes = Callable[[Sequence[NodeId]], Sequence[bytes]]
"""Given complete aligned subtrees, their hashes in the same order (level 0 = leaf hashes)."""


class InvalidInclusionProof(LedgerError):
    """An inclusion proof (RFC 9162 §2.1.3) is malformed or does not lead to the root."""


class InvalidConsistencyProof(LedgerError):
    """A consistency proof (RFC 9162 §2.1.4) is malformed or does not join the two roots."""


# --------------------------------------------------------------------------- hashing


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 ‖ data): the hash of one log entry (RFC 9162 §2.1.1)."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 ‖ left ‖ right): an interior node (RFC 9162 §2.1.1)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below n (n >= 2): where §2.1.1 splits D[n]."""
    return 1 << ((n - 1).bit_length() - 1)


def _is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


# ----------------------------------------------- the definitions, over every leaf hash


def root_from_leaf_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of RFC 9162 §2.1.1, from the n leaf hashes. O(n): a reference."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = _split(n)
    return node_hash(root_from_leaf_hashes(leaf_hashes[:k]), root_from_leaf_hashes(leaf_hashes[k:]))


def inclusion_proof_from_leaf_hashes(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1, transcribed. O(n): a reference."""
    n = len(leaf_hashes)
    if not 0 <= index < n:
        raise UsageError(f"leaf index {index} is not in a tree of size {n}")
    if n == 1:
        return []
    k = _split(n)
    if index < k:
        return [
            *inclusion_proof_from_leaf_hashes(leaf_hashes[:k], index),
            root_from_leaf_hashes(leaf_hashes[k:]),
        ]
    return [
        *inclusion_proof_from_leaf_hashes(leaf_hashes[k:], index - k),
        root_from_leaf_hashes(leaf_hashes[:k]),
    ]


def consistency_proof_from_leaf_hashes(leaf_hashes: Sequence[bytes], size1: int) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 §2.1.4.1 for m = size1, transcribed. O(n): a reference."""
    n = len(leaf_hashes)
    if not 0 < size1 <= n:
        raise UsageError(f"no consistency proof from size {size1} to size {n} (needs 0 < m <= n)")
    return _subproof(size1, leaf_hashes, True)


def _subproof(m: int, leaves: Sequence[bytes], whole: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) of RFC 9162 §2.1.4.1."""
    n = len(leaves)
    if m == n:
        return [] if whole else [root_from_leaf_hashes(leaves)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], whole), root_from_leaf_hashes(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), root_from_leaf_hashes(leaves[:k])]


# --------------------------------------------- the same, from complete aligned subtrees


def subtrees_of_range(start: int, end: int) -> list[NodeId]:
    """The complete aligned subtrees, left to right, whose right fold is MTH(D[start:end]).

    Every range PATH and SUBPROOF ask for has ``start`` divisible by the smallest power of
    two >= ``end - start``; such a range splits, as §2.1.1 does, into aligned subtrees of
    decreasing size, one per set bit of ``end - start``. Other ranges are refused.
    """
    size = end - start
    if start < 0 or size <= 0:
        raise UsageError(f"no subtree hash for the empty or negative range [{start}, {end})")
    if start % (1 << (size - 1).bit_length()):
        raise UsageError(f"[{start}, {end}) is not a range of RFC 9162's tree")
    nodes: list[NodeId] = []
    position = start
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            nodes.append((level, position >> level))
            position += 1 << level
    return nodes


def _fold(hashes: Sequence[bytes]) -> bytes:
    """Right fold of aligned subtree hashes: MTH of their union (§2.1.1's split, unrolled)."""
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def _hash_ranges(ranges: Sequence[tuple[int, int]], subtrees: SubtreeHashes) -> list[bytes]:
    """MTH of each range, with one ``subtrees`` call for all the nodes they need."""
    plans = [subtrees_of_range(start, end) for start, end in ranges]
    wanted = [node for plan in plans for node in plan]
    found = list(subtrees(wanted)) if wanted else []
    if len(found) != len(wanted):
        raise UsageError(f"asked for {len(wanted)} subtree hashes, the lookup gave {len(found)}")
    folded = []
    for plan in plans:
        folded.append(_fold(found[: len(plan)]))
        del found[: len(plan)]
    return folded


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The ranges whose MTH make PATH(index, D[size]), leaf first (§2.1.3.1, unrolled)."""
    if not 0 <= index < size:
        raise UsageError(f"leaf index {index} is not in a tree of size {size}")
    ranges = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()  # the recursion emits the outermost sibling last
    return ranges


def _consistency_ranges(size1: int, size2: int) -> list[tuple[int, int]]:
    """The ranges whose MTH make PROOF(size1, D[size2]) (§2.1.4.1, unrolled)."""
    if not 0 < size1 <= size2:
        raise UsageError(
            f"no consistency proof from size {size1} to size {size2} (needs 0 < size1 <= size2)"
        )
    ranges = []
    start, end, m, whole = 0, size2, size1, True
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
            m -= k
            whole = False
    if not whole:
        ranges.append((start, end))
    ranges.reverse()
    return ranges


def root_from_subtrees(size: int, subtrees: SubtreeHashes) -> bytes:
    """MTH(D[size]) from at most log2(size) + 1 complete subtree hashes."""
    if size < 0:
        raise UsageError(f"no tree of negative size {size}")
    if size == 0:
        return EMPTY_ROOT
    return _hash_ranges([(0, size)], subtrees)[0]


def inclusion_proof_from_subtrees(index: int, size: int, subtrees: SubtreeHashes) -> list[bytes]:
    """PATH(index, D[size]) (RFC 9162 §2.1.3.1) from O(log size) subtree hashes."""
    return _hash_ranges(_inclusion_ranges(index, size), subtrees)


def consistency_proof_from_subtrees(
    size1: int, size2: int, subtrees: SubtreeHashes
) -> list[bytes]:
    """PROOF(size1, D[size2]) (RFC 9162 §2.1.4.1) from O(log size2) subtree hashes."""
    return _hash_ranges(_consistency_ranges(size1, size2), subtrees)


# ------------------------------------------------------------------------- verifiers


def _require_hash(value: object, what: str, error: type[LedgerError]) -> bytes:
    if not isinstance(value, bytes):
        raise error(f"{what} must be bytes, not {type(value).__name__}")
    if len(value) != HASH_SIZE:
        raise error(f"{what} must be {HASH_SIZE} bytes, not {len(value)}")
    return value


def _require_size(value: object, what: str, error: type[LedgerError]) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise error(f"{what} must be an integer, not {type(value).__name__}")
    if not 0 <= value <= MAX_TREE_SIZE:
        raise error(f"{what} {value} is outside 0..2^64-1")
    return value


def _require_proof(proof: object, error: type[LedgerError]) -> list[bytes]:
    if isinstance(proof, bytes | str) or not isinstance(proof, Sequence):
        raise error(f"the proof must be a sequence of hashes, not {type(proof).__name__}")
    return [_require_hash(p, f"proof[{i}]", error) for i, p in enumerate(proof)]


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``tree_size`` with ``root``.

    RFC 9162 §2.1.3.2, step by step, after the policy checks of this module's docstring.
    Returns ``None``; raises ``InvalidInclusionProof`` naming the failed step.
    """
    error = InvalidInclusionProof
    _require_hash(leaf_hash, "the leaf hash", error)
    _require_hash(root, "the root", error)
    path = _require_proof(proof, error)
    _require_size(index, "the leaf index", error)
    _require_size(tree_size, "the tree size", error)
    # Step 1.
    if index >= tree_size:
        raise error(f"leaf index {index} is not below the tree size {tree_size}")
    # Steps 2-3.
    fn, sn = index, tree_size - 1
    r = leaf_hash
    # Step 4.
    for p in path:
        if sn == 0:
            raise error(f"the proof has more hashes than a tree of size {tree_size} needs")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            # Skip the levels where this node has no right sibling (the tree's ragged edge).
            while not (fn & 1 or fn == 0):
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    # Step 5.
    if sn != 0:
        raise error(f"the proof has fewer hashes than a tree of size {tree_size} needs")
    if r != root:
        raise error("the proof does not lead from the leaf hash to the root")


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree of ``size2`` with ``root2`` extends the one of ``size1`` with ``root1``.

    RFC 9162 §2.1.4.2, step by step, after the policy checks of this module's docstring.
    Returns ``None``; raises ``InvalidConsistencyProof`` naming the failed step.
    """
    error = InvalidConsistencyProof
    _require_hash(root1, "the first root", error)
    _require_hash(root2, "the second root", error)
    path = _require_proof(proof, error)
    _require_size(size1, "the first size", error)
    _require_size(size2, "the second size", error)
    if size1 == 0:
        raise error("no consistency proof from the empty tree: size1 must be positive")
    if size1 > size2:
        raise error(f"the first size {size1} exceeds the second size {size2}")
    if size1 == size2:
        if path:
            raise error("a consistency proof between equal sizes must be empty")
        if root1 != root2:
            raise error(f"two different roots for the same size {size1}")
        return
    # Step 1.
    if not path:
        raise error(f"an empty proof cannot join size {size1} to size {size2}")
    # Step 2: when size1 is a power of two, the first tree is a subtree of the second one
    # and the proof leaves its root out.
    if _is_power_of_two(size1):
        path = [root1, *path]
    # Steps 3-4.
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Step 5.
    fr = sr = path[0]
    # Step 6.
    for c in path[1:]:
        if sn == 0:
            raise error(f"the proof has more hashes than sizes {size1} and {size2} need")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not (fn & 1 or fn == 0):
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    # Step 7.
    if sn != 0:
        raise error(f"the proof has fewer hashes than sizes {size1} and {size2} need")
    if fr != root1:
        raise error("the proof does not lead to the first root")
    if sr != root2:
        raise error("the proof does not lead to the second root")
