"""From a course policy's module tree to hubrl's MLP: Linear layers, one activation between, softmax at the end.

A classmate's policy arrives as a tree of modules (read from their ``model.pt``, from a state_dict, or from their live
``nn.Module``). Its ``forward`` is code we never run, so the tree is only accepted when its forward is known: a chain
of ``nn.Linear`` layers in registration order, each taking the previous one's outputs, with the course's ReLU and
softmax (or the ReLU/Tanh/Softmax modules the author registered explicitly). Dropout and Identity are no-ops at
inference and are skipped with a note. Anything whose effect on the output cannot be known (a second output head,
a learned parameter outside the Linear layers, a convolution or any other layer) is refused in one line that names it.

Example:
    >>> policy = rebuild_policy(tree_from_module(my_notebook_policy))
    >>> policy.hidden_sizes, policy.activation
    ((16,), 'relu')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hubrl.course.reader import NN_LAYERS, printable
from hubrl.errors import AgentFormatError

__all__ = ["ModuleNode", "RebuiltPolicy", "rebuild_policy", "tree_from_module", "tree_from_state_dict"]

STATE_DICT_CLASS = "<state_dict entry>"
"""``class_name`` of the nodes :func:`tree_from_state_dict` makes: a state_dict names parameters, not classes."""

MAX_DEPTH = 64
"""Modules nest deeper than this in no course policy; deeper trees are refused before walking them further."""

# The roles of the torch.nn classes the reader lets through (its table, NN_LAYERS, is the one list of them).
LINEAR = next(name for name, (_, role) in NN_LAYERS.items() if role == "linear")
ACTIVATIONS = {name: role for name, (_, role) in NN_LAYERS.items() if role in ("relu", "tanh")}
SOFTMAX = next(name for name, (_, role) in NN_LAYERS.items() if role == "softmax")
NO_OPS = {name: attr for name, (attr, role) in NN_LAYERS.items() if role == "no-op"}
CONTAINERS = {name for name, (_, role) in NN_LAYERS.items() if role == "container"}
SEQUENTIAL = next(name for name in CONTAINERS if name.endswith(".Sequential"))

_COURSE_MLP = "hubrl rebuilds the course MLP (Linear layers, ReLU or Tanh between, softmax at the end)"


@dataclass(frozen=True)
class ModuleNode:
    """One module of a policy, as data: what rebuilding needs, nothing that could run.

    ``class_name`` is qualified (``"torch.nn.modules.linear.Linear"``, ``"__main__.Policy"``); ``params`` holds the
    module's own parameters and buffers by name; ``children`` its submodules in registration order; ``attrs`` plain
    hyper-attributes (``in_features``, Softmax ``dim``, Dropout ``p``...).
    """

    class_name: str
    params: dict[str, np.ndarray]
    children: tuple[tuple[str, ModuleNode], ...] = ()
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RebuiltPolicy:
    """The course policy in hubrl's terms: sizes, activation and float32 weights named like hubrl's state_dict.

    ``tensors`` holds ``net.0.weight``, ``net.0.bias``, ``net.2.weight``... (Linear layers at even indices, the
    activation between them); ``notes`` says what was assumed or skipped.
    """

    obs_dim: int
    n_actions: int
    hidden_sizes: tuple[int, ...]
    activation: str
    tensors: dict[str, np.ndarray]
    notes: tuple[str, ...] = ()
    activation_param: float | None = None
    """leaky_relu's negative_slope or elu's alpha (see :class:`hubrl.policy.PolicyConfig`)."""
    output: str = "probabilities"
    """What the module's forward returns: ``probabilities``, ``logits`` or ``log-probabilities`` (the rebuilt network
    keeps the last layer's outputs as logits either way: softmax gives the same probabilities)."""


# -- trees from live modules and state_dicts -------------------------------------------------------------------------

def tree_from_module(module: Any) -> ModuleNode:
    """The tree of a live ``torch.nn.Module`` (a student's own): parameters copied out as numpy, nothing called.

    Raises:
        AgentFormatError: ``module`` is not a torch module, or nests deeper than :data:`MAX_DEPTH`.
    """
    if not all(hasattr(module, name) for name in ("_parameters", "_buffers", "_modules")):
        raise AgentFormatError(f"expected a torch.nn.Module, got a {type(module).__name__}")
    return _module_node(module, 0)


