import pytest

from ferry_parser.settings import ParserSettings


def test_defaults() -> None:
    settings = ParserSettings()
    assert settings.port == 8003
    assert settings.parse_concurrency == 1
    assert settings.chunk_rows == 2000
    assert settings.max_chunk_bytes == 1_000_000


def test_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FERRY_PARSE_CONCURRENCY", "4")
    monkeypatch.setenv("FERRY_CHUNK_ROWS", "500")
    monkeypatch.setenv("FERRY_MAX_CHUNK_BYTES", "262144")
    monkeypatch.setenv("FERRY_PARSE_TMP_DIR", "/tmp/ferry-parse")
    settings = ParserSettings()
    assert (settings.parse_concurrency, settings.chunk_rows, settings.max_chunk_bytes) == (4, 500, 262144)
    assert str(settings.parse_tmp_dir) == "/tmp/ferry-parse"


def test_nonsense_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FERRY_PARSE_CONCURRENCY", "0")
    with pytest.raises(ValueError, match="parse_concurrency"):
        ParserSettings()


def test_hostile_input_limits_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FERRY_MAX_PAGES", "7")
    monkeypatch.setenv("FERRY_MAX_UNCOMPRESSED_MB", "3")
    monkeypatch.setenv("FERRY_MAX_COMPRESSION_RATIO", "20")
    settings = ParserSettings()
    assert (settings.max_pages, settings.max_uncompressed_mb, settings.max_compression_ratio) == (7, 3, 20.0)
