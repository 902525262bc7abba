"""Each engine is built from its own frozen config; a settings change reloads exactly when that config
changes, and the settings schema's `reloads` flag says which settings those are. A setting read at load but left
out of its engine's config would do nothing when changed in the editor until something else reloaded."""

from __future__ import annotations

import dataclasses

import pytest

from codegen_lsp.completion import Completer
from codegen_lsp.engines.config import (
    EngineKind,
    FastConfig,
    RemoteConfig,
    TransformersConfig,
    choose_engine,
    engine_config,
    needs_reload,
)
from codegen_lsp.settings import SETTINGS_FIELDS, Settings, meta

LOCAL = Settings(model="/models/some-llama", device="cpu")
REMOTE = Settings(api_base="http://127.0.0.1:1/v1", api_model="m")

# A new value for each setting that an engine reads at load.
LOCAL_CHANGES = {
    "model": "/models/other",
    "device": "cuda:1",
    "dtype": "float16",
    "engine": "fast",
    "trust_remote_code": True,
    "revision": "v2",
    "draft_model": "/models/350M",
    "kv_cache_slots": 1,
    "quantize": "int8",
    "threads": 2,  # torch's thread count is set once, at load
    "decode_plan": "static",
}
REMOTE_CHANGES = {
    "api_base": "http://127.0.0.1:2/v1",
    "api_model": "other",
    "api_key_env": "OTHER_KEY",
    "request_timeout_seconds": 2.0,
    "ca_bundle": "/etc/company-ca.pem",  # the https client is built with it
    "model": "/models/tokenizer-dir",  # where the token counts come from
}
# Settings read per request (or by the pipeline): never a reload.
PER_REQUEST = {
    "max_new_tokens": 8, "temperature": 0.5, "top_p": 0.9, "mode": "line", "candidates": 5, "context_tokens": 100,
    "cache_entries": 3, "cache_ttl_seconds": 5.0, "typed_through": False, "draft_tokens": 8, "enabled": False,
    "log_level": "debug", "persist_stats": True, "project_context": False, "project_context_share": 0.5,
}


SCHEMA_RELOADS = {field.name: meta(field).reloads for field in SETTINGS_FIELDS}


def test_every_setting_has_a_changed_value_here():
    """A new setting must say here how it changes, so that the tests below hold it to its `reloads` flag."""
    assert set(SCHEMA_RELOADS) == set(LOCAL_CHANGES) | set(REMOTE_CHANGES) | set(PER_REQUEST)


@pytest.mark.parametrize("name", sorted(SCHEMA_RELOADS))
def test_the_schema_says_reloads_exactly_when_a_change_reloads_an_engine(name):
    changed = [base for base, changes in ((LOCAL, LOCAL_CHANGES), (REMOTE, REMOTE_CHANGES))
               if name in changes and needs_reload(base, base.replace(**{name: changes[name]}))]
    assert bool(changed) == SCHEMA_RELOADS[name], f"{name}: reloads={SCHEMA_RELOADS[name]} in codegen_lsp/settings.py"


def test_the_settings_marked_reloads_are_the_ones_the_engine_configs_read():
    """`engine` picks the config's kind and `model` also names the remote engine's tokenizer; every other
    reloading setting is a compared field of the same name in an engine config."""
    read = {f.name for config_class in (TransformersConfig, FastConfig, RemoteConfig)
            for f in dataclasses.fields(config_class) if f.compare and f.name in SCHEMA_RELOADS}
    assert read | {"engine", "model"} == {name for name, reloads in SCHEMA_RELOADS.items() if reloads}


def test_engine_config_defaults_are_the_schema_defaults():
    defaults = Settings()
    for config_class in (TransformersConfig, FastConfig, RemoteConfig):
        for f in dataclasses.fields(config_class):
            if f.name in SCHEMA_RELOADS:
                assert getattr(config_class(), f.name) == getattr(defaults, f.name), f"{config_class.__name__}.{f.name}"


@pytest.mark.parametrize("name", sorted(LOCAL_CHANGES))
def test_every_setting_a_local_engine_loads_with_reloads_it(name):
    assert needs_reload(LOCAL, LOCAL.replace(**{name: LOCAL_CHANGES[name]}))


@pytest.mark.parametrize("name", sorted(REMOTE_CHANGES))
def test_every_setting_the_remote_engine_loads_with_reloads_it(name):
    assert needs_reload(REMOTE, REMOTE.replace(**{name: REMOTE_CHANGES[name]}))


@pytest.mark.parametrize("base", [LOCAL, REMOTE], ids=["local", "remote"])
@pytest.mark.parametrize("name", sorted(PER_REQUEST))
def test_per_request_settings_do_not_reload(base, name):
    assert not needs_reload(base, base.replace(**{name: PER_REQUEST[name]}))


@pytest.mark.parametrize("config_class, base", [(TransformersConfig, LOCAL), (FastConfig, LOCAL), (RemoteConfig, REMOTE)])
def test_each_compared_config_field_comes_from_a_setting_that_reloads(config_class, base):
    """Whatever an engine is built from is in its config; a field there that no setting change reaches
    would be a value the user cannot change."""
    changes = LOCAL_CHANGES if config_class is not RemoteConfig else REMOTE_CHANGES
    config = config_class.from_settings(base)
    for field in dataclasses.fields(config_class):
        if not field.compare or field.name == "kind":
            continue
        setting = "model" if field.name == "tokenizer_source" else field.name
        assert setting in changes, f"{config_class.__name__}.{field.name} has no reload test"
        changed = config_class.from_settings(base.replace(**{setting: changes[setting]}))
        assert getattr(changed, field.name) != getattr(config, field.name)


def test_the_engine_kind_follows_the_settings():
    assert choose_engine(REMOTE) is EngineKind.OPENAI
    assert choose_engine(LOCAL) is EngineKind.TRANSFORMERS
    assert choose_engine(Settings(model="Salesforce/codegen-350M-mono", device="cpu")) is EngineKind.FAST
    assert choose_engine(LOCAL.replace(engine="fast")) is EngineKind.FAST
    assert isinstance(engine_config(REMOTE), RemoteConfig)
    assert isinstance(engine_config(LOCAL.replace(engine="fast")), FastConfig)


@pytest.mark.parametrize("base, name, value", [
    (LOCAL, "kv_cache_slots", 0),
    (REMOTE, "request_timeout_seconds", 5.0),
])
def test_the_completer_reloads_for_the_settings_that_were_silently_ignored(base, name, value):
    completer = Completer(base)
    try:
        assert completer.update_settings(base.replace(**{name: value})) is True
        assert completer.update_settings(completer.settings.replace(max_new_tokens=9)) is False
    finally:
        completer.close()
