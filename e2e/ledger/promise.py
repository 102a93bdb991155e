"""The ledger's signed inclusion promise: "entry with this leaf hash is at this index".

docs/spec.md §7.5. The operator returns one for every accepted append; the receipt
carries it. It is Ed25519 under the tag ``inclusion-promise`` and the election ID over
``u64be(index) ‖ leaf_hash``. A promise whose entry later cannot be shown in a
cosigned tree at that index is proof that the operator broke it.
"""

from __future__ import annotations

from dataclasses import dataclass

from e2e.encoding import Reader, u64
from e2e.errors import EncodingError
from e2e.signing import SignatureTag, SigningKey, VerifyKey

__all__ = ["PROMISE_BYTES", "InclusionPromise"]

PROMISE_BYTES = 8 + 32 + 64


@dataclass(frozen=True, slots=True)
class InclusionPromise:
    index: int
    leaf_hash: bytes
    signature: bytes

    @staticmethod
    def message(index: int, leaf_hash: bytes) -> bytes:
        return u64(index) + leaf_hash

    @classmethod
    def issue(cls, key: SigningKey, election_id: str, index: int, leaf_hash: bytes
              ) -> InclusionPromise:
        signature = key.sign(SignatureTag.INCLUSION_PROMISE, election_id,
                             cls.message(index, leaf_hash))
        return cls(index, leaf_hash, signature)

    def verify(self, operator_key: VerifyKey, election_id: str) -> None:
        operator_key.verify(SignatureTag.INCLUSION_PROMISE, election_id,
                            self.message(self.index, self.leaf_hash), self.signature)

    def to_bytes(self) -> bytes:
        return u64(self.index) + self.leaf_hash + self.signature

    @classmethod
    def from_bytes(cls, data: bytes, where: str = "inclusion promise") -> InclusionPromise:
        reader = Reader(data, where)
        result = cls(reader.u64("index"), reader.fixed(32, "leaf hash"),
                     reader.fixed(64, "signature"))
        reader.end()
        if result.index >= 2**63:
            raise EncodingError("index out of range", where)
        return result

    def to_json(self) -> dict[str, object]:
        return {"index": self.index, "leaf_hash": self.leaf_hash.hex(),
                "signature": self.signature.hex()}
