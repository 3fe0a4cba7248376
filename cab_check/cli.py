"""The `cab` command: a thin layer that turns arguments into a CellRequest and engine events into a terminal view.

Heavy modules (docker, httpx, rich) are imported inside the commands that need them, so `cab --help` stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sys
import threading
from collections.abc import Iterator

from cab_check import __version__
from cab_check.errors import (
    EXIT_BAD_INPUT,
    EXIT_CANCELLED,
    EXIT_ENVIRONMENT,
    EXIT_FAILED,
    EXIT_PASSED,
    BadInput,
    CabError,
    Cancelled,
    EnvironmentProblem,
    Remedy,
    Words,
)

# How the terminal does what an error's remedy asks for: its words fill the slot the engine's sentence leaves.
CLI_WORDS: Words = {
    Remedy.KEY: "with --key-env VAR or --key-stdin",
    Remedy.SAVED_KEY: "with `cab key set`",
    Remedy.MODEL: "with --model",
    Remedy.IMAGE: "with --image",
    Remedy.ENGINE: "with --engine",
    Remedy.SKIP_HANDSHAKE: "pass --skip-handshake to start anyway",
    Remedy.CLEANUP: "by the next cab check or `cab cleanup`",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cab",
        description="Run one CodingAgentBench cell on your machine against your model. Scores are provisional.",
    )
    parser.add_argument("--version", action="version", version=f"cab-check {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    check = commands.add_parser("check", help="run one cell and score it (provisional)")
    check.add_argument(
        "--endpoint",
        metavar="URL",
        help="OpenAI-compatible base URL, e.g. http://localhost:8000/v1 (default: the built-in reference model)",
    )
    check.add_argument("--model", metavar="ID", help="model id the endpoint serves")
    check.add_argument("--tui", default="aider", metavar="NAME", help="coding-agent CLI to run (default: aider)")
    check.add_argument(
        "--task",
        default="polyglot/rust-error-handling",
        metavar="SLUG",
        help="task to run (default: polyglot/rust-error-handling)",
    )
    check.add_argument(
        "--image", metavar="REF", help="run the TUI from this local image instead of building cab-check's own"
    )
    _key_sources(check)
    check.add_argument("--timeout", type=int, metavar="SECONDS", help="agent time limit (default: the task's)")
    check.add_argument(
        "--skip-handshake", action="store_true", help="start the agent even if the endpoint fails the preflight probe"
    )
    check.add_argument("--json", action="store_true", help="print the full cell result as JSON on stdout")
    _engine_option(check)

    commands.add_parser("tasks", help="list the tasks")
    tuis = commands.add_parser("tuis", help="list the coding-agent CLIs")
    tuis.add_argument("--markdown", action="store_true", help="print the table README.md carries")
    doctor = commands.add_parser("doctor", help="check Docker, disk, images, keyring, isolation and an endpoint")
    doctor.add_argument("--endpoint", metavar="URL", help="also handshake this endpoint for every TUI")
    doctor.add_argument("--model", metavar="ID", help="model id for the endpoint handshake")
    _key_sources(doctor)
    _engine_option(doctor)
    key = commands.add_parser("key", help="keep API keys in the OS keyring, one per endpoint")
    key_commands = key.add_subparsers(dest="key_command", metavar="ACTION", required=True)
    key_set = key_commands.add_parser("set", help="save the key for an endpoint (asked for, hidden)")
    key_set.add_argument("endpoint", metavar="URL")
    _key_sources(key_set)
    key_delete = key_commands.add_parser("delete", help="remove the key for an endpoint")
    key_delete.add_argument("endpoint", metavar="URL")
    key_commands.add_parser("list", help="list the endpoints that have a saved key (never the keys)")
    task = commands.add_parser("task", help="work with task folders of your own")
    task_commands = task.add_subparsers(dest="task_command", metavar="ACTION", required=True)
    validate = task_commands.add_parser("validate", help="check a task folder, grading it in its toolchain image")
    validate.add_argument("path", metavar="PATH")
    validate.add_argument("--no-grade", action="store_true", help="check the files only, without Docker")
    _engine_option(validate)
    new = task_commands.add_parser("new", help="scaffold a task folder (a small Python example to edit)")
    new.add_argument("path", metavar="PATH")
    show = commands.add_parser("show", help="show a stored result")
    show.add_argument("run_id")
    show.add_argument("--json", action="store_true")
    commands.add_parser("history", help="list stored results")
    cleanup = commands.add_parser("cleanup", help="remove what killed cab-check runs left behind")
    cleanup.add_argument(
        "--all", action="store_true", help="also remove the containers of runs still going, and of other machines' runs"
    )
    _engine_option(cleanup)
    commands.add_parser("gui", help="open the desktop app (needs the gui extra: cab-check[gui])")
    completion = commands.add_parser(
        "completion",
        help="print the shell completion script for bash, zsh or fish",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Print the completion script for SHELL on stdout. Install it once, then open a new shell:\n\n"
        "  bash  cab completion bash > ~/.local/share/bash-completion/completions/cab\n"
        '  zsh   cab completion zsh > "${fpath[1]}/_cab"\n'
        "  fish  cab completion fish > ~/.config/fish/completions/cab.fish\n\n"
        "The TUI and task names are written into the script: run it again after upgrading cab-check.",
    )
    completion.add_argument("shell", choices=("bash", "zsh", "fish"), metavar="SHELL", help="bash, zsh or fish")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command is None:
        build_parser().print_help()
        return EXIT_PASSED
    from rich.console import Console
    from rich.markup import escape

    err = Console(stderr=True)
    # SIGTERM (a closed terminal, `kill`) must clean up like Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return COMMANDS[args.command](args)
    except (Cancelled, KeyboardInterrupt) as exc:  # KeyboardInterrupt: a second Ctrl-C, or one outside a run
        cancelled = exc if isinstance(exc, Cancelled) else Cancelled()
        err.print(f"[yellow]{escape(cancelled.sentence(CLI_WORDS))}[/]", highlight=False, soft_wrap=True)
        return EXIT_CANCELLED
    except CabError as exc:
        # One unwrapped line, so a path in it stays whole; "[gui]" is text, not markup.
        err.print(f"[red]error:[/] {escape(exc.sentence(CLI_WORDS))}", highlight=False, soft_wrap=True)
        return exc.exit_code
    except BrokenPipeError:  # `cab tuis | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_PASSED


def _check(args: argparse.Namespace) -> int:
    from rich.console import Console

    from cab_check.models import MAX_TIMEOUT_S, MIN_TIMEOUT_S, CellRequest
    from cab_check.report.terminal import ProgressView, render_result
    from cab_check.run import resolve, run_cell

    if args.timeout is not None and not MIN_TIMEOUT_S <= args.timeout <= MAX_TIMEOUT_S:
        raise BadInput(f"--timeout {args.timeout} is out of range: give {MIN_TIMEOUT_S} to {MAX_TIMEOUT_S} seconds.")
    request = CellRequest(
        tui=args.tui,
        task=args.task,
        image=args.image,
        endpoint=args.endpoint,
        model=args.model,
        timeout_s=args.timeout,
        skip_handshake=args.skip_handshake,
        engine=args.engine,
    )
    cell = resolve(request)  # every input checked before a key is asked for or a container exists
    api_key = _resolve_key(cell.endpoint, args) if cell.endpoint else None

    progress_console = Console(stderr=True)
    with ProgressView(progress_console) as view, _cancel_on_signals() as cancel:
        result = run_cell(request, api_key=api_key, emit=view.handle, cancel=cancel)
    if args.json:
        print(result.model_dump_json(indent=2))
    else:
        render_result(Console(), result)
    return EXIT_PASSED if result.passed else EXIT_FAILED


@contextlib.contextmanager
def _cancel_on_signals() -> Iterator[threading.Event]:
    """Ctrl-C or SIGTERM during a run sets the engine's cancel event, as Cancel in the app does: the engine stops
    at its next checkpoint (within about a second) and cleans up. An interrupt raised at an arbitrary bytecode
    could land inside a library's lock and leave cleanup waiting on it; a second Ctrl-C still stops at once."""
    cancel = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield cancel
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _engine_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--engine",
        metavar="URL",
        help="container engine: unix://…, tcp://…, ssh://… or a docker context name (default: "
        "DOCKER_HOST, else the current docker context, else the local socket)",
    )


