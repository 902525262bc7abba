"""codegen-lsp: Copilot-style completions from a self-hosted causal language model, over LSP."""

__version__ = "0.1.0"
