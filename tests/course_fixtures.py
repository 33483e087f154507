"""Course-notebook ``model.pt`` files, built the way the Deep RL Course notebook builds them.

The notebook defines ``class Policy(nn.Module)`` in its ``__main__`` and calls ``torch.save(model, "model.pt")``,
which pickles the whole module by reference to ``__main__.Policy``. These helpers do exactly that: the class is
put into ``sys.modules["__main__"]`` only while saving and removed afterwards, so a loader cannot rely on it.

Import from tests with ``from course_fixtures import make_course_model_pt`` (pytest puts ``tests/`` on sys.path).
"""

from __future__ import annotations

import builtins
import contextlib
import struct
import sys
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from hubrl.course import model_file, reader

_MISSING = object()


class _CartPolePolicy(nn.Module):
    """The notebook's CartPole policy: one hidden layer."""

    def __init__(self, s_size: int, a_size: int, h_size: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(s_size, h_size)
        self.fc2 = nn.Linear(h_size, a_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.fc1(x))
        x = self.fc2(x)
        return F.softmax(x, dim=1)


class _PixelcopterPolicy(nn.Module):
    """The notebook's Pixelcopter/Pong policy: hidden layers h then 2h."""

    def __init__(self, s_size: int, a_size: int, h_size: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(s_size, h_size)
        self.fc2 = nn.Linear(h_size, h_size * 2)
        self.fc3 = nn.Linear(h_size * 2, a_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        return F.softmax(x, dim=1)


def as_notebook_class(cls: type, name: str = "Policy") -> type:
    """Make ``cls`` pickle as ``__main__.<name>``, as a class defined in a notebook cell does."""
    cls.__module__ = "__main__"
    cls.__name__ = name
    cls.__qualname__ = name
    return cls


as_notebook_class(_CartPolePolicy)
as_notebook_class(_PixelcopterPolicy)


@contextlib.contextmanager
def class_in_main(cls: type) -> Iterator[None]:
    """Temporarily make ``cls`` reachable as ``__main__.<cls.__name__>`` (what pickle needs to save it)."""
    main = sys.modules["__main__"]
    name = cls.__name__
    old = main.__dict__.get(name, _MISSING)
    setattr(main, name, cls)
    try:
        yield
    finally:
        if old is _MISSING:
            delattr(main, name)
        else:
            setattr(main, name, old)


@contextlib.contextmanager
def class_in_module(cls: type, module_name: str) -> Iterator[None]:
    """Make ``cls`` pickle as ``module_name.<cls.__name__>`` (``lib.reinforce.Policy``: a student's own module),
    with stand-in modules (and parent packages) in ``sys.modules`` only while saving."""
    import types

    parts = module_name.split(".")
    names = [".".join(parts[: k + 1]) for k in range(len(parts))]
    created = [name for name in names if name not in sys.modules]
    for name in created:
        sys.modules[name] = types.ModuleType(name)
    module = sys.modules[module_name]
    old_module = cls.__module__
    setattr(module, cls.__name__, cls)
    cls.__module__ = module_name
    try:
        yield
    finally:
        cls.__module__ = old_module
        delattr(module, cls.__name__)
        for name in created:
            del sys.modules[name]


def save_like_notebook(model: nn.Module, path: str | Path, *, legacy: bool = False, state_dict: bool = False) -> None:
    """``torch.save(model, path)`` with the model's class registered in ``__main__`` only for the duration."""
    obj: Any = model.state_dict() if state_dict else model
    with class_in_main(type(model)), warnings.catch_warnings():
        # legacy format: torch tries to embed the class source and warns it cannot find it (the class lives in
        # this file, not in __main__'s); irrelevant to the loader.
        warnings.filterwarnings("ignore", message="Couldn't retrieve source code")
        torch.save(obj, str(path), _use_new_zipfile_serialization=not legacy)


def make_course_model(s_size: int, a_size: int, h_size: int, two_hidden: bool = False, seed: int = 0) -> nn.Module:
    """A freshly initialised notebook ``Policy`` (deterministic for a seed)."""
    torch.manual_seed(seed)
    cls = _PixelcopterPolicy if two_hidden else _CartPolePolicy
    model = cls(s_size, a_size, h_size)
    # Non-default, non-trivial weights: perturb so they differ from a plain init with the same seed.
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    return model


def make_course_model_pt(
    path: str | Path,
    s_size: int,
    a_size: int,
    h_size: int,
    two_hidden: bool = False,
    seed: int = 0,
    *,
    legacy: bool = False,
) -> nn.Module:
    """Write ``path`` as the notebook does (``torch.save(model, path)``) and return the live model.

    ``two_hidden`` gives the Pixelcopter/Pong network (fc1 (s,h), fc2 (h,2h), fc3 (2h,a)); ``legacy`` writes
    the pre-1.6 non-zip format.
    """
    model = make_course_model(s_size, a_size, h_size, two_hidden, seed)
    save_like_notebook(model, path, legacy=legacy)
    return model


def make_course_state_dict_pt(
    path: str | Path,
    s_size: int,
    a_size: int,
    h_size: int,
    two_hidden: bool = False,
    seed: int = 0,
    *,
    legacy: bool = False,
) -> nn.Module:
    """Write ``torch.save(model.state_dict(), path)`` and return the live model."""
    model = make_course_model(s_size, a_size, h_size, two_hidden, seed)
    save_like_notebook(model, path, legacy=legacy, state_dict=True)
    return model


class ReducePayload:
    """An object that pickles as ``func(*args)``: what a malicious ``model.pt`` embeds."""

    def __init__(self, func: Any, args: tuple) -> None:
        self.func = func
        self.args = args

    def __reduce__(self):
        return (self.func, self.args)


def make_model_pt_with_payload(
    path: str | Path, func: Any, args: tuple, *, legacy: bool = False, seed: int = 0
) -> nn.Module:
    """A CartPole notebook model whose pickle also calls ``func(*args)`` when opened with plain torch.load."""
    model = make_course_model(4, 2, 8, seed=seed)
    model.payload = ReducePayload(func, args)  # lands in the module's __dict__, pickled with it
    save_like_notebook(model, path, legacy=legacy)
    del model.payload
    return model


def make_malicious_model_pt(path: str | Path, marker_file: str | Path, *, legacy: bool = False) -> nn.Module:
    """A real zip-format ``model.pt`` whose unpickling with plain ``torch.load`` creates ``marker_file``.

    The payload is ``builtins.open(marker_file, "w")`` (pickled as ``io.open``): pure Python, no shell needed.
    """
    return make_model_pt_with_payload(path, builtins.open, (str(marker_file), "w"), legacy=legacy)


def plain_torch_load(path: str | Path) -> Any:
    """What a classmate would do (UNSAFE: runs the pickle): ``torch.load(weights_only=False)`` with ``Policy`` defined."""
    with class_in_main(_CartPolePolicy):
        obj = torch.load(str(path), weights_only=False)
    payload = getattr(obj, "payload", None)
    if hasattr(payload, "close"):
        payload.close()
    return obj


# -- a tiny pickle writer, for files torch.save cannot produce (attacks, hostile resources) -------------------------

def g(module: str, name: str) -> bytes:
    """GLOBAL module.name"""
    return b"c" + f"{module}\n{name}\n".encode()


def s(text: str) -> bytes:
    """BINUNICODE text"""
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def i(n: int) -> bytes:
    """BININT n (32-bit) or LONG1 n (any size)"""
    if -(2**31) <= n < 2**31:
        return b"J" + struct.pack("<i", n)
    data = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(data)]) + data


def tup(*items: bytes) -> bytes:
    return b"(" + b"".join(items) + b"t"


PROTO2 = b"\x80\x02"
EMPTY_OD = g("collections", "OrderedDict") + b")R"


def tensor_op(key: str, numel: int, size: tuple, stride: tuple, offset: int = 0) -> bytes:
    """torch._utils._rebuild_tensor_v2 over FloatStorage ``key`` (what torch.save writes for a float32 tensor)."""
    pid = tup(s("storage"), g("torch", "FloatStorage"), s(key), s("cpu"), i(numel)) + b"Q"
    args = tup(pid, i(offset), tup(*map(i, size)), tup(*map(i, stride)), b"\x89", EMPTY_OD)
    return g("torch._utils", "_rebuild_tensor_v2") + args + b"R"


def state_dict_pickle(entries: dict[str, bytes]) -> bytes:
    body = b"".join(s(k) + v for k, v in entries.items())
    return PROTO2 + EMPTY_OD + b"(" + body + b"u."


def archive(path: Path, pkl: bytes, records: dict[str, bytes] | None = None) -> Path:
    """A torch.save-layout zip archive around a hand-written ``data.pkl``."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", pkl)
        zf.writestr("archive/byteorder", "little")
        zf.writestr("archive/version", "3\n")
        for key, data in (records or {}).items():
            zf.writestr(f"archive/data/{key}", data)
    return path


def floats(values) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


# -- the reader without its child process ----------------------------------------------------------------------------

def read_in_this_process(path: Path, tmp: Path, shown: str, limits: reader.Limits) -> tuple[dict, dict[str, Any]]:
    """``model_file._run_reader`` minus the child: the child's own code (``reader.write_answer``) run here, its
    answer collected as the parent collects it. Only for files whose reading ends by itself: the limits are not set."""
    reader.write_answer(path, shown, limits, tmp)
    return model_file.collect_answer(tmp, shown)


@pytest.fixture(autouse=True)
def reader_in_this_process(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Import into a test module to read model.pt files in-process there, except in tests marked ``child``.

    In-process is every step of the reading but the child and its limits: enough for what the reader and the rebuild
    decide about a file. Each kind of answer the child gives (a result; an unsafe, format or setup refusal; a crash;
    a CPU, wall-clock, memory or output limit) has a test marked ``child`` through the real bounded child.
    """
    if request.node.get_closest_marker("child") is None:
        monkeypatch.setattr(model_file, "_run_reader", read_in_this_process)
