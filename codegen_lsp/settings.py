"""The settings schema: one frozen, typed `Settings` record, read from flags, `initializationOptions` and
`workspace/didChangeConfiguration`.

Each field declares everything about one setting in one place (esbonio's configuration style, attrs + cattrs):
its type (a `Literal` for a closed set of choices), its default, its validation (an inclusive range or a
pattern), its help text, its command-line flags, whether a change reloads the engine, and whether editors
expose it. Everything else is generated from or checked against this schema:

- `cli.py` builds one flag per setting (`add_setting_flags`);
- `engines/config.py` takes its defaults and field values from it, and tests/test_engine_config.py checks that
  `reloads` agrees with what each engine config reads;
- `docs/settings.md` and the VS Code extension's `package.json` configuration and `src/serverSettings.ts` are
  written by `python scripts/settings_docs.py --write`, and tests/test_settings_schema.py fails when they drift.

Adding a setting is a one-place change: add a field below with `setting(...)`, then run
`python scripts/settings_docs.py --write`. If an engine reads it at load, give it `reloads=True`, add it to
that engine's config in `engines/config.py` (same name) and give it a changed value in
tests/test_engine_config.py; a per-request setting gets its changed value there too.

Editors send camelCase (`maxNewTokens`), flags arrive snake_case (`max_new_tokens`): both are accepted. Values
are structured strictly by a cattrs converter (JSON `true` is not a number, `5.5` is not a count), then
validated by the field. An invalid value never stops the server: it keeps the previous/default value and yields
one message that the server shows the user once.
"""

import logging
import math
import re
from typing import Any, Literal, Mapping, get_args, get_origin

import attrs
import cattrs

log = logging.getLogger(__name__)

DEFAULT_MODEL = "Salesforce/codegen-350M-multi"

META = "codegen_lsp"  # the key of a field's `SettingMeta` in its attrs metadata

# Closed sets of choices as Literal types: cattrs checks them, the flags, docs and VS Code enums list them, and the
# values stay the plain strings that engines compare, logs print and codegen/stats sends.
Dtype = Literal["auto", "float32", "float16", "bfloat16"]
EngineChoice = Literal["auto", "fast", "transformers", "openai"]
Quantize = Literal["none", "int8", "int4"]
ModeChoice = Literal["auto", "line", "block"]
DecodePlan = Literal["auto", "static", "dynamic"]
LogLevel = Literal["debug", "info", "warning", "error"]


@attrs.frozen
class SettingMeta:
    """What the schema says about a setting besides its type and default."""

    help: str
    reloads: bool  # a change reloads the engine (it is part of an engine's config), else it applies per request
    editor: bool  # editors expose it in their settings UI (the VS Code extension's package.json)
    flags: tuple[str, ...]  # command-line option strings; the first is the flag's name
    within: tuple[float, float] | None = None  # inclusive range of a number
    pattern: str | None = None  # a string's shape, described by `expected`
    expected: str | None = None


def setting(
    default: Any,
    help: str,
    *,
    reloads: bool = False,
    editor: bool = True,
    within: tuple[float, float] | None = None,
    pattern: str | None = None,
    expected: str | None = None,
    flags: tuple[str, ...] = (),
) -> Any:
    """A `Settings` field: the default, the validation and the metadata, declared together."""
    validators = []
    if within is not None:
        validators.append(_within(*within))
    if pattern is not None:
        validators.append(_matches(re.compile(pattern), expected or pattern))
    meta = SettingMeta(help, reloads, editor, flags, within, pattern, expected)
    return attrs.field(default=default, validator=attrs.validators.and_(*validators), metadata={META: meta})


def _within(low: float, high: float):
    def check(_instance, attribute, value) -> None:
        if not low <= value <= high:
            raise ValueError(f"{value} is outside {low}..{high}")

    return check


def _matches(pattern: re.Pattern, expected: str):
    def check(_instance, attribute, value) -> None:
        if value is not None and not pattern.fullmatch(value):
            raise ValueError(f"expected {expected}, got {_shown(value)}")

    return check


