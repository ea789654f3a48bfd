"""Every session's deadlines in one heap, with lazy invalidation.

One :class:`Deadlines` per server holds the next deadline of every session
and timer kind.  Idle sessions cost one heap entry each and nothing else:
no thread, task or timer per session.  The glue sleeps until
:meth:`Deadlines.next_deadline` (or until woken because it moved earlier) and
then lets the server expire what is due.

Why lazy: a heartbeat deadline moves on every PONG.  Removing and
re-inserting heap entries costs O(n) (or a tombstone per move); here moving
a deadline *later* only rewrites ``owner.timer_due[kind]``, and the one heap
entry is re-pushed at the new time when it surfaces.  Moving it *earlier*
pushes a second entry; the old one is recognised as stale when it surfaces
because it no longer matches ``owner.timer_queued[kind]``.  So there are at
most two entries per owner and kind, usually one.

Owners are any objects with two lists, ``timer_due`` and ``timer_queued``,
indexed by kind (:class:`engineio._sansio.session.Session`).
"""
from __future__ import annotations

from heapq import heappop, heappush
from typing import Any, List, Optional, Tuple

__all__ = ['Deadlines']


class Deadlines:
    """A min-heap of ``(when, sequence, owner, kind)`` entries.

    Times are floats on any monotonic clock the glue chooses (the core never
    reads a clock).  Not thread-safe: callers serialise access (the sync glue
    holds the server lock).
    """

    __slots__ = ('_heap', '_sequence', 'pushes')

    def __init__(self) -> None:
        self._heap: List[Tuple[float, int, Any, int]] = []
        # breaks ties so that owners are never compared
        self._sequence = 0
        #: how many times :meth:`set` pushed an entry: the only way the
        #: earliest deadline can move earlier.  A glue that remembers it can
        #: skip :meth:`next_deadline` after the (many) calls that did not
        #: change it.
        self.pushes = 0

    def __len__(self) -> int:
        """Heap entries, stale ones included (for tests and monitoring)."""
        return len(self._heap)

    def set(self, owner: Any, kind: int, when: float) -> None:
        """Make ``owner``'s ``kind`` deadline ``when`` (replacing any)."""
        owner.timer_due[kind] = when
        queued = owner.timer_queued[kind]
        if queued is None or when < queued:
            self.pushes += 1
            self._sequence += 1
            owner.timer_queued[kind] = when
            heappush(self._heap, (when, self._sequence, owner, kind))

    def cancel(self, owner: Any, kind: int) -> None:
        """Drop ``owner``'s ``kind`` deadline, if any (its heap entry is
        discarded when it surfaces)."""
        owner.timer_due[kind] = None

    def _settle(self) -> Optional[Tuple[float, int, Any, int]]:
        # Pop stale entries and re-push postponed ones until the top entry
        # is a live deadline; return it (without popping) or None.
        heap = self._heap
        while heap:
            entry = heap[0]
            when, _, owner, kind = entry
            if owner.timer_queued[kind] != when:
                heappop(heap)  # superseded by an earlier entry
                continue
            due = owner.timer_due[kind]
            if due is None:
                heappop(heap)  # cancelled
                owner.timer_queued[kind] = None
                continue
            if due > when:
                heappop(heap)  # postponed: queue it at its real time
                self._sequence += 1
                owner.timer_queued[kind] = due
                heappush(heap, (due, self._sequence, owner, kind))
                continue
            return entry
        return None

    def next_deadline(self) -> Optional[float]:
        """The earliest live deadline, or None when there is none."""
        entry = self._settle()
        return None if entry is None else entry[0]

    def pop_expired(self, now: float) -> List[Tuple[Any, int]]:
        """Remove and return ``(owner, kind)`` for every deadline ``<= now``,
        earliest first.  Each expires once: it is cleared before returning."""
        expired: List[Tuple[Any, int]] = []
        heap = self._heap
        while True:
            entry = self._settle()
            if entry is None or entry[0] > now:
                return expired
            heappop(heap)
            owner, kind = entry[2], entry[3]
            owner.timer_queued[kind] = None
            owner.timer_due[kind] = None
            expired.append((owner, kind))
