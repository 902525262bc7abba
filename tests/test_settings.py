"""Settings from flags, initializationOptions and didChangeConfiguration."""

from codegen_lsp.cli import build_parser, offset_of, settings_from_args
from codegen_lsp.engines.config import needs_reload
from codegen_lsp.settings import Settings, parse_settings


def test_camel_and_snake_keys_both_apply():
    settings, errors = parse_settings({"maxNewTokens": 32, "kv_cache_slots": 2, "trustRemoteCode": True})
    assert errors == []
    assert (settings.max_new_tokens, settings.kv_cache_slots, settings.trust_remote_code) == (32, 2, True)


def test_invalid_values_keep_the_previous_value_and_say_why():
    base = Settings(max_new_tokens=40, device="cpu")
    settings, errors = parse_settings({"maxNewTokens": "many", "device": "gpu0", "dtype": "int4", "temperature": -1}, base)
    assert (settings.max_new_tokens, settings.device, settings.dtype, settings.temperature) == (40, "cpu", "auto", 0.0)
    assert len(errors) == 4
    assert any("maxNewTokens" in e and "40" in e for e in errors)


def test_bool_and_int_are_not_confused():
    settings, errors = parse_settings({"maxNewTokens": True, "enabled": 1})
    assert settings == Settings() and len(errors) == 2


def test_editor_section_is_unwrapped_and_unknown_keys_are_ignored():
    settings, errors = parse_settings({"codegenLsp": {"model": "/models/x", "serverPath": "/bin/codegen-lsp"}})
    assert settings.model == "/models/x" and errors == []


def test_not_an_object_is_an_error_not_a_crash():
    settings, errors = parse_settings(["model"])
    assert settings == Settings() and errors


def test_only_what_an_engine_is_built_from_needs_a_reload():
    base = Settings(device="cpu")
    assert not needs_reload(base, base.replace(max_new_tokens=8))
    assert needs_reload(base, base.replace(model="other"))
    assert needs_reload(base, base.replace(dtype="float16"))
    assert not needs_reload(base, base.replace(draft_tokens=8))  # next request, no reload
    assert needs_reload(base, base.replace(draft_model="/models/350M"))


def test_speculative_decoding_settings():
    args = build_parser().parse_args(["--draft-tokens", "0", "--draft-model", "/models/350M"])
    flags, errors = settings_from_args(args)
    assert errors == [] and (flags.draft_tokens, flags.draft_model) == (0, "/models/350M")
    settings, errors = parse_settings({"draftTokens": 99}, flags)
    assert settings.draft_tokens == 0 and "draftTokens" in errors[0]  # out of 0..16: kept, and said


def test_flags_become_settings_and_editor_options_override_them():
    args = build_parser().parse_args(["--model", "/m", "--max-new-tokens", "16", "--device", "cpu"])
    flags, errors = settings_from_args(args)
    assert errors == [] and (flags.model, flags.max_new_tokens, flags.device) == ("/m", 16, "cpu")
    editor, _ = parse_settings({"maxNewTokens": 48}, flags)
    assert (editor.model, editor.max_new_tokens) == ("/m", 48)


def test_complete_command_offsets_clamp_to_the_line():
    text = "ab\r\ncdef\n"
    assert offset_of(text, 1, 2) == 6
    assert offset_of(text, 0, 99) == 2  # past the end of the line: its end (before \r\n)
    assert offset_of(text, 5, 0) is None


def test_model_flags_before_the_complete_command_are_kept():
    args = build_parser().parse_args(["--model", "/m", "complete", "f.py", "--line", "0", "--character", "1"])
    settings, _ = settings_from_args(args)
    assert settings.model == "/m" and args.language is None
    args = build_parser().parse_args(["complete", "f.py", "--line", "0", "--character", "1", "--model", "/n"])
    assert settings_from_args(args)[0].model == "/n"
