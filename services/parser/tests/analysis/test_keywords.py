import math

from ferry_parser.analysis.keywords import KeywordTally, as_json, extract, extractor


def test_one_part_keeps_yake_scores() -> None:
    tally = KeywordTally()
    tally.add([("solar panels", 0.02), ("roof", 0.3)])
    assert tally.best(5) == [("solar panels", 0.02), ("roof", 0.3)]


def test_merged_score_is_the_geometric_mean_over_all_parts() -> None:
    tally = KeywordTally()
    tally.add([("Solar panels", 0.04), ("violin", 0.001)])
    tally.add([("solar  panels", 0.01), ("glacier", 0.002)])
    tally.add([])  # a part with no candidates still counts
    best = dict(tally.best(5))
    assert math.isclose(best["Solar panels"], (0.04 * 0.01) ** (1 / 3))  # case and spaces folded, first spelling
    assert math.isclose(best["violin"], 0.001 ** (1 / 3))
    assert [text for text, _ in tally.best(5)] == ["Solar panels", "violin", "glacier"]  # shared beats one-off


def test_tally_is_bounded() -> None:
    tally = KeywordTally(capacity=100)
    for part in range(1_000):
        tally.add([(f"phrase {part} {n}", 0.5) for n in range(20)] + [("always", 0.2)])
        assert len(tally._log_sums) <= 100 + 21
    assert tally.best(1)[0][0] == "always"


def test_stopwords_follow_the_language() -> None:
    text = "Der Hund und die Katze schlafen auf dem Sofa, und der Hund träumt von der Katze im Garten."
    german = [k for k, _ in extract(extractor("de", 10), text)]
    assert "Hund" in german
    assert not {k.lower() for k in german} & {"der", "die", "und", "auf"}
    assert extract(extractor("xx", 10), text)  # an unknown language falls back to YAKE's neutral list


def test_scores_are_plain_floats() -> None:
    found = extract(extractor("en", 5), "Solar panels make electricity from sunlight on the roof of the house.")
    assert found
    assert all(type(score) is float for _, score in found)
    assert as_json([("a", 0.0123456789)]) == [{"text": "a", "score": 0.0123457}]
