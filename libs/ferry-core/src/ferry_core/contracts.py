"""Generates ``contracts/`` from the event models and checks that it is current.

One JSON Schema per event type (the whole envelope, ``data`` being that type's
payload) and an AsyncAPI 3.0 document of the bus. ``python -m ferry_core.contracts
write`` regenerates the files; ``check`` exits 1 when they and the code disagree.
The AsyncAPI document is YAML written here, so ferry-core needs no YAML library.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from ferry_core.bus.amqp import DEAD_LETTER_EXCHANGE
from ferry_core.events import EVENT_TYPES, EXCHANGE, Envelope

ASYNCAPI_PATH = "asyncapi.yaml"
EVENTS_DIR = "events"
REGENERATE = "make contracts  (or: python -m ferry_core.contracts write)"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

# Who publishes and who consumes, as the services do today (DESIGN.md also allows ingest
# to publish file.failed.v1; add it here when it does). A consumer's entry is the binding
# key of its queue, so it may be a topic pattern.
SENDS: dict[str, tuple[str, ...]] = {
    "ingest": (
        "file.uploaded.v1",
        "file.progress.v1",
        "file.failed.v1",
        "file.deleted.v1",
        "file.cancelled.v1",
        "file.job.requested.v1",
        "file.job.cancelled.v1",
        "audit.recorded.v1",
        "batch.completed.v1",
        "batch.progress.v1",
        "org.usage.v1",
    ),
    "parser": (
        "file.progress.v1",
        "file.parsed.v1",
        "file.failed.v1",
        "file.job.progress.v1",
        "file.analyzed.v1",
        "file.converted.v1",
        "file.job.failed.v1",
    ),
    "auth": (
        "user.deleted.v1",
        "apikey.created.v1",
        "apikey.revoked.v1",
        "audit.recorded.v1",
        "org.updated.v1",
        "org.member.updated.v1",
    ),
    "notifier": ("webhook.delivery.requested.v1", "webhook.disabled.v1", "audit.recorded.v1"),
}
RECEIVES: dict[str, tuple[str, ...]] = {
    "parser": (
        "file.uploaded.v1",
        "file.deleted.v1",
        "file.cancelled.v1",
        "file.job.requested.v1",
        "file.job.cancelled.v1",
    ),
    "ingest": (
        "file.progress.v1",
        "file.parsed.v1",
        "file.failed.v1",
        "file.job.progress.v1",
        "file.analyzed.v1",
        "file.converted.v1",
        "file.job.failed.v1",
        "user.deleted.v1",
        "apikey.created.v1",
        "apikey.revoked.v1",
        "org.updated.v1",
        "org.member.updated.v1",
    ),
    "notifier": ("file.#", "batch.#", "webhook.delivery.requested.v1", "webhook.disabled.v1"),
    "auth": ("audit.recorded.v1", "org.usage.v1"),
}

_SUMMARIES = {
    "file.uploaded.v1": "A file's bytes are stored; it waits to be parsed.",
    "file.progress.v1": "A file moved forward in the pipeline (throttled to a few per second per file).",
    "file.parsed.v1": "A file was parsed; the summary describes the shape of its content.",
    "file.failed.v1": "A file's processing failed; stage and error say where and why.",
    "file.deleted.v1": "A file was deleted; its parsed data must go too.",
    "file.cancelled.v1": "A queued or running parse was cancelled; the parser stops it and drops its data.",
    "file.job.requested.v1": "Analyse a parsed file, or convert it to a target format; the parser runs the job.",
    "file.job.progress.v1": "A running analysis or conversion moved forward (throttled to a few per second per job).",
    "file.analyzed.v1": "A file's analysis (language, sentences, keywords, sentiment, reading figures) is stored.",
    "file.converted.v1": "A file's conversion to another format is stored in the blob store.",
    "file.job.failed.v1": "An analysis or conversion failed; error says why. The parsed file is unchanged.",
    "file.job.cancelled.v1": "A queued or running analysis or conversion was cancelled; the parser stops it.",
    "user.deleted.v1": "A user was deleted; their files must go too.",
    "apikey.created.v1": "An API key was created, or its owner's role changed; the gateway accepts it.",
    "apikey.revoked.v1": "An API key was revoked, or its owner disabled or deleted; the gateway refuses it.",
    "audit.recorded.v1": "A security-relevant action happened; auth stores it, once, in its append-only audit log.",
    "batch.completed.v1": "Every file of an upload batch is terminal; announced once per batch.",
    "batch.progress.v1": "A batch's aggregate figures after one of its files moved; relayed to its subscribers.",
    "org.updated.v1": "An organization as it now is: created, renamed, its quotas changed, or deleted.",
    "org.member.updated.v1": "A user's membership of an organization as it now is (role None: removed).",
    "org.usage.v1": "What an organization stores, as the gateway counted it; auth shows it with the organization.",
    "webhook.delivery.requested.v1": (
        "Make or retry one webhook delivery, on the notifier's shared queue (one replica sends each)."
    ),
    "webhook.disabled.v1": "A webhook endpoint kept failing and was disabled; its owner is told.",
}
_RECEIVE_NOTES = {
    "notifier": (
        "Each replica binds its own exclusive queue for file.# and batch.#, so every replica sees every event;"
        " webhook work goes through shared quorum queues, so one replica handles each."
    ),
}
_SHARED_QUEUE_NOTE = (
    "Replicas share one durable quorum queue (competing consumers); manual ack after the effect is stored, "
    f"dead-lettered to {DEAD_LETTER_EXCHANGE} after the delivery limit."
)
_AMQP_BINDING_VERSION = "0.3.0"


# -- JSON Schema per event -------------------------------------------------------


def event_schema(event_type: str) -> dict[str, Any]:
    """The schema of an envelope of ``event_type``, its payload model inlined into ``$defs``."""
    payload_model = EVENT_TYPES[event_type]
    schema = Envelope.model_json_schema()
    payload = payload_model.model_json_schema()
    defs = {**schema.pop("$defs", {}), **payload.pop("$defs", {}), payload_model.__name__: payload}
    schema["properties"]["type"] = {"const": event_type, "title": "Type", "type": "string"}
    schema["properties"]["data"] = {"$ref": f"#/$defs/{payload_model.__name__}"}
    schema.update(
        {
            "$schema": JSON_SCHEMA_DIALECT,
            "title": event_type,
            "description": f"{_SUMMARIES.get(event_type, event_type)} {schema.get('description', '')}".strip(),
            "$defs": defs,
        }
    )
    ordered: dict[str, Any] = _ordered(schema)
    return ordered


_FIRST_KEYS = ("$schema", "$id", "title", "description", "type")


def _ordered(schema: Any, *, is_properties: bool = False) -> Any:
    """Keys sorted (a few well-known ones first, ``$defs`` last); property maps keep field order."""
    if isinstance(schema, list):
        return [_ordered(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if is_properties:
        return {name: _ordered(sub) for name, sub in schema.items()}

    def rank(key: str) -> tuple[int, str]:
        if key in _FIRST_KEYS:
            return (_FIRST_KEYS.index(key), key)
        return (len(_FIRST_KEYS) + (key == "$defs"), key)

    return {key: _ordered(schema[key], is_properties=key == "properties") for key in sorted(schema, key=rank)}


def _schema_path(event_type: str) -> str:
    return f"{EVENTS_DIR}/{event_type}.schema.json"


# -- AsyncAPI ------------------------------------------------------------------------


def _ident(name: str) -> str:
    """``file.uploaded.v1`` → ``fileUploadedV1``; AsyncAPI keys allow only ``[A-Za-z0-9_-]``."""
    words = [word for word in re.split(r"[^A-Za-z0-9]+", name.replace("#", "all")) if word]
    return words[0] + "".join(word[:1].upper() + word[1:] for word in words[1:])


def _matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic matching: ``*`` stands for one word, ``#`` for zero or more."""

    def match(words: list[str], key: list[str]) -> bool:
        if not words:
            return not key
        if words[0] == "#":
            return any(match(words[1:], key[i:]) for i in range(len(key) + 1))
        return bool(key) and words[0] in ("*", key[0]) and match(words[1:], key[1:])

    return match(pattern.split("."), routing_key.split("."))


