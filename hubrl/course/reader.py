"""Read an untrusted ``model.pt`` with torch's weights-only unpickler, inside a bounded child process.

Run as a script (``python -I reader.py MODEL OUTDIR --limits JSON``, started by :mod:`hubrl.course.model_file`), this file
sets its own resource limits first, then:

1. checks the container before anything is allocated: a zip archive must hold one ``data.pkl``, stored (not
   compressed) and unencrypted members, and no more than ``max_bytes`` in total as declared in its directory;
2. lists the globals the pickle references (``torch.serialization.get_unsafe_globals_in_checkpoint``) and classifies
   each one **by name, importing nothing**: the few torch.nn classes the rebuild understands and plain containers
   are allowed as the real classes; every other torch.nn layer, the author's own classes (whatever their module),
   and what a policy does not need (optimizers, numpy arrays and scalars...) get inert placeholder classes; anything
   else (``builtins.eval``, ``os.system``, ``torch.load``...) refuses the file as possibly malicious;
3. loads it with ``torch.load(weights_only=True)`` under ``torch.serialization.safe_globals`` with exactly those
   names, so torch's unpickler stays the gate: nothing outside that list can be looked up or called;
4. bounds the total number of elements of the tensors it will copy (stride-0 views cost nothing until copied), then
   writes what it read: the object's structure as small JSON and the tensors as float32 safetensors.

Only the standard library is imported at the top: torch is imported after the limits are in place. The parent turns
a crash, a time-out or a memory failure here into one line; this file turns every other problem into one line too.
"""

from __future__ import annotations

import io
import json
import pickletools
import struct
import sys
import zipfile
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# -- limits ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """What the child may use. Course models are a few KB; the defaults leave orders of magnitude of room.

    ``memory_bytes`` is the child's address space: importing torch and reading a course model needs 550-600 MiB of it
    (torch 2.13 CPU, Linux x86-64, OMP_NUM_THREADS=1, measured), so the default leaves over 1.4 GiB of margin.
    """

    memory_bytes: int = 2 << 30
    cpu_seconds: int = 10
    wall_seconds: float = 30.0
    """A course model reads in 2-3 s of CPU and 3-8 s of wall time on a loaded 2-core machine (most of it importing
    torch); a hostile file therefore ends within about 40 s of ``hubrl evaluate`` starting."""
    max_bytes: int = 256 << 20
    """Declared (decompressed) size of all archive members together, or the size of a legacy file."""
    max_elements: int = 32 << 20
    """Elements of all tensors the child copies out (128 MiB as float32)."""
    max_members: int = 4096
    max_output_bytes: int = 160 << 20

    def to_json(self) -> str:
        return json.dumps(asdict(self))


# -- entry point (the child process) --------------------------------------------------------------------------------

RESULT = "result.json"
TENSORS = "tensors.safetensors"


class Refusal(Exception):
    """The file is refused: ``kind`` is ``unsafe`` (it tries to call something), ``limit`` (it exceeds a limit),
    ``setup`` (the limits are too low to start) or ``format`` (anything else)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def main(argv: list[str]) -> int:
    """``reader.py MODEL OUTDIR LIMITS_JSON DISPLAY_NAME``: write OUTDIR/result.json (and tensors), exit 0."""
    model, outdir, limits_json, shown = argv
    limits = Limits(**json.loads(limits_json))
    _apply_limits(limits)
    write_answer(Path(model), shown, limits, Path(outdir))
    return 0


def write_answer(model: Path, shown: str, limits: Limits, out: Path) -> None:
    """Read ``model`` and write ``out/result.json`` (and the tensors): everything the child does after its limits.

    Every problem becomes ``{"ok": false, "kind": ..., "message": ...}``. Called in-process only by tests, on files
    that need no resource limit to end (the bounds that need the child are tested through it).
    """
    try:
        result = read_model(model, shown, limits, out / TENSORS)
    except Refusal as err:
        result = {"ok": False, "kind": err.kind, "message": str(err)}
    except MemoryError:
        result = {"ok": False, "kind": "limit", "message": f"it needs more than {limits.memory_bytes >> 20} MiB"}
    except RecursionError:
        result = {"ok": False, "kind": "limit", "message": "its objects nest too deeply"}
    except Exception as err:  # noqa: BLE001 - whatever else the file provokes is still one line for the parent
        if _file_too_large(err):  # RLIMIT_FSIZE: CPython ignores SIGXFSZ, the write fails with EFBIG instead
            size = limits.max_output_bytes
            shown_size = f"{size >> 20} MiB" if size >= 1 << 20 else f"{size >> 10} KiB"
            result = {"ok": False, "kind": "limit",
                      "message": f"it produced more output than any course model (over {shown_size} of tensors)"}
            (out / RESULT).write_text(json.dumps(result))
            return
        result = {"ok": False, "kind": "format", "message": f"{shown} could not be read ({type(err).__name__}: "
                                                            f"{_first_line(str(err))})"}
    (out / RESULT).write_text(json.dumps(result))


