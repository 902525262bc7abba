"""The LSP layer: message framing, the JSON-RPC protocol on pygls, the document model and URI identity.

The server (`codegen_lsp.server`) is the only module that speaks LSP; it builds on this package. The rest of the
pipeline uses only `documents` (text, offsets, edits) and `uris` (one key per document) from here.
"""
