from reverse import reverse


def test_empty():
    assert reverse("") == ""


def test_single_character():
    assert reverse("a") == "a"


def test_ascii_word():
    assert reverse("hello") == "olleh"


def test_palindrome():
    assert reverse("racecar") == "racecar"


def test_keeps_spaces_and_punctuation():
    assert reverse("ab, cd!") == "!dc ,ba"


def test_non_ascii_code_points():
    assert reverse("añb€") == "€bña"


def test_reverses_code_points_not_graphemes():
    # "e" followed by a combining acute accent is one grapheme but two code points.
    assert reverse("xe\u0301") == "\u0301ex"
