"""Read a classmate's Deep RL Course ``model.pt`` without running any code from it.

The course notebook saves the *whole* policy module with ``torch.save(model, "model.pt")``. That file is a
pickle, and plain ``torch.load(..., weights_only=False)`` will call any function the pickle names
(``os.system``, ``builtins.eval``...): opening someone else's ``model.pt`` that way hands them your machine.
It also needs the classmate's ``Policy`` class to exist in your ``__main__``.

:func:`load_course_model` reads such a file (and plain ``state_dict`` files) with a pickle reader of its own
and returns a :class:`CourseModel`: the ``nn.Linear`` layers in definition order, as float32 CPU tensors.
The lead code rebuilds the course network (Linear, ReLU, ..., Linear, softmax) from them.

Why this is safe
----------------
* The reader is a subclass of the pure-Python ``pickle._Unpickler`` whose opcode table is replaced for every
  opcode that can look up or call anything. The only way a pickle can obtain a callable is a global
  reference (GLOBAL, STACK_GLOBAL, INST, EXT*); :meth:`_RestrictedUnpickler.find_class` answers those from an
  explicit allowlist and **never imports a module or reads an attribute of one**. Every allowlisted name maps
  to a function or class written in this module (inert stand-ins), never to the real torch/builtins object,
  with the exception of ``torch`` dtype objects, which are plain non-callable constants.
  Anything else raises :class:`~hubrl.errors.UnsafePickleError` *before* anything is called; the message names
  the offending global. EXT opcodes (the copyreg extension registry) are refused outright.
* REDUCE, NEWOBJ, NEWOBJ_EX, INST and OBJ check, by identity, that the callable on the stack is one of the
  stand-ins above, so even a value that is not a global cannot be called.
* BUILD (``__setstate__``) is only accepted on the inert placeholders (which just keep the state dict) and on
  ``OrderedDict`` (whose state, the state_dict ``_metadata``, is dropped). APPEND(S), SETITEM(S) and ADDITEMS
  only accept real ``list``/``dict``/``set`` objects, so no method of a crafted object is ever looked up.
* ``torch.nn`` classes become placeholder classes that only record the unpickled attributes; no real module is
  constructed. Any class in ``__main__`` (the student's ``Policy``, whatever its name) becomes a placeholder that
  records its qualified name; ``sys.modules["__main__"]`` is never consulted.
* Tensors are not built while unpickling: the rebuild functions record (storage, offset, size, stride) and the
  bytes are read afterwards from the archive entries (zip format) or from the stream tail (legacy format),
  bounds-checked against the storage length, and copied into fresh tensors. The storage's location
  (``"cuda:0"``...) is only recorded, so files saved on a GPU load on CPU.

``torch.load(weights_only=True)`` was considered: it is also restricted, but it would need every ``__main__``
class name registered before the load (names we do not know), it constructs objects through torch internals
whose allowlist changes between torch versions, and its errors do not name the refused global in a stable way.
This reader depends only on the documented file layout, which has been stable since torch 1.6 (zip) and
0.4 (legacy stream).

Supported: the zip format (torch >= 1.6, any archive folder name), the legacy stream format
(``_use_new_zipfile_serialization=False``, torch < 1.6), little- and big-endian archives, float16/bfloat16/
float32/float64 weights (returned as float32). The pre-0.4 tar format is refused with AgentFormatError.

Tolerated modules besides ``nn.Linear``: ``nn.ReLU``, ``nn.Softmax``, ``nn.Dropout`` and ``nn.Identity`` (they are
what the course forward already does, or no-ops at evaluation time) are listed in
:attr:`CourseModel.ignored_modules`; ``nn.Sequential``/``nn.ModuleList``/``nn.ModuleDict`` are flattened in order.
Any other ``torch.nn`` layer (``Tanh``, ``Conv2d``, ``LSTM``...) is harmless but cannot be rebuilt as the course
MLP, so it is read (to keep checking the rest of the file) and then refused with AgentFormatError.
"""

from __future__ import annotations

import _compat_pickle
import io
import math
import pickle
import re
import struct
import tarfile
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from hubrl.errors import AgentFormatError, UnsafePickleError

__all__ = ["CourseModel", "load_course_model"]

#: Refuse files larger than this (course models are a few KB; Pixelcopter h=64 is ~50 KB).
MAX_FILE_BYTES = 1 << 30
#: Refuse tensors with more elements than this (guards against stride-0 blow-ups).
MAX_TENSOR_NUMEL = 1 << 28
#: Refuse pickles whose object graph nests deeper than this when walking it.
_MAX_DEPTH = 64

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001


