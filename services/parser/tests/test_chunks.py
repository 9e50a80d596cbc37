import bson
import polars as pl
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.infra import Document
from ferry_core.readmodels import CHUNKS, ensure_parsed_indexes
from ferry_parser.chunks import Chunk, ChunkCutter, ChunkStore, cuts, page_size, row_sizes
from ferry_parser.formats import Block, Page


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
    cutter = ChunkCutter(file_id="f", max_items=3, max_bytes=1_000_000)
    first = list(cutter.rows("", pl.DataFrame({"n": [1, 2, 3, 4]})))
    second = list(cutter.rows("", pl.DataFrame({"n": [5, 6]})))
    assert [(c.seq, c.start, c.count) for c in first + second] == [(0, 0, 3), (1, 3, 1), (2, 4, 2)]
    assert second[0].items == [[5], [6]]
    assert {part: position.seq for part, position in cutter.positions.items()} == {"": 3}


def test_chunks_stay_under_the_byte_bound() -> None:
    frame = pl.DataFrame({"id": list(range(500)), "text": ["é" * 300] * 500})
    cutter = ChunkCutter(file_id="f", max_items=2000, max_bytes=20_000)
    chunks = list(cutter.rows("", frame))
    assert sum(c.count for c in chunks) == 500
    assert len(chunks) > 1
    for chunk in chunks:
        assert len(chunk.document) <= 20_000


def test_row_sizes_count_text_bytes() -> None:
    sizes = row_sizes(pl.DataFrame({"a": ["ab", None], "b": [1, 2]})).to_list()
    assert sizes[0] - sizes[1] == 2


def test_overlong_cells_are_shortened_and_counted() -> None:
    cutter = ChunkCutter(file_id="f", max_items=10, max_bytes=4000)
    chunks = list(cutter.rows("", pl.DataFrame({"t": ["x" * 5000, "short"]})))
    rows = [row for chunk in chunks for row in chunk.items]
    assert rows == [["x" * 1000], ["short"]]
    assert cutter.truncated_cells == 1


def test_pages_are_cut_into_the_pages_part() -> None:
    cutter = ChunkCutter(file_id="f", max_items=2, max_bytes=1_000_000)
    chunks = list(cutter.pages([Page(1, "a"), Page(2, "b"), Page(3, "c")]))
    assert [(c.part, c.field, c.start, c.count) for c in chunks] == [("pages", "pages", 0, 2), ("pages", "pages", 2, 1)]
    assert chunks[1].items == [{"number": 3, "text": "c"}]


def test_a_page_with_blocks_stores_only_the_fields_each_block_has() -> None:
    table: list[list[str | None]] = [["a", None]]
    blocks = [Block("heading", text="Title", level=2), Block("table", rows=table)]
    [chunk] = ChunkCutter(file_id="f", max_items=10, max_bytes=1_000_000).pages(
        [Page(1, "Title\n\na\t", tables=[table], blocks=blocks)]
    )
    assert chunk.items == [
        {
            "number": 1,
            "text": "Title\n\na\t",
            "tables": [[["a", None]]],
            "blocks": [{"type": "heading", "level": 2, "text": "Title"}, {"type": "table", "rows": [["a", None]]}],
        }
    ]
    assert page_size(Page(1, "x", blocks=blocks)) > page_size(Page(1, "x"))


async def test_store_begins_afresh_and_replaces_a_chunk_written_twice(mongo_db: AsyncDatabase[Document]) -> None:
    await ensure_parsed_indexes(mongo_db)
    store = ChunkStore(mongo_db)
    # What an interrupted earlier parse left: a chunk of another part and one beyond the new end.
    await store.write(Chunk.encode("f1", "Old sheet", 0, 0, "rows", [[0]]))
    await store.write(Chunk.encode("f1", "", 7, 14, "rows", [["old"]]))
    await store.write(Chunk.encode("f2", "", 0, 0, "rows", [["other file"]]))

    await store.begin("f1")
    chunks = [Chunk.encode("f1", "", i, i * 2, "rows", [[i], [i]]) for i in range(2)]
    await store.write_many(chunks)
    await store.write(Chunk.encode("f1", "", 1, 2, "rows", [["again"], ["again"]]))  # an overlapping parse

    remaining = await mongo_db[CHUNKS].find({"file_id": "f1"}, {"_id": 0}).sort("seq", 1).to_list()
    assert remaining == [
        {"file_id": "f1", "part": "", "seq": 0, "start": 0, "count": 2, "rows": [[0], [0]]},
        {"file_id": "f1", "part": "", "seq": 1, "start": 2, "count": 2, "rows": [["again"], ["again"]]},
    ]
    assert await store.delete_file("f1") == 2
    assert await store.count("f1") == 0
    assert await store.count("f2") == 1


def test_a_chunk_is_its_stored_document() -> None:
    chunk = Chunk.encode("f1", "Sheet", 3, 600, "rows", [(1, "a", None)])
    document = bson.decode(chunk.document)
    assert isinstance(document.pop("_id"), bson.ObjectId)
    assert document == {"file_id": "f1", "part": "Sheet", "seq": 3, "start": 600, "count": 1, "rows": [[1, "a", None]]}
    assert (chunk.file_id, chunk.count, chunk.items) == ("f1", 1, [[1, "a", None]])
