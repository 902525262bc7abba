"""Engine choice: `engine` setting auto|fast|transformers|openai, each engine built from its own config.

Three layers that import one way: `decoding/` (token choice, stopping, speculation, the decode loop; no
model knowledge) <- `local/` (in-process engines: transformers, CodeGen) and `remote/` (an OpenAI-compatible
server). `base.py` is the protocol the pipeline sees, `config.py` what each engine is built from.
"""

from __future__ import annotations

from ..settings import Settings
from .base import CancelToken, Engine, EngineError, Generation, GenerationRequest
from .config import EngineConfig, EngineKind, FastConfig, RemoteConfig, choose_engine, engine_config, needs_reload

__all__ = [
    "CancelToken", "Engine", "EngineError", "Generation", "GenerationRequest", "EngineKind", "create_engine",
    "choose_engine", "engine_config", "needs_reload", "build_engine",
]


def create_engine(settings: Settings) -> Engine:
    return build_engine(engine_config(settings))


def build_engine(config: EngineConfig) -> Engine:
    if isinstance(config, RemoteConfig):
        from .remote.engine import OpenAIEngine

        return OpenAIEngine(config)
    if isinstance(config, FastConfig):
        from .local.codegen.engine import FastCodeGenEngine

        return FastCodeGenEngine(config)
    from .local.transformers_engine import TransformersEngine

    return TransformersEngine(config)
