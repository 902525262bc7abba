"""Command line: `codegen-lsp [--stdio | --tcp]` serves; `codegen-lsp check` loads the model and says whether
it works here and how fast; `codegen-lsp complete FILE:LINE:COL` runs one completion through the same pipeline
and prints it; `codegen-lsp convert SRC DST --to gptj` rewrites a CodeGen checkpoint as GPT-J for servers that
have no CodeGen (vLLM, TGI).

`complete` exits 0 when it printed a suggestion, 3 when there is none (why on stderr), 1 when the model does
not load or the completion failed, 2 on bad input (flags, an unreadable file, a position past the end).
`check` exits 0 when the model loads and completes, 1 when it does not work here, 2 on bad flags."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import sys
from pathlib import Path

from . import __version__
from .settings import CHOICES, SETTINGS_FIELDS, Settings, flags_of, meta, parse_settings

log = logging.getLogger("codegen_lsp")

def add_setting_flags(parser: argparse.ArgumentParser, default=None) -> None:
    """One flag per setting, from the settings schema; `default=argparse.SUPPRESS` on a subcommand, so that it
    does not overwrite the same flags given before the subcommand's name with None."""
    group = parser.add_argument_group("settings (each is also an editor setting: docs/settings.md)")
    for field in SETTINGS_FIELDS:
        group.add_argument(*flags_of(field), dest=field.name, default=default, help=_flag_help(field),
                           **_flag_kind(field))
    group.add_argument("--log-file", default=default, help="write logs here instead of stderr")


def _flag_kind(field) -> dict:
    if field.type is bool:
        return {"action": argparse.BooleanOptionalAction}
    if field.name in CHOICES:
        return {"choices": CHOICES[field.name]}
    if field.type in (int, float):
        return {"type": field.type, "metavar": "N"}
    return {}


def _flag_help(field) -> str:
    text = meta(field).help
    default = field.default
    if default is not None and field.type is not bool:
        text += f" (default {default})"
    elif field.type is bool:
        text += f" (default {'on' if default else 'off'})"
    return text.replace("%", "%%")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="codegen-lsp", description=__doc__)
    parser.add_argument("--version", action="version", version=f"codegen-lsp {__version__}")
    parser.add_argument("--stdio", action="store_true", help="serve over stdio (the default)")
    parser.add_argument("--tcp", action="store_true", help="serve over TCP")
    parser.add_argument("--host", default="127.0.0.1", help="TCP address (default 127.0.0.1; there is no auth)")
    parser.add_argument("--port", type=int, default=2087)
    add_setting_flags(parser)
    commands = parser.add_subparsers(dest="command")
    check = commands.add_parser(
        "check",
        help="load the model, complete a built-in snippet, and say whether it works here and how fast",
        description="Load the configured model, run a completion and a keystroke completion on a built-in "
        "snippet, print device, dtype, engine, memory and latencies, and one line per problem found. "
        "Exit 0: it works; 1: it does not work here; 2: bad flags.",
        argument_default=argparse.SUPPRESS,
    )
    add_setting_flags(check, default=argparse.SUPPRESS)
    complete = commands.add_parser(
        "complete",
        help="complete FILE:LINE:COL (1-based, as compilers print) or FILE --line L --character C (0-based)",
        description="Run one completion through the server's pipeline and print it. Exit 0: a suggestion was "
        "printed; 3: no suggestion (why on stderr); 1: the model did not load or the completion failed; "
        "2: bad input.",
        argument_default=argparse.SUPPRESS,
    )
    complete.add_argument("file", help="FILE, or FILE:LINE:COL with 1-based line and column")
    complete.add_argument("--line", type=int, default=None, help="0-based line (LSP positions)")
    complete.add_argument("--character", type=int, default=None, help="0-based column, in characters")
    complete.add_argument("--language", default=None, help="language id (default: from the file's extension)")
    add_setting_flags(complete, default=argparse.SUPPRESS)
    convert = commands.add_parser(
        "convert",
        help="write a CodeGen checkpoint as GPT-J (what vLLM and TGI serve natively)",
        description="Rewrite a CodeGen checkpoint (hub id or directory) as GPTJForCausalLM, tensor by tensor.",
    )
    convert.add_argument("source", metavar="SRC", help="CodeGen checkpoint: a local directory or a hub id")
    convert.add_argument("destination", metavar="DST", help="directory to write (must be empty or absent)")
    convert.add_argument("--to", dest="target", default="gptj", help="target architecture (gptj)")
    convert.add_argument("--force", action="store_true", help="replace a non-empty DST")
    convert.add_argument("--max-shard-size", default="5GB", help="largest safetensors shard (default 5GB)")
    convert.add_argument("--source-revision", help="branch, tag or commit of a hub SRC")
    return parser


def settings_given(args: argparse.Namespace) -> dict:
    return {f.name: getattr(args, f.name) for f in SETTINGS_FIELDS if getattr(args, f.name, None) is not None}


def settings_from_args(args: argparse.Namespace) -> tuple[Settings, list[str]]:
    return parse_settings(settings_given(args))


