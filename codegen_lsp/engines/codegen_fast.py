"""The fast CodeGen engine: CodeGen's own forward over a static KV cache, decode step in a CUDA graph.

It loads the same checkpoint transformers loads (hub id or local directory), takes the weights into
its own fused layout (see codegen_static.py) and frees the transformers module. The shared decode loop
in local.py (sampling, token healing, stop sequences, cancellation between steps) drives it unchanged.
On a CPU it runs the same forward eagerly, so `--engine fast` and `--engine transformers` can be
compared anywhere.

On CUDA the load also decides whether the decode step's small per-layer ops run through torch.compile
(codegen_static.StaticCodeGen, compile_step "auto": timed against the eager step, kept only if faster and
in agreement; tens of seconds of Inductor compile on a cold cache). CODEGEN_LSP_COMPILE_STEP=off skips
that (faster first load), =on forces it.
"""

from __future__ import annotations

import logging
import os

import torch

from ..settings import Settings
from .base import EngineError, ProgressFn
from .codegen_static import COMPILE_STEP_MODES, StaticCodeGen, weights_from_hf
from .local import LocalEngine, load_failure_message, out_of_memory, resolve_device, resolve_dtype, revision_of
from .quantize import Quantization

log = logging.getLogger(__name__)

COMPILE_STEP_VARIABLE = "CODEGEN_LSP_COMPILE_STEP"


class FastCodeGenEngine(LocalEngine):
    name = "fast"

    def _load_model(self, report: ProgressFn) -> None:
        settings: Settings = self.settings
        self.device = resolve_device(settings.device)
        self.model = self._token_model(settings.model, report)
        self.context_window = self.model.window
        report("warming up", 80)
        self._warm_up(self.model)

    def _token_model(self, model_id: str, report: ProgressFn) -> StaticCodeGen:
        """A CodeGen checkpoint (the model, or the draft model) in the fused layout on this engine's device."""
        from transformers import AutoModelForCausalLM

        settings: Settings = self.settings
        device = self.device
        config = self._read_config(report, model_id)
        if getattr(config, "model_type", None) != "codegen":
            advice = "use --engine transformers"
            if settings.quantize != "none" and model_id == settings.model:
                advice = "quantize needs a CodeGen checkpoint: set quantize: none and use --engine transformers"
            raise EngineError(
                f"the fast engine runs CodeGen checkpoints only; '{model_id}' is a "
                f"{getattr(config, 'model_type', 'unknown')} model ({advice})"
            )
        compile_step = os.environ.get(COMPILE_STEP_VARIABLE, "auto").strip().lower() or "auto"
        if compile_step not in COMPILE_STEP_MODES:
            raise EngineError(f"{COMPILE_STEP_VARIABLE} must be one of {', '.join(COMPILE_STEP_MODES)}, not {compile_step!r}")
        dtype = resolve_dtype(settings.dtype, device, getattr(config, "dtype", None))
        # The quantize setting applies to the model, not to a draft model (small, and dense is exact).
        quantization = Quantization(settings.quantize) if model_id == settings.model else Quantization.NONE
        report(f"loading weights of {model_id} ({dtype} on {device})", 20)
        try:
            if quantization is not Quantization.NONE:  # streamed and quantized layer by layer
                from .quantized_loading import load_quantized_weights

                weights = load_quantized_weights(
                    model_id, config, device, dtype, quantization, report, revision=revision_of(settings, model_id),
                    trust_remote_code=settings.trust_remote_code,
                )
            else:  # loaded on the CPU, then moved layer by layer into the fused layout on the device
                hf_model = AutoModelForCausalLM.from_pretrained(
                    model_id, dtype=dtype, revision=revision_of(settings, model_id),
                    trust_remote_code=settings.trust_remote_code,
                )
                weights = weights_from_hf(hf_model, device, dtype)
                del hf_model
            verifies = model_id == settings.model and settings.draft_tokens > 0  # a draft model only steps
            return StaticCodeGen(
                weights, graphs=device.startswith("cuda"), reuse=settings.kv_cache_slots > 0,
                compile_step=compile_step, verify_width=settings.draft_tokens + 1 if verifies else 0,
            )
        except torch.OutOfMemoryError as err:
            raise out_of_memory(settings, err) from err
        except EngineError:
            raise  # already says what to change
        except Exception as err:
            raise EngineError(load_failure_message(settings, "model", err, model_id)) from err

    def _warm_up(self, model: StaticCodeGen) -> None:
        model.capture_all()  # CUDA only: one decode graph per attention length bucket
        super()._warm_up(model)
