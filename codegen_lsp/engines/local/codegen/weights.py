"""The fast engine's weight layout, and the one function that builds it from a checkpoint's tensors.

Per layer two matrix products (model.py says why): w_in = [qkv; fc_in] with the qkv rows reordered from CodeGen's
sharded (q, v, k) into (q, k, v) (checkpoint.qkv_row_order), and w_out = [out_proj, fc_out, fc_out.bias, 0...]
so that fc_out's bias rides in the second product. `fused_layer` is used by both ways in: a transformers model
already loaded (`weights_from_hf`) and a checkpoint streamed and quantized layer by layer (quantized_loading.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ...base import EngineError
from .checkpoint import CodeGenShape, qkv_row_order
from .quantize import weight_nbytes

# The second product's input ends with [1, 0, ...]: fc_out's bias rides in the product. 8 keeps the
# inner dimension a multiple of 8 (what half-precision tensor-core kernels want).
BIAS_COLUMNS = 8


@dataclass
class LayerWeights:
    ln_weight: torch.Tensor
    ln_bias: torch.Tensor
    w_in: torch.Tensor  # (3E + inner, E): q, k, v, fc_in rows (the products' weights may be quantize.py's)
    b_in: torch.Tensor  # zeros for q, k, v; fc_in's bias (only that part is used)
    w_out: torch.Tensor  # (E, E + inner + BIAS_COLUMNS): out_proj, fc_out, then fc_out's bias and zeros


@dataclass
class CodeGenWeights:
    shape: CodeGenShape
    wte: torch.Tensor
    layers: list[LayerWeights]
    ln_f_weight: torch.Tensor
    ln_f_bias: torch.Tensor
    lm_head_weight: torch.Tensor
    lm_head_bias: torch.Tensor | None

    def nbytes(self) -> int:
        tensors = [self.wte, self.ln_f_weight, self.ln_f_bias, self.lm_head_weight]
        tensors += [self.lm_head_bias] if self.lm_head_bias is not None else []
        for layer in self.layers:
            tensors += [layer.ln_weight, layer.ln_bias, layer.w_in, layer.b_in, layer.w_out]
        return sum(weight_nbytes(t) for t in tensors)


Take = Callable[[str], torch.Tensor]  # a checkpoint tensor by name, on the device in the model's dtype


def fused_layer(take: Take, layer: int, shape: CodeGenShape, order: torch.Tensor,
                product: Callable[[torch.Tensor], torch.Tensor] = lambda weight: weight) -> LayerWeights:
    """Layer `layer` in the fused layout; `order` is qkv_row_order on the device, `product` what becomes of a
    product's weight (a quantizer, or nothing)."""
    p, E = f"transformer.h.{layer}.", shape.n_embd
    qkv = take(p + "attn.qkv_proj.weight")
    device, dtype = qkv.device, qkv.dtype
    w_in = torch.cat([qkv[order], take(p + "mlp.fc_in.weight")])
    del qkv
    _expect(w_in, (3 * E + shape.n_inner, E), p + "attn.qkv_proj.weight / mlp.fc_in.weight")
    b_in = torch.cat([torch.zeros(3 * E, device=device, dtype=dtype), take(p + "mlp.fc_in.bias")])
    bias_columns = torch.zeros(E, BIAS_COLUMNS, device=device, dtype=dtype)
    bias_columns[:, 0] = take(p + "mlp.fc_out.bias")
    w_out = torch.cat([take(p + "attn.out_proj.weight"), take(p + "mlp.fc_out.weight"), bias_columns], dim=1)
    _expect(w_out, (E, E + shape.n_inner + BIAS_COLUMNS), p + "attn.out_proj.weight / mlp.fc_out.weight")
    return LayerWeights(ln_weight=take(p + "ln_1.weight"), ln_bias=take(p + "ln_1.bias"),
                        w_in=product(w_in.contiguous()), b_in=b_in, w_out=product(w_out.contiguous()))


def _expect(t: torch.Tensor, shape: tuple[int, int], what: str) -> None:
    if tuple(t.shape) != shape:
        raise EngineError(f"the checkpoint's {what} have shape {tuple(t.shape)} where its config implies {shape}")


def weights_from_hf(model, device: str | torch.device, dtype: torch.dtype) -> CodeGenWeights:
    """Take a CodeGenForCausalLM's parameters into the fused layout, freeing each HF layer as it goes
    (so that peak memory stays near one copy of the model)."""
    shape = CodeGenShape.from_config(model.config)
    order = qkv_row_order(shape.n_embd).to(device)
    core = model.transformer

    def take(name: str) -> torch.Tensor:
        return model.get_parameter(name).detach().to(device=device, dtype=dtype)

    layers = []
    with torch.no_grad():
        for i in range(shape.n_layer):
            layers.append(fused_layer(take, i, shape, order))
            core.h[i] = torch.nn.Identity()  # drop the HF copy of this layer now
        lm_bias = model.lm_head.bias
        return CodeGenWeights(
            shape=shape,
            wte=take("transformer.wte.weight"),
            layers=layers,
            ln_f_weight=take("transformer.ln_f.weight"),
            ln_f_bias=take("transformer.ln_f.bias"),
            lm_head_weight=take("lm_head.weight"),
            lm_head_bias=lm_bias.detach().to(device=device, dtype=dtype) if lm_bias is not None else None,
        )
