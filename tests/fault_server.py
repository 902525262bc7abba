"""The real server with faults injected, for tests/test_faults.py: `python tests/fault_server.py --stdio ...`.

A fault fires only for text that carries its marker, so one server serves good and bad requests side by side
and a test decides which request fails by what it types:
- INJECT_OOM: the model runs the prompt (filling a KV cache, as a real run would), then the next step raises
  torch.OutOfMemoryError, the error CUDA raises; the engine's own handler must free its state.
- INJECT_TOKENIZER: the tokenizer raises while encoding that text.
- INJECT_POSTPROCESS: post-processing raises on a completion for that cursor.
Nothing here is imported by the package: production code carries no test hooks.
"""

from __future__ import annotations

import torch

from codegen_lsp import cli, completion
from codegen_lsp.engines.local.engine import LocalEngine

OOM, TOKENIZER, POSTPROCESS = "INJECT_OOM", "INJECT_TOKENIZER", "INJECT_POSTPROCESS"

real_decode = LocalEngine._decode
real_encode = LocalEngine.encode
real_completion_for = completion.completion_for


def decode_with_oom(self, ids, heal, request, cancel, should_stop, result):
    if OOM in request.prompt:
        self.model.prefill(ids)
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (injected)")
    return real_decode(self, ids, heal, request, cancel, should_stop, result)


def encode_with_fault(self, text):
    if TOKENIZER in text:
        raise RuntimeError("tokenizer exploded (injected)")
    return real_encode(self, text)


def postprocess_with_fault(text, ctx):
    if POSTPROCESS in ctx.prefix:
        raise IndexError("post-processing bug (injected)")
    return real_completion_for(text, ctx)


LocalEngine._decode = decode_with_oom
LocalEngine.encode = encode_with_fault
completion.completion_for = postprocess_with_fault

if __name__ == "__main__":
    cli.main()
