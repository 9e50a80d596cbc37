"""The analyzer on texts with known answers: language, sentiment, keywords, sentences, reading, pages."""

from typing import Any

import pytest

from ferry_core.jobs import ANALYSIS_FIELDS
from ferry_parser.analysis import Analyzer, TextUnit

POSITIVE = (
    "I absolutely love this wonderful little café. The coffee is excellent, the pastries are delicious "
    "and the staff are friendly, kind and helpful. It is a beautiful, bright place and every visit is a "
    "real pleasure. I am very happy I found it, and I recommend it warmly to everyone."
)
NEGATIVE = (
    "This was a terrible, awful experience. The room was dirty, the bed was broken and the staff were rude "
    "and unhelpful. The food was disgusting and cold. I am very disappointed and angry; it was the worst "
    "hotel I have ever stayed in, and I would never go back."
)
GERMAN = (
    "Die Bundesregierung hat am Mittwoch ein neues Gesetz zur Förderung erneuerbarer Energien beschlossen. "
    "Künftig sollen Hausbesitzer leichter Solaranlagen auf ihren Dächern installieren können. Die Opposition "
    "kritisierte, dass die Maßnahmen nicht weit genug gingen und die Kosten ungleich verteilt würden."
)
SOLAR = (
    "Solar panels turn sunlight into electricity. A solar panel is made of many photovoltaic cells, usually "
    "of silicon. When sunlight strikes the cells, electrons move and a current flows. Homeowners install "
    "solar panels on their roofs to lower their electricity bills, and solar farms feed power into the grid. "
    "The efficiency of solar panels has risen steadily, while their price has fallen."
)


