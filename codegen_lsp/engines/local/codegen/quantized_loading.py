"""CodeGen weights for the fast engine, quantized while they load (the `quantize` setting, int8 or int4).

The checkpoint is read tensor by tensor from its safetensors files (memory-mapped: a tensor is read when it
is asked for), each layer is put into the fast engine's fused layout (model.weights_from_hf's
layout: qkv rows reordered, [qkv; fc_in] and [out_proj, fc_out, fc_out.bias]) in the model's dtype on the
device, quantized there, and its dense copy dropped before the next layer. So the device holds the
quantized layers so far plus one dense layer, and the host one layer's tensors (plus the page cache): the
way CodeGen-16B (32 GB in fp16) loads into a 24 GB GPU as int8. A checkpoint without safetensors (older hub
repositories ship only pytorch_model.bin) goes through transformers' loader instead, which holds the whole
model in host memory once; the device side stays bounded the same way.

Before any weight is read, the quantized size and the KV cache of the full window are compared with the
memory free on the device: a model too big even quantized is refused with the numbers and what to change.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Callable, Protocol

import torch

from ...base import EngineError, ProgressFn
from .model import BIAS_COLUMNS, CodeGenShape, CodeGenWeights, LayerWeights, qkv_row_order
from .quantize import (
    INT4_GROUP_SIZE, INT4_ROW_MULTIPLE, INT8_WIDTH_MULTIPLE, Quantization, Quantizer, compute_dtype_for,
    int4_padded_width, quantizer_for,
)

log = logging.getLogger(__name__)

SAFETENSORS_INDEX = "model.safetensors.index.json"
SAFETENSORS_SINGLE = "model.safetensors"
# Room left free beyond weights and KV cache: one dense layer while it is quantized, activations, allocator slack.
HEADROOM_FRACTION = 0.08


class TensorSource(Protocol):
    def get(self, name: str) -> torch.Tensor:
        """The checkpoint's tensor of this name (on the CPU, in its stored dtype)."""

    def has(self, name: str) -> bool: ...


class SafetensorsSource:
    """Tensors read one at a time from memory-mapped safetensors files."""

    def __init__(self, files: list[Path]) -> None:
        from safetensors import safe_open

        self.where: dict[str, object] = {}
        for file in files:
            try:
                handle = safe_open(str(file), framework="pt", device="cpu")
            except Exception as err:  # SafetensorsError: a truncated or corrupt file
                raise EngineError(f"the checkpoint file {file} cannot be read ({err}); download it again") from err
            for name in handle.keys():
                self.where[name] = handle

    def has(self, name: str) -> bool:
        return name in self.where

    def get(self, name: str) -> torch.Tensor:
        if name not in self.where:
            raise EngineError(f"the checkpoint has no tensor '{name}' (not a CodeGen checkpoint, or an incomplete one)")
        try:
            return self.where[name].get_tensor(name)
        except Exception as err:
            raise EngineError(f"the checkpoint's tensor '{name}' cannot be read ({err}); download it again") from err


class StateDictSource:
    """A loaded model's parameters (the path for checkpoints without safetensors)."""

    def __init__(self, state: dict[str, torch.Tensor]) -> None:
        self.state = state

    def has(self, name: str) -> bool:
        return name in self.state

    def get(self, name: str) -> torch.Tensor:
        if name not in self.state:
            raise EngineError(f"the checkpoint has no tensor '{name}' (not a CodeGen checkpoint, or an incomplete one)")
        return self.state.pop(name)  # the caller owns it now; the model's copy goes with the last reference


