"""Split-KV decode attention (flash-decoding) in Triton, for the fast CodeGen engine's captured step.

One query per head attends over the filled part of the static KV cache. The cache is cut into chunks of
CHUNK positions; each (head, chunk) program keeps an online softmax over its chunk, and a second kernel
merges the chunks. The filled length is read from a device tensor (the step's position), so the kernel
reads exactly the keys/values written so far, spreads the work over heads x chunks programs (a fused
attention kernel gets only one program per head for a single query), and never syncs with the host.

Optional: without Triton (CPU-only installs) `available()` is False and the engine uses SDPA.
The query must come pre-scaled (the engine folds 1/sqrt(head_dim) into its rotary tables).
"""

from __future__ import annotations

import torch

try:
    import triton
    import triton.language as tl
except ImportError:  # CPU-only installs: the engine falls back to SDPA
    triton = None

CHUNK = 128
# "minus infinity" that keeps exp(NEG - NEG) finite for empty chunks; a constexpr, since Triton kernels
# may read no other globals.
NEG = tl.constexpr(-1.0e30) if triton is not None else -1.0e30


def available() -> bool:
    return triton is not None


if triton is not None:

    @triton.jit
    def _chunk_kernel(
        Q, K, V, Pos, M, L, Acc,
        stride_qh, stride_kh, stride_kn, stride_vh, stride_vn,
        n_chunks,
        D: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr, CHUNK_N: tl.constexpr,
    ):
        head = tl.program_id(0)
        chunk = tl.program_id(1)
        filled = tl.load(Pos).to(tl.int32) + 1
        d = tl.arange(0, BLOCK_D)
        d_ok = d < D
        q = tl.load(Q + head * stride_qh + d, mask=d_ok, other=0.0).to(tl.float32)
        m_i = tl.full((), NEG, tl.float32)
        l_i = tl.full((), 0.0, tl.float32)
        acc = tl.zeros((BLOCK_D,), tl.float32)
        start = chunk * CHUNK_N
        for offset in range(0, CHUNK_N, BLOCK_N):  # masked loads past the filled length read nothing
            n = start + offset + tl.arange(0, BLOCK_N)
            n_ok = n < filled
            ok = n_ok[:, None] & d_ok[None, :]
            k = tl.load(K + head * stride_kh + n[:, None] * stride_kn + d[None, :], mask=ok, other=0.0)
            scores = tl.sum(k.to(tl.float32) * q[None, :], axis=1)
            scores = tl.where(n_ok, scores, NEG)
            m_new = tl.maximum(m_i, tl.max(scores, axis=0))
            p = tl.where(n_ok, tl.exp(scores - m_new), 0.0)
            alpha = tl.exp(m_i - m_new)
            v = tl.load(V + head * stride_vh + n[:, None] * stride_vn + d[None, :], mask=ok, other=0.0)
            acc = acc * alpha + tl.sum(p[:, None] * v.to(tl.float32), axis=0)
            l_i = l_i * alpha + tl.sum(p, axis=0)
            m_i = m_new
        slot = head * n_chunks + chunk
        tl.store(M + slot, m_i)
        tl.store(L + slot, l_i)
        tl.store(Acc + slot * D + d, acc, mask=d_ok)

    @triton.jit
    def _merge_kernel(M, L, Acc, Out, n_chunks, D: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_S: tl.constexpr):
        head = tl.program_id(0)
        s = tl.arange(0, BLOCK_S)
        s_ok = s < n_chunks
        d = tl.arange(0, BLOCK_D)
        d_ok = d < D
        m = tl.load(M + head * n_chunks + s, mask=s_ok, other=NEG)
        l = tl.load(L + head * n_chunks + s, mask=s_ok, other=0.0)
        weight = tl.where(s_ok, tl.exp(m - tl.max(m, axis=0)), 0.0)
        acc = tl.load(Acc + (head * n_chunks + s[:, None]) * D + d[None, :], mask=s_ok[:, None] & d_ok[None, :], other=0.0)
        out = tl.sum(weight[:, None] * acc, axis=0) / tl.sum(weight * l, axis=0)
        tl.store(Out + head * D + d, out.to(Out.dtype.element_ty), mask=d_ok)


def decode_attention(q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
    """q (H, D), pre-scaled; keys/values (H, positions, D), last dim contiguous; position: a 1-element
    long tensor, the query's position (it attends to positions 0..position). Returns (H, D) in q's dtype."""
    heads, dim = q.shape
    n_chunks = triton.cdiv(keys.shape[1], CHUNK)
    m = torch.empty(heads * n_chunks, device=q.device, dtype=torch.float32)
    l = torch.empty_like(m)
    acc = torch.empty(heads * n_chunks, dim, device=q.device, dtype=torch.float32)
    out = torch.empty(heads, dim, device=q.device, dtype=q.dtype)
    block_d = triton.next_power_of_2(dim)
    block_n = 32 if block_d >= 256 else 64
    _chunk_kernel[(heads, n_chunks)](
        q, keys, values, position, m, l, acc,
        q.stride(0), keys.stride(0), keys.stride(1), values.stride(0), values.stride(1),
        n_chunks, D=dim, BLOCK_D=block_d, BLOCK_N=block_n, CHUNK_N=CHUNK, num_warps=4,
    )
    _merge_kernel[(heads,)](m, l, acc, out, n_chunks, D=dim, BLOCK_D=block_d,
                            BLOCK_S=triton.next_power_of_2(n_chunks), num_warps=4)
    return out
