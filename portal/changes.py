"""How a process knows whether the data changed: the change marker, read at most once per
interval, and learnt at once from this process's own writes; and which events' seats this
process changed, and when."""

from __future__ import annotations

import threading
import time

from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from portal.db import Change, read_change_version


class ChangeTracker:
    """The newest change-marker version this process knows of.

    Writes made through this process's unit of work report their version at commit, so a
    page cached here never outlives a change made here. Changes made by other processes are
    seen within `interval` seconds, the one query this costs being shared by every request
    in that interval.

    A registration does not move the marker (db.transaction): it reports the events whose
    seats it changed, and each gets the next number of a counter (`seats_epoch`), so a page
    kept with an event's seat count knows whether this process changed them since. Another
    process's registrations are not seen here: a page showing seats is kept for at most
    `interval` (pagecache), the same delay as for any other change made elsewhere.
    """

    def __init__(self, sessions: sessionmaker[Session], interval: float) -> None:
        self._sessions = sessions
        self._interval = interval
        self._version = -1
        self._checked = float("-inf")
        self._lock = threading.Lock()
        self._refreshing = False
        self.seats_epoch = 0
        # event id -> the epoch of this process's last change to its seats. One int per event
        # this process ever registered someone for: bounded by the number of events.
        self._seats: dict[int, int] = {}

    @property
    def interval(self) -> float:
        return self._interval

    def local_write(self, change: Change) -> None:
        """A transaction of this process committed `change`."""
        with self._lock:
            if change.version is not None:
                self._version = max(self._version, change.version)
            if change.seats:
                self.seats_epoch += 1
                for event_id in change.seats:
                    self._seats[event_id] = self.seats_epoch

    def seats_changed_at(self, event_id: int) -> int:
        """The epoch of this process's last change to the event's seats (0: none)."""
        return self._seats.get(event_id, 0)

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
