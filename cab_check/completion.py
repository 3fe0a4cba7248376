"""Shell completion scripts for bash, zsh and fish, generated from the `cab` argparse parser itself.

The scripts are static: the subcommands, options, TUI names and task slugs are written into them when
`cab completion SHELL` runs. They change only with a release, and a static script keeps TAB instant where asking
`cab` at every keypress would start Python each time.

Only the standard library is imported here at module level: `cab --help` must stay cold.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Values:
    """What to offer where an option's or a positional's value is typed."""

    words: tuple[str, ...] = ()
    dirs: bool = False  # folders
    files: bool = False  # any file (folders too, to walk into)


@dataclass(frozen=True)
class Option:
    flags: tuple[str, ...]
    help: str
    metavar: str
    value: Values | None  # None: a flag that takes no value
    excludes: tuple[str, ...]  # the other flags of its mutually exclusive group
    ends: bool  # --help, --version: nothing else counts after them


@dataclass(frozen=True)
class Positional:
    metavar: str
    help: str
    value: Values
    repeats: bool
    optional: bool


@dataclass(frozen=True)
class Command:
    path: tuple[str, ...]  # ("cab", "key", "set")
    help: str
    options: tuple[Option, ...]
    positionals: tuple[Positional, ...]
    subcommands: tuple[Command, ...]

    @property
    def name(self) -> str:
        return self.path[-1]

    @property
    def label(self) -> str:
        return " ".join(self.path)


# Words are written into the scripts unquoted where each shell expects a plain list.
_SAFE_WORD = re.compile(r"[A-Za-z0-9_@%+,./=-]+")


def command_tree(parser: argparse.ArgumentParser, values: Mapping[str, Values] | None = None) -> Command:
    """The parser as data. `values` adds what argparse cannot know, keyed by an option's flag or a positional's
    metavar: {"--tui": Values(("aider", ...)), "PATH": Values(dirs=True)}; an option with `choices` needs none."""
    return _command(parser, (parser.prog,), "", values or {})


def _command(
    parser: argparse.ArgumentParser, path: tuple[str, ...], help: str, values: Mapping[str, Values]
) -> Command:
    excludes: dict[int, tuple[str, ...]] = {}
    for group in parser._mutually_exclusive_groups:
        for action in group._group_actions:
            excludes[id(action)] = tuple(
                flag for other in group._group_actions if other is not action for flag in other.option_strings
            )
    options, positionals, subcommands = [], [], []
    for action in parser._actions:
        if action.help == argparse.SUPPRESS:
            continue
        if isinstance(action, argparse._SubParsersAction):
            helps = {id(action.choices[c.dest]): _help(c) for c in action._choices_actions}
            for name, sub in action.choices.items():  # aliases too: each name must lead to its parser
                subcommands.append(_command(sub, (*path, name), helps.get(id(sub), ""), values))
        elif action.option_strings:
            takes_value = action.nargs != 0
            options.append(
                Option(
                    flags=tuple(action.option_strings),
                    help=_help(action),
                    metavar=_metavar(action),
                    value=_values(action, action.option_strings, values) if takes_value else None,
                    excludes=excludes.get(id(action), ()),
                    ends=isinstance(action, (argparse._HelpAction, argparse._VersionAction)),
                )
            )
        else:
            positionals.append(
                Positional(
                    metavar=_metavar(action),
                    help=_help(action),
                    value=_values(action, [_metavar(action)], values),
                    repeats=action.nargs in ("*", "+", argparse.REMAINDER),
                    optional=action.nargs in ("?", "*"),
                )
            )
    return Command(path, help, tuple(options), tuple(positionals), tuple(subcommands))


def _values(action: argparse.Action, keys: Sequence[str], values: Mapping[str, Values]) -> Values:
    for key in keys:
        if key in values:
            found = values[key]
            break
    else:
        found = Values(tuple(str(c) for c in action.choices)) if action.choices else Values()
    for word in found.words:
        if not _SAFE_WORD.fullmatch(word):
            raise ValueError(f"{word!r} ({'/'.join(keys)}) has characters the completion scripts do not quote.")
    return found


def _metavar(action: argparse.Action) -> str:
    if isinstance(action.metavar, str):
        return action.metavar
    return action.dest.upper() if action.option_strings else action.dest


def _help(action: argparse.Action) -> str:
    text = action.help or ""
    try:  # argparse's own placeholders, e.g. "(default: %(default)s)"
        text = text % {**vars(action), "prog": ""}
    except (KeyError, TypeError, ValueError):
        pass
    return " ".join(text.split())


def _walk(command: Command) -> Iterator[Command]:
    yield command
    for sub in command.subcommands:
        yield from _walk(sub)


def _fn(command: Command) -> str:
    """A shell function name for a command; "__" between levels, so `key set` never meets a `key_set`."""
    return "_" + "__".join(re.sub(r"\W", "_", part) for part in command.path)


# ---------------------------------------------------------------------------------------------------------- bash


def _sh(text: str) -> str:
    """Single-quoted for bash and zsh."""
    return "'" + text.replace("'", "'\\''") + "'"


def bash(parser: argparse.ArgumentParser, values: Mapping[str, Values] | None = None) -> str:
    root = command_tree(parser, values)
    fn = _fn(root)
    steps, value_cases, command_cases = [], [], []
    for command in _walk(root):
        for sub in command.subcommands:
            steps.append(f"            {_sh(f'{command.label}:{sub.name}')}) node={_sh(sub.label)}; positional=0 ;;")
        taking = [(o, o.value) for o in command.options if o.value is not None]
        if taking:
            patterns = "|".join(_sh(f"{command.label}:{flag}") for o, _ in taking for flag in o.flags)
            steps.append(f"            {patterns}) value_of=$word ;;")
        for option, value in taking:
            offer = _bash_offer(fn, value)
            if offer:  # a URL, a number, a model id: nothing to offer
                patterns = "|".join(_sh(f"{command.label}:{flag}") for flag in option.flags)
                value_cases.append(f"            {patterns}) {offer} ;;")
        command_cases.append(_bash_command(fn, command))
    steps_text, value_text, command_text = ("\n".join(lines) for lines in (steps, value_cases, command_cases))
    return f"""\
