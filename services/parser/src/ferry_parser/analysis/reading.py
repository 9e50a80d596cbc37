"""Reading figures: words, unique words, sentences, average sentence length and a Flesch-style readability.

All are running totals, so a document of any length costs the same memory. The
readability is Flesch's reading ease (or the language's adaptation of it) from the
totals: ``base - a * words / sentences - b * syllables / words``, with the
coefficients textstat uses. It is computed here rather than by textstat because
textstat works on a whole text, and for English looks syllables up in NLTK's CMU
dictionary, a corpus it downloads at first use; here syllables are counted by
pyphen's hyphenation dictionaries (bundled), as textstat itself does for the
other languages and for words missing from the CMU dictionary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyphen

from ferry_parser.analysis.unique import UniqueCounter


@dataclass(frozen=True)
class Formula:
    name: str
    hyphenation: str
    """pyphen's dictionary for counting syllables."""
    base: float
    per_sentence_length: float
    per_syllables_per_word: float


FORMULAS = {
    "en": Formula("Flesch reading ease", "en_US", 206.835, 1.015, 84.6),
    "de": Formula("Flesch reading ease (Amstad)", "de_DE", 180.0, 1.0, 58.5),
    "es": Formula("Fernández Huerta", "es", 206.84, 1.02, 60.0),
    "fr": Formula("Flesch reading ease (Kandel and Moles)", "fr", 207.0, 1.015, 73.6),
    "it": Formula("Flesch-Vacca", "it_IT", 217.0, 1.3, 60.0),
    "nl": Formula("Flesch-Douma", "nl_NL", 206.835, 0.93, 77.0),
    "ru": Formula("Flesch reading ease (Oborneva)", "ru_RU", 206.835, 1.3, 60.1),
}
"""Languages with a reading-ease formula, and its coefficients (textstat's ``LANG_CONFIGS``)."""

HYPHENATION_CACHE = 20_000
"""pyphen remembers every word it has hyphenated, for the life of the process; emptied past this many."""


class ReadingTally:
    """Running totals of one document (or one page) in ``language`` (ISO 639-1, or None)."""

    def __init__(self, language: str | None) -> None:
        self._formula = FORMULAS.get(language or "")
        self._hyphenator = pyphen.Pyphen(lang=self._formula.hyphenation) if self._formula else None
        self.words = 0
        self.sentences = 0
        self.syllables = 0
        self.unique = UniqueCounter()

    def add(self, words: list[str], sentences: int) -> None:
        self.words += len(words)
        self.sentences += sentences
        for word in words:
            folded = word.lower()
            self.unique.add(folded)
            if self._hyphenator is not None:
                self.syllables += len(self._hyphenator.positions(folded)) + 1
        if self._hyphenator is not None:
            _bound_cache(self._hyphenator)

    def as_json(self) -> dict[str, Any]:
        return {
            "words": self.words,
            "unique_words": self.unique.count(),
            "unique_words_exact": self.unique.exact,
            "sentences": self.sentences,
            "average_sentence_length": round(self.words / self.sentences, 2) if self.sentences else None,
            "readability": self._readability(),
        }

    def _readability(self) -> dict[str, Any] | None:
        if self._formula is None or not self.words or not self.sentences:
            return None
        formula = self._formula
        score = (
            formula.base
            - formula.per_sentence_length * self.words / self.sentences
            - formula.per_syllables_per_word * self.syllables / self.words
        )
        return {"name": formula.name, "score": round(score, 2)}


def _bound_cache(hyphenator: pyphen.Pyphen) -> None:
    """Empty pyphen's per-word cache when it outgrows ``HYPHENATION_CACHE`` (it is shared and unbounded)."""
    cache = getattr(hyphenator.hd, "cache", None)
    if isinstance(cache, dict) and len(cache) > HYPHENATION_CACHE:
        cache.clear()
