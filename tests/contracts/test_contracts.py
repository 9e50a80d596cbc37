"""contracts/ is generated from ferry_core.events; these tests fail when the two disagree."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ferry_core import contracts
from ferry_core.events import (
    EVENT_TYPES,
    ApiKeyCreated,
    ApiKeyRevoked,
    AuditAction,
    AuditRecorded,
    AuditTarget,
    BatchCompleted,
    BatchProgress,
    Envelope,
    ErrorInfo,
    FileAnalyzed,
    FileCancelled,
    FileConverted,
    FileDeleted,
    FileFailed,
    FileJobCancelled,
    FileJobFailed,
    FileJobProgress,
    FileJobRequested,
    FileParsed,
    FileProgress,
    FileStatus,
    FileUploaded,
    JobKind,
    OrgMemberUpdated,
    OrgQuotas,
    OrgUpdated,
    OrgUsage,
    Stage,
    Summary,
    UserDeleted,
    WebhookDeliveryRequested,
    WebhookDisabled,
)
from ferry_core.orgs import OrgRole

CONTRACTS_DIR = Path(__file__).resolve().parents[2] / "contracts"

SAMPLES = {
    "file.uploaded.v1": FileUploaded(
        file_id="f1",
        owner_id="u1",
        filename="a.csv",
        content_type="text/csv",
        size=3,
        sha256="0" * 64,
        format="csv",
        blob_key="f1",
    ),
    "file.progress.v1": FileProgress(
        file_id="f1", owner_id="u1", status=FileStatus.PARSING, stage=Stage.PARSE, progress=40, rows_done=10
    ),
    "file.parsed.v1": FileParsed(file_id="f1", owner_id="u1", summary=Summary(kind="table", rows=1), duration_ms=5),
    "file.failed.v1": FileFailed(
        file_id="f1", owner_id="u1", stage=Stage.PARSE, error=ErrorInfo(code="bad_csv", message="no")
    ),
    "file.deleted.v1": FileDeleted(file_id="f1", owner_id="u1"),
    "file.job.requested.v1": FileJobRequested(
        job_id="j1",
        kind=JobKind.CONVERSION,
        file_id="f1",
        owner_id="u1",
        filename="a.xlsx",
        format="xlsx",
        blob_key="f1",
        target="csv",
        sheet="Stock",
    ),
    "file.job.progress.v1": FileJobProgress(
        job_id="j1", kind=JobKind.ANALYSIS, file_id="f1", owner_id="u1", progress=50, done=2, total=4
    ),
    "file.analyzed.v1": FileAnalyzed(
        job_id="j1", file_id="f1", owner_id="u1", language="en", pages=4, words=900, sentences=40, sentiment="neutral"
    ),
    "file.converted.v1": FileConverted(
        job_id="j1",
        file_id="f1",
        owner_id="u1",
        target="csv",
        result_key="f1.conversions.j1.csv",
        filename="a.csv",
        content_type="text/csv; charset=utf-8",
        size=10,
        sha256="0" * 64,
        duration_ms=12,
    ),
    "file.job.failed.v1": FileJobFailed(
        job_id="j1", kind=JobKind.CONVERSION, file_id="f1", owner_id="u1", error=ErrorInfo(code="timeout", message="no")
    ),
    "file.job.cancelled.v1": FileJobCancelled(job_id="j1", kind=JobKind.ANALYSIS, file_id="f1", owner_id="u1"),
    "file.cancelled.v1": FileCancelled(file_id="f1", owner_id="u1"),
    "user.deleted.v1": UserDeleted(user_id="u1"),
    "apikey.created.v1": ApiKeyCreated(
        key_id="k1", owner_id="u1", role="user", key_hash="0" * 64, name="ci", prefix="fry_abcdefgh", revision=1
    ),
    "apikey.revoked.v1": ApiKeyRevoked(key_id="k1", owner_id="u1"),
    "batch.completed.v1": BatchCompleted(batch_id="b1", owner_id="u1", counts={"parsed": 2, "failed": 1}),
    "batch.progress.v1": BatchProgress(
        batch_id="b1",
        owner_id="u1",
        revision=3,
        files=3,
        counts={"parsed": 2, "parsing": 1},
        bytes=300,
        rows=20,
        progress=66,
        complete=False,
    ),
    "org.updated.v1": OrgUpdated(
        org_id="o1", name="Acme", personal=False, created_by="u1", quotas=OrgQuotas(max_files=100), revision=2
    ),
    "org.member.updated.v1": OrgMemberUpdated(org_id="o1", user_id="u2", role=OrgRole.MEMBER, revision=1),
    "org.usage.v1": OrgUsage(org_id="o1", bytes=300, files=3, measured_at=datetime(2026, 1, 1, tzinfo=UTC)),
    "webhook.delivery.requested.v1": WebhookDeliveryRequested(delivery_id="msg_e1_wh_1", endpoint_id="wh_1", attempt=2),
    "webhook.disabled.v1": WebhookDisabled(
        endpoint_id="wh_1",
        owner_id="u1",
        url="https://hooks.example.com/ferry",
        reason="every delivery failed for 3 days",
        failing_since=datetime(2026, 1, 1, tzinfo=UTC),
    ),
    "audit.recorded.v1": AuditRecorded(
        time=datetime(2026, 1, 1, tzinfo=UTC),
        actor_id=None,
        actor_name="alice",
        action=AuditAction.LOGIN_FAILED,
        target=AuditTarget(type="user", id="u1"),
        outcome="failure",
        reason="invalid_credentials",
        client_address="203.0.113.7",
        request_id="r1",
        correlation_id="c1",
    ),
}


def test_repository_contracts_match_the_code() -> None:
    drift = contracts.check(CONTRACTS_DIR)
    assert drift == [], f"contracts/ is stale ({', '.join(drift)}); regenerate with {contracts.REGENERATE}"


def test_every_event_type_has_a_schema_file_and_a_sample() -> None:
    rendered = contracts.render()
    assert set(SAMPLES) == set(EVENT_TYPES)
    for event_type in EVENT_TYPES:
        assert f"events/{event_type}.schema.json" in rendered
    assert all(text.endswith("\n") for text in rendered.values())


def test_render_is_stable() -> None:
    assert contracts.render() == contracts.render()


def test_a_changed_missing_or_extra_file_is_detected(tmp_path: Path) -> None:
    contracts.write(tmp_path)
    assert contracts.check(tmp_path) == []

    changed = tmp_path / "events" / "file.parsed.v1.schema.json"
    changed.write_text(changed.read_text().replace('"duration_ms"', '"duration"'))
    (tmp_path / "asyncapi.yaml").unlink()
    (tmp_path / "events" / "file.renamed.v1.schema.json").write_text("{}\n")
    # Files the generator does not own are left alone.
    (tmp_path / "README.md").write_text("notes\n")
    (tmp_path / "openapi").mkdir()
    (tmp_path / "openapi" / "ingest.json").write_text("{}\n")

    drift = ["asyncapi.yaml", "events/file.parsed.v1.schema.json", "events/file.renamed.v1.schema.json"]
    assert contracts.check(tmp_path) == drift
    assert contracts.write(tmp_path) == drift
    assert contracts.check(tmp_path) == []
    assert not (tmp_path / "events" / "file.renamed.v1.schema.json").exists()
    assert (tmp_path / "openapi" / "ingest.json").exists()


def test_check_command_exits_1_and_names_the_regenerate_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert contracts.main(["check", "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "make contracts" in err
    assert "asyncapi.yaml" in err
    assert contracts.main(["write", "--root", str(tmp_path)]) == 0
    assert contracts.main(["check", "--root", str(tmp_path)]) == 0


@pytest.mark.parametrize("event_type", list(EVENT_TYPES))
def test_real_envelopes_validate_against_their_schema(event_type: str) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = contracts.event_schema(event_type)
    validator = jsonschema.Draft202012Validator(schema)
    validator.check_schema(schema)
    envelope = Envelope.wrap(SAMPLES[event_type], source="ferry-test", subject="f1", correlation_id="c1")
    validator.validate(envelope.model_dump(mode="json"))

    wrong_type = envelope.model_dump(mode="json") | {"type": "file.other.v1"}
    assert not validator.is_valid(wrong_type)
    missing_field = envelope.model_dump(mode="json")
    missing_field["data"].pop(next(iter(missing_field["data"])))
    assert not validator.is_valid(missing_field)


def test_asyncapi_yaml_reads_back_as_the_document() -> None:
    yaml = pytest.importorskip("yaml")
    assert yaml.safe_load(contracts.render()[contracts.ASYNCAPI_PATH]) == contracts.asyncapi()


def test_asyncapi_wires_every_event_to_a_sender_and_a_receiver() -> None:
    document = contracts.asyncapi()
    operations = document["operations"].values()
    sent = {ref["$ref"].rsplit("/", 1)[1] for op in operations if op["action"] == "send" for ref in op["messages"]}
    received = {
        ref["$ref"].rsplit("/", 1)[1] for op in operations if op["action"] == "receive" for ref in op["messages"]
    }
    messages = document["components"]["messages"]
    assert sent == set(messages)
    assert received == set(messages)  # every event has a consumer
    rendered = contracts.render()
    for message in messages.values():
        assert message["payload"]["$ref"].removeprefix("./") in rendered
    notifier = document["operations"]["notifierReceiveFileAll"]
    assert document["channels"]["fileAll"]["address"] == "file.#"
    assert len(notifier["messages"]) == sum(t.startswith("file.") for t in EVENT_TYPES)


@pytest.mark.parametrize(
    "value",
    [
        {"a": ["yes", "No", "null", "1.0", "", "-", "a: b", "#x", " x", "x ", "é", 'say "hi"\n']},
        {"nested": [[1, 2], [], {}, [{"k": True, "v": None}]], "$ref": "#/a", "n": 1.5},
    ],
)
def test_yaml_writer_round_trips(value: dict[str, Any]) -> None:
    yaml = pytest.importorskip("yaml")
    assert yaml.safe_load(contracts.to_yaml(value)) == value
