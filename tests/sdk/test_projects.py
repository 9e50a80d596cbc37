"""Projects through both clients against a running ``ferry dev``: create, upload into, move, archive, delete."""

from __future__ import annotations

from pathlib import Path

import pytest

from ferry_sdk import AsyncFerryClient, Conflict, FerryClient, NotFound


def test_projects_with_the_sync_client(client: FerryClient, csv_file: Path) -> None:
    project = client.create_project("Reports", description="monthly")
    assert project.name == "Reports" and project.org_id == project.owner_id and project.files == 0
    with pytest.raises(Conflict):
        client.create_project("REPORTS")

    record = client.upload(csv_file, project_id=project.project_id)
    assert record.project_id == project.project_id
    loose = client.upload(csv_file)
    assert client.list_files(project_id=project.project_id).total == 1

    listed = client.list_projects()
    assert [(p.name, p.files, p.bytes) for p in listed.items] == [("Reports", 1, record.size)]
    moved = client.move(loose.file_id, project.project_id)
    assert moved.project_id == project.project_id
    assert client.get_project(project.project_id).files == 2

    archived = client.update_project(project.project_id, archived=True)
    assert archived.archived and client.list_projects(archived=False).total == 0
    with pytest.raises(Conflict) as refused:
        client.upload(csv_file, project_id=project.project_id)
    assert "archived" in refused.value.detail
    client.update_project(project.project_id, name="Old reports", archived=False)

    client.delete_project(project.project_id, with_files=True)
    with pytest.raises(NotFound):
        client.get_project(project.project_id)
    with pytest.raises(NotFound):
        client.get(record.file_id)


async def test_projects_with_the_async_client(aclient: AsyncFerryClient, csv_file: Path) -> None:
    project = await aclient.create_project("Inbox")
    record = await aclient.upload(csv_file, project_id=project.project_id)
    assert record.project_id == project.project_id
    out = await aclient.move(record.file_id, None)
    assert out.project_id is None
    renamed = await aclient.update_project(project.project_id, name="Inbox 2", description="new")
    assert (renamed.name, renamed.description) == ("Inbox 2", "new")
    assert (await aclient.list_projects()).total == 1
    await aclient.delete_project(project.project_id)
    assert (await aclient.get(record.file_id)).project_id is None
    with pytest.raises(NotFound):
        await aclient.get_project(project.project_id)
