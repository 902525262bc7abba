"""Engine choice: `engine` setting auto|fast|transformers|openai.

auto picks the remote engine when an API base is set, the fast CodeGen engine for CodeGen checkpoints on
CUDA (or anywhere when `quantize` is set: only that engine quantizes), and the transformers engine for
everything else.
"""

from __future__ import annotations

import json
import os

from ..settings import Settings
from .base import CancelToken, Engine, EngineError, Generation, GenerationRequest

__all__ = ["CancelToken", "Engine", "EngineError", "Generation", "GenerationRequest", "create_engine", "choose_engine"]


def choose_engine(settings: Settings) -> str:
    if settings.engine != "auto":
        return settings.engine
    if settings.api_base:
        return "openai"
    if _is_codegen(settings.model) and (_cuda_wanted(settings.device) or settings.quantize != "none"):
        return "fast"
    return "transformers"


def create_engine(settings: Settings) -> Engine:
    kind = choose_engine(settings)
    if kind == "fast":
        from .codegen_fast import FastCodeGenEngine

        return FastCodeGenEngine(settings)
    if kind == "openai":
        from .openai import OpenAIEngine

        return OpenAIEngine(settings)
    from .hf import TransformersEngine

    return TransformersEngine(settings)


def _cuda_wanted(device: str) -> bool:
    if device.startswith("cuda"):
        return True
    if device != "auto":
        return False
    import torch

    return torch.cuda.is_available()


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