def _key_sources(parser: argparse.ArgumentParser) -> None:
    sources = parser.add_mutually_exclusive_group()
    sources.add_argument("--key-env", metavar="VAR", help="read the API key from this environment variable")
    sources.add_argument("--key-stdin", action="store_true", help="read the API key from the first line of stdin")


def _given_key(args: argparse.Namespace) -> str | None:
    """The key from --key-env or --key-stdin, when one of them is used."""
    if args.key_env:
        value = os.environ.get(args.key_env, "").strip()
        if not value:
            raise BadInput(f"--key-env {args.key_env}: that environment variable is not set or empty.")
        return value
    if args.key_stdin:
        value = sys.stdin.readline().strip()
        if not value:
            raise BadInput("--key-stdin: standard input held no key; pipe the key in, e.g. `pass show x | cab ...`.")
        return value
    return None


def _resolve_key(endpoint: str, args: argparse.Namespace) -> str | None:
    """--key-env or --key-stdin, then the endpoint's OS keyring entry, then a hidden prompt offering to save it."""
    from cab_check.keys import load_key, save_key

    given = _given_key(args)
    if given:
        return given
    saved = load_key(endpoint)
    if saved:
        return saved
    if not sys.stdin.isatty():
        print(
            f"No key for {endpoint} in the keyring and no terminal to ask: sending no key "
            "(use --key-env VAR or --key-stdin to give one).",
            file=sys.stderr,
        )
        return None
    import getpass

    key = getpass.getpass(f"API key for {endpoint} (input hidden; empty for none): ").strip()
    if key and input("Save it to the OS keyring for next time? [Y/n] ").strip().lower() in ("", "y", "yes"):
        try:
            save_key(endpoint, key)
        except Exception as exc:  # noqa: BLE001 - any backend failure; the key still works for this run
            print(f"Could not save to the keyring ({type(exc).__name__}); using it for this run only.", file=sys.stderr)
    return key or None