def safetensors_files(model_id: str, revision: str | None = None) -> list[Path] | None:
    """The checkpoint's safetensors files (a local directory, or the hub's cache/download), or None when it
    has none (then transformers' loader reads it)."""
    directory = Path(model_id)
    if directory.is_dir():
        index, single = directory / SAFETENSORS_INDEX, directory / SAFETENSORS_SINGLE
        found_index = index if index.is_file() else None
        found_single = single if single.is_file() else None
    else:
        found_index = _hub_file(model_id, SAFETENSORS_INDEX, revision)
        found_single = None if found_index else _hub_file(model_id, SAFETENSORS_SINGLE, revision)
    if found_index is not None:
        try:
            shards = sorted(set(json.loads(found_index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (OSError, ValueError, KeyError, AttributeError) as err:
            raise EngineError(f"the checkpoint index {found_index} cannot be read ({err}); download it again") from err
        files = []
        for shard in shards:
            path = found_index.parent / shard if directory.is_dir() else _hub_file(model_id, shard, revision)
            if path is None or not path.is_file():
                raise EngineError(f"the checkpoint shard {shard} named in {SAFETENSORS_INDEX} is missing")
            files.append(path)
        return files
    return [found_single] if found_single is not None else None


def _hub_file(model_id: str, filename: str, revision: str | None) -> Path | None:
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(model_id, filename, revision=revision))
    except Exception:  # not there, offline and not cached, not a repository: transformers' loader will say
        return None


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
                           trust_remote_code: bool = False,
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
    files = safetensors_files(model_id, revision)
    if files is not None:
        source: TensorSource = SafetensorsSource(files)
    else:
        from transformers import AutoModelForCausalLM

        log.info("%s has no safetensors files: loading it whole into host memory first", model_id)
        model = AutoModelForCausalLM.from_pretrained(model_id, dtype=dtype, revision=revision,
                                                     trust_remote_code=trust_remote_code)
        source = StateDictSource(dict(model.state_dict()))
        del model
    return stream_codegen_weights(source, shape, device, dtype, quantizer, report)


def stream_codegen_weights(source: TensorSource, shape: CodeGenShape, device: torch.device | str,
                           dtype: torch.dtype, quantizer: Quantizer,
                           report: ProgressFn = lambda message, percentage: None) -> CodeGenWeights:
    """Layer by layer: read, fuse (as weights_from_hf does), quantize the products, drop the dense copy."""
    device = torch.device(device)
    order = qkv_row_order(shape.n_embd).to(device)
    E = shape.n_embd

    def take(name: str) -> torch.Tensor:
        # No copy when device and dtype match (a CPU load): the small dense tensors then stay views of the
        # memory-mapped file (the kernel pages them in and out), and no memory is spent twice.
        return source.get(name).to(device=device, dtype=dtype)

    layers = []
    with torch.no_grad():
        for i in range(shape.n_layer):
            report(f"loading and quantizing layer {i + 1}/{shape.n_layer} ({quantizer.quantization.value})",
                   20 + 55 * i // shape.n_layer)
            p = f"transformer.h.{i}."
            w_in = torch.cat([take(p + "attn.qkv_proj.weight")[order], take(p + "mlp.fc_in.weight")])
            _expect(w_in, (3 * E + shape.n_inner, E), p + "attn.qkv_proj.weight / mlp.fc_in.weight")
            b_in = torch.cat([torch.zeros(3 * E, device=device, dtype=dtype), take(p + "mlp.fc_in.bias")])
            bias_columns = torch.zeros(E, BIAS_COLUMNS, device=device, dtype=dtype)
            bias_columns[:, 0] = take(p + "mlp.fc_out.bias")
            w_out = torch.cat([take(p + "attn.out_proj.weight"), take(p + "mlp.fc_out.weight"), bias_columns], dim=1)
            _expect(w_out, (E, E + shape.n_inner + BIAS_COLUMNS), p + "attn.out_proj.weight / mlp.fc_out.weight")
            layers.append(LayerWeights(
                ln_weight=take(p + "ln_1.weight"), ln_bias=take(p + "ln_1.bias"),
                w_in=quantizer(w_in.contiguous()), b_in=b_in, w_out=quantizer(w_out.contiguous()),
            ))
            del w_in, w_out
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


def _expect(t: torch.Tensor, shape: tuple[int, int], what: str) -> None:
    if tuple(t.shape) != shape:
        raise EngineError(f"the checkpoint's {what} have shape {tuple(t.shape)} where its config implies {shape}")


def quantize_weights(weights: CodeGenWeights, quantizer: Quantizer) -> CodeGenWeights:
    """Dense CodeGenWeights with their products quantized (the small dense tensors are shared, not copied):
    for weights already in memory, e.g. the benchmark's random weights of the real shapes."""
    layers = [LayerWeights(ln_weight=layer.ln_weight, ln_bias=layer.ln_bias, w_in=quantizer(layer.w_in),
                           b_in=layer.b_in, w_out=quantizer(layer.w_out)) for layer in weights.layers]
    return CodeGenWeights(shape=weights.shape, wte=weights.wte, layers=layers, ln_f_weight=weights.ln_f_weight,
                          ln_f_bias=weights.ln_f_bias, lm_head_weight=quantizer(weights.lm_head_weight),
                          lm_head_bias=weights.lm_head_bias)
