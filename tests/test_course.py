"""hubrl.course: reading classmates' course-notebook model.pt files without executing them.

Every file here is real: written by torch.save exactly as the notebook writes it, or (for crafted attacks that
torch.save cannot produce) a hand-written pickle inside a torch-layout zip archive. Loads run the reader's own code in
this process (``reader_in_this_process``), except in tests marked ``child``: a whole notebook module, a malicious file
and a non-torch file go through the real bounded child, one per kind of answer it gives (tests/test_course_hostile.py
has the crash and limit kinds). The reader's steps are also tested on their own: the container check on bytes and
the classification of globals by name.
"""

from __future__ import annotations

import builtins
import collections
import functools
import io
import os
import pickle
import subprocess
import sys
import warnings
import zipfile

import numpy as np
import pytest
import torch
import torch.nn as nn
from course_fixtures import (
    PROTO2,
    ReducePayload,
    archive,
    as_notebook_class,
    class_in_main,
    class_in_module,
    floats,
    g,
    make_course_model,
    make_course_model_pt,
    make_course_state_dict_pt,
    make_malicious_model_pt,
    make_model_pt_with_payload,
    plain_torch_load,
    read_in_this_process,
    reader_in_this_process,  # noqa: F401 - the autouse fixture: reads in-process unless a test is marked child
    s,
    save_like_notebook,
    state_dict_pickle,
    tensor_op,
    tup,
)

from hubrl.course import RebuiltPolicy, load_course_model, model_file, read_model_file, reader
from hubrl.course.reader import Limits, Refusal, category, check_container, classify, unsafe_globals
from hubrl.errors import AgentFormatError, HubrlError, UnsafePickleError


def assert_same_weights(rebuilt: RebuiltPolicy, model: nn.Module) -> None:
    """The rebuilt tensors are the model's Linear layers, in registration order, as float32."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(rebuilt.tensors) == 2 * len(linears)
    for k, linear in enumerate(linears):
        weight, bias = rebuilt.tensors[f"net.{2 * k}.weight"], rebuilt.tensors[f"net.{2 * k}.bias"]
        assert weight.dtype == np.float32 and bias.dtype == np.float32
        np.testing.assert_array_equal(weight, linear.weight.detach().float().numpy())
        expected_bias = linear.bias.detach().float().numpy() if linear.bias is not None else np.zeros(weight.shape[0])
        np.testing.assert_array_equal(bias, expected_bias)


# ------------------------------------------------------------------------------------------------------------
# Legitimate files
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.child
def test_cartpole_notebook_model_loads_exactly(tmp_path):
    path = tmp_path / "model.pt"
    model = make_course_model_pt(path, 4, 2, 16)
    assert not hasattr(sys.modules["__main__"], "Policy")  # the fixture cleaned up: loader cannot use it
    rebuilt = load_course_model(path)
    assert (rebuilt.obs_dim, rebuilt.n_actions, rebuilt.hidden_sizes, rebuilt.activation) == (4, 2, (16,), "relu")
    assert_same_weights(rebuilt, model)
    tree = read_model_file(path)
    assert tree.class_name == "__main__.Policy" and [name for name, _ in tree.children] == ["fc1", "fc2"]


def test_pixelcopter_notebook_model_loads_exactly(tmp_path):
    path = tmp_path / "model.pt"
    model = make_course_model_pt(path, 7, 2, 64, two_hidden=True, seed=3)
    rebuilt = load_course_model(path)
    assert (rebuilt.obs_dim, rebuilt.n_actions, rebuilt.hidden_sizes) == (7, 2, (64, 128))
    assert_same_weights(rebuilt, model)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_state_dict_file_loads(tmp_path, legacy):
    path = tmp_path / "model.pt"
    model = make_course_state_dict_pt(path, 7, 2, 8, two_hidden=True, legacy=legacy)
    rebuilt = load_course_model(path)
    assert rebuilt.hidden_sizes == (8, 16)
    assert_same_weights(rebuilt, model)


def test_legacy_whole_module_is_refused_with_what_to_do(tmp_path):
    """torch's weights-only unpickler cannot open a legacy-format whole module (its class is a persistent id)."""
    path = tmp_path / "model.pt"
    make_course_model_pt(path, 4, 2, 16, legacy=True)
    with pytest.raises(AgentFormatError, match=r"legacy \(pre-1\.6\) format.*state_dict") as err:
        load_course_model(path)
    assert "malicious" not in str(err.value)


