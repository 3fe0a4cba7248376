"""A stored result as one self-contained HTML page: CAB's cell page, offline, marked provisional.

The page has no scripts, fonts or external resources (inline CSS and SVG only), so it can be mailed or archived
and still reads the same; it follows the reader's light or dark preference. Everything that came from a run
(names, notes, the diff, the agent's output) is escaped.
"""

from __future__ import annotations

import json
import re
from html import escape
from pathlib import Path

from cab_check import __version__
from cab_check.axes import L15
from cab_check.models import CellResult, Span
from cab_check.report import PROVISIONAL_TEXT
from cab_check.report.axes import AxisTile, axis_tiles, composites
from cab_check.report.identity import compact_json, identity_rows, token_report_lines, utc_iso
from cab_check.report.reproduce import reproduce_command

# The same words as the app's mark (gui/theme.py), which this Qt-free module cannot import.

# CSI (colours, cursor moves), OSC (window titles, links) and the two-character escapes, as a TUI writes them.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
NUMERIC = ' class="num"'

_CSS = """
:root { color-scheme: light dark; --bg: #ffffff; --fg: #1b1b1b; --muted: #5f6368; --line: #d9d9d9;
  --panel: #f6f6f6; --good: #2e7d32; --mid: #b26a00; --bad: #c62828; --warn-bg: #fff4d6; --warn: #8a5a00;
  --add-bg: #e6f4ea; --del-bg: #fdecea; --track: #e3e3e3; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #161616; --fg: #e8e8e8; --muted: #a0a0a0; --line: #3a3a3a; --panel: #202020; --good: #4caf50;
    --mid: #ffb300; --bad: #ef5350; --warn-bg: #3a2c00; --warn: #ffb300; --add-bg: #12301a; --del-bg: #3a1614;
    --track: #333333; }
}
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 72rem; padding: 1rem 1.25rem 3rem; background: var(--bg); color: var(--fg);
  font: 100%/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; }
h1 { font-size: 1.5rem; margin: 1rem 0 0.25rem; }
h2 { font-size: 1.15rem; margin: 2rem 0 0.5rem; border-bottom: 1px solid var(--line); padding-bottom: 0.2rem; }
.banner { background: var(--warn-bg); color: var(--warn); border: 2px solid var(--warn); border-radius: 6px;
  padding: 0.6rem 1rem; font-weight: 700; font-size: 1.2rem; text-align: center; }
.banner small { display: block; font-weight: 400; font-size: 0.85rem; }
.verdict { font-weight: 700; }
.muted, .detail { color: var(--muted); }
.good { color: var(--good); } .mid { color: var(--mid); } .bad { color: var(--bad); }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(9.5rem, 1fr)); gap: 0.6rem; }
.tile { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 0.6rem; }
.tile .label { font-size: 0.85rem; color: var(--muted); }
.tile .value { font-size: 1.5rem; font-weight: 700; font-variant-numeric: tabular-nums; }
.tile.composite { border-width: 2px; }
.tile .detail { font-size: 0.8rem; }
.bar { height: 0.45rem; background: var(--track); border-radius: 3px; overflow: hidden; margin: 0.3rem 0; }
.bar span { display: block; height: 100%; }
.bar .good { background: var(--good); } .bar .mid { background: var(--mid); } .bar .bad { background: var(--bad); }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
th, td { text-align: left; vertical-align: top; padding: 0.3rem 0.5rem; border-bottom: 1px solid var(--line); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code, pre, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 0.85rem; }
td.json { word-break: break-all; }
pre { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 0.6rem;
  overflow-x: auto; white-space: pre; }
pre.wrap { white-space: pre-wrap; word-break: break-word; }
.diff .add { background: var(--add-bg); color: var(--good); }
.diff .del { background: var(--del-bg); color: var(--bad); }
.diff .hunk { color: var(--mid); } .diff .meta { font-weight: 700; }
svg.timeline { width: 100%; height: auto; font-family: system-ui, sans-serif; }
svg.timeline text { fill: var(--fg); font-size: 12px; }
svg.timeline .track { fill: var(--track); }
svg.timeline .span { fill: var(--mid); } svg.timeline .adapter_run, svg.timeline .container { fill: var(--good); }
svg.timeline .error { fill: var(--bad); }
footer { margin-top: 3rem; font-size: 0.8rem; color: var(--muted); }
"""
_CODE_FIELDS = {"run_id", "container_image", "image_digest"}  # identifiers a reader copies


