"""CodeGen weights for the fast engine, quantized while they load (the `quantize` setting, int8 or int4).

The checkpoint is read tensor by tensor (checkpoint.CheckpointTensors: safetensors or a PyTorch checkpoint,
memory-mapped, so a tensor is read when it is asked for), each layer is put into the fast engine's fused layout (model.weights_from_hf's
layout: qkv rows reordered, [qkv; fc_in] and [out_proj, fc_out, fc_out.bias]) in the model's dtype on the
device, quantized there, and its dense copy dropped before the next layer. So the device holds the
quantized layers so far plus one dense layer, and the host one layer's tensors (plus the page cache): the
way CodeGen-16B (32 GB in fp16) loads into a 24 GB GPU as int8, from safetensors or from the
pytorch_model.bin that older hub repositories ship.

Before any weight is read, the quantized size and the KV cache of the full window are compared with the
memory free on the device: a model too big even quantized is refused with the numbers and what to change.
"""

from __future__ import annotations

from typing import Callable

import torch

from ...base import EngineError, ProgressFn
from .checkpoint import CheckpointTensors, CodeGenShape, TensorSource, qkv_row_order, resolve_checkpoint
from .weights import BIAS_COLUMNS, CodeGenWeights, LayerWeights, fused_layer
from .quantize import (
    INT4_GROUP_SIZE, INT4_ROW_MULTIPLE, INT8_WIDTH_MULTIPLE, Quantization, Quantizer, compute_dtype_for,
    int4_padded_width, quantizer_for,
)

# Room left free beyond weights and KV cache: one dense layer while it is quantized, activations, allocator slack.
HEADROOM_FRACTION = 0.08


# -- memory -----------------------------------------------------------------------------------------------
def product_shapes(shape: CodeGenShape) -> list[tuple[int, int]]:
    """(out, in) of every quantized product: per layer [qkv; fc_in] and [out_proj, fc_out, bias]; the LM head."""
    E = shape.n_embd
    layer = [(3 * E + shape.n_inner, E), (E, E + shape.n_inner + BIAS_COLUMNS)]
    return layer * shape.n_layer + [(shape.vocab_size, E)]


