import codecs
from pathlib import Path

import pytest

from ferry_parser.errors import EmptyFile, Undecodable
from ferry_parser.formats import text


def write(tmp_path: Path, data: bytes, name: str = "f.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("a,b\n1,é\n".encode(), "utf-8"),
        (codecs.BOM_UTF8 + "a,b\n1,é\n".encode(), "utf-8-sig"),
        ("a,b\n1,€ é\n".encode("cp1252"), "cp1252"),
        (b"a,b\n1,\x81\xe9\n", "latin-1"),  # 0x81 is undefined in cp1252
        ("a,b\n1,é\n".encode("utf-16"), "utf-16"),
        ("a,b\n1,é\n".encode("utf-16-le"), "utf-16-le"),
        ("a,b\n1,é\n".encode("utf-16-be"), "utf-16-be"),
    ],
)
def test_detect_encoding(tmp_path: Path, data: bytes, encoding: str) -> None:
    assert text.detect_encoding(write(tmp_path, data)) == encoding


def test_invalid_utf8_late_in_a_large_file_falls_back(tmp_path: Path) -> None:
    data = b"a,b\n" + b"1,plain\n" * 200_000 + "2,caf\xe9\n".encode("latin-1")
    assert text.detect_encoding(write(tmp_path, data)) == "cp1252"


@pytest.mark.parametrize("data", [b"\x00", "a,b\n".encode("utf-16-le") + b"\x00", b"a\x00" * 10 + b"\x00\xd8"])
def test_what_only_looks_like_utf16_is_undecodable(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(Undecodable):
        text.detect_encoding(write(tmp_path, data))


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(EmptyFile):
        text.detect_encoding(write(tmp_path, b""))


def test_binary_content_is_undecodable(tmp_path: Path) -> None:
    data = bytes(range(256)) * 10
    with pytest.raises(Undecodable, match="binary"):
        text.detect_encoding(write(tmp_path, data))


def test_blank_content_is_empty(tmp_path: Path) -> None:
    path = write(tmp_path, codecs.BOM_UTF8 + b"  \r\n\n\t ")
    sample, at_end = text.read_sample(path, text.detect_encoding(path))
    assert at_end
    with pytest.raises(EmptyFile):
        text.require_content(sample, at_end)


def test_sample_drops_the_bom_and_reports_a_cut(tmp_path: Path) -> None:
    path = write(tmp_path, codecs.BOM_UTF8 + b"x" * 100)
    sample, at_end = text.read_sample(path, "utf-8-sig", size=50)
    assert not at_end
    assert sample.startswith("x")
    sample, at_end = text.read_sample(path, "utf-8-sig")
    assert at_end
    assert sample == "x" * 100


def test_utf8_file_is_read_in_place(tmp_path: Path) -> None:
    path = write(tmp_path, b"a\n")
    assert text.utf8_path(path, "utf-8", tmp_path) == path


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1", "utf-16"])
def test_other_encodings_are_transcoded(tmp_path: Path, encoding: str) -> None:
    original = "name;city\nJosé;Köln\n"
    path = write(tmp_path, original.encode(encoding))
    copy = text.utf8_path(path, encoding, tmp_path)
    assert copy != path
    assert copy.read_text("utf-8") == original


def test_lone_carriage_returns_become_newlines(tmp_path: Path) -> None:
    path = write(tmp_path, b"a,b\r1,2\r3,4\r")
    copy = text.utf8_path(path, "utf-8", tmp_path, translate_newlines=True)
    assert copy.read_bytes() == b"a,b\n1,2\n3,4\n"