# bash completion for {root.name}, generated by `{root.name} completion bash` from its own argument parser.
# Regenerate it after upgrading: the TUI and task names are written in, which keeps TAB instant.

{fn}_words() {{  # the words of $1 that start with $2
    local -a words
    local word
    read -ra words <<< "$1"
    for word in "${{words[@]}}"; do
        [[ $word == "$2"* ]] && COMPREPLY+=("$word")
    done
    return 0
}}

{fn}_paths() {{  # $1: -d for folders, -f for files and folders; $2: the word so far
    local path found=
    while IFS= read -r path; do
        COMPREPLY+=("$path")
        found=1
    done < <(compgen "$1" -- "$2")
    # Only when a path was offered: "filenames" would also cut a slug like polyglot/rust-error-handling
    # down to rust-error-handling in the list bash shows.
    if [[ -n $found ]]; then compopt -o filenames 2>/dev/null; fi
    return 0
}}

{fn}() {{
    COMPREPLY=()
    local cur=${{COMP_WORDS[COMP_CWORD]}}
    local node={_sh(root.label)} value_of= positional=0 word i
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${{COMP_WORDS[i]}}
        # "=" is in COMP_WORDBREAKS, so bash hands --tui=aider over as "--tui" "=" "aider".
        [[ $word == = ]] && continue
        if [[ -n $value_of ]]; then
            value_of=
            continue
        fi
        case "$node:$word" in
{steps_text}
            *) [[ $word == -* ]] || positional=$((positional + 1)) ;;
        esac
    done
    [[ $cur == = ]] && cur=
    if [[ -n $value_of ]]; then
        case "$node:$value_of" in
{value_text}
        esac
        return 0
    fi
    case "$node" in
{command_text}
    esac
    return 0
}}

complete -F {fn} {root.name}
"""


def _bash_offer(fn: str, value: Values) -> str:
    offers = []
    if value.words:
        offers.append(f'{fn}_words {_sh(" ".join(value.words))} "$cur"')
    if value.dirs or value.files:
        offers.append(f'{fn}_paths {"-f" if value.files else "-d"} "$cur"')
    return "; ".join(offers)


def _bash_command(fn: str, command: Command) -> str:
    flags = f'{fn}_words {_sh(" ".join(f for o in command.options for f in o.flags))} "$cur"'
    label = _sh(command.label)
    if command.subcommands:
        other = f'{fn}_words {_sh(" ".join(s.name for s in command.subcommands))} "$cur"'
    elif any(_bash_offer(fn, p.value) for p in command.positionals):
        branches = []
        for index, positional in enumerate(command.positionals):
            last = positional.repeats and index == len(command.positionals) - 1
            branches.append(f"{'*' if last else index}) {_bash_offer(fn, positional.value) or ':'} ;;")
        other = f"case $positional in {' '.join(branches)} esac"
    elif command.positionals:  # a URL or a run id to type: options only once a dash is
        return f"        {label}) if [[ $cur == -* ]]; then {flags}; fi ;;"
    else:  # options are all there is to type: offer them before a dash is typed
        return f"        {label}) {flags} ;;"
    return f"        {label}) if [[ $cur == -* ]]; then {flags}; else {other}; fi ;;"


# ----------------------------------------------------------------------------------------------------------- zsh


def _zdesc(text: str) -> str:
    """Text for an _arguments [description]."""
    return re.sub(r"([\\\[\]:])", r"\\\1", text)


def zsh(parser: argparse.ArgumentParser, values: Mapping[str, Values] | None = None) -> str:
    root = command_tree(parser, values)
    fn = _fn(root)
    functions = "\n".join(_zsh_function(command) for command in _walk(root))
    return f"""\
