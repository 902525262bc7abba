"""The decoding core: how tokens are chosen, when decoding stops, how drafts are checked, and the short loop
that combines them. It knows no model class, tokenizer or setting: an engine hands it a `TokenModel`, a
chooser, a stopping check and (for greedy requests) a drafter.

Imports go one way: `decoding` imports only the standard library, torch (logits are tensors) and
`engines.base`; the in-process engines import it, never the other way round.
"""
