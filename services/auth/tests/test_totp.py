"""Two-factor sign-in: enroll, confirm, codes at login (once each), recovery codes, disable, admin reset."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlparse

import pyotp

from ferry_auth.totp import TOTP_FACTORS, TotpFactors, Verdict

OTP_REQUIRED = 'one-time code required: send the code from your authenticator app (or a recovery code) as "otp"'


def _next_code(secret: str) -> str:
    # The next step's code: accepted (one step of drift) and later than any code used so far.
    return pyotp.TOTP(secret).at(time.time() + 30)


def _wrong_code(secret: str) -> str:
    """A six-digit code that no step around now produces."""
    totp = pyotp.TOTP(secret)
    valid = {totp.at(time.time() + offset) for offset in (-60, -30, 0, 30, 60)}
    return next(code for code in ("000000", "111111", "222222", "333333", "444444", "555555") if code not in valid)


async def _enable(api, username: str) -> tuple[dict[str, str], str, list[str]]:
    """Register a user and turn two-factor sign-in on; their headers, secret and recovery codes."""
    _, headers = await api.user(username)
    enrollment = (await api.client.post("/auth/totp/enroll", headers=headers)).json()
    confirmed = await api.client.post(
        "/auth/totp/confirm", json={"code": pyotp.TOTP(enrollment["secret"]).now()}, headers=headers
    )
    assert confirmed.status_code == 200, confirmed.text
    return headers, enrollment["secret"], confirmed.json()["recovery_codes"]


async def _login(api, username: str, otp: str | None = None, password: str | None = None):
    body = {"username": username, "password": password or api.password}
    if otp is not None:
        body["otp"] = otp
    return await api.client.post("/auth/login", json=body)


async def test_enrollment_gives_a_secret_and_an_otpauth_uri(api) -> None:
    _, headers = await api.user("alice")
    response = await api.client.post("/auth/totp/enroll", headers=headers)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    enrollment = response.json()
    uri = urlparse(enrollment["otpauth_uri"])
    assert (uri.scheme, uri.netloc, uri.path) == ("otpauth", "totp", "/Ferry:alice")
    assert parse_qs(uri.query) == {"secret": [enrollment["secret"]], "issuer": ["Ferry"]}
    assert len(enrollment["secret"]) == 32  # 160 bits, base32
    # Not confirmed yet: sign-in is unchanged.
    assert (await _login(api, "alice")).status_code == 200
    assert (await api.client.get("/auth/totp", headers=headers)).json() == {"enabled": False, "recovery_codes_left": 0}


async def test_confirming_needs_a_valid_code(api) -> None:
    _, headers = await api.user("bob")
    assert (await api.client.post("/auth/totp/confirm", json={"code": "123456"}, headers=headers)).status_code == 409
    secret = (await api.client.post("/auth/totp/enroll", headers=headers)).json()["secret"]
    wrong = str((int(pyotp.TOTP(secret).now()) + 1) % 1_000_000).zfill(6)
    response = await api.client.post("/auth/totp/confirm", json={"code": wrong}, headers=headers)
    assert response.status_code == 400
    assert response.json() == {"detail": "invalid one-time code"}
    assert (await _login(api, "bob")).status_code == 200  # still off

    response = await api.client.post("/auth/totp/confirm", json={"code": pyotp.TOTP(secret).now()}, headers=headers)
    assert response.status_code == 200
    codes = response.json()["recovery_codes"]
    assert len(codes) == len(set(codes)) == 10
    assert (await api.client.get("/auth/totp", headers=headers)).json() == {"enabled": True, "recovery_codes_left": 10}
    # Enabled: enrolling again is refused rather than silently replacing the secret.
    assert (await api.client.post("/auth/totp/enroll", headers=headers)).status_code == 409


async def test_recovery_codes_are_stored_hashed(api, mongo_db) -> None:
    _, _, codes = await _enable(api, "carol")
    doc = await mongo_db[TOTP_FACTORS].find_one({})
    assert doc["enabled"] is True
    assert len(doc["recovery_hashes"]) == 10
    for code in codes:
        assert code not in str(doc) and code.replace("-", "") not in str(doc)


async def test_login_requires_the_code(api) -> None:
    _, secret, _ = await _enable(api, "dave")
    missing = await _login(api, "dave")
    assert missing.status_code == 401
    assert missing.json() == {"detail": OTP_REQUIRED}
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = await _login(api, "dave", otp=_wrong_code(secret))
    assert wrong.status_code == 401
    assert wrong.json() == {"detail": "invalid one-time code"}
    # A wrong password is still just "invalid credentials": the code is asked for only after the password.
    bad_password = await _login(api, "dave", otp=_next_code(secret), password="not the password at all")
    assert bad_password.json() == {"detail": "invalid credentials"}

    response = await _login(api, "dave", otp=_next_code(secret))
    assert response.status_code == 200
    me = await api.client.get("/users/me", headers=api.bearer(response.json()["access_token"]))
    assert me.json()["username"] == "dave"


async def test_the_oauth2_form_takes_the_code_too(api) -> None:
    _, secret, _ = await _enable(api, "erin")
    form = {"username": "erin", "password": api.password}
    assert (await api.client.post("/auth/token", data=form)).json() == {"detail": OTP_REQUIRED}
    response = await api.client.post("/auth/token", data={**form, "otp": _next_code(secret)})
    assert response.status_code == 200


async def test_a_code_works_only_once(api) -> None:
    _, secret, _ = await _enable(api, "frank")
    code = _next_code(secret)
    assert (await _login(api, "frank", otp=code)).status_code == 200
    replay = await _login(api, "frank", otp=code)
    assert replay.status_code == 401
    assert replay.json() == {"detail": "one-time code already used; wait for the next one"}


async def test_the_confirming_code_cannot_sign_in(api) -> None:
    _, headers = await api.user("grace")
    secret = (await api.client.post("/auth/totp/enroll", headers=headers)).json()["secret"]
    code = pyotp.TOTP(secret).now()
    assert (await api.client.post("/auth/totp/confirm", json={"code": code}, headers=headers)).status_code == 200
    assert (await _login(api, "grace", otp=code)).status_code == 401


async def test_a_recovery_code_works_once_in_place_of_a_code(api) -> None:
    headers, _, codes = await _enable(api, "heidi")
    assert (await _login(api, "heidi", otp=codes[0])).status_code == 200
    assert (await _login(api, "heidi", otp=codes[0])).json() == {"detail": "invalid one-time code"}
    # Typed by hand: any letter case, without dashes, with spaces around.
    assert (await _login(api, "heidi", otp=f"  {codes[1].upper().replace('-', '')} ")).status_code == 200
    assert (await api.client.get("/auth/totp", headers=headers)).json()["recovery_codes_left"] == 8


async def test_wrong_codes_count_as_failed_sign_ins(api) -> None:
    _, secret, _ = await _enable(api, "ivan")
    for _ in range(5):
        assert (await _login(api, "ivan", otp=_wrong_code(secret))).status_code == 401
    response = await _login(api, "ivan", otp=_next_code(secret))
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0


async def test_a_missing_code_does_not_count(api) -> None:
    _, secret, _ = await _enable(api, "judy")
    for _ in range(6):
        assert (await _login(api, "judy")).json() == {"detail": OTP_REQUIRED}
    assert (await _login(api, "judy", otp=_next_code(secret))).status_code == 200


async def test_disable_needs_a_valid_code(api) -> None:
    headers, secret, codes = await _enable(api, "kim")
    response = await api.client.post("/auth/totp/disable", json={"code": "12345678"}, headers=headers)
    assert response.status_code == 400
    assert (await _login(api, "kim")).status_code == 401  # still on
    response = await api.client.post("/auth/totp/disable", json={"code": _next_code(secret)}, headers=headers)
    assert response.status_code == 204
    assert (await _login(api, "kim")).status_code == 200
    assert (await api.client.get("/auth/totp", headers=headers)).json() == {"enabled": False, "recovery_codes_left": 0}
    assert (await api.client.post("/auth/totp/disable", json={"code": codes[0]}, headers=headers)).status_code == 409


async def test_disable_with_a_recovery_code(api) -> None:
    headers, _, codes = await _enable(api, "lena")
    response = await api.client.post("/auth/totp/disable", json={"code": codes[3]}, headers=headers)
    assert response.status_code == 204
    assert (await _login(api, "lena")).status_code == 200


async def test_guessing_codes_to_disable_is_throttled(api) -> None:
    headers, secret, _ = await _enable(api, "mike")
    for _ in range(5):
        response = await api.client.post("/auth/totp/disable", json={"code": _wrong_code(secret)}, headers=headers)
        assert response.status_code == 400
    response = await api.client.post("/auth/totp/disable", json={"code": _next_code(secret)}, headers=headers)
    assert response.status_code == 429


async def test_totp_endpoints_need_a_signed_in_user(client) -> None:
    assert (await client.get("/auth/totp")).status_code == 401
    assert (await client.post("/auth/totp/enroll")).status_code == 401
    assert (await client.post("/auth/totp/confirm", json={"code": "123456"})).status_code == 401
    assert (await client.post("/auth/totp/disable", json={"code": "123456"})).status_code == 401


async def test_admin_reset_and_user_deletion_remove_the_factor(api, mongo_db) -> None:
    admin = await api.admin()
    for name in ("nina", "oscar"):
        await _enable(api, name)
    nina, oscar = (await api.client.get("/users", headers=admin)).json()["items"][1:]
    assert (nina["username"], oscar["username"]) == ("nina", "oscar")

    # Nina lost her phone and her recovery codes: an admin turns the factor off.
    assert (await api.client.delete(f"/users/{nina['id']}/totp", headers=admin)).status_code == 204
    assert (await _login(api, "nina")).status_code == 200
    assert (await api.client.delete("/users/nobody/totp", headers=admin)).status_code == 404

    assert await mongo_db[TOTP_FACTORS].count_documents({"_id": oscar["id"]}) == 1
    assert (await api.client.delete(f"/users/{oscar['id']}", headers=admin)).status_code == 204
    assert await mongo_db[TOTP_FACTORS].count_documents({"_id": oscar["id"]}) == 0


async def test_non_admins_cannot_reset(api) -> None:
    user, headers = await api.user("pat")
    assert (await api.client.delete(f"/users/{user['id']}/totp", headers=headers)).status_code == 403


# -- the store, with a clock of its own ------------------------------------------------------


async def test_codes_of_neighbouring_steps_only(mongo_db) -> None:
    now = [1_900_000_000.0]
    factors = TotpFactors(mongo_db, issuer="Ferry", clock=lambda: now[0])

    class User:
        id, username = "u1", "u1"

    secret = (await factors.enroll(User())).secret  # type: ignore[arg-type]
    totp = pyotp.TOTP(secret)
    assert await factors.confirm("u1", totp.at(now[0])) is not None
    now[0] += 300
    factor = await factors.get("u1")
    assert factor is not None
    assert await factors.check(factor, totp.at(now[0] - 60)) is Verdict.REJECTED  # two steps old
    assert await factors.check(factor, totp.at(now[0] + 60)) is Verdict.REJECTED  # two steps ahead
    assert await factors.check(factor, totp.at(now[0] - 30)) is Verdict.ACCEPTED  # one step of drift
    factor = await factors.get("u1")
    assert factor is not None
    assert await factors.check(factor, totp.at(now[0] - 30)) is Verdict.REUSED
    assert await factors.check(factor, totp.at(now[0])) is Verdict.ACCEPTED
    factor = await factors.get("u1")
    assert factor is not None
    # An older step than the last one accepted is refused even though it is within the drift.
    assert await factors.check(factor, totp.at(now[0] - 30)) is Verdict.REUSED
