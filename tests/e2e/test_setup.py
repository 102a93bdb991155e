"""The election setup (docs/spec.md §9): the group it names, its trustees, its keys."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from e2e.encoding import canonical_json
from e2e.errors import (
    EncodingError,
    InvalidParameters,
    InvalidSignature,
    PaperchainError,
    RecordError,
)
from e2e.group import STANDARD, TEST_GROUP
from e2e.hashing import base_hash
from e2e.ledger.client import LocalLedger
from e2e.ledger.entry import sign_entry
from e2e.ledger.operator import LedgerOperator
from e2e.ledger.store import open_store
from e2e.setup import (
    ElectionSetup,
    Role,
    TrusteeInfo,
    WitnessInfo,
    WriterInfo,
    check_box_key,
    group_by_name,
)
from e2e.signing import SigningKey
from tests.strategies import CeremonyScript

ORDER_8_X25519 = bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")


@pytest.fixture(scope="module")
def setup() -> ElectionSetup:
    return CeremonyScript.create(TEST_GROUP).setup


def _payload(setup: ElectionSetup, edit: Callable[[dict[str, Any]], None]) -> bytes:
    document = json.loads(setup.to_payload())
    edit(document)
    return canonical_json(document)


# --- the group -----------------------------------------------------------------------------


def test_group_by_name_gives_the_pinned_groups() -> None:
    assert group_by_name(STANDARD.name, allow_test_group=False) is STANDARD
    assert group_by_name(TEST_GROUP.name, allow_test_group=True) is TEST_GROUP


def test_rejects_test_group_where_the_standard_group_is_required() -> None:
    with pytest.raises(InvalidParameters, match="only the standard group is accepted"):
        group_by_name(TEST_GROUP.name, allow_test_group=False)


@pytest.mark.parametrize("name", [
    "electionguard-2.0-standarc",  # one bit of the last character altered
    "Electionguard-2.0-standard", "electionguard-2.0-standard ", "", "paperchain-test-1023",
])
def test_rejects_unknown_group_name(name: str) -> None:
    for allow in (False, True):
        with pytest.raises(InvalidParameters, match="unknown group"):
            group_by_name(name, allow_test_group=allow)


def test_setup_payload_round_trips(setup: ElectionSetup) -> None:
    again = ElectionSetup.from_payload(setup.to_payload(), allow_test_group=True)
    assert again == setup
    assert again.to_payload() == setup.to_payload()


def test_rejects_test_group_setup_unless_allowed(setup: ElectionSetup) -> None:
    with pytest.raises(InvalidParameters, match="only the standard group"):
        ElectionSetup.from_payload(setup.to_payload(), allow_test_group=False)


def test_rejects_setup_naming_an_altered_group(setup: ElectionSetup) -> None:
    def edit(document: dict[str, Any]) -> None:
        document["group"] = STANDARD.name[:-1] + chr(ord(STANDARD.name[-1]) ^ 1)

    with pytest.raises(InvalidParameters, match="unknown group"):
        ElectionSetup.from_payload(_payload(setup, edit), allow_test_group=True)


def test_base_hash_of_the_setup_is_h_b_of_its_group_manifest_n_and_k(setup: ElectionSetup
                                                                      ) -> None:
    assert setup.base_hash() == base_hash(TEST_GROUP, setup.manifest.digest, 3, 2)
    assert setup.base_hash(2) == base_hash(TEST_GROUP, setup.manifest.digest, 2, 2)
    standard = dataclasses.replace(setup, group=STANDARD)
    assert standard.base_hash() != setup.base_hash()


# --- trustees, threshold, writers ----------------------------------------------------------------


def _trustees(setup: ElectionSetup, indices: list[int]) -> tuple[TrusteeInfo, ...]:
    return tuple(dataclasses.replace(t, index=i) for t, i in zip(setup.trustees, indices,
                                                                  strict=False))


@pytest.mark.parametrize("indices", [[0, 1, 2], [1, 1, 2], [1, 2, 2], [2, 1, 3], [1, 2, 4]])
def test_rejects_trustee_indices_that_are_not_1_to_n(setup: ElectionSetup, indices: list[int]
                                                     ) -> None:
    with pytest.raises(RecordError, match=r"1\.\.n, distinct, in order"):
        dataclasses.replace(setup, trustees=_trustees(setup, indices))


def test_rejects_trustee_index_0_in_the_payload(setup: ElectionSetup) -> None:
    def edit(document: dict[str, Any]) -> None:
        document["trustees"][0]["index"] = 0

    with pytest.raises(EncodingError, match=r"0 is outside 1\.\.64"):
        ElectionSetup.from_payload(_payload(setup, edit), allow_test_group=True)


def test_rejects_repeated_trustee_index_in_the_payload(setup: ElectionSetup) -> None:
    def edit(document: dict[str, Any]) -> None:
        document["trustees"][1]["index"] = 1

    with pytest.raises(RecordError, match=r"1\.\.n, distinct, in order"):
        ElectionSetup.from_payload(_payload(setup, edit), allow_test_group=True)


@pytest.mark.parametrize("threshold", [0, 4])
def test_rejects_threshold_outside_1_to_n(setup: ElectionSetup, threshold: int) -> None:
    with pytest.raises(RecordError, match="1 <= k <= n"):
        dataclasses.replace(setup, threshold=threshold)


def test_rejects_setup_without_trustees(setup: ElectionSetup) -> None:
    with pytest.raises(RecordError, match="trustees"):
        dataclasses.replace(setup, trustees=(), threshold=1)


def test_rejects_writer_id_registered_twice(setup: ElectionSetup) -> None:
    extra = WriterInfo("kiosk-1", Role.DEVICE, SigningKey(bytes(32)).verify_key)
    with pytest.raises(RecordError, match="writer ID is registered twice"):
        dataclasses.replace(setup, writers=(*setup.writers, extra))


def test_rejects_signing_key_registered_twice(setup: ElectionSetup) -> None:
    extra = WriterInfo("kiosk-2", Role.DEVICE, setup.writers[-1].key)
    with pytest.raises(RecordError, match="one signing key is registered twice"):
        dataclasses.replace(setup, writers=(*setup.writers, extra))


def test_rejects_trustee_not_registered_as_trustee_writer(setup: ElectionSetup) -> None:
    writers = tuple(dataclasses.replace(w, role=Role.AUDITOR) if w.writer_id == "trustee-2" else w
                    for w in setup.writers)
    with pytest.raises(RecordError, match="trustee 2 is not registered as a trustee writer"):
        dataclasses.replace(setup, writers=writers)


def test_rejects_trustee_whose_writer_key_differs(setup: ElectionSetup) -> None:
    trustees = list(setup.trustees)
    trustees[0] = dataclasses.replace(trustees[0], signing_key=SigningKey(bytes(32)).verify_key)
    with pytest.raises(RecordError, match="trustee 1 is not registered"):
        dataclasses.replace(setup, trustees=tuple(trustees))


def test_rejects_setup_without_an_official(setup: ElectionSetup) -> None:
    writers = tuple(w for w in setup.writers if w.role != Role.OFFICIAL)
    with pytest.raises(RecordError, match="no official"):
        dataclasses.replace(setup, writers=writers)


def test_rejects_witness_threshold_above_the_witnesses(setup: ElectionSetup) -> None:
    with pytest.raises(RecordError, match="witness threshold"):
        dataclasses.replace(setup, witness_threshold=1)


def _witness(witness_id: str, seed: int) -> WitnessInfo:
    return WitnessInfo(witness_id, SigningKey(bytes([seed]) * 32).verify_key,
                       f"http://127.0.0.1:{8000 + seed}")


def test_accepts_distinct_well_formed_witness_ids(setup: ElectionSetup) -> None:
    changed = dataclasses.replace(setup, witnesses=(_witness("witness-1", 1),
                                                    _witness("w.2_ok", 2)), witness_threshold=2)
    assert [w.witness_id for w in changed.witnesses] == ["witness-1", "w.2_ok"]


def test_rejects_witness_id_registered_twice(setup: ElectionSetup) -> None:
    with pytest.raises(RecordError, match="witness ID is registered twice"):
        dataclasses.replace(setup, witnesses=(_witness("witness-1", 1),
                                              _witness("witness-1", 2)))


@pytest.mark.parametrize("witness_id", ["", "witness 1", "witness+1", "témoin", "w\n1",
                                        "w" * 65])
def test_rejects_witness_id_that_no_cosignature_line_could_carry(setup: ElectionSetup,
                                                                 witness_id: str) -> None:
    with pytest.raises(RecordError, match=r"witness ID .* must be 1-64 printable ASCII") as caught:
        dataclasses.replace(setup, witnesses=(_witness("witness-0", 3), _witness(witness_id, 1)))
    assert caught.value.where == "setup.witnesses[1].witness_id"


def test_rejects_manifest_of_another_election(setup: ElectionSetup) -> None:
    source = setup.manifest.source_bytes.replace(b"springfield-2026-general", b"shelbyville-2026")

    def edit(document: dict[str, Any]) -> None:
        document["manifest"] = source.hex()

    with pytest.raises(RecordError, match="election ID differs"):
        ElectionSetup.from_payload(_payload(setup, edit), allow_test_group=True)


# --- keys refused at registration -------------------------------------------------------------


@pytest.mark.parametrize("path", [("writers", 0, "key"), ("trustees", 2, "signing_key"),
                                  ("operator", None, "key")])
def test_rejects_small_order_ed25519_key_in_the_setup(setup: ElectionSetup,
                                                      path: tuple[str, int | None, str]) -> None:
    section, position, key = path

    def edit(document: dict[str, Any]) -> None:
        holder = document[section] if position is None else document[section][position]
        holder[key] = "01" + "00" * 31  # the identity point

    with pytest.raises(InvalidSignature, match="small order") as caught:
        ElectionSetup.from_payload(_payload(setup, edit), allow_test_group=True)
    assert key in str(caught.value.where)


@pytest.mark.parametrize("box_key", [bytes(32), bytes([1]) + bytes(31), ORDER_8_X25519])
def test_rejects_small_order_x25519_box_key(box_key: bytes) -> None:
    with pytest.raises(InvalidSignature, match="X25519 key of small order"):
        check_box_key(box_key, "setup.trustees[0].box_key")


def test_rejects_x25519_box_key_of_wrong_length() -> None:
    with pytest.raises(InvalidSignature, match="32 bytes"):
        check_box_key(bytes(31), "box_key")


def test_ledger_refuses_setup_with_small_order_box_key(setup: ElectionSetup, tmp_path: Path
                                                       ) -> None:
    # Refused with a reason, not a crash: the operator turns it into a PaperchainError.
    def edit(document: dict[str, Any]) -> None:
        document["trustees"][0]["box_key"] = ORDER_8_X25519.hex()

    operator_key = SigningKey(hashlib.sha256(b"operator").digest())  # as CeremonyScript's
    official = SigningKey(hashlib.sha256(b"official").digest())
    ledger = LocalLedger(LedgerOperator(open_store(tmp_path / "l.sqlite"), operator_key,
                                        setup.election_id, allow_test_group=True))
    entry = sign_entry(official, "setup", setup.election_id, "official-1", 0,
                       _payload(setup, edit))
    with pytest.raises(InvalidSignature, match="X25519 key of small order"):
        ledger.append(entry)
    assert ledger.size() == 0


# --- the payload's form --------------------------------------------------------------------------


def test_rejects_setup_payload_that_is_not_canonical(setup: ElectionSetup) -> None:
    spaced = json.dumps(json.loads(setup.to_payload()), sort_keys=True).encode()
    with pytest.raises(EncodingError, match="canonical"):
        ElectionSetup.from_payload(spaced, allow_test_group=True)


@pytest.mark.parametrize(("edit", "reason"), [
    (lambda d: d.update(version=2), "unsupported version 2"),
    (lambda d: d.update(extra=True), "unknown key"),
    (lambda d: d.pop("threshold"), "missing key 'threshold'"),
    (lambda d: d.update(threshold=0), "0 is outside 1..64"),
    (lambda d: d["writers"][0].update(role="king"), "'king' is not one of"),
    (lambda d: d["trustees"][0].update(box_key="AA" * 32), "lowercase hexadecimal"),
])
def test_rejects_malformed_setup_payload(setup: ElectionSetup,
                                         edit: Callable[[dict[str, Any]], None], reason: str
                                         ) -> None:
    with pytest.raises(PaperchainError, match=reason):
        ElectionSetup.from_payload(_payload(setup, edit), allow_test_group=True)
