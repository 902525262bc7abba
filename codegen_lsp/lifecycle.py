"""Leave with the editor: when the process named in `initialize.processId` is gone, the server exits too,
so no orphan keeps a model (and its GPU memory) loaded. Editors that die hard (SIGKILL, crash) never send
`exit` and may leave stdin open in a grandchild; this watcher is what ends the server then.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
from typing import Callable

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0


def pid_alive(pid: int) -> bool:
    """True while a process with this id exists (a zombie counts as gone)."""
    if pid <= 0:
        return False
    if os.name == "nt":  # no signal 0 there; psutil is the portable way when it is installed
        try:
            import psutil
        except ImportError:
            return True  # cannot tell: never kill the server on a guess
        return psutil.pid_exists(pid)
    try:
        os.kill(pid, 0)
    except OSError as err:
        if err.errno == errno.ESRCH:
            return False
        return err.errno == errno.EPERM  # exists, owned by someone else
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except (OSError, IndexError):
        return False


def watch_parent(pid: int | None, on_gone: Callable[[], None], poll_seconds: float = POLL_SECONDS) -> threading.Thread | None:
    """Call `on_gone` (on a daemon thread) once `pid` has exited; nothing to watch when pid is None."""
    if pid is None or not isinstance(pid, int):
        return None
    if not pid_alive(pid):
        log.warning("the editor process %s named in initialize is not running; not watching it", pid)
        return None

    def watch() -> None:
        stop = threading.Event()
        while not stop.wait(poll_seconds):
            if not pid_alive(pid):
                log.warning("the editor process %s is gone: exiting", pid)
                on_gone()
                return

    thread = threading.Thread(target=watch, name="codegen-parent-watch", daemon=True)
    thread.start()
    return thread


def exit_now(cleanup: Callable[[], None], code: int = 1) -> None:
    """Free what the server holds, then end the process at once (stdin may never close)."""
    try:
        cleanup()
    except Exception:
        log.exception("cleanup before exit failed")
    finally:
        logging.shutdown()
        os._exit(code)
