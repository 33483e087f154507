"""Running the local Hub: uvicorn serving :func:`hubrl.server.web.create_app`, in the foreground (:func:`serve`,
``hubrl hub serve``) or in a background thread (:class:`LocalHub`, for tests, demos and notebooks).

The socket is bound before uvicorn starts, so a port in use is a one-line HubError and ``port=0`` reports the
port it got. uvicorn's own logging stays quiet (warnings only, no access log: headers, where tokens travel, are
never logged); ``verbose`` adds one line per request.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from pathlib import Path

import uvicorn

from hubrl.errors import HubError
from hubrl.server.app import HubApp
from hubrl.server.web import create_app

logger = logging.getLogger("hubrl.server")

DEFAULT_MAX_BODY_BYTES = 1 << 30


def default_data_dir() -> Path:
    """``$HUBRL_HUB_DATA``, else ``$XDG_CACHE_HOME/hubrl/hub``, else ``~/.cache/hubrl/hub``."""
    if os.environ.get("HUBRL_HUB_DATA"):
        return Path(os.environ["HUBRL_HUB_DATA"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "hubrl" / "hub"


class _Running:
    """One started server: the data directory opened, the socket bound, uvicorn configured."""

    def __init__(self, host: str, port: int, data_dir: str | Path, page_size: int, max_body_bytes: int,
                 verbose: bool = False):
        self.app = HubApp(data_dir, page_size=page_size)  # locks the data directory (HubError if in use)
        try:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            self.sock = socket.socket(family, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind((host, port))
            self.sock.listen(1024)
        except OSError as err:
            self.sock.close()
            self.app.close()
            raise HubError(
                f"Cannot listen on {host}:{port} ({err.strerror or err}): choose another host or port."
            ) from None
        self.port = self.sock.getsockname()[1]
        self.display_host = f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"
        asgi = create_app(self.app, max_body_bytes=max_body_bytes, display_host=lambda: self.display_host)
        config = uvicorn.Config(
            asgi,
            http="h11",
            lifespan="on",
            log_level="info" if verbose else "warning",
            access_log=verbose,
            timeout_keep_alive=5,
            timeout_graceful_shutdown=5,
            server_header=False,
        )
        self.server = uvicorn.Server(config)

    def run(self) -> None:
        try:
            self.server.run(sockets=[self.sock])
        finally:
            self.sock.close()

    def close(self) -> None:
        self.sock.close()
        self.app.close()


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
        self._running: _Running | None = None
        self._thread: threading.Thread | None = None

    @property
    def app(self) -> HubApp:
        if self._running is None:
            raise RuntimeError("LocalHub is not started: call start() first.")
        return self._running.app

    def start(self) -> LocalHub:
        if self._running is not None:
            return self
        running = _Running(self.host, self.port, self.data_dir, self.page_size, self.max_body_bytes)
        self._thread = threading.Thread(target=running.run, name="hubrl-hub", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not running.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                running.close()
                raise HubError("The local Hub server did not start (see the log above).")
            time.sleep(0.01)
        self._running = running
        self.port = running.port
        self.endpoint = f"http://{running.display_host}"
        return self

    def stop(self) -> None:
        if self._running is None:
            return
        self._running.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
        self._running.close()
        self._running = self._thread = None

    def create_token(self, user: str) -> str:
        """A new write token for ``user`` (created if needed); see :func:`hubrl.server.create_token`."""
        if self._running is not None:
            return self._running.app.tokens.create_token(user)
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
    """Serve the Hub in the foreground until interrupted (Ctrl-C or SIGTERM). ``port=0`` picks a free port.

    Prints ``Hub listening on http://HOST:PORT`` once the socket accepts connections.
    """
    data_dir = data_dir if data_dir is not None else default_data_dir()
    running = _Running(host, port, data_dir, page_size, max_body_bytes, verbose)
    print(f"Hub listening on http://{running.display_host}", flush=True)
    try:
        running.run()
    except KeyboardInterrupt:
        pass
    finally:
        running.close()
