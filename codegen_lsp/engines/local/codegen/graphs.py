"""CUDA graph capture for the fast CodeGen engine's decode step and verification: one graph per
attention length bucket, recorded after two warm-up runs on a side stream, replayed with static inputs."""

from __future__ import annotations

import contextlib

import torch

# Attention length buckets for the captured decode step: one graph per multiple of this.
DEFAULT_BUCKET = 256


def bucket_length(needed: int, bucket: int, window: int) -> int:
    """The attention length a decode step at `needed` filled positions runs over."""
    return min(window, -(-needed // bucket) * bucket)


def on_device(device: torch.device):
    """Make the model's GPU current (graphs capture and replay on the current device's stream)."""
    return torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext()


def record_graph(program, length: int, device: torch.device):
    """Capture `program(length)` in a CUDA graph; returns the graph and the program's outputs. The
    warm-up runs compute the real thing for the current static inputs, so capturing in the middle of
    a generation changes nothing."""
    with on_device(device):
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(2):
                program(length)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            outputs = program(length)
    return graph, outputs


def time_replays(graph, replays: int) -> float:
    """Milliseconds per replay of a captured graph (after one untimed replay)."""
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    graph.replay()
    start.record()
    for _ in range(replays):
        graph.replay()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / replays
