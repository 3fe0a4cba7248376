"""A run's identity as CAB's cell page lists it ("Run identity", "Timing", tokens): one set of rows that the HTML
report and the app both show, so neither can drift from the other or forget to redact the endpoint."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from cab_check.models import CellResult
from cab_check.report.reproduce import redact_endpoint


def utc_iso(moment: datetime) -> str:
    """UTC in ISO 8601 with a Z, as CAB's cell page prints started_at and ended_at."""
    return moment.isoformat().replace("+00:00", "Z")


def compact_json(value: Any) -> str:
    """JSON without spaces, as CAB's scorer breakdown prints values."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def identity_rows(result: CellResult) -> list[tuple[str, str]]:
    """(field, value) rows in the order of CAB's "Run identity" and "Timing"; the endpoint keeps no credentials."""
    exit_code = "not recorded" if result.exit_code is None else str(result.exit_code)
    if result.timed_out:
        exit_code += " (timed out)"
    rows = [
        ("cell_id", result.cell_id),
        ("sweep_id", result.sweep_id),
        ("methodology", f"CAB v{result.methodology}"),
        ("run_id", result.run_id),
        ("tui", f"{result.tui} {result.tui_version}"),
        ("model", result.model),
    ]
    if result.model_label != result.model:
        rows.append(("model_label", result.model_label))
    return [
        *rows,
        ("endpoint", redact_endpoint(result.endpoint) if result.endpoint else "built-in reference model"),
        ("task", result.task),
        ("container_image", result.container_image),
        ("image_digest", result.image_digest or "not recorded"),
        ("engine", result.engine or "not recorded"),
        ("exit_code", exit_code),
        ("started_at", utc_iso(result.started_at)),
        ("ended_at", utc_iso(result.ended_at)),
        ("duration", f"{result.duration:.2f} s"),
    ]


def token_report_lines(result: CellResult) -> list[str]:
    """One line per token source (the proxy's count, the TUI's own), saying which the TUI abbreviated."""
    lines = []
    for report in result.token_reports:
        abbreviated = " — abbreviated by the TUI" if not report.exact else ""
        lines.append(
            f"{report.source}: {report.prompt_tokens:,} prompt + {report.completion_tokens:,} completion "
            f"= {report.total_tokens:,} tokens{abbreviated}"
        )
    return lines
