"""Write what is generated from the settings schema (codegen_lsp/settings.py): docs/settings.md, the VS Code
extension's `contributes.configuration` in package.json, and its src/serverSettings.ts (the settings it sends).

    python scripts/settings_docs.py --write   # rewrite the three files
    python scripts/settings_docs.py --check   # exit 1 if one of them differs from the schema

tests/test_settings_schema.py runs the check, so a setting changed in the schema and not here fails the tests.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from codegen_lsp.settings import SETTINGS_FIELDS, editor_key, flags_of, meta  # noqa: E402

DOCS = ROOT / "docs" / "settings.md"
PACKAGE_JSON = ROOT / "editors" / "vscode" / "package.json"
SERVER_SETTINGS_TS = ROOT / "editors" / "vscode" / "src" / "serverSettings.ts"
SECTION = "codegenLsp"
JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}


def base_type(field) -> Any:
    """bool, int, float or str (a choice or an optional string is a str)."""
    if get_origin(field.type) is Literal:
        return str
    args = [arg for arg in get_args(field.type) if arg is not type(None)]
    return args[0] if args else field.type


def free_text(field) -> bool:
    """A string that is not a choice or a fixed shape: editors show it empty, and empty means the default."""
    return base_type(field) is str and get_origin(field.type) is not Literal and meta(field).pattern is None


def shown(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# -- docs/settings.md -------------------------------------------------------------------------------------------
def markdown() -> str:
    rows = []
    for field in SETTINGS_FIELDS:
        m = meta(field)
        kind = JSON_TYPES[base_type(field)]
        if get_origin(field.type) is Literal:
            kind = "one of " + ", ".join(f"`{choice}`" for choice in get_args(field.type))
        elif m.within is not None:
            kind += f" in {shown(m.within[0])}..{shown(m.within[1])}"
        elif m.expected is not None:
            kind += f": {m.expected}"
        flags = " / ".join(f"`{flag}`" for flag in flags_of(field))
        if base_type(field) is bool:
            flags += " / " + " / ".join(f"`--no-{flag[2:]}`" for flag in flags_of(field))
        default = "unset" if field.default is None else f"`{shown(field.default)}`"
        meaning = m.help if m.editor else m.help + " (command line and editor JSON only)"
        rows.append(f"| `{editor_key(field.name)}` | {flags} | {kind} | {default} | "
                    f"{'yes' if m.reloads else 'no'} | {meaning} |")
    return "\n".join([
        "# Settings",
        "",
        "<!-- Generated from codegen_lsp/settings.py by `python scripts/settings_docs.py --write`: edit the",
        "     schema there, not this file (tests/test_settings_schema.py fails when they differ). -->",
        "",
        "Every setting is a command-line flag, an `initializationOptions` key and a `workspace/didChangeConfiguration`",
        "key (camelCase as below, or snake_case, flat or nested as `{\"codegenLsp\": {...}}`); the editor's values",
        "override the flags. An invalid value gets one `window/showMessage` warning and the server keeps the previous",
        "value; unknown keys (an editor's own, such as `serverPath`) are ignored.",
        "",
        "*Reloads*: a change reloads the model in the background (the setting is part of the engine's config,",
        "`codegen_lsp/engines/config.py`); the others apply to the next request.",
        "",
        "| setting | flag | type | default | reloads | what it does |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
    ])


# -- the VS Code extension ------------------------------------------------------------------------------------------
def vscode_property(field) -> dict[str, Any]:
    m = meta(field)
    prop: dict[str, Any] = {"type": JSON_TYPES[base_type(field)]}
    description = m.help[0].upper() + m.help[1:]
    if free_text(field):
        prop["default"] = ""
        if field.default is not None:
            description += f" (empty: the server's default, {field.default})"
    else:
        prop["default"] = field.default
    if get_origin(field.type) is Literal:
        prop["enum"] = list(get_args(field.type))
    if m.within is not None:
        prop["minimum"], prop["maximum"] = m.within
    prop["description"] = description + "."
    return prop


def vscode_properties() -> dict[str, dict[str, Any]]:
    return {f"{SECTION}.{editor_key(field.name)}": vscode_property(field)
            for field in SETTINGS_FIELDS if meta(field).editor}


def server_keys() -> set[str]:
    return {f"{SECTION}.{editor_key(field.name)}" for field in SETTINGS_FIELDS}


def package_json(current: dict[str, Any]) -> dict[str, Any]:
    """`current` with the server's settings in contributes.configuration replaced by the schema's, at the place
    of the first one; the extension's own settings (serverPath, languages, ...) stay as they are."""
    properties = current["contributes"]["configuration"]["properties"]
    generated, merged, placed = vscode_properties(), {}, False
    for key, value in properties.items():
        if key in server_keys():
            if not placed:
                merged.update(generated)
                placed = True
            continue
        merged[key] = value
    if not placed:
        merged.update(generated)
    current["contributes"]["configuration"]["properties"] = merged
    return current


def server_settings_ts() -> str:
    lines = [
        "// Generated from codegen_lsp/settings.py by `python scripts/settings_docs.py --write`: do not edit.",
        "// The server's settings that the extension exposes, each with the default that package.json declares",
        "// (an empty string means \"the server's default\" and is not sent).",
        "export const SERVER_SETTINGS: ReadonlyArray<{ key: string; fallback: boolean | number | string }> = [",
    ]
    for key, prop in vscode_properties().items():
        lines.append(f"  {{ key: '{key.removeprefix(SECTION + '.')}', fallback: {json.dumps(prop['default'])} }},")
    lines.append("];")
    return "\n".join(lines) + "\n"


def compact_json(value: Any, indent: int = 0, width: int = 120) -> str:
    """JSON with two-space indentation, and each array or object that fits in `width` on one line (as
    package.json was written by hand)."""
    flat = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    if not isinstance(value, (dict, list)) or not value or indent + len(flat) <= width:
        return flat
    pad = " " * (indent + 2)
    if isinstance(value, dict):
        items = [f"{pad}{json.dumps(key)}: {compact_json(item, indent + 2, width)}" for key, item in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    items = [pad + compact_json(item, indent + 2, width) for item in value]
    return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"


def outputs() -> dict[Path, str]:
    current = json.loads(PACKAGE_JSON.read_text(encoding="utf-8"))
    return {
        DOCS: markdown(),
        PACKAGE_JSON: compact_json(package_json(current)) + "\n",
        SERVER_SETTINGS_TS: server_settings_ts(),
    }


def stale() -> list[Path]:
    return [path for path, text in outputs().items()
            if not path.exists() or path.read_text(encoding="utf-8") != text]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="rewrite the generated files")
    action.add_argument("--check", action="store_true", help="exit 1 when a generated file differs")
    args = parser.parse_args()
    if args.write:
        for path, text in outputs().items():
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
        return 0
    differing = stale()
    for path in differing:
        print(f"{path.relative_to(ROOT)} differs from the settings schema: run python scripts/settings_docs.py --write",
              file=sys.stderr)
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
