"""Loading helpers the in-process engines share: device and dtype choice, tokenizer and config loading,
and one mapping from a load failure to the message the user sees."""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

import torch

from ..base import EngineError
from ..config import LocalConfig


def resolve_device(setting: str) -> str:
    if setting != "auto":
        return setting
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype(setting: str, device: str, config_dtype: object) -> torch.dtype:
    """auto: the checkpoint's half precision on a GPU (float16 when it names none), float32 on a CPU."""
    if setting != "auto":
        return getattr(torch, setting)
    if not device.startswith("cuda"):
        return torch.float32
    if isinstance(config_dtype, str):
        config_dtype = getattr(torch, config_dtype, None)
    if config_dtype in (torch.float16, torch.bfloat16):
        return config_dtype
    return torch.float16


def dtype_name(dtype: torch.dtype) -> str:
    """"float32", not "torch.float32": the setting's spelling, for the engine's runtime facts."""
    return str(dtype).removeprefix("torch.")


def revision_of(config: LocalConfig, model_id: str | None) -> str | None:
    """The revision setting names a revision of the model, not of the draft model."""
    return config.revision if model_id in (None, config.model) else None


def load_tokenizer(config: LocalConfig, model_id: str | None = None):
    from transformers import AutoTokenizer

    with load_errors(config, "tokenizer", model_id):
        return AutoTokenizer.from_pretrained(
            model_id or config.model, revision=revision_of(config, model_id),
            trust_remote_code=config.trust_remote_code,
        )


def read_model_config(config: LocalConfig, model_id: str | None = None):
    """The checkpoint's config (what it is, its dtype), before any weights are read."""
    from transformers import AutoConfig

    with load_errors(config, "model config", model_id):
        return AutoConfig.from_pretrained(
            model_id or config.model, revision=revision_of(config, model_id),
            trust_remote_code=config.trust_remote_code,
        )


@contextlib.contextmanager
def load_errors(config: LocalConfig, what: str, model_id: str | None = None) -> Iterator[None]:
    """Turn whatever loading `what` raises into an EngineError that says what to change."""
    try:
        yield
    except EngineError:
        raise
    except torch.OutOfMemoryError as err:
        raise out_of_memory(config, err) from err
    except Exception as err:  # OSError (missing, hub unreachable), ValueError (unknown tokenizer) ...
        raise EngineError(load_failure_message(config, what, err, model_id)) from err


def out_of_memory(config: LocalConfig, err: Exception) -> EngineError:
    return EngineError(f"not enough memory to load '{config.model}' ({err}); try a smaller model or --device cpu")


def load_failure_message(config: LocalConfig, what: str, err: Exception, model_id: str | None = None) -> str:
    model_id = model_id or config.model
    setting = "draftModel (--draft-model)" if model_id == config.draft_model else "codegenLsp.model (or --model)"
    hint = f"set {setting} to a hub id or a local model directory"
    if "trust_remote_code" in str(err) and not config.trust_remote_code:
        hint = "the checkpoint ships its own Python code; set trustRemoteCode (--trust-remote-code) only if you trust it"
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        hint += "; HF_HUB_OFFLINE=1 is set, so only models already on disk can load"
    first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return f"could not load the {what} of '{model_id}': {first_line} ({hint})"


def fast_backend(tokenizer):
    """The `tokenizers` object behind a fast tokenizer, used directly: the transformers wrapper spends about
    1 ms per call converting its output, more than the tokenization itself (profiled on a 1,000-token
    prompt), and the server tokenizes on every keystroke. Used only when it gives the wrapper's ids."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    sample = "def f(x):\n    return {'ü': x}  # 漢字 😀\n\tpass\n"
    try:
        same = backend is not None and backend.encode(sample, add_special_tokens=False).ids == tokenizer.encode(
            sample, add_special_tokens=False
        )
    except Exception:
        same = False
    return backend if same else None
