"""Which organization a connection is about: the active one, from the handshake or request.

The notifier calls nobody, so the access token's ``orgs`` claim is the whole truth
here (the socket closes when the token expires; a new token carries any change).
"""

from __future__ import annotations

from starlette.requests import HTTPConnection

from ferry_core.orgs import ORG_HEADER, ORG_QUERY
from ferry_core.tokens import Principal
from ferry_notifier.errors import OrgNotFound


def named_org(connection: HTTPConnection) -> str | None:
    """The organization a request names: ``X-Ferry-Org``, else ``?org=`` (browsers cannot set WebSocket headers)."""
    return connection.headers.get(ORG_HEADER) or connection.query_params.get(ORG_QUERY) or None


def active_org(principal: Principal, named: str | None) -> str:
    """The organization named, else the caller's personal one; ``OrgNotFound`` if the token does not list it.

    A platform admin acts as owner in every organization, so may name any.
    """
    if not named:
        return principal.personal_org_id
    if principal.org_role(named) is None and not principal.is_admin:
        raise OrgNotFound()
    return named
