"""Saving and resuming a training run: safetensors for tensors, JSON for the rest, never pickle.

A checkpoint folder holds ``state.safetensors`` (policy, value baseline, both optimizers' moment estimates, the best
weights so far, torch's random state) and ``state.json`` (config, counters, history, optimizer hyperparameters).
It is written beside its target and swapped in whole (:func:`hubrl.folders.replace_folder`), so an interrupted
save leaves the previous checkpoint readable. Resuming restores every bit that decides what comes next, so a
resumed run continues exactly as if never stopped. Torch is imported by the functions that need it, so asking
whether a checkpoint exists (``hubrl train --resume``, Ctrl-C) costs nothing.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubrl.errors import RunFolderError
from hubrl.folders import readable_folder, replace_folder

if TYPE_CHECKING:
    import torch

STATE_JSON = "state.json"
STATE_TENSORS = "state.safetensors"


def has_checkpoint(directory: Path) -> bool:
    """Whether ``directory`` (or the previous version an interrupted save left beside it) holds a checkpoint."""
    return readable_folder(Path(directory), STATE_JSON) is not None


def save_checkpoint(
    directory: Path,
    *,
    modules: dict[str, torch.nn.Module | None],
    optimizers: dict[str, Any],
    best: dict[str, torch.Tensor] | None,
    meta: dict[str, Any],
) -> None:
    """Write a checkpoint atomically: ``directory`` is replaced only once the new one is complete.

    Args:
        directory: the checkpoint folder.
        modules: state dicts to save by prefix (``None`` entries are skipped).
        optimizers: optimizers to save by prefix (``torch.optim`` state dicts):
            moment tensors in safetensors, param groups in JSON.
        best: the best weights so far, if any.
        meta: JSON-serialisable run state (config, counters, history).
    """
    import torch
    from safetensors.torch import save_file

    directory = Path(directory)
    new = directory.with_name(directory.name + ".new")
    shutil.rmtree(new, ignore_errors=True)
    new.mkdir(parents=True)
    tensors: dict[str, torch.Tensor] = {}
    for prefix, module in modules.items():
        if module is not None:
            tensors.update({f"{prefix}.{k}": v for k, v in module.state_dict().items()})
    param_groups = {}
    for prefix, optimizer in optimizers.items():
        if optimizer is None:
            continue
        state = optimizer.state_dict()
        for idx, slots in state["state"].items():
            for slot, value in slots.items():
                tensors[f"{prefix}.{idx}.{slot}"] = torch.as_tensor(value)
        param_groups[prefix] = state["param_groups"]
    if best is not None:
        tensors.update({f"best.{k}": v for k, v in best.items()})
    tensors["torch_rng"] = torch.get_rng_state()
    save_file({k: v.detach().contiguous().clone() for k, v in tensors.items()}, str(new / STATE_TENSORS))
    with open(new / STATE_JSON, "w") as f:
        json.dump({**meta, "param_groups": param_groups}, f)
        f.flush()
        os.fsync(f.fileno())
    replace_folder(new, directory, overwrite=True)


@dataclass
class Checkpoint:
    """A checkpoint read back: :meth:`restore` puts its tensors into freshly built modules and optimizers."""

    meta: dict[str, Any]
    tensors: dict[str, torch.Tensor]

    def part(self, prefix: str) -> dict[str, torch.Tensor]:
        return {k[len(prefix) + 1:]: v for k, v in self.tensors.items() if k.startswith(prefix + ".")}

    def restore(self, *, modules: dict[str, torch.nn.Module | None],
                optimizers: dict[str, Any]) -> dict[str, torch.Tensor] | None:
        """Load modules, optimizers and torch's random state; return the best weights saved, if any."""
        import torch

        for prefix, module in modules.items():
            if module is not None:
                module.load_state_dict(self.part(prefix))
        for prefix, optimizer in optimizers.items():
            if optimizer is None:
                continue
            state: dict[int, dict[str, torch.Tensor]] = {}
            for key, value in self.part(prefix).items():
                idx, slot = key.split(".", 1)
                state.setdefault(int(idx), {})[slot] = value
            optimizer.load_state_dict({"state": state, "param_groups": self.meta["param_groups"][prefix]})
        torch.set_rng_state(self.tensors["torch_rng"])
        return self.part("best") or None


def read_checkpoint(directory: Path) -> Checkpoint:
    """Read the checkpoint in ``directory`` (or the one an interrupted save left beside it).

    Raises:
        RunFolderError: there is no checkpoint, or it is corrupt.
    """
    from safetensors.torch import load_file

    found = readable_folder(Path(directory), STATE_JSON) or Path(directory)
    try:
        meta = json.loads((found / STATE_JSON).read_text())
        tensors = load_file(str(found / STATE_TENSORS))
    except (OSError, ValueError) as err:
        raise RunFolderError(f"cannot resume: checkpoint in {directory} is missing or corrupt ({err})") from err
    return Checkpoint(meta=meta, tensors=tensors)
