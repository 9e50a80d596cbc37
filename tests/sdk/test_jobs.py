"""Analyses and conversions through the SDK and the ``ferry`` command, against a running ``ferry dev``."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import polars as pl
import pytest
from typer.testing import CliRunner

from ferry_launcher.cli import app
from ferry_sdk import AsyncFerryClient, Conflict, FerryClient, JobStatus, NotFound, Unprocessable

from .conftest import new_user

REVIEWS = (
    "id,review\n"
    '1,"This blender is excellent. It is powerful, quiet and wonderfully easy to clean."\n'
    '2,"I love the blender. The smoothies are great and the design is beautiful."\n'
    '3,"An excellent blender that makes wonderful soups. Highly recommended."\n'
)


@pytest.fixture
def reviews(tmp_path: Path) -> Path:
    path = tmp_path / "reviews.csv"
    path.write_text(REVIEWS)
    return path


def test_an_upload_with_analyze_is_analysed_from_its_text_columns(client: FerryClient, reviews: Path) -> None:
    record = client.upload(reviews, analyze=True)
    assert record.analyze is True
    client.wait(record.file_id)
    analysis = client.wait_analysis(record.file_id, timeout=120)
    assert analysis.status == JobStatus.DONE, analysis.error
    assert analysis.result is not None
    assert analysis.result.language is not None and analysis.result.language["code"] == "en"
    assert analysis.result.sentiment["label"] == "positive"
    assert any("blender" in keyword["text"].lower() for keyword in analysis.result.keywords)
    assert client.analyze(record.file_id).analysis_id == analysis.analysis_id  # asked again: the same one


def test_conversions_download_and_presigned_urls(client: FerryClient, csv_file: Path, tmp_path: Path) -> None:
    file_id = client.upload(csv_file).file_id
    with pytest.raises(NotFound):
        client.analysis(file_id)
    client.wait(file_id)
    conversion = client.convert(file_id, "parquet", wait=60)
    assert conversion.status == JobStatus.DONE and conversion.filename == "people.parquet"
    written = client.download_conversion(file_id, conversion.conversion_id, tmp_path / "out.parquet")
    assert written == conversion.size
    frame = pl.read_parquet(tmp_path / "out.parquet")
    assert frame.height == 250 and frame["name"][0] == "name 1" and frame["score"][249] == 375.0
    assert [c.conversion_id for c in client.conversions(file_id).items] == [conversion.conversion_id]
    with pytest.raises(Unprocessable) as refused:
        client.convert(file_id, "pdf")
    assert "parquet" in str(refused.value.detail)

    # Presigned: no credentials needed, until it expires.
    for link in (client.download_url(file_id), client.download_url(file_id, conversion.conversion_id)):
        assert httpx.get(link.url).status_code == 200
    assert httpx.get(client.download_url(file_id).url).content == csv_file.read_bytes()

    with new_user(client.url) as other, pytest.raises(NotFound):
        other.conversion(file_id, conversion.conversion_id)
    client.delete_conversion(file_id, conversion.conversion_id)
    with pytest.raises(NotFound):
        client.conversion(file_id, conversion.conversion_id)


async def test_the_async_client_converts_and_refuses_an_unparsed_file(
    aclient: AsyncFerryClient, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"a": [1, 2')
    failed = await aclient.upload(broken)
    await aclient.wait(failed.file_id)
    with pytest.raises(Conflict):
        await aclient.analyze(failed.file_id)

    table = tmp_path / "t.csv"
    table.write_text("a,b\n1,x\n2,y\n")
    file_id = (await aclient.upload(table)).file_id
    await aclient.wait(file_id)
    conversion = await aclient.convert(file_id, "ndjson", wait=60)
    out = tmp_path / "t.ndjson"
    await aclient.download_conversion(file_id, conversion.conversion_id, out)
    assert [json.loads(line) for line in out.read_text().splitlines()] == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]


def test_ferry_analyze_and_convert(signed_in: str, runner: CliRunner, reviews: Path, tmp_path: Path) -> None:
    uploaded = runner.invoke(app, ["upload", str(reviews), "--watch", "--json"])
    assert uploaded.exit_code == 0, uploaded.output
    file_id = json.loads(uploaded.stdout)[0]["file"]["file_id"]

    analysed = runner.invoke(app, ["analyze", file_id])
    assert analysed.exit_code == 0, analysed.output
    assert "English (en)" in analysed.stdout and "positive" in analysed.stdout and "blender" in analysed.stdout

    target = tmp_path / "reviews.xlsx"
    converted = runner.invoke(app, ["convert", file_id, "--to", "xlsx", "-o", str(target)])
    assert converted.exit_code == 0, converted.output
    assert pl.read_excel(target)["id"].to_list() == [1, 2, 3]
    refused = runner.invoke(app, ["convert", file_id, "--to", "docx"])
    assert refused.exit_code != 0 and "csv" in refused.output
