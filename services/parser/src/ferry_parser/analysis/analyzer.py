"""The analyzer: pages in, page results out as they are ready, the document's result at the end."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lingua import LanguageDetector

from ferry_parser.analysis import keywords, language, sentiment
from ferry_parser.analysis.reading import ReadingTally
from ferry_parser.analysis.sentences import SentenceSample, segmenter, split
from ferry_parser.analysis.text import clean, slices, words

MAX_PENDING = 50
"""Most pages held back while the language is not known yet (blank pages carry no text to detect)."""


@dataclass(frozen=True)
class TextUnit:
    """One page of a PDF or a document, or one block of a table's text cells; ``number`` counts from 1."""

    number: int
    text: str


class Analyzer:
    """Feed units in order; each ``feed`` returns the page results that are ready (JSON-able dicts).

    Results may lag a few units behind (the language is detected from the first
    few thousand characters before any sentiment is given); ``finish`` returns the
    rest and the whole-document result (keys ``ferry_core.jobs.ANALYSIS_FIELDS``).
    ``detector`` lets a process that analyses many documents share one lingua
    detector (its models are cached by lingua either way).
    """

    def __init__(
        self, *, keywords: int = 10, sentence_samples: int = 20, detector: LanguageDetector | None = None
    ) -> None:
        self._keywords = keywords
        self._samples = sentence_samples
        self._detector = detector if detector is not None else language.build_detector()
        self._pending: list[TextUnit] = []
        self._sample = ""
        self._document: _Document | None = None
        self._finished = False

    def feed(self, unit: TextUnit) -> list[dict[str, Any]]:
        if self._finished:
            raise RuntimeError("the analysis is finished")
        unit = TextUnit(unit.number, clean(unit.text))
        if self._document is not None:
            return [self._document.page(unit)]
        self._pending.append(unit)
        if len(self._sample) < language.SAMPLE_CHARS:
            self._sample += unit.text[: language.SAMPLE_CHARS - len(self._sample)] + "\n"
        if len(self._sample) >= language.SAMPLE_CHARS or len(self._pending) >= MAX_PENDING:
            return self._start()
        return []

    def finish(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The page results still held back, and the document's result."""
        if self._finished:
            raise RuntimeError("the analysis is finished")
        self._finished = True
        pages = self._start() if self._document is None else []
        assert self._document is not None
        return pages, self._document.result()

    def _start(self) -> list[dict[str, Any]]:
        """Detect the language, then analyse the pages held back."""
        detected = language.detect(self._detector, self._sample)
        self._document = _Document(detected, top=self._keywords, samples=self._samples)
        pending, self._pending, self._sample = self._pending, [], ""
        return [self._document.page(unit) for unit in pending]


class _Document:
    """The running state of one document once its language is known: a page at a time, then the totals."""

    def __init__(self, detected: dict[str, Any] | None, *, top: int, samples: int) -> None:
        code = detected["code"] if detected else None
        self.language = detected
        self.top = top
        self.candidates = max(2 * top, 20)  # each page offers more than it shows, for the document's ranking
        self.segmenter = segmenter(code)
        self.extractor = keywords.extractor(code, self.candidates)
        self.unsupported = sentiment.unsupported_reason(detected)
        self.reading = ReadingTally(code)
        self.keywords = keywords.KeywordTally()
        self.sentiment = sentiment.WeightedMean()
        self.sample = SentenceSample(samples)
        self.pages = 0

    def page(self, unit: TextUnit) -> dict[str, Any]:
        self.pages += 1
        page_words = page_sentences = 0
        page_keywords = keywords.KeywordTally()
        page_sentiment = sentiment.WeightedMean()
        for piece in slices(unit.text):
            found = split(self.segmenter, piece)
            piece_words = words(piece)
            self.reading.add(piece_words, len(found))
            page_words += len(piece_words)
            page_sentences += len(found)
            for sentence in found:
                self.sample.offer(unit.number, sentence)
            page_keywords.add(keywords.extract(self.extractor, piece))
            if self.unsupported is None and piece_words:
                page_sentiment.add(sentiment.score(piece), len(piece_words))
        candidates = page_keywords.best(self.candidates)
        self.keywords.add(candidates)
        self.sentiment.add(page_sentiment.mean(), page_words)
        return {
            "number": unit.number,
            "words": page_words,
            "sentences": page_sentences,
            "keywords": keywords.as_json(candidates[: self.top]),
            "sentiment": self._sentiment(page_sentiment.mean()),
        }

    def result(self) -> dict[str, Any]:
        return {
            "language": self.language,
            "sentences": {
                "count": self.reading.sentences,
                "sample": [
                    {"page": s.page, "text": s.text, "sentiment": self._sentiment_of(s.text)}
                    for s in self.sample.sentences()
                ],
            },
            "keywords": keywords.as_json(self.keywords.best(self.top)),
            "sentiment": self._sentiment(self.sentiment.mean()),
            "reading": self.reading.as_json(),
            "pages": self.pages,
        }

    def _sentiment(self, score: sentiment.Score) -> dict[str, Any]:
        if self.unsupported is not None:
            return sentiment.unsupported(self.unsupported)
        return sentiment.as_json(score)

    def _sentiment_of(self, text: str) -> dict[str, Any]:
        if self.unsupported is not None:
            return sentiment.unsupported(self.unsupported)
        return sentiment.as_json(sentiment.score(text))
