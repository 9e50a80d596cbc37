"""Sentiment: TextBlob's lexicon for English; any other language is said to be unsupported, never guessed.

TextBlob's default analyzer (``PatternAnalyzer``) scores words from a lexicon bundled
with the package, so it needs no NLTK corpus and no network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textblob import TextBlob

SUPPORTED = frozenset({"en"})
POSITIVE = 0.1
NEGATIVE = -0.1


@dataclass(frozen=True)
class Score:
    polarity: float
    """-1 (negative) .. 1 (positive)."""
    subjectivity: float
    """0 (factual) .. 1 (opinion)."""


def score(text: str) -> Score:
    polarity, subjectivity = TextBlob(text).sentiment
    return Score(float(polarity), float(subjectivity))


def label(polarity: float) -> str:
    if polarity >= POSITIVE:
        return "positive"
    if polarity <= NEGATIVE:
        return "negative"
    return "neutral"


def as_json(result: Score) -> dict[str, Any]:
    return {
        "supported": True,
        "polarity": round(result.polarity, 4),
        "subjectivity": round(result.subjectivity, 4),
        "label": label(result.polarity),
    }


def unsupported_reason(language: dict[str, Any] | None) -> str | None:
    """Why a text in ``language`` gets no sentiment; None when it does."""
    if language is None:
        return "the language could not be detected (too little text, or too mixed)"
    if language["code"] in SUPPORTED:
        return None
    return f"sentiment is only analysed in English; this text is in {language['name']} ({language['code']})"


def unsupported(reason: str) -> dict[str, Any]:
    return {"supported": False, "reason": reason}


class WeightedMean:
    """The word-weighted mean of many parts' scores (a page's slices, a document's pages)."""

    def __init__(self) -> None:
        self._weight = 0
        self._polarity = 0.0
        self._subjectivity = 0.0

    def add(self, result: Score, weight: int) -> None:
        self._weight += weight
        self._polarity += result.polarity * weight
        self._subjectivity += result.subjectivity * weight

    def mean(self) -> Score:
        """The mean; 0, 0 (neutral) when no part had a word."""
        if not self._weight:
            return Score(0.0, 0.0)
        return Score(self._polarity / self._weight, self._subjectivity / self._weight)
