"""``HttpLedger`` keeps the envelopes it fetched and serves them again only while the
service still shows the same leaf hashes: re-reading a ledger fetches only what is new,
and a service whose history changed is read afresh from the first changed leaf — the
caller always sees exactly what the service holds now."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from e2e.ledger.entry import decode_entry
from e2e.ledger.http_client import HttpLedger
from tests.ledger.service_helpers import (
    Election,
    Network,
    make_election,
    rewrite_history,
    running,
    start_operator,
)


class _Recording(httpx.BaseTransport):
    """Forwards every request to ``target`` (a base URL that can change), recording paths."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.paths: list[tuple[str, dict[str, str]]] = []
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append((request.url.path, dict(request.url.params)))
        base = httpx.URL(self.target)
        request.url = request.url.copy_with(host=base.host, port=base.port)
        return self._inner.handle_request(request)

    def entries_requests(self) -> list[dict[str, str]]:
        return [params for path, params in self.paths if path == "/v1/entries"]


@pytest.fixture
def election(tmp_path: Path) -> Election:
    return make_election(tmp_path)


@pytest.fixture
def network(election: Election) -> Iterator[Network]:
    with running(election) as net:
        net.write_setup_and_ceremony()
        net.open_voting()
        yield net


def test_a_second_read_fetches_no_envelope_and_a_third_only_the_new_one(
        network: Network) -> None:
    transport = _Recording(network.url)
    with HttpLedger(network.url, transport=transport) as client:
        first = list(client.envelopes(0))
        assert transport.entries_requests()
        transport.paths.clear()
        assert list(client.envelopes(0)) == first
        assert transport.entries_requests() == []  # served from memory ...
        assert any(path == "/v1/leaf-hashes" for path, _ in transport.paths)  # ... checked
        network.cast(["cast"])
        transport.paths.clear()
        third = list(client.envelopes(0))
        assert third[:-1] == first
        assert len(third) == len(first) + 1
        assert [int(p["start"]) for p in transport.entries_requests()] == [len(first)]
        with HttpLedger(network.url) as fresh:
            assert list(fresh.envelopes(0)) == third
            assert list(client.envelope_range(2, 5)) == list(fresh.envelope_range(2, 5))
            assert client.envelope(3) == fresh.envelope(3)


def test_a_changed_history_is_read_afresh_from_the_first_changed_leaf(
        network: Network, election: Election, tmp_path: Path) -> None:
    network.cast(["cast", "cast"])
    transport = _Recording(network.url)
    with HttpLedger(network.url, transport=transport) as client:
        original = list(client.envelopes(0))
        network.server.stop()
        network.node.store.close()
        fork = len(original) - 2  # the two ballots give way to another entry

        def rewrite(entries: list[bytes]) -> list[bytes]:
            official = max(decode_entry(e).sequence for e in entries
                           if decode_entry(e).writer_id == "official-1")
            return [*entries[:fork], election.register_device("kiosk-9", official + 1)]

        rewritten = rewrite_history(election.ledger_dir, tmp_path / "rewritten", rewrite)
        node, server = start_operator(rewritten, network.clock)
        network.extra_servers.append(server)
        try:
            transport.target = server.url
            transport.paths.clear()
            again = list(client.envelopes(0))
            with HttpLedger(server.url) as fresh:
                assert again == list(fresh.envelopes(0))  # exactly what the service holds
            assert again[:fork] == original[:fork]
            assert again[fork] != original[fork]
            assert len(again) == fork + 1
            assert [int(p["start"]) for p in transport.entries_requests()] == [fork]
        finally:
            node.store.close()
