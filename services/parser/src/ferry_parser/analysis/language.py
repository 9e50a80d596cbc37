"""Which language a document is written in, from its first few thousand characters (lingua).

The detector knows all 75 of lingua's languages, in low-accuracy mode, loading each
language's model only when a text could be in it. Measured on this machine (one
process, first detection of a German text):

- all languages, low accuracy, lazy (chosen): 0.5 s, ~70 MB resident;
- all languages, high accuracy, lazy: 0.6 s for a long text, but a short one (under
  120 characters) also loads the 4- and 5-gram models: 9 s and ~900 MB;
- all languages preloaded: 15 s and 1.3 GB (0.4 s and 95 MB in low accuracy);
- 20 common languages, low accuracy, preloaded: 0.15 s and 45 MB, but a text in any
  other language would be named, confidently, as the nearest of the twenty.

Low accuracy only uses trigrams, which on the thousands of characters sampled here
agrees with high accuracy; it is short texts where it is weaker, and those we
do not name (``MIN_LETTERS``).
"""

from __future__ import annotations

from typing import Any

from lingua import Language, LanguageDetector, LanguageDetectorBuilder

from ferry_parser.analysis.text import letters

SAMPLE_CHARS = 3_000
"""How much of the document's start the language is detected from."""
MIN_LETTERS = 40
"""Fewer letters than this in the sample: too short to tell, the language is null."""
MIN_CONFIDENCE = 0.7
"""Below this the text is too short or mixed to name one language.

Low accuracy is overconfident on short texts: "The cat sat on the mat. The dog ran to
the red barn and hid." (45 letters) comes out Danish at 0.63; table cells
("Name Age City Anna 34 Berlin...") Vietnamese at 0.64. Longer texts score above 0.95.
"""

_NAMES = {Language.BOKMAL: "Norwegian Bokmål", Language.NYNORSK: "Norwegian Nynorsk"}


def build_detector() -> LanguageDetector:
    """The detector (cheap: lingua loads a language's model on the first text that could be in it)."""
    return LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode().build()


def detect(detector: LanguageDetector, sample: str) -> dict[str, Any] | None:
    """``{code, name, confidence}`` of ``sample``'s language, or None when too short or too mixed to tell."""
    if letters(sample) < MIN_LETTERS:
        return None
    ranked = detector.compute_language_confidence_values(sample)
    if not ranked or ranked[0].value < MIN_CONFIDENCE:
        return None
    best = ranked[0]
    return {
        "code": best.language.iso_code_639_1.name.lower(),
        "name": _NAMES.get(best.language, best.language.name.title()),
        "confidence": round(best.value, 4),
    }
