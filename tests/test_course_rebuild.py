"""hubrl.course.rebuild: students' module trees -> hubrl's MLP, checked against the students' own forward."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from hubrl.course.rebuild import (
    STATE_DICT_CLASS,
    ModuleNode,
    RebuiltPolicy,
    rebuild_policy,
    tree_from_module,
    tree_from_state_dict,
)
from hubrl.errors import AgentFormatError
from hubrl.policy import NumpySampler


def probabilities(rebuilt: RebuiltPolicy, x: np.ndarray) -> np.ndarray:
    """hubrl's forward over the rebuilt weights (its numpy sampler), softmax at the end."""
    n = len(rebuilt.hidden_sizes) + 1
    sampler = NumpySampler(weights=[rebuilt.tensors[f"net.{2 * i}.weight"].T.copy() for i in range(n)],
                           biases=[rebuilt.tensors[f"net.{2 * i}.bias"] for i in range(n)],
                           activation=rebuilt.activation)
    logits = sampler.logits(x).astype(np.float64)
    z = np.exp(logits - logits.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)


def assert_same_forward(module: nn.Module, rebuilt: RebuiltPolicy, probs_from_module=None) -> None:
    torch.manual_seed(5)
    x = torch.randn(64, rebuilt.obs_dim)
    with torch.no_grad():
        expected = (probs_from_module or module)(x.to(next(module.parameters()).dtype)).double().numpy()
    np.testing.assert_allclose(probabilities(rebuilt, x.numpy()), expected, rtol=1e-5, atol=1e-6)


class Notebook(nn.Module):
    def __init__(self, s=4, a=2, h=16):
        super().__init__()
        self.fc1 = nn.Linear(s, h)
        self.fc2 = nn.Linear(h, a)

    def forward(self, x):
        return F.softmax(self.fc2(F.relu(self.fc1(x))), dim=1)


class Pixelcopter(nn.Module):
    def __init__(self, s=7, a=2, h=8):
        super().__init__()
        self.affine1 = nn.Linear(s, h)
        self.layer1 = nn.Linear(h, 2 * h)
        self.hidden1 = nn.Linear(2 * h, a)

    def forward(self, x):
        return F.softmax(self.hidden1(F.relu(self.layer1(F.relu(self.affine1(x))))), dim=1)


class SequentialBody(nn.Module):
    def __init__(self, act=nn.ReLU):
        super().__init__()
        self.model = nn.Sequential(nn.Linear(4, 8), act(), nn.Dropout(0.2), nn.Linear(8, 3), nn.Softmax(dim=1))

    def forward(self, x):
        return self.model(x)


class ListBody(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(4, 6), nn.Linear(6, 6), nn.Linear(6, 2)])

    def forward(self, x):
        for layer in self.layers[:-1]:
            x = F.relu(layer(x))
        return F.softmax(self.layers[-1](x), dim=1)


def test_notebook_policy_rebuilds_exactly():
    module = Notebook()
    tree = tree_from_module(module)
    assert tree.class_name.endswith("Notebook") and [n for n, _ in tree.children] == ["fc1", "fc2"]
    assert tree.children[0][1].class_name == "torch.nn.modules.linear.Linear"
    assert tree.children[0][1].attrs == {"in_features": 4, "out_features": 16}
    rebuilt = rebuild_policy(tree)
    assert (rebuilt.obs_dim, rebuilt.n_actions, rebuilt.hidden_sizes, rebuilt.activation) == (4, 2, (16,), "relu")
    assert sorted(rebuilt.tensors) == ["net.0.bias", "net.0.weight", "net.2.bias", "net.2.weight"]
    assert all(t.dtype == np.float32 for t in rebuilt.tensors.values())
    np.testing.assert_array_equal(rebuilt.tensors["net.2.weight"], module.fc2.weight.detach().numpy())
    assert any("course forward" in note for note in rebuilt.notes)
    assert_same_forward(module, rebuilt)


@pytest.mark.parametrize("make", [Pixelcopter, ListBody, lambda: SequentialBody(nn.ReLU), lambda: SequentialBody(nn.Tanh)],
                         ids=["named-anything", "modulelist", "sequential-relu", "sequential-tanh"])
def test_student_variants_rebuild_to_the_same_forward(make):
    module = make().eval()
    rebuilt = rebuild_policy(tree_from_module(module))
    assert_same_forward(module, rebuilt)


def test_sequential_notes_dropout_and_honours_tanh():
    rebuilt = rebuild_policy(tree_from_module(SequentialBody(nn.Tanh)))
    assert rebuilt.activation == "tanh" and rebuilt.hidden_sizes == (8,) and rebuilt.n_actions == 3
    assert "model.2 Dropout ignored (a no-op at inference)" in rebuilt.notes


