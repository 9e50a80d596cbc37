"""The shapes of error answers every service documents in its OpenAPI: ``{"detail": ...}``."""

from __future__ import annotations

from pydantic import BaseModel


class ErrorBody(BaseModel):
    """Every error a service answers with."""

    detail: str


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class InvalidRequestBody(BaseModel):
    """A 422: the request's fields did not validate (a list), or its content makes no sense (a sentence)."""

    detail: str | list[FieldError]
