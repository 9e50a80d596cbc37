"""The SDK's response models keep every field the services' OpenAPI documents name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from ferry_sdk import analytics, models

OPENAPI = Path(__file__).resolve().parents[2] / "contracts" / "openapi"

PAIRS = [
    ("auth", "TokenResponse", models.TokenPair),
    ("auth", "UserOut", models.User),
    ("auth", "UserPage", models.UserPage),
    ("auth", "ApiKeyOut", models.ApiKey),
    ("auth", "ApiKeyWithSecret", models.ApiKeyWithSecret),
    ("auth", "TotpStatus", models.TotpStatus),
    ("auth", "TotpEnrollment", models.TotpEnrollment),
    ("auth", "RecoveryCodes", models.RecoveryCodes),
    ("auth", "OrgSummary", models.OrgSummary),
    ("auth", "OrgOut", models.Org),
    ("auth", "OrgPage", models.OrgList),
    ("auth", "UsageOut", models.OrgUsage),
    ("auth", "OrgQuotas", models.OrgQuotas),
    ("auth", "MemberOut", models.Member),
    ("auth", "MembershipOut", models.Membership),
    ("auth", "InvitationOut", models.Invitation),
    ("auth", "InvitationWithToken", models.InvitationWithToken),
    ("auth", "InvitationList", models.InvitationList),
    ("ingest", "FileRecord", models.FileRecord),
    ("ingest", "FileDetail", models.FileDetail),
    ("ingest", "FileList", models.FileList),
    ("ingest", "FileStats", models.FileStats),
    ("ingest", "TableContent", models.TableContent),
    ("ingest", "PagesContent", models.PagesContent),
    ("ingest", "FileProgressView", models.FileProgress),
    ("ingest", "DeadLetterRecord", models.DeadLetter),
    ("ingest", "DeadLetterList", models.DeadLetterList),
    ("ingest", "ReplayReport", models.ReplayReport),
    ("ingest", "ProjectRecord", models.Project),
    ("ingest", "ProjectList", models.ProjectList),
    ("ingest", "BatchRecord", models.Batch),
    ("ingest", "BatchStatistics", models.BatchStatistics),
    ("ingest", "BatchFailure", models.BatchFailure),
    ("ingest", "BatchList", models.BatchList),
    ("ingest", "Conversion", models.Conversion),
    ("ingest", "ConversionList", models.ConversionList),
    ("ingest", "Analysis", models.Analysis),
    ("ingest", "AnalysisResult", models.AnalysisResult),
    ("ingest", "AnalysisPages", models.AnalysisPages),
    ("ingest", "MyAnalytics", analytics.MyAnalytics),
    ("ingest", "OrgAnalytics", analytics.OrgAnalytics),
    ("ingest", "PlatformAnalytics", analytics.PlatformAnalytics),
    ("ingest", "Totals", analytics.Totals),
    ("ingest", "UploadPoint", analytics.UploadPoint),
    ("ingest", "TrendPoint", analytics.TrendPoint),
    ("ingest", "FormatUsage", analytics.FormatUsage),
    ("ingest", "ParseOutcomes", analytics.ParseOutcomes),
    ("ingest", "RecentUpload", analytics.RecentUpload),
    ("ingest", "MemberUsage", analytics.MemberUsage),
    ("ingest", "OrgUsageRow", analytics.OrgUsageRow),
    ("ingest", "InactiveMember", analytics.InactiveMember),
    ("ingest", "FormatParseTime", analytics.FormatParseTime),
    ("notifier", "Webhook", models.Webhook),
    ("notifier", "WebhookWithSecret", models.WebhookWithSecret),
    ("notifier", "WebhookList", models.WebhookList),
    ("notifier", "SecretRotation", models.SecretRotation),
    ("notifier", "Delivery", models.Delivery),
    ("notifier", "DeliveryAttempt", models.DeliveryAttempt),
    ("notifier", "DeliveryList", models.DeliveryList),
]


@pytest.mark.parametrize(("service", "schema", "model"), PAIRS, ids=[p[1] for p in PAIRS])
def test_model_has_every_field_of_the_contract(service: str, schema: str, model: type[BaseModel]) -> None:
    document = json.loads((OPENAPI / f"{service}.json").read_text())
    properties = document["components"]["schemas"][schema]["properties"]
    fields = {field.alias or name: field for name, field in model.model_fields.items()}  # "from" is from_ here
    assert set(properties) <= set(fields), f"{model.__name__} lacks {set(properties) - set(fields)}"
    required = set(document["components"]["schemas"][schema].get("required", []))
    # The model may default a field the server always sends (tolerance), never require one it may leave out.
    required_here = {name for name, field in fields.items() if field.is_required()}
    assert required_here <= required, f"{model.__name__} requires {required_here - required}"
