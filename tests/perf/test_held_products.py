"""``e2e.held_products``: devices' running products between loans, in memory up to a
bound and the rest in a temporary file; what comes back is what went in, or an error."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from e2e.errors import StateError
from e2e.held_products import HeldProducts


def _product(seed: int, contests: int = 3, width: int = 16) -> dict[int, bytes]:
    return {c: bytes((seed * 7 + c * 13 + k) % 256 for k in range(2 * width))
            for c in range(contests)}


def test_products_beyond_the_bound_go_to_disk_and_come_back_the_same() -> None:
    held = HeldProducts(memory_bytes=200)  # one 96-byte product... and a second
    first, second, third = _product(1), _product(2), _product(3)
    held.add("kiosk-1", first)
    held.add("kiosk-2", second)
    held.add("kiosk-1", third)  # over the bound: on disk
    assert held.in_memory == 192
    assert held.on_disk == 96
    assert held.take("kiosk-1") == [first, third]  # every product, oldest first
    assert held.take("kiosk-1") is None
    assert held.on_disk == 0
    assert held.in_memory == 96
    assert list(held) == ["kiosk-2"]
    assert held.take("kiosk-2") == [second]
    assert len(held) == 0
    held.close()


def test_a_small_election_never_creates_the_file() -> None:
    held = HeldProducts()
    for n in range(100):
        held.add(f"kiosk-{n}", _product(n))
    assert held.on_disk == 0
    assert held.file_size == 0
    assert held._file is None


def test_the_file_stays_near_one_product_per_device_as_products_come_and_go() -> None:
    """A product taken back frees its extent for the next of the same size: a pass that
    lends and takes back each device's product many times does not grow the file."""
    held = HeldProducts(memory_bytes=0)
    devices = [f"kiosk-{n}" for n in range(50)]
    for device in devices:
        held.add(device, _product(0))
    size = held.file_size
    assert size == 50 * 96
    for round_ in range(1, 20):
        for device in devices:
            (product,) = held.take(device)  # lent ...
            assert product == _product(round_ - 1)
            held.add(device, _product(round_))  # ... and back
    assert held.file_size == size


def test_bytes_changed_in_the_file_are_refused_naming_the_device() -> None:
    """Each extent's digest stays in memory: a product changed on disk is never used."""
    held = HeldProducts(memory_bytes=0)
    held.add("kiosk-1", _product(1))
    held.add("kiosk-2", _product(2))
    assert held._file is not None
    os.pwrite(held._file.fileno(), b"\x00", 96 + 5)  # one byte of kiosk-2's product
    assert held.take("kiosk-1") == [_product(1)]
    with pytest.raises(StateError, match="device kiosk-2's running products changed"):
        held.take("kiosk-2")


def test_a_truncated_file_is_refused() -> None:
    held = HeldProducts(memory_bytes=0)
    held.add("kiosk-1", _product(1))
    assert held._file is not None
    os.ftruncate(held._file.fileno(), 50)
    with pytest.raises(StateError, match="kiosk-1"):
        held.take("kiosk-1")


def test_only_the_process_that_holds_them_reads_them_from_disk(monkeypatch) -> None:
    held = HeldProducts(memory_bytes=0)
    held.add("kiosk-1", _product(1))
    monkeypatch.setattr(os, "getpid", lambda: -1)  # as a forked pool worker would see it
    with pytest.raises(StateError, match="only by the process"):
        held.take("kiosk-1")


def test_a_negative_bound_is_refused() -> None:
    with pytest.raises(ValueError, match="memory_bytes"):
        HeldProducts(memory_bytes=-1)


operations = st.lists(
    st.tuples(st.sampled_from(["add", "take"]), st.sampled_from("abcde"),
              st.integers(0, 255), st.integers(1, 4)),
    max_size=60)


@settings(max_examples=60, deadline=None)
@given(bound=st.integers(0, 600), steps=operations)
def test_held_products_behave_like_lists_per_device(bound: int, steps) -> None:
    """Whatever the bound and the order of adds and takes: each device gets back exactly
    its products in the order they came, memory never holds more than the bound, and the
    bytes held in memory and on disk add up to the products held."""
    held = HeldProducts(memory_bytes=bound)
    model: dict[str, list[dict[int, bytes]]] = {}
    for action, device, seed, contests in steps:
        if action == "add":
            product = _product(seed, contests)
            held.add(device, product)
            model.setdefault(device, []).append(product)
        else:
            assert held.take(device) == model.pop(device, None)
        assert held.in_memory <= bound
        assert held.in_memory + held.on_disk == sum(
            len(blob) for products in model.values() for p in products for blob in p.values())
        assert sorted(held) == sorted(model)
    for device in list(model):
        assert held.take(device) == model.pop(device)
    held.close()