# --------------------------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CourseModel:
    """The weights of a course policy, read without executing the file.

    ``layers`` holds ``(name, weight, bias)`` for each ``nn.Linear`` in definition order: ``weight`` is a float32
    CPU tensor of shape ``(out_features, in_features)``, ``bias`` a float32 ``(out_features,)`` tensor or ``None``.
    ``name`` is the attribute path ("fc1", or "net.0" inside an ``nn.Sequential``).
    ``class_name`` is the pickled module's qualified class name (``"__main__.Policy"``), or ``None`` for a plain
    state_dict. ``format`` is ``"pickled-module"`` or ``"state-dict"``; ``serialization`` is ``"zip"`` or
    ``"legacy"``. ``ignored_modules`` lists ``(path, class)`` of tolerated parameter-free modules (ReLU...).
    ``class_source`` is the class source code that legacy-format files embed (never executed), else ``None``.
    """

    layers: list[tuple[str, torch.Tensor, torch.Tensor | None]]
    class_name: str | None
    format: str
    serialization: str = "zip"
    ignored_modules: tuple[tuple[str, str], ...] = ()
    class_source: str | None = None

    @property
    def obs_dim(self) -> int:
        """Size of the observation vector (in_features of the first layer)."""
        return int(self.layers[0][1].shape[1])

    @property
    def n_actions(self) -> int:
        """Number of discrete actions (out_features of the last layer)."""
        return int(self.layers[-1][1].shape[0])

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        """out_features of every layer but the last: ``(16,)`` for CartPole, ``(64, 128)`` for Pixelcopter."""
        return tuple(int(w.shape[0]) for _, w, _ in self.layers[:-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The course forward: Linear, ReLU, ..., Linear, softmax over the last dimension (action probabilities)."""
        x = x.to(torch.float32)
        for i, (_, w, b) in enumerate(self.layers):
            x = torch.nn.functional.linear(x, w, b)
            if i < len(self.layers) - 1:
                x = torch.relu(x)
        return torch.softmax(x, dim=-1)


def load_course_model(path: str | Path, *, display_name: str | None = None) -> CourseModel:
    """Read the Linear layers of a course ``model.pt`` (whole pickled module or state_dict) without running it.

    ``display_name`` is how error messages name the file (e.g. ``"alice/Reinforce-CartPole-v1/model.pt"`` for a
    file downloaded into a cache); the path is used when it is not given.

    Raises :class:`UnsafePickleError` when the file references anything a course model never contains (it may
    be malicious; nothing from it has run), :class:`AgentFormatError` when it is not a readable PyTorch file or
    does not hold an MLP of Linear layers, and ``FileNotFoundError`` when ``path`` does not exist.
    """
    path = Path(path)
    shown = _show(display_name if display_name is not None else str(path), 200)
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise AgentFormatError(f"{shown} is {size} bytes, far larger than a course model; refusing to read it")
    with open(path, "rb") as fh:
        head = fh.read(8)
    if size == 0:
        raise AgentFormatError(f"{shown} is empty; re-download it or ask its author for the file")

    if head.startswith(b"PK"):
        top, buffers, serialization, sources = _read_zip(path, shown)
    elif head[:1] == b"\x80" or head.startswith(b"L1195470"):  # protocol >= 2, or the protocol-1 magic number
        top, buffers, serialization, sources = _read_legacy(path.read_bytes(), shown)
    elif _is_tar(path):
        raise AgentFormatError(
            f"{shown} uses the pre-0.4 PyTorch tar format, which hubrl does not read; "
            "ask its author to re-save it with a current torch"
        )
    else:
        raise AgentFormatError(
            f"{shown} is not a PyTorch file (neither a torch.save zip archive nor a legacy torch pickle); "
            "check that you downloaded model.pt and not an HTML error page"
        )
    return _to_course_model(top, buffers, serialization, sources, shown)


# --------------------------------------------------------------------------------------------------------------
# Inert stand-ins returned by find_class
# --------------------------------------------------------------------------------------------------------------


class _Inert:
    """An object of a class named in the pickle: it only stores what BUILD / REDUCE hand it. Never callable."""

    __slots__ = ("state", "args")
    qualified_name = "?"
    kind = "main"  # "linear", "tolerated", "container", "unsupported", "main"

    def __init__(self) -> None:  # never called by the unpickler (it uses __new__), kept for clarity
        self.state: Any = None
        self.args: tuple = ()

    def __repr__(self) -> str:
        return f"<inert {self.qualified_name}>"


def _placeholder_class(qualified_name: str, kind: str) -> type[_Inert]:
    short = qualified_name.rsplit(".", 1)[-1]
    if not short.isidentifier():
        short = "Placeholder"
    return type(short, (_Inert,), {"__slots__": (), "qualified_name": qualified_name, "kind": kind})


class _StorageType:
    """Stand-in for ``torch.FloatStorage`` etc.: only carries the dtype."""

    __slots__ = ("name", "dtype")

    def __init__(self, name: str, dtype: torch.dtype) -> None:
        self.name = name
        self.dtype = dtype

    def __repr__(self) -> str:
        return f"<storage type {self.name}>"


_STORAGE_DTYPES: dict[str, torch.dtype] = {
    "FloatStorage": torch.float32,
    "DoubleStorage": torch.float64,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
    "ComplexFloatStorage": torch.complex64,
    "ComplexDoubleStorage": torch.complex128,
    "UntypedStorage": torch.uint8,
}
_STORAGE_TYPES = {name: _StorageType(name, dt) for name, dt in _STORAGE_DTYPES.items()}

_DTYPES: dict[str, torch.dtype] = {
    name: getattr(torch, name)
    for name in (
        "float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool",
        "complex64", "complex128", "float", "double", "half", "long", "int", "short",
    )
}


class _StorageRef:
    """What persistent_load returns: a reference to raw bytes that are read after unpickling."""

    __slots__ = ("key", "dtype", "numel", "location", "view")

    def __init__(self, key: str, dtype: torch.dtype, numel: int, location: str, view=None) -> None:
        self.key = key
        self.dtype = dtype
        self.numel = numel
        self.location = location
        self.view = view  # legacy format: (element offset, element count) inside the root storage


class _LazyTensor:
    """A tensor recorded while unpickling; :func:`_materialize` turns it into a real tensor afterwards."""

    __slots__ = ("storage", "offset", "size", "stride", "dtype")

    def __init__(self, storage: _StorageRef, offset: int, size: tuple, stride: tuple, dtype: torch.dtype) -> None:
        self.storage = storage
        self.offset = offset
        self.size = size
        self.stride = stride
        self.dtype = dtype


class _ObjectBase:
    """Stand-in for ``builtins.object`` (only meaningful as the ``base`` of ``copyreg._reconstructor``)."""

    __slots__ = ()


_OBJECT_BASE = _ObjectBase()


def _bad(msg: str) -> AgentFormatError:
    return AgentFormatError(msg)


def _check_int(value: Any, what: str) -> int:
    if type(value) is not int:  # noqa: E721 - bool and int subclasses are not sizes
        raise _bad(f"{what} should be an int, got {type(value).__name__}")
    return value


def _check_int_tuple(value: Any, what: str) -> tuple[int, ...]:
    if type(value) not in (tuple, list) or len(value) > 16:
        raise _bad(f"{what} should be a short tuple of ints")
    return tuple(_check_int(v, what) for v in value)


def _safe_rebuild_tensor(storage, storage_offset, size, stride, *rest, dtype=None):
    if not isinstance(storage, _StorageRef):
        raise UnsafePickleError("refusing to load: a tensor is rebuilt from something that is not a storage")
    offset = _check_int(storage_offset, "tensor offset")
    size_t = _check_int_tuple(size, "tensor size")
    stride_t = _check_int_tuple(stride, "tensor stride")
    if len(size_t) != len(stride_t):
        raise _bad("tensor size and stride have different lengths")
    return _LazyTensor(storage, offset, size_t, stride_t, dtype or storage.dtype)


def _check_metadata(metadata) -> None:
    if metadata is None:
        return
    if type(metadata) not in (dict, OrderedDict):
        raise _bad("tensor metadata is not a dict")
    if any(v is not False for v in metadata.values()):
        raise _bad("a tensor has conjugate/negative-view flags, which course models never use")


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _safe_rebuild_tensor(storage, storage_offset, size, stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    _check_metadata(metadata)
    return _safe_rebuild_tensor(storage, storage_offset, size, stride)


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype,
                       metadata=None):
    if not isinstance(dtype, torch.dtype):
        raise _bad("tensor dtype is not a torch dtype")
    _check_metadata(metadata)
    return _safe_rebuild_tensor(storage, storage_offset, size, stride, dtype=dtype)


def _rebuild_parameter(data, requires_grad=True, backward_hooks=None):
    if not isinstance(data, _LazyTensor):
        raise UnsafePickleError("refusing to load: a parameter is rebuilt from something that is not a tensor")
    return data


def _rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
    return _rebuild_parameter(data)


def _safe_parameter(data=None, requires_grad=True):
    return _rebuild_parameter(data)


def _safe_ordered_dict(*args):
    if not args:
        return OrderedDict()
    if len(args) == 1 and type(args[0]) is list and all(type(p) is tuple and len(p) == 2 for p in args[0]):
        return OrderedDict(args[0])
    raise UnsafePickleError("refusing to load: OrderedDict is rebuilt with unexpected arguments")


def _safe_set(items=()):
    if type(items) not in (list, tuple, set, frozenset):
        raise UnsafePickleError("refusing to load: set is rebuilt from something that is not a list")
    return set(items)


def _safe_size(items=()):
    return _check_int_tuple(items, "torch.Size")


def _safe_device(*args):
    if not args or not all(type(a) in (str, int) for a in args):
        raise _bad("torch.device is rebuilt with unexpected arguments")
    return ":".join(str(a) for a in args)


def _safe_reconstructor(cls, base, state):
    # copyreg._reconstructor(cls, object, None) is how protocols 0/1 create plain instances.
    if not (isinstance(cls, type) and issubclass(cls, _Inert)) or base is not _OBJECT_BASE or state is not None:
        raise UnsafePickleError("refusing to load: copyreg._reconstructor is used on something other than a class")
    obj = cls.__new__(cls)
    obj.state = None
    obj.args = ()
    return obj


_SAFE_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): _safe_ordered_dict,
    ("builtins", "set"): _safe_set,
    ("builtins", "object"): _OBJECT_BASE,
    ("copyreg", "_reconstructor"): _safe_reconstructor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter_with_state,
    ("torch.nn.parameter", "Parameter"): _safe_parameter,
    ("torch", "Size"): _safe_size,
    ("torch", "device"): _safe_device,
}
for _name, _stype in _STORAGE_TYPES.items():
    _SAFE_GLOBALS[("torch", _name)] = _stype
_SAFE_GLOBALS[("torch.storage", "UntypedStorage")] = _STORAGE_TYPES["UntypedStorage"]
for _name, _dt in _DTYPES.items():
    _SAFE_GLOBALS[("torch", _name)] = _dt

#: The only objects REDUCE may call (by identity).
_SAFE_CALLABLES = tuple(v for v in _SAFE_GLOBALS.values() if callable(v) and not isinstance(v, torch.dtype))

#: torch.nn classes mapped to placeholders, with how the walk treats them.
_NN_CLASSES: dict[tuple[str, str], str] = {
    ("torch.nn.modules.linear", "Linear"): "linear",
    ("torch.nn.modules.linear", "Identity"): "tolerated",
    ("torch.nn.modules.activation", "ReLU"): "tolerated",
    ("torch.nn.modules.activation", "Softmax"): "tolerated",
    ("torch.nn.modules.dropout", "Dropout"): "tolerated",
    ("torch.nn.modules.container", "Sequential"): "container",
    ("torch.nn.modules.container", "ModuleList"): "container",
    ("torch.nn.modules.container", "ModuleDict"): "container",
}

_DOTTED_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z")


def _show(text: str, limit: int = 120) -> str:
    """Make text from the file printable on one line."""
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _unsafe(where: str, what: str) -> UnsafePickleError:
    return UnsafePickleError(
        f"refusing to load {where}: it references {_show(what)}, which a course model never contains; "
        "it may be malicious (nothing from it was run). Do not open it with torch.load; "
        "ask its author to share plain weights (a state_dict or safetensors)"
    )


# --------------------------------------------------------------------------------------------------------------
# The restricted unpickler
# --------------------------------------------------------------------------------------------------------------


class _RestrictedUnpickler(pickle._Unpickler):  # type: ignore[name-defined]
    """Pure-Python unpickler whose every calling opcode is restricted (see the module docstring)."""

    dispatch = dict(pickle._Unpickler.dispatch)  # type: ignore[attr-defined]

    def __init__(self, file, where: str, storage_loader=None) -> None:
        super().__init__(file, encoding="utf-8")
        self.where = where
        self.storage_loader = storage_loader  # callable(pid tuple) -> object, or None: no persistent ids
        self.placeholders: dict[str, type[_Inert]] = {}
        self.class_sources: dict[str, str] = {}

    # -- globals -------------------------------------------------------------------------------------------
    def find_class(self, module, name):  # noqa: D401 - pickle API
        if type(module) is not str or type(name) is not str:
            raise _unsafe(self.where, "a non-string global")
        # Python-2 names (protocol 2 writes "__builtin__ eval", "commands Popen"): use the Python-3 names, as
        # pickle itself would. _compat_pickle holds plain string tables; nothing is imported.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        full = f"{module}.{name}"
        safe = _SAFE_GLOBALS.get((module, name))
        if safe is not None:
            return safe
        kind = _NN_CLASSES.get((module, name))
        if kind is None and module.startswith("torch.nn.modules.") and name in _nn_layer_names():
            kind = "unsupported"
        if kind is None and module == "__main__" and _DOTTED_IDENT.match(name) and "__" not in name:
            kind = "main"
        if kind is None:
            raise _unsafe(self.where, full)
        cls = self.placeholders.get(full)
        if cls is None:
            cls = self.placeholders[full] = _placeholder_class(full, kind)
        return cls

    # -- persistent ids (storages) ---------------------------------------------------------------------------
    def persistent_load(self, pid):
        if self.storage_loader is None:
            raise _bad(f"{self.where}: unexpected persistent id in a plain pickle")
        if type(pid) is not tuple or not pid:
            raise _bad(f"{self.where}: malformed persistent id")
        tag = pid[0].decode("ascii", "replace") if isinstance(pid[0], bytes) else pid[0]
        if tag == "module" and len(pid) == 4:
            # Legacy format: ("module", class, source_file, source). The class came through find_class.
            cls, source = pid[1], pid[3]
            if not (isinstance(cls, type) and issubclass(cls, _Inert)):
                raise _unsafe(self.where, "a persistent 'module' id that is not a module class")
            if type(source) is str:
                self.class_sources.setdefault(cls.qualified_name, source)
            return cls
        if tag != "storage":
            raise _bad(f"{self.where}: unknown persistent id type {_show(repr(tag), 40)}")
        return self.storage_loader(pid[1:])

    # -- restricted calling opcodes --------------------------------------------------------------------------
    def _check_callable(self, func, opname: str) -> None:
        if any(func is f for f in _SAFE_CALLABLES):
            return
        if isinstance(func, type) and issubclass(func, _Inert):
            return
        raise _unsafe(self.where, f"a {opname} call on a {type(func).__name__} object")

    def _load_reduce(self):
        stack = self.stack
        args = stack.pop()
        func = stack[-1]
        self._check_callable(func, "REDUCE")
        if type(args) is not tuple:
            raise _unsafe(self.where, "a REDUCE call with non-tuple arguments")
        if isinstance(func, type):  # a placeholder class "called": keep the arguments, build nothing
            obj = func.__new__(func)
            obj.state = None
            obj.args = args
            stack[-1] = obj
        else:
            stack[-1] = func(*args)

    def _new_placeholder(self, cls, args) -> _Inert:
        if not (isinstance(cls, type) and issubclass(cls, _Inert)):
            raise _unsafe(self.where, f"object creation (NEWOBJ/OBJ) from a {type(cls).__name__}")
        obj = cls.__new__(cls)
        obj.state = None
        obj.args = tuple(args) if type(args) in (tuple, list) else ()
        return obj

    def _load_newobj(self):
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(self._new_placeholder(cls, args))

    def _load_newobj_ex(self):
        self.stack.pop()  # kwargs
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(self._new_placeholder(cls, args))

    def _load_inst(self):
        module = self.readline()[:-1].decode("ascii")
        name = self.readline()[:-1].decode("ascii")
        cls = self.find_class(module, name)
        self.append(self._new_placeholder(cls, self.pop_mark()))

    def _load_obj(self):
        args = self.pop_mark()
        if not args:
            raise _bad(f"{self.where}: malformed OBJ opcode")
        cls = args.pop(0)
        self.append(self._new_placeholder(cls, args))

    def _load_ext(self):
        raise _unsafe(self.where, "a copyreg extension code (EXT opcode)")

    def _load_build(self):
        state = self.stack.pop()
        inst = self.stack[-1]
        if isinstance(inst, _Inert):
            inst.state = state
        elif type(inst) is OrderedDict:
            pass  # a state_dict's _metadata (version numbers): not needed
        else:
            raise _unsafe(self.where, f"a BUILD (__setstate__) on a {type(inst).__name__} object")

    def _load_append(self):
        value = self.stack.pop()
        target = self.stack[-1]
        if type(target) is not list:
            raise _unsafe(self.where, f"an APPEND on a {type(target).__name__} object")
        target.append(value)

    def _load_appends(self):
        items = self.pop_mark()
        target = self.stack[-1]
        if type(target) is not list:
            raise _unsafe(self.where, f"an APPENDS on a {type(target).__name__} object")
        target.extend(items)

    def _load_setitem(self):
        value = self.stack.pop()
        key = self.stack.pop()
        target = self.stack[-1]
        if type(target) not in (dict, OrderedDict):
            raise _unsafe(self.where, f"a SETITEM on a {type(target).__name__} object")
        target[key] = value

    def _load_setitems(self):
        items = self.pop_mark()
        target = self.stack[-1]
        if type(target) not in (dict, OrderedDict):
            raise _unsafe(self.where, f"a SETITEMS on a {type(target).__name__} object")
        if len(items) % 2:
            raise _bad(f"{self.where}: malformed SETITEMS (odd number of items)")
        for i in range(0, len(items), 2):
            target[items[i]] = items[i + 1]

    def _load_additems(self):
        items = self.pop_mark()
        target = self.stack[-1]
        if type(target) is not set:
            raise _unsafe(self.where, f"an ADDITEMS on a {type(target).__name__} object")
        target.update(items)

    def _load_ext_buffer(self):
        raise _bad(f"{self.where}: out-of-band pickle buffers are not used by torch.save")

    def _load_persid(self):
        raise _bad(f"{self.where}: text persistent ids are not used by torch.save")

    for _op, _fn in (
        (pickle.REDUCE, _load_reduce),
        (pickle.NEWOBJ, _load_newobj),
        (pickle.NEWOBJ_EX, _load_newobj_ex),
        (pickle.INST, _load_inst),
        (pickle.OBJ, _load_obj),
        (pickle.EXT1, _load_ext),
        (pickle.EXT2, _load_ext),
        (pickle.EXT4, _load_ext),
        (pickle.BUILD, _load_build),
        (pickle.APPEND, _load_append),
        (pickle.APPENDS, _load_appends),
        (pickle.SETITEM, _load_setitem),
        (pickle.SETITEMS, _load_setitems),
        (pickle.ADDITEMS, _load_additems),
        (pickle.PERSID, _load_persid),
        (pickle.NEXT_BUFFER, _load_ext_buffer),
        (pickle.READONLY_BUFFER, _load_ext_buffer),
    ):
        dispatch[_op[0]] = _fn
    del _op, _fn


_NN_NAMES: frozenset[str] | None = None


def _nn_layer_names() -> frozenset[str]:
    """Names of public torch.nn layer classes (a list of strings: nothing is looked up by the file's names)."""
    global _NN_NAMES
    if _NN_NAMES is None:
        import torch.nn.modules as nn_modules

        _NN_NAMES = frozenset(getattr(nn_modules, "__all__", ()))
    return _NN_NAMES


def _unpickle(unpickler: _RestrictedUnpickler, where: str) -> Any:
    try:
        return unpickler.load()
    except (UnsafePickleError, AgentFormatError):
        raise
    except RecursionError:
        raise _bad(f"{where} nests objects too deeply to be a course model") from None
    except Exception as err:  # corrupt stream: EOF, unknown opcode, bad types...
        raise _bad(
            f"{where} is corrupt or not a torch.save file ({type(err).__name__}: {_show(str(err), 80)}); "
            "re-download it"
        ) from None


def _storage_ref_from_pid(data: tuple, where: str, legacy: bool) -> _StorageRef:
    # zip: (storage_type, key, location, numel); legacy: (storage_type, root_key, location, numel, view_metadata)
    if len(data) != (5 if legacy else 4):
        raise _bad(f"{where}: malformed storage id")
    stype, key, location, numel = data[:4]
    if not isinstance(stype, _StorageType):
        raise _unsafe(where, "a storage whose type is not a torch storage type")
    if isinstance(key, bytes):
        key = key.decode("ascii", "replace")
    if isinstance(location, bytes):
        location = location.decode("ascii", "replace")
    if type(key) is not str or type(location) is not str:
        raise _bad(f"{where}: malformed storage id")
    numel = _check_int(numel, "storage size")
    if numel < 0:
        raise _bad(f"{where}: negative storage size")
    view = None
    if legacy and data[4] is not None:
        meta = data[4]
        if type(meta) is not tuple or len(meta) != 3:
            raise _bad(f"{where}: malformed storage view")
        view = (_check_int(meta[1], "storage view offset"), _check_int(meta[2], "storage view size"))
    return _StorageRef(key, stype.dtype, numel, location, view)


# --------------------------------------------------------------------------------------------------------------
# Containers: zip archive and legacy stream
# --------------------------------------------------------------------------------------------------------------


def _read_zip(path: Path, where: str):
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise _bad(
            f"{where} looks like a zip archive but cannot be opened ({_show(str(err), 80)}); "
            "it is probably truncated: re-download it"
        ) from None
    with zf:
        infos = {info.filename: info for info in zf.infolist()}
        pkls = [n for n in infos if n.count("/") == 1 and n.endswith("/data.pkl")]
        if len(pkls) != 1:
            if any(n.endswith("/constants.pkl") for n in infos):
                raise _bad(f"{where} is a TorchScript archive (torch.jit.save), not a torch.save file")
            raise _bad(f"{where} is a zip archive without a torch data.pkl; it is not a torch.save file")
        prefix = pkls[0][: -len("data.pkl")]
        if any(n.startswith(prefix + "code/") for n in infos):
            raise _bad(f"{where} is a TorchScript archive (torch.jit.save), not a torch.save file")

        def read(name: str, limit: int = MAX_FILE_BYTES) -> bytes:
            info = infos[name]
            if info.file_size > limit:
                raise _bad(f"{where}: archive entry {_show(name, 60)} is too large")
            try:
                return zf.read(info)
            except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as err:
                raise _bad(
                    f"{where}: archive entry {_show(name, 60)} is unreadable ({_show(str(err), 60)}); "
                    "the file is probably truncated: re-download it"
                ) from None

        byteorder = "little"
        if prefix + "byteorder" in infos:
            byteorder = read(prefix + "byteorder", 64).decode("ascii", "replace").strip()
            if byteorder not in ("little", "big"):
                raise _bad(f"{where}: unknown byte order {_show(byteorder, 20)!r}")

        refs: dict[str, _StorageRef] = {}

        def loader(data: tuple) -> _StorageRef:
            ref = _storage_ref_from_pid(data, where, legacy=False)
            known = refs.get(ref.key)
            if known is not None:
                return known
            refs[ref.key] = ref
            return ref

        unpickler = _RestrictedUnpickler(io.BytesIO(read(pkls[0], 256 << 20)), where, loader)
        top = _unpickle(unpickler, where)

        buffers: dict[str, bytes] = {}
        for key, ref in refs.items():
            name = f"{prefix}data/{key}"
            if name not in infos:
                raise _bad(f"{where}: tensor data {_show(key, 40)} is missing from the archive; re-download it")
            raw = read(name)
            nbytes = ref.numel * ref.dtype.itemsize
            if len(raw) < nbytes:
                raise _bad(f"{where}: tensor data {_show(key, 40)} is shorter than declared; re-download it")
            buffers[key] = _to_little_endian(raw[:nbytes], ref.dtype, byteorder)
    return top, buffers, "zip", unpickler.class_sources


def _read_legacy(data: bytes, where: str):
    f = io.BytesIO(data)
    magic = _unpickle(_RestrictedUnpickler(f, where), where)
    if magic != _LEGACY_MAGIC:
        raise _bad(
            f"{where} is a pickle but not a torch.save file (no torch magic number); "
            "hubrl only reads torch.save files"
        )
    protocol = _unpickle(_RestrictedUnpickler(f, where), where)
    if protocol != _LEGACY_PROTOCOL:
        raise _bad(f"{where}: unsupported legacy torch protocol {_show(repr(protocol), 20)}")
    sys_info = _unpickle(_RestrictedUnpickler(f, where), where)
    if type(sys_info) is dict and sys_info.get("little_endian", True) is False:
        raise _bad(f"{where} was saved on a big-endian machine in the legacy format, which hubrl does not read")

    refs: dict[str, _StorageRef] = {}

    def loader(pid: tuple) -> _StorageRef:
        ref = _storage_ref_from_pid(pid, where, legacy=True)
        root = refs.get(ref.key)
        if root is None:
            root = refs[ref.key] = _StorageRef(ref.key, ref.dtype, ref.numel, ref.location)
        if ref.view is None:
            return root
        return _StorageRef(ref.key, ref.dtype, ref.numel, ref.location, ref.view)

    unpickler = _RestrictedUnpickler(f, where, loader)
    top = _unpickle(unpickler, where)
    keys = _unpickle(_RestrictedUnpickler(f, where), where)
    if type(keys) is not list or not all(type(k) is str for k in keys):
        raise _bad(f"{where}: malformed storage list; the file is corrupt")
    buffers: dict[str, bytes] = {}
    for key in keys:
        ref = refs.get(key)
        if ref is None:
            raise _bad(f"{where}: storage {_show(key, 40)} is listed but never used; the file is corrupt")
        header = f.read(8)
        if len(header) != 8:
            raise _bad(f"{where} is truncated (tensor data missing); re-download it")
        (numel,) = struct.unpack("<q", header)
        if numel != ref.numel:
            raise _bad(f"{where}: storage {_show(key, 40)} has {numel} elements, expected {ref.numel}")
        nbytes = numel * ref.dtype.itemsize
        raw = f.read(nbytes)
        if len(raw) != nbytes:
            raise _bad(f"{where} is truncated (tensor data cut short); re-download it")
        buffers[key] = raw
    return top, buffers, "legacy", unpickler.class_sources


def _to_little_endian(raw: bytes, dtype: torch.dtype, byteorder: str) -> bytes:
    if byteorder == "little" or dtype.itemsize == 1:
        return raw
    width = dtype.itemsize // 2 if dtype.is_complex else dtype.itemsize
    swapped = torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(-1, width).flip(1)
    return swapped.contiguous().numpy().tobytes()


def _is_tar(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


# --------------------------------------------------------------------------------------------------------------
# From the unpickled tree to layers
# --------------------------------------------------------------------------------------------------------------


def _materialize(lazy: _LazyTensor, buffers: dict[str, bytes], where: str) -> torch.Tensor:
    ref = lazy.storage
    raw = buffers.get(ref.key)
    if raw is None:
        raise _bad(f"{where}: tensor data {_show(ref.key, 40)} is missing")
    if ref.view is not None:  # legacy storage view, in elements of the storage dtype
        start, count = ref.view
        item = ref.dtype.itemsize
        if start < 0 or count < 0 or (start + count) * item > len(raw):
            raise _bad(f"{where}: a storage view points outside its storage; the file is corrupt")
        raw = raw[start * item : (start + count) * item]
    dtype = lazy.dtype
    if len(raw) % dtype.itemsize:
        raise _bad(f"{where}: storage size does not fit dtype {dtype}")
    storage_numel = len(raw) // dtype.itemsize
    size, stride, offset = lazy.size, lazy.stride, lazy.offset
    if any(s < 0 for s in size) or any(s < 0 for s in stride) or offset < 0:
        raise _bad(f"{where}: a tensor has negative sizes, strides or offset; the file is corrupt")
    numel = math.prod(size)
    if numel > MAX_TENSOR_NUMEL:
        raise _bad(f"{where}: a tensor has {numel} elements, far more than a course model")
    if numel == 0:
        return torch.zeros(size, dtype=dtype)
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= storage_numel:
        raise _bad(f"{where}: a tensor points outside its storage; the file is corrupt")
    base = torch.frombuffer(bytearray(raw), dtype=dtype) if storage_numel else torch.zeros(0, dtype=dtype)
    return torch.as_strided(base, size, stride, offset).clone()


def _as_weight(value: Any, what: str, buffers, where: str) -> torch.Tensor:
    if not isinstance(value, _LazyTensor):
        raise _bad(f"{where}: {what} is a {type(value).__name__}, not a tensor")
    tensor = _materialize(value, buffers, where)
    if not (tensor.dtype.is_floating_point):
        raise _bad(f"{where}: {what} has dtype {tensor.dtype}; course weights are floating point")
    tensor = tensor.to(torch.float32).contiguous()
    if not torch.isfinite(tensor).all():
        raise _bad(f"{where}: {what} contains NaN or infinite values; the model is broken (its training diverged)")
    return tensor


def _linear(name: str, weight: Any, bias: Any, buffers, where: str, declared: dict | None = None):
    w = _as_weight(weight, f"{name}.weight", buffers, where)
    if w.dim() != 2:
        raise _bad(f"{where}: {name}.weight has shape {tuple(w.shape)}; a Linear weight is 2-D (out, in)")
    b = None
    if bias is not None:
        b = _as_weight(bias, f"{name}.bias", buffers, where)
        if tuple(b.shape) != (w.shape[0],):
            raise _bad(f"{where}: {name}.bias has shape {tuple(b.shape)}, expected ({w.shape[0]},)")
    if declared:
        for attr, dim in (("in_features", 1), ("out_features", 0)):
            val = declared.get(attr)
            if type(val) is int and val != w.shape[dim]:
                raise _bad(f"{where}: {name}.{attr} is {val} but its weight has shape {tuple(w.shape)}")
    return (name, w, b)


def _module_state(mod: _Inert, path: str, where: str) -> dict:
    state = mod.state
    if type(state) is tuple and len(state) == 2:  # (dict, slotstate)
        state = state[0]
    if type(state) not in (dict, OrderedDict):
        raise _bad(f"{where}: module {path or '<top>'} ({_show(mod.qualified_name)}) has no readable state")
    return state


def _entries(value: Any, what: str, where: str) -> list[tuple[str, Any]]:
    if value is None:
        return []
    if type(value) not in (dict, OrderedDict):
        raise _bad(f"{where}: {what} is a {type(value).__name__}, expected a dict")
    out = []
    for key, item in value.items():
        if type(key) is not str:
            raise _bad(f"{where}: {what} has a non-string key")
        out.append((key, item))
    return out


def _walk(mod: _Inert, path: str, where: str, buffers, layers: list, ignored: list, seen: set, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise _bad(f"{where}: modules nest too deeply to be a course model")
    if id(mod) in seen:
        raise _bad(f"{where}: module {path} is used twice; hubrl only rebuilds plain MLPs")
    seen.add(id(mod))
    kind = type(mod).kind
    label = path or "the top module"
    if kind == "unsupported":
        raise _bad(
            f"{where}: {label} is a {_show(mod.qualified_name)}; hubrl can only rebuild the course MLP "
            "(Linear layers with ReLU between and a softmax at the end)"
        )
    state = _module_state(mod, path, where)
    params = [(k, v) for k, v in _entries(state.get("_parameters"), f"{label}._parameters", where) if v is not None]
    buffers_ = [(k, v) for k, v in _entries(state.get("_buffers"), f"{label}._buffers", where) if v is not None]
    if buffers_:
        raise _bad(
            f"{where}: {label} has buffers ({', '.join(_show(k, 30) for k, _ in buffers_)}); "
            "hubrl can only rebuild the course MLP"
        )
    if kind == "linear":
        pdict = dict(params)
        extra = sorted(set(pdict) - {"weight", "bias"})
        if "weight" not in pdict or extra:
            raise _bad(f"{where}: Linear layer {label} should hold weight and bias, found {sorted(pdict)}")
        layers.append(_linear(path, pdict["weight"], pdict.get("bias"), buffers, where, state))
    elif params:
        raise _bad(
            f"{where}: {label} ({_show(mod.qualified_name)}) has its own parameters "
            f"({', '.join(_show(k, 30) for k, _ in params)}) outside Linear layers; hubrl cannot know how they are used"
        )
    elif kind == "tolerated":
        ignored.append((path, mod.qualified_name))
    for name, child in _entries(state.get("_modules"), f"{label}._modules", where):
        if child is None:
            continue
        if not isinstance(child, _Inert):
            raise _bad(f"{where}: submodule {_show(name, 40)} of {label} is a {type(child).__name__}")
        _walk(child, f"{path}.{name}" if path else name, where, buffers, layers, ignored, seen, depth + 1)


def _from_state_dict(top: dict, where: str, buffers) -> list:
    groups: dict[str, dict[str, Any]] = {}
    for key, value in top.items():
        if type(key) is not str or "." not in key:
            raise _bad(f"{where}: state_dict key {_show(repr(key), 40)} is not 'layer.weight' / 'layer.bias'")
        prefix, _, leaf = key.rpartition(".")
        if leaf not in ("weight", "bias"):
            raise _bad(
                f"{where}: state_dict entry {_show(key, 60)} is neither a weight nor a bias; "
                "hubrl can only rebuild the course MLP"
            )
        groups.setdefault(prefix, {})[leaf] = value
    layers = []
    for prefix, entry in groups.items():
        if "weight" not in entry:
            raise _bad(f"{where}: state_dict has {prefix}.bias but no {prefix}.weight")
        layers.append(_linear(prefix, entry["weight"], entry.get("bias"), buffers, where))
    return layers


def _to_course_model(top: Any, buffers: dict[str, bytes], serialization: str, sources: dict, where: str) -> CourseModel:
    ignored: list[tuple[str, str]] = []
    if isinstance(top, _Inert):
        layers: list = []
        _walk(top, "", where, buffers, layers, ignored, set(), 0)
        class_name: str | None = top.qualified_name
        fmt = "pickled-module"
    elif type(top) in (dict, OrderedDict) and top and all(isinstance(v, _LazyTensor) for v in top.values()):
        layers = _from_state_dict(top, where, buffers)
        class_name = None
        fmt = "state-dict"
    else:
        raise _bad(
            f"{where} holds a {type(top).__name__}, not a policy module or a state_dict of tensors; "
            "hubrl reads the course's torch.save(model) or torch.save(model.state_dict())"
        )
    if not layers:
        raise _bad(f"{where} holds no Linear layer; it is not a course policy")
    for (prev_name, prev_w, _), (name, w, _) in zip(layers, layers[1:]):
        if w.shape[1] != prev_w.shape[0]:
            raise _bad(
                f"{where}: layer {name} takes {w.shape[1]} inputs but {prev_name} gives {prev_w.shape[0]} outputs; "
                "the layers do not chain into an MLP"
            )
    return CourseModel(
        layers=layers,
        class_name=class_name,
        format=fmt,
        serialization=serialization,
        ignored_modules=tuple(ignored),
        class_source=sources.get(class_name) if class_name else None,
    )
