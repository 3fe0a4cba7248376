"""String helpers for the text toolkit."""


def reverse(text: str) -> str:
    """Returns `text` reversed code point by code point (not grapheme by grapheme)."""
    return text[::-1]
