"""A student's ``forward`` read with torch.fx: its Linear layers, its activation, and whether it ends in a softmax.

``torch.fx.symbolic_trace`` runs ``forward`` once on a placeholder and records every operation it applies, whatever
the attributes are named and however the code is written (``nn.ReLU()`` or ``F.relu`` or ``x.relu()``,
``torch.tanh``, ``F.leaky_relu(x, 0.2)``, ``nn.Sequential``, a Policy wrapped in ``nn.Sequential(policy,
nn.Softmax(dim=1))``). What hubrl's policy format holds is one chain::

    x -> Linear -> act -> Linear -> ... -> Linear [-> softmax | log_softmax]

with one activation kind (relu, tanh, leaky_relu, elu, sigmoid) between the layers; dtype and device moves
(``.float()``, ``.double()``, ``.to(device)``), ``Identity``, ``Flatten`` and Dropout in eval mode pass through. A
forward returning logits (for ``Categorical(logits=...)``) or log-probabilities is the same network: the rebuilt
policy keeps the last layer's outputs as logits. Anything else is refused in one line that names the operation.

Example:
    >>> rebuilt = trace_policy(cartpole_policy)
    >>> rebuilt.hidden_sizes, rebuilt.activation, rebuilt.output
    ((16,), 'relu', 'probabilities')
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hubrl.course.rebuild import RebuiltPolicy, _float32, _to_numpy
from hubrl.errors import AgentFormatError, first_line

__all__ = ["trace_policy"]

FORMAT = ("hubrl's policy format holds Linear layers with one activation (relu, tanh, leaky_relu, elu or sigmoid) "
          "between them and a softmax at the end")


def _refuse(what: str) -> AgentFormatError:
    return AgentFormatError(f"{what}; {FORMAT}")


def _tables() -> tuple[dict, dict, dict]:
    """torch's activation and softmax spellings (built on first use: importing this module needs no torch)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    modules = {nn.ReLU: "relu", nn.Tanh: "tanh", nn.LeakyReLU: "leaky_relu", nn.ELU: "elu", nn.Sigmoid: "sigmoid"}
    functions = {F.relu: "relu", torch.relu: "relu", F.relu_: "relu", torch.relu_: "relu", torch.tanh: "tanh",
                 F.tanh: "tanh", F.leaky_relu: "leaky_relu", F.elu: "elu", torch.sigmoid: "sigmoid",
                 F.sigmoid: "sigmoid"}
    softmaxes = {F.softmax: "softmax", torch.softmax: "softmax", F.log_softmax: "log_softmax",
                 torch.log_softmax: "log_softmax"}
    return modules, functions, softmaxes


_METHOD_ACTIVATIONS = {"relu": "relu", "relu_": "relu", "tanh": "tanh", "sigmoid": "sigmoid"}
_PASS_METHODS = {"float", "double", "to", "cpu", "cuda", "contiguous", "type"}
"""Tensor methods that move data between dtypes or devices: the numbers stay what the network computes."""
_PARAMS = {"leaky_relu": ("negative_slope", 0.01), "elu": ("alpha", 1.0)}


def _argument(node: Any, index: int, name: str, default: Any) -> Any:
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(name, default)


def _function_name(fn: Any) -> str:
    module = getattr(fn, "__module__", None) or ""
    name = getattr(fn, "__name__", None) or str(fn)
    if module in ("_operator", "operator"):
        return f"operator.{name}"
    if module.startswith("torch._C") or module == "torch":
        return f"torch.{name}"
    return f"{module}.{name}" if module else name


