"""aider's own token lines, as printed by aider/coders/base_coder.py (v0.86)."""

from __future__ import annotations

from cab_check.token_parsers import tui_report
from cab_check.token_parsers.aider import parse_aider_tokens, parse_count


def test_abbreviated_counts_are_inexact():
    report = parse_aider_tokens("Applied edit to src/lib.rs\nTokens: 2.3k sent, 150 received.\n")
    assert report is not None
    assert (report.source, report.prompt_tokens, report.completion_tokens) == ("TUI stdout", 2300, 150)
    assert report.exact is False


def test_exact_counts_with_commas():
    report = parse_aider_tokens("Tokens: 1,234 sent, 56 received.")
    assert report is not None
    assert (report.prompt_tokens, report.completion_tokens, report.exact) == (1234, 56, True)
    assert report.total_tokens == 1290


def test_cost_suffix_is_ignored():
    report = parse_aider_tokens("Tokens: 12k sent, 1.2k received. Cost: $0.0012 message, $0.0034 session.")
    assert report is not None
    assert (report.prompt_tokens, report.completion_tokens, report.exact) == (12000, 1200, False)


def test_cache_numbers_are_a_breakdown_not_added_to_sent():
    # aider already adds cache-write tokens into "sent"; both cache numbers and Cost then go on the next line.
    text = "Tokens: 12k sent, 1.2k cache write, 3.4k cache hit, 250 received.\nCost: $0.01 message, $0.02 session."
    report = parse_aider_tokens(text)
    assert report is not None
    assert (report.prompt_tokens, report.completion_tokens) == (12000, 250)


def test_cache_write_or_hit_alone():
    assert parse_aider_tokens("Tokens: 900 sent, 800 cache write, 20 received.").prompt_tokens == 900
    assert parse_aider_tokens("Tokens: 900 sent, 700 cache hit, 20 received.").prompt_tokens == 900


def test_millions():
    report = parse_aider_tokens("Tokens: 1.5M sent, 2k received.")
    assert report is not None
    assert (report.prompt_tokens, report.completion_tokens, report.exact) == (1_500_000, 2000, False)


def test_multiple_lines_are_summed():
    text = (
        "Tokens: 2.3k sent, 150 received.\n"
        "some model output\n"
        "\x1b[32mTokens: 999 sent, 1.1k received.\x1b[0m\n"
        "> Tokens: 10 sent, 5 received.\n"
    )
    report = parse_aider_tokens(text)
    assert report is not None
    assert (report.prompt_tokens, report.completion_tokens, report.exact) == (3309, 1255, False)


def test_all_exact_lines_stay_exact():
    report = parse_aider_tokens("Tokens: 999 sent, 20 received.\nTokens: 500 sent, 30 received.\n")
    assert report is not None
    assert (report.prompt_tokens, report.completion_tokens, report.exact) == (1499, 50, True)


def test_no_line_is_none():
    assert parse_aider_tokens("") is None
    assert parse_aider_tokens("Applied edit to src/lib.rs\nTokens: lots sent\n") is None


def test_parse_count():
    assert parse_count("2.3k") == (2300, False)
    assert parse_count("12K") == (12000, False)
    assert parse_count("1,234") == (1234, True)
    assert parse_count("1.5M") == (1_500_000, False)


def test_tui_report_finds_the_parser_named_in_tui_toml(tmp_path):
    report = tui_report("aider", "Tokens: 1.5k sent, 691 received.", tmp_path)
    assert (report.prompt_tokens, report.completion_tokens, report.source) == (1500, 691, "TUI stdout")
    assert tui_report(None, "Tokens: 1.5k sent, 691 received.", tmp_path) is None
