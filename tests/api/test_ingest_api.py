"""Property-based run over the gateway's OpenAPI document: no 500s, and every answer as documented.

About half of the cases that name a file are aimed at one that exists: a parsed
table or text file of the caller's, or a fresh upload for the cases that delete
or cancel it; cases that name a project get a fresh project of the caller's.
Callers alternate between a bearer token and an API key; the admin routes are
called as the admin.
"""

from __future__ import annotations

from hypothesis import strategies as st
from schemathesis import Case

from tests.api.conftest import CHECKS, CSV, SETTINGS, World, contract_schema, record

schema = contract_schema("ingest")

# Operations that change the file they name get a fresh upload of their own.
CONSUMING = {"DELETE /files/{file_id}", "POST /files/{file_id}/cancel", "DELETE /projects/{project_id}"}


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
    if "project_id" in case.path_parameters and aim != "none":
        # A project of the caller's: a fresh one for a delete, else one made for this case (a PATCH may archive it).
        case.path_parameters["project_id"] = world.create_project(world.user)
    if operation == "POST /files" and isinstance(case.body, dict) and "project_id" in case.body and aim != "none":
        # A generated project id names no project (404): aim at a real one, or upload into none.
        if aim == "table":
            case.body["project_id"] = world.create_project(world.user)
        else:
            del case.body["project_id"]
    caller = world.admin if case.operation.path.startswith("/admin") else world.user
    headers = caller.key if by_key else caller.bearer
    response = case.call_and_validate(base_url=world.urls.files, headers=headers, checks=CHECKS)
    record(world, "ingest", operation, response.status_code)
