"""The verifiable core of Paperchain.

Group arithmetic, hashing, ElGamal, zero-knowledge proofs, signatures, the manifest
and election context, the key ceremony, ballot encryption and challenge, the ledger,
the election record and the verifier. ``e2e`` imports neither ``tally`` nor ``paper``.
"""

__all__: list[str] = []