@attrs.frozen
class Settings:
    # The model and where it runs.
    model: str = setting(
        DEFAULT_MODEL, "hub id or local directory (`AutoModelForCausalLM.from_pretrained`)", reloads=True)
    device: str = setting(
        "auto", "`auto` (CUDA when there is one), `cpu`, `cuda`, `cuda:N`, `mps`; with `auto` a model too big for "
        "one GPU is spread by accelerate (`device_map=\"auto\"`)",
        reloads=True, pattern=r"auto|cpu|cuda(:\d+)?|mps", expected="auto, cpu, cuda, cuda:N or mps")
    dtype: Dtype = setting(
        "auto", "`auto` = the checkpoint's fp16/bf16 on a GPU (fp16 if it names none), fp32 on a CPU", reloads=True)
    engine: EngineChoice = setting(
        "auto", "which engine runs the model; `auto`: `openai` when `apiBase` is set, `fast` for CodeGen (on CUDA or a CPU), "
        "`transformers` otherwise", reloads=True, flags=("--engine", "--backend"))
    trust_remote_code: bool = setting(
        False, "let a checkpoint run its own Python code; not offered in editors' settings UIs, so that a "
        "workspace's settings cannot turn it on", reloads=True, editor=False)
    revision: str | None = setting(None, "branch, tag or commit on the hub", reloads=True)
    quantize: Quantize = setting(
        "none", "weight-only quantized products in the `fast` CodeGen engine: int8 halves the weights' memory, "
        "int4 quarters it (`auto` picks `fast` then, on a CPU too); see docs/quantization.md", reloads=True)
    decode_plan: DecodePlan = setting(
        "auto", "how the `transformers` engine decodes: `static` (transformers' StaticCache, the forward under "
        "torch.compile, CUDA graphs on a GPU), `dynamic` (eager, dynamic cache), `auto` (static on CUDA, dynamic "
        "on a CPU, where it measured slower; docs/engine.md)", reloads=True)
    threads: int = setting(
        0, "torch's CPU threads for an in-process engine; 0 = on a CPU, the physical cores other programs leave "
        "free, chosen again before each completion (see docs/cpu.md)", reloads=True, within=(0, 1024))
    # Generation.
    max_new_tokens: int = setting(64, "tokens generated at most per completion", within=(1, 2048))
    temperature: float = setting(0.0, "0 decodes greedily", within=(0.0, 5.0))
    top_p: float = setting(1.0, "nucleus sampling: the smallest set of tokens whose probability reaches this",
                           within=(0.0, 1.0))
    mode: ModeChoice = setting(
        "auto", "how much to complete: `auto` decides per cursor (nothing, the rest of the line, or a block)")
    candidates: int = setting(
        3, "alternatives when the editor asks explicitly (inline completion triggered by Invoked)", within=(1, 10))
    context_tokens: int = setting(
        0, "prompt budget in tokens; 0 = the model's window minus `maxNewTokens`", within=(0, 1_000_000))
    # Completion cache and KV reuse.
    cache_entries: int = setting(
        256, "finished completions kept (LRU with expiry); 0 turns the cache off", within=(0, 100_000))
    cache_ttl_seconds: float = setting(600.0, "how long a cached completion is kept", within=(0, 7 * 24 * 3600))
    kv_cache_slots: int = setting(
        4, "KV caches kept for prefix reuse (one per recent document); 0 turns reuse off", reloads=True,
        within=(0, 64))
    typed_through: bool = setting(
        True, "answer from the completion on screen while the user types its first characters")
    # Project context (docs/context.md).
    project_context: bool = setting(
        True, "definitions that the code before the cursor refers to, found in an index of the workspace's files, "
        "go into the prompt ahead of the open documents' snippets (docs/context.md)")
    project_context_share: float = setting(
        0.25, "the share of the prompt that definitions from the workspace index may take", within=(0.0, 0.75))
    # Speculative decoding (greedy, in-process engines; the text is the same).
    draft_tokens: int = setting(
        4, "speculative decoding (greedy, in-process engines): tokens drafted per model pass; the text is the "
        "same, it comes in fewer passes; 0 turns it off", within=(0, 16))
    draft_model: str | None = setting(
        None, "a small model of the same family that drafts (e.g. `codegen-350M-multi` for `codegen-16B-multi`); "
        "unset: drafts are copied from the prompt (prompt lookup)", reloads=True)
    # Remote backend (OpenAI-compatible server).
    api_base: str | None = setting(
        None, "an OpenAI-compatible server to ask instead of a local model, e.g. http://127.0.0.1:8000/v1 "
        "(docs/remote.md)", reloads=True)
    api_model: str | None = setting(
        None, "the model name to ask the remote server for (unset: the first one the server lists)", reloads=True)
    api_key_env: str = setting(
        "CODEGEN_LSP_API_KEY", "the environment variable that holds the remote server's API key; the key itself "
        "never goes in settings", reloads=True)
    request_timeout_seconds: float = setting(
        30.0, "how long to wait for the remote server", reloads=True, within=(0.1, 3600))
    ca_bundle: str | None = setting(
        None, "a PEM file of extra CA certificates (a company CA) for an https `apiBase`; the system's CA store "
        "is always used, proxies come from HTTPS_PROXY/NO_PROXY (docs/team.md)", reloads=True)
    # The server itself.
    enabled: bool = setting(
        True, "false: the server answers every completion request with nothing (the model stays loaded)")
    persist_stats: bool = setting(
        False, "keep the accept/kept counters (never code) across restarts in the user's state directory "
        "(docs/acceptance.md)")
    log_level: LogLevel = setting(
        "info", "logs go to stderr, or to `--log-file`; never to stdout (the protocol)")

    def replace(self, **changes: Any) -> "Settings":
        return attrs.evolve(self, **changes)