def analyze(*texts: str, **options: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    analyzer = Analyzer(**options)
    pages: list[dict[str, Any]] = []
    for number, text in enumerate(texts, start=1):
        pages += analyzer.feed(TextUnit(number, text))
    rest, document = analyzer.finish()
    return pages + rest, document


def test_positive_english_paragraph() -> None:
    pages, document = analyze(POSITIVE)
    assert document["language"]["code"] == "en"
    assert document["language"]["name"] == "English"
    assert 0.5 <= document["language"]["confidence"] <= 1
    sentiment = document["sentiment"]
    assert sentiment["supported"] is True
    assert sentiment["label"] == "positive"
    assert sentiment["polarity"] > 0.3
    assert 0 <= sentiment["subjectivity"] <= 1
    assert pages[0]["sentiment"] == sentiment  # one page: the document's mean is the page's


def test_negative_english_paragraph() -> None:
    pages, document = analyze(NEGATIVE)
    assert document["sentiment"]["label"] == "negative"
    assert document["sentiment"]["polarity"] < -0.3
    assert pages[0]["sentiment"]["label"] == "negative"
    labels = {s["sentiment"]["label"] for s in document["sentences"]["sample"]}
    assert labels <= {"negative", "neutral"}
    assert "negative" in labels


def test_german_paragraph_is_german_without_sentiment() -> None:
    pages, document = analyze(GERMAN)
    assert document["language"]["code"] == "de"
    assert document["language"]["name"] == "German"
    assert document["sentiment"]["supported"] is False
    assert "German" in document["sentiment"]["reason"]
    assert "polarity" not in document["sentiment"]
    assert pages[0]["sentiment"]["supported"] is False
    assert all(s["sentiment"]["supported"] is False for s in document["sentences"]["sample"])
    assert document["sentences"]["count"] == 3
    assert document["reading"]["readability"]["name"] == "Flesch reading ease (Amstad)"
    # German stopwords: no keyword is a bare function word
    assert not {k["text"].lower() for k in document["keywords"]} & {"die", "der", "und", "auf", "dass"}


def test_keywords_that_must_appear() -> None:
    pages, document = analyze(SOLAR)
    texts = [k["text"].lower() for k in document["keywords"]]
    assert any("solar" in text for text in texts[:3])
    assert any("panel" in text for text in texts)
    assert "the" not in texts
    scores = [k["score"] for k in document["keywords"]]
    assert scores == sorted(scores)  # lower = more relevant, best first
    assert all(isinstance(score, float) and score > 0 for score in scores)
    assert len(texts) == 10
    assert pages[0]["keywords"] == document["keywords"]  # one page: its candidates are the document's


def test_keyword_count_is_an_option() -> None:
    pages, document = analyze(SOLAR, keywords=3)
    assert len(document["keywords"]) == 3
    assert len(pages[0]["keywords"]) == 3


def test_sentence_counts_with_abbreviations() -> None:
    text = (
        "Dr. Smith arrived at 5 p.m. on Monday. He met Mrs. Jones at the U.S. embassy! "
        "Did they talk about the report, e.g. its costs? They did. The meeting ended at 6.30 p.m."
    )
    pages, document = analyze(text, "One more sentence here. And another one.")
    assert [p["sentences"] for p in pages] == [5, 2]
    assert document["sentences"]["count"] == 7
    assert document["reading"]["sentences"] == 7
    sample = document["sentences"]["sample"]
    assert [s["page"] for s in sample] == [1, 1, 1, 1, 1, 2, 2]
    assert sample[0]["text"] == "Dr. Smith arrived at 5 p.m. on Monday."
    assert sample[1]["text"] == "He met Mrs. Jones at the U.S. embassy!"


def test_reading_figures_computed_by_hand() -> None:
    text = (
        "The cat sat on the mat. The dog ran to the red barn and hid. A man in a hat got up and went out "
        "to the old well by the road. She fed the hens, shut the gate, and sat down to rest in the sun."
    )
    # words 6 + 9 + 17 + 15 = 47 in 4 sentences, each of one syllable; 32 distinct (case-folded)
    _, document = analyze(text)
    assert document["language"]["code"] == "en"
    reading = document["reading"]
    assert reading["words"] == 47
    assert reading["unique_words"] == 32
    assert reading["unique_words_exact"] is True
    assert reading["sentences"] == 4
    assert reading["average_sentence_length"] == 11.75
    # Flesch: 206.835 - 1.015 * 47/4 - 84.6 * 47/47 = 110.30875
    assert reading["readability"] == {"name": "Flesch reading ease", "score": 110.31}


def test_too_short_to_name_a_language() -> None:
    pages, document = analyze("The cat sat on the mat. The dog ran.")
    assert document["language"] is None
    assert document["sentiment"]["supported"] is False
    assert "detected" in document["sentiment"]["reason"]
    assert pages[0]["sentiment"] == document["sentiment"]
    assert document["reading"] == {
        "words": 9,
        "unique_words": 7,
        "unique_words_exact": True,
        "sentences": 2,
        "average_sentence_length": 4.5,
        "readability": None,  # which formula (and syllables) depends on the language
    }


def test_pages_are_numbered_and_the_document_aggregates_them() -> None:
    texts = [POSITIVE, NEGATIVE, SOLAR, POSITIVE]
    pages, document = analyze(*texts)
    assert [p["number"] for p in pages] == [1, 2, 3, 4]
    assert document["pages"] == 4
    assert set(document) == set(ANALYSIS_FIELDS)
    assert set(pages[0]) == {"number", "words", "sentences", "keywords", "sentiment"}
    assert document["reading"]["words"] == sum(p["words"] for p in pages)
    assert document["sentences"]["count"] == sum(p["sentences"] for p in pages)
    weighted = sum(p["sentiment"]["polarity"] * p["words"] for p in pages) / sum(p["words"] for p in pages)
    assert document["sentiment"]["polarity"] == pytest.approx(weighted, abs=1e-3)
    # a page alone gives the same figures as within the document
    alone, _ = analyze(NEGATIVE)
    assert alone[0] | {"number": 2} == pages[1]


def test_document_keywords_favour_what_many_pages_share() -> None:
    topics = [
        "The violin concerto was performed by the city orchestra to a full hall.",
        "The mountain trail climbed past two glaciers towards the summit ridge.",
        "Our bakery sells sourdough bread, croissants and cinnamon buns every morning.",
        "The chess tournament ended in a draw after a long endgame with rooks.",
        "Migrating geese cross the wetlands every autumn on their way south.",
        "The museum opened a new exhibition of medieval maps and manuscripts.",
    ]
    texts = [f"{topic} Meanwhile, solar panels on the roof kept producing electricity." for topic in topics]
    pages, document = analyze(*texts)
    assert not any("solar" in k["text"].lower() for k in pages[0]["keywords"][:2])  # not first on any one page
    assert any("solar" in k["text"].lower() for k in document["keywords"][:3])  # but shared by all of them


def test_sentence_sample_is_bounded_deterministic_and_in_order() -> None:
    texts = [f"The first sentence of page {p} is here. Another line follows on page {p}." for p in range(1, 41)]
    _, first = analyze(*texts, sentence_samples=5)
    _, second = analyze(*texts, sentence_samples=5)
    sample = first["sentences"]["sample"]
    assert len(sample) == 5
    assert sample == second["sentences"]["sample"]
    assert [s["page"] for s in sample] == sorted(s["page"] for s in sample)
    assert first["sentences"]["count"] == 80
