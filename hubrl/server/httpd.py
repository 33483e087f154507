"""HTTP/1.1 plumbing of the local Hub on the standard library: request bodies in, responses out.

Every request body is read completely before routing (so early 401/404 answers never leave bytes on a kept-alive
connection), whether sent with ``Content-Length`` or chunked, and spooled to ``<data_dir>/tmp`` beyond 8 MiB.
Bodies above ``max_body_bytes`` are answered 413 and the connection is closed (up to 64 MiB of excess is read and
discarded first, so that a client still sending sees the answer). Every response carries ``Content-Length``.
Logging (logger ``hubrl.server``) is quiet by default: request lines at INFO, server bugs at ERROR; headers, where
tokens travel, are never logged.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from hubrl.errors import HubError
from hubrl.server.app import HubApp, Request, Response
from hubrl.server.errors import BadRequest, HubServerError, PayloadTooLarge

logger = logging.getLogger("hubrl.server")

DEFAULT_MAX_BODY_BYTES = 1 << 30
_SPOOL_BYTES = 8 << 20
_DRAIN_BYTES = 64 << 20
_HOST_RE = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?", re.ASCII)


def default_data_dir() -> Path:
    """``$HUBRL_HUB_DATA``, else ``$XDG_CACHE_HOME/hubrl/hub``, else ``~/.cache/hubrl/hub``."""
    if os.environ.get("HUBRL_HUB_DATA"):
        return Path(os.environ["HUBRL_HUB_DATA"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "hubrl" / "hub"


class _BodyError(Exception):
    """The request body cannot be read; answer ``error`` and close the connection."""

    def __init__(self, error: HubServerError):
        super().__init__(str(error))
        self.error = error


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hubrl-hub/1"
    timeout = 300  # seconds of silence before an idle kept-alive connection is dropped
    server: _Server

    def do_GET(self) -> None:
        self._serve()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        logger.info("%s %s", self.address_string(), format % args)

    # ------------------------------------------------------------ request
    def _serve(self) -> None:
        body = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES, dir=self.server.app.storage.tmp_dir)
        try:
            try:
                self._read_body(body)
            except _BodyError as err:
                self.close_connection = True
                self._send(Response.error(err.error), head=self.command == "HEAD")
                return
            body.seek(0)
            target = self.path
            if not target.startswith("/"):  # absolute-form request target
                parts = urlsplit(target)
                target = parts.path + (f"?{parts.query}" if parts.query else "")
            path, _, query = target.partition("?")
            request = Request(
                method=self.command,
                path=path,
                query=parse_qs(query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                base_url=self._base_url(),
                token=self._token(),
            )
            try:
                response = self.server.app.handle(request)
            except Exception:
                logger.exception("Internal error on %s %s", self.command, path[:200])
                response = Response.error(HubServerError("Internal server error.", status=500))
            self._send(response, head=self.command == "HEAD")
        finally:
            body.close()

    def _read_body(self, out) -> None:
        """Copy the request body to ``out``; raise _BodyError when it is malformed or too large (after reading
        up to ``_DRAIN_BYTES`` of the excess, so that a client still sending can read the 413 answer)."""
        limit = self.server.max_body_bytes
        too_large = _BodyError(PayloadTooLarge(f"Request body larger than the server's limit of {limit} bytes."))
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            total = 0
            while True:
                line = self.rfile.readline(1024)
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise _BodyError(BadRequest("Malformed chunked request body.")) from None
                if size == 0:
                    while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    if total > limit:
                        raise too_large
                    return
                total += size
                if total > limit + _DRAIN_BYTES:
                    raise too_large
                self._copy(size, out if total <= limit else None)
                self.rfile.readline(8)  # CRLF after the chunk
        length = self.headers.get("Content-Length")
        if length is None:
            return
        try:
            n = int(length)
            if n < 0:
                raise ValueError
        except ValueError:
            raise _BodyError(BadRequest("Invalid Content-Length header.")) from None
        if n > limit:
            if n <= limit + _DRAIN_BYTES:
                self._copy(n, None)
            raise too_large
        self._copy(n, out)

    def _copy(self, n: int, out) -> None:
        """Read ``n`` body bytes into ``out`` (or discard them when ``out`` is None)."""
        while n > 0:
            chunk = self.rfile.read(min(n, 1 << 20))
            if not chunk:
                raise _BodyError(BadRequest("The request body ended early."))
            if out is not None:
                out.write(chunk)
            n -= len(chunk)

    def _token(self) -> str | None:
        scheme, _, value = self.headers.get("Authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer":
            return None
        return value.strip() or None

    def _base_url(self) -> str:
        """Where the client reached us: URLs in answers must use that host or the client rejects them."""
        proto = self.headers.get("X-Forwarded-Proto", "http").lower()
        host = self.headers.get("Host", "")
        if not _HOST_RE.fullmatch(host):
            host = self.server.display_host
        return f"{proto if proto in ('http', 'https') else 'http'}://{host}"

    # ------------------------------------------------------------ response
    def _send(self, response: Response, *, head: bool) -> None:
        stream = response.stream
        try:
            streamed = stream is not None or not response.body
            length = response.length if streamed else len(response.body)
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(length))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if head:
                return
            if stream is None:
                self.wfile.write(response.body)
                return
            remaining = length
            while remaining > 0:
                chunk = stream.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                self.wfile.write(chunk)
                remaining -= len(chunk)
            if remaining:  # the stored blob is shorter than its recorded size: do not reuse the connection
                self.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            if stream is not None:
                stream.close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # never keep the interpreter alive; server_close() still joins them (block_on_close)

    def __init__(self, address: tuple[str, int], app: HubApp, max_body_bytes: int):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.app = app
        self.max_body_bytes = max_body_bytes
        self._connections: set[socket.socket] = set()
        self._connections_guard = threading.Lock()
        super().__init__(address, _Handler)
        host = address[0]
        self.display_host = f"[{host}]:{self.server_port}" if ":" in host else f"{host}:{self.server_port}"

    def process_request(self, request, client_address) -> None:
        with self._connections_guard:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self._connections_guard:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address) -> None:
        """A connection that broke outside a request (client gone, timeout): not worth a traceback on stderr."""
        logger.debug("Connection error from %s", client_address[0], exc_info=True)

    def close_connections(self) -> None:
        """Wake every handler thread blocked on a kept-alive connection so that it exits."""
        with self._connections_guard:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class LocalHub:
    """A Hub-compatible server running in a background thread (for tests, demos and notebooks).

    >>> with LocalHub(tmp_dir) as hub:
    ...     token = hub.create_token("alice")
    ...     HfApi(endpoint=hub.endpoint, token=token).create_repo("alice/demo")
    """

    def __init__(
        self,
        data_dir: str | Path,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        page_size: int = 1000,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ):
        self.data_dir = Path(data_dir)
        self.host, self.port = host, port
        self.page_size, self.max_body_bytes = page_size, max_body_bytes
        self.endpoint = ""
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def app(self) -> HubApp:
        if self._server is None:
            raise RuntimeError("LocalHub is not started: call start() first.")
        return self._server.app

    def start(self) -> LocalHub:
        if self._server is not None:
            return self
        self._server = _start_server(self.host, self.port, self.data_dir, self.page_size, self.max_body_bytes)
        self.port = self._server.server_port
        self.endpoint = f"http://{self._server.display_host}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="hubrl-hub", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        self._server.app.close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def create_token(self, user: str) -> str:
        """A new write token for ``user`` (created if needed); see :func:`hubrl.server.create_token`."""
        if self._server is not None:
            return self._server.app.tokens.create_token(user)
        from hubrl.server.auth import create_token

        return create_token(self.data_dir, user)

    def __enter__(self) -> LocalHub:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    data_dir: str | Path | None = None,
    page_size: int = 1000,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    verbose: bool = False,
) -> None:
    """Serve the Hub in the foreground until interrupted (Ctrl-C). ``port=0`` picks a free port.

    Prints ``Hub listening on http://HOST:PORT`` once ready. ``verbose`` logs one line per request (no headers).
    """
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
        logger.setLevel(logging.INFO)
    data_dir = data_dir if data_dir is not None else default_data_dir()
    server = _start_server(host, port, data_dir, page_size, max_body_bytes)
    print(f"Hub listening on http://{server.display_host}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close_connections()
        server.server_close()
        server.app.close()


def _start_server(host: str, port: int, data_dir: str | Path, page_size: int, max_body_bytes: int) -> _Server:
    """Open the data directory and bind the socket; HubError (one line, actionable) when either is taken."""
    app = HubApp(data_dir, page_size=page_size)
    try:
        return _Server((host, port), app, max_body_bytes)
    except OSError as err:
        app.close()
        raise HubError(
            f"Cannot listen on {host}:{port} ({err.strerror or err}): choose another host or port."
        ) from None
