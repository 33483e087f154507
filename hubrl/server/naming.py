"""Validation of every name that reaches the disk or a lookup: user names, repo ids, file paths, revisions.

Nothing here touches the filesystem. File paths are never used to build disk paths at all (files are stored
as content-addressed blobs), but they are still validated strictly so that a repository can always be checked
out safely by a git client or unpacked by ``snapshot_download``.
"""

from __future__ import annotations

import re

from hubrl.server.errors import InvalidRequest, RevisionNotFound

MAX_NAME_LEN = 96
MAX_PATH_BYTES = 1024
MAX_SEGMENT_BYTES = 255
MAX_REVISION_LEN = 255

RESERVED_NAMESPACES = frozenset({"leaderboard", "progress", "api", "models", "datasets", "spaces", "settings"})
"""First URL segments the Hub's own pages and API use: no user or repository namespace may take them."""

_NAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?", re.ASCII)
COMMIT_ID_RE = re.compile(r"[0-9a-f]{40}", re.ASCII)
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def check_name(name: object, what: str = "name") -> str:
    """A user name, namespace or repo name: ASCII letters, digits, ``-``, ``_``, ``.``; 1-96 characters;
    starts and ends with a letter or digit; no ``--`` or ``..``; does not end with ``.git``."""
    if (
        not isinstance(name, str)
        or len(name) > MAX_NAME_LEN
        or not _NAME_RE.fullmatch(name)
        or "--" in name
        or ".." in name
        or name.lower().endswith(".git")
    ):
        raise InvalidRequest(
            f"Invalid {what} {name!r}: use 1-{MAX_NAME_LEN} ASCII letters, digits, '-', '_' or '.', starting and "
            "ending with a letter or digit, without '--' or '..'."
        )
    return name


def check_namespace(name: object, what: str = "namespace") -> str:
    """A name that may own repositories: a valid :func:`check_name` outside :data:`RESERVED_NAMESPACES`."""
    check_name(name, what)
    if name.lower() in RESERVED_NAMESPACES:  # type: ignore[union-attr]
        raise InvalidRequest(
            f"The {what} {name!r} is reserved for the Hub's own pages ({', '.join(sorted(RESERVED_NAMESPACES))}): "
            "choose another one."
        )
    return name  # type: ignore[return-value]


def check_repo_id(repo_id: object) -> tuple[str, str]:
    """Split and validate ``namespace/name``; returns ``(namespace, name)``."""
    if not isinstance(repo_id, str) or repo_id.count("/") != 1:
        raise InvalidRequest(f"Invalid repo id {repo_id!r}: expected 'namespace/name'.")
    namespace, name = repo_id.split("/")
    return check_name(namespace, "namespace"), check_name(name, "repo name")


def check_path(path: object) -> str:
    """A file path inside a repository: relative, '/'-separated, no empty, '.' or '..' segments, no backslash,
    no control characters (NUL included), no ``.git`` folder, at most 1024 bytes. Returned unchanged."""
    if not isinstance(path, str) or not path:
        raise InvalidRequest("Invalid path: expected a non-empty string.")
    try:
        encoded = path.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequest("Invalid path: not valid UTF-8.") from None
    shown = path.encode("unicode_escape").decode("ascii")[:200]
    if len(encoded) > MAX_PATH_BYTES:
        raise InvalidRequest(f"Invalid path '{shown}': longer than {MAX_PATH_BYTES} bytes.")
    if path.startswith("/"):
        raise InvalidRequest(f"Invalid path '{shown}': absolute paths are not allowed.")
    if "\\" in path:
        raise InvalidRequest(f"Invalid path '{shown}': backslashes are not allowed (use '/').")
    if _CONTROL_RE.search(path):
        raise InvalidRequest(f"Invalid path '{shown}': control characters (NUL included) are not allowed.")
    for segment in path.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidRequest(f"Invalid path '{shown}': empty, '.' and '..' segments are not allowed.")
        if segment.lower() == ".git":
            raise InvalidRequest(f"Invalid path '{shown}': the '.git' folder is reserved.")
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise InvalidRequest(f"Invalid path '{shown}': a path segment is longer than {MAX_SEGMENT_BYTES} bytes.")
    return path


def check_revision(revision: object) -> str:
    """A branch name or a 40-hex commit id; anything malformed is reported as an unknown revision."""
    if (
        not isinstance(revision, str)
        or not revision
        or len(revision) > MAX_REVISION_LEN
        or _CONTROL_RE.search(revision)
        or ".." in revision
    ):
        raise RevisionNotFound(f"Invalid rev id: {str(revision)[:80]!r}")
    return revision
