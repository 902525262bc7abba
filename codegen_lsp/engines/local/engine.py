"""What the in-process engines share: the tokenizer, the draft model, and driving the decode loop.

An in-process engine supplies a `TokenModel` (prefill a token list, then step one token at a time);
`LocalEngine.generate` runs the decoding core's loop over it (token choice, token healing, stop sequences,
the caller's stop check, speculation, cancellation between steps) and frees the model's cached state when
a generation fails.
"""

from __future__ import annotations

import logging

import torch

from ..base import CancelToken, EngineError, Generation, GenerationRequest, ProgressFn, StopCheck
from ..config import LocalConfig
from ..context_window import DEFAULT_CONTEXT_WINDOW
from ..decoding.choice import TokenChooser, heal_worthy
from ..decoding.loop import DecodeLoop
from ..decoding.speculation import Drafter, ModelDrafter, PromptLookup
from ..decoding.stopping import FinishReason, StoppingCriteria
from ..decoding.token_model import TokenModel
from .cpu import CpuCores, FreeCoreThreads, OtherLoad, fixed_threads, native_bf16
from .loading import fast_backend, load_tokenizer, resolve_device, route_library_output, with_model_sources

log = logging.getLogger(__name__)

# Prompt lookup drafts also from the text after the cursor: this much of it.
LOOKUP_SUFFIX_CHARS = 4000


