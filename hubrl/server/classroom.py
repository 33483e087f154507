"""A classroom on the local Hub: one write token per student of a roster, and the lines each student sets.

The roster is a text file with one user name per line (blank lines and ``#`` comments ignored). Every name is
checked before any token is made, so a typo leaves nothing half-done. Tokens are returned once and only their
hashes are stored (see :mod:`hubrl.server.auth`); running it again gives everyone a new token and keeps the old
ones valid.
"""

from __future__ import annotations

from pathlib import Path

from hubrl.errors import ConfigError
from hubrl.server.auth import TokenStore
from hubrl.server.errors import InvalidRequest
from hubrl.server.naming import check_namespace


def read_roster(path: str | Path) -> list[str]:
    """The user names in a roster file, in order. ConfigError (naming the line) for an invalid or repeated one."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read the roster {path}: {err}") from err
    users: list[str] = []
    for number, line in enumerate(lines, start=1):
        name = line.split("#", 1)[0].strip()
        if not name:
            continue
        try:
            check_namespace(name, "user name")
        except InvalidRequest as err:
            raise ConfigError(f"{path}, line {number}: {err}") from None
        if name in users:
            raise ConfigError(f"{path}, line {number}: {name!r} is listed twice; keep one line per student")
        users.append(name)
    if not users:
        raise ConfigError(f"the roster {path} names no student: write one user name per line")
    return users


def create_class_tokens(data_dir: str | Path, roster: str | Path) -> dict[str, str]:
    """A new write token for every student of ``roster`` (users created as needed) -> ``{user: token}``.

    Args:
        data_dir: the local Hub's data folder (the server may be running).
        roster: a text file, one user name per line.

    Raises:
        ConfigError: the roster cannot be read, or names an invalid, reserved or repeated user.

    Example:
        >>> tokens = create_class_tokens("~/.cache/hubrl/hub", "class.txt")
        >>> print(student_lines("http://192.168.1.10:8080", tokens["alice"]))
    """
    users = read_roster(roster)
    store = TokenStore(Path(data_dir).expanduser())
    return {user: store.create_token(user) for user in users}


def student_lines(endpoint: str, token: str) -> str:
    """What a student sets before using hubrl or huggingface_hub: ``HF_ENDPOINT`` and ``HF_TOKEN``."""
    return f"export HF_ENDPOINT={endpoint.rstrip('/')}\nexport HF_TOKEN={token}"
