"""Schemathesis against the OpenAPI document, on SQLite and on PostgreSQL: valid and invalid input on every
operation, as admin (so requests get past authorization into the routes' logic); no response may be a 5xx."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from api.security import Role
from tests.api.served import Served, serve_api

EXAMPLES = int(os.environ.get("SIGNALIGHT_FUZZ_EXAMPLES", "400"))  # raise it for a longer hunt


def _fuzz(served: Served) -> None:
    openapi = httpx.get(f"{served.url}/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(openapi).exclude(path="/api/v1/stream")
    strategy = st.one_of(schema.as_strategy(GenerationMode.POSITIVE), schema.as_strategy(GenerationMode.NEGATIVE))
    roles = st.sampled_from([Role.ADMIN, Role.ADMIN, Role.OPERATOR, Role.VIEWER])
    failures: list[str] = []
    statuses: Counter[int] = Counter()

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=strategy, role=roles)
    def run(case: schemathesis.Case, role: Role) -> None:
        response = case.call(base_url=served.url, headers=served.headers(role), timeout=10)
        statuses[response.status_code] += 1
        if response.status_code >= 500:
            failures.append(f"{response.status_code} {case.as_curl_command()}: {response.text[:300]}")

    run()
    assert failures == []
    # The run reached the routes' logic, not only the validators: successes and refusals both occurred.
    assert sum(n for code, n in statuses.items() if code < 300) > EXAMPLES // 40, statuses
    assert statuses[422] > 0 and statuses[404] > 0, statuses


@pytest.mark.slow
def test_no_5xx_on_sqlite(tmp_path: Path) -> None:
    with serve_api(f"sqlite+aiosqlite:///{tmp_path / 'fuzz.db'}") as served:
        _fuzz(served)


@pytest.mark.slow
@pytest.mark.integration
def test_no_5xx_on_postgresql(postgres_url: str) -> None:
    with serve_api(postgres_url) as served:
        _fuzz(served)
