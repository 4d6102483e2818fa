"""How a process knows whether the data changed: the change marker, read at most once per
interval, and learnt at once from this process's own writes."""

from __future__ import annotations

import threading
import time

from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from portal.db import read_change_version


class ChangeTracker:
    """The newest change-marker version this process knows of.

    Writes made through this process's unit of work report their version at commit, so a
    page cached here never outlives a change made here. Changes made by other processes are
    seen within `interval` seconds, the one query this costs being shared by every request
    in that interval.
    """

    def __init__(self, sessions: sessionmaker[Session], interval: float) -> None:
        self._sessions = sessions
        self._interval = interval
        self._version = -1
        self._checked = float("-inf")
        self._lock = threading.Lock()
        self._refreshing = False

    def local_write(self, version: int) -> None:
        with self._lock:
            self._version = max(self._version, version)

    def _read(self) -> int:
        with self._sessions() as session:
            version = read_change_version(session)
        with self._lock:
            self._version = max(self._version, version)
            self._checked = time.monotonic()
            return self._version

    async def current(self) -> int:
        if time.monotonic() - self._checked < self._interval:
            return self._version
        if self._refreshing and self._version >= 0:
            # Another request of this process is already asking; its answer is moments away
            # and this one may use what we knew a moment ago.
            return self._version
        self._refreshing = True
        try:
            return await run_in_threadpool(self._read)
        finally:
            self._refreshing = False