def _module_node(module: Any, depth: int) -> ModuleNode:
    if depth > MAX_DEPTH:
        raise AgentFormatError(f"modules nest more than {MAX_DEPTH} deep; no course policy does")
    cls = type(module)
    params = {name: _to_numpy(value) for name, value in [*module._parameters.items(), *module._buffers.items()]
              if value is not None}
    children = tuple((name, _module_node(child, depth + 1)) for name, child in module._modules.items()
                     if child is not None)
    attrs = {name: value for name, value in vars(module).items()
             if not name.startswith("_") and name != "training" and _is_plain(value)}
    return ModuleNode(f"{cls.__module__}.{cls.__qualname__}", params, children, attrs)


def _to_numpy(tensor: Any) -> np.ndarray:
    """A tensor's values on the CPU (bfloat16/float16 widened to float32: numpy or hubrl cannot use them as such)."""
    tensor = tensor.detach().cpu()
    if tensor.is_floating_point() and tensor.element_size() < 4:
        tensor = tensor.float()
    return tensor.numpy().copy()


def _is_plain(value: Any) -> bool:
    if isinstance(value, (bool, int, float, str)) or value is None:
        return True
    return isinstance(value, tuple) and len(value) <= 8 and all(isinstance(v, (bool, int, float, str)) for v in value)


def tree_from_state_dict(state: Mapping[str, Any]) -> ModuleNode:
    """The tree a state_dict implies: ``fc1.weight`` -> child ``fc1`` with param ``weight``, in key order.

    Values may be numpy arrays or torch tensors. Nodes get :data:`STATE_DICT_CLASS` as class name; a node holding a
    2-D ``weight`` (and a 1-D ``bias``) and nothing else is then taken for a Linear layer.

    Raises:
        AgentFormatError: a key is not a dotted string or a value is not an array.
    """
    if not isinstance(state, Mapping) or not state:
        raise AgentFormatError("expected a non-empty state_dict (parameter name -> tensor)")
    root: dict[str, Any] = {}  # name -> nested dict, "" -> {param: array}
    for key, value in state.items():
        if not isinstance(key, str) or not key or any(not part for part in key.split(".")):
            raise AgentFormatError(f"state_dict key {printable(repr(key))} is not a parameter name like 'fc1.weight'")
        *path, leaf = key.split(".")
        if len(path) > MAX_DEPTH:
            raise AgentFormatError(f"state_dict key {printable(key)} nests more than {MAX_DEPTH} deep")
        node = root
        for part in path:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise AgentFormatError(f"state_dict key {printable(key)} names both a parameter and a module")
        node.setdefault("", {})[leaf] = _as_array(value, key)
    return _state_node(root)


def _state_node(entries: dict[str, Any]) -> ModuleNode:
    params = entries.get("", {})
    children = tuple((name, _state_node(sub)) for name, sub in entries.items() if name)
    clash = sorted(set(params) & {name for name, _ in children})
    if clash:
        raise AgentFormatError(f"state_dict names {clash[0]!r} as both a parameter and a module")
    return ModuleNode(STATE_DICT_CLASS, dict(params), children)


def _as_array(value: Any, key: str) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach") and hasattr(value, "numpy"):
        return _to_numpy(value)
    raise AgentFormatError(f"state_dict entry {printable(key)} is a {type(value).__name__}, not a tensor")


# -- the rebuild ----------------------------------------------------------------------------------------------------

@dataclass
class _Layer:
    path: str
    weight: np.ndarray
    bias: np.ndarray | None