def weight_bytes(shape: CodeGenShape, quantization: Quantization, dtype: torch.dtype,
                 device: torch.device | str = "cuda") -> int:
    """Bytes of the weights as the fast engine holds them (the products quantized, the rest dense)."""
    size = torch.empty((), dtype=dtype).element_size()
    scale = torch.empty((), dtype=compute_dtype_for(quantization, torch.device(device), dtype)).element_size()
    products = 0
    for n, k in product_shapes(shape):
        if quantization is Quantization.INT8:
            products += n * (-(-k // INT8_WIDTH_MULTIPLE) * INT8_WIDTH_MULTIPLE) + n * scale
        elif quantization is Quantization.INT4:
            width, rows = int4_padded_width(k), -(-n // INT4_ROW_MULTIPLE) * INT4_ROW_MULTIPLE
            products += rows * width // 2 + 2 * rows * (width // INT4_GROUP_SIZE) * scale
        else:
            products += n * k * size
    E = shape.n_embd
    dense = shape.vocab_size * E + shape.n_layer * (2 * E + 3 * E + shape.n_inner) + 2 * E + shape.vocab_size
    return products + dense * size


def kv_cache_bytes(shape: CodeGenShape, window: int, dtype: torch.dtype) -> int:
    return 2 * shape.n_layer * window * shape.n_embd * torch.empty((), dtype=dtype).element_size()


def free_memory(device: torch.device) -> int | None:
    """Bytes free on the device now (None when unknown): CUDA's own count; on a CPU, MemAvailable."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    if device.type == "cpu":
        try:
            with open("/proc/meminfo", encoding="ascii") as f:
                for line in f:
                    if line.startswith("MemAvailable:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            return None
    return None


def memory_shortfall(model_id: str, shape: CodeGenShape, quantization: Quantization, dtype: torch.dtype,
                     device: torch.device, free: int | None) -> str | None:
    """The message for a model that does not fit even quantized, or None when it fits (or free is unknown)."""
    weights = weight_bytes(shape, quantization, dtype, device)
    cache = kv_cache_bytes(shape, shape.n_positions, dtype)
    needed = int((weights + cache) * (1 + HEADROOM_FRACTION))
    if free is None or needed <= free:
        return None
    smaller = "quantize: int4, " if quantization is Quantization.INT8 else ""
    return (f"'{model_id}' with quantize {quantization.value} needs about {needed / 1e9:.1f} GB on {device} "
            f"(weights {weights / 1e9:.1f} GB, KV cache of {shape.n_positions} tokens {cache / 1e9:.1f} GB) but "
            f"{free / 1e9:.1f} GB is free: use {smaller}a smaller model, or another device")


# -- loading ----------------------------------------------------------------------------------------------
def load_quantized_weights(model_id: str, config, device: str | torch.device, dtype: torch.dtype,
                           quantization: Quantization, report: ProgressFn, *, revision: str | None = None,
                           free: Callable[[torch.device], int | None] = free_memory) -> CodeGenWeights:
    """A CodeGen checkpoint in the fast engine's layout with its products quantized; EngineError with a
    message for the user when the kernel is missing, the model does not fit, or the checkpoint is broken.
    `free`: how much memory the device has (a seam for tests)."""
    device = torch.device(device)
    shape = CodeGenShape.from_config(config)
    shortfall = memory_shortfall(model_id, shape, quantization, dtype, device, free(device))
    if shortfall is not None:
        raise EngineError(shortfall)
    quantizer = quantizer_for(quantization, device, dtype)
    source = CheckpointTensors.of(resolve_checkpoint(model_id, revision))
    try:
        return stream_codegen_weights(source, shape, device, dtype, quantizer, report)
    finally:
        source.close()


def stream_codegen_weights(source: TensorSource, shape: CodeGenShape, device: torch.device | str,
                           dtype: torch.dtype, quantizer: Quantizer,
                           report: ProgressFn = lambda message, percentage: None) -> CodeGenWeights:
    """Layer by layer: read, fuse (weights.fused_layer), quantize the products, drop the dense copy."""
    device = torch.device(device)
    order = qkv_row_order(shape.n_embd).to(device)

    def take(name: str) -> torch.Tensor:
        # No copy when device and dtype match (a CPU load): the small dense tensors then stay views of the
        # memory-mapped file (the kernel pages them in and out), and no memory is spent twice.
        return source.get(name).to(device=device, dtype=dtype)

    layers = []
    with torch.no_grad():
        for i in range(shape.n_layer):
            report(f"loading and quantizing layer {i + 1}/{shape.n_layer} ({quantizer.quantization.value})",
                   20 + 55 * i // shape.n_layer)
            layers.append(fused_layer(take, i, shape, order, quantizer))
        report(f"quantizing the LM head ({quantizer.quantization.value})", 76)
        wte = take("transformer.wte.weight")
        lm_head = take("lm_head.weight") if source.has("lm_head.weight") else wte  # tied embeddings
        return CodeGenWeights(
            shape=shape,
            wte=wte,
            layers=layers,
            ln_f_weight=take("transformer.ln_f.weight"),
            ln_f_bias=take("transformer.ln_f.bias"),
            lm_head_weight=quantizer(lm_head.contiguous()),
            lm_head_bias=take("lm_head.bias") if source.has("lm_head.bias") else None,
        )


def quantize_weights(weights: CodeGenWeights, quantizer: Quantizer) -> CodeGenWeights:
    """Dense CodeGenWeights with their products quantized (the small dense tensors are shared, not copied):
    for weights already in memory, e.g. the benchmark's random weights of the real shapes."""
    layers = [LayerWeights(ln_weight=layer.ln_weight, ln_bias=layer.ln_bias, w_in=quantizer(layer.w_in),
                           b_in=layer.b_in, w_out=quantizer(layer.w_out)) for layer in weights.layers]
    return CodeGenWeights(shape=weights.shape, wte=weights.wte, layers=layers, ln_f_weight=weights.ln_f_weight,
                          ln_f_bias=weights.ln_f_bias, lm_head_weight=quantizer(weights.lm_head_weight),
                          lm_head_bias=weights.lm_head_bias)
