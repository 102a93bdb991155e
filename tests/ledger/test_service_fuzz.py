"""HTTP fuzzing of the ledger service's OpenAPI schema (schemathesis): no input gives a 5xx.

The operator serves an election with its setup, key ceremony and a head, so that most
routes have something to find. Every operation of the schema gets a bounded number of
generated requests — conforming ones and, separately, ones that break the schema —
sent through real HTTP on 127.0.0.1. (The strategies are driven with hypothesis
directly: schemathesis' pytest fixture integration does not run under pytest 9.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

from tests.ledger.service_helpers import make_election, running

EXAMPLES = 20


@pytest.fixture(scope="module")
def ledger_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    election = make_election(Path(tmp_path_factory.mktemp("fuzz")))
    with running(election) as network:
        network.write_setup_and_ceremony()
        network.sync()
        yield network.url


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode))
def test_no_request_makes_the_service_fail(ledger_url: str,
                                           mode: schemathesis.GenerationMode) -> None:
    schema = schemathesis.openapi.from_url(f"{ledger_url}/openapi.json")
    session = requests.Session()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14
    fuzzed = 0
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            response = case.call(session=session, timeout=30)
            assert response.status_code < 500, (case.method, case.formatted_path,
                                                response.text)
            if response.status_code >= 400:
                body = response.json()
                assert set(body) == {"error", "where"}, body

        try:
            check()
        except Unsatisfiable:
            # Nothing can break the schema of an operation without parameters or body.
            assert mode == schemathesis.GenerationMode.NEGATIVE
            assert not operation.path_parameters
            assert not operation.query
            fuzzed -= 1
        fuzzed += 1
    assert fuzzed >= 10