def rebuild_policy(tree: ModuleNode) -> RebuiltPolicy:
    """hubrl's MLP equivalent of ``tree``, or an :class:`AgentFormatError` naming why there is none.

    Raises:
        AgentFormatError: no Linear layer, layers that do not chain, two output heads, a parameter outside the
            Linear layers, a layer other than Linear/ReLU/Tanh/Softmax/Dropout/Identity, mixed or missing
            activations, NaN or infinite weights.
    """
    steps: list[tuple[str, str, Any, bool]] = []
    notes: list[str] = []
    _flatten(tree, "", steps, notes, 0, in_sequential=False)
    layers = [detail for kind, _, detail, _ in steps if kind == "linear"]
    if not layers:
        raise AgentFormatError(f"it holds no Linear layer; {_COURSE_MLP}")
    _check_chain(layers)
    activation = _activation(steps, layers, notes)
    tensors: dict[str, np.ndarray] = {}
    for i, layer in enumerate(layers):
        bias = layer.bias
        if bias is None:
            bias = np.zeros(layer.weight.shape[0], dtype=np.float32)
            notes.append(f"{layer.path} has no bias (zeros used)")
        tensors[f"net.{2 * i}.weight"] = _float32(layer.weight, f"{layer.path}.weight")
        tensors[f"net.{2 * i}.bias"] = _float32(bias, f"{layer.path}.bias")
    return RebuiltPolicy(
        obs_dim=int(layers[0].weight.shape[1]),
        n_actions=int(layers[-1].weight.shape[0]),
        hidden_sizes=tuple(int(layer.weight.shape[0]) for layer in layers[:-1]),
        activation=activation,
        tensors=tensors,
        notes=tuple(notes),
    )


def _flatten(node: ModuleNode, path: str, steps: list, notes: list, depth: int, *, in_sequential: bool) -> None:
    """Append ``node``'s layers to ``steps`` in registration order (depth first), refusing what cannot be rebuilt.

    A step is ``(kind, path, detail, in_sequential)``: kind ``linear`` (detail a :class:`_Layer`), ``activation``
    (``"relu"``/``"tanh"``) or ``softmax``; ``in_sequential`` says an ``nn.Sequential`` fixes the order of calls.
    """
    if depth > MAX_DEPTH:
        raise AgentFormatError(f"modules nest more than {MAX_DEPTH} deep; no course policy does")
    label = path or "the top module"
    name = node.class_name
    if name == LINEAR or (name == STATE_DICT_CLASS and _looks_linear(node)):
        steps.append(("linear", label, _linear(node, label), in_sequential))
        return
    if name in ACTIVATIONS:
        steps.append(("activation", label, ACTIVATIONS[name], in_sequential))
    elif name == SOFTMAX:
        dim = node.attrs.get("dim")
        if dim not in (None, 1, -1):
            raise AgentFormatError(f"{label} is a Softmax over dim {dim}; a policy's softmax runs over its actions")
        steps.append(("softmax", label, dim, in_sequential))
    elif name in NO_OPS:
        notes.append(f"{label} {NO_OPS[name]} ignored (a no-op at inference)")
    elif name.startswith("torch.") and name not in CONTAINERS:
        raise AgentFormatError(f"{label} is a {printable(name)}; {_COURSE_MLP}")
    if node.params:
        owned = ", ".join(printable(key, 30) for key in node.params)
        raise AgentFormatError(
            f"{label} ({printable(name)}) holds learned parameters ({owned}) outside its Linear layers; hubrl cannot "
            f"know how its forward uses them ({_COURSE_MLP})"
        )
    if node.children and (name in ACTIVATIONS or name == SOFTMAX or name in NO_OPS):
        raise AgentFormatError(f"{label} ({printable(name)}) has submodules; no course policy nests them there")
    for child_name, child in node.children:
        _flatten(child, f"{path}.{child_name}" if path else child_name, steps, notes, depth + 1,
                 in_sequential=in_sequential or name == SEQUENTIAL)


def _looks_linear(node: ModuleNode) -> bool:
    weight = node.params.get("weight")
    return (not node.children and weight is not None and weight.ndim == 2
            and set(node.params) <= {"weight", "bias"})


