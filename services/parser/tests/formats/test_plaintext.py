from pathlib import Path

from ferry_parser.formats.plaintext import TextStats, paginate


def pages(tmp_path: Path, text: str, cap: int, encoding: str = "utf-8") -> tuple[list[str], TextStats]:
    path = tmp_path / "t.txt"
    path.write_bytes(text.encode(encoding))
    stats = TextStats()
    return list(paginate(path, encoding, cap, stats)), stats


def test_one_page_per_paragraph(tmp_path: Path) -> None:
    text = "First line.\nSecond line.\n\n\n   \nNext paragraph.\n\nLast, without a line end"
    result, stats = pages(tmp_path, text, cap=1_000_000)
    assert result == ["First line.\nSecond line.", "Next paragraph.", "Last, without a line end"]
    assert (stats.paragraphs, stats.lines, stats.split) == (3, 8, 0)


def test_leading_and_trailing_blank_lines_make_no_pages(tmp_path: Path) -> None:
    result, _ = pages(tmp_path, "\n\n  \nOnly\n\n\n", cap=100)
    assert result == ["Only"]


def test_crlf_and_cp1252_text(tmp_path: Path) -> None:
    result, _ = pages(tmp_path, "Café crème\r\n\r\nÆble\r\n", cap=100, encoding="cp1252")
    assert result == ["Café crème", "Æble"]


def test_a_long_paragraph_continues_at_a_line_end(tmp_path: Path) -> None:
    text = "aaaa\nbbbb\ncccc\n\nshort\n"
    result, stats = pages(tmp_path, text, cap=12)
    assert result == ["aaaa\nbbbb", "cccc", "short"]
    assert (stats.paragraphs, stats.split) == (2, 1)


def test_pages_are_bounded_by_utf8_bytes_and_never_split_a_character(tmp_path: Path) -> None:
    text = "é" * 25 + "\n\n" + "ab€" * 10
    result, stats = pages(tmp_path, text, cap=9)
    assert all(len(page.encode()) <= 9 for page in result)
    assert "".join(result) == text.replace("\n", "")
    assert stats.split == 2


def test_one_huge_line_is_split_not_lost(tmp_path: Path) -> None:
    result, stats = pages(tmp_path, "x" * 25_000 + "\n", cap=10_000)
    assert [len(page) for page in result] == [10_000, 10_000, 5_000]
    assert (stats.paragraphs, stats.lines, stats.split) == (1, 1, 1)
