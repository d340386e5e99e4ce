"""Worker processes that do not outlive the command that started them.

When a command is killed with ``SIGKILL`` its `concurrent.futures.ProcessPoolExecutor` workers are not told: they
are re-parented and wait forever for work. `worker_pool` starts workers that watch their parent and exit as soon as
it is gone.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ProcessPoolExecutor


__all__ = ["exit_with_parent", "worker_pool"]


def exit_with_parent(parent_pid: int, interval: float = 0.5) -> None:
    """Start a daemon thread that ends this process when its parent ``parent_pid`` is no longer its parent.

    Used as the initializer of pool workers (see `worker_pool`).

    Args:
        parent_pid (`int`): the process id of the parent at start.
        interval (`float`, *optional*, defaults to 0.5): seconds between checks.
    """

    def watch() -> None:
        stop = threading.Event()
        while not stop.wait(interval):
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """A `ProcessPoolExecutor` of ``workers`` processes that exit when this process dies (even by ``SIGKILL``)."""
    return ProcessPoolExecutor(max_workers=workers, initializer=exit_with_parent, initargs=(os.getpid(),))
