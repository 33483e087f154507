"""Replacing a folder as a whole: a reader sees the old one or the new one, never a mix.

Run folders and training checkpoints are both written in full beside their target first, then swapped in by
:func:`replace_folder`: rename the target aside, rename the new folder into place, delete the old one. A crash
between the two renames leaves the previous folder under :func:`swapped_out` ``(target)``, where
:func:`readable_folder` finds it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from hubrl.errors import OutputExistsError


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
