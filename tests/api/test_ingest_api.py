"""Property-based run over the gateway's OpenAPI document: no 500s, and every answer as documented.

About half of the cases that name a file are aimed at one that exists: a parsed
table or text file of the caller's, or a fresh upload for the cases that delete
or cancel it. Callers alternate between a bearer token and an API key; the admin
routes are called as the admin.
"""

from __future__ import annotations

from hypothesis import strategies as st
from schemathesis import Case

from tests.api.conftest import CHECKS, CSV, SETTINGS, World, contract_schema, record

schema = contract_schema("ingest")

# Operations that change the file they name get a fresh upload of their own.
CONSUMING = {"DELETE /files/{file_id}", "POST /files/{file_id}/cancel"}


@schema.parametrize()
@schema.given(aim=st.sampled_from(["none", "table", "text"]), by_key=st.booleans())
@SETTINGS
def test_files_api(case: Case, aim: str, by_key: bool, world: World) -> None:
    operation = f"{case.method.upper()} {case.operation.path}"
    if "file_id" in case.path_parameters and aim != "none":
        if operation in CONSUMING:
            case.path_parameters["file_id"] = world.upload(world.user, "doomed.csv", CSV)
        else:
            case.path_parameters["file_id"] = world.parsed_files[aim]
    caller = world.admin if case.operation.path.startswith("/admin") else world.user
    headers = caller.key if by_key else caller.bearer
    response = case.call_and_validate(base_url=world.urls.files, headers=headers, checks=CHECKS)
    record(world, "ingest", operation, response.status_code)