SETTINGS_FIELDS: tuple[attrs.Attribute, ...] = attrs.fields(Settings)
FIELD_TYPES: dict[str, Any] = {f.name: f.type for f in SETTINGS_FIELDS}
CHOICES: dict[str, tuple[str, ...]] = {f.name: get_args(f.type) for f in SETTINGS_FIELDS if get_origin(f.type) is Literal}


def meta(field: attrs.Attribute) -> SettingMeta:
    return field.metadata[META]


def flags_of(field: attrs.Attribute) -> tuple[str, ...]:
    return meta(field).flags or ("--" + field.name.replace("_", "-"),)


def editor_key(name: str) -> str:
    """The camelCase key editors use: `max_new_tokens` → `maxNewTokens`."""
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


def camel_to_snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


# -- reading JSON --------------------------------------------------------------------------------------------------
def _structure_bool(value: Any, _type: type) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError(f"expected true or false, got {_shown(value)}")


def _number(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected a number, got {_shown(value)}")
    if isinstance(value, float) and not math.isfinite(value):  # 1e400 is valid JSON and reads as inf
        raise ValueError(f"expected a finite number, got {_shown(value)}")
    return value


def _structure_int(value: Any, _type: type) -> int:
    value = _number(value)
    if value != int(value):
        raise ValueError(f"expected a whole number, got {_shown(value)}")
    return int(value)


def _structure_float(value: Any, _type: type) -> float:
    return float(_number(value))


def _structure_str(value: Any, _type: type) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty string, got {_shown(value)}")
    return value


def _structure_choice(value: Any, type_: Any) -> str:
    choices = get_args(type_)
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"expected one of {', '.join(choices)}, got {_shown(value)}")
    return value


converter = cattrs.Converter()
"""Structures JSON values strictly into the schema's types; `str | None` takes null as unset."""
converter.register_structure_hook(bool, _structure_bool)
converter.register_structure_hook(int, _structure_int)
converter.register_structure_hook(float, _structure_float)
converter.register_structure_hook(str, _structure_str)
converter.register_structure_hook_func(lambda t: get_origin(t) is Literal, _structure_choice)

_BY_NAME = {f.name: f for f in SETTINGS_FIELDS}


def structure_value(name: str, value: Any) -> Any:
    """`value` as setting `name` holds it, validated; raises ValueError (or TypeError) saying what is wrong."""
    field = _BY_NAME[name]
    value = converter.structure(value, field.type)
    if field.validator is not None:
        field.validator(None, field, value)
    return value


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
        if name not in _BY_NAME:
            log.info("ignoring unknown setting %r", key)
            continue
        try:
            changes[name] = structure_value(name, value)
        except (ValueError, TypeError, OverflowError, cattrs.BaseValidationError) as err:
            errors.append(f"invalid value for '{key}': {err}; using {getattr(base, name)!r}")
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


def _shown(value: Any) -> str:
    """A value for a message: short (a message is a line, and a value may be any JSON)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