_NOTEBOOK_SCRIPT = """
import sys, torch, torch.nn as nn, torch.nn.functional as F
class Policy(nn.Module):
    def __init__(self, s_size, a_size, h_size):
        super().__init__()
        self.fc1 = nn.Linear(s_size, h_size)
        self.fc2 = nn.Linear(h_size, a_size)
    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = self.fc2(x)
        return F.softmax(x, dim=1)
torch.manual_seed(1)
policy = Policy(4, 2, 16)
torch.save(policy, sys.argv[1])
torch.save(policy.state_dict(), sys.argv[2])
"""


def test_files_from_a_real_notebook_process(tmp_path):
    """A separate interpreter defines Policy in its real __main__ and saves, as the notebook does."""
    paths = [tmp_path / "zip.pt", tmp_path / "weights.pt"]
    script = tmp_path / "notebook.py"
    script.write_text(_NOTEBOOK_SCRIPT)
    subprocess.run([sys.executable, str(script), *map(str, paths)], check=True, timeout=120, capture_output=True)
    module, weights = (load_course_model(p) for p in paths)
    reference = torch.load(paths[1], weights_only=True)
    for rebuilt in (module, weights):
        assert (rebuilt.obs_dim, rebuilt.n_actions, rebuilt.hidden_sizes) == (4, 2, (16,))
        np.testing.assert_array_equal(rebuilt.tensors["net.2.weight"], reference["fc2.weight"].numpy())


def test_loader_never_uses_the_real_main_class(tmp_path):
    """Even when __main__ has a Policy (here a booby-trapped one), nothing of it is used: classes are classified by
    name and never looked up, so not even the reader's code run in this process (where the trap is) touches it."""
    path = tmp_path / "model.pt"
    make_course_model_pt(path, 4, 2, 16)
    marker = tmp_path / "main-class-used"

    class Trap:
        def __new__(cls, *a, **k):
            marker.write_text("constructed")
            return object.__new__(cls)

        def __setstate__(self, state):
            marker.write_text("setstate")

    as_notebook_class(Trap)
    assert model_file._run_reader is read_in_this_process  # the reader's code runs here, next to the trap
    sys.modules["__main__"].Policy = Trap
    try:
        load_course_model(path)
    finally:
        del sys.modules["__main__"].Policy
    assert not marker.exists()


def test_state_dict_with_shared_storage_and_strides(tmp_path):
    """Views into one storage (offsets) and a transposed (non-contiguous) weight are rebuilt exactly."""
    big = torch.randn(200)
    sd = {"fc1.weight": torch.randn(4, 16).t(), "fc1.bias": big[10:26], "fc2.weight": big[40:72].view(2, 16),
          "fc2.bias": big[100:102]}
    path = tmp_path / "sd.pt"
    torch.save(sd, path)
    rebuilt = load_course_model(path)
    for k, key in enumerate(["fc1", "fc2"]):
        np.testing.assert_array_equal(rebuilt.tensors[f"net.{2 * k}.weight"], sd[f"{key}.weight"].numpy())
        np.testing.assert_array_equal(rebuilt.tensors[f"net.{2 * k}.bias"], sd[f"{key}.bias"].numpy())


