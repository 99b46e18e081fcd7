"""Generated requests against the user service's OpenAPI document: never a server error.

Schemathesis generates the cases (valid and schema-violating ones) from the service's own
document; they are sent in-process to the running user app with a valid bearer token, and
each answer goes through schemathesis's ``not_a_server_error`` check. Generating first and
sending afterwards keeps every request on the test's event loop, where the app's database and
cache connections live.
"""

from __future__ import annotations

from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok

from tests.fixtures.stack import Person, Stack, random_ip

EXAMPLES_PER_OPERATION = 20
LOGOUT = "POST /api/v1/logout"
# Operations that end the caller's sessions: each case gets a person of its own.
SPENDING = {LOGOUT, "POST /api/v1/logout/all"}


def generate_cases(document: dict[str, Any]) -> list[schemathesis.Case[Any]]:
    """Valid and invalid requests for every operation of ``document``, a bounded number of each."""
    schema = schemathesis.openapi.from_dict(document)
    cases: list[schemathesis.Case[Any]] = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def collect(case: schemathesis.Case[Any]) -> None:
                cases.append(case)

            try:
                collect()
            except Unsatisfiable:
                continue  # an operation without parameters cannot be called against its schema
    return cases


def to_request(client: httpx.AsyncClient, case: schemathesis.Case[Any], token: str) -> httpx.Request:
    kwargs = case.as_transport_kwargs(
        base_url=str(client.base_url), headers={"Authorization": f"Bearer {token}"}
    )
    body = kwargs.get("data")
    return client.build_request(
        kwargs["method"],
        kwargs["url"],
        headers=kwargs.get("headers"),
        params=kwargs.get("params"),
        json=kwargs.get("json"),
        content=body if isinstance(body, bytes | str) else None,
        data=body if isinstance(body, dict) else None,
    )


async def test_generated_requests_never_cause_a_server_error(stack: Stack, alice: Person) -> None:
    app = stack.apps["user"]
    cases = generate_cases(app.openapi())
    assert {case.operation.label for case in cases} >= {
        "POST /api/v1/login",
        "POST /api/v1/verify",
        "GET /api/v1/me",
        "POST /api/v1/update/user",
        "GET /api/v1/user/all",
        "GET /api/v1/user/{user_id}",
        "POST /api/v1/user/batch",
        LOGOUT,
        "POST /api/v1/logout/all",
        "GET /api/v1/sessions",
        "DELETE /api/v1/sessions/{session_id}",
    }
    failures: list[str] = []
    statuses: set[int] = set()
    current = alice.token
    for case in cases:
        # Logging out spends the token, so each logout gets a session of its own.
        token = (await stack.login()).token if case.operation.label in SPENDING else current
        transport = httpx.ASGITransport(app=app, client=(random_ip(), 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://user") as client:
            response = await client.send(to_request(client, case, token))
        statuses.add(response.status_code)
        if response.status_code == 200 and case.operation.label == "POST /api/v1/update/user":
            current = response.json()["token"]  # a rename replaces the token
        try:
            case.validate_response(response, checks=[not_a_server_error])
        except Exception as exc:
            failures.append(f"{case.operation.label} → {response.status_code}: {response.text[:200]} ({exc})")
    assert not failures, "\n".join(failures[:20])
    # The run reached both the happy paths and the refusals.
    assert 200 in statuses
    assert statuses & {400, 422}
