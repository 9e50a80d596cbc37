from collections import Counter

from ferry_parser.analysis.sentences import SAMPLE_TEXT_CHARS, SentenceSample, segmenter, split


def test_split_skips_segments_without_words() -> None:
    assert split(segmenter("en"), "Dr. Smith left. --- 42. He came back at 3 p.m. today.") == [
        "Dr. Smith left.",
        "He came back at 3 p.m. today.",
    ]


def test_segmenter_falls_back_to_english() -> None:
    assert split(segmenter("sv"), "Hej då. Vi ses i morgon.") == ["Hej då.", "Vi ses i morgon."]
    assert split(segmenter(None), "One. Two.") == ["One.", "Two."]


def test_sample_is_bounded_and_in_order() -> None:
    sample = SentenceSample(5)
    for n in range(10_000):
        sample.offer(n // 10 + 1, f"sentence {n} " + "x" * 1_000)
    kept = sample.sentences()
    assert len(kept) == 5
    assert [s.position for s in kept] == sorted(s.position for s in kept)
    assert all(len(s.text) == SAMPLE_TEXT_CHARS for s in kept)
    assert all(s.text.startswith(f"sentence {s.position} ") and s.page == s.position // 10 + 1 for s in kept)


def test_sample_is_uniform() -> None:
    # over many seeds, every tenth of the document is sampled about equally often
    tenths: Counter[int] = Counter()
    for seed in range(300):
        sample = SentenceSample(10, seed=seed)
        for n in range(1_000):
            sample.offer(1, str(n))
        tenths.update(s.position // 100 for s in sample.sentences())
    assert all(230 <= tenths[t] <= 370 for t in range(10)), tenths  # 300 ± 4 sigma