def _channel(address: str, event_types: list[str]) -> dict[str, Any]:
    exact = address in EVENT_TYPES
    return {
        "address": address,
        "title": address,
        "description": (
            f"Routing key `{address}` on the `{EXCHANGE}` topic exchange."
            if exact
            else f"Binding key `{address}` on the `{EXCHANGE}` topic exchange: " + ", ".join(event_types) + "."
        ),
        "messages": {_ident(t): {"$ref": f"#/components/messages/{_ident(t)}"} for t in event_types},
        "bindings": {
            "amqp": {
                "is": "routingKey",
                "exchange": {"name": EXCHANGE, "type": "topic", "durable": True, "autoDelete": False, "vhost": "/"},
                "bindingVersion": _AMQP_BINDING_VERSION,
            }
        },
    }


def _operation(service: str, action: str, address: str, event_types: list[str]) -> dict[str, Any]:
    channel = _ident(address)
    verb = "publishes" if action == "send" else "consumes"
    if action == "send":
        binding: dict[str, Any] = {"deliveryMode": 2, "bindingVersion": _AMQP_BINDING_VERSION}
        description = "Persistent message, published with publisher confirms."
    else:
        binding = {"ack": True, "bindingVersion": _AMQP_BINDING_VERSION}
        description = _RECEIVE_NOTES.get(service, _SHARED_QUEUE_NOTE) + " Consumers are idempotent."
    return {
        "action": action,
        "channel": {"$ref": f"#/channels/{channel}"},
        "title": f"{service} {verb} {address}",
        "description": description,
        "tags": [{"name": service}],
        "messages": [{"$ref": f"#/channels/{channel}/messages/{_ident(t)}"} for t in event_types],
        "bindings": {"amqp": binding},
    }