def _file_too_large(err: BaseException) -> bool:
    """The output limit was hit: EFBIG, raised as such or wrapped in another library's message."""
    import errno

    return getattr(err, "errno", None) == errno.EFBIG or "File too large" in str(err)


def _apply_limits(limits: Limits) -> None:
    """Lower this process's limits (never above what the parent already has); no core files from a crash."""
    import resource

    def cap(which: int, value: int, grace: int = 0) -> None:
        _, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
            resource.setrlimit(which, (value, min(value + grace, hard)))
        else:
            resource.setrlimit(which, (value, value + grace))

    cap(resource.RLIMIT_AS, limits.memory_bytes)
    cap(resource.RLIMIT_CPU, limits.cpu_seconds, grace=2)  # SIGXCPU at the soft limit, SIGKILL 2 s later
    cap(resource.RLIMIT_FSIZE, limits.max_output_bytes)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


# -- reading ---------------------------------------------------------------------------------------------------------

def read_model(path: Path, shown: str, limits: Limits, tensors_path: Path) -> dict[str, Any]:
    """Check, classify, load and export ``path``; raise :class:`Refusal` with a one-line reason otherwise."""
    serialization, pickles = check_container(path, shown, limits)
    try:
        import torch  # only now: the limits are in place
    except (ImportError, MemoryError, OSError):
        raise Refusal("setup", f"{shown} could not be read: the reader could not even import torch within its "
                               f"{limits.memory_bytes >> 20} MiB address space (raise HUBRL_COURSE_MEMORY_MB)") from None

    names = unsafe_globals(pickles, shown)
    allowed = classify(names, shown)
    obj = _torch_load(path, allowed, shown, serialization)
    tensors: dict[str, Any] = {}
    encoded = Exporter(shown).encode(obj, tensors)
    total = sum(t.numel() for t in tensors.values())
    if total > limits.max_elements:
        raise Refusal("format", f"{shown} declares {total:,} tensor elements, more than the {limits.max_elements:,} "
                                "hubrl reads; a course policy has a few thousand")
    from safetensors.torch import save_file

    save_file({key: t.detach().to(dtype=torch.float32, copy=True).contiguous() for key, t in tensors.items()},
              str(tensors_path))
    return {"ok": True, "serialization": serialization, "object": encoded}


def check_container(path: Path, shown: str, limits: Limits) -> tuple[str, list[bytes]]:
    """``("zip" | "legacy", the pickles to classify)``, judged from the bytes alone (nothing unpickled or inflated).

    Raises:
        Refusal: empty, not a torch file, a pre-0.4 tar, or an archive that breaks the member, size or layout rules.
    """
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
    if size == 0:
        raise Refusal("format", f"{shown} is empty; re-download it or ask its author for the file")
    if head.startswith(b"PK"):
        return "zip", [_check_zip(path, shown, limits)]
    if head.startswith(b"\x80\x02\x8a\x0a"):  # protocol 2, then the 10-byte legacy magic number as LONG1
        if size > limits.max_bytes:
            raise Refusal("format", f"{shown} is {size} bytes, more than the {limits.max_bytes >> 20} MiB hubrl reads")
        return "legacy", _legacy_pickles(path.read_bytes(), shown)
    if _is_tar(path):
        raise Refusal("format", f"{shown} uses the pre-0.4 PyTorch tar format; ask its author to re-save it with a "
                                "current torch")
    raise Refusal("format", f"{shown} is not a PyTorch file (neither a torch.save zip archive nor a legacy torch "
                            "pickle); check that you downloaded model.pt and not an HTML error page")


