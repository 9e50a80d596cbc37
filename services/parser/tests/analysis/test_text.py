from ferry_parser.analysis.text import MAX_TOKEN, clean, has_word, slices, words


def test_words() -> None:
    assert words("It's a well-known fact: 42 cats, 3.5 dogs and mp3s.") == [
        "It's", "a", "well-known", "fact", "cats", "dogs", "and", "mp3s",
    ]  # fmt: skip
    assert words("天气很好 ok") == ["天", "气", "很", "好", "ok"]
    assert words("2024 - 17 %") == []
    assert not has_word("12. 34!")
    assert has_word("12 apples")


def test_clean_drops_runs_too_long_to_be_words() -> None:
    token = "a" * (MAX_TOKEN + 1)
    assert clean(f"keep {token} this") == "keep   this"
    assert clean("a" * MAX_TOKEN) == "a" * MAX_TOKEN
    assert clean("天" * 500) == "天" * 500  # unspaced scripts are text


def test_slices_cut_at_natural_breaks_and_lose_nothing() -> None:
    text = ("A sentence here. " * 30 + "\n\n") * 40
    pieces = list(slices(text, size=1_000))
    assert "".join(pieces) == text
    assert all(len(piece) <= 1_000 for piece in pieces)
    assert all(piece.endswith("\n\n") for piece in pieces[:-1])
    hard = list(slices("x" * 2_500, size=1_000))
    assert [len(piece) for piece in hard] == [1_000, 1_000, 500]
    assert list(slices("", size=10)) == []
