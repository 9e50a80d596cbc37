import bson
import polars as pl
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.infra import Document
from ferry_core.readmodels import CHUNKS, ensure_parsed_indexes
from ferry_parser.chunks import Chunk, ChunkCutter, ChunkStore, cuts, row_sizes
from ferry_parser.formats import Page


@pytest.mark.parametrize(
    ("sizes", "max_items", "max_bytes", "expected"),
    [
        ([1] * 10, 4, 100, [(0, 4), (4, 4), (8, 2)]),
        ([30, 30, 30, 30], 10, 65, [(0, 2), (2, 2)]),
        ([500, 1, 1], 10, 100, [(0, 1), (1, 2)]),  # an oversized item travels alone
        ([], 10, 100, []),
    ],
)
def test_cuts(sizes: list[int], max_items: int, max_bytes: int, expected: list[tuple[int, int]]) -> None:
    assert list(cuts(sizes, max_items, max_bytes)) == expected


def test_cutter_numbers_chunks_across_batches() -> None:
    cutter = ChunkCutter(max_items=3, max_bytes=1_000_000)
    first = list(cutter.rows("", pl.DataFrame({"n": [1, 2, 3, 4]})))
    second = list(cutter.rows("", pl.DataFrame({"n": [5, 6]})))
    assert [(c.seq, c.start, c.count) for c in first + second] == [(0, 0, 3), (1, 3, 1), (2, 4, 2)]
    assert second[0].items == [[5], [6]]
    assert cutter.counts() == {"": 3}


def test_chunks_stay_under_the_byte_bound() -> None:
    frame = pl.DataFrame({"id": list(range(500)), "text": ["é" * 300] * 500})
    cutter = ChunkCutter(max_items=2000, max_bytes=20_000)
    chunks = list(cutter.rows("", frame))
    assert sum(c.count for c in chunks) == 500
    assert len(chunks) > 1
    for chunk in chunks:
        encoded = len(bson.encode({"file_id": "f", "part": "", "seq": chunk.seq, "rows": chunk.items}))
        assert encoded <= 20_000


def test_row_sizes_count_text_bytes() -> None:
    sizes = row_sizes(pl.DataFrame({"a": ["ab", None], "b": [1, 2]})).to_list()
    assert sizes[0] - sizes[1] == 2


def test_overlong_cells_are_shortened_and_counted() -> None:
    cutter = ChunkCutter(max_items=10, max_bytes=4000)
    chunks = list(cutter.rows("", pl.DataFrame({"t": ["x" * 5000, "short"]})))
    rows = [row for chunk in chunks for row in chunk.items]
    assert rows == [["x" * 1000], ["short"]]
    assert cutter.truncated_cells == 1


def test_pages_are_cut_into_the_pages_part() -> None:
    cutter = ChunkCutter(max_items=2, max_bytes=1_000_000)
    chunks = list(cutter.pages([Page(1, "a"), Page(2, "b"), Page(3, "c")]))
    assert [(c.part, c.field, c.start, c.count) for c in chunks] == [("pages", "pages", 0, 2), ("pages", "pages", 2, 1)]
    assert chunks[1].items == [{"number": 3, "text": "c"}]


async def test_store_writes_idempotently_and_trims(mongo_db: AsyncDatabase[Document]) -> None:
    await ensure_parsed_indexes(mongo_db)
    store = ChunkStore(mongo_db)
    chunks = [Chunk(part="", seq=i, start=i * 2, field="rows", items=[[i], [i]]) for i in range(3)]
    for chunk in chunks + chunks:
        await store.write("f1", chunk)
    await store.write("f1", Chunk(part="Old sheet", seq=0, start=0, field="rows", items=[[0]]))
    await store.write("f2", chunks[0])
    assert await store.count("f1") == 4

    await store.trim("f1", {"": 2})
    remaining = await mongo_db[CHUNKS].find({"file_id": "f1"}, {"_id": 0}).sort("seq", 1).to_list()
    assert remaining == [
        {"file_id": "f1", "part": "", "seq": 0, "start": 0, "count": 2, "rows": [[0], [0]]},
        {"file_id": "f1", "part": "", "seq": 1, "start": 2, "count": 2, "rows": [[1], [1]]},
    ]
    assert await store.delete_file("f1") == 2
    assert await store.count("f1") == 0
    assert await store.count("f2") == 1
