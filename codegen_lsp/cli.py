"""Command line: `codegen-lsp [--stdio | --tcp]` serves; `codegen-lsp complete FILE --line L --character C`
runs one completion through the same pipeline and prints it; `codegen-lsp convert SRC DST --to gptj` rewrites a
CodeGen checkpoint as GPT-J for servers that have no CodeGen (vLLM, TGI)."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import sys
from pathlib import Path

from . import __version__
from .settings import CHOICES, DEFAULT_MODEL, Settings, parse_settings

log = logging.getLogger("codegen_lsp")

# flag name → Settings field, for the flags that are settings
SETTING_FLAGS = {
    "model": "model",
    "device": "device",
    "dtype": "dtype",
    "engine": "engine",
    "quantize": "quantize",
    "decode_plan": "decode_plan",
    "max_new_tokens": "max_new_tokens",
    "temperature": "temperature",
    "mode": "mode",
    "context_tokens": "context_tokens",
    "kv_cache_slots": "kv_cache_slots",
    "draft_tokens": "draft_tokens",
    "draft_model": "draft_model",
    "cache_entries": "cache_entries",
    "trust_remote_code": "trust_remote_code",
    "revision": "revision",
    "api_base": "api_base",
    "api_model": "api_model",
    "api_key_env": "api_key_env",
    "ca_bundle": "ca_bundle",
    "log_level": "log_level",
}


def add_model_flags(parser: argparse.ArgumentParser, default=None) -> None:
    """The model flags; `default=argparse.SUPPRESS` on a subcommand, so that it does not overwrite the same
    flags given before the subcommand's name with None."""
    group = parser.add_argument_group("model")
    group.add_argument("--model", help=f"hub id or local directory (default {DEFAULT_MODEL})")
    group.add_argument("--device", help="auto, cpu, cuda or cuda:N (default auto)")
    group.add_argument("--dtype", choices=CHOICES["dtype"], help="default auto: half precision on GPU, float32 on CPU")
    group.add_argument("--engine", choices=CHOICES["engine"], help="default auto: fast for CodeGen on CUDA")
    group.add_argument("--backend", dest="engine", choices=CHOICES["engine"], help="alias of --engine")
    group.add_argument("--quantize", choices=CHOICES["quantize"],
                       help="weight-only int8/int4 in the fast CodeGen engine (default none)")
    group.add_argument("--decode-plan", choices=CHOICES["decode_plan"],
                       help="transformers engine: static cache + compiled forward, or dynamic (default auto: static on CUDA)")
    group.add_argument("--max-new-tokens", type=int)
    group.add_argument("--temperature", type=float, help="0 (default) decodes greedily")
    group.add_argument("--mode", choices=CHOICES["mode"], help="how much to complete (default auto)")
    group.add_argument("--context-tokens", type=int, help="prompt budget in tokens (default: the model's window)")
    group.add_argument("--kv-cache-slots", type=int, help="KV caches kept for prefix reuse (0 turns reuse off)")
    group.add_argument("--draft-tokens", type=int,
                       help="speculative decoding: tokens drafted per model pass (default 4; 0 turns it off)")
    group.add_argument("--draft-model", help="a small model of the same family that drafts (default: prompt lookup)")
    group.add_argument("--cache-entries", type=int, help="finished completions kept (0 turns the cache off)")
    group.add_argument("--trust-remote-code", action="store_true", default=default, help="run a checkpoint's own code")
    group.add_argument("--revision", help="model revision (branch, tag or commit) on the hub")
    group.add_argument("--api-base", help="an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
    group.add_argument("--api-model", help="model name to ask the remote server for")
    group.add_argument("--api-key-env", help="environment variable that holds the API key")
    group.add_argument("--ca-bundle", help="PEM file of extra CA certificates for an https api-base")
    group.add_argument("--log-level", choices=CHOICES["log_level"])
    group.add_argument("--log-file", help="write logs here instead of stderr")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="codegen-lsp", description=__doc__)
    parser.add_argument("--version", action="version", version=f"codegen-lsp {__version__}")
    parser.add_argument("--stdio", action="store_true", help="serve over stdio (the default)")
    parser.add_argument("--tcp", action="store_true", help="serve over TCP")
    parser.add_argument("--host", default="127.0.0.1", help="TCP address (default 127.0.0.1; there is no auth)")
    parser.add_argument("--port", type=int, default=2087)
    add_model_flags(parser)
    commands = parser.add_subparsers(dest="command")
    complete = commands.add_parser(
        "complete",
        help="complete FILE at --line/--character and print the result",
        argument_default=argparse.SUPPRESS,
    )
    complete.add_argument("file", type=Path)
    complete.add_argument("--line", type=int, required=True, help="0-based line")
    complete.add_argument("--character", type=int, required=True, help="0-based column, in characters")
    complete.add_argument("--language", default=None, help="language id (default: from the file's extension)")
    add_model_flags(complete, default=argparse.SUPPRESS)
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


def settings_from_args(args: argparse.Namespace) -> tuple[Settings, list[str]]:
    given = {field: getattr(args, flag) for flag, field in SETTING_FLAGS.items() if getattr(args, flag, None) is not None}
    return parse_settings(given)


def setup_logging(level: str, log_file: str | None) -> None:
    handler = logging.FileHandler(log_file) if log_file else logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    log.setLevel(level.upper())


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    settings, errors = settings_from_args(args)
    setup_logging(settings.log_level, args.log_file)
    if errors:
        for error in errors:
            print(f"codegen-lsp: {error}", file=sys.stderr)
        sys.exit(2)
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
        server.start_io()
    sys.exit(server.protocol.final_exit_code())  # pygls swallows the code `exit` asks for


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run_complete(args: argparse.Namespace, settings: Settings) -> int:
    from .completion import Completer

    try:
        text = args.file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        print(f"codegen-lsp: cannot read {args.file}: {err}", file=sys.stderr)
        return 2
    offset = offset_of(text, args.line, args.character)
    if offset is None:
        print(f"codegen-lsp: line {args.line} is past the end of {args.file}", file=sys.stderr)
        return 2
    completer = Completer(settings, on_error=lambda message: print(f"codegen-lsp: {message}", file=sys.stderr))

    async def run() -> list[str] | None:
        if not await completer.load(lambda message, pct: log.info("loading: %s", message)):
            return None
        shown = await completer.complete(args.file.resolve().as_uri(), text, offset, args.language)
        return [c.insert_text for c in shown]  # what to insert at the position (the closers there stay)

    try:
        completions = asyncio.run(run())
    finally:
        completer.close()
    if completions is None:
        return 1
    sys.stdout.write("\n----\n".join(completions))
    if completions:
        sys.stdout.write("\n")
    return 0


def offset_of(text: str, line: int, character: int) -> int | None:
    """Offset of a (line, character) position, the character clamped to the line's length."""
    lines = text.split("\n")
    if line < 0 or line >= len(lines):
        return None
    start = sum(len(l) + 1 for l in lines[:line])
    return start + max(0, min(character, len(lines[line].rstrip("\r"))))


if __name__ == "__main__":
    main()