#compdef {root.name}
# zsh completion for {root.name}, generated by `{root.name} completion zsh` from its own argument parser.
# Regenerate it after upgrading: the TUI and task names are written in, which keeps TAB instant.

{functions}
# Autoloaded from $fpath this file is the body of {fn}; sourced after compinit it only registers it.
if [[ $funcstack[1] == {fn} ]]; then
  {fn} "$@"
else
  compdef {fn} {root.name}
fi
"""


def _zsh_function(command: Command) -> str:
    helpers: list[str] = []
    specs = [_zsh_option(command, option, helpers) for option in command.options]
    for positional in command.positionals:
        action = _zsh_action(command, positional.metavar, positional.value, helpers)
        kind = ("*" if positional.repeats else "") + (":" if positional.optional else "")
        specs.append(_sh(f"{kind}:{_zdesc(positional.metavar)}:{action}"))
    if not command.subcommands:
        lines = ["  _arguments \\", *(f"    {spec} \\" for spec in specs[:-1]), f"    {specs[-1]}"]
        return "".join(helpers) + f"{_fn(command)}() {{\n" + "\n".join(lines) + "\n}\n"
    specs += [_sh(": :->command"), _sh("*:: :->argument")]
    names = [_sh(sub.name.replace(":", "\\:") + ":" + sub.help) for sub in command.subcommands]
    lines = [
        "  local curcontext=$curcontext state state_descr line ret=1",
        "  typeset -A opt_args",
        "  _arguments -C \\",
        *(f"    {spec} \\" for spec in specs[:-1]),
        f"    {specs[-1]} && ret=0",
        "  case $state in",
        "    (command)",
        "      local -a commands=(",
        *(f"        {name}" for name in names),
        "      )",
        f"      _describe -t commands {_sh(command.label + ' command')} commands && ret=0 ;;",
        "    (argument)",
        # The context names the subcommand, so zstyles can tell `cab key set` from `cab key delete`.
        f"      curcontext=${{curcontext%:*:*}}:{'-'.join(command.path)}-$words[1]:",
        "      case $words[1] in",
        *(f"        ({_sh(sub.name)}) {_fn(sub)} && ret=0 ;;" for sub in command.subcommands),
        "      esac ;;",
        "  esac",
        "  return ret",
    ]
    return "".join(helpers) + f"{_fn(command)}() {{\n" + "\n".join(lines) + "\n}\n"


def _zsh_option(command: Command, option: Option, helpers: list[str]) -> str:
    excluded = ("- *",) if option.ends else (*option.flags, *option.excludes)
    if option.value is None:
        names = list(option.flags)
        tail = ""
    else:
        # --tui=aider and --tui aider both parse; a short flag may carry its value glued on (-tX) or apart.
        names = [f"{flag}=" if flag.startswith("--") else f"{flag}+" for flag in option.flags]
        action = _zsh_action(command, option.metavar, option.value, helpers)
        tail = f":{_zdesc(option.metavar)}:{action}"
    excluding = "(" + " ".join(excluded) + ")"
    described = f"[{_zdesc(option.help)}]{tail}" if option.help else tail
    if len(names) == 1:
        return _sh(excluding + names[0] + described)
    return _sh(excluding) + "{" + ",".join(names) + "}" + _sh(described)  # {-h,--help}: zsh expands the braces


def _zsh_action(command: Command, metavar: str, value: Values, helpers: list[str]) -> str:
    paths = "_files -/" if value.dirs and not value.files else "_files" if value.files else ""
    if value.words and paths:  # both: a helper, since _alternative inside an _arguments spec needs two quotings
        name = _fn(command) + "_" + re.sub(r"\W", "_", metavar.lower()) + "_values"
        words = " ".join(value.words)
        helpers.append(
            f"{name}() {{\n  _alternative {_sh(f'words:{metavar.lower()}:({words})')} "
            f"{_sh(('folders:folder:' if value.dirs else 'files:file:') + paths)}\n}}\n\n"
        )
        return name
    if value.words:
        return f"({' '.join(value.words)})"
    return paths or " "  # " ": nothing to offer, the metavar is shown as a hint


# ---------------------------------------------------------------------------------------------------------- fish


def _fq(text: str) -> str:
    """Single-quoted for fish, where backslash escapes inside quotes too."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _fdq(text: str) -> str:
    """Double-quoted for fish: readable inside a single-quoted condition."""
    return '"' + re.sub(r'([\\"$])', r"\\\1", text) + '"'


