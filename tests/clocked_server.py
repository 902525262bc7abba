"""The real server with a clock the test sets, for tests/test_acceptance_e2e.py: `python tests/clocked_server.py --stdio`.

The retention checks run "30 s" and "2 min" after an accept by the server's clock. Here that clock reads the number
of seconds in the file named by $CODEGEN_TEST_CLOCK (0 while there is none), so a test moves time forward by writing
the file, and nothing sleeps. The server is created through its own seam (`create_server(settings, clock, wall_clock)`);
nothing else is changed.
"""

from __future__ import annotations

import os
from pathlib import Path

from codegen_lsp import cli, server

CLOCK_FILE = Path(os.environ["CODEGEN_TEST_CLOCK"])
EPOCH = 1_790_000_000.0  # the wall clock starts here (a fixed day for the saved counters)


def clock() -> float:
    try:
        return float(CLOCK_FILE.read_text() or 0)
    except FileNotFoundError:
        return 0.0


def wall_clock() -> float:
    return EPOCH + clock()


real_create_server = server.create_server
server.create_server = lambda settings: real_create_server(settings, clock, wall_clock)

if __name__ == "__main__":
    cli.main()