def _own_composite(result: CellResult) -> str:
    if not result.composites_differ or result.corrected is None:
        return ""
    return (
        f'<p class="own"><strong>cab-check\'s own composite {result.own_composite:.3f}</strong> — '
        f"{escape(result.corrected.reason or '')}</p>"
    )


def render_html(result: CellResult, recording: Path | None = None) -> str:
    """The whole report page; the agent's output is included when `recording` (an asciicast file) is readable."""
    title = f"{result.tui} × {result.model_label} · {result.task}"
    verdict = "passed" if result.passed else "did not pass"
    output = recording_text(recording) if recording is not None else None
    sections = [
        f'<p class="banner" role="note">{escape(PROVISIONAL_TEXT)}<small>One local run scored as CAB '
        f"v{escape(result.methodology)} scores a cell — not CAB's sweep; compare runs, don't cite them.</small></p>",
        f"<h1>{escape(title)}</h1>",
        f'<p><span class="verdict {"good" if result.passed else "bad"}">{verdict}</span> · '
        f"{escape(composites(result))} · run <code>{escape(result.run_id)}</code></p>",
        _section("Per-axis scores", _tiles(axis_tiles(result)) + _own_composite(result)),
        _section("Run identity", _identity(result)),
        _section("Scorer breakdown", _breakdown(result)),
        _section(f"Trace spans ({len(result.spans)})", _timeline(result) + _spans_table(result.spans)),
        _section(f"Model calls ({len(result.model_calls)})", _model_calls(result)),
        _section("Changes the agent made", _diff(result.diff)),
    ]
    if result.l15 is not None:
        sections.append(_section("L15 constraints", _l15(result.l15)))
    if result.notes:
        sections.append(_section("Notes", "<ul>" + "".join(f"<li>{escape(n)}</li>" for n in result.notes) + "</ul>"))
    sections.append(_section("Run it yourself", _reproduce(result)))
    if output is not None:
        sections.append(_section("Agent output", f'<pre class="wrap">{escape(output)}</pre>'))
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<meta name="color-scheme" content="light dark">',
            f"<title>{escape(title)} — {escape(PROVISIONAL_TEXT.lower())}</title>",
            f"<style>{_CSS}</style>",
            "</head>",
            "<body>",
            "<main>",
            *sections,
            "</main>",
            f"<footer>Written by cab-check {escape(__version__)} from run {escape(result.run_id)}. "
            f"{escape(PROVISIONAL_TEXT)}.</footer>",
            "</body>",
            "</html>",
            "",
        ]
    )


