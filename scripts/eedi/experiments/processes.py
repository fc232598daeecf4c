"""A queue's hold on its plan and on the processes it starts.

    with plan_lock(queue_dir / "queue.lock"):      # refuses at once if another queue holds it
        ...                                        # the lock dies with this process
    stop_tree(psutil.Process(), grace_s=10)        # TERM every descendant, KILL what is left
    die_with_parent()                              # this process gets SIGTERM if make dies

A night's queue is `make` -> run_queue.py -> GNU parallel -> run_row.py -> make -> a training.
GNU parallel puts each job in a process group of its own, so no single kill reaches them all,
and Make does not pass a TERM on to its recipes: killed, it would leave the rows running. The
queue therefore owns its tree: on TERM, INT or HUP it stops every descendant (they leave
nothing that looks finished: Make deletes a half-made target, a row writes its record only
when its make ends), and it dies with the make that started it.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import signal
import socket
import time
from pathlib import Path

import psutil

PR_SET_PDEATHSIG = 1  # linux/prctl.h


class QueueRunning(Exception):
    """Another process holds the plan's lock; str() names it."""


@contextlib.contextmanager
def plan_lock(path: Path):
    """Hold an exclusive flock on `path` for the block, its holder (pid, host, start) written
    in it. Another holder: QueueRunning at once, naming it. The kernel drops the lock when the
    holder exits, however it exits (kill -9 included): no stale lock to clean up."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "a process that wrote nothing"
            raise QueueRunning(f"{path.parent.name} is running already ({holder}): wait for it, "
                               f"or stop it with kill -TERM <pid>; the next run resumes") from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} on {socket.gethostname()} since "
                f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def stop_tree(root: psutil.Process, grace_s: float = 10.0, include_root: bool = False) -> list[int]:
    """TERM every descendant of `root` (and root itself when include_root), wait up to
    grace_s for them to exit, KILL the rest. The tree is read once, before any signal, so a
    process whose parent dies first is still reached. Out: the pids signalled."""
    procs = root.children(recursive=True) + ([root] if include_root else [])
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs(procs, timeout=grace_s)
    for p in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(alive, timeout=grace_s)
    return [p.pid for p in procs]


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask Linux to send `sig` to this process when its parent exits (prctl PR_SET_PDEATHSIG);
    elsewhere, nothing."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)


def caught_signals(pid: int) -> int:
    """The signal mask a process catches (/proc/<pid>/status SigCgt); 0 where unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigCgt:"):
                return int(line.split()[1], 16)
    except OSError:
        pass
    return 0


def on_parent_fatal_signal(action, signals=(signal.SIGINT, signal.SIGHUP, signal.SIGTERM),
                           every_s: float = 0.5) -> None:
    """Call action() (from a daemon thread) when the parent stops catching one of `signals`.

    GNU Make passes only TERM on to its recipes; given INT or HUP (`kill -INT <make>`) it runs
    its fatal-signal handler, which resets that signal to its default and then waits for its
    children: the queue would run on, and Make with it. The reset shows in /proc (SigCgt), so
    the queue sees it and stops itself. Not Linux, or a parent that catches none of them:
    nothing is watched."""
    import threading
    parent = os.getppid()
    bits = sum(1 << (int(s) - 1) for s in signals)
    watched = caught_signals(parent) & bits
    if not watched:
        return

    def watch():
        while True:
            time.sleep(every_s)
            if caught_signals(parent) & watched != watched:
                action()
                return
    threading.Thread(target=watch, daemon=True, name="parent-signals").start()
