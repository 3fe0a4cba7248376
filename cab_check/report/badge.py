"""A shields.io-style flat badge for a stored result, as one self-contained SVG that says it is provisional."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from cab_check.models import CellResult
from cab_check.report.axes import composites

LABEL = "CAB provisional"
LABEL_FILL = "#555"
PASS_FILL = "#2e7d32"  # shields' greens and reds, darkened so white text on them stays readable
FAIL_FILL = "#c62828"
HEIGHT = 20
PADDING = 6

# Widths of Verdana 11px glyphs (as shields.io sets its text), by class; near enough to size the two halves.
_NARROW = set("ijlI.,:;'!|·() ")
_WIDE = set("mwMW@%")


def _text_width(text: str) -> float:
    width = 0.0
    for char in text:
        if char in _NARROW:
            width += 3.9
        elif char in _WIDE:
            width += 10.5
        elif char.isupper() or char.isdigit():
            width += 7.3
        else:
            width += 6.4
    return width


def badge_text(result: CellResult) -> str:
    """The badge's right half, e.g. "composite 0.883 · pass", with cab-check's own composite when it differs."""
    return f"{composites(result)} · {'pass' if result.passed else 'fail'}"


def badge_svg(result: CellResult) -> str:
    """The badge as SVG text: left "CAB provisional", right the composite and verdict, green or red."""
    value = badge_text(result)
    left = round(_text_width(LABEL) + 2 * PADDING)
    right = round(_text_width(value) + 2 * PADDING)
    width = left + right
    fill = PASS_FILL if result.passed else FAIL_FILL
    description = (
        f"{LABEL}: {value} — {result.tui} × {result.model_label} on {result.task}. "
        "Provisional score from one local run, not for citation."
    )
    texts = []
    for x, text in ((left / 2, LABEL), (left + right / 2, value)):
        texts.append(
            f'<text x="{x:.1f}" y="15" fill="#010101" fill-opacity=".3" aria-hidden="true">{escape(text)}</text>'
        )
        texts.append(f'<text x="{x:.1f}" y="14">{escape(text)}</text>')
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{HEIGHT}" role="img" '
            f"aria-label={quoteattr(description)}>",
            f"<title>{escape(description)}</title>",
            '<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/>'
            '<stop offset="1" stop-opacity=".1"/></linearGradient>',
            f'<clipPath id="r"><rect width="{width}" height="{HEIGHT}" rx="3" fill="#fff"/></clipPath>',
            f'<g clip-path="url(#r)"><rect width="{left}" height="{HEIGHT}" fill="{LABEL_FILL}"/>'
            f'<rect x="{left}" width="{right}" height="{HEIGHT}" fill="{fill}"/>'
            f'<rect width="{width}" height="{HEIGHT}" fill="url(#s)"/></g>',
            '<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">',
            *texts,
            "</g>",
            "</svg>",
            "",
        ]
    )
