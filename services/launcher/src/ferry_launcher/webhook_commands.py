"""``ferry webhooks``: register endpoints for an organization's events, manage them, read their deliveries.

Webhooks live in the notifier, which takes ``FERRY_API_KEY`` (its owner's personal
organization only) or the stored session's bearer token. They belong to the active
organization (``--org``, ``ferry --org``, ``FERRY_ORG``, else the personal one). A secret
is printed once, by ``create`` and ``rotate``.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table

from ferry_launcher import render
from ferry_launcher.client_commands import PANEL, Json, Org, Url, handled, open_client
from ferry_sdk import Delivery, Webhook

WebhookId = Annotated[str, typer.Argument(help="a webhook's id (see `ferry webhooks ls`)")]
DeliveryId = Annotated[str, typer.Argument(help="a delivery's id (see `ferry webhooks deliveries`)")]
Events = Annotated[
    list[str] | None,
    typer.Option("--event", "-e", help="an event to post, e.g. file.parsed (repeat it; '*' is all)"),
]

webhooks = typer.Typer(
    name="webhooks",
    help="Webhooks: endpoints that receive your organization's events, signed; their deliveries.",
    no_args_is_help=True,
)


class DeliveryStatus(StrEnum):
    pending = "pending"
    succeeded = "succeeded"
    failed = "failed"


def _webhooks_table(items: Iterable[Webhook], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for name in ("ID", "URL", "Events", "State", "Created"):
        table.add_column(name, no_wrap=name in ("ID", "Created"))
    for hook in items:
        state = "enabled" if hook.enabled else f"disabled: {hook.disabled_reason or '?'}"
        if hook.enabled and hook.failing_since is not None:
            state = f"failing since {render.when(hook.failing_since)}"
        table.add_row(hook.webhook_id, hook.url, ", ".join(hook.events), state, render.when(hook.created_at))
    return table


def _deliveries_table(items: Iterable[Delivery], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for name in ("ID", "Event", "Status", "Attempts", "Last answer", "Created"):
        table.add_column(name, no_wrap=name in ("ID", "Created"))
    for delivery in items:
        last = delivery.attempts[-1] if delivery.attempts else None
        answer = "" if last is None else str(last.status_code) if last.status_code is not None else last.error or ""
        table.add_row(
            delivery.delivery_id,
            delivery.event_type,
            delivery.status,
            str(len(delivery.attempts)),
            answer,
            render.when(delivery.created_at),
        )
    return table


@webhooks.command("ls")
@handled
def list_webhooks(org: Org = None, url: Url = None, json: Json = False) -> None:
    """List the organization's webhooks (a member who is not an admin sees only their own)."""
    with open_client(url, org) as client:
        page = client.list_webhooks(limit=100)
    if json:
        render.print_json(page)
    else:
        render.stdout().print(_webhooks_table(page.items, f"Webhooks ({page.total})"))


@webhooks.command("create")
@handled
def create(
    target: Annotated[str, typer.Argument(metavar="URL", help="where to post (http or https)")],
    event: Events = None,
    description: Annotated[str | None, typer.Option(help="what it is for")] = None,
    org: Org = None,
    url: Url = None,
    json: Json = False,
) -> None:
    """Register a webhook; prints its id, then its signing secret (shown this once)."""
    with open_client(url, org) as client:
        hook = client.create_webhook(target, event or ["*"], description=description)
    if json:
        render.print_json(hook)
    else:
        typer.echo(hook.webhook_id)
        typer.echo(hook.secret)


@webhooks.command("show")
@handled
def show(webhook_id: WebhookId, url: Url = None, json: Json = False) -> None:
    """Show one webhook (never its secret)."""
    with open_client(url) as client:
        hook = client.get_webhook(webhook_id)
    if json:
        render.print_json(hook)
    else:
        render.stdout().print(_webhooks_table([hook], hook.description or hook.webhook_id))


@webhooks.command("update")
@handled
def update(
    webhook_id: WebhookId,
    target: Annotated[str | None, typer.Option("--to", metavar="URL", help="a new URL")] = None,
    event: Events = None,
    description: Annotated[str | None, typer.Option(help="a new description ('' clears it)")] = None,
    enabled: Annotated[
        bool | None, typer.Option("--enable/--disable", help="turn it on (clears its failing state) or off")
    ] = None,
    url: Url = None,
    json: Json = False,
) -> None:
    """Change a webhook's URL, events, description, or turn it on or off."""
    # --description left out: unchanged; given as '': cleared (the SDK's description=None).
    described = {} if description is None else {"description": description or None}
    with open_client(url) as client:
        hook = client.update_webhook(webhook_id, url=target, events=event or None, enabled=enabled, **described)
    if json:
        render.print_json(hook)
    else:
        render.stdout().print(_webhooks_table([hook], hook.webhook_id))


@webhooks.command("rm")
@handled
def remove(webhook_id: WebhookId, url: Url = None) -> None:
    """Delete a webhook and its delivery log."""
    with open_client(url) as client:
        client.delete_webhook(webhook_id)


@webhooks.command("rotate")
@handled
def rotate(webhook_id: WebhookId, url: Url = None, json: Json = False) -> None:
    """A new signing secret (printed once); the previous one keeps signing for the grace period."""
    with open_client(url) as client:
        rotation = client.rotate_secret(webhook_id)
    if json:
        render.print_json(rotation)
    else:
        typer.echo(rotation.secret)
        if rotation.previous_expires_at is not None:
            render.stderr().print(f"the previous secret signs too until {render.when(rotation.previous_expires_at)}")


@webhooks.command("test")
@handled
def send_test(webhook_id: WebhookId, url: Url = None, json: Json = False) -> None:
    """Send a webhook.test delivery now; prints its id."""
    with open_client(url) as client:
        delivery = client.test_webhook(webhook_id)
    if json:
        render.print_json(delivery)
    else:
        typer.echo(delivery.delivery_id)


@webhooks.command("deliveries")
@handled
def deliveries(
    webhook_id: WebhookId,
    status: Annotated[DeliveryStatus | None, typer.Option(help="only these")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
    url: Url = None,
    json: Json = False,
) -> None:
    """A webhook's deliveries, newest first."""
    with open_client(url) as client:
        page = client.webhook_deliveries(webhook_id, status=status.value if status else None, limit=limit)
    if json:
        render.print_json(page)
    else:
        render.stdout().print(_deliveries_table(page.items, f"Deliveries ({page.total})"))


@webhooks.command("resend")
@handled
def resend(webhook_id: WebhookId, delivery_id: DeliveryId, url: Url = None, json: Json = False) -> None:
    """Post a delivery again (same webhook-id, attempts numbered on)."""
    with open_client(url) as client:
        delivery = client.resend_delivery(webhook_id, delivery_id)
    if json:
        render.print_json(delivery)
    else:
        typer.echo(f"{delivery.delivery_id} {delivery.status}")


def register(app: typer.Typer) -> None:
    app.add_typer(webhooks, rich_help_panel=PANEL)
