"""The OpenAPI document says what comes back: every JSON route of these resources declares its answer's schema."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Harness

TYPED_PREFIXES = ("/api/v1/auth", "/api/v1/users", "/api/v1/tokens", "/api/v1/commands", "/api/v1/devices",
                  "/api/v1/alarms", "/api/v1/deployments", "/api/v1/sites", "/api/v1/intersections",
                  "/api/v1/work-orders", "/api/v1/public", "/healthz", "/readyz")
#: No body (logout), a file (the plan download, a work order's photo).
UNTYPED = {("post", "/api/v1/auth/logout"), ("get", "/api/v1/intersections/{intersection_id}/plans/{version}/export"),
           ("get", "/api/v1/work-orders/{order_id}/photos/{photo_id}")}  # the image itself


def _success_schema(operation: dict[str, Any]) -> dict[str, Any] | None:
    for status, response in operation["responses"].items():
        if status.startswith("2"):
            schema: dict[str, Any] | None = response.get("content", {}).get("application/json", {}).get("schema")
            return schema
    return None


async def test_routes_declare_their_answers(harness: Harness) -> None:
    doc = (await harness.client.get("/openapi.json")).json()
    missing = []
    for path, operations in doc["paths"].items():
        if not path.startswith(TYPED_PREFIXES):
            continue
        for method, operation in operations.items():
            if (method, path) in UNTYPED:
                continue
            schema = _success_schema(operation)
            if not schema or schema == {} or (schema.get("type") == "object" and "properties" not in schema
                                              and "additionalProperties" in schema):
                missing.append(f"{method.upper()} {path}")
    assert missing == []