def trace_policy(module: Any) -> RebuiltPolicy:
    """hubrl's MLP equivalent of ``module.forward``, read by torch.fx, or one line naming what it cannot hold.

    Raises:
        AgentFormatError: forward cannot be traced, or applies an operation outside the format (named), or its
            layers do not chain, or its weights are not finite.
    """
    import torch
    import torch.fx
    from torch import nn

    if not isinstance(module, nn.Module):
        raise AgentFormatError(f"expected a torch.nn.Module, got a {type(module).__name__}")
    try:
        graph_module = torch.fx.symbolic_trace(module)
    except Exception as err:  # control flow on tensor values, unsupported Python: fx's own error says which
        raise AgentFormatError(f"torch.fx cannot trace its forward ({first_line(err)[:160]})") from err
    modules, functions, softmaxes = _tables()
    nodes = list(graph_module.graph.nodes)
    inputs = [n for n in nodes if n.op == "placeholder"]
    if len(inputs) != 1:
        raise _refuse(f"its forward takes {len(inputs)} inputs, not one batch of states")
    current = inputs[0]
    steps: list[tuple[str, str, Any, Any]] = []  # (kind, label, detail, extra)
    for node in nodes:
        if node.op in ("placeholder", "get_attr"):
            continue
        tensors_in = [a for a in node.all_input_nodes if a.op != "get_attr"]
        if node.op == "output":
            if node.args[0] is not current:
                raise _refuse("its forward returns more than one tensor (or not the last layer's result)")
            break
        label = _label(node, graph_module)
        if tensors_in != [current] or len(current.users) != 1:
            raise _refuse(f"its forward is not a single chain of layers ({label} combines or reuses values)")
        step = _step(node, graph_module, label, modules, functions, softmaxes)
        if step is not None:
            steps.append(step)
        current = node
    return _policy(steps)


def _label(node: Any, root: Any) -> str:
    if node.op == "call_module":
        return f"self.{node.target} ({type(root.get_submodule(node.target)).__name__})"
    if node.op == "call_method":
        return f".{node.target}()"
    return _function_name(node.target)


def _step(node: Any, root: Any, label: str, modules: dict, functions: dict, softmaxes: dict):
    """One recorded operation as ``(kind, label, detail, extra)``, None for one that passes values through."""
    import torch.nn.functional as F
    from torch import nn

    if node.op == "call_module":
        mod = root.get_submodule(node.target)
        if type(mod) is nn.Linear:
            return ("linear", label, mod.weight, mod.bias)
        if type(mod) in modules:
            name = modules[type(mod)]
            return ("activation", label, name, getattr(mod, _PARAMS[name][0]) if name in _PARAMS else None)
        if type(mod) in (nn.Softmax, nn.LogSoftmax):
            return ("output", label, "softmax" if type(mod) is nn.Softmax else "log_softmax", mod.dim)
        if type(mod) is nn.Identity or (type(mod) is nn.Flatten and (mod.start_dim, mod.end_dim) == (1, -1)):
            return None
        if isinstance(mod, nn.modules.dropout._DropoutNd):
            return _dropout(label, mod.p, mod.training)
        raise _refuse(f"its forward calls {label}")
    if node.op == "call_method":
        if node.target in _METHOD_ACTIVATIONS:
            return ("activation", label, _METHOD_ACTIVATIONS[node.target], None)
        if node.target in ("softmax", "log_softmax"):
            return ("output", label, node.target, _argument(node, 1, "dim", None))
        if node.target in _PASS_METHODS:
            return None
        raise _refuse(f"its forward calls {label}")
    fn = node.target
    if fn in functions:
        name = functions[fn]
        param = _argument(node, 1, *_PARAMS[name]) if name in _PARAMS else None
        return ("activation", label, name, param)
    if fn in softmaxes:
        return ("output", label, softmaxes[fn], _argument(node, 1, "dim", None))
    if fn is F.dropout:
        return _dropout(label, _argument(node, 1, "p", 0.5), _argument(node, 2, "training", True))
    if fn is F.linear:
        weight, bias = _argument(node, 1, "weight", None), _argument(node, 2, "bias", None)
        if getattr(weight, "op", None) == "get_attr" and (bias is None or getattr(bias, "op", None) == "get_attr"):
            return ("linear", label, _attr(root, weight.target), None if bias is None else _attr(root, bias.target))
    text = {"mul": "x * ...", "truediv": "x / ...", "add": "x + ...", "sub": "x - ..."}.get(getattr(fn, "__name__", ""))
    raise _refuse(f"its forward applies {label}" + (f" ({text})" if text else ""))