def _doctor(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from cab_check import doctor

    console = Console()
    findings = doctor.machine(args.engine)
    grid: list[doctor.Compatibility] = []
    if args.endpoint:
        from cab_check.run import validate_model_endpoint

        endpoint = validate_model_endpoint(args.endpoint, args.model)
        endpoint_findings, grid = doctor.endpoint_grid(endpoint, _resolve_key(endpoint, args), args.model)
        findings += endpoint_findings
    marks = {"ok": "[green]✓[/]", "warn": "[yellow]![/]", "fail": "[red]✗[/]"}
    for finding in (f.worded(CLI_WORDS) for f in findings):
        console.print(f"{marks[finding.status]} [bold]{finding.area}[/] {finding.detail}", highlight=False)
        if finding.fix and finding.status != "ok":
            console.print(f"    → {finding.fix}", style="dim", highlight=False)
    if grid:
        table = Table(title=f"Which TUIs can run against {args.model}", title_justify="left")
        table.add_column("TUI")
        table.add_column("")
        table.add_column("why")
        for row in grid:
            table.add_row(row.tui, marks["ok" if row.ok else "fail"], row.worded(CLI_WORDS).detail)
        console.print(table)
    return EXIT_ENVIRONMENT if any(f.status == "fail" for f in findings) else EXIT_PASSED


def _key(args: argparse.Namespace) -> int:
    from cab_check import keys

    if args.key_command == "list":
        endpoints = keys.saved_endpoints()
        print("\n".join(endpoints) if endpoints else "No saved keys.")
        return EXIT_PASSED
    from cab_check.run import validate_endpoint

    endpoint = validate_endpoint(args.endpoint)
    if args.key_command == "delete":
        found = keys.delete_key(endpoint)
        print(f"Removed the key for {endpoint}." if found else f"There was no saved key for {endpoint}.")
        return EXIT_PASSED
    key = _given_key(args)
    if key is None:
        if not sys.stdin.isatty():
            raise BadInput("No terminal to ask for the key: use --key-env VAR or --key-stdin.")
        import getpass

        key = getpass.getpass(f"API key for {endpoint} (input hidden): ").strip()
        if not key:
            raise BadInput("No key was typed; nothing was saved.")
    keys.save_key(endpoint, key)
    print(f"Saved the key for {endpoint} to the OS keyring.")
    return EXIT_PASSED


def _tasks(args: argparse.Namespace) -> int:
    from cab_check.catalog import shipped_tasks

    for slug, task in shipped_tasks().items():
        print(f"{slug:40} {task.language:8} {task.prompt}")
    return EXIT_PASSED


def _task(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cab_check import catalog

    folder = Path(args.path).expanduser()
    if args.task_command == "new":
        if folder.exists():
            raise BadInput(f"{folder} already exists; give a new folder name so nothing of yours is overwritten.")
        shutil.copytree(catalog.resources_root() / "scaffold" / "python", folder)
        print(f"Created {folder}. Edit task.toml and workdir/, then run: cab task validate {folder}")
        return EXIT_PASSED

    if not folder.is_dir():
        raise BadInput(f"{folder} is not a folder: give the path of a task folder (one with a task.toml).")
    task, problems = catalog.inspect_task(folder.resolve())
    if task is not None and not args.no_grade:
        from cab_check.task_check import grade_variants

        problems = grade_variants(task, progress=lambda line: print(f"  {line}", file=sys.stderr), engine=args.engine)
    for problem in problems:
        print(f"✗ {problem}")
    if problems:
        return EXIT_BAD_INPUT
    print(f"✓ {folder}: valid" + ("" if args.no_grade else ", fails as shipped and passes with its reference"))
    return EXIT_PASSED


def _tuis(args: argparse.Namespace) -> int:
    from cab_check.catalog import shipped_tuis

    if args.markdown:
        from cab_check.report.tui_table import tui_table

        print(tui_table(shipped_tuis()), end="")
        return EXIT_PASSED
    for name, tui in shipped_tuis().items():
        needs = tui.needs.features
        wire = {"chat": "chat completions", "responses": "Responses API", "anthropic": "Anthropic Messages"}
        how = "built by cab-check" if tui.buildable else "needs an image you provide (--image)"
        print(
            f"{name:14} {tui.version:10} {how}; {wire[tui.needs.wire]}; "
            f"needs {', '.join(needs) or 'no tool calls'} — {tui.description}"
        )
    return EXIT_PASSED


def _show(args: argparse.Namespace) -> int:
    from rich.console import Console

    from cab_check.report.terminal import render_result
    from cab_check.store import load_result

    try:
        result = load_result(args.run_id)
    except FileNotFoundError:
        raise BadInput(f"No stored result has run id '{args.run_id}': `cab history` lists them.") from None
    if args.json:
        print(result.model_dump_json(indent=2))
    else:
        render_result(Console(), result)
    return EXIT_PASSED


def _history(args: argparse.Namespace) -> int:
    from cab_check.store import read_history

    history = read_history()
    if not history.runs and not history.unreadable:
        print("No stored results yet: run `cab check`.")
    for r in history.runs:
        verdict = "pass" if r.passed else "FAIL"
        own = f" (own {r.own_composite:.3f})" if r.composites_differ else ""
        print(f"{r.run_id}  {verdict}  {r.composite:.3f}{own}  {r.tui:10} {r.model_label:24} {r.task}")
    # A result this version cannot read is named, never hidden: it may be a newer cab-check's, or damaged.
    for bad in history.unreadable:
        print(f"{bad.path.parent.name}  cannot be read ({bad.reason}): {bad.path}")
    return EXIT_PASSED


def _cleanup(args: argparse.Namespace) -> int:
    from cab_check import store, workspace
    from cab_check.sandbox import connect

    sandbox = connect(args.engine)
    # A run still going on this machine, or any run of another machine's, is only removed when asked for outright.
    removed = sandbox.remove_all() if args.all else sandbox.sweep_orphans()
    folders = workspace.sweep_temp_roots() + store.sweep_unfinished()
    whose = "cab-check" if args.all else "cab-check runs of this machine whose process is gone"
    print(
        f"Removed {removed} container(s) left by {whose} on {sandbox.engine.url}, and {folders} temp or "
        "half-saved folder(s)."
    )
    return EXIT_PASSED


def _completion(args: argparse.Namespace) -> int:
    from cab_check.completion import script

    print(script(args.shell, build_parser()), end="")
    return EXIT_PASSED


def _gui(args: argparse.Namespace) -> int:
    try:
        from cab_check.gui.app import main as gui_main
    except ImportError as exc:
        if exc.name and exc.name.split(".")[0] in ("PySide6", "shiboken6", "pyte"):
            raise EnvironmentProblem(
                "The desktop app needs the gui extra, which is not installed: "
                "pip install 'cab-check[gui]' (or pipx install 'cab-check[gui]', uvx --from 'cab-check[gui]' cab gui)."
            ) from None
        raise
    return gui_main([sys.argv[0]])


COMMANDS = {
    "check": _check,
    "tasks": _tasks,
    "task": _task,
    "key": _key,
    "doctor": _doctor,
    "tuis": _tuis,
    "show": _show,
    "history": _history,
    "cleanup": _cleanup,
    "gui": _gui,
    "completion": _completion,
}

if __name__ == "__main__":
    sys.exit(main())
