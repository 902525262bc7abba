"""The real server under a Python audit hook, for tests/test_security.py: `python tests/audited_server.py --stdio`.

It reports on stderr, as `AUDIT ...` lines, every network call (DNS lookups, socket connects) and every file
the server opens under $AUDIT_WATCH_DIR, so a test can prove what the server did not touch. Nothing is patched.
"""

from __future__ import annotations

import os
import sys

from codegen_lsp import cli

WATCH_DIR = os.environ.get("AUDIT_WATCH_DIR")
NETWORK_EVENTS = {"socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.sendto", "urllib.Request"}


def audit(event: str, args: tuple) -> None:
    if event in NETWORK_EVENTS:
        sys.stderr.write(f"AUDIT network {event} {args[1:]!r}\n")
    elif event == "open" and WATCH_DIR and isinstance(args[0], str) and os.path.abspath(args[0]).startswith(WATCH_DIR):
        sys.stderr.write(f"AUDIT open {args[0]} {args[1]}\n")


if __name__ == "__main__":
    sys.addaudithook(audit)
    cli.main()
