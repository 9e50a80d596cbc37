"""``.env.example`` names every setting a service reads, so an operator finds each one in one place."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from ferry_auth.settings import AuthSettings
from ferry_ingest.settings import IngestSettings
from ferry_notifier.settings import NotifierSettings
from ferry_parser.settings import ParserSettings


@pytest.mark.parametrize("settings", [AuthSettings, IngestSettings, ParserSettings, NotifierSettings])
def test_env_example_documents_every_setting_of_every_service(repo: Path, settings: type[BaseSettings]) -> None:
    example = (repo / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, flags=re.MULTILINE))
    prefix = str(settings.model_config.get("env_prefix", ""))
    names = {f"{prefix}{field}".upper() for field in settings.model_fields}
    assert names - documented == set()
