"""hubrl.course: reading classmates' course-notebook model.pt files without executing them.

Every file here is real: written by torch.save exactly as the notebook writes it, or (for crafted attacks that
torch.save cannot produce) a hand-written pickle inside a torch-layout zip archive.
"""

from __future__ import annotations

import builtins
import functools
import os
import pickle
import struct
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from course_fixtures import (
    ReducePayload,
    as_notebook_class,
    class_in_main,
    make_course_model,
    make_course_model_pt,
    make_course_state_dict_pt,
    make_malicious_model_pt,
    make_model_pt_with_payload,
    plain_torch_load,
    save_like_notebook,
)

from hubrl.course import CourseModel, load_course_model
from hubrl.errors import AgentFormatError, HubrlError, UnsafePickleError


def _rebuild_mlp(cm: CourseModel) -> nn.Sequential:
    """What the lead code does: Linear, ReLU, ..., Linear, Softmax from the loaded layers."""
    mods: list[nn.Module] = []
    for i, (_, w, b) in enumerate(cm.layers):
        lin = nn.Linear(w.shape[1], w.shape[0], bias=b is not None)
        with torch.no_grad():
            lin.weight.copy_(w)
            if b is not None:
                lin.bias.copy_(b)
        mods.append(lin)
        if i < len(cm.layers) - 1:
            mods.append(nn.ReLU())
    mods.append(nn.Softmax(dim=1))
    return nn.Sequential(*mods)


def _assert_same_weights(cm: CourseModel, model: nn.Module) -> None:
    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    assert [n for n, _, _ in cm.layers] == [n for n, _ in linears]
    for (_, w, b), (_, lin) in zip(cm.layers, linears):
        assert w.dtype == torch.float32 and w.device.type == "cpu"
        assert torch.equal(w, lin.weight.detach())
        assert torch.equal(b, lin.bias.detach())


