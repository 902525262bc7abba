"""One frozen, typed set of settings, read from flags, `initializationOptions` and
`workspace/didChangeConfiguration`.

Editors send camelCase (`maxNewTokens`), flags arrive snake_case (`max_new_tokens`): both are accepted.
An invalid value never stops the server: it keeps the previous/default value and yields a message that
the server shows the user once.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
from dataclasses import dataclass, fields
from typing import Any, Mapping

log = logging.getLogger(__name__)

DEFAULT_MODEL = "Salesforce/codegen-350M-multi"

DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")

CHOICES: dict[str, tuple[str, ...]] = {
    "dtype": ("auto", "float32", "float16", "bfloat16"),
    "engine": ("auto", "fast", "transformers", "openai"),
    "log_level": ("debug", "info", "warning", "error"),
    "mode": ("auto", "line", "block"),
    "quantize": ("none", "int8", "int4"),
}

# Inclusive numeric ranges; None means unbounded on that side.
RANGES: dict[str, tuple[float | None, float | None]] = {
    "max_new_tokens": (1, 2048),
    "temperature": (0.0, 5.0),
    "top_p": (0.0, 1.0),
    "context_tokens": (0, 1_000_000),
    "cache_entries": (0, 100_000),
    "cache_ttl_seconds": (0, 7 * 24 * 3600),
    "kv_cache_slots": (0, 64),
    "draft_tokens": (0, 16),
    "candidates": (1, 10),
    "request_timeout_seconds": (0.1, 3600),
    "project_context_share": (0.0, 0.75),
}


@dataclass(frozen=True)
class Settings:
    # The model and where it runs.
    model: str = DEFAULT_MODEL
    device: str = "auto"
    dtype: str = "auto"
    engine: str = "auto"
    trust_remote_code: bool = False
    revision: str | None = None
    # Weight-only quantization of the fast CodeGen engine's products (see docs/quantization.md).
    quantize: str = "none"
    # Generation.
    max_new_tokens: int = 64
    temperature: float = 0.0  # 0 means greedy
    top_p: float = 1.0
    mode: str = "auto"  # how much to complete: auto decides per cursor (line or block)
    candidates: int = 3  # alternatives when the user explicitly asks (invoked trigger)
    context_tokens: int = 0  # prompt budget in tokens; 0 means the model's window minus max_new_tokens
    # Completion cache and KV reuse.
    cache_entries: int = 256
    cache_ttl_seconds: float = 600.0
    kv_cache_slots: int = 4
    typed_through: bool = True  # answer from the last completion while the user types its start
    # Project context (docs/context.md): definitions the code before the cursor refers to, found in an index of
    # the workspace's files, go into the prompt ahead of the open documents' snippets, within this share of it.
    project_context: bool = True
    project_context_share: float = 0.25
    # Speculative decoding (greedy, in-process engines; the text is the same): tokens drafted per model
    # pass, by prompt lookup or by a small draft model of the same family.
    draft_tokens: int = 4
    draft_model: str | None = None
    # Remote backend (OpenAI-compatible server).
    api_base: str | None = None
    api_model: str | None = None
    api_key_env: str = "CODEGEN_LSP_API_KEY"
    request_timeout_seconds: float = 30.0
    ca_bundle: str | None = None  # PEM file of extra CAs for https (a company CA); the system's store is always used
    # The server itself.
    enabled: bool = True
    persist_stats: bool = False  # keep the acceptance counters (never code) across restarts, in the state directory
    log_level: str = "info"

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **changes)


FIELD_TYPES = {f.name: f.type for f in fields(Settings)}


def camel_to_snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def parse_settings(
    raw: Mapping[str, Any] | None, base: Settings | None = None
) -> tuple[Settings, list[str]]:
    """Apply `raw` (camelCase or snake_case keys) on top of `base`.

    Returns the new settings and one message per rejected value; the other values apply. Unknown keys are
    logged and skipped: editors send their client-side settings (serverPath, trace ...) in the same section.
    Never raises: any JSON value is either taken or named in a message.
    """
    base = base or Settings()
    if raw is None:
        return base, []
    if not isinstance(raw, Mapping):
        return base, [f"settings must be an object, got {type(raw).__name__}"]
    raw, errors = _our_section(raw)
    changes: dict[str, Any] = {}
    for key, value in raw.items():
        name = camel_to_snake(str(key))
        if name not in FIELD_TYPES:
            log.info("ignoring unknown setting %r", key)
            continue
        try:
            changes[name] = _convert(name, value)
        except (ValueError, TypeError, OverflowError) as err:
            default = getattr(base, name)
            errors.append(f"invalid value for '{key}': {err}; using {default!r}")
    return base.replace(**changes), errors


SECTIONS = ("codegenLsp", "codegen_lsp", "codegen-lsp")


def _our_section(raw: Mapping[str, Any]) -> tuple[Mapping[str, Any], list[str]]:
    """Editors nest settings under the server's section: {"codegenLsp": {...}}, often beside other servers'
    sections (eglot and shared workspace configurations send the whole configuration). Take ours, ignore
    the rest; without a section of ours, the object is our settings itself."""
    for section in SECTIONS:
        if section not in raw:
            continue
        others = [str(key) for key in raw if key != section]
        if others:
            log.info("settings: took the %r section, ignored %d other keys", section, len(others))
        inner = raw[section]
        if inner is None:
            return {}, []
        if not isinstance(inner, Mapping):
            return {}, [f"the '{section}' settings must be an object, got {type(inner).__name__}"]
        return inner, []
    return raw, []


def _convert(name: str, value: Any) -> Any:
    kind = FIELD_TYPES[name]
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise ValueError(f"expected true or false, got {_shown(value)}")
    if kind in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected a number, got {_shown(value)}")
        if isinstance(value, float) and not math.isfinite(value):  # 1e400 is valid JSON and reads as inf
            low, high = RANGES.get(name, (None, None))
            raise ValueError(f"an infinite number is outside {low}..{high}")
        if kind == "int" and value != int(value):
            raise ValueError(f"expected a whole number, got {_shown(value)}")
        value = int(value) if kind == "int" else float(value)
        low, high = RANGES.get(name, (None, None))
        if (low is not None and value < low) or (high is not None and value > high):
            raise ValueError(f"{value} is outside {low}..{high}")
        return value
    # strings (optional or not)
    if value is None and "None" in kind:
        return None
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty string, got {_shown(value)}")
    if name in CHOICES and value not in CHOICES[name]:
        raise ValueError(f"expected one of {', '.join(CHOICES[name])}, got {_shown(value)}")
    if name == "device" and not DEVICE_PATTERN.match(value):
        raise ValueError(f"expected auto, cpu, cuda or cuda:N, got {_shown(value)}")
    return value


def _shown(value: Any) -> str:
    """A value for a message: short (a message is a line, and a value may be any JSON)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
