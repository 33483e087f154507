"""Connections that cannot pile up: a deadline for every request head and a cap on connections waiting for one.

uvicorn has no header timeout: a connection that sends half a request line, or stops after an early answer while
its body trickles in, stays open for good, and 1100 of them exhaust a 1024-descriptor server. :func:`guarded_h11`
extends uvicorn's h11 protocol with the smallest guard that closes that hole: a connection is *waiting* from its
opening, and again from each answer, until the next request head is complete; a waiting connection is closed after
``header_timeout`` seconds, and past ``max_waiting`` waiting connections the one waiting longest is closed. A
client that sends its request at once is never waiting long, so a flood of idle sockets costs the server a bounded
number of descriptors and nothing else. Request bodies have their own deadline (:func:`hubrl.server.web.body_pieces`).

:func:`raise_descriptor_limit` lifts the process's soft descriptor limit to its hard limit at start.
"""

from __future__ import annotations

import asyncio
import resource
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

_MAX_WAITING = 4096


def raise_descriptor_limit() -> int:
    """Lift the soft limit on open files to the hard limit (where allowed); returns the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):  # e.g. macOS refuses an unlimited hard limit: keep the soft one
            pass
    return soft


def default_max_waiting() -> int:
    """A quarter of the descriptor limit (the rest stays for requests in progress and their files), at most 4096."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(16, min(_MAX_WAITING, soft // 4)) if soft != resource.RLIM_INFINITY else _MAX_WAITING


class _Waiting:
    """The waiting connections of one server (oldest first) and their deadlines; used on the event loop only."""

    def __init__(self, header_timeout: float, max_waiting: int):
        self.header_timeout, self.max_waiting = header_timeout, max_waiting
        self.timers: dict[H11Protocol, asyncio.TimerHandle] = {}

    def start(self, conn: H11Protocol) -> None:
        self.stop(conn)
        self.timers[conn] = asyncio.get_running_loop().call_later(self.header_timeout, _close, conn)
        while len(self.timers) > self.max_waiting:
            oldest = next(iter(self.timers))
            self.stop(oldest)
            _close(oldest)

    def stop(self, conn: H11Protocol) -> None:
        timer = self.timers.pop(conn, None)
        if timer is not None:
            timer.cancel()


def _close(conn: H11Protocol) -> None:
    if conn.transport is not None and not conn.transport.is_closing():
        conn.transport.close()


def guarded_h11(header_timeout: float, max_waiting: int) -> type[H11Protocol]:
    """uvicorn's h11 protocol with :mod:`this module <hubrl.server.connections>`'s guard, for one server."""
    waiting = _Waiting(header_timeout, max_waiting)

    class GuardedH11Protocol(H11Protocol):
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            waiting.start(self)

        def connection_lost(self, exc: Exception | None) -> None:
            waiting.stop(self)
            super().connection_lost(exc)

        def handle_events(self) -> None:
            cycle = self.cycle
            super().handle_events()
            if self.cycle is not cycle:  # a request head arrived
                waiting.stop(self)

        def on_response_complete(self) -> None:
            waiting.start(self)  # before the base class starts a pipelined request, which stops it again
            super().on_response_complete()

    return GuardedH11Protocol
