"""``ferry orgs``: organizations from a terminal — yours, their members, invitations, roles and quotas.

Organizations live in auth; these commands call it through ``ferry_sdk`` with the
stored session (an API key reaches the files API only). An organization is named
by its id, as ``ferry orgs ls`` shows it; files commands act in one with ``--org``.
"""

from __future__ import annotations

import re
from typing import Annotated

import typer

from ferry_launcher import render
from ferry_launcher.client_commands import PANEL, Json, Url, handled, open_client
from ferry_sdk import OrgRole

OrgId = Annotated[str, typer.Argument(help="an organization's id (see `ferry orgs ls`)")]
UserId = Annotated[str, typer.Argument(help="a member's user id (see `ferry orgs members`)")]
Limit = Annotated[
    str | None,
    typer.Option(help="a number (sizes may end in KB, MB, GB, TB), or 'none' for no limit; left out: unchanged"),
]

orgs = typer.Typer(
    name="orgs",
    help="Organizations: yours, their members, invitations, roles and quotas.",
    no_args_is_help=True,
)

_SIZE = re.compile(r"^\s*(\d+)\s*(B|KB|MB|GB|TB)?\s*$", re.IGNORECASE)
_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}


def parse_limit(text: str, *, option: str) -> int | None:
    """A quota from the command line: a whole number, a size like ``5GB`` (decimal units), or ``none``."""
    if text.strip().lower() == "none":
        return None
    match = _SIZE.match(text)
    if match is None:
        raise typer.BadParameter(f"{text!r} is not a number, a size like 5GB, or 'none'", param_hint=option)
    return int(match.group(1)) * _UNITS[(match.group(2) or "B").upper()]


@orgs.command("ls")
@handled
def list_orgs(
    every: Annotated[bool, typer.Option("--all", help="every organization (platform admin)")] = False,
    url: Url = None,
    json: Json = False,
) -> None:
    """List your organizations (your personal one first)."""
    with open_client(url) as client:
        page = client.list_orgs(all=every)
    if json:
        render.print_json(page)
    else:
        render.stdout().print(render.orgs_table(page.items, title=f"Organizations ({page.total})"))


@orgs.command("show")
@handled
def show(org_id: OrgId, url: Url = None, json: Json = False) -> None:
    """Show an organization: your role, its members, quotas and usage."""
    with open_client(url) as client:
        org = client.get_org(org_id)
    if json:
        render.print_json(org)
    else:
        render.stdout().print(render.org_table(org))


@orgs.command("create")
@handled
def create(
    name: Annotated[str, typer.Argument(help="its name")],
    url: Url = None,
    json: Json = False,
) -> None:
    """Create an organization; you are its owner."""
    with open_client(url) as client:
        org = client.create_org(name)
    if json:
        render.print_json(org)
        return
    render.stdout().print(org.org_id)
    render.stderr().print(f"Created {org.name!r}; act in it with `ferry --org {org.org_id} ...`", highlight=False)


@orgs.command("members")
@handled
def members(org_id: OrgId, url: Url = None, json: Json = False) -> None:
    """List an organization's members and their roles."""
    with open_client(url) as client:
        people = client.list_members(org_id)
    if json:
        render.print_json(people)
    else:
        render.stdout().print(render.members_table(people, title=f"Members ({len(people)})"))


@orgs.command("invite")
@handled
def invite(
    org_id: OrgId,
    role: Annotated[OrgRole, typer.Option(help="the role the invitee gets")] = OrgRole.MEMBER,
    email: Annotated[str | None, typer.Option(help="only for this person (optional)")] = None,
    url: Url = None,
    json: Json = False,
) -> None:
    """Invite someone (admins): prints the token they accept with `ferry orgs accept TOKEN`."""
    with open_client(url) as client:
        invitation = client.invite(org_id, role, email=email)
    if json:
        render.print_json(invitation)
        return
    render.stdout().print(invitation.token, highlight=False)
    expires = render.when(invitation.expires_at)
    render.stderr().print(
        f"Invitation {invitation.invitation_id} as {invitation.role}, until {expires}: "
        "give the token above to the invitee (it is shown this once).",
        highlight=False,
    )


@orgs.command("accept")
@handled
def accept(
    token: Annotated[str, typer.Argument(help="the invitation's token")],
    url: Url = None,
    json: Json = False,
) -> None:
    """Join an organization with an invitation's token."""
    with open_client(url) as client:
        membership = client.accept_invitation(token)
        org = client.get_org(membership.org_id)
    if json:
        render.print_json(membership)
    else:
        render.stderr().print(f"Joined {org.name!r} ({org.org_id}) as {membership.role}", highlight=False)


@orgs.command("role")
@handled
def role(
    org_id: OrgId,
    user_id: UserId,
    new_role: Annotated[OrgRole, typer.Argument(metavar="ROLE", help="owner, admin, member or viewer")],
    url: Url = None,
    json: Json = False,
) -> None:
    """Change a member's role (admins; owners for owners)."""
    with open_client(url) as client:
        member = client.set_member_role(org_id, user_id, new_role)
    if json:
        render.print_json(member)
    else:
        render.stderr().print(f"{member.username} is now {member.role}", highlight=False)


@orgs.command("remove")
@handled
def remove(org_id: OrgId, user_id: UserId, url: Url = None) -> None:
    """Remove a member (admins), or leave with your own user id."""
    with open_client(url) as client:
        client.remove_member(org_id, user_id)
    render.stderr().print(f"Removed {user_id} from {org_id}", highlight=False)


@orgs.command("quota")
@handled
def quota(
    org_id: OrgId,
    max_bytes: Limit = None,
    max_files: Limit = None,
    uploads_per_minute: Limit = None,
    url: Url = None,
    json: Json = False,
) -> None:
    """Show or set an organization's quotas (setting them: platform admin)."""
    given = {
        name: parse_limit(value, option=f"--{name.replace('_', '-')}")
        for name, value in (
            ("max_bytes", max_bytes),
            ("max_files", max_files),
            ("uploads_per_minute", uploads_per_minute),
        )
        if value is not None
    }
    with open_client(url) as client:
        org = client.get_org(org_id)
        if given:
            org = client.set_quotas(org_id, **{**org.quotas.model_dump(), **given})
    if json:
        render.print_json(org.quotas)
    else:
        render.stdout().print(render.org_table(org))


def register(app: typer.Typer) -> None:
    app.add_typer(orgs, rich_help_panel=PANEL)
