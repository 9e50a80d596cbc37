"""The wiring: ops routes, request ids, indexes at start, and the OpenAPI document."""

from __future__ import annotations

from ferry_auth.refresh import REFRESH_TOKENS
from ferry_auth.throttle import LOGIN_FAILURES
from ferry_auth.users import USERS


async def test_ops_routes(client) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    ready = await client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"broker": True, "database": True}
    metrics = await client.get("/metrics")
    assert "ferry_http_requests_total" in metrics.text


async def test_request_ids_are_echoed(client) -> None:
    response = await client.get("/health", headers={"X-Correlation-ID": "corr-1"})
    assert response.headers["x-correlation-id"] == "corr-1"
    assert response.headers["x-request-id"]


async def test_indexes_are_created_at_start(client, mongo_db) -> None:
    users = await mongo_db[USERS].index_information()
    assert {"username_key_1", "email_key_1"} <= set(users)
    tokens = await mongo_db[REFRESH_TOKENS].index_information()
    assert tokens["token_hash_1"]["unique"]
    assert {"family_id_1", "user_id_1"} <= set(tokens)
    failures = await mongo_db[LOGIN_FAILURES].index_information()
    assert {"key_1_at_-1", "expires_at_1"} <= set(failures)


async def test_openapi_lets_docs_authorize_with_the_password_form(client) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert {
        "/auth/register",
        "/auth/login",
        "/auth/token",
        "/auth/refresh",
        "/auth/logout",
        "/auth/logout-all",
        "/auth/totp",
        "/auth/totp/enroll",
        "/auth/totp/confirm",
        "/auth/totp/disable",
        "/users/{user_id}/totp",
        "/users/me",
        "/users",
        "/users/{user_id}",
        "/.well-known/jwks.json",
    } <= set(spec["paths"])
    (scheme,) = spec["components"]["securitySchemes"].values()
    assert scheme["flows"]["password"]["tokenUrl"] == "/auth/token"
    assert spec["paths"]["/auth/token"]["post"]["requestBody"]["content"].keys() == {
        "application/x-www-form-urlencoded"
    }


async def test_the_document_declares_what_tests_api_found(client) -> None:
    """Offsets past 2**63 made MongoDB overflow (a 500); a body that is not UTF-8 is FastAPI's undeclared 400."""
    spec = (await client.get("/openapi.json")).json()
    (offset,) = (p for p in spec["paths"]["/users"]["get"]["parameters"] if p["name"] == "offset")
    assert offset["schema"]["maximum"] == 2**53 - 1
    unreadable = await client.post("/auth/register", content=b"0\x12\xff", headers={"Content-Type": "application/json"})
    assert unreadable.status_code == 400
    assert "400" in spec["paths"]["/auth/register"]["post"]["responses"]
