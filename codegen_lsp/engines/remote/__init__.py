"""The remote engine: an OpenAI-compatible server (engine.py), where its requests go (transport.py), the
streams it reads (streaming.py), what it learns about the served model (discovery.py) and the messages
it shows when the server fails (errors.py)."""
