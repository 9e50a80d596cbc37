"""Sentences: pysbd's segmentation, and a fixed-size, deterministic sample of a document's sentences."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pysbd
from pysbd.languages import LANGUAGE_CODES

from ferry_parser.analysis.text import has_word

SAMPLE_TEXT_CHARS = 500
"""A sampled sentence is kept to this many characters (a "sentence" may be a whole table row)."""


def segmenter(language: str | None) -> pysbd.Segmenter:
    """pysbd's segmenter for ``language`` (ISO 639-1) where it has rules, else its English one."""
    code = language if language in LANGUAGE_CODES else "en"
    return pysbd.Segmenter(language=code, clean=False)


def split(segmenter: pysbd.Segmenter, text: str) -> list[str]:
    """The sentences of ``text``, stripped; a segment without a word (``---``, ``42.``) is no sentence."""
    found = (segment.strip() for segment in segmenter.segment(text))
    return [sentence for sentence in found if sentence and has_word(sentence)]


@dataclass(frozen=True, order=True)
class SampledSentence:
    position: int
    """The sentence's index in the document: the sample is given in reading order."""
    page: int
    text: str


class SentenceSample:
    """A uniform sample of at most ``size`` of the document's sentences (reservoir sampling).

    Seeded, so the same document always gives the same sample; it holds ``size``
    sentences whatever the document's length.
    """

    def __init__(self, size: int, seed: int = 0) -> None:
        self._size = size
        self._random = random.Random(seed)
        self._kept: list[SampledSentence] = []
        self._seen = 0

    def offer(self, page: int, sentence: str) -> None:
        position = self._seen
        self._seen += 1
        if len(self._kept) < self._size:
            self._kept.append(SampledSentence(position, page, sentence[:SAMPLE_TEXT_CHARS]))
            return
        slot = self._random.randrange(self._seen)
        if slot < self._size:
            self._kept[slot] = SampledSentence(position, page, sentence[:SAMPLE_TEXT_CHARS])

    def sentences(self) -> list[SampledSentence]:
        return sorted(self._kept)