def setup_logging(level: str | None, log_file: str | None, command: str | None = None) -> None:
    """Logs to stderr or `log_file` (`level` None: the flag was not given, info). A one-shot command on stderr
    prints plain `codegen-lsp: message` lines (what the user reads); the server's logs carry time, level and
    module. `check` logs only when asked (--log-level, --log-file): its report says what went wrong."""
    if command == "check" and level is None and not log_file:
        logging.getLogger().addHandler(logging.NullHandler())
        return
    level = level or "info"
    handler = logging.FileHandler(log_file) if log_file else logging.StreamHandler(sys.stderr)
    plain = command is not None and not log_file
    handler.setFormatter(logging.Formatter("codegen-lsp: %(message)s" if plain else "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    log.setLevel(level.upper())


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    settings, errors = settings_from_args(args)
    setup_logging(getattr(args, "log_level", None), args.log_file, args.command)
    if errors:
        for error in errors:
            print(f"codegen-lsp: {error}", file=sys.stderr)
        sys.exit(2)
    if args.command == "check":
        from .check import run_check

        sys.exit(run_check(parse_settings({**settings_given(args), "typed_through": False})[0]))
    if args.command == "complete":
        sys.exit(run_complete(args, settings))
    if args.command == "convert":
        from .convert import run_convert

        sys.exit(run_convert(
            args.source, args.destination, args.target, args.force, args.source_revision, args.max_shard_size
        ))
    serve(args, settings)


def serve(args: argparse.Namespace, settings: Settings) -> None:
    from .server import create_server

    server = create_server(settings)
    if args.tcp:
        if not is_loopback(args.host):
            log.warning(
                "LISTENING ON %s: anyone who can reach this address can read the code you send and run the "
                "model; the protocol has no authentication. Use 127.0.0.1 unless you mean it.",
                args.host,
            )
        server.start_tcp(args.host, args.port)
    else:
        if sys.stdin.isatty():
            print(WAITING_ON_TERMINAL, file=sys.stderr)
        server.start_io()
        if not server.protocol.initialized:
            sys.exit(0)  # the input ended before any client connected: nothing went wrong
    sys.exit(server.protocol.final_exit_code())  # pygls swallows the code `exit` asks for


WAITING_ON_TERMINAL = (
    "codegen-lsp: waiting for an LSP client on stdin (editors start this command themselves); to try the model "
    "by hand: `codegen-lsp check`, or `codegen-lsp complete FILE:LINE:COL`. Ctrl-D quits."
)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run_complete(args: argparse.Namespace, settings: Settings) -> int:
    from .completion import Completer
    from .context import SKIP, cursor_context

    position = complete_position(args.file, args.line, args.character)
    if isinstance(position, str):
        print(f"codegen-lsp: {position}", file=sys.stderr)
        return 2
    path, line, character = position
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        print(f"codegen-lsp: cannot read {path}: {err}", file=sys.stderr)
        return 2
    offset = offset_of(text, line, character)
    if offset is None:
        print(f"codegen-lsp: line {line + 1} (0-based {line}) is past the end of {path}", file=sys.stderr)
        return 2
    uri = path.resolve().as_uri()
    # Its errors are logged, one line each; printed as well where the logs go to a file.
    completer = Completer(settings, on_error=(lambda message: print(f"codegen-lsp: {message}", file=sys.stderr))
                          if args.log_file else None)

    async def run() -> list[str] | None:
        if not await completer.load(lambda message, pct: log.info("loading: %s", message)):
            return None
        shown = await completer.complete(uri, text, offset, args.language)
        return [c.insert_text for c in shown]  # what to insert at the position (the closers there stay)

    try:
        completions = asyncio.run(run())
    finally:
        completer.close()
    if completions is None or completer.stats.snapshot()["errors"]:
        return 1
    if not completions:
        ctx = cursor_context(text, offset, args.language, uri, settings.mode)
        why = ("the cursor is inside a word or before code on its line, where nothing is completed"
               if ctx.mode == SKIP else "the filters cut the model's text to nothing: it repeated the code around "
               "it or did not fit the block")
        print(f"codegen-lsp: no suggestion ({why})", file=sys.stderr)
        return 3
    sys.stdout.write("\n----\n".join(completions) + "\n")
    return 0


def complete_position(file: str, line: int | None, character: int | None) -> tuple[Path, int, int] | str:
    """(path, 0-based line, 0-based character) from `FILE --line L --character C` (0-based, as LSP counts)
    or `FILE:LINE:COL` (1-based, as compilers and editors print); a message when neither is given."""
    if line is not None or character is not None:
        if line is None or character is None:
            return "give both --line and --character (0-based), or FILE:LINE:COL (1-based)"
        return Path(file), line, character
    parts = file.rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit() and not Path(file).exists():
        if int(parts[1]) < 1 or int(parts[2]) < 1:
            return f"{file}: LINE and COL count from 1"
        return Path(parts[0]), int(parts[1]) - 1, int(parts[2]) - 1
    return f"where in {file}? give FILE:LINE:COL (1-based) or --line and --character (0-based)"


def offset_of(text: str, line: int, character: int) -> int | None:
    """Offset of a (line, character) position, the character clamped to the line's length."""
    lines = text.split("\n")
    if line < 0 or line >= len(lines):
        return None
    start = sum(len(l) + 1 for l in lines[:line])
    return start + max(0, min(character, len(lines[line].rstrip("\r"))))


if __name__ == "__main__":
    main()