def _message(event_type: str) -> dict[str, Any]:
    return {
        "name": event_type,
        "title": event_type,
        "summary": _SUMMARIES.get(event_type, event_type),
        "contentType": "application/json",
        "payload": {"$ref": f"./{_schema_path(event_type)}"},
        "correlationId": {"location": "$message.payload#/correlation_id"},
        "bindings": {"amqp": {"messageType": event_type, "bindingVersion": _AMQP_BINDING_VERSION}},
    }


def asyncapi() -> dict[str, Any]:
    """The AsyncAPI 3.0 document of the bus: a channel per binding key, an operation per service and key."""
    types = list(EVENT_TYPES)
    addresses = list(types)
    for keys in RECEIVES.values():
        addresses += [key for key in keys if key not in addresses]
    matching = {address: [t for t in types if _matches(address, t)] for address in addresses}
    for address, found in matching.items():
        if not found:
            raise ValueError(f"binding key {address!r} matches no event type")
    operations: dict[str, Any] = {}
    for action, table in (("send", SENDS), ("receive", RECEIVES)):
        for service, keys in table.items():
            for key in keys:
                operations[_ident(f"{service}.{action}.{key}")] = _operation(service, action, key, matching[key])
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Ferry events",
            "version": "1.0.0",
            "description": (
                f"Events on the `{EXCHANGE}` topic exchange (durable); the routing key is the event type. "
                "Every message is a CloudEvents 1.0 envelope plus correlation_id, its data the typed payload. "
                "Generated from ferry_core.events by ferry_core.contracts; do not edit."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "rabbitmq": {
                "host": "rabbitmq:5672",
                "protocol": "amqp",
                "protocolVersion": "0.9.1",
                "description": "RabbitMQ as docker-compose.yml names it; services read FERRY_AMQP_URL.",
            }
        },
        "channels": {_ident(address): _channel(address, found) for address, found in matching.items()},
        "operations": operations,
        "components": {"messages": {_ident(t): _message(t) for t in types}},
    }


