"""Request and response bodies, and the rules a username, email and password must follow."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from ferry_auth.settings import MIN_PASSWORD_LENGTH
from ferry_auth.users import Role, User
from ferry_core.error_bodies import ErrorBody

MAX_PASSWORD_LENGTH = 1024  # argon2 takes any length; a cap keeps a request from buying seconds of CPU
_USERNAME = re.compile(r"[A-Za-z0-9_.-]{3,32}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


# PydanticCustomError (a ValueError) puts the message in a 422 as written, without "Value error, " before it.


def check_username(value: str) -> str:
    if not _USERNAME.fullmatch(value):
        raise PydanticCustomError(
            "invalid_username", "username must be 3 to 32 characters, using only letters, digits, '_', '.' and '-'"
        )
    return value


def check_email(value: str) -> str:
    value = value.strip()
    if len(value) > 254 or not _EMAIL.fullmatch(value):
        raise PydanticCustomError("invalid_email", "email must be a valid address such as name@example.com")
    return value


def check_password(value: str) -> str:
    if len(value) < MIN_PASSWORD_LENGTH:
        raise PydanticCustomError("weak_password", f"password must be at least {MIN_PASSWORD_LENGTH} characters long")
    if len(value) > MAX_PASSWORD_LENGTH:
        raise PydanticCustomError(
            "password_too_long", f"password must be at most {MAX_PASSWORD_LENGTH} characters long"
        )
    return value


Username = Annotated[
    str,
    AfterValidator(check_username),
    Field(json_schema_extra={"pattern": _USERNAME.pattern.replace("{3,32}", "+"), "minLength": 3, "maxLength": 32}),
]
Email = Annotated[str, AfterValidator(check_email), Field(json_schema_extra={"format": "email", "maxLength": 254})]
NewPassword = Annotated[
    str,
    AfterValidator(check_password),
    Field(json_schema_extra={"minLength": MIN_PASSWORD_LENGTH, "maxLength": MAX_PASSWORD_LENGTH}),
]


class ErrorResponses:
    """A router's descriptions of its ``{"detail": ...}`` errors; called with an endpoint's status codes,
    the OpenAPI ``responses`` entries for them."""

    def __init__(self, descriptions: Mapping[int, str]) -> None:
        self._descriptions = dict(descriptions)

    def __call__(self, *codes: int) -> dict[int | str, dict[str, Any]]:
        return {code: {"model": ErrorBody, "description": self._descriptions[code]} for code in codes}


class RegisterRequest(BaseModel):
    username: Username
    email: Email
    password: NewPassword
    full_name: Annotated[str | None, Field(max_length=128)] = None


class LoginRequest(BaseModel):
    """Sign in with a username or an email address (either field; ``username`` may also hold an email)."""

    username: Annotated[str | None, Field(min_length=1, max_length=254)] = None
    email: Annotated[str | None, Field(min_length=1, max_length=254)] = None
    password: Annotated[str, Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)]
    otp: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=64,
            description="With two-factor sign-in on: the current code of the authenticator app, or a recovery code.",
        ),
    ] = None

    @model_validator(mode="after")
    def _has_identifier(self) -> Self:
        if not (self.username or self.email):
            raise ValueError("username or email is required")
        return self

    @property
    def identifier(self) -> str:
        return self.username or self.email or ""


class RefreshTokenBody(BaseModel):
    refresh_token: Annotated[str, Field(min_length=1, max_length=256)]


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires.")


class UserOut(BaseModel):
    id: str
    username: str
    email: str
    full_name: str | None
    role: Role
    disabled: bool
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            username=user.username,
            email=user.email,
            full_name=user.full_name,
            role=user.role,
            disabled=user.disabled,
            created_at=user.created_at,
        )


class UserPage(BaseModel):
    items: list[UserOut]
    total: int
    limit: int
    offset: int


class UserUpdate(BaseModel):
    """An admin's change to a user; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    disabled: bool | None = None


class Jwk(BaseModel):
    kty: Literal["OKP"]
    crv: Literal["Ed25519"]
    x: str
    kid: str
    alg: Literal["EdDSA"]
    use: Literal["sig"]


class Jwks(BaseModel):
    keys: list[Jwk]
