"""Weight-only int8 and int4 for the fast engine's matrix products, on kernels torch itself ships.

A decode step reads every weight once, so it costs about its weight bytes over the memory bandwidth: int8
weights halve that against fp16, int4 quarter it (gpt-fast's measurement; llama.cpp's Q8_0/Q4 are the same
idea). Activations and the KV cache keep the model's dtype; only the products' weights are stored small.

- int8: one scale per output row (per output channel), symmetric, `aten._weight_int8pack_mm`.
- int4: asymmetric, one scale and zero point per group of INT4_GROUP_SIZE input columns,
  `aten._weight_int4pack_mm` (CUDA, Ampere or newer, bfloat16 activations) or
  `aten._weight_int4pack_mm_for_cpu`; the weight is packed once at load in the layout that kernel wants.

Why these kernels and not torchao: torchao's weight-only configs call the same aten ops but work on
`nn.Linear` modules, and our CodeGen keeps its fused products as plain tensors; its wheel also follows the
newest torch (the GPU machines run an older one). Why not our own GEMMs: the team keeps kernels to
well-kept libraries.

A quantized weight is a small frozen object called like a function (`weight(x) == x @ W.T`): torch.compile
traces through it (the ops have fake implementations) and a CUDA graph captures it like any kernel.
model.py's `weight_product` / `weight_product_add_` are the one place the model asks for a product, dense or not.

Measured on the 2-core CPU (torch 2.13, AVX-512): the int8 and int4 CPU kernels are vectorized for bfloat16
activations only; with float32 activations they ran 4-8x slower than float32 MKL (a 16384x4096 product:
fp32 48 ms, int8 with fp32 input 247 ms, int8 with bf16 input 25-30 ms, int4 with bf16 input 30-58 ms).
So on a CPU the quantized products take bfloat16 inputs (COMPUTE_DTYPE_CPU) and return the model's dtype.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ...base import EngineError

log = logging.getLogger(__name__)

INT4_GROUP_SIZE = 128  # columns per int4 scale/zero group (the kernels take 32, 64, 128 or 256)
INT4_INNER_K_TILES = 8  # the packing's tile width: the input width must be a multiple of 16 * this
INT4_ROW_MULTIPLE = 16  # the CPU packing wants the output rows in multiples of 16 (padded, then cut off)
COMPUTE_DTYPE_CPU = torch.bfloat16  # the CPU kernels' vectorized input type (see the module docstring)
# torch 2.13's CPU int8 kernel with bfloat16 inputs reads past the row (wrong sums, or a crash) unless the
# width is a multiple of 16 (seen with width 1928: 5% error at 3 rows, a segfault at 99); 32 to be safe.
INT8_WIDTH_MULTIPLE = 32
# Rows quantized at once (bounds the temporaries while loading); a multiple of the packings' row tiles (64 rows
# on a CPU: chunks of 32 rows did not concatenate into the one-piece packing, chunks of 64 do; 8 on CUDA).
ROWS_PER_CHUNK = 4096


class Quantization(str, enum.Enum):
    NONE = "none"
    INT8 = "int8"
    INT4 = "int4"


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


@dataclass(frozen=True, eq=False)
class Int8Weight:
    """x @ W.T with W (N, K) held as int8 and one scale per output row. The width is padded with zero
    columns to a multiple of INT8_WIDTH_MULTIPLE (inputs are padded to match).

    `packed_kernel`: torch's int8 weight-only kernel runs on this device; else the product dequantizes
    (W.to(dtype) * scale), correct everywhere and fused into one kernel when the step is compiled."""

    qweight: torch.Tensor  # (N, K_padded) int8
    scales: torch.Tensor  # (N,) in compute_dtype
    in_features: int
    compute_dtype: torch.dtype
    packed_kernel: bool = True

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        a = x.to(self.compute_dtype)
        if self.qweight.shape[1] != self.in_features:
            a = F.pad(a, (0, self.qweight.shape[1] - self.in_features))
        if self.packed_kernel:
            y = torch.ops.aten._weight_int8pack_mm(a, self.qweight, self.scales)
        else:
            y = F.linear(a, self.qweight.to(self.compute_dtype)) * self.scales
        return y.to(x.dtype)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.qweight.shape[0], self.in_features)

    def nbytes(self) -> int:
        return _nbytes(self.qweight) + _nbytes(self.scales)


@dataclass(frozen=True, eq=False)
class Int4Weight:
    """x @ W.T with W (N, K) held as packed int4, a scale and zero point per group of columns. Inputs
    narrower than the packed width (K padded up to the tile and group size) are padded with zeros; rows
    padded up to INT4_ROW_MULTIPLE are cut off the result."""

    packed: torch.Tensor
    scales_and_zeros: torch.Tensor  # (K_padded / group, N, 2) in compute_dtype
    in_features: int
    out_features: int
    padded_in_features: int
    group_size: int
    compute_dtype: torch.dtype
    for_cpu: bool

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        a = x.to(self.compute_dtype)
        if self.padded_in_features != self.in_features:
            a = F.pad(a, (0, self.padded_in_features - self.in_features))
        if self.for_cpu:
            y = torch.ops.aten._weight_int4pack_mm_for_cpu(a, self.packed, self.group_size, self.scales_and_zeros)
        else:
            y = torch.ops.aten._weight_int4pack_mm(a, self.packed, self.group_size, self.scales_and_zeros)
        if y.shape[-1] != self.out_features:
            y = y[..., : self.out_features]
        return y.to(x.dtype)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.out_features, self.in_features)

    def nbytes(self) -> int:
        return _nbytes(self.packed) + _nbytes(self.scales_and_zeros)


QuantizedWeight = Int8Weight | Int4Weight


def _nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def weight_nbytes(w: torch.Tensor | QuantizedWeight) -> int:
    """Bytes a weight occupies (and a decode step reads), dense or quantized."""
    return _nbytes(w) if isinstance(w, torch.Tensor) else w.nbytes()


# -- quantizing a dense weight ----------------------------------------------------------------------------
def compute_dtype_for(quantization: Quantization, device: torch.device, dtype: torch.dtype) -> torch.dtype:
    """The activation dtype the kernels take: bfloat16 on a CPU (their vectorized path); on CUDA the
    model's dtype for int8 and bfloat16 for int4 (the only one torch's CUDA int4 kernel takes)."""
    if device.type == "cpu":
        return COMPUTE_DTYPE_CPU
    return torch.bfloat16 if quantization is Quantization.INT4 else dtype


def quantize_int8(w: torch.Tensor, compute_dtype: torch.dtype, packed_kernel: bool = True) -> Int8Weight:
    """Symmetric per-row int8: scale = max |row| / 127, q = round(w / scale) in [-127, 127]."""
    k = w.shape[1]
    width = _round_up(k, INT8_WIDTH_MULTIPLE)
    rows = []
    scales = []
    with torch.no_grad():
        for chunk in w.split(ROWS_PER_CHUNK):
            chunk = F.pad(chunk.float(), (0, width - k))
            scale = chunk.abs().amax(dim=1).clamp(min=1e-10) / 127
            rows.append(torch.round(chunk / scale[:, None]).clamp_(-127, 127).to(torch.int8))
            scales.append(scale)
    return Int8Weight(torch.cat(rows), torch.cat(scales).to(compute_dtype), k, compute_dtype, packed_kernel)


def int4_padded_width(in_features: int, group_size: int = INT4_GROUP_SIZE) -> int:
    return _round_up(in_features, max(group_size, 16 * INT4_INNER_K_TILES))


def quantize_int4_values(w: torch.Tensor, group_size: int = INT4_GROUP_SIZE):
    """Asymmetric grouped int4 as torch's int4 kernels read it: per group of columns, scale = (max - min) / 15
    and zero = min + 8 * scale, q = round((w - min) / scale) in [0, 15], so that w ≈ (q - 8) * scale + zero.
    The width is padded with zero columns to int4_padded_width. Returns (q int32 (N, K_padded), scales,
    zeros (N, groups) float32)."""
    n, k = w.shape
    width = int4_padded_width(k, group_size)
    qs, scales, zeros = [], [], []
    with torch.no_grad():
        for chunk in w.split(ROWS_PER_CHUNK):
            chunk = F.pad(chunk.float(), (0, width - k)).view(chunk.shape[0], width // group_size, group_size)
            low, high = chunk.amin(dim=-1, keepdim=True), chunk.amax(dim=-1, keepdim=True)
            scale = (high - low).clamp(min=1e-6) / 15
            qs.append(torch.round((chunk - low) / scale).clamp_(0, 15).to(torch.int32).view(chunk.shape[0], width))
            scales.append(scale[..., 0])
            zeros.append((low + 8 * scale)[..., 0])
    return torch.cat(qs), torch.cat(scales), torch.cat(zeros)


def quantize_int4(w: torch.Tensor, compute_dtype: torch.dtype, group_size: int = INT4_GROUP_SIZE) -> Int4Weight:
    """Grouped int4, packed for the kernel of the weight's device, ROWS_PER_CHUNK rows at a time: the packed
    layouts are tiled by rows (see ROWS_PER_CHUNK), so packed chunks concatenate into the packed whole,
    and the int32 values the packing takes exist for one chunk only (for 16B's LM head in one piece they
    would be 1.3 GB, twice the weight in fp16, at the peak of the load)."""
    n, k = w.shape
    if n % INT4_ROW_MULTIPLE:
        w = F.pad(w, (0, 0, 0, _round_up(n, INT4_ROW_MULTIPLE) - n))
    for_cpu = w.device.type == "cpu"
    packed, scales_and_zeros = [], []
    for chunk in w.split(ROWS_PER_CHUNK):
        q, scales, zeros = quantize_int4_values(chunk, group_size)
        if for_cpu:
            packed.append(torch.ops.aten._convert_weight_to_int4pack_for_cpu(q, INT4_INNER_K_TILES))
        else:  # two values a byte, even columns in the high nibble (the layout the CUDA packing reads)
            packed.append(torch.ops.aten._convert_weight_to_int4pack((q[:, ::2] << 4 | q[:, 1::2]).to(torch.uint8),
                                                                     INT4_INNER_K_TILES))
        del q
        scales_and_zeros.append(torch.stack([scales, zeros], dim=-1).to(compute_dtype))
    scales_and_zeros = torch.cat(scales_and_zeros).transpose(0, 1).contiguous()
    return Int4Weight(torch.cat(packed), scales_and_zeros, k, n, int4_padded_width(k, group_size), group_size,
                      compute_dtype, for_cpu)


@dataclass(frozen=True)
class Quantizer:
    """Turns dense weights into quantized ones for one device: the kernels were checked to run there."""

    quantization: Quantization
    compute_dtype: torch.dtype
    int8_packed_kernel: bool = True

    def __call__(self, w: torch.Tensor) -> torch.Tensor | QuantizedWeight:
        if self.quantization is Quantization.INT8:
            return quantize_int8(w, self.compute_dtype, self.int8_packed_kernel)
        if self.quantization is Quantization.INT4:
            return quantize_int4(w, self.compute_dtype)
        return w


def quantizer_for(quantization: Quantization, device: torch.device | str, dtype: torch.dtype) -> Quantizer:
    """Check once, at load, that this device runs the quantized products; the message says what to change.

    int8 without torch's packed kernel on this device falls back to the dequantizing product (logged);
    int4 without its kernel (a GPU older than Ampere, a torch built without it) is refused."""
    device = torch.device(device)
    quantization = Quantization(quantization)
    compute_dtype = compute_dtype_for(quantization, device, dtype)
    quantizer = Quantizer(quantization, compute_dtype)
    if quantization is Quantization.NONE:
        return quantizer
    probe = torch.randn(64, 256, device=device, dtype=torch.float32)
    x = torch.randn(2, 256, device=device, dtype=dtype)
    expected = x.float() @ probe.t()
    try:
        result = quantizer(probe)(x).float()
    except Exception as err:  # noqa: BLE001 - NotImplementedError, RuntimeError: whatever the kernel lacks
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if quantization is Quantization.INT8:
            log.warning("torch's int8 weight-only kernel does not run on %s (%s); int8 products dequantize "
                        "instead (slower unless the decode step is compiled)", device, reason)
            return Quantizer(quantization, compute_dtype, int8_packed_kernel=False)
        gpu = ""
        if device.type == "cuda":
            major, minor = torch.cuda.get_device_capability(device)
            gpu = f" ({torch.cuda.get_device_name(device)}, compute capability {major}.{minor}; it needs 8.0 or newer)"
        raise EngineError(
            f"quantize int4 needs torch's int4 kernel, which torch {torch.__version__} does not run on "
            f"{device}{gpu}: {reason}. Use quantize: int8 (or none)"
        ) from err
    error = float((result - expected).norm() / expected.norm())
    if not error < 0.25:  # a kernel that runs but computes garbage (a packing layout it does not read)
        raise EngineError(f"quantize {quantization.value}: torch's kernel on {device} gave wrong results "
                          f"(relative error {error:.2f} on a test product); use quantize: none")
    return quantizer