class LocalEngine:
    """Base for in-process engines: the tokenizer and the decode loop. Subclasses load a model in
    `_load_model` (and `_token_model` for a draft model); the base loads none, so tests and tools that
    drive the loop with a scripted TokenModel put it in `.model` themselves."""

    name = "local"
    fills_in_the_middle = False  # the caller renders the model's FIM template into the prompt

    def __init__(self, config: LocalConfig, *, decode_loop=DecodeLoop, tokenizer_loader=load_tokenizer,
                 cpu_cores=CpuCores.of_this_process, other_load=OtherLoad) -> None:
        """`decode_loop`: what runs a generation, called as DecodeLoop is (model, decode, chooser, stopper,
        drafter) and `.run(ids, request, cancel, result)`; `tokenizer_loader`: `(config, model_id=None)` ->
        the tokenizer, load_tokenizer; `cpu_cores`: () -> the CpuCores the thread count is chosen from;
        `other_load`: (cpus) -> the OtherLoad that `threads: 0` follows. Seams for tests (tests/fault_server.py
        injects faults through them)."""
        self.config = config
        self.named_model = config.model
        self.decode_loop = decode_loop
        self.tokenizer_loader = tokenizer_loader
        self.cpu_cores = cpu_cores
        self.other_load = other_load
        self._free_core_threads: FreeCoreThreads | None = None  # threads: 0 on a CPU: chosen per generation
        self.tokenizer = None
        self.model: TokenModel | None = None
        self.drafter: ModelDrafter | None = None  # when a draft model is set (else prompt lookup, per request)
        self.context_window = DEFAULT_CONTEXT_WINDOW
        self.runtime: dict[str, str | int | float] = {}  # see Engine.runtime
        self.eos_ids: set[int] = set()
        self._token_texts: list[str] | None = None
        self._backend = None  # the Rust tokenizer, when it encodes exactly as the transformers wrapper does

    @property
    def model_name(self) -> str:
        return self.named_model

    # -- loading -------------------------------------------------------------------------------------
    def load(self, report: ProgressFn) -> None:
        route_library_output(verbose=log.isEnabledFor(logging.DEBUG))
        self.config = with_model_sources(self.config)  # what the user named stays in model_name
        report("loading tokenizer", 5)
        self.tokenizer = self.tokenizer_loader(self.config)
        self._backend = fast_backend(self.tokenizer)
        eos = self.tokenizer.eos_token_id
        self.eos_ids = {eos} if eos is not None else set()
        self._set_threads()
        self._load_model(report)
        if self.config.draft_model:
            self._load_draft_model(report)
        if self._free_core_threads is not None and self._runs_compiled_graphs():
            self._keep_threads_from_load()
        report("ready", 100)

    def _set_threads(self) -> None:
        """torch's intra-op threads for the whole process (the engine is its only torch user; this runs on the
        model thread, as every generation does): the `threads` setting or OMP_NUM_THREADS when set; else, on
        a CPU, the physical cores other processes leave free, chosen again before each generation
        (cpu.FreeCoreThreads); on a GPU torch's default."""
        device = resolve_device(self.config.device)
        cores = self.cpu_cores()
        fixed = fixed_threads(self.config.threads, cores)
        if fixed is not None:
            torch.set_num_threads(fixed)
        elif device == "cpu":
            self._free_core_threads = FreeCoreThreads(cores, self.other_load(cores.cpus) if cores.cpus else None)
            torch.set_num_threads(self._free_core_threads.threads)
        self.runtime.update(device=device, threads=torch.get_num_threads(),
                            threads_from="free cores" if self._free_core_threads else "setting" if fixed else "torch")
        if device == "cpu":  # dtype: bfloat16 pays only with it (docs/cpu.md)
            self.runtime["cpu_bf16"] = "native" if native_bf16() else "emulated"

    def _runs_compiled_graphs(self) -> bool:
        """Whether a generation runs torch.compile'd code (the base engine loads no model: no)."""
        return False

    def _keep_threads_from_load(self) -> None:
        """torch.compile guards every graph on torch's thread count: a change would compile them all again
        (seconds, in the middle of typing; a second count keeps both). So an engine that runs compiled graphs
        keeps the free cores it counted at load, when it compiled them."""
        self._free_core_threads = None
        self.runtime["threads_from"] = "free cores at load (compiled graphs)"

    def _follow_free_cores(self) -> None:
        if self._free_core_threads is not None:
            threads = self._free_core_threads.choose()
            if threads != torch.get_num_threads():
                torch.set_num_threads(threads)
                self.runtime["threads"] = threads

    def _load_model(self, report: ProgressFn) -> None:
        """Load the model into `self.model` (the base engine loads none)."""

    def _record_load(self, device: object, dtype: object, weight_bytes: int) -> None:
        """What every in-process engine puts in `runtime` at load (`codegen-lsp check` prints it); a fact an
        engine already put there stays."""
        facts = {"device": str(device), "dtype": str(dtype).removeprefix("torch."),
                 "weights_mib": round(weight_bytes / 2**20, 1)}
        for key, value in facts.items():
            self.runtime.setdefault(key, value)

    def _token_model(self, model_id: str, report: ProgressFn) -> TokenModel:
        """Load a checkpoint as this engine's TokenModel (used for the draft model)."""
        raise EngineError(f"the {self.name} engine cannot load a draft model")

    def _warm_up(self, model: TokenModel) -> None:
        model.prefill(self.encode("def main():\n") or [0])
        model.reset()

    def _load_draft_model(self, report: ProgressFn) -> None:
        """The small model that drafts for speculative decoding; it must share the model's tokenizer."""
        draft_id = self.config.draft_model
        report(f"loading draft model {draft_id}", 85)
        if self.tokenizer_loader(self.config, draft_id).get_vocab() != self.tokenizer.get_vocab():
            raise EngineError(
                f"the draft model '{draft_id}' has another tokenizer than '{self.config.model}'; "
                "a draft model must be of the same family (e.g. codegen-350M-multi for codegen-16B-multi)"
            )
        model = self._token_model(draft_id, report)
        self._warm_up(model)
        self.drafter = ModelDrafter(model, min(model.window, self.context_window))

    # -- tokens --------------------------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        if self._backend is not None:
            return self._backend.encode(text, add_special_tokens=False).ids
        return self.tokenizer.encode(text, add_special_tokens=False)

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(
            ids, skip_special_tokens=False, clean_up_tokenization_spaces=False
        )

    def count_tokens(self, text: str) -> int:
        return len(self.encode(text))

    def max_token_chars(self) -> int:
        return max(len(t) for t in self.token_texts())

    def token_texts(self) -> list[str]:
        """The text of every token id (computed once; used by token healing)."""
        if self._token_texts is None:
            size = len(self.tokenizer)
            self._token_texts = self.tokenizer.batch_decode(
                [[i] for i in range(size)], skip_special_tokens=False, clean_up_tokenization_spaces=False
            )
        return self._token_texts

    # -- generation ----------------------------------------------------------------------------------
    def generate(
        self, request: GenerationRequest, cancel: CancelToken, should_stop: StopCheck | None = None
    ) -> Generation:
        if self.model is None:
            raise EngineError("the model is not loaded")
        ids, heal = self._prompt_ids(request)
        result = Generation(text="", finish_reason=FinishReason.LENGTH, prompt_tokens=len(ids))
        if cancel.cancelled:
            result.finish_reason = FinishReason.CANCELLED
            return result
        self._follow_free_cores()
        try:
            return self._decode(ids, heal, request, cancel, should_stop, result)
        except torch.OutOfMemoryError as err:
            self._forget_cached_state()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            raise EngineError(f"out of memory while generating ({err}); cached state was freed") from err
        except Exception:
            self._forget_cached_state()  # the cache may hold a half-written step
            raise

    def _decode(self, ids, heal, request, cancel, should_stop, result: Generation) -> Generation:
        loop = self.decode_loop(
            self.model,
            self.decode,
            TokenChooser(request.temperature, request.top_p, request.seed, heal, self.token_texts),
            StoppingCriteria(self.eos_ids, request.stop, should_stop, heal),
            self._drafter(request),
        )
        return loop.run(ids, request, cancel, result)

    def generate_many(
        self, requests: list[GenerationRequest], cancel: CancelToken, should_stop: StopCheck | None = None
    ) -> list[Generation]:
        """In process there is one model and one KV cache: alternatives run one after another."""
        return [self.generate(request, cancel, should_stop) for request in requests]

    def _forget_cached_state(self) -> None:
        self.model.reset()
        if self.drafter is not None:
            self.drafter.reset()

    def _prompt_ids(self, request: GenerationRequest) -> tuple[list[int], str]:
        """Tokenize the prompt; back off the last token so the model may choose its own boundary."""
        ids = self.encode(request.prompt)
        limit = max(1, self.context_window - request.max_new_tokens)
        ids = ids[-limit:] or self._start_ids()
        heal = request.heal
        if len(ids) > 1 and not heal:
            last = self.decode(ids[-1:])
            if heal_worthy(last):
                ids, heal = ids[:-1], last
        return ids, heal

    def _start_ids(self) -> list[int]:
        """What an empty prompt starts from (a small `contextTokens` budget, or the start of an empty file):
        the model's start token, as `generate` does without input; a model needs one token to predict from."""
        start = self.tokenizer.bos_token_id if self.tokenizer.bos_token_id is not None else self.tokenizer.eos_token_id
        return [start] if start is not None else [0]

    def _drafter(self, request: GenerationRequest) -> Drafter | None:
        """Prompt lookup (over the prompt, the output, and the text after the cursor) or the draft model;
        None when the request does not speculate."""
        if request.draft_tokens <= 0 or request.temperature > 0:  # speculation keeps greedy text only
            return None
        if self.drafter is not None:
            return self.drafter
        return PromptLookup(self.encode(request.suffix[:LOOKUP_SUFFIX_CHARS]) if request.suffix else ())

    def close(self) -> None:
        self.model = self.drafter = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
