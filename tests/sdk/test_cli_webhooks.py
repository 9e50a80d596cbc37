"""``ferry webhooks`` against a running ``ferry dev``: create, list, test, deliveries, rotate, update, resend, rm."""

from __future__ import annotations

import json
import time
from pathlib import Path

from typer.testing import CliRunner

from ferry_launcher.cli import app
from ferry_launcher.client_commands import EXIT_AUTH
from ferry_sdk import FerryClient

from . import test_webhooks
from .test_webhooks import Receiver

WAIT = 30.0
receiver = test_webhooks.receiver  # the same local endpoint fixture


def ok(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_webhooks_from_the_command_line(signed_in: str, runner: CliRunner, receiver: Receiver) -> None:
    webhook_id, secret = ok(
        runner, "webhooks", "create", receiver.url, "-e", "file.parsed", "-e", "file.failed"
    ).split()
    assert webhook_id.startswith("wh_") and secret.startswith("whsec_")
    listed = json.loads(ok(runner, "webhooks", "ls", "--json"))
    assert [(h["webhook_id"], h["events"]) for h in listed["items"]] == [(webhook_id, ["file.parsed", "file.failed"])]
    assert webhook_id in ok(runner, "webhooks", "ls") and secret not in ok(runner, "webhooks", "show", webhook_id)

    delivery_id = ok(runner, "webhooks", "test", webhook_id).strip()
    assert receiver.wait_for("webhook.test", secret)["data"]["endpoint_id"] == webhook_id
    deadline = time.monotonic() + WAIT
    while json.loads(ok(runner, "webhooks", "deliveries", webhook_id, "--status", "succeeded", "--json"))["total"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert delivery_id in ok(runner, "webhooks", "deliveries", webhook_id)
    assert ok(runner, "webhooks", "resend", webhook_id, delivery_id).split() == [delivery_id, "pending"]

    new_secret = ok(runner, "webhooks", "rotate", webhook_id).strip()
    assert new_secret.startswith("whsec_") and new_secret != secret
    changed = json.loads(ok(runner, "webhooks", "update", webhook_id, "--disable", "--description", "cli", "--json"))
    assert (changed["enabled"], changed["description"]) == (False, "cli")
    refused = runner.invoke(app, ["webhooks", "test", webhook_id])
    assert refused.exit_code != 0 and "disabled" in refused.output

    ok(runner, "webhooks", "rm", webhook_id)
    gone = runner.invoke(app, ["webhooks", "show", webhook_id])
    assert gone.exit_code != 0 and "404" in gone.output


def test_webhooks_with_an_api_key_from_the_environment(
    config_dir: Path, runner: CliRunner, client: FerryClient, ferry_url: str, receiver: Receiver
) -> None:
    """``FERRY_API_KEY`` (no stored session) reaches the webhooks too, as its owner; revoked, it is an auth error."""
    key = client.create_api_key("cli webhooks")
    env = {"FERRY_API_KEY": key.key, "FERRY_URL": ferry_url}
    deadline = time.monotonic() + WAIT
    while runner.invoke(app, ["webhooks", "ls", "--json"], env=env).exit_code != 0:  # the key is announced by an event
        assert time.monotonic() < deadline, "the key never became usable"
        time.sleep(0.1)
    created = runner.invoke(app, ["webhooks", "create", receiver.url, "-e", "*"], env=env)
    assert created.exit_code == 0, created.output
    webhook_id, secret = created.stdout.split()
    assert client.get_webhook(webhook_id).owner_id == client.me().id
    tested = runner.invoke(app, ["webhooks", "test", webhook_id], env=env)
    assert tested.exit_code == 0, tested.output
    assert receiver.wait_for("webhook.test", secret)["data"]["endpoint_id"] == webhook_id

    client.revoke_api_key(key.id)
    refused = runner.invoke(app, ["webhooks", "ls"], env=env)
    assert refused.exit_code == EXIT_AUTH and "401" in refused.output