def test_top_level_sequential_without_softmax_and_float64_and_no_bias():
    module = nn.Sequential(nn.Linear(4, 8, bias=False), nn.ReLU(), nn.Linear(8, 2)).double()
    rebuilt = rebuild_policy(tree_from_module(module))
    assert rebuilt.tensors["net.0.weight"].dtype == np.float32
    np.testing.assert_array_equal(rebuilt.tensors["net.0.bias"], np.zeros(8, np.float32))
    assert any("no bias" in note for note in rebuilt.notes) and any("logits" in note for note in rebuilt.notes)
    assert_same_forward(module, rebuilt, probs_from_module=lambda x: torch.softmax(module(x), dim=1))


def test_state_dict_tree_keeps_key_order_and_rebuilds():
    module = Pixelcopter()
    tree = tree_from_state_dict(module.state_dict())
    assert tree.class_name == STATE_DICT_CLASS
    assert [n for n, _ in tree.children] == ["affine1", "layer1", "hidden1"]
    rebuilt = rebuild_policy(tree)
    assert rebuilt.hidden_sizes == (8, 16)
    assert_same_forward(module, rebuilt)
    numpy_tree = tree_from_state_dict({k: v.numpy() for k, v in module.state_dict().items()})
    assert rebuild_policy(numpy_tree).tensors.keys() == rebuilt.tensors.keys()


def test_sequential_state_dict_rebuilds():
    module = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    rebuilt = rebuild_policy(tree_from_state_dict(module.state_dict()))
    assert rebuilt.hidden_sizes == (8,)


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(4, 16)
        self.actor = nn.Linear(16, 2)
        self.critic = nn.Linear(16, 1)


class WithParameter(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 2)
        self.temperature = nn.Parameter(torch.ones(1))


class WithConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 1, 1)
        self.fc = nn.Linear(4, 2)


class Mixed(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 2))


@pytest.mark.parametrize(
    ("module", "match"),
    [
        (TwoHeads(), r"two output heads \(actor and critic"),
        (WithParameter(), r"learned parameters \(temperature\) outside its Linear layers"),
        (WithConv(), r"conv is a torch\.nn\.modules\.conv\.Conv1d"),
        (Mixed(), "mixes ReLU and Tanh"),
        (nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2)), "0 activations between them"),
        (nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2), nn.ReLU()), "follows the last Linear"),
        (nn.Sequential(nn.Linear(4, 8), nn.Softmax(dim=1), nn.Linear(8, 2)), "Softmax before the last layer"),
        (nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2), nn.Softmax(dim=0)), "Softmax over dim 0"),
        (nn.Sequential(nn.ReLU()), "no Linear layer"),
        (nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(6, 2)), "2 takes 6 inputs but 0 gives 8 outputs"),
        (nn.Sequential(nn.LSTM(4, 4), nn.Linear(4, 2)), r"0 is a torch\.nn\.modules\.rnn\.LSTM"),
    ],
    ids=["two-heads", "raw-parameter", "conv", "mixed", "no-activation", "activation-last", "softmax-mid",
         "softmax-dim0", "no-linear", "no-chain", "lstm"],
)
def test_what_cannot_be_rebuilt_is_refused_in_one_line(module, match):
    with pytest.raises(AgentFormatError, match=match) as err:
        rebuild_policy(tree_from_module(module))
    assert "\n" not in str(err.value)


def test_nan_weights_and_bad_state_dicts_are_refused():
    module = Notebook()
    with torch.no_grad():
        module.fc2.weight[0, 0] = float("nan")
    with pytest.raises(AgentFormatError, match="NaN"):
        rebuild_policy(tree_from_module(module))
    with pytest.raises(AgentFormatError, match="not a tensor"):
        tree_from_state_dict({"fc1.weight": [1.0, 2.0]})
    with pytest.raises(AgentFormatError, match="parameter name"):
        tree_from_state_dict({"fc1..weight": np.zeros((2, 2))})
    with pytest.raises(AgentFormatError, match="torch.nn.Module"):
        tree_from_module(object())


def test_hand_built_tree_with_declared_sizes_that_disagree():
    linear = ModuleNode("torch.nn.modules.linear.Linear", {"weight": np.zeros((2, 4), np.float32)},
                        attrs={"in_features": 5, "out_features": 2})
    with pytest.raises(AgentFormatError, match="in_features is 5"):
        rebuild_policy(ModuleNode("__main__.Policy", {}, (("fc", linear),)))


def test_too_deep_trees_are_refused():
    node = ModuleNode("torch.nn.modules.linear.Linear", {"weight": np.ones((2, 2), np.float32)})
    for _ in range(100):
        node = ModuleNode("__main__.Wrapper", {}, (("inner", node),))
    with pytest.raises(AgentFormatError, match="nest more than"):
        rebuild_policy(node)
