"""Pool workers exit when the command that started them is killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time


SCRIPT = """
import os, sys, time
from addressvlm.utils.processes import worker_pool
pool = worker_pool(2)
futures = [pool.submit(os.getpid) for _ in range(8)]
print(" ".join(str(p) for p in sorted({f.result() for f in futures})), flush=True)
time.sleep(60)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as handle:  # a zombie waiting for its (new) parent counts as gone
        return handle.read().split()[2] != "Z"


def test_workers_exit_when_the_parent_is_killed():
    process = subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, text=True)
    workers = [int(pid) for pid in process.stdout.readline().split()]
    assert workers and all(_alive(pid) for pid in workers)
    process.send_signal(signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers)