def _check_zip(path: Path, shown: str, limits: Limits) -> bytes:
    """The archive's ``data.pkl``, once its directory is known to declare only stored, bounded members."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            if len(infos) > limits.max_members:
                raise Refusal("format", f"{shown} has {len(infos)} archive members; a torch.save file has a few dozen")
            for info in infos:
                if info.flag_bits & 0x1:
                    raise Refusal("format", f"{shown} has an encrypted archive member ({printable(info.filename, 60)}); "
                                            "torch.save never writes one")
                if info.compress_type != zipfile.ZIP_STORED:
                    raise Refusal("format", f"{shown} has a compressed archive member ({printable(info.filename, 60)}); "
                                            "torch.save stores members uncompressed, so hubrl does not inflate them")
            declared = sum(info.file_size for info in infos)
            if declared > limits.max_bytes:
                raise Refusal("format", f"{shown} declares {declared:,} bytes of archive members, more than the "
                                        f"{limits.max_bytes >> 20} MiB hubrl reads")
            names = [info.filename for info in infos]
            pkls = [n for n in names if n.count("/") == 1 and n.endswith("/data.pkl")]
            prefix = pkls[0][: -len("data.pkl")] if len(pkls) == 1 else None
            if prefix is None or any(n.startswith(prefix + "code/") or n.endswith("/constants.pkl") for n in names):
                if any(n.endswith("/constants.pkl") for n in names):
                    raise Refusal("format", f"{shown} is a TorchScript archive (torch.jit.save), not a torch.save file")
                raise Refusal("format", f"{shown} is a zip archive without one torch data.pkl; not a torch.save file")
            return zf.read(pkls[0])
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as err:
        raise Refusal("format", f"{shown} looks like a zip archive but cannot be read ({printable(str(err), 80)}); it is "
                                "probably truncated: re-download it") from None


def _legacy_pickles(data: bytes, shown: str) -> list[bytes]:
    """The five pickles of the legacy stream (magic, protocol, sys_info, object, storage keys), by disassembly."""
    stream = io.BytesIO(data)
    pickles = []
    for _ in range(5):
        start = stream.tell()
        try:
            for _op in pickletools.genops(stream):
                pass
        except Exception:  # noqa: BLE001 - any malformed stream is one answer
            raise Refusal("format", f"{shown} is truncated or corrupt (a legacy torch pickle that does not parse); "
                                    "re-download it") from None
        pickles.append(data[start:stream.tell()])
    return pickles


def _is_tar(path: Path) -> bool:
    import tarfile

    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def unsafe_globals(pickles: list[bytes], shown: str) -> list[str]:
    """Every global the pickles reference that torch's weights-only unpickler does not allow by default.

    torch lists them (``get_unsafe_globals_in_checkpoint``) for an archive's ``data.pkl``; each pickle is handed to
    it inside an in-memory archive, so the legacy stream's pickles get the same answer. A pickle torch's lister
    cannot walk (protocol 0/1/4/5 opcodes) is disassembled with ``pickletools`` instead, so a payload behind such
    opcodes is still named before the file is refused.
    """
    names: set[str] = set()
    for data in pickles:
        try:
            names.update(_torch_unsafe(data))
        except Exception:  # noqa: BLE001 - opcodes torch does not read: name what it references, then refuse
            referenced = _disassembled_globals(data)
            synthetic = b"\x80\x02" + b"".join(b"c%s\n%s\n" % (m.encode(), n.encode()) for m, n in referenced) + b"N."
            try:
                unsafe = _torch_unsafe(synthetic)
            except Exception:  # noqa: BLE001 - names torch cannot even parse
                unsafe = [f"{m}.{n}" for m, n in referenced]
            refused = sorted(name for name in unsafe if category(name) == "refuse")
            if refused:
                raise _malicious(shown, refused) from None
            raise Refusal("format", f"{shown} uses pickle opcodes torch's weights-only reader does not read (it reads "
                                    "torch.save's default protocol 2); ask its author to re-save it with torch.save "
                                    "defaults") from None
    return sorted(names)


def _torch_unsafe(data: bytes) -> list[str]:
    import torch

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("archive/data.pkl", data)
        zf.writestr("archive/version", "3\n")
    buffer.seek(0)
    return torch.serialization.get_unsafe_globals_in_checkpoint(buffer)


def _disassembled_globals(data: bytes) -> set[tuple[str, str]]:
    """(module, name) of GLOBAL/INST, and of STACK_GLOBAL (the last two strings pushed), via pickletools."""
    found: set[tuple[str, str]] = set()
    strings: list[str] = []
    memo: dict[Any, str] = {}
    last_was_string = False
    try:
        for op, arg, _ in pickletools.genops(data):
            if op.name in ("GLOBAL", "INST"):
                module, _, name = str(arg).partition(" ")
                found.add((module, name))
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.add((strings[-2], strings[-1]))
            is_string = isinstance(arg, str) and ("UNICODE" in op.name or op.name.endswith("STRING"))
            if is_string:
                strings.append(arg)
            elif op.name in ("MEMOIZE", "BINPUT", "LONG_BINPUT", "PUT"):
                if last_was_string:
                    memo[len(memo) if op.name == "MEMOIZE" else arg] = strings[-1]
                is_string = last_was_string
            elif op.name in ("BINGET", "LONG_BINGET", "GET") and arg in memo:
                strings.append(memo[arg])
                is_string = True
            last_was_string = is_string
            del strings[:-2]
    except Exception:  # noqa: BLE001 - what parsed so far is what there is to name
        pass
    return {(m, n) for m, n in found if "\n" not in m + n}


# -- classifying globals by name ---------------------------------------------------------------------------------------

_NN = "torch.nn.modules."
NN_LAYERS = {
    _NN + "linear.Linear": ("Linear", "linear"),
    _NN + "linear.Identity": ("Identity", "no-op"),
    _NN + "activation.ReLU": ("ReLU", "relu"),
    _NN + "activation.Tanh": ("Tanh", "tanh"),
    _NN + "activation.Softmax": ("Softmax", "softmax"),
    _NN + "dropout.Dropout": ("Dropout", "no-op"),
    _NN + "container.Sequential": ("Sequential", "container"),
    _NN + "container.ModuleList": ("ModuleList", "container"),
    _NN + "container.ModuleDict": ("ModuleDict", "container"),
}
"""The torch.nn classes a course policy is rebuilt from, by qualified name: their ``torch.nn`` name and their role in
the rebuild (:mod:`hubrl.course.rebuild`). The one table both the reader's allow-list and the rebuild read (this
module is the child's script and imports nothing of hubrl, so the table lives here)."""
REAL_CLASSES = {name: ("torch.nn", attr) for name, (attr, _) in NN_LAYERS.items()}
"""torch.nn classes the rebuild understands, loaded as themselves (their ``__setstate__`` only fills ``__dict__``)."""