def _linear(node: ModuleNode, label: str) -> _Layer:
    params = dict(node.params)
    weight, bias = params.pop("weight", None), params.pop("bias", None)
    if weight is None or params or node.children:
        raise AgentFormatError(f"Linear layer {label} should hold weight and bias, found {sorted(node.params)}")
    if weight.ndim != 2:
        raise AgentFormatError(f"{label}.weight has shape {weight.shape}; a Linear weight is 2-D (out, in)")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise AgentFormatError(f"{label}.bias has shape {bias.shape}, expected ({weight.shape[0]},)")
    for attr, dim in (("in_features", 1), ("out_features", 0)):
        declared = node.attrs.get(attr)
        if isinstance(declared, int) and declared != weight.shape[dim]:
            raise AgentFormatError(f"{label}.{attr} is {declared} but its weight has shape {weight.shape}")
    if 0 in weight.shape:
        raise AgentFormatError(f"{label} has an empty weight {weight.shape}")
    return _Layer(label, weight, bias)


def _check_chain(layers: list[_Layer]) -> None:
    """Each layer must take the previous one's outputs; two layers reading the same input are two output heads."""
    for prev, layer in zip(layers, layers[1:]):
        takes, gives = layer.weight.shape[1], prev.weight.shape[0]
        if takes == gives:
            continue
        if takes == prev.weight.shape[1]:
            raise AgentFormatError(
                f"it has two output heads ({prev.path} and {layer.path} both read the same {takes} inputs), "
                f"e.g. an actor and a critic; {_COURSE_MLP} with a single head"
            )
        raise AgentFormatError(
            f"layer {layer.path} takes {takes} inputs but {prev.path} gives {gives} outputs; "
            "the layers do not chain into an MLP"
        )


def _activation(steps: list[tuple[str, str, Any, bool]], layers: list[_Layer], notes: list[str]) -> str:
    """The activation between layers: the registered ReLU/Tanh modules, else the course's ReLU.

    When the author registered activation modules, or an ``nn.Sequential`` holds every layer, the registration order
    is the forward: exactly one activation between consecutive Linear layers and none after the last. Otherwise the
    forward is the author's code, assumed to be the course's (ReLU between layers, softmax at the end).
    """
    kinds = [kind for kind, _, _, _ in steps]
    last_linear = max(i for i, kind in enumerate(kinds) if kind == "linear")
    softmaxes = [i for i, kind in enumerate(kinds) if kind == "softmax"]
    if any(i < last_linear for i in softmaxes) or len(softmaxes) > 1:
        raise AgentFormatError(f"{steps[softmaxes[0]][1]} applies a Softmax before the last layer; {_COURSE_MLP}")
    explicit = [detail for kind, _, detail, _ in steps if kind == "activation"]
    sequential = all(in_seq for kind, _, _, in_seq in steps if kind == "linear")
    if not explicit and not sequential:
        if len(layers) > 1:
            notes.append("no activation modules registered: the course forward is assumed (ReLU between layers)")
        if not softmaxes:
            notes.append("softmax over the last layer's outputs assumed (the course forward)")
        return "relu"
    if len(set(explicit)) > 1:
        raise AgentFormatError(f"it mixes ReLU and Tanh activations; {_COURSE_MLP} with one kind")
    between, seen_linear = 0, False
    for kind, path, _, _ in steps:
        if kind == "linear":
            if seen_linear and between != 1:
                raise AgentFormatError(
                    f"{path} follows the previous Linear layer with {between} activations between them; {_COURSE_MLP}"
                )
            seen_linear, between = True, 0
        elif kind == "activation":
            if not seen_linear:
                raise AgentFormatError(f"{path} applies an activation before the first Linear layer; {_COURSE_MLP}")
            between += 1
    if between:
        raise AgentFormatError(f"an activation follows the last Linear layer; {_COURSE_MLP}")
    if not softmaxes:
        notes.append("softmax over the last layer's outputs assumed (the module returns logits)")
    return explicit[0] if explicit else "relu"


def _float32(array: np.ndarray, what: str) -> np.ndarray:
    if not np.issubdtype(array.dtype, np.floating):
        raise AgentFormatError(f"{what} has dtype {array.dtype}; course weights are floating point")
    out = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(out).all():
        raise AgentFormatError(f"{what} contains NaN or infinite values; the model is broken (its training diverged)")
    return out