def _attr(root: Any, target: str) -> Any:
    value = root
    for part in target.split("."):
        value = getattr(value, part)
    return value


def _dropout(label: str, p: Any, training: Any):
    if training and p:
        raise AgentFormatError(f"{label} is active (the module is in training mode, so its probabilities change at "
                               "every call); call model.eval() before pushing")
    return None


def _policy(steps: list[tuple[str, str, Any, Any]]) -> RebuiltPolicy:
    """Check the recorded chain against the format and turn its layers into hubrl's tensors."""
    kinds = [kind for kind, *_ in steps]
    linears = [i for i, kind in enumerate(kinds) if kind == "linear"]
    if not linears:
        raise _refuse("its forward applies no Linear layer")
    first, last = linears[0], linears[-1]
    for i, (kind, label, *_) in enumerate(steps):
        if i < first:
            raise _refuse(f"its forward applies {label} before the first Linear layer")
        if kind == "output" and i != len(steps) - 1:
            raise _refuse(f"its forward applies {label} before the end")
        if kind == "activation" and i > last:
            raise _refuse(f"its forward applies {label} after the last Linear layer")
    for a, b in zip(linears, linears[1:]):
        between = [steps[i] for i in range(a + 1, b)]
        if len(between) != 1:
            raise _refuse(f"{len(between)} activations between {steps[a][1]} and {steps[b][1]}")
    activations = {(detail, extra) for kind, _, detail, extra in steps if kind == "activation"}
    if len(activations) > 1:
        names = ", ".join(sorted(name + (f"({param:g})" if param is not None else "") for name, param in activations))
        raise _refuse(f"its forward mixes activations ({names})")
    notes: list[str] = []
    output = "logits"
    if kinds[-1] == "output":
        _, label, kind, dim = steps[-1]
        if dim not in (None, 1, -1):
            raise _refuse(f"its forward takes {label} over dim {dim}, not over the actions (dim=1 or -1)")
        output = "probabilities" if kind == "softmax" else "log-probabilities"
    if output != "probabilities":
        notes.append(f"forward returns {output}; the rebuilt policy gives softmax of the last layer")
    layers = [(label, weight, bias) for kind, label, weight, bias in steps if kind == "linear"]
    tensors: dict[str, np.ndarray] = {}
    sizes: list[int] = []
    for i, (label, weight, bias) in enumerate(layers):
        w = _to_numpy(weight)
        if w.ndim != 2 or 0 in w.shape:
            raise _refuse(f"{label} has a weight of shape {w.shape}")
        if sizes and w.shape[1] != sizes[-1]:
            raise _refuse(f"{label} takes {w.shape[1]} inputs but the layer before gives {sizes[-1]}")
        if i == 0:
            sizes.append(int(w.shape[1]))
        sizes.append(int(w.shape[0]))
        b = np.zeros(w.shape[0], dtype=np.float32) if bias is None else _to_numpy(bias)
        if bias is None:
            notes.append(f"{label} has no bias (zeros used)")
        if w.dtype != np.float32:
            notes.append(f"{label} holds {w.dtype} weights, stored as float32")
        if str(getattr(weight, "device", "cpu")) != "cpu":
            notes.append(f"{label} lives on {weight.device}; its weights were copied to the CPU")
        tensors[f"net.{2 * i}.weight"] = _float32(w, f"{label}.weight")
        tensors[f"net.{2 * i}.bias"] = _float32(b, f"{label}.bias")
    name, param = next(iter(activations)) if activations else ("relu", None)
    return RebuiltPolicy(obs_dim=sizes[0], n_actions=sizes[-1], hidden_sizes=tuple(sizes[1:-1]), activation=name,
                         tensors=tensors, notes=tuple(dict.fromkeys(notes)),
                         activation_param=None if param is None else float(param), output=output)
