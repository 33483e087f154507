"""Running the local Hub: uvicorn serving :func:`hubrl.server.app.create_app`, in the foreground (:func:`serve`,
``hubrl hub serve``) or in a background thread (:class:`LocalHub`, for tests, demos and notebooks).

The socket is bound before uvicorn starts, so a port in use is a one-line HubError and ``port=0`` reports the
port it got. uvicorn's own logging stays quiet (warnings only, no access log: headers, where tokens travel, are
never logged); ``verbose`` adds one line per request. With ``certfile`` and ``keyfile`` it speaks HTTPS. At start
the descriptor soft limit is raised to the hard limit, and connections are guarded (see
:mod:`hubrl.server.connections`).
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from hubrl.errors import HubError
from hubrl.server.app import create_app
from hubrl.server.connections import default_max_waiting, guarded_h11, raise_descriptor_limit
from hubrl.server.errors import DataDirInUse
from hubrl.server.quotas import Quotas
from hubrl.server.state import DEFAULT_MAX_BODY_BYTES, ConnectionLimits, ServerState
from hubrl.server.verifier import VerifierOptions
from hubrl.server.storage import Collected, Storage, Usage

logger = logging.getLogger("hubrl.server")


def default_data_dir() -> Path:
    """``$HUBRL_HUB_DATA``, else ``$XDG_CACHE_HOME/hubrl/hub``, else ``~/.cache/hubrl/hub``."""
    if os.environ.get("HUBRL_HUB_DATA"):
        return Path(os.environ["HUBRL_HUB_DATA"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "hubrl" / "hub"


class _Running:
    """One started server: the data directory opened, the socket bound, uvicorn configured."""

    def __init__(self, host: str, port: int, data_dir: str | Path, *, page_size: int, max_body_bytes: int,
                 limits: ConnectionLimits, quotas: Quotas | None, certfile: str | Path | None,
                 keyfile: str | Path | None, verbose: bool = False, verifier: VerifierOptions | None = None):
        if keyfile is not None and certfile is None:
            raise HubError("A key file without a certificate: pass the certificate too (--certfile).")
        raise_descriptor_limit()
        try:
            # locks the data directory
            self.state = ServerState(data_dir, page_size=page_size, max_body_bytes=max_body_bytes, limits=limits,
                                     quotas=quotas, verifier=verifier)
        except DataDirInUse as err:
            raise HubError(str(err)) from None
        try:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            self.sock = socket.socket(family, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind((host, port))
            self.sock.listen(1024)
        except OSError as err:
            self.sock.close()
            self.state.close()
            raise HubError(
                f"Cannot listen on {host}:{port} ({err.strerror or err}): choose another host or port."
            ) from None
        self.port = self.sock.getsockname()[1]
        scheme = "https" if certfile else "http"
        self.endpoint = f"{scheme}://[{host}]:{self.port}" if ":" in host else f"{scheme}://{host}:{self.port}"
        config = uvicorn.Config(
            create_app(self.state),
            http=guarded_h11(limits.header_timeout, limits.max_waiting_connections or default_max_waiting(),
                             drain_bytes=limits.drain_bytes, drain_rate=limits.drain_rate),
            lifespan="on",
            log_level="info" if verbose else "warning",
            access_log=verbose,
            timeout_keep_alive=5,
            timeout_graceful_shutdown=5,
            server_header=False,
            ssl_certfile=certfile,
            ssl_keyfile=keyfile,
        )
        try:
            config.load()  # reads the certificate and key now, so a bad one is a one-line error
        except (OSError, ssl.SSLError) as err:
            self.close()
            key = f" with the key {keyfile}" if keyfile else ""
            raise HubError(f"Cannot use the certificate {certfile}{key}: {err}") from None
        self.server = uvicorn.Server(config)

    def run(self) -> None:
        try:
            self.server.run(sockets=[self.sock])
        finally:
            self.sock.close()

    def close(self) -> None:
        self.sock.close()
        self.state.close()


class LocalHub:
    """A Hub-compatible server running in a background thread (for tests, demos and notebooks).

    Args:
        data_dir: the folder of its repositories and tokens (created if missing; one server per folder).
        host, port: where to listen (``port=0`` picks a free port; :attr:`endpoint` tells which).
        page_size: entries per page of the listings (models, trees, commits); the client follows ``Link`` headers.
        max_body_bytes: the largest request body (a commit carries its files base64-encoded, about 1.33x).
        limits: deadlines for request heads and bodies, and the cap on connections waiting for a request.
        quotas: what each user may keep (storage, repositories, files per repository); default
            :class:`~hubrl.server.quotas.Quotas`' class-sized defaults, ``Quotas.unlimited()`` for none.
        certfile, keyfile: a PEM certificate (chain) and its private key (unless certfile holds it), to speak HTTPS.
        verifier: check every pushed claim with the Hub's own verifier (:mod:`hubrl.server.verifier`) under these
            options; None (the default here, unlike :func:`serve`): no checks, pages show stored verdicts only.

    Raises:
        HubError: the data directory is in use by another server, the address cannot be bound, or the
            certificate cannot be used.

    Example:
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
        limits: ConnectionLimits | None = None,
        quotas: Quotas | None = None,
        certfile: str | Path | None = None,
        keyfile: str | Path | None = None,
        verifier: VerifierOptions | None = None,
    ):
        self.data_dir = Path(data_dir)
        self.verifier = verifier
        self.quotas = quotas
        self.host, self.port = host, port
        self.page_size, self.max_body_bytes = page_size, max_body_bytes
        self.limits = limits or ConnectionLimits()
        self.certfile, self.keyfile = certfile, keyfile
        self.endpoint = ""
        self._running: _Running | None = None
        self._thread: threading.Thread | None = None

    @property
    def state(self) -> ServerState:
        """The running server's storage and tokens."""
        if self._running is None:
            raise RuntimeError("LocalHub is not started: call start() first.")
        return self._running.state

    def start(self) -> LocalHub:
        if self._running is not None:
            return self
        running = _Running(self.host, self.port, self.data_dir, page_size=self.page_size,
                           max_body_bytes=self.max_body_bytes, limits=self.limits, quotas=self.quotas,
                           certfile=self.certfile, keyfile=self.keyfile, verifier=self.verifier)
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
        self.endpoint = running.endpoint
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
            return self._running.state.tokens.create_token(user)
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
    limits: ConnectionLimits | None = None,
    quotas: Quotas | None = None,
    certfile: str | Path | None = None,
    keyfile: str | Path | None = None,
    verbose: bool = False,
    verifier: VerifierOptions | None = VerifierOptions(),
) -> None:
    """Serve the Hub in the foreground until interrupted (Ctrl-C or SIGTERM).

    Prints ``Hub listening on http[s]://HOST:PORT`` once the socket accepts connections. The arguments are
    :class:`LocalHub`'s; ``verbose`` logs one line per request. The Hub's own
    verifier is on unless ``verifier`` is None or disabled.

    Raises:
        HubError: the data directory is in use, the address cannot be bound, or the certificate cannot be used.

    Example:
        >>> serve(host="0.0.0.0", port=8443, certfile="hub.pem", keyfile="hub.key")
    """
    data_dir = data_dir if data_dir is not None else default_data_dir()
    running = _Running(host, port, data_dir, page_size=page_size, max_body_bytes=max_body_bytes,
                       limits=limits or ConnectionLimits(), quotas=quotas, certfile=certfile, keyfile=keyfile,
                       verbose=verbose, verifier=verifier)
    print(f"Hub listening on {running.endpoint}", flush=True)
    try:
        running.run()
    except KeyboardInterrupt:
        pass
    finally:
        running.close()


@dataclass(frozen=True)
class GarbageReport:
    collected: Collected
    """What was removed."""
    usage: dict[str, Usage]
    """What each user's repositories keep afterwards."""


def collect_garbage(data_dir: str | Path) -> GarbageReport:
    """``hubrl hub gc``: remove what no commit reaches in a Hub data directory, beside a running server or not
    (with none running, also what an interrupted one left: staged uploads, half-deleted repositories).

    Raises:
        HubError: ``data_dir`` holds no local Hub.

    Example:
        >>> collect_garbage("~/class-hub").collected.bytes
    """
    data_dir = Path(data_dir).expanduser()
    if not (data_dir / "repos").is_dir():
        raise HubError(f"{data_dir} holds no local Hub data (no repos/ folder): pass the --data folder of hubrl hub serve.")
    try:
        Storage(data_dir).close()  # no server running: the start-up clean-up of what an interrupted one left
    except DataDirInUse:
        pass
    storage = Storage(data_dir, quotas=Quotas.unlimited(), exclusive=False)
    try:
        collected = storage.collect_garbage()
        users = sorted({meta.namespace for meta in storage.iter_repos()})
        return GarbageReport(collected=collected, usage={user: storage.usage(user) for user in users})
    finally:
        storage.close()