def recording_text(path: Path) -> str | None:
    """The agent's output in an asciicast v2 file as plain text (escape sequences removed); None if unreadable."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    chunks = []
    for line in lines[1:]:  # the first line is the header
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, list) and len(event) >= 3 and event[1] == "o" and isinstance(event[2], str):
            chunks.append(event[2])
    text = _ANSI.sub("", "".join(chunks)).replace("\r\n", "\n")
    # A bare carriage return redrew the line (progress bars): keep what was left standing.
    text = "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))
    return _CONTROL.sub("", text)


# --- sections --------------------------------------------------------------------------------------------------


def _section(heading: str, body: str) -> str:
    return f"<section><h2>{escape(heading)}</h2>\n{body}\n</section>"


def _goodness_class(goodness: float) -> str:
    """The same thresholds as the terminal report and the app."""
    return "good" if goodness >= 0.75 else "mid" if goodness >= 0.4 else "bad"


def _tiles(tiles: list[AxisTile]) -> str:
    parts = ['<div class="tiles">']
    for tile in tiles:
        bar = ""
        if tile.fraction is not None and tile.goodness is not None:
            percent = round(tile.fraction * 100, 1)
            bar = (
                f'<div class="bar" role="img" aria-label="{escape(tile.label)} bar {percent:g}%">'
                f'<span class="{_goodness_class(tile.goodness)}" style="width: {percent:g}%"></span></div>'
            )
        parts.append(
            f'<div class="tile {escape(tile.key)}"><div class="label">{escape(tile.label)}</div>'
            f'<div class="value">{escape(tile.value)}</div>{bar}<div class="detail">{escape(tile.detail)}</div></div>'
        )
    parts.append("</div>")
    return "".join(parts)


def _rows(pairs: list[tuple[str, str]]) -> str:
    body = "".join(f'<tr><th scope="row">{escape(k)}</th><td>{v}</td></tr>' for k, v in pairs)
    return f"<table>{body}</table>"


def _identity(result: CellResult) -> str:
    pairs = [
        (key, f"<code>{escape(value)}</code>" if key in _CODE_FIELDS else escape(value))
        for key, value in identity_rows(result)
    ]
    pairs += [("tokens", escape(line)) for line in token_report_lines(result)] or [("tokens", "not recorded")]
    return _rows(pairs)


def _breakdown(result: CellResult) -> str:
    rows = "".join(
        f"<tr><td>{escape(axis)}</td><td>{escape(', '.join(values))}</td>"
        f'<td class="json mono">{escape(compact_json(values))}</td></tr>'
        for axis, values in result.axes.model_dump().items()
    )
    return f"<table><thead><tr><th>Axis</th><th>Keys</th><th>Values</th></tr></thead><tbody>{rows}</tbody></table>"


def _timeline(result: CellResult) -> str:
    """One bar per span on a shared time axis, from the run's start; the hover title carries the details."""
    if not result.spans:
        return '<p class="muted">No spans were recorded.</p>'
    origin = min([result.started_at, *(s.start for s in result.spans)])
    offsets = [(span, (span.start - origin).total_seconds() * 1000) for span in result.spans]
    total_ms = max(max(start + span.duration_ms for span, start in offsets), 1.0)
    label_w, bar_w, row_h = 300, 640, 22
    width, height = label_w + bar_w + 60, row_h * len(offsets) + 24
    parts = [
        f'<svg class="timeline" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="Timeline of {len(offsets)} spans over {total_ms / 1000:.2f} s">'
    ]
    for row, (span, start) in enumerate(sorted(offsets, key=lambda pair: pair[1])):
        y = row * row_h
        x = label_w + start / total_ms * bar_w
        w = max(span.duration_ms / total_ms * bar_w, 1.5)
        kind = re.sub(r"[^a-z_]", "", span.kind.lower())
        css = f"span {kind}" + (" error" if span.error else "")
        tip = f"{span.kind} {span.name}: starts at {start:.0f} ms, lasts {span.duration_ms:.0f} ms"
        if span.error:
            tip += f" — error: {span.error}"
        indent = 12 if span.parent_id else 0
        parts.append(
            f"<g><title>{escape(tip)}</title>"
            f'<text x="{indent}" y="{y + 15}">{escape(_shorten(f"{span.kind} · {span.name}", 44))}</text>'
            f'<rect class="track" x="{label_w}" y="{y + 4}" width="{bar_w}" height="{row_h - 8}"/>'
            f'<rect class="{css}" x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}"/>'
            f'<text x="{label_w + bar_w + 6}" y="{y + 15}">{escape(_ms(span.duration_ms))}</text></g>'
        )
    axis_y = row_h * len(offsets) + 16
    parts.append(
        f'<text x="{label_w}" y="{axis_y}">0 s</text>'
        f'<text x="{label_w + bar_w}" y="{axis_y}" text-anchor="end">{total_ms / 1000:.2f} s</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _ms(duration_ms: float) -> str:
    return f"{duration_ms:.0f} ms" if duration_ms < 1000 else f"{duration_ms / 1000:.1f} s"


def _spans_table(spans: list[Span]) -> str:
    rows = "".join(
        f'<tr><td class="mono">{escape(span.span_id[:12])}'
        + (f" ↳ {escape(span.parent_id[:12])}" if span.parent_id else "")
        + f"</td><td>{escape(span.kind)}</td><td>{escape(span.name)}</td>"
        f'<td class="num">{escape(_ms(span.duration_ms))}</td>'
        f'<td class="json mono">{escape(compact_json(span.attrs))}'
        + (f'<br><span class="bad">{escape(span.error)}</span>' if span.error else "")
        + "</td></tr>"
        for span in spans
    )
    return (
        '<table><thead><tr><th>Span</th><th>Kind</th><th>Name</th><th class="num">Duration</th>'
        f"<th>Attrs / error</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _model_calls(result: CellResult) -> str:
    if not result.model_calls:
        return '<p class="muted">No model calls were recorded.</p>'
    rows = "".join(
        f'<tr><td class="num">{call.index + 1}</td><td>{escape(utc_iso(call.timestamp))}</td>'
        f'<td class="mono">{escape(call.request_hash)}</td><td>{escape(call.model or "—")}</td>'
        f'<td class="num">{call.status}</td><td class="num">{call.prompt_tokens:,}</td>'
        f'<td class="num">{call.completion_tokens:,}</td><td class="num">{escape(_ms(call.latency_ms))}</td>'
        f"<td>{escape(call.finish_reason or '—')}</td><td>{escape(call.error or '')}</td></tr>"
        for call in result.model_calls
    )
    head = "".join(
        f"<th{NUMERIC if num else ''}>{name}</th>"
        for name, num in (
            ("#", True),
            ("Timestamp", False),
            ("Request hash", False),
            ("Model", False),
            ("Status", True),
            ("Prompt", True),
            ("Completion", True),
            ("Latency", True),
            ("Finish", False),
            ("Error", False),
        )
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _diff_class(line: str) -> str:
    if line.startswith(("+++", "---", "diff ", "Binary files", "Binary file")):
        return "meta"
    if line.startswith("@@"):
        return "hunk"
    if line.startswith("+"):
        return "add"
    if line.startswith("-"):
        return "del"
    return ""


def _diff(diff: str) -> str:
    if not diff.strip():
        return '<p class="muted">The agent changed no files.</p>'
    lines = "\n".join(f'<span class="{_diff_class(line)}">{escape(line)}</span>' for line in diff.splitlines())
    return f'<pre class="diff">{lines}</pre>'


def _l15(l15: L15) -> str:
    items = "".join(
        f'<li class="{"good" if v.honored else "bad"}">{"✓" if v.honored else "✗"} '
        f"{escape(v.constraint)} — {escape(v.detail)}</li>"
        for v in l15.verdicts
    )
    return (
        f"<p>{l15.honored}/{l15.declared} honored "
        "(shown beside the axes, never in the composite, as CAB does).</p>"
        f"<ul>{items}</ul>"
    )


def _reproduce(result: CellResult) -> str:
    key_note = (
        " It takes the endpoint's API key from the OS keyring (save it once with "
        "<code>cab key set URL</code>), or from <code>--key-env VAR</code> / <code>--key-stdin</code>."
        if result.endpoint
        else ""
    )
    return (
        f'<pre class="wrap"><code>{escape(reproduce_command(result))}</code></pre>'
        f'<p class="muted">Runs the same TUI, task, model and image again; results vary with the model\'s '
        f"nondeterminism.{key_note}</p>"
    )