PLAIN_BUILTINS = {"dict", "list", "tuple", "frozenset", "int", "float", "str", "bool", "bytes", "object"}
"""Builtin types a module's attributes are made of; calling them on pickled arguments builds plain data."""

NUMPY_VALUES = {"ndarray", "dtype", "_reconstruct", "_frombuffer"}
"""numpy's array and dtype pickle reconstructors: inert placeholders here (scalars are decoded, see SPECIALS).

With ``torch.optim.*`` and ``torch.distributions.*``, what a policy does not need but real modules keep as
attributes; any other numpy function is refused like any callable."""


def category(name: str) -> str:
    """``real``, ``builtin``, ``placeholder``, ``special`` or ``refuse`` for one global's full name.

    Python-2 spellings (``commands.Popen``, ``__builtin__.eval``) are judged as what Python 3 maps them to.
    """
    name = py3_name(name)
    module, _, attr = name.rpartition(".")
    top = module.split(".")[0]
    if not module or (attr.startswith("__") and attr.endswith("__")):
        return "refuse"  # dunder names (``__main__.__builtins__``) are never classes
    if name in REAL_CLASSES:
        return "real"
    if module == "builtins":
        return "builtin" if attr in PLAIN_BUILTINS else "refuse"
    if name in SPECIALS:
        return "special"
    if module.startswith(_NN) and attr in _nn_layer_names():
        return "placeholder"  # harmless and named, so the rebuild can say which layer it cannot rebuild
    if name.startswith(("torch.optim.", "torch.distributions.")):
        return "placeholder"
    if top == "numpy":
        return "placeholder" if attr in NUMPY_VALUES or module == "numpy.dtypes" else "refuse"
    if top == "__main__" or not _is_installed(top):
        return "placeholder"  # the author's own class: named, never looked up
    return "refuse"