def test_cuda_saved_storages_load_on_cpu(tmp_path, monkeypatch):
    """A file written on a GPU machine records location 'cuda:0' for each storage; it must load on CPU."""
    path = tmp_path / "model.pt"
    monkeypatch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
    model = make_course_model_pt(path, 4, 2, 16)
    monkeypatch.undo()
    with zipfile.ZipFile(path) as zf:
        pkl = zf.read(next(n for n in zf.namelist() if n.endswith("/data.pkl")))
    assert b"cuda:0" in pkl and b"cpu" not in pkl
    assert_same_weights(load_course_model(path), model)


def test_big_endian_archive(tmp_path):
    """Archives written on big-endian machines say so in 'byteorder'; torch swaps."""
    src = tmp_path / "little.pt"
    model = make_course_state_dict_pt(src, 4, 2, 16)
    dst = tmp_path / "big.pt"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith("/byteorder"):
                data = b"big"
            elif "/data/" in info.filename:  # float32 records
                data = b"".join(data[k : k + 4][::-1] for k in range(0, len(data), 4))
            zout.writestr(info, data)
    assert_same_weights(load_course_model(dst), model)


class _Keeper(nn.Module):
    """What real students saved: the policy with its optimizer, a replay deque, numpy arrays and a device."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 16)
        self.fc2 = nn.Linear(16, 2)
        self.optimizer = torch.optim.Adam(self.parameters(), lr=1e-2)
        self.memory = collections.deque([1.0, 2.0], maxlen=100)
        self.scores = np.arange(5.0)
        self.best = np.float64(487.5)
        self.device = torch.device("cpu")
        self.h_size = 16


def test_attributes_a_policy_does_not_need_load_inertly(tmp_path):
    model = _Keeper()
    loss = model.fc2(torch.relu(model.fc1(torch.randn(3, 4)))).sum()
    loss.backward()
    model.optimizer.step()  # optimizer state with tensors
    path = tmp_path / "model.pt"
    with class_in_main(as_notebook_class(type(model))):
        torch.save(model, path)
    tree = read_model_file(path)
    assert tree.attrs["h_size"] == 16
    assert_same_weights(load_course_model(path), model)


@pytest.mark.parametrize("module_name", ["lib.reinforce", "REINFORCE", "agents.policy_gradient.v2"])
def test_class_in_the_authors_own_module(tmp_path, module_name):
    class Policy(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(4, 8)
            self.fc2 = nn.Linear(8, 2)

    Policy.__name__ = Policy.__qualname__ = module_name.rpartition(".")[2] if module_name == "REINFORCE" else "Policy"
    model = Policy()
    path = tmp_path / "model.pt"
    with class_in_module(Policy, module_name):
        torch.save(model, path)
    assert read_model_file(path).class_name == f"{module_name}.{Policy.__name__}"
    assert_same_weights(load_course_model(path), model)


def test_checkpoint_dict_with_scalars(tmp_path):
    model = make_course_model(4, 2, 16, seed=4)
    path = tmp_path / "model.pt"
    torch.save({"state_dict": model.state_dict(), "std_reward": np.float64(12.5), "episode": 900}, path)
    assert read_model_file(path)["std_reward"] == 12.5
    assert_same_weights(load_course_model(path), model)


# ------------------------------------------------------------------------------------------------------------
# Malicious files
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("legacy", [pytest.param(False, marks=pytest.mark.child), True], ids=["zip", "legacy"])
def test_malicious_model_is_refused_and_nothing_runs(tmp_path, legacy):
    path = tmp_path / "model.pt"
    marker = tmp_path / "pwned"
    make_malicious_model_pt(path, marker, legacy=legacy)

    with pytest.raises(UnsafePickleError, match=r"io\.open") as err:
        load_course_model(path, display_name="alice/Reinforce-CartPole-v1/model.pt")
    assert not marker.exists()
    assert str(err.value).startswith("refusing to load alice/Reinforce-CartPole-v1/model.pt: it references io.open")
    assert "\n" not in str(err.value)
    assert isinstance(err.value, HubrlError)

    # Sanity: the file really is malicious; the classmate's plain torch.load runs the payload.
    plain_torch_load(path)
    assert marker.exists()


@pytest.mark.parametrize(
    ("func", "args", "shown"),
    [
        (os.system, ("echo never-run",), "posix.system" if os.name == "posix" else "nt.system"),
        (builtins.eval, ("1+1",), "builtins.eval"),
        (builtins.exec, ("pass",), "builtins.exec"),
        (builtins.getattr, (0, "real"), "builtins.getattr"),
        (builtins.__import__, ("os",), "builtins.__import__"),
        (subprocess.Popen, (["true"],), "subprocess.Popen"),
        (functools.partial, (print,), "functools.partial"),
        (torch.load, ("x.pt",), "torch.serialization.load"),
        (torch.hub.load, ("repo", "model"), "torch.hub.load"),
        (torch.manual_seed, (0,), "torch.random.manual_seed"),
        (pickle.loads, (b".",), "pickle.loads"),
    ],
    ids=lambda v: getattr(v, "__name__", None) if callable(v) else None,
)
def test_non_allowlisted_globals_are_refused(tmp_path, func, args, shown):
    path = tmp_path / "model.pt"
    make_model_pt_with_payload(path, func, args)
    with pytest.raises(UnsafePickleError) as err:
        load_course_model(path)
    assert shown in str(err.value)
    assert "may be malicious" in str(err.value)


def test_crafted_archive_writer_is_valid(tmp_path):
    """The hand-written pickles below are well-formed: this one loads, in hubrl and in torch."""
    pkl = state_dict_pickle({"fc1.weight": tensor_op("0", 6, (3, 2), (2, 1)), "fc2.weight": tensor_op("0", 6, (1, 3), (1, 1), 3)})
    path = archive(tmp_path / "ok.pt", pkl, {"0": floats(range(6))})
    rebuilt = load_course_model(path)
    assert rebuilt.tensors["net.0.weight"].tolist() == [[0, 1], [2, 3], [4, 5]]
    assert rebuilt.tensors["net.2.weight"].tolist() == [[3, 4, 5]] and rebuilt.tensors["net.2.bias"].tolist() == [0]
    np.testing.assert_array_equal(torch.load(path, weights_only=True)["fc2.weight"].numpy(),
                                  rebuilt.tensors["net.2.weight"])


@pytest.mark.parametrize(
    ("pkl", "error", "shown"),
    [
        # proto-4 STACK_GLOBAL form of os.system: torch's reader refuses the opcodes, the payload is still named
        (b"\x80\x04\x8c\x02os\x8c\x06system\x93\x8c\x04echo\x85R.", UnsafePickleError, "os.system"),
        # Python-2 spellings are normalised before the check
        (PROTO2 + g("__builtin__", "eval") + tup(s("1")) + b"R.", UnsafePickleError, "builtins.eval"),
        (PROTO2 + g("commands", "Popen") + tup(s("true")) + b"R.", UnsafePickleError, "subprocess.Popen"),
        # __main__ dunder names are not classes
        (PROTO2 + g("__main__", "__builtins__") + b".", UnsafePickleError, "__main__.__builtins__"),
        # torch.nn internals that are not layer classes
        (PROTO2 + g("torch.nn.modules.module", "_global_forward_hooks") + b".", UnsafePickleError,
         "torch.nn.modules.module._global_forward_hooks"),
        # calling something that is not a global at all (a storage type)
        (PROTO2 + g("torch", "FloatStorage") + b")R.", AgentFormatError, "corrupt"),
        # BUILD (__setstate__) on a list, APPEND on a dict: torch's unpickler refuses both
        (PROTO2 + b"]}b.", AgentFormatError, "corrupt"),
        (PROTO2 + b"}Na.", AgentFormatError, "corrupt"),
        # copyreg extension registry: an opcode torch does not read
        (PROTO2 + b"\x82\x01.", AgentFormatError, "opcodes"),
        # a persistent id that is not a storage
        (PROTO2 + tup(s("module"), s("x")) + b"Q.", UnsafePickleError, "tries to call"),
    ],
    ids=["stack-global", "py2-eval", "py2-popen", "main-dunder", "nn-internal", "reduce-noncallable",
         "build-list", "append-dict", "ext", "persid-module"],
)
def test_crafted_attacks_are_refused(tmp_path, pkl, error, shown):
    path = archive(tmp_path / "model.pt", pkl, {"0": floats([1, 2, 3, 4])})
    with pytest.raises(error) as err:
        load_course_model(path)
    assert shown in str(err.value) and "\n" not in str(err.value)


def test_tensor_pointing_outside_its_storage_is_refused(tmp_path):
    pkl = state_dict_pickle({"fc1.weight": tensor_op("0", 8, (4, 4), (4, 1))})
    path = archive(tmp_path / "model.pt", pkl, {"0": floats(range(8))})
    with pytest.raises(AgentFormatError, match="corrupt or not a torch.save file"):
        load_course_model(path)


def test_missing_tensor_record_is_refused(tmp_path):
    pkl = state_dict_pickle({"fc1.weight": tensor_op("7", 4, (2, 2), (2, 1))})
    path = archive(tmp_path / "model.pt", pkl, {"0": floats(range(4))})
    with pytest.raises(AgentFormatError, match="corrupt or not a torch.save file"):
        load_course_model(path)


# ------------------------------------------------------------------------------------------------------------
# Files that are harmless but not a course MLP, and broken files
# ------------------------------------------------------------------------------------------------------------


def test_unsupported_layer_is_a_format_error(tmp_path):
    class Policy(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(4, 8)
            self.conv = nn.Conv1d(1, 1, 1)
            self.fc2 = nn.Linear(8, 2)

    as_notebook_class(Policy)
    path = tmp_path / "model.pt"
    save_like_notebook(Policy(), path)
    with pytest.raises(AgentFormatError, match=r"conv is a torch\.nn\.modules\.conv\.Conv1d") as err:
        load_course_model(path)
    assert "malicious" not in str(err.value)


def test_unsupported_layer_does_not_hide_a_malicious_payload(tmp_path):
    class Policy(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(1, 1, 1)

    as_notebook_class(Policy)
    model = Policy()
    model.payload = ReducePayload(os.system, ("echo never-run",))
    path = tmp_path / "model.pt"
    save_like_notebook(model, path)
    with pytest.raises(UnsafePickleError, match="system"):
        load_course_model(path)


def test_raw_parameter_outside_linear_is_a_format_error(tmp_path):
    class Policy(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(4, 2)
            self.temperature = nn.Parameter(torch.ones(1))

    as_notebook_class(Policy)
    path = tmp_path / "model.pt"
    save_like_notebook(Policy(), path)
    with pytest.raises(AgentFormatError, match="temperature"):
        load_course_model(path)


@pytest.mark.parametrize(
    ("obj", "match"),
    [
        ({"fc1.weight": torch.randn(16, 4), "fc1.bias": torch.randn(16), "fc2.weight": torch.randn(2, 8)},
         "fc2 takes 8 inputs but fc1 gives 16"),
        (nn.Sequential(nn.ReLU()), "no Linear layer"),
        ({"fc1.weight": torch.full((2, 4), float("nan"))}, "NaN"),
        ({"episode": 3, "scores": [1.0, 2.0]}, "neither a state_dict of tensors nor a checkpoint"),
    ],
    ids=["no-chain", "no-linear", "nan", "other-dict"],
)
def test_harmless_files_that_are_not_a_course_mlp(tmp_path, obj, match):
    path = tmp_path / "model.pt"
    torch.save(obj, path)
    with pytest.raises(AgentFormatError, match=match) as err:
        load_course_model(path)
    assert "malicious" not in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "empty"),
        pytest.param(b"<!DOCTYPE html><html>404</html>", "not a PyTorch file", marks=pytest.mark.child),
        (bytes(range(256)) * 4, "not a PyTorch file"),
        (pickle.dumps({"a": 1}, protocol=2), "not a PyTorch file"),
        (b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.\x80\x02M\xe9\x03.", "truncated or corrupt"),
    ],
    ids=["empty", "html", "garbage", "plain-pickle", "truncated-legacy"],
)
def test_garbage_files_are_format_errors(tmp_path, content, match):
    path = tmp_path / "model.pt"
    path.write_bytes(content)
    with pytest.raises(AgentFormatError, match=match):
        load_course_model(path)


@pytest.mark.parametrize("keep", [0.3, 0.9], ids=["cut-early", "cut-late"])
def test_truncated_zip_is_a_format_error(tmp_path, keep):
    src = tmp_path / "full.pt"
    make_course_model_pt(src, 4, 2, 16)
    data = src.read_bytes()
    path = tmp_path / "model.pt"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(AgentFormatError, match="truncated"):
        load_course_model(path)


def test_torchscript_archive_is_named(tmp_path):
    path = tmp_path / "model.pt"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("model/data.pkl", PROTO2 + b"N.")
        zf.writestr("model/constants.pkl", PROTO2 + b").")
        zf.writestr("model/code/__torch__.py", "class Policy(Module): ...\n")
    with pytest.raises(AgentFormatError, match="TorchScript"):
        load_course_model(path)


@pytest.mark.parametrize("proto", [1, 4])
def test_other_pickle_protocols_say_what_to_do(tmp_path, proto):
    """torch's weights-only unpickler reads torch.save's default protocol 2 (and 3); others get one line."""
    model = make_course_model(4, 2, 16)
    path = tmp_path / "model.pt"
    with class_in_main(type(model)), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.save(model, path, pickle_protocol=proto)
    with pytest.raises(AgentFormatError, match="re-save it with torch.save defaults"):
        load_course_model(path)


def test_protocol_3_loads(tmp_path):
    model = make_course_model(4, 2, 16)
    path = tmp_path / "model.pt"
    with class_in_main(type(model)):
        torch.save(model, path, pickle_protocol=3)
    assert_same_weights(load_course_model(path), model)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_course_model(tmp_path / "nope.pt")


@pytest.mark.parametrize("depth, width, match", [(70, 1, "over 64 deep"), (1, 20_001, "20000 objects")],
                         ids=["deep", "wide"])
def test_what_the_reader_walks_is_bounded(tmp_path, depth, width, match):
    """The exporter walks at most 64 levels and 20,000 objects, whatever the file nests."""
    obj: dict = {f"k{k}": 1.0 for k in range(width)}
    for _ in range(depth):
        obj = {"fc": obj}
    path = tmp_path / "model.pt"
    torch.save(obj, path)
    with pytest.raises(AgentFormatError, match=f"nests more objects than any course model.*{match}"):
        load_course_model(path)


# ------------------------------------------------------------------------------------------------------------
# The reader's steps on their own: the container judged from its bytes, the globals classified by their names
# ------------------------------------------------------------------------------------------------------------


def _zip(path, members: dict[str, bytes], compress: int = zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compress) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _encrypted(path):
    _zip(path, {"archive/data.pkl": PROTO2 + b"N.", "archive/version": b"3\n"})
    data = bytearray(path.read_bytes())
    data[data.index(b"PK\x03\x04") + 6] |= 0x1
    data[data.index(b"PK\x01\x02") + 8] |= 0x1
    path.write_bytes(bytes(data))


def _tar(path):
    import tarfile

    with tarfile.open(path, "w") as tf:
        info = tarfile.TarInfo("sys_info")
        info.size = 4
        tf.addfile(info, io.BytesIO(b"abcd"))


PKL = {"archive/data.pkl": PROTO2 + b"N.", "archive/version": b"3\n"}
CONTAINERS = {
    "empty": (lambda p: p.write_bytes(b""), "is empty"),
    "html": (lambda p: p.write_bytes(b"<html>404</html>"), "is not a PyTorch file"),
    "tar": (_tar, "pre-0.4 PyTorch tar format"),
    "legacy-too-large": (lambda p: p.write_bytes(b"\x80\x02\x8a\x0a" + bytes(3 << 20)), "more than the 2 MiB"),
    "legacy-truncated": (lambda p: p.write_bytes(b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19."), "truncated or corrupt"),
    "encrypted": (_encrypted, r"encrypted archive member \(archive/data.pkl\)"),
    "compressed": (lambda p: _zip(p, PKL, zipfile.ZIP_DEFLATED), "compressed archive member"),
    "too-many-members": (lambda p: _zip(p, {**PKL, **{f"archive/data/{k}": b"" for k in range(5)}}),
                         "has 7 archive members"),
    "declared-too-large": (lambda p: _zip(p, {**PKL, "archive/data/0": bytes(3 << 20)}), "declares 3,145,7"),
    "torchscript": (lambda p: _zip(p, {**PKL, "archive/constants.pkl": PROTO2 + b")."}), "TorchScript"),
    "no-data-pkl": (lambda p: _zip(p, {"archive/version": b"3\n"}), "without one torch data.pkl"),
    "two-data-pkl": (lambda p: _zip(p, {**PKL, "other/data.pkl": PROTO2 + b"N."}), "without one torch data.pkl"),
    "nested-data-pkl": (lambda p: _zip(p, {"a/b/data.pkl": PROTO2 + b"N."}), "without one torch data.pkl"),
    "code-beside-data-pkl": (lambda p: _zip(p, {**PKL, "archive/code/x.py": b""}), "without one torch data.pkl"),
    "truncated-zip": (lambda p: p.write_bytes(_zip(p, PKL).read_bytes()[:60]), "probably truncated"),
}


@pytest.mark.parametrize("name", list(CONTAINERS))
def test_container_is_judged_before_anything_is_unpickled(tmp_path, name):
    write, match = CONTAINERS[name]
    path = tmp_path / "model.pt"
    write(path)
    limits = Limits(max_bytes=2 << 20, max_members=6)
    with pytest.raises(Refusal, match=match) as err:
        check_container(path, "bob/x/model.pt", limits)
    assert err.value.kind == "format" and str(err.value).startswith("bob/x/model.pt") and "\n" not in str(err.value)


def test_container_hands_over_the_pickles(tmp_path):
    zip_path, legacy_path = tmp_path / "zip.pt", tmp_path / "legacy.pt"
    make_course_model_pt(zip_path, 4, 2, 16)
    make_course_state_dict_pt(legacy_path, 4, 2, 16, legacy=True)
    serialization, pickles = check_container(zip_path, "z", Limits())
    with zipfile.ZipFile(zip_path) as zf:
        assert (serialization, pickles) == ("zip", [zf.read(next(n for n in zf.namelist() if n.endswith("data.pkl")))])
    serialization, pickles = check_container(legacy_path, "l", Limits())
    assert serialization == "legacy" and len(pickles) == 5  # magic, protocol, sys_info, object, storage keys
    assert legacy_path.read_bytes().startswith(b"".join(pickles))  # then the raw storages
    assert unsafe_globals(check_container(zip_path, "z", Limits())[1], "z") == ["__main__.Policy",
                                                                                "torch.nn.modules.linear.Linear"]
    assert unsafe_globals(pickles, "l") == []  # a legacy state_dict needs nothing beyond torch's own allowlist


@pytest.mark.parametrize(("name", "kind"), [
    ("torch.nn.modules.linear.Linear", "real"),
    ("torch.nn.modules.container.Sequential", "real"),
    ("torch.nn.modules.activation.Softmax", "real"),
    ("builtins.dict", "builtin"),
    ("__builtin__.set", "refuse"),
    ("builtins.eval", "refuse"),
    ("__builtin__.eval", "refuse"),  # Python 2 spellings are judged as what Python 3 maps them to
    ("commands.Popen", "refuse"),
    ("copy_reg._reconstructor", "special"),
    ("collections.deque", "special"),
    ("numpy.core.multiarray.scalar", "special"),
    ("numpy._core.multiarray.scalar", "special"),
    ("torch.nn.modules.conv.Conv1d", "placeholder"),
    ("torch.nn.modules.linear.NotALayer", "refuse"),
    ("torch.nn.modules.module._global_forward_hooks", "refuse"),
    ("torch.optim.adam.Adam", "placeholder"),
    ("torch.distributions.categorical.Categorical", "placeholder"),
    ("numpy.core.multiarray._reconstruct", "placeholder"),
    ("numpy.dtype", "placeholder"),
    ("numpy.dtypes.Float64DType", "placeholder"),
    ("numpy.load", "refuse"),
    ("numpy.testing.measure", "refuse"),
    ("__main__.Policy", "placeholder"),
    ("__main__.__builtins__", "refuse"),
    ("lib.reinforce.Policy", "placeholder"),  # the author's own module: not installed here, so never looked up
    ("REINFORCE.REINFORCE", "placeholder"),
    ("os.system", "refuse"),
    ("posix.system", "refuse"),
    ("subprocess.Popen", "refuse"),
    ("functools.partial", "refuse"),
    ("pickle.loads", "refuse"),
    ("torch.serialization.load", "refuse"),
    ("torch.hub.load", "refuse"),
    ("hubrl.course.reader.Inert", "refuse"),
    ("gymnasium.spaces.Box", "refuse"),  # installed packages are never placeholders: their names are callables
    ("Policy", "refuse"),
], ids=str)
def test_globals_are_classified_by_name(name, kind):
    assert category(name) == kind


def test_classify_hands_torch_the_real_classes_and_inert_placeholders():
    pairs = classify(["torch.nn.modules.linear.Linear", "builtins.dict", "__main__.Policy", "torch.optim.adam.Adam",
                      "collections.deque"], "m.pt")
    objects = dict((name, obj) for obj, name in pairs)
    assert objects["torch.nn.modules.linear.Linear"] is nn.Linear and objects["builtins.dict"] is dict
    assert objects["collections.deque"] is reader.SPECIALS["collections.deque"]
    for name in ("__main__.Policy", "torch.optim.adam.Adam"):
        assert issubclass(objects[name], reader.Inert) and objects[name].hubrl_class == name
        assert objects[name] is reader.placeholder_class(name)  # one class per name
    assert sys.modules["__main__"].__dict__.get("Policy") is None  # named, never looked up


def test_classify_refuses_callables_naming_three():
    with pytest.raises(Refusal) as err:
        classify(["torch.nn.modules.linear.Linear", "posix.system", "__builtin__.exec", "builtins.eval",
                  "subprocess.Popen"], "eve/x/model.pt")
    assert err.value.kind == "unsafe"
    assert str(err.value).startswith("refusing to load eve/x/model.pt: it references builtins.exec, builtins.eval, "
                                     "posix.system, which a course model never contains; it may be malicious")


def test_unsafe_globals_names_a_payload_behind_opcodes_torch_does_not_read():
    with pytest.raises(Refusal, match=r"it references os\.system") as err:
        unsafe_globals([b"\x80\x04\x8c\x02os\x94\x8c\x06system\x94\x93\x8c\x04echo\x85R."], "m.pt")
    assert err.value.kind == "unsafe"
    with pytest.raises(Refusal, match="re-save it with torch.save defaults") as err:
        unsafe_globals([b"\x80\x04\x8c\x02ab\x94."], "m.pt")
    assert err.value.kind == "format"
