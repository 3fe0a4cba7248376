import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from src.words import count_words


def test_plain_words():
    assert count_words("one two three") == 3


def test_punctuation_is_not_a_word():
    assert count_words("Hello, world - again!") == 3


def test_empty():
    assert count_words("") == 0