# -- a small YAML writer (block style, quoted where a plain scalar could be misread) ---------

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./ -]*[A-Za-z0-9_./-]|[A-Za-z_]")
_RESERVED = {"true", "false", "yes", "no", "on", "off", "y", "n", "null"}


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, str) and _PLAIN.fullmatch(value) and value.lower() not in _RESERVED:
        return value
    # JSON's spelling of strings, numbers, booleans, null and empty collections is also YAML's.
    return json.dumps(value)


def _yaml_lines(value: Any, indent: int) -> list[str]:
    pad = "  " * indent
    lines: list[str] = []
    items = value.items() if isinstance(value, dict) else ((None, item) for item in value)
    for key, item in items:
        head = f"{pad}{_yaml_scalar(str(key))}:" if isinstance(value, dict) else f"{pad}-"
        if isinstance(item, dict | list) and item:
            nested = _yaml_lines(item, indent + 1)
            if isinstance(value, list):
                lines.append(f"{head} {nested[0].lstrip()}")
                lines += nested[1:]
            else:
                lines.append(head)
                lines += nested
        else:
            lines.append(f"{head} {_yaml_scalar(item)}")
    return lines


def to_yaml(document: dict[str, Any]) -> str:
    return "\n".join(_yaml_lines(document, 0)) + "\n"


# -- render, write, check ----------------------------------------------------------------


def render() -> dict[str, str]:
    """Every generated file: path relative to ``contracts/`` → text."""
    files = {_schema_path(t): json.dumps(event_schema(t), indent=2, ensure_ascii=False) + "\n" for t in EVENT_TYPES}
    header = "# Generated from ferry_core.events by ferry_core.contracts; regenerate with `make contracts`.\n"
    files[ASYNCAPI_PATH] = header + to_yaml(asyncapi())
    return files


def _owned(root: Path) -> set[str]:
    """Files on disk that the generator owns (README.md and openapi/ are not ours)."""
    found = {path.relative_to(root).as_posix() for path in (root / EVENTS_DIR).glob("*.schema.json")}
    found |= {path.name for path in root.glob("asyncapi.*")}
    return found


def check(root: Path, extra: dict[str, str] | None = None) -> list[str]:
    """Paths under ``root`` that differ from ``render()`` (plus ``extra``), are missing, or are no longer generated.

    ``extra`` holds documents generated elsewhere (the services' OpenAPI, which a lib cannot import).
    """
    expected = render() | (extra or {})
    drift = [
        path
        for path, text in expected.items()
        if not (root / path).is_file() or (root / path).read_text(encoding="utf-8") != text
    ]
    return sorted(drift + [path for path in _owned(root) if path not in expected])


def write(root: Path, extra: dict[str, str] | None = None) -> list[str]:
    """Bring ``root`` up to date; returns the paths written or removed."""
    changed = check(root, extra)
    expected = render() | (extra or {})
    for path in changed:
        target = root / path
        if path in expected:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(expected[path], encoding="utf-8")
        else:
            target.unlink()
    return changed


def run(command: str, root: Path, extra: dict[str, str] | None = None) -> int:
    """``write`` or ``check`` with a report on the terminal; the exit code of the command."""
    if command == "write":
        changed = write(root, extra)
        print(f"{root}: {len(changed)} file(s) updated" + "".join(f"\n  {path}" for path in changed))
        return 0
    drift = check(root, extra)
    if not drift:
        print(f"{root}: contracts match the code")
        return 0
    print(f"{root}: generated contracts differ from the code:", file=sys.stderr)
    for path in drift:
        print(f"  {path}", file=sys.stderr)
    print(f"regenerate with: {REGENERATE}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ferry_core.contracts", description="Generate or check contracts/.")
    parser.add_argument("command", choices=["write", "check"])
    parser.add_argument("--root", type=Path, default=Path("contracts"), help="the contracts directory")
    args = parser.parse_args(argv)
    return run(args.command, args.root)


if __name__ == "__main__":
    sys.exit(main())