# ------------------------------------------------------------------------------------------------------------
# Legitimate files
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_cartpole_notebook_model_loads_exactly(tmp_path, legacy):
    path = tmp_path / "model.pt"
    model = make_course_model_pt(path, 4, 2, 16, legacy=legacy)
    assert not hasattr(sys.modules["__main__"], "Policy")  # the fixture cleaned up: loader cannot use it

    cm = load_course_model(path)

    assert cm.class_name == "__main__.Policy"
    assert cm.format == "pickled-module"
    assert cm.serialization == ("legacy" if legacy else "zip")
    assert [n for n, _, _ in cm.layers] == ["fc1", "fc2"]
    assert (cm.obs_dim, cm.n_actions, cm.hidden_sizes) == (4, 2, (16,))
    _assert_same_weights(cm, model)
    x = torch.randn(64, 4)
    with torch.no_grad():
        expected = model(x)
        torch.testing.assert_close(_rebuild_mlp(cm)(x), expected, rtol=0, atol=0)
        torch.testing.assert_close(cm.forward(x), expected, rtol=0, atol=0)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_pixelcopter_notebook_model_loads_exactly(tmp_path, legacy):
    path = tmp_path / "model.pt"
    model = make_course_model_pt(path, 7, 2, 64, two_hidden=True, seed=3, legacy=legacy)

    cm = load_course_model(path)

    assert [n for n, _, _ in cm.layers] == ["fc1", "fc2", "fc3"]
    assert [tuple(w.shape) for _, w, _ in cm.layers] == [(64, 7), (128, 64), (2, 128)]
    assert (cm.obs_dim, cm.n_actions, cm.hidden_sizes) == (7, 2, (64, 128))
    _assert_same_weights(cm, model)
    x = torch.randn(32, 7)
    with torch.no_grad():
        torch.testing.assert_close(_rebuild_mlp(cm)(x), model(x), rtol=0, atol=0)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_state_dict_file_loads(tmp_path, legacy):
    path = tmp_path / "model.pt"
    model = make_course_state_dict_pt(path, 7, 2, 8, two_hidden=True, legacy=legacy)

    cm = load_course_model(path)

    assert cm.format == "state-dict" and cm.class_name is None
    assert [n for n, _, _ in cm.layers] == ["fc1", "fc2", "fc3"]
    _assert_same_weights(cm, model)


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
torch.save(policy, sys.argv[2], _use_new_zipfile_serialization=False)
torch.save(policy.state_dict(), sys.argv[3])
"""


def test_files_from_a_real_notebook_process(tmp_path):
    """A separate interpreter defines Policy in its real __main__ and saves, as the notebook does."""
    paths = [tmp_path / "zip.pt", tmp_path / "legacy.pt", tmp_path / "weights.pt"]
    script = tmp_path / "notebook.py"  # a file, so torch can embed the class source in the legacy format
    script.write_text(_NOTEBOOK_SCRIPT)
    subprocess.run([sys.executable, str(script), *map(str, paths)], check=True, timeout=120, capture_output=True)
    zip_cm, legacy_cm, sd_cm = (load_course_model(p) for p in paths)
    for cm in (zip_cm, legacy_cm, sd_cm):
        assert (cm.obs_dim, cm.n_actions, cm.hidden_sizes) == (4, 2, (16,))
        for (_, w, b), (_, w0, b0) in zip(cm.layers, sd_cm.layers):
            assert torch.equal(w, w0) and torch.equal(b, b0)
    assert zip_cm.class_name == legacy_cm.class_name == "__main__.Policy"
    # the legacy format embeds the class source: recorded as text, never run
    assert legacy_cm.class_source is not None and "return F.softmax(x, dim=1)" in legacy_cm.class_source
    assert zip_cm.class_source is None
    # torch itself agrees on the state_dict
    ref = torch.load(paths[2], weights_only=True)
    assert torch.equal(ref["fc2.weight"], sd_cm.layers[1][1])


def test_loader_never_uses_the_real_main_class(tmp_path):
    """Even when __main__ has a Policy (here a booby-trapped one), the loader maps the name to a placeholder."""
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
    sys.modules["__main__"].Policy = Trap
    try:
        cm = load_course_model(path)
    finally:
        del sys.modules["__main__"].Policy
    assert cm.class_name == "__main__.Policy"
    assert not marker.exists()


def test_state_dict_with_shared_storage_and_strides(tmp_path):
    """Views into one storage (offsets) and a transposed (non-contiguous) weight are rebuilt exactly."""
    big = torch.randn(200)
    w1 = torch.randn(4, 16).t()  # shape (16, 4), stride (1, 16)
    sd = {
        "fc1.weight": w1,
        "fc1.bias": big[10:26],
        "fc2.weight": big[40:72].view(2, 16),
        "fc2.bias": big[100:102],
    }
    path = tmp_path / "sd.pt"
    torch.save(sd, path)
    cm = load_course_model(path)
    for (name, w, b), key in zip(cm.layers, ["fc1", "fc2"]):
        assert name == key
        assert torch.equal(w, sd[f"{key}.weight"]) and torch.equal(b, sd[f"{key}.bias"])


def test_cuda_saved_storages_load_on_cpu(tmp_path, monkeypatch):
    """A file written on a GPU machine records location 'cuda:0' for each storage; it must load on CPU."""
    path = tmp_path / "model.pt"
    monkeypatch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
    model = make_course_model_pt(path, 4, 2, 16)
    monkeypatch.undo()
    with zipfile.ZipFile(path) as zf:
        pkl = zf.read(next(n for n in zf.namelist() if n.endswith("/data.pkl")))
    assert b"cuda:0" in pkl and b"cpu" not in pkl

    cm = load_course_model(path)
    _assert_same_weights(cm, model)


def test_big_endian_archive(tmp_path):
    """Archives written on big-endian machines say so in 'byteorder'; torch and hubrl both swap."""
    src = tmp_path / "little.pt"
    model = make_course_state_dict_pt(src, 4, 2, 16)
    dst = tmp_path / "big.pt"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith("/byteorder"):
                data = b"big"
            elif "/data/" in info.filename:  # float32 records
                data = b"".join(data[i : i + 4][::-1] for i in range(0, len(data), 4))
            zout.writestr(info, data)
    cm = load_course_model(dst)
    _assert_same_weights(cm, model)
    assert torch.equal(torch.load(dst, weights_only=True)["fc1.weight"], cm.layers[0][1])  # torch agrees


def test_sequential_inside_policy_and_tolerated_modules(tmp_path):
    class Policy(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.1), nn.Linear(8, 3), nn.Softmax(dim=1))

        def forward(self, x):
            return self.net(x)

    as_notebook_class(Policy)
    model = Policy().eval()
    path = tmp_path / "model.pt"
    save_like_notebook(model, path)

    cm = load_course_model(path)

    assert [n for n, _, _ in cm.layers] == ["net.0", "net.3"]
    assert cm.ignored_modules == (
        ("net.1", "torch.nn.modules.activation.ReLU"),
        ("net.2", "torch.nn.modules.dropout.Dropout"),
        ("net.4", "torch.nn.modules.activation.Softmax"),
    )
    x = torch.randn(16, 4)
    with torch.no_grad():
        torch.testing.assert_close(cm.forward(x), model(x), rtol=0, atol=0)


def test_top_level_sequential(tmp_path):
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    path = tmp_path / "model.pt"
    torch.save(model, path)
    cm = load_course_model(path)
    assert cm.class_name == "torch.nn.modules.container.Sequential"
    assert [tuple(w.shape) for _, w, _ in cm.layers] == [(8, 4), (2, 8)]


def test_bias_free_and_double_precision_layers(tmp_path):
    model = nn.Sequential(nn.Linear(4, 8, bias=False), nn.ReLU(), nn.Linear(8, 2)).double()
    path = tmp_path / "model.pt"
    torch.save(model, path)
    cm = load_course_model(path)
    assert cm.layers[0][2] is None
    assert all(w.dtype == torch.float32 for _, w, _ in cm.layers)
    assert torch.equal(cm.layers[1][1], model[2].weight.detach().float())


# ------------------------------------------------------------------------------------------------------------
# Malicious files
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
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


# A tiny pickle writer for attacks torch.save cannot produce.
def _g(module: str, name: str) -> bytes:
    return b"c" + f"{module}\n{name}\n".encode()


def _s(text: str) -> bytes:
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def _i(n: int) -> bytes:
    return b"J" + struct.pack("<i", n)


def _tup(*items: bytes) -> bytes:
    return b"(" + b"".join(items) + b"t"


_PROTO2 = b"\x80\x02"
_EMPTY_OD = _g("collections", "OrderedDict") + b")R"


def _tensor(key: str, numel: int, size: tuple, stride: tuple, offset: int = 0) -> bytes:
    pid = _tup(_s("storage"), _g("torch", "FloatStorage"), _s(key), _s("cpu"), _i(numel)) + b"Q"
    args = _tup(pid, _i(offset), _tup(*map(_i, size)), _tup(*map(_i, stride)), b"\x89", _EMPTY_OD)
    return _g("torch._utils", "_rebuild_tensor_v2") + args + b"R"


def _state_dict(entries: dict[str, bytes]) -> bytes:
    body = b"".join(_s(k) + v for k, v in entries.items())
    return _PROTO2 + _EMPTY_OD + b"(" + body + b"u."


def _archive(path: Path, pkl: bytes, records: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", pkl)
        zf.writestr("archive/byteorder", "little")
        zf.writestr("archive/version", "3\n")
        for key, data in (records or {}).items():
            zf.writestr(f"archive/data/{key}", data)
    return path


def _floats(values) -> bytes:
    return torch.tensor(values, dtype=torch.float32).numpy().tobytes()


def test_crafted_archive_writer_is_valid(tmp_path):
    """The hand-written pickles below are well-formed: this one loads, in hubrl and in torch."""
    pkl = _state_dict({"fc1.weight": _tensor("0", 6, (3, 2), (2, 1)), "fc2.weight": _tensor("0", 6, (1, 3), (1, 1), 3)})
    path = _archive(tmp_path / "ok.pt", pkl, {"0": _floats(range(6))})
    cm = load_course_model(path)
    assert cm.layers[0][1].tolist() == [[0, 1], [2, 3], [4, 5]]
    assert cm.layers[1][1].tolist() == [[3, 4, 5]] and cm.layers[1][2] is None
    assert torch.equal(torch.load(path, weights_only=True)["fc2.weight"], cm.layers[1][1])


@pytest.mark.parametrize(
    ("pkl", "shown"),
    [
        # proto-4 STACK_GLOBAL form of os.system
        (b"\x80\x04\x8c\x02os\x8c\x06system\x93\x8c\x04echo\x85R.", "os.system"),
        # Python-2 spelling is normalised before the check
        (_PROTO2 + _g("__builtin__", "eval") + _tup(_s("1")) + b"R.", "builtins.eval"),
        (_PROTO2 + _g("commands", "Popen") + _tup(_s("true")) + b"R.", "subprocess.Popen"),
        # an allowlisted name that is not callable cannot be REDUCEd
        (_PROTO2 + _g("torch", "FloatStorage") + b")R.", "REDUCE"),
        # NEWOBJ on an allowlisted function
        (_PROTO2 + _g("collections", "OrderedDict") + b")\x81.", "NEWOBJ"),
        # BUILD (__setstate__) on a tensor
        (_PROTO2 + _tensor("0", 4, (4,), (1,)) + b"}b.", "BUILD"),
        # APPEND on something that is not a list
        (_PROTO2 + _g("__main__", "Policy") + b")\x81" + _s("x") + b"a.", "APPEND"),
        # copyreg extension registry
        (_PROTO2 + b"\x82\x01.", "EXT"),
        # __main__ dunder names are not classes
        (_PROTO2 + _g("__main__", "__builtins__") + b".", "__main__.__builtins__"),
        # torch.nn internals that are not layer classes
        (_PROTO2 + _g("torch.nn.modules.module", "_global_forward_hooks") + b".", "torch.nn.modules.module"),
    ],
    ids=["stack-global", "py2-eval", "py2-popen", "reduce-noncallable", "newobj-func", "build-tensor",
         "append-nonlist", "ext", "main-dunder", "nn-internal"],
)
def test_crafted_attacks_are_refused(tmp_path, pkl, shown):
    path = _archive(tmp_path / "model.pt", pkl, {"0": _floats([1, 2, 3, 4])})
    with pytest.raises(UnsafePickleError) as err:
        load_course_model(path)
    assert shown in str(err.value)


def test_tensor_pointing_outside_its_storage_is_refused(tmp_path):
    pkl = _state_dict({"fc1.weight": _tensor("0", 8, (4, 4), (4, 1))})
    path = _archive(tmp_path / "model.pt", pkl, {"0": _floats(range(8))})
    with pytest.raises(AgentFormatError, match="outside its storage"):
        load_course_model(path)


def test_missing_tensor_record_is_refused(tmp_path):
    pkl = _state_dict({"fc1.weight": _tensor("7", 4, (2, 2), (2, 1))})
    path = _archive(tmp_path / "model.pt", pkl, {"0": _floats(range(4))})
    with pytest.raises(AgentFormatError, match="missing"):
        load_course_model(path)


# ------------------------------------------------------------------------------------------------------------
# Files that are harmless but not a course MLP, and broken files
# ------------------------------------------------------------------------------------------------------------


def test_unsupported_layer_is_a_format_error(tmp_path):
    class Policy(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(4, 8)
            self.act = nn.Tanh()
            self.fc2 = nn.Linear(8, 2)

    as_notebook_class(Policy)
    path = tmp_path / "model.pt"
    save_like_notebook(Policy(), path)
    with pytest.raises(AgentFormatError, match=r"act is a torch\.nn\.modules\.activation\.Tanh"):
        load_course_model(path)


def test_unsupported_layer_does_not_hide_a_malicious_payload(tmp_path):
    """A harmless-but-unsupported layer is read on, so a later malicious global is still reported as such."""

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


def test_layers_that_do_not_chain_are_refused(tmp_path):
    path = tmp_path / "sd.pt"
    torch.save({"fc1.weight": torch.randn(16, 4), "fc1.bias": torch.randn(16), "fc2.weight": torch.randn(2, 8)}, path)
    with pytest.raises(AgentFormatError, match="fc2 takes 8 inputs but fc1 gives 16"):
        load_course_model(path)


def test_module_without_linear_layers_is_refused(tmp_path):
    path = tmp_path / "model.pt"
    torch.save(nn.Sequential(nn.ReLU()), path)
    with pytest.raises(AgentFormatError, match="no Linear layer"):
        load_course_model(path)


def test_nan_weights_are_refused(tmp_path):
    path = tmp_path / "sd.pt"
    torch.save({"fc1.weight": torch.full((2, 4), float("nan"))}, path)
    with pytest.raises(AgentFormatError, match="NaN"):
        load_course_model(path)


def test_other_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"episode": 3, "scores": [1.0, 2.0]}, path)
    with pytest.raises(AgentFormatError, match="not a policy module or a state_dict"):
        load_course_model(path)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "empty"),
        (b"<!DOCTYPE html><html>404</html>", "not a PyTorch file"),
        (bytes(range(256)) * 4, "not a PyTorch file"),
        (pickle.dumps({"a": 1}, protocol=2), "not a torch.save file"),
        (b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.\x80\x02M\xe9\x03.", "corrupt or not a torch.save file"),
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


def test_truncated_legacy_file_is_a_format_error(tmp_path):
    src = tmp_path / "full.pt"
    make_course_model_pt(src, 4, 2, 16, legacy=True)
    path = tmp_path / "model.pt"
    path.write_bytes(src.read_bytes()[:-10])
    with pytest.raises(AgentFormatError, match="truncated"):
        load_course_model(path)


def test_torchscript_archive_is_named(tmp_path):
    """torch.jit.save archives hold code/ and constants.pkl: say so instead of a confusing error."""
    path = tmp_path / "model.pt"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("model/data.pkl", _PROTO2 + b"N.")
        zf.writestr("model/constants.pkl", _PROTO2 + b").")
        zf.writestr("model/code/__torch__.py", "class Policy(Module): ...\n")
    with pytest.raises(AgentFormatError, match="TorchScript"):
        load_course_model(path)


@pytest.mark.parametrize("proto", [1, 2, 4, 5])
@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_other_pickle_protocols(tmp_path, proto, legacy):
    """torch.save(..., pickle_protocol=N): protocol 1 goes through copyreg._reconstructor, 4/5 use STACK_GLOBAL."""
    model = make_course_model(4, 2, 16)
    path = tmp_path / "model.pt"
    with class_in_main(type(model)), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.save(model, path, pickle_protocol=proto, _use_new_zipfile_serialization=not legacy)
    _assert_same_weights(load_course_model(path), model)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_course_model(tmp_path / "nope.pt")


def test_course_forward_matches_notebook_forward_on_single_state():
    """CourseModel.forward works on one unbatched state too (softmax over the last dim)."""
    torch.manual_seed(0)
    w1, b1, w2, b2 = torch.randn(16, 4), torch.randn(16), torch.randn(2, 16), torch.randn(2)
    cm = CourseModel(layers=[("fc1", w1, b1), ("fc2", w2, b2)], class_name=None, format="state-dict")
    x = torch.randn(4)
    expected = F.softmax(F.linear(F.relu(F.linear(x.unsqueeze(0), w1, b1)), w2, b2), dim=1)[0]
    torch.testing.assert_close(cm.forward(x), expected)