def py3_name(name: str) -> str:
    """The Python-3 name of a global (pickle's own ``_compat_pickle`` tables: ``commands.Popen`` ->
    ``subprocess.Popen``)."""
    import _compat_pickle

    module, _, attr = name.rpartition(".")
    if (module, attr) in _compat_pickle.NAME_MAPPING:
        module, attr = _compat_pickle.NAME_MAPPING[(module, attr)]
    else:
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
    return f"{module}.{attr}"


def _nn_layer_names() -> frozenset[str]:
    import torch.nn.modules as nn_modules

    return frozenset(getattr(nn_modules, "__all__", ()))


_INSTALLED: set[str] | None = None


def _is_installed(top: str) -> bool:
    """A stdlib module or the top-level package of an installed distribution (by metadata: nothing imported)."""
    global _INSTALLED
    if _INSTALLED is None:
        from importlib.metadata import packages_distributions

        _INSTALLED = {*sys.stdlib_module_names, *sys.builtin_module_names, *packages_distributions(), "hubrl",
                      "torch", "numpy", "_codecs", "copyreg"}
    return top in _INSTALLED


def classify(names: list[str], shown: str) -> list[tuple[Any, str]]:
    """The ``(object, "full.name")`` pairs for ``torch.serialization.safe_globals``, or a malicious-file refusal."""
    refused = [name for name in names if category(name) == "refuse"]
    if refused:
        raise _malicious(shown, refused)
    import builtins
    import importlib

    pairs: list[tuple[Any, str]] = []
    for name in names:  # registered under torch's spelling, looked up under Python 3's
        kind, py3 = category(name), py3_name(name)
        if kind == "real":
            module, attr = REAL_CLASSES[py3]
            pairs.append((getattr(importlib.import_module(module), attr), name))
        elif kind == "builtin":
            pairs.append((getattr(builtins, py3.rpartition(".")[2]), name))
        elif kind == "special":
            pairs.append((SPECIALS[py3], name))
        else:
            pairs.append((placeholder_class(name), name))
    return pairs


def _malicious(shown: str, names: list[str]) -> Refusal:
    """The refusal of a file that names callables a course model never holds (up to three of them, sorted)."""
    shown_names = ", ".join(printable(py3_name(name), 80) for name in sorted(names)[:3])
    return Refusal("unsafe", (
        f"refusing to load {shown}: it references {shown_names}, which a course model never contains; it may be "
        "malicious (nothing from it was run). Do not open it with torch.load; ask its author to share plain weights "
        "(a state_dict or safetensors)"
    ))


class Inert:
    """An instance of a class the file names but hubrl never looks up: it keeps what it was handed, does nothing."""

    hubrl_class = "?"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.hubrl_args = args

    def __setstate__(self, state: Any) -> None:
        self.hubrl_state = state


_PLACEHOLDERS: dict[str, type] = {}


def placeholder_class(name: str) -> type:
    """One inert class per full name, so ``type(obj).hubrl_class`` says what the file called it."""
    cls = _PLACEHOLDERS.get(name)
    if cls is None:
        short = name.rpartition(".")[2]
        cls = _PLACEHOLDERS[name] = type(short if short.isidentifier() else "Placeholder", (Inert,),
                                         {"hubrl_class": name})
    return cls


def _as_list(iterable: Any = (), maxlen: Any = None) -> list:
    """``collections.deque`` read as a plain list (torch's unpickler appends only to lists)."""
    return list(iterable) if type(iterable) in (list, tuple) else []


def _as_dict(default_factory: Any = None, *args: Any) -> dict:
    """``collections.defaultdict`` read as a plain dict (the factory is dropped: nothing will ever call it)."""
    return {}


