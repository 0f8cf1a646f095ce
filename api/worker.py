"""The embedded job worker: a process that claims jobs from the database and runs them.

`carematch serve` starts `settings.workers` of these beside the web server (`python -m
api.worker --parent PID`). Each is an ordinary, non-daemonic process, so the engine may
fork its searches in it; a heartbeat thread keeps the worker's row in
`worker_heartbeats` fresh (for `/readyz`), renews the lease of the job it runs, and
cancels that job when its package is withdrawn. On SIGTERM the running job is
stopped and handed back to the queue; if the worker is killed outright, its lease
lapses and another worker (or this one after a restart) takes the job over. A worker
whose parent died exits on its own.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import logging
import os
import signal
import socket
import threading
import time
from dataclasses import replace

from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from api import jobs, models
from api.db import make_engine, make_sessionmaker, transaction
from api.security import new_id
from api.settings import Settings, get_settings

log = logging.getLogger(__name__)


class Worker:
    """One job worker (a process's main loop, or a thread in tests)."""

    def __init__(self, settings: Settings, *, parent_pid: int | None = None) -> None:
        self.settings = settings
        self.engine = make_engine(settings.database_url)
        self.factory: sessionmaker[Session] = make_sessionmaker(self.engine)
        self.id = new_id("wrk")
        self.parent_pid = parent_pid
        self.stopping = threading.Event()
        self.context = jobs.JobContext(self.factory, settings)
        self._cancel: threading.Event | None = None  # the running job's
        # Re-entrant: `stop` runs in the SIGTERM handler, on the main thread, which
        # may be holding it at that moment.
        self._lock = threading.RLock()

    def stop(self) -> None:
        """Stop after handing the running job (if any) back to the queue."""
        self.stopping.set()
        with self._lock:
            if self._cancel is not None:
                self._cancel.set()

    def run(self) -> None:
        heart = threading.Thread(target=self._heartbeat, name="heartbeat", daemon=True)
        heart.start()
        log.info("job worker %s started (pid %d)", self.id, os.getpid())
        try:
            while not self.stopping.is_set():
                try:
                    claimed = jobs.claim_next(self.factory, self.settings)
                except Exception:  # the database may be away for a while
                    log.exception("claiming a job failed")
                    self.stopping.wait(1.0)
                    continue
                if claimed is None:
                    self.stopping.wait(self.settings.poll_interval_s)
                    continue
                self._run(*claimed)
        finally:
            self.stopping.set()
            heart.join(timeout=5)
            forget(self.factory, self.id)
            self.context.cache.close()
            self.engine.dispose()

    def _run(self, job_id: str, token: str) -> None:
        # Each job has its own cancel flag: cancelling one must not reach the next.
        cancel = threading.Event()
        with self._lock:
            self._cancel = cancel
        if self.stopping.is_set():
            cancel.set()
        try:
            status = jobs.run_claimed(replace(self.context, cancel=cancel), job_id, token)
            log.info("job %s: %s", job_id, status)
        finally:
            with self._lock:
                self._cancel = None

    def _heartbeat(self) -> None:
        while True:
            stopping = self.stopping.wait(self.settings.heartbeat_s)
            # Looked at even while stopping: a parent that died (its SIGTERM is what
            # set `stopping`) must not wait on a main thread stuck in a database call.
            if self.parent_pid is not None and os.getppid() != self.parent_pid:
                log.warning("parent %d is gone; worker %s exits", self.parent_pid, self.id)
                os._exit(0)  # the lease lapses and the job is taken over
            if stopping:
                return
            try:
                beat(self.factory, self.id)
            except Exception:
                log.exception("heartbeat failed")


def beat(factory: sessionmaker[Session], worker_id: str) -> None:
    """Say that this worker lives (`worker_heartbeats`, counted by `/readyz`)."""
    now = time.time()
    with transaction(factory) as session:
        row = session.get(models.WorkerHeartbeat, worker_id)
        if row is None:
            session.add(
                models.WorkerHeartbeat(
                    id=worker_id, pid=os.getpid(), hostname=socket.gethostname(), last_seen=now
                )
            )
        else:
            row.last_seen = now


def forget(factory: sessionmaker[Session], worker_id: str) -> None:
    """Remove a stopping worker's heartbeat row."""
    try:
        with transaction(factory) as session:
            session.execute(
                delete(models.WorkerHeartbeat).where(models.WorkerHeartbeat.id == worker_id)
            )
    except Exception:
        log.warning("could not remove heartbeat row of %s", worker_id)


PR_SET_PDEATHSIG = 1


def _end_with_parent() -> None:
    """Linux: have the kernel send this process SIGTERM when its parent ends (a worker
    when `serve` is killed outright; a matching process when its worker is), so that
    nothing is left behind waiting for work that will never come."""
    # Not Linux: no prctl; the heartbeat's parent check remains.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _forked_child() -> None:
    """In a process forked from the worker (the matcher's processes): the worker's
    SIGTERM and SIGINT handlers are the worker's, not this process's; ending with the
    worker is what it should do."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    _end_with_parent()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A carematch job worker.")
    parser.add_argument("--parent", type=int, default=None, help="Exit when this pid is gone.")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("CAREMATCH_LOG_LEVEL", "INFO"),
        format="%(asctime)s worker[%(process)d] %(levelname)s %(name)s: %(message)s",
    )
    worker = Worker(get_settings(), parent_pid=args.parent)
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    signal.signal(signal.SIGINT, lambda *_: worker.stop())
    if args.parent is not None:
        _end_with_parent()
        if os.getppid() != args.parent:  # the parent ended before we asked
            return
    os.register_at_fork(after_in_child=_forked_child)
    worker.run()


if __name__ == "__main__":
    main()
