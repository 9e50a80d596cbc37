"""Keywords and keyphrases: YAKE per page (or slice), merged into the document's by a bounded tally.

YAKE scores a candidate within one text, lower = more relevant. A document's keywords
cannot come from YAKE over the whole text without holding it, so each page's best
candidates are tallied instead, and a candidate's merged score is the geometric mean
of its scores over every page, a page where it was no candidate counting as 1 (no
relevance; YAKE's scores above 1 are cut to 1). So a phrase that is a fair candidate
of every page beats one that is excellent on a single page, as YAKE over the whole
text would rank it by its frequency; a one-page document keeps YAKE's own scores.
In a long document most scores come near 1; only their order is meaningful.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yake

MAX_NGRAM = 3
TALLY_CAPACITY = 4_000
"""Most candidates a document's tally holds; beyond it the weaker half is dropped.

Dropping is a bias against a phrase that only becomes frequent late in a long
document (it re-enters as new): the price of fixed memory.
"""

_STOPWORD_FILES = Path(yake.__file__).parent / "core" / "StopwordsList"
_YAKE_CODES = {"cs": "cz"}  # YAKE names its Czech list by the country


def extractor(language: str | None, top: int) -> yake.KeywordExtractor:
    """A YAKE extractor of ``top`` candidates with ``language``'s stopwords (a language-neutral list if none)."""
    code = _YAKE_CODES.get(language or "", language or "")
    if not (_STOPWORD_FILES / f"stopwords_{code}.txt").exists():
        code = "noLang"
    return yake.KeywordExtractor(lan=code, n=MAX_NGRAM, top=top)


def extract(extractor: yake.KeywordExtractor, text: str) -> list[tuple[str, float]]:
    """YAKE's candidates of ``text``, best first, as plain floats (YAKE gives numpy's)."""
    if not text.strip():
        return []
    return [(phrase, float(score)) for phrase, score in extractor.extract_keywords(text)]


class KeywordTally:
    """Candidates of many parts merged into one ranking, in at most ``capacity`` entries.

    Each entry holds the sum of a candidate's log-scores; the parts where it was no
    candidate add log 1 = 0, so only the number of parts is kept besides.
    """

    def __init__(self, capacity: int = TALLY_CAPACITY) -> None:
        self._capacity = capacity
        self._log_sums: dict[str, float] = {}
        self._texts: dict[str, str] = {}
        self._parts = 0

    def add(self, candidates: list[tuple[str, float]]) -> None:
        """One part's candidates (each phrase once); a part without any still counts."""
        self._parts += 1
        for phrase, score in candidates:
            key = " ".join(phrase.lower().split())
            if key not in self._log_sums:
                self._log_sums[key] = 0.0
                self._texts[key] = phrase
            self._log_sums[key] += math.log(min(max(score, 1e-12), 1.0))
        if len(self._log_sums) > self._capacity:
            kept = self._ranked()[: self._capacity // 2]
            self._log_sums = {key: self._log_sums[key] for key in kept}
            self._texts = {key: self._texts[key] for key in kept}

    def best(self, count: int) -> list[tuple[str, float]]:
        """The ``count`` best candidates with their merged scores, best first."""
        return [(self._texts[key], math.exp(self._log_sums[key] / self._parts)) for key in self._ranked()[:count]]

    def _ranked(self) -> list[str]:
        return sorted(self._log_sums, key=lambda key: (self._log_sums[key], key))


def as_json(candidates: list[tuple[str, float]]) -> list[dict[str, Any]]:
    return [{"text": text, "score": _round(score)} for text, score in candidates]


def _round(score: float) -> float:
    """Six significant digits: YAKE's scores span many orders of magnitude."""
    return float(f"{score:.6g}")
