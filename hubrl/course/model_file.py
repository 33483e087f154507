"""A classmate's ``model.pt`` -> :class:`~hubrl.course.rebuild.RebuiltPolicy`, read in a bounded child process.

The file is someone else's pickle, so it is never opened here: :mod:`hubrl.course.reader` runs in a child process
(``python -I``, a scrubbed environment, no token) with limits on address space, CPU time, wall time and output size,
and hands back what it read as JSON plus a safetensors file. A crash (a 1,000,000-deep tuple overflows the C stack),
a hang (hashing a memo-shared tuple DAG) or a memory flood there is one line here, never a dead or stuck hubrl.

Limits come from :class:`~hubrl.course.reader.Limits`, overridable per call or by environment variables
(``HUBRL_COURSE_MEMORY_MB``, ``HUBRL_COURSE_CPU_S``, ``HUBRL_COURSE_WALL_S``, ``HUBRL_COURSE_MAX_MB``,
``HUBRL_COURSE_MAX_ELEMENTS``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

import hubrl.course.reader as reader
from hubrl.course.reader import Limits, printable
from hubrl.course.rebuild import ModuleNode, RebuiltPolicy, rebuild_policy, tree_from_state_dict
from hubrl.errors import AgentFormatError, UnsafePickleError

__all__ = ["Limits", "limits_from_env", "load_course_model", "read_model_file"]

CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "policy_state_dict", "policy", "model", "net")
"""Where checkpoint dicts (``{"state_dict": ..., "std_reward": ...}``) keep the policy, first match wins."""

_ENV = {"HUBRL_COURSE_MEMORY_MB": ("memory_bytes", 1 << 20), "HUBRL_COURSE_CPU_S": ("cpu_seconds", 1),
        "HUBRL_COURSE_WALL_S": ("wall_seconds", 1), "HUBRL_COURSE_MAX_MB": ("max_bytes", 1 << 20),
        "HUBRL_COURSE_MAX_ELEMENTS": ("max_elements", 1)}


def limits_from_env(base: Limits | None = None) -> Limits:
    """:class:`Limits` with the ``HUBRL_COURSE_*`` environment variables applied (positive numbers only)."""
    limits = base or Limits()
    for var, (name, unit) in _ENV.items():
        text = os.environ.get(var)
        if text is None:
            continue
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if not value > 0:
            raise AgentFormatError(f"{var}={text!r} is not a positive number; unset it or give e.g. {var}=100")
        limits = replace(limits, **{name: value if name == "wall_seconds" else int(value * unit)})
    return limits


def load_course_model(path: str | Path, *, display_name: str | None = None,
                      limits: Limits | None = None) -> RebuiltPolicy:
    """Read a course ``model.pt`` (whole module, state_dict or checkpoint dict) and rebuild it as hubrl's MLP.

    Args:
        path: the file.
        display_name: how messages name it (e.g. ``"alice/Reinforce-CartPole-v1/model.pt"``); default the path.
        limits: the child's limits (default: :class:`Limits` with the ``HUBRL_COURSE_*`` variables applied).

    Raises:
        UnsafePickleError: the file tries to call something a course model never contains (it may be malicious).
        AgentFormatError: anything else: not a torch file, cannot be rebuilt, or could not be read safely.
        FileNotFoundError: ``path`` does not exist.

    Example:
        >>> policy = load_course_model("model.pt")
        >>> policy.obs_dim, policy.n_actions, policy.hidden_sizes
        (4, 2, (16,))
    """
    shown = display_name or str(path)
    obj = read_model_file(path, display_name=shown, limits=limits)
    try:
        return rebuild_policy(policy_tree(obj))
    except AgentFormatError as err:
        raise AgentFormatError(f"{shown}: {err}") from None


def read_model_file(path: str | Path, *, display_name: str | None = None, limits: Limits | None = None) -> Any:
    """What the file holds, decoded: :class:`ModuleNode` for modules, dicts, numpy arrays, scalars, :class:`Skipped`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    shown = display_name or str(path)
    limits = limits or limits_from_env()
    with tempfile.TemporaryDirectory(prefix="hubrl-course-") as tmp:
        result, arrays = _run_reader(path.resolve(), Path(tmp), shown, limits)
    if not result.get("ok"):
        message = printable(str(result.get("message", "no reason given")), 600)
        if result.get("kind") == "unsafe":
            raise UnsafePickleError(message)
        if result.get("kind") == "limit":
            raise _unsafe_read(shown, message)
        raise AgentFormatError(message)
    try:
        return _decode(result.get("object"), arrays, 0)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise AgentFormatError(f"{shown} could not be read: the reader's answer is malformed") from None


