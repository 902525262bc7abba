"""In-process engines: loading helpers, the shared engine base (tokenizer + decode loop), the transformers
adapter with KV slots, and the fast CodeGen engine (codegen/)."""
