"""Completer.load when the settings change while the engine loads: the engine built for the old settings is
closed, not dropped loaded (a model's memory, a remote engine's connections), and the state says no engine is
ready; the next load gets the engine the settings name. Engines come through the Completer's `build` seam."""

from __future__ import annotations

import asyncio

from codegen_lsp.completion import Completer, EngineState
from codegen_lsp.settings import Settings


class RecordedEngine:
    """An engine that loads instantly, and on load runs `during_load` (the user changing settings meanwhile)."""

    name = "recorded"
    model_name = None
    tokenizer = None
    fills_in_the_middle = True
    context_window = 256

    def __init__(self, config, during_load=lambda: None) -> None:
        self.config, self.during_load = config, during_load
        self.runtime: dict = {}
        self.closed = False

    def load(self, report) -> None:
        self.during_load()

    def count_tokens(self, text: str) -> int:
        return len(text)

    def max_token_chars(self) -> int:
        return 8

    def close(self) -> None:
        self.closed = True


def test_an_engine_whose_settings_changed_while_it_loaded_is_closed_and_the_next_load_is_kept():
    old, new = Settings(model="first-model", device="cpu"), Settings(model="second-model", device="cpu")
    built: list[RecordedEngine] = []

    def build(config):
        engine = RecordedEngine(config, lambda: completer.update_settings(new) if len(built) == 1 else None)
        built.append(engine)
        return engine

    completer = Completer(old, build=build)
    try:
        assert asyncio.run(completer.load(lambda message, percentage: None)) is False
        assert built[0].closed, "the engine of the old settings was left loaded"
        assert completer.engine is None and completer.state == EngineState.IDLE  # not stuck in LOADING
        assert asyncio.run(completer.load(lambda message, percentage: None)) is True
        assert completer.engine is built[1] and not built[1].closed and completer.state == EngineState.READY
        assert built[1].config != built[0].config
    finally:
        completer.close()
    assert built[1].closed


def test_a_change_that_keeps_the_engine_config_keeps_the_loaded_engine():
    settings = Settings(model="first-model", device="cpu")
    built: list[RecordedEngine] = []

    def build(config):
        engine = RecordedEngine(config, lambda: completer.update_settings(Settings(model="first-model", device="cpu", max_new_tokens=16)))
        built.append(engine)
        return engine

    completer = Completer(settings, build=build)
    try:
        assert asyncio.run(completer.load(lambda message, percentage: None)) is True
        assert completer.engine is built[0] and not built[0].closed and completer.state == EngineState.READY
    finally:
        completer.close()
