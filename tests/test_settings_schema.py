"""The settings schema is the one place a setting is declared: the flags, docs/settings.md and the VS Code
extension's configuration follow it, and a change to it that is not carried over fails here."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from codegen_lsp.cli import build_parser, settings_from_args
from codegen_lsp.settings import CHOICES, SETTINGS_FIELDS, Settings, editor_key, flags_of, meta, parse_settings

ROOT = Path(__file__).resolve().parent.parent


def load_generator():
    spec = importlib.util.spec_from_file_location("settings_docs", ROOT / "scripts" / "settings_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generator = load_generator()


@pytest.mark.parametrize("path", [generator.DOCS, generator.PACKAGE_JSON, generator.SERVER_SETTINGS_TS],
                         ids=lambda p: p.name)
def test_generated_files_match_the_schema(path):
    expected = generator.outputs()[path]
    assert path.read_text(encoding="utf-8") == expected, (
        f"{path.relative_to(ROOT)} differs from codegen_lsp/settings.py: run python scripts/settings_docs.py --write")


def test_the_settings_table_has_a_row_per_setting_with_its_flag_and_default():
    rows = {line.split("|")[1].strip(" `"): line for line in generator.DOCS.read_text().splitlines()
            if line.startswith("| `")}
    assert set(rows) == {editor_key(f.name) for f in SETTINGS_FIELDS}
    assert "`--max-new-tokens`" in rows["maxNewTokens"] and "`64`" in rows["maxNewTokens"]
    assert "| yes |" in rows["kvCacheSlots"] and "| no |" in rows["maxNewTokens"]


def test_vscode_declares_every_exposed_setting_as_the_schema_does():
    properties = json.loads(generator.PACKAGE_JSON.read_text())["contributes"]["configuration"]["properties"]
    for field in SETTINGS_FIELDS:
        key = f"codegenLsp.{editor_key(field.name)}"
        if not meta(field).editor:
            assert key not in properties
            continue
        declared = properties[key]
        assert declared["type"] == {bool: "boolean", int: "integer", float: "number"}.get(field.type, "string")
        assert declared["default"] == (field.default if not generator.free_text(field) else "")
        assert meta(field).help[1:] in declared["description"]
        assert declared.get("enum") == (list(CHOICES[field.name]) if field.name in CHOICES else None)
        if meta(field).within is not None:
            assert (declared["minimum"], declared["maximum"]) == meta(field).within
    assert "codegenLsp.enabled" in properties and "deprecationMessage" in properties["codegenLsp.enable"]


def test_vscode_sends_the_exposed_settings_under_their_server_names():
    sent = [line.split("'")[1] for line in generator.SERVER_SETTINGS_TS.read_text().splitlines() if "key: '" in line]
    assert sent == [editor_key(f.name) for f in SETTINGS_FIELDS if meta(f).editor]
    sent_always = {editor_key(f.name): f.default for f in SETTINGS_FIELDS if meta(f).editor and not generator.free_text(f)}
    assert parse_settings(sent_always) == (Settings(), [])  # what an untouched VS Code sends is the server's default


def sample(field) -> tuple[str, object]:
    """A valid command-line value for a setting that is not a switch, and what the setting becomes."""
    if field.name in CHOICES:
        return CHOICES[field.name][-1], CHOICES[field.name][-1]
    if field.type in (int, float):
        high = (meta(field).within or (0, 2))[1]
        return str(high), field.type(high)
    return ("cpu", "cpu") if field.name == "device" else ("/some/where", "/some/where")


@pytest.mark.parametrize("field", SETTINGS_FIELDS, ids=lambda f: f.name)
def test_every_setting_is_a_flag(field):
    flag = flags_of(field)[0]
    if field.type is bool:
        for argv, expected in (([flag], True), (["--no-" + flag[2:]], False)):
            assert getattr(settings_from_args(build_parser().parse_args(argv))[0], field.name) is expected
        return
    value, expected = sample(field)
    settings, errors = settings_from_args(build_parser().parse_args([flag, value]))
    assert errors == [] and getattr(settings, field.name) == expected


def test_device_help_and_error_name_mps():
    help_text = build_parser().format_help()
    device_help = help_text[help_text.index("\n  --device"):help_text.index("\n  --dtype")]
    assert "mps" in device_help
    settings, errors = settings_from_args(build_parser().parse_args(["--device", "gpu"]))
    assert settings.device == "auto" and "mps" in errors[0]
    assert settings_from_args(build_parser().parse_args(["--device", "mps"]))[0].device == "mps"


def test_backend_is_an_alias_of_engine():
    assert settings_from_args(build_parser().parse_args(["--backend", "openai"]))[0].engine == "openai"


def test_a_setting_not_given_on_the_command_line_keeps_its_default():
    assert settings_from_args(build_parser().parse_args([])) == (Settings(), [])


def test_an_out_of_range_value_in_code_is_refused_at_construction():
    with pytest.raises(ValueError):
        Settings(max_new_tokens=0)
