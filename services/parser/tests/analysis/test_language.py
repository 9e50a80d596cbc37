import pytest

from ferry_parser.analysis.language import build_detector, detect


@pytest.mark.parametrize(
    ("text", "code", "name"),
    [
        ("Il pleut depuis trois jours et la rivière a débordé dans le village, inondant les caves.", "fr", "French"),
        ("Der Hund läuft schnell über die Straße, weil er großen Hunger hat und nach Hause will.", "de", "German"),
        ("Please find attached the invoice for March. Let me know if you have any questions.", "en", "English"),
        ("Сегодня в городе прошёл сильный дождь, и многие улицы были затоплены водой.", "ru", "Russian"),
        ("Vi ses i morgon på stationen klockan åtta, glöm inte biljetterna och passet.", "sv", "Swedish"),
    ],
)
def test_detects(text: str, code: str, name: str) -> None:
    found = detect(build_detector(), text)
    assert found is not None
    assert (found["code"], found["name"]) == (code, name)
    assert 0.7 <= found["confidence"] <= 1


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Hello",
        "The cat sat on the mat. The dog ran.",  # too short: low accuracy would guess
        "12345 67890 " * 50,
        "Name Age City Anna 34 Berlin Tom 28 London Maria 45 Madrid",  # table cells: a 0.64 guess
    ],
)
def test_too_short_or_unclear_is_none(text: str) -> None:
    assert detect(build_detector(), text) is None
