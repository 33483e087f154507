"""A real local Hub for tests, isolated from the user's huggingface_hub cache, token and home."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from huggingface_hub import constants

from hubrl.server import LocalHub


@contextlib.contextmanager
def isolated_hub(tmp: Path, users: tuple[str, ...], **server_options) -> Iterator[tuple[LocalHub, dict[str, str]]]:
    """A LocalHub serving from ``tmp / "hub"`` and a write token per user, with huggingface_hub's cache, token file
    and home moved under ``tmp`` (no stored login, no ``HF_TOKEN``) for as long as it runs."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(constants, "HF_HUB_CACHE", str(tmp / "hf_cache"))
        mp.setattr(constants, "HF_TOKEN_PATH", str(tmp / "no_token"))
        mp.delenv("HF_TOKEN", raising=False)
        mp.setenv("HF_HOME", str(tmp / "hf_home"))
        mp.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        with LocalHub(tmp / "hub", **server_options) as server:
            yield server, {user: server.create_token(user) for user in users}
