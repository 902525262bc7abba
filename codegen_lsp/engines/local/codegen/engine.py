"""The fast CodeGen engine: CodeGen's own forward over a static KV cache, decode step in a CUDA graph.

It loads the same checkpoint transformers loads (hub id or local directory), takes the weights into
its own fused layout (see model.py) and frees the transformers module. The decoding core's loop
in decoding/loop.py (sampling, token healing, stop sequences, cancellation between steps) drives it unchanged.
On a CPU it runs the same forward eagerly, so `--engine fast` and `--engine transformers` can be
compared anywhere.

On CUDA the load also decides whether the decode step's small per-layer ops run through torch.compile
(model.StaticCodeGen, compile_step "auto": timed against the eager step, kept only if faster and
in agreement; tens of seconds of Inductor compile on a cold cache). CODEGEN_LSP_COMPILE_STEP=off skips
that (faster first load), =on forces it.
"""

from __future__ import annotations

import logging
import os

from ...base import EngineError, ProgressFn
from ..engine import LocalEngine
from ..loading import dtype_name, load_errors, read_model_config, resolve_device, resolve_dtype, revision_of
from .model import StaticCodeGen
from .weights import weights_from_hf
from .plan import COMPILE_STEP_MODES
from .quantize import Quantization

log = logging.getLogger(__name__)

COMPILE_STEP_VARIABLE = "CODEGEN_LSP_COMPILE_STEP"


class FastCodeGenEngine(LocalEngine):
    name = "fast"

    def _load_model(self, report: ProgressFn) -> None:
        self.device = resolve_device(self.config.device)
        self.model = self._token_model(self.config.model, report)
        self.context_window = self.model.window
        self.runtime.update(dtype=dtype_name(self.model.dtype), quantize=self.config.quantize)
        self._record_load(self.model.device, self.model.dtype, self.model.w.nbytes())
        report("warming up", 80)
        self._warm_up(self.model)

    def _runs_compiled_graphs(self) -> bool:
        return self.model.plan.compiled

    def _token_model(self, model_id: str, report: ProgressFn) -> StaticCodeGen:
        """A CodeGen checkpoint (the model, or the draft model) in the fused layout on this engine's device."""
        from transformers import AutoModelForCausalLM

        config = self.config
        device = self.device
        report("reading model config", 10)
        model_config = read_model_config(config, model_id)
        if getattr(model_config, "model_type", None) != "codegen":
            advice = "use --engine transformers"
            if config.quantize != "none" and model_id == config.model:
                advice = "quantize needs a CodeGen checkpoint: set quantize: none and use --engine transformers"
            raise EngineError(
                f"the fast engine runs CodeGen checkpoints only; '{model_id}' is a "
                f"{getattr(model_config, 'model_type', 'unknown')} model ({advice})"
            )
        compile_step = os.environ.get(COMPILE_STEP_VARIABLE, "auto").strip().lower() or "auto"
        if compile_step not in COMPILE_STEP_MODES:
            raise EngineError(f"{COMPILE_STEP_VARIABLE} must be one of {', '.join(COMPILE_STEP_MODES)}, not {compile_step!r}")
        dtype = resolve_dtype(config.dtype, device, getattr(model_config, "dtype", None))
        # The quantize setting applies to the model, not to a draft model (small, and dense is exact).
        quantization = Quantization(config.quantize) if model_id == config.model else Quantization.NONE
        report(f"loading weights of {model_id} ({dtype} on {device})", 20)
        with load_errors(config, "model", model_id):
            if quantization is not Quantization.NONE:  # streamed and quantized layer by layer
                from .quantized_loading import load_quantized_weights

                weights = load_quantized_weights(
                    model_id, model_config, device, dtype, quantization, report, revision=revision_of(config, model_id),
                )
            else:  # loaded on the CPU, then moved layer by layer into the fused layout on the device
                hf_model = AutoModelForCausalLM.from_pretrained(
                    model_id, dtype=dtype, revision=revision_of(config, model_id),
                    trust_remote_code=config.trust_remote_code,
                )
                weights = weights_from_hf(hf_model, device, dtype)
                del hf_model
            verifies = model_id == config.model and config.draft_tokens > 0  # a draft model only steps
            return StaticCodeGen(
                weights, graphs=device.startswith("cuda"), reuse=config.kv_cache_slots > 0,
                compile_step=compile_step, verify_width=config.draft_tokens + 1 if verifies else 0,
            )

    def _warm_up(self, model: StaticCodeGen) -> None:
        model.capture_all()  # CUDA only: one decode graph per attention length bucket
        super()._warm_up(model)