def _reconstructor(cls: Any, base: Any, state: Any = None) -> Any:
    """``copyreg._reconstructor``: a bare instance of an allowed class, as protocol 0/1 pickles create objects."""
    if isinstance(cls, type) and base is object and state is None and (issubclass(cls, Inert) or cls in _real_set()):
        return cls.__new__(cls)
    raise TypeError("copyreg._reconstructor is used on something other than an allowed class")


_REAL: set[type] | None = None


def _real_set() -> set[type]:
    global _REAL
    if _REAL is None:
        import torch.nn as nn

        _REAL = {getattr(nn, attr) for _, attr in REAL_CLASSES.values()}
    return _REAL


_SCALAR_CODES = {"f8": "d", "f4": "f", "f2": "e", "i8": "q", "i4": "i", "i2": "h", "i1": "b", "u8": "Q", "u4": "I",
                 "u2": "H", "u1": "B", "b1": "?"}


def _numpy_scalar(dtype: Any = None, data: Any = b"") -> Any:
    """A numpy scalar (``std_reward`` in a checkpoint dict) as a Python number, decoded with struct; else inert."""
    args = getattr(dtype, "hubrl_args", ()) if isinstance(dtype, Inert) else ()
    state = getattr(dtype, "hubrl_state", None)
    code = _SCALAR_CODES.get(args[0]) if args and type(args[0]) is str else None
    order = ">" if type(state) is tuple and len(state) > 1 and state[1] == ">" else "<"
    if code and type(data) is bytes and len(data) == struct.calcsize(code):
        return struct.unpack(order + code, data)[0]
    return placeholder_class("numpy.generic")()


SPECIALS = {
    "numpy.core.multiarray.scalar": _numpy_scalar,
    "numpy._core.multiarray.scalar": _numpy_scalar,
    "collections.deque": _as_list,
    "collections.defaultdict": _as_dict,
    "copyreg._reconstructor": _reconstructor,
}


# -- loading -------------------------------------------------------------------------------------------------------

def _torch_load(path: Path, allowed: list[tuple[Any, str]], shown: str, serialization: str) -> Any:
    import pickle
    import warnings

    import torch

    try:
        with torch.serialization.safe_globals(allowed), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Refusal:
        raise
    except MemoryError:
        raise
    except RecursionError:
        raise
    except pickle.UnpicklingError as err:
        raise _unpickling_refusal(err, shown, serialization) from None
    except RuntimeError as err:
        text = str(err)
        if "alloc" in text.lower() and "memory" in text.lower():
            raise MemoryError from None
        raise Refusal("format", f"{shown} is corrupt or not a torch.save file ({_first_line(text)})") from None
    except Exception as err:  # noqa: BLE001 - anything else the file provokes is a malformed file
        raise Refusal("format", f"{shown} is corrupt or not a torch.save file ({type(err).__name__}: "
                                f"{_first_line(str(err))})") from None


def _unpickling_refusal(err: Exception, shown: str, serialization: str) -> Refusal:
    """torch's one-paragraph refusal as one line: an attempt to call something is unsafe, the rest is format."""
    text = str(err).split("WeightsUnpickler error:")[-1].strip()
    if "persistent_load of storage" in text and serialization == "legacy":
        return Refusal("format", f"{shown} is a whole module saved in torch's legacy (pre-1.6) format, which torch's "
                                 "weights-only reader cannot open; ask its author to re-save it with a current torch "
                                 "(torch.save(model.state_dict(), 'model.pt'))")
    if "Unsupported global" in text:
        return _malicious(shown, [text.split("GLOBAL ", 1)[-1].split(" ", 1)[0]])
    if text.startswith(("Trying to call reduce", "Can only create new object")) or "persistent_load" in text:
        return Refusal("unsafe", f"refusing to load {shown}: it tries to call something that is not an allowed class "
                                 f"({_first_line(text, 80)}); it may be malicious (nothing from it was run)")
    return Refusal("format", f"{shown} is corrupt or not a torch.save file ({_first_line(text)}); re-download it")


# -- exporting what was read ---------------------------------------------------------------------------------------------

