from pathlib import Path

from ferry_parser.formats.plaintext import LINES_PER_PAGE, paginate


def pages(tmp_path: Path, text: str, cap: int) -> list[tuple[str, int]]:
    path = tmp_path / "t.txt"
    path.write_text(text, encoding="utf-8")
    return list(paginate(path, cap))


def test_pages_hold_a_hundred_lines(tmp_path: Path) -> None:
    text = "".join(f"line {i}\n" for i in range(LINES_PER_PAGE * 2 + 1))
    result = pages(tmp_path, text, cap=1_000_000)
    assert [count for _, count in result] == [100, 100, 1]
    assert result[2][0] == "line 200"


def test_pages_are_bounded_by_characters(tmp_path: Path) -> None:
    result = pages(tmp_path, "abcd\n" * 10, cap=12)
    assert all(len(page) <= 12 for page, _ in result)
    assert sum(count for _, count in result) == 10


def test_a_long_line_is_split_not_lost(tmp_path: Path) -> None:
    result = pages(tmp_path, "short\n" + "x" * 25 + "\nend\n", cap=10)
    assert "".join(page for page, _ in result).replace("\n", "") == "short" + "x" * 25 + "end"
    assert sum(count for _, count in result) == 3
