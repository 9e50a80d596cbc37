import pytest
import textstat

from ferry_parser.analysis.reading import FORMULAS, HYPHENATION_CACHE, ReadingTally
from ferry_parser.analysis.text import words

SAMPLES = {
    "de": "Der kleine Hund läuft schnell über die Straße. Die Katze schläft ruhig im warmen Garten.",
    "es": "El perro pequeño corre rápido por la calle. El gato duerme tranquilo en el jardín.",
    "fr": "Le petit chien court vite dans la rue. Le chat dort tranquillement dans le jardin.",
    "it": "Il piccolo cane corre veloce per la strada. Il gatto dorme tranquillo nel giardino.",
    "nl": "De kleine hond rent snel over de straat. De kat slaapt rustig in de warme tuin.",
}


@pytest.mark.parametrize("language", sorted(SAMPLES))
def test_readability_agrees_with_textstat(language: str) -> None:
    # textstat counts syllables with pyphen for these languages, so the two must agree exactly
    text = SAMPLES[language]
    tally = ReadingTally(language)
    tally.add(words(text), 2)
    textstat.set_lang(language)
    try:
        expected = textstat.flesch_reading_ease(text)
    finally:
        textstat.set_lang("en_US")
    assert tally.as_json()["readability"] == {"name": FORMULAS[language].name, "score": round(expected, 2)}


def test_running_totals_equal_one_pass() -> None:
    text = SAMPLES["de"]
    whole = ReadingTally("de")
    whole.add(words(text), 2)
    parts = ReadingTally("de")
    for sentence in text.split(". "):
        parts.add(words(sentence), 1)
    assert parts.as_json() == whole.as_json()


def test_language_without_a_formula() -> None:
    tally = ReadingTally("pl")
    tally.add(words("Mały pies biegnie szybko ulicą."), 1)
    assert tally.as_json()["readability"] is None
    assert tally.as_json()["words"] == 5


def test_hyphenation_cache_is_bounded() -> None:
    tally = ReadingTally("en")
    made_up = [f"word{n}x" for n in range(HYPHENATION_CACHE + 5_000)]
    for start in range(0, len(made_up), 1_000):
        tally.add(made_up[start : start + 1_000], 1)
    assert len(tally._hyphenator.hd.cache) <= HYPHENATION_CACHE + 1_000  # type: ignore[union-attr]