class Exporter:
    """The loaded object as JSON-able data: modules, string-keyed dicts, tensors (by key), scalars, named stand-ins.

    Walks at most :attr:`max_depth` deep and :attr:`max_nodes` objects, never calling ``repr``/``hash``/``==`` on
    anything from the file (a memo-shared tuple DAG makes those exponential).
    """

    max_depth = 64
    max_nodes = 20000

    def __init__(self, shown: str) -> None:
        self.shown = shown
        self.nodes = 0
        self.tensor_keys: dict[int, str] = {}

    def encode(self, obj: Any, tensors: dict[str, Any], depth: int = 0) -> Any:
        import torch

        self.nodes += 1
        if depth > self.max_depth or self.nodes > self.max_nodes:
            raise Refusal("format", f"{self.shown} nests more objects than any course model (over {self.max_depth} "
                                    f"deep or {self.max_nodes} objects)")
        kind = type(obj)
        if kind in (torch.Tensor, torch.nn.Parameter):
            return {"tensor": self._tensor(obj, tensors)}
        if obj is None or kind in (bool, int, float) or (kind is str and len(obj) <= 200):
            return {"scalar": obj if kind is not int or abs(obj) < 2**53 else float(obj)}
        if kind in (dict, OrderedDict):
            return {"dict": [[key, self.encode(value, tensors, depth + 1)] for key, value in obj.items()
                             if type(key) is str and len(key) <= 200],
                    "other_keys": sum(1 for key in obj if type(key) is not str or len(key) > 200)}
        if isinstance(obj, Inert):
            name, state = kind.hubrl_class, getattr(obj, "hubrl_state", None)
        else:
            name, state = f"{kind.__module__}.{kind.__qualname__}", obj.__dict__ if kind in _real_set() else None
        if type(state) is dict and type(state.get("_modules")) in (dict, OrderedDict):
            return self._module(name, state, tensors, depth)
        return {"inert": name}

    def _module(self, name: str, state: dict, tensors: dict[str, Any], depth: int) -> dict[str, Any]:
        import torch

        def entries(key: str) -> list:
            value = state.get(key)
            if value is None:
                return []
            if type(value) not in (dict, OrderedDict):
                raise Refusal("format", f"{self.shown}: a module's {key} is not a dict; the file is corrupt")
            return [(k, v) for k, v in value.items() if v is not None]

        params = {}
        for key, value in [*entries("_parameters"), *entries("_buffers")]:
            if type(key) is not str or type(value) not in (torch.Tensor, torch.nn.Parameter):
                raise Refusal("format", f"{self.shown}: a module parameter is not a named tensor; the file is corrupt")
            params[key] = self._tensor(value, tensors)
        children = []
        for key, child in entries("_modules"):
            if type(key) is not str:
                raise Refusal("format", f"{self.shown}: a submodule has a non-string name; the file is corrupt")
            self.nodes += 1
            encoded = self.encode(child, tensors, depth + 1)
            if "module" not in encoded:
                raise Refusal("format", f"{self.shown}: submodule {printable(key, 40)} is not a module")
            children.append([key, encoded])
        attrs = {key: value for key, value in state.items()
                 if type(key) is str and not key.startswith("_") and key != "training"
                 and (type(value) in (bool, int, float) and (type(value) is not int or abs(value) < 2**53)
                      or type(value) is str and len(value) <= 200)}
        return {"module": name, "params": params, "children": children, "attrs": attrs}

    def _tensor(self, tensor: Any, tensors: dict[str, Any]) -> str:
        import torch

        key = self.tensor_keys.get(id(tensor))
        if key is not None:
            return key
        if tensor.layout != torch.strided or tensor.is_quantized or tensor.device.type != "cpu" or tensor.is_complex():
            raise Refusal("format", f"{self.shown} holds a {tensor.layout} {tensor.dtype} tensor on {tensor.device}; "
                                    "course weights are dense real tensors")
        if tensor.dim() > 8:
            raise Refusal("format", f"{self.shown} holds a {tensor.dim()}-D tensor; course weights are 1-D or 2-D")
        key = self.tensor_keys[id(tensor)] = f"t{len(tensors)}"
        tensors[key] = tensor
        return key


def _first_line(text: str, limit: int = 120) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return printable(lines[0] if lines else "no detail", limit)


def printable(text: str, limit: int = 120) -> str:
    """Text from someone else's file, printable on one line."""
    text = "".join(ch if ch.isprintable() else "?" for ch in str(text))
    return text if len(text) <= limit else text[: limit - 3] + "..."


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
