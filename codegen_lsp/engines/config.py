"""Each engine's own small, frozen config, derived from Settings (esbonio's per-feature configuration).

An engine is built from its config and reads nothing else of the settings, so "does this settings change
need a reload?" is "did the engine's config change?" (`needs_reload`), never a hand-kept list of settings.
A setting an engine reads at load but left out of its config would be silently ignored until something
else reloaded: the config is the only way in.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import ClassVar

from ..settings import SETTINGS_FIELDS, Settings

DEFAULTS = Settings()
SETTING_NAMES = frozenset(f.name for f in SETTINGS_FIELDS)


class EngineKind(StrEnum):
    FAST = "fast"  # the CodeGen engine with a static KV cache (CUDA graphs on a GPU)
    TRANSFORMERS = "transformers"  # any Hugging Face causal LM, in process
    OPENAI = "openai"  # an OpenAI-compatible server


@dataclass(frozen=True)
class LocalConfig:
    """What an in-process engine reads at load. Each field is the setting of the same name; the defaults are the
    schema's."""

    model: str = DEFAULTS.model
    device: str = DEFAULTS.device
    dtype: str = DEFAULTS.dtype
    trust_remote_code: bool = DEFAULTS.trust_remote_code
    revision: str | None = DEFAULTS.revision
    draft_model: str | None = DEFAULTS.draft_model
    kv_cache_slots: int = DEFAULTS.kv_cache_slots
    # Weight-only quantization (none/int8/int4): the fast engine quantizes; the transformers engine refuses it.
    quantize: str = DEFAULTS.quantize
    # torch's intra-op threads (0: auto, see local/cpu.py). Set once at load: a change reloads.
    threads: int = DEFAULTS.threads
    # The transformers engine's static or dynamic decoding (static_plan.choose_plan); the fast engine has its own.
    decode_plan: str = DEFAULTS.decode_plan
    # Tokens drafted per pass. Not a reload: the fast engine captures its verification for this width at
    # load, and a request that drafts more widens it on the way (see StaticCodeGen.verify).
    draft_tokens: int = field(default=DEFAULTS.draft_tokens, compare=False)
    # A local model that failed to load fails again: no retry until the settings change.
    retries_failed_load: ClassVar[bool] = False

    @classmethod
    def from_settings(cls, settings: Settings) -> "LocalConfig":
        return cls(**_same_named(cls, settings))


@dataclass(frozen=True)
class TransformersConfig(LocalConfig):
    kind: EngineKind = EngineKind.TRANSFORMERS


@dataclass(frozen=True)
class FastConfig(LocalConfig):
    kind: EngineKind = EngineKind.FAST


@dataclass(frozen=True)
class RemoteConfig:
    """What the remote engine reads at load (the request timeout is its client's). Each field but
    `tokenizer_source` is the setting of the same name; the defaults are the schema's."""

    api_base: str | None = DEFAULTS.api_base
    api_model: str | None = DEFAULTS.api_model
    api_key_env: str = DEFAULTS.api_key_env
    request_timeout_seconds: float = DEFAULTS.request_timeout_seconds
    ca_bundle: str | None = DEFAULTS.ca_bundle  # extra CAs for https, on top of the system's store
    # A model id or directory the user set explicitly: the first place a tokenizer may load from.
    tokenizer_source: str | None = None
    kind: EngineKind = EngineKind.OPENAI
    # A server that was down when the engine loaded may come back: completions try again.
    retries_failed_load: ClassVar[bool] = True

    @classmethod
    def from_settings(cls, settings: Settings) -> "RemoteConfig":
        return cls(
            **_same_named(cls, settings),
            tokenizer_source=settings.model if settings.model != DEFAULTS.model else None,
        )


EngineConfig = TransformersConfig | FastConfig | RemoteConfig


def _same_named(config_class: type, settings: Settings) -> dict[str, object]:
    """The values of the settings a config has a field for (by name)."""
    return {f.name: getattr(settings, f.name) for f in fields(config_class) if f.init and f.name in SETTING_NAMES}


def choose_engine(settings: Settings) -> EngineKind:
    """The `engine` setting, or for auto: the remote engine when an API base is set, the fast CodeGen engine
    for CodeGen checkpoints on CUDA or a CPU (or anywhere when `quantize` is set: only that engine quantizes),
    and the transformers engine for everything else."""
    if settings.engine != "auto":
        return EngineKind(settings.engine)
    if settings.api_base:
        return EngineKind.OPENAI
    if _is_codegen(settings.model) and (_fast_runs_on(settings.device) or settings.quantize != "none"):
        return EngineKind.FAST
    return EngineKind.TRANSFORMERS


def engine_config(settings: Settings) -> EngineConfig:
    kind = choose_engine(settings)
    if kind is EngineKind.OPENAI:
        return RemoteConfig.from_settings(settings)
    return (FastConfig if kind is EngineKind.FAST else TransformersConfig).from_settings(settings)


def needs_reload(old: Settings, new: Settings) -> bool:
    """A change of the engine's config (including which engine it is) means a reload."""
    return engine_config(old) != engine_config(new)


def _fast_runs_on(device: str) -> bool:
    """Where the fast CodeGen engine beats the transformers engine: on CUDA, and on a CPU at every shape and
    thread count measured (docs/cpu.md: 1.2-2.2x less time per keystroke at the same threads). `auto` resolves
    to one of the two. Apple's mps has not been measured: transformers there."""
    return device in ("auto", "cpu") or device.startswith("cuda")


def _is_codegen(model: str) -> bool:
    """Read the model type from a local config.json; hub ids are judged by their name."""
    config = os.path.join(model, "config.json")
    if os.path.isfile(config):
        try:
            with open(config, encoding="utf-8") as f:
                return json.load(f).get("model_type") == "codegen"
        except (OSError, ValueError):
            return False
    return "codegen-" in model.lower() and "codegen2" not in model.lower() and "codegen25" not in model.lower()
