"""The real server with faults injected, for tests/test_faults.py: `python tests/fault_server.py --stdio ...`.

A fault fires only for text that carries its marker, so one server serves good and bad requests side by side
and a test decides which request fails by what it types:
- INJECT_OOM: the model runs the prompt (filling a KV cache, as a real run would), then the next step raises
  torch.OutOfMemoryError, the error CUDA raises; the engine's own handler must free its state.
- INJECT_TOKENIZER: the tokenizer raises while encoding that text.
- INJECT_POSTPROCESS: post-processing raises on a completion for that cursor.
Nothing here is imported by the package: production code carries no test hooks. The engine faults go in
through the in-process engines' constructor seams (`decode_loop`, `tokenizer_loader`); this entry point
builds its engines with them.
"""

from __future__ import annotations

import torch

from codegen_lsp import cli, completion
from codegen_lsp.engines import build_engine
from codegen_lsp.engines.decoding.loop import DecodeLoop
from codegen_lsp.engines.local.loading import load_tokenizer

OOM, TOKENIZER, POSTPROCESS = "INJECT_OOM", "INJECT_TOKENIZER", "INJECT_POSTPROCESS"

real_completion_for = completion.completion_for


class DecodeLoopWithOOM(DecodeLoop):
    """The real loop, except that a prompt with the OOM marker fills the cache and then runs out of memory."""

    def run(self, ids, request, cancel, result):
        if OOM in request.prompt:
            self.model.prefill(ids)
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (injected)")
        return super().run(ids, request, cancel, result)


class TokenizerWithFault:
    """The real tokenizer, except that encoding text with the marker raises. It offers no Rust backend, so
    the engine encodes through it."""

    backend_tokenizer = None

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer

    def encode(self, text, **options):
        if TOKENIZER in text:
            raise RuntimeError("tokenizer exploded (injected)")
        return self.tokenizer.encode(text, **options)

    def __len__(self) -> int:
        return len(self.tokenizer)

    def __getattr__(self, name):
        return getattr(self.tokenizer, name)


def load_tokenizer_with_fault(config, model_id=None):
    return TokenizerWithFault(load_tokenizer(config, model_id))


def postprocess_with_fault(text, ctx):
    if POSTPROCESS in ctx.prefix:
        raise IndexError("post-processing bug (injected)")
    return real_completion_for(text, ctx)


def build_engine_with_faults(config):
    from codegen_lsp.engines.config import RemoteConfig

    if isinstance(config, RemoteConfig):
        return build_engine(config)
    return build_engine(config, decode_loop=DecodeLoopWithOOM, tokenizer_loader=load_tokenizer_with_fault)


# The server's composition: its engines built with the fault seams, post-processing wrapped.
completion.build_engine = build_engine_with_faults
completion.completion_for = postprocess_with_fault

if __name__ == "__main__":
    cli.main()
