"""Text with nothing to analyse, or that libraries choke on: no exception, sensible nulls."""

import time
from typing import Any

import pytest

from ferry_parser.analysis import Analyzer, TextUnit

NOTHING = ["", "   \n\t  ", "12345 678.90 -3 1,000", "--- *** ||| ... ???", "\x00\x01\ufffd"]


def analyze(*texts: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    analyzer = Analyzer()
    pages: list[dict[str, Any]] = []
    for number, text in enumerate(texts, start=1):
        pages += analyzer.feed(TextUnit(number, text))
    rest, document = analyzer.finish()
    return pages + rest, document


@pytest.mark.parametrize("text", NOTHING)
def test_text_without_words(text: str) -> None:
    pages, document = analyze(text)
    assert pages == [
        {
            "number": 1,
            "words": 0,
            "sentences": 0,
            "keywords": [],
            "sentiment": document["sentiment"],
        }
    ]
    assert document["language"] is None
    assert document["sentiment"]["supported"] is False
    assert document["keywords"] == []
    assert document["sentences"] == {"count": 0, "sample": []}
    assert document["reading"] == {
        "words": 0,
        "unique_words": 0,
        "unique_words_exact": True,
        "sentences": 0,
        "average_sentence_length": None,
        "readability": None,
    }
    assert document["pages"] == 1


def test_no_pages_at_all() -> None:
    pages, document = analyze()
    assert pages == []
    assert document["pages"] == 0
    assert document["language"] is None
    assert document["reading"]["words"] == 0


def test_huge_single_word_is_no_word_and_is_quick() -> None:
    started = time.perf_counter()
    pages, document = analyze("x" * 1_000_000, "A" * 200_000 + " and then some words.")
    assert time.perf_counter() - started < 20
    assert pages[0]["words"] == 0
    assert pages[1]["words"] == 4
    assert all(len(k["text"]) < 100 for k in document["keywords"])


def test_long_page_is_analysed_in_slices() -> None:
    paragraph = "Solar panels turn sunlight into electricity for the house. The battery stores it for the night.\n\n"
    text = paragraph * 2_000  # ~200 k characters: pysbd alone would take minutes on it whole
    started = time.perf_counter()
    pages, document = analyze(text)
    assert time.perf_counter() - started < 60
    assert pages[0]["sentences"] == 4_000
    assert pages[0]["words"] == 32_000
    assert document["reading"]["unique_words"] == 13
    assert any("solar" in k["text"].lower() for k in pages[0]["keywords"][:3])
    assert document["sentiment"]["supported"] is True


def test_mixed_scripts() -> None:
    text = (
        "Привет, как дела? Hello, how are you? 今日はいい天気ですね。مرحبا بكم في المدينة. "
        "Γειά σου κόσμε. שלום עולם. 안녕하세요 여러분. "
    ) * 3
    pages, document = analyze(text)
    assert pages[0]["words"] > 0
    assert pages[0]["sentences"] > 0
    language = document["language"]
    assert language is None or {"code", "name", "confidence"} <= set(language)
    if language is None or language["code"] != "en":
        assert document["sentiment"]["supported"] is False


def test_chinese_counts_characters_as_words() -> None:
    pages, document = analyze("我们今天去公园散步。天气很好，大家都很开心。" * 5)
    assert document["language"]["code"] == "zh"
    assert pages[0]["words"] == 19 * 5
    assert pages[0]["sentences"] == 10
    assert document["sentiment"]["supported"] is False
    assert document["reading"]["readability"] is None


def test_huge_run_of_chinese_characters() -> None:
    started = time.perf_counter()
    pages, _ = analyze("天气很好" * 50_000)
    assert time.perf_counter() - started < 30
    assert pages[0]["words"] == 200_000


def test_fed_after_finish_is_refused() -> None:
    analyzer = Analyzer()
    analyzer.finish()
    with pytest.raises(RuntimeError):
        analyzer.feed(TextUnit(1, "late"))
