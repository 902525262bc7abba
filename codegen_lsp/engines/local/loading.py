"""Loading helpers the in-process engines share: device and dtype choice, tokenizer and config loading,
and one mapping from a load failure to the message the user sees."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import torch

from ..base import EngineError
from ..config import LocalConfig

log = logging.getLogger(__name__)

# How long the one reachability check of the hub waits. huggingface_hub itself retries a failed request five
# times with backoff (about 49 s per model when the hub is unreachable, measured); one short check says the
# same thing at once. A name that does not resolve fails in milliseconds; this bounds a silently dropped one.
HUB_CHECK_SECONDS = 5.0

MODEL_SETTING = "model (--model)"
DRAFT_MODEL_SETTING = "draftModel (--draft-model)"


@dataclass(frozen=True)
class Machine:
    """What this machine's torch can run on, for `codegen-lsp check`'s diagnoses."""

    torch_version: str
    cuda_build: str | None  # the CUDA version torch was built for; None for a CPU-only build
    cuda_available: bool
    gpus: tuple[str, ...]  # the CUDA devices torch sees
    nvidia_gpu_present: bool  # an NVIDIA driver reports a GPU, whether or not torch can use it
    mps_available: bool


def probe_machine() -> Machine:
    nvidia = Path("/proc/driver/nvidia/gpus")
    available = torch.cuda.is_available()
    return Machine(
        torch_version=torch.__version__,
        cuda_build=torch.version.cuda,
        cuda_available=available,
        gpus=tuple(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())) if available else (),
        nvidia_gpu_present=(nvidia.is_dir() and any(nvidia.iterdir())) or Path("/dev/nvidia0").exists(),
        mps_available=torch.backends.mps.is_available(),
    )


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


def looks_like_path(name: str) -> bool:
    """A model name meant as a directory: absolute, `~`, `./`, `../`, a backslash, or more than one `/`
    (a hub id is `owner/name`)."""
    return name.startswith(("/", "~", ".")) or "\\" in name or name.count("/") > 1


def hub_reachability(model_id: str, revision: str | None) -> str | None:
    """None when the hub answers for `model_id` (any HTTP status: a 401 or 404 is the load's to report),
    else why it cannot be reached. One request, no retries, at most HUB_CHECK_SECONDS."""
    from huggingface_hub import get_session, hf_hub_url

    try:
        get_session().head(hf_hub_url(model_id, "config.json", revision=revision), timeout=HUB_CHECK_SECONDS)
    except Exception as err:  # httpx2's ConnectError, TimeoutException, ...
        return str(err) or type(err).__name__
    return None


def model_source(
    model_id: str,
    revision: str | None = None,
    setting: str = MODEL_SETTING,
    reach: Callable[[str, str | None], str | None] = hub_reachability,
    offline: bool | None = None,
) -> str:
    """Where to load `model_id` from: itself (a directory, or a hub id to download or bring up to date), or its
    cached snapshot directory when the hub cannot be reached (huggingface_hub would retry each file it asks
    for five times: 2 min 49 s for a cached pycodegen-tiny behind a closed port, measured). Raises EngineError
    with one message that says what to change when it cannot load: a directory that does not exist, or a hub
    model neither cached nor reachable. `setting`: the setting that named it; `reach`: the hub check;
    `offline`: HF_HUB_OFFLINE as huggingface_hub read it when None (seams for tests)."""
    from huggingface_hub import constants, snapshot_download, try_to_load_from_cache

    if Path(model_id).expanduser().is_dir():
        return model_id
    if looks_like_path(model_id):
        raise EngineError(f"no such directory: {Path(model_id).expanduser().resolve()}; set {setting} to a local "
                          "model directory or a hub id such as Salesforce/codegen-350M-multi")
    local_directory = f"or download it where there is network and set {setting} to its local directory"
    cached = isinstance(try_to_load_from_cache(model_id, "config.json", revision=revision), str)
    cache = constants.HF_HUB_CACHE
    if constants.HF_HUB_OFFLINE if offline is None else offline:
        if cached:
            return model_id
        raise EngineError(
            f"'{model_id}' is not in the Hugging Face cache ({cache}) and HF_HUB_OFFLINE=1 keeps the hub off: "
            f"unset HF_HUB_OFFLINE to download it once, {local_directory}"
        )
    why = reach(model_id, revision)
    if why is None:
        return model_id
    if cached:
        directory = snapshot_download(model_id, revision=revision, local_files_only=True)
        log.warning("the Hugging Face hub cannot be reached (%s): loading the cached copy of '%s' (%s); "
                    "HF_HUB_OFFLINE=1 skips this check", why, model_id, directory)
        return directory
    raise EngineError(
        f"cannot reach the Hugging Face hub to download '{model_id}' ({why}) and it is not in the cache "
        f"({cache}): connect to the network once (HF_ENDPOINT names a mirror), {local_directory}; "
        "with HF_HUB_OFFLINE=1 only cached models load, without asking the hub"
    )


def with_model_sources(config: LocalConfig) -> LocalConfig:
    """`config` with its model and draft model replaced by where to load them from (`model_source`), checked
    before anything is read: the first file a model's load asks for is where a wrong name or an unreachable
    hub would otherwise show up, slowly."""
    model = model_source(config.model, config.revision)
    draft = config.draft_model and model_source(config.draft_model, None, DRAFT_MODEL_SETTING)
    return dataclasses.replace(config, model=model, draft_model=draft)


def route_library_output(verbose: bool) -> None:
    """transformers and huggingface_hub print through handlers of their own, so that with ours on the root
    logger each warning came twice (and never reached --log-file): their records go through the root logger
    only. Their progress bars ("Loading weights") are shown only when `verbose` (log level debug)."""
    import huggingface_hub.utils
    import transformers.utils.logging as transformers_logging

    transformers_logging.disable_default_handler()
    transformers_logging.enable_propagation()
    hub_logger = logging.getLogger("huggingface_hub")
    for handler in list(hub_logger.handlers):
        hub_logger.removeHandler(handler)
    hub_logger.propagate = True
    if verbose:
        return
    transformers_logging.disable_progress_bar()
    huggingface_hub.utils.disable_progress_bars()


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


def setting_of(config: LocalConfig, model_id: str | None) -> str:
    """The setting (and flag) that named `model_id`, for a message that says what to change."""
    return DRAFT_MODEL_SETTING if model_id and model_id == config.draft_model else MODEL_SETTING


def load_failure_message(config: LocalConfig, what: str, err: Exception, model_id: str | None = None) -> str:
    model_id = model_id or config.model
    setting = setting_of(config, model_id)
    hint = f"set {setting} to a hub id or a local model directory"
    if "Unrecognized configuration class" in str(err):
        hint = f"'{model_id}' is not a causal language model; set {setting} to one, such as Salesforce/codegen-350M-multi"
    elif "trust_remote_code" in str(err) and not config.trust_remote_code:
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