def _unsafe_read(shown: str, reason: str) -> AgentFormatError:
    return AgentFormatError(f"{shown} could not be read safely: {reason}; it is not a course model hubrl can load "
                            "(nothing from it was run)")


def _run_reader(path: Path, tmp: Path, shown: str, limits: Limits) -> tuple[dict, dict[str, np.ndarray]]:
    """Run reader.py in a child under ``limits``; its result, or one line saying why there is none."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "LANG": "C.UTF-8", "HOME": str(tmp), "TMPDIR": str(tmp)}
    command = [sys.executable, "-I", reader.__file__, str(path), str(tmp), limits.to_json(), shown]
    with open(tmp / "reader.log", "wb") as log:
        try:
            proc = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, cwd=tmp,
                                  timeout=limits.wall_seconds, check=False)
        except subprocess.TimeoutExpired:
            raise _unsafe_read(shown, f"reading it took more than {limits.wall_seconds:g} s (wall clock)") from None
    if proc.returncode != 0 or not (tmp / reader.RESULT).is_file():
        raise _unsafe_read(shown, _death(proc.returncode, limits))
    return collect_answer(tmp, shown)


def collect_answer(tmp: Path, shown: str) -> tuple[dict, dict[str, np.ndarray]]:
    """The answer :func:`hubrl.course.reader.write_answer` left in ``tmp``: its result and, if it read, its tensors."""
    result_path = tmp / reader.RESULT
    if result_path.stat().st_size > 8 << 20:
        raise _unsafe_read(shown, "its structure is larger than any course model's")
    try:
        result = json.loads(result_path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError):
        raise _unsafe_read(shown, "the reader's answer is malformed") from None
    arrays: dict[str, np.ndarray] = {}
    tensors_path = tmp / reader.TENSORS
    if result.get("ok") and tensors_path.is_file():
        from safetensors.numpy import load_file

        arrays = load_file(str(tensors_path))
    return result, arrays


def _death(returncode: int, limits: Limits) -> str:
    """Why the child ended without an answer, in words."""
    if returncode < 0:
        sig = -returncode
        if sig in (signal.SIGXCPU, signal.SIGKILL):
            return f"reading it used more than {limits.cpu_seconds} s of CPU time"
        if sig == signal.SIGXFSZ:
            return "it produced more output than any course model"
        if sig == signal.SIGSEGV:
            return "the reader crashed (segmentation fault: objects nested too deeply)"
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        return f"the reader was killed by {name} (e.g. more than {limits.memory_bytes >> 20} MiB of memory)"
    return f"the reader failed (exit status {returncode}, e.g. out of its {limits.memory_bytes >> 20} MiB of memory)"


class Skipped:
    """Something the file holds that a policy does not need (an optimizer, a numpy array...), by its class name."""

    def __init__(self, class_name: str) -> None:
        self.class_name = class_name

    def __repr__(self) -> str:
        return f"<{self.class_name}>"


def _decode(value: Any, arrays: dict[str, np.ndarray], depth: int) -> Any:
    if depth > 200 or not isinstance(value, dict):
        raise AgentFormatError("the reader's answer is malformed")
    if "module" in value:
        children = tuple((str(name), _decode(child, arrays, depth + 1)) for name, child in value["children"])
        params = {str(name): arrays[key] for name, key in value["params"].items()}
        return ModuleNode(str(value["module"]), params, children, dict(value["attrs"]))
    if "dict" in value:
        return {str(key): _decode(item, arrays, depth + 1) for key, item in value["dict"]} | (
            {"<non-string keys>": Skipped("keys")} if value.get("other_keys") else {})
    if "tensor" in value:
        return arrays[value["tensor"]]
    if "scalar" in value:
        return value["scalar"]
    return Skipped(str(value.get("inert", "?")))


def policy_tree(obj: Any) -> ModuleNode:
    """The policy inside what the file holds: the module itself, a state_dict, or a checkpoint dict's entry."""
    if isinstance(obj, ModuleNode):
        return obj
    if isinstance(obj, dict):
        if obj and all(isinstance(v, np.ndarray) for v in obj.values()):
            return tree_from_state_dict(obj)
        for key in CHECKPOINT_KEYS:
            if isinstance(obj.get(key), (ModuleNode, dict)):
                return policy_tree(obj[key])
        keys = ", ".join(printable(k, 30) for k in list(obj)[:8]) or "none"
        raise AgentFormatError(f"it holds a dict (keys: {keys}) that is neither a state_dict of tensors nor a "
                               f"checkpoint with one of {', '.join(CHECKPOINT_KEYS)}")
    what = obj.class_name if isinstance(obj, Skipped) else type(obj).__name__
    raise AgentFormatError(f"it holds a {printable(what, 80)}, not a policy module or a state_dict of tensors; "
                           "hubrl reads the course's torch.save(model) or torch.save(model.state_dict())")

