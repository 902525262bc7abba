"""Shared fixtures: tiny models built once per test session, and the shared pycodegen-tiny model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tiny_model import build_tiny_model

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

SHARED_MODEL = Path(__file__).resolve().parents[1].parent / "shared" / "models" / "pycodegen-tiny"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """Random weights: for comparing engines and caches token for token."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-codegen"))


@pytest.fixture(scope="session")
def wordy_model_dir(tmp_path_factory) -> Path:
    """Random weights biased to write one long line of words: end-to-end tests see text arrive."""
    return build_tiny_model(tmp_path_factory.mktemp("wordy-codegen"), word_bias=True)


@pytest.fixture(scope="session")
def shared_model_dir() -> Path:
    if not (SHARED_MODEL / "config.json").is_file():
        pytest.skip("../shared/models/pycodegen-tiny is not here")
    return SHARED_MODEL


@pytest.fixture(scope="module")
def tokenizer_engine(tiny_model_dir):
    """The in-process engines' shared decode loop with the tiny tokenizer and no model: tests put a
    scripted TokenModel in `.model`."""
    from codegen_lsp.engines.config import TransformersConfig
    from codegen_lsp.engines.local.engine import LocalEngine

    engine = LocalEngine(TransformersConfig(model=str(tiny_model_dir)))  # the base engine loads no model
    engine.load(lambda message, pct: None)
    return engine
