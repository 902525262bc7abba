"""A base for the scripted TokenModels that drive the decode loop in tests without a network."""

from __future__ import annotations


class ScriptedTokenModel:
    """What every TokenModel declares; subclasses script prefill/step (and verify/truncate when they
    speculate). No argmax on a device: the chooser reads the logits."""

    window = 2048
    greedy_token = None

    def verify(self, tokens):
        raise AssertionError("this scripted model does not verify drafts")

    def truncate(self, length):
        raise AssertionError("this scripted model does not verify drafts")

    def reset(self):
        pass
