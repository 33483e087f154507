"""Writing files and folders whole: a reader sees the old version or the new one, never a mix.

:func:`write_atomic` writes one file beside its target and renames it into place (mode 0644, whatever the umask
of a temporary file would give).

Run folders and training checkpoints are both written in full beside their target first, then swapped in by
:func:`replace_folder`: rename the target aside, rename the new folder into place, delete the old one. A crash
between the two renames leaves the previous folder under :func:`swapped_out` ``(target)``, where
:func:`readable_folder` finds it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from hubrl.errors import OutputExistsError


FILE_MODE = 0o644
"""Every file hubrl writes for others to read (run folders, replays) has this mode."""


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` through a temporary file beside it and one rename.

    A crash leaves the previous file or none, plus at most a hidden ``.NAME.*.tmp`` beside it.
    """
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def swapped_out(target: Path) -> Path:
    """Where :func:`replace_folder` keeps ``target``'s previous version while the new one moves in."""
    return target.with_name(f".{target.name}.old")


def replace_folder(new: Path, target: Path, *, overwrite: bool) -> None:
    """Move the complete folder ``new`` to ``target``; an existing target is swapped out, then deleted.

    Raises:
        OutputExistsError: ``target`` exists and ``overwrite`` is false (nothing is moved then).
    """
    new, target = Path(new), Path(target)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        new.rename(target)
        return
    if not overwrite:
        raise OutputExistsError(f"{target} already exists; pass --overwrite to replace it")
    old = swapped_out(target)
    shutil.rmtree(old, ignore_errors=True)
    target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def readable_folder(target: Path, marker: str) -> Path | None:
    """``target`` if it holds ``marker``, else its swapped-out previous version if that does, else None."""
    for candidate in (Path(target), swapped_out(Path(target))):
        if (candidate / marker).is_file():
            return candidate
    return None
