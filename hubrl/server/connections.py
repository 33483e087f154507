"""Connections that cannot pile up: a deadline for every request head and a cap on connections waiting for one;
a refused upload still hears its answer.

uvicorn has no header timeout: a connection that sends half a request line, or stops after an early answer while
its body trickles in, stays open for good, and 1100 of them exhaust a 1024-descriptor server. :func:`guarded_h11`
extends uvicorn's h11 protocol with the smallest guard that closes that hole: a connection is *waiting* from its
opening, and again from each answer, until the next request head is complete; a waiting connection is closed after
``header_timeout`` seconds, and past ``max_waiting`` waiting connections the one waiting longest is closed. A
client that sends its request at once is never waiting long, so a flood of idle sockets costs the server a bounded
number of descriptors and nothing else. Request bodies have their own deadline (:func:`hubrl.server.web.body_pieces`).

An answer given before the body was read (401/403 before a byte of an upload is taken, a quota or size refusal
part-way) leaves the rest of the body coming: the client (httpx, under huggingface_hub) sends its whole body before
it reads any answer, and a connection closed under it shows as a reset, not as the refusal. So such a connection is
*draining*: the rest of its body is read and dropped while it keeps arriving at ``drain_rate`` bytes a second on
average (after a ``header_timeout`` grace), up to ``drain_bytes``; then it is closed. A draining connection counts
as waiting (the cap applies), so a trickle after an early answer costs no more than an idle socket.

:func:`raise_descriptor_limit` lifts the process's soft descriptor limit to its hard limit at start.
"""

from __future__ import annotations

import asyncio
import resource
from dataclasses import dataclass
from typing import Any

import h11
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


@dataclass
class _Drain:
    """A connection answered before its body was all read: since when, and how much of the rest arrived."""

    since: float
    received: int = 0


class _Waiting:
    """The waiting connections of one server (oldest first), their deadlines, and which of them are draining a
    refused body; used on the event loop only."""

    def __init__(self, header_timeout: float, max_waiting: int, drain_bytes: int, drain_rate: float):
        self.header_timeout, self.max_waiting = header_timeout, max_waiting
        self.drain_bytes, self.drain_rate = drain_bytes, drain_rate
        self.timers: dict[H11Protocol, asyncio.TimerHandle] = {}
        self.draining: dict[H11Protocol, _Drain] = {}

    def start(self, conn: H11Protocol, *, drain: bool = False) -> None:
        self.stop(conn)
        loop = asyncio.get_running_loop()
        if drain:
            self.draining[conn] = _Drain(since=loop.time())
        self.timers[conn] = loop.call_later(self.header_timeout, self._expire, conn)
        while len(self.timers) > self.max_waiting:
            oldest = next(iter(self.timers))
            self.stop(oldest)
            _close(oldest)

    def stop(self, conn: H11Protocol) -> None:
        timer = self.timers.pop(conn, None)
        if timer is not None:
            timer.cancel()
        self.draining.pop(conn, None)

    def drained(self, conn: H11Protocol, size: int) -> None:
        """``size`` more bytes arrived on ``conn``: past ``drain_bytes`` of a refused body, close it."""
        drain = self.draining.get(conn)
        if drain is not None:
            drain.received += size
            if drain.received > self.drain_bytes:
                self.stop(conn)
                _close(conn)

    def _expire(self, conn: H11Protocol) -> None:
        """A waiting connection's deadline: close it, unless it is draining a body that keeps its pace."""
        drain = self.draining.get(conn)
        if drain is not None:
            loop = asyncio.get_running_loop()
            allowed = drain.since + self.header_timeout + drain.received / self.drain_rate
            if loop.time() < allowed:
                self.timers[conn] = loop.call_at(allowed, self._expire, conn)
                return
        self.stop(conn)
        _close(conn)


def _close(conn: H11Protocol) -> None:
    if conn.transport is not None and not conn.transport.is_closing():
        conn.transport.close()


def guarded_h11(header_timeout: float, max_waiting: int, *, drain_bytes: int = 1 << 30,
                drain_rate: float = 64 << 10) -> type[H11Protocol]:
    """uvicorn's h11 protocol with :mod:`this module <hubrl.server.connections>`'s guard, for one server."""
    waiting = _Waiting(header_timeout, max_waiting, drain_bytes, drain_rate)

    class GuardedH11Protocol(H11Protocol):
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            waiting.start(self)

        def connection_lost(self, exc: Exception | None) -> None:
            waiting.stop(self)
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            waiting.drained(self, len(data))
            super().data_received(data)

        def handle_events(self) -> None:
            cycle = self.cycle
            super().handle_events()
            if self.cycle is not cycle:  # a request head arrived
                waiting.stop(self)
            elif self in waiting.draining and self.conn.their_state is not h11.SEND_BODY:
                waiting.start(self)  # the refused body is all in: wait for the next request head

        def on_response_complete(self) -> None:
            # before the base class starts a pipelined request, which stops it again
            waiting.start(self, drain=self.conn.their_state is h11.SEND_BODY)
            super().on_response_complete()

    return GuardedH11Protocol
