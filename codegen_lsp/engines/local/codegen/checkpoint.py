"""What a CodeGen checkpoint is, in one place: its shape, its fused qkv layout, where its tensors are read from,
and how a name becomes a directory. The fast engine (model.py, quantized_loading.py) and `convert` (to GPT-J)
both read checkpoints through here, and every failure is a `CheckpointError` whose one-line message says what
to do.

The qkv layout: transformers' CodeGen (`modeling_codegen.py`, CodeGenAttention.forward) reads `qkv_proj` as

    qkv = qkv_proj(x).view(..., 4, 3 * local_dim); query, value, key = qkv.split(local_dim, dim=-1)

with local_dim = n_embd / 4: the output rows form 4 model-parallel shards (CodeGen was trained on 4), each a
query, a VALUE and a key block (in that order) of local_dim rows, and a projection's heads run across the shards
in order. `qkv_row_order` is the one permutation that turns those rows into plain (q, k, v): the fast engine
reorders its fused weight with it, and `convert` splits it into GPT-J's q_proj, k_proj and v_proj.

Tensors are read one at a time (`CheckpointTensors`): safetensors (single or sharded) memory-mapped, or a
PyTorch checkpoint memory-mapped (so a 32 GB pytorch_model.bin is not read into memory).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from ...base import EngineError

# CodeGen's fused qkv projection is laid out for this many model-parallel shards (CodeGenAttention.mp_num).
MP_SHARDS = 4
# Inside each shard: query, value, key (CodeGenAttention.forward splits in this order).
SHARD_ORDER = ("q", "v", "k")
# Index files first (sharded checkpoints), then single files; safetensors before PyTorch pickles.
INDEX_FILES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
SINGLE_FILES = ("model.safetensors", "pytorch_model.bin")


class CheckpointError(EngineError):
    """A checkpoint that cannot be read as CodeGen; the message is one line and says what to do."""


def first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


# -- shape -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CodeGenShape:
    n_layer: int
    n_embd: int
    n_head: int
    rotary_dim: int
    n_inner: int
    vocab_size: int
    n_positions: int
    layer_norm_epsilon: float = 1e-5
    activation: str = "gelu_new"

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    @classmethod
    def from_config(cls, config: Any, source: str = "the checkpoint") -> CodeGenShape:
        """From a transformers CodeGenConfig or a config.json's dict; CheckpointError when it is not CodeGen or
        its numbers do not fit CodeGen's layout."""
        get = config.get if isinstance(config, dict) else lambda name, default=None: getattr(config, name, default)
        if get("model_type") != "codegen":
            raise CheckpointError(f"{source} is not a CodeGen checkpoint (model_type '{get('model_type') or 'none'}' in config.json)")
        missing = [name for name in ("n_layer", "n_embd", "n_head", "vocab_size", "n_positions") if get(name) is None]
        if missing:
            raise CheckpointError(f"{source}/config.json lacks {missing[0]}, which a CodeGen model needs")
        try:
            n_embd, n_head = int(get("n_embd")), int(get("n_head"))
            shape = cls(
                n_layer=int(get("n_layer")),
                n_embd=n_embd,
                n_head=n_head,
                rotary_dim=int(get("rotary_dim") or n_embd // n_head),
                n_inner=int(get("n_inner") or 4 * n_embd),
                vocab_size=int(get("vocab_size")),
                n_positions=int(get("n_positions")),
                layer_norm_epsilon=float(get("layer_norm_epsilon", 1e-5)),
                activation=str(get("activation_function", "gelu_new")),
            )
        except (TypeError, ValueError, ZeroDivisionError) as err:
            raise CheckpointError(f"{source}/config.json has a value a CodeGen model cannot take ({first_line(err)})") from None
        if shape.n_embd % shape.n_head or shape.n_head % MP_SHARDS:
            raise CheckpointError(
                f"{source}: n_head {shape.n_head} and n_embd {shape.n_embd} do not split into CodeGen's {MP_SHARDS} shards"
            )
        if not 0 < shape.rotary_dim <= shape.head_dim or shape.rotary_dim % 2:
            raise CheckpointError(f"{source}: rotary_dim {shape.rotary_dim} does not fit a head of {shape.head_dim}")
        return shape


# -- the qkv layout ----------------------------------------------------------------------------------------
def qkv_row_order(n_embd: int, mp_num: int = MP_SHARDS) -> torch.Tensor:
    """Row indices that turn CodeGen's sharded (q, v, k) qkv_proj into plain (q, k, v).

    HF views the output as (mp_num, 3 * local) and splits each shard into q, v, k of `local` channels;
    head h of q is then channels [h * head_dim, ...) of the shards' q parts laid end to end.
    """
    local = n_embd // mp_num
    shard = torch.arange(mp_num)[:, None] * 3 * local
    channel = torch.arange(local)[None, :]
    q, v, k = ((shard + i * local + channel).reshape(-1) for i in range(3))  # SHARD_ORDER
    return torch.cat([q, k, v])


def split_qkv(qkv: torch.Tensor, n_embd: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """CodeGen's fused qkv_proj weight (3 * n_embd, n_embd) as plain q, k, v projections (n_embd, n_embd) each."""
    if tuple(qkv.shape) != (3 * n_embd, n_embd):
        raise CheckpointError(f"qkv_proj.weight has shape {tuple(qkv.shape)}, expected {(3 * n_embd, n_embd)}")
    q, k, v = qkv[qkv_row_order(n_embd)].split(n_embd)
    return q.contiguous(), k.contiguous(), v.contiguous()


# -- where a checkpoint is ---------------------------------------------------------------------------------
def resolve_checkpoint(source: str, revision: str | None = None) -> Path:
    """A local directory as it is; a hub id downloaded (config, tokenizer and one kind of weights), or found in
    the cache when the hub is unreachable."""
    path = Path(source).expanduser()
    if path.is_dir():
        return path
    if path.exists() or source.startswith((".", "/", "~")) or source.count("/") > 1:
        raise CheckpointError(f"{source} is not a checkpoint directory")
    try:
        from huggingface_hub import list_repo_files, snapshot_download
    except ImportError:  # pragma: no cover - transformers depends on it
        raise CheckpointError(f"{source} is not a local directory and huggingface_hub is not installed") from None
    patterns = ["*.json", "*.txt"]
    try:
        files = list_repo_files(source, revision=revision)
        patterns += [f for f in files if f.endswith(".safetensors")] or [f for f in files if f.endswith(".bin")]
    except Exception:  # offline or unreachable: what the cache holds
        return _cached_snapshot(source, revision)
    try:
        return Path(snapshot_download(source, revision=revision, allow_patterns=patterns))
    except Exception as err:
        raise CheckpointError(f"cannot download {source} from the Hugging Face hub: {first_line(err)}") from None


def _cached_snapshot(source: str, revision: str | None) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(source, revision=revision, local_files_only=True))
    except Exception as err:
        raise CheckpointError(
            f"{source} is neither a local directory nor in the Hugging Face cache, and the hub is unreachable ({first_line(err)})"
        ) from None


def weight_files(directory: Path) -> list[Path]:
    """The checkpoint's weight files: the shards its index names, or its single file."""
    for index_name in INDEX_FILES:
        index = directory / index_name
        if index.is_file():
            try:
                weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
                files = [directory / name for name in dict.fromkeys(weight_map.values())]
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
                raise CheckpointError(f"cannot read {index}: {first_line(err)}; download it again") from None
            missing = [f.name for f in files if not f.is_file()]
            if missing:
                raise CheckpointError(f"{directory} lacks {missing[0]} (named in {index_name}); download it again")
            return files
    for name in SINGLE_FILES:
        if (directory / name).is_file():
            return [directory / name]
    raise CheckpointError(f"{directory} has no weights (model.safetensors or pytorch_model.bin)")


# -- reading tensors ---------------------------------------------------------------------------------------
class TensorSource(Protocol):
    def get(self, name: str) -> torch.Tensor:
        """The checkpoint's tensor of this name (on the CPU, in its stored dtype)."""

    def has(self, name: str) -> bool: ...


class CheckpointTensors:
    """Tensors of a checkpoint by name, read one at a time from memory-mapped files."""

    def __init__(self, files: list[Path]) -> None:
        self.files = files
        self._where: dict[str, Any] = {}
        for file in files:
            opened = _open(file)
            for name in opened.keys():
                self._where[name] = opened

    @classmethod
    def of(cls, directory: Path) -> CheckpointTensors:
        return cls(weight_files(directory))

    def names(self) -> set[str]:
        return set(self._where)

    def has(self, name: str) -> bool:
        return name in self._where

    def get(self, name: str) -> torch.Tensor:
        opened = self._where.get(name)
        if opened is None:
            raise CheckpointError(f"the checkpoint has no tensor '{name}' (not a CodeGen checkpoint, or an incomplete one)")
        try:
            return opened.get_tensor(name) if hasattr(opened, "get_tensor") else opened[name]
        except Exception as err:
            raise CheckpointError(f"the checkpoint's tensor '{name}' cannot be read ({first_line(err)}); download it again") from err

    def nbytes(self) -> int:
        return sum(f.stat().st_size for f in self.files)

    def close(self) -> None:
        self._where.clear()


def _open(file: Path) -> Any:
    try:
        if file.suffix == ".safetensors":
            from safetensors import safe_open

            return safe_open(str(file), framework="pt", device="cpu")
        return torch.load(file, map_location="cpu", mmap=True, weights_only=True)
    except Exception as err:  # SafetensorsError, UnpicklingError: a truncated or corrupt file
        raise CheckpointError(
            f"the checkpoint file {file} cannot be read: it is corrupt or not a checkpoint ({first_line(err)}); "
            "download it again"
        ) from None


class StateDictSource:
    """A loaded model's parameters as a tensor source (each tensor handed over once)."""

    def __init__(self, state: dict[str, torch.Tensor]) -> None:
        self.state = state

    def has(self, name: str) -> bool:
        return name in self.state

    def get(self, name: str) -> torch.Tensor:
        if name not in self.state:
            raise CheckpointError(f"the checkpoint has no tensor '{name}' (not a CodeGen checkpoint, or an incomplete one)")
        return self.state.pop(name)  # the caller owns it now; the model's copy goes with the last reference