def fish(parser: argparse.ArgumentParser, values: Mapping[str, Values] | None = None) -> str:
    root = command_tree(parser, values)
    fn = "_" + _fn(root)  # fish's own helpers use a double underscore
    cmd = root.name
    steps, lines = [], []
    for command in _walk(root):
        at = f"-n {_fq(f'{fn}_at {_fdq(command.label)}')}"
        for sub in command.subcommands:
            steps.append(
                f"            case {_fq(f'{command.label}:{sub.name}')}\n                set node {_fq(sub.label)}"
            )
            lines.append(f"complete -c {cmd} {at} -a {_fq(sub.name)} -d {_fq(sub.help)}")
        taking = [f"{command.label}:{flag}" for o in command.options if o.value is not None for flag in o.flags]
        if taking:
            steps.append(f"            case {' '.join(_fq(t) for t in taking)}\n                set value_of $word")
        for option in command.options:
            lines.append(
                f"complete -c {cmd} {at} {_fish_flags(option.flags)}{_fish_value(option.value)} -d {_fq(option.help)}"
            )
        for positional in command.positionals:
            value = _fish_value(positional.value, positional=True)
            if value:
                lines.append(f"complete -c {cmd} {at}{value}")
    steps_text, lines_text = "\n".join(steps), "\n".join(lines)
    return f"""\
# fish completion for {cmd}, generated by `{cmd} completion fish` from its own argument parser.
# Regenerate it after upgrading: the TUI and task names are written in, which keeps TAB instant.

function {fn}_node --description 'The {cmd} (sub)command the cursor is in, e.g. "{cmd} key set"'
    set -l words (commandline -opc)
    set -e words[1]
    set -l node {_fq(root.label)}
    set -l value_of
    for word in $words
        if set -q value_of[1]
            set value_of
            continue
        end
        switch "$node:$word"
{steps_text}
        end
    end
    echo $node
end

function {fn}_at
    test ({fn}_node) = "$argv[1]"
end

# No file names unless an argument is a path.
complete -c {cmd} -f
{lines_text}
"""


def _fish_flags(flags: tuple[str, ...]) -> str:
    parts = []
    for flag in flags:
        if flag.startswith("--"):
            parts.append(f"-l {_fq(flag[2:])}")
        elif len(flag) == 2:
            parts.append(f"-s {_fq(flag[1:])}")
        else:
            parts.append(f"-o {_fq(flag[1:])}")
    return " ".join(parts)


def _fish_value(value: Values | None, positional: bool = False) -> str:
    if value is None:
        return ""
    words = list(value.words)
    if value.files:
        return f" -F -a {_fq(' '.join(words))}" if words else " -F"
    if value.dirs:
        words.append("(__fish_complete_directories (commandline -ct) folder)")
    if positional:
        return f" -a {_fq(' '.join(words))}" if words else ""
    return f" -x -a {_fq(' '.join(words))}" if words else " -x"


SHELLS = {"bash": bash, "zsh": zsh, "fish": fish}


def cab_values() -> dict[str, Values]:
    """What argparse cannot know about cab's arguments: the shipped TUIs and tasks, and which ones are paths."""
    from cab_check.catalog import shipped_tasks, shipped_tuis

    return {
        "--tui": Values(tuple(shipped_tuis())),
        "--task": Values(tuple(shipped_tasks()), dirs=True),  # a slug, or a task folder of the user's
        "PATH": Values(dirs=True),  # `cab task validate|new PATH`: a task folder
    }


def script(shell: str, parser: argparse.ArgumentParser) -> str:
    """The completion script `cab completion SHELL` prints for cab's `parser`."""
    return SHELLS[shell](parser, cab_values())
