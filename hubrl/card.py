"""The model card: metadata the course leaderboard reads, rendered with huggingface_hub from ``model_cards/``.

One place for the card's facts: the course tags, the model-index layout, the metric format
``"<mean:.2f> +/- <std:.2f>"`` that the leaderboard splits and ranks by mean - std, and what makes a card one hubrl
generated. ``import hubrl.card`` is cheap: huggingface_hub loads when a card is built or read.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubrl.policy import CONFIG_FORMAT, LEGACY_FORMATS, STATE_DICT_FORMAT

if TYPE_CHECKING:
    from huggingface_hub import EvalResult, ModelCard

COURSE_TAGS = ("reinforce", "reinforcement-learning", "custom-implementation", "deep-rl-class")
"""Tags every course REINFORCE card carries, after the env id."""
TASK = "reinforcement-learning"
METRIC = "mean_reward"
TEMPLATE = "reinforce.md"

_METRIC_RE = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(?:(?:\+/-|±|\+-)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?))?\s*$")


def card_tags(env_id: str) -> list[str]:
    """The tags the leaderboard filters on: the env id first, then the course tags."""
    return [env_id, *COURSE_TAGS]


def default_model_name(env_id: str) -> str:
    return "Reinforce-" + env_id.replace("/", "-")


def format_metric(mean: float, std: float) -> str:
    """The model-index metric value the course leaderboard parses: ``"500.00 +/- 0.00"``.

    Raises:
        ValueError: ``mean`` or ``std`` is not finite (the leaderboard could not rank it).
    """
    if not (math.isfinite(mean) and math.isfinite(std)):
        raise ValueError(f"cannot format non-finite metric {mean} +/- {std}")
    return f"{mean:.2f} +/- {std:.2f}"


def parse_metric(value: Any) -> tuple[float, float] | None:
    """Split a metric value the way the leaderboard does: ``"X +/- Y"`` -> (X, Y); a lone number means std 0.

    Returns None when the value cannot be parsed (the leaderboard cannot rank such a card).

    Example:
        >>> parse_metric("153.70 +/- 74.49")
        (153.7, 74.49)
        >>> parse_metric(500)
        (500.0, 0.0)
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return (float(value), 0.0) if math.isfinite(value) else None
    match = _METRIC_RE.match(str(value))
    if not match:
        return None
    mean, std = float(match.group(1)), float(match.group(2) or 0.0)
    if not (math.isfinite(mean) and math.isfinite(std)):
        return None
    return mean, std


def course_eval_result(env_id: str, mean: float, std: float) -> EvalResult:
    """The model-index result the leaderboard reads: task/dataset = the env id, metric mean_reward "X +/- Y".

    ``verified`` is always False: only the Hub sets it.
    """
    from huggingface_hub import EvalResult

    return EvalResult(
        task_type=TASK, task_name=TASK, dataset_type=env_id, dataset_name=env_id,
        metric_type=METRIC, metric_name=METRIC, metric_value=format_metric(mean, std), verified=False,
    )


MAX_FRONT_MATTER_BYTES = 1 << 20
"""Largest YAML front matter read (someone else's card: bounded before YAML runs)."""
MAX_FRONT_MATTER_DEPTH = 64
"""Deepest nesting of ``[``/``{`` in the front matter (the YAML composer recurses per level)."""
MAX_FRONT_MATTER_NODES = 200_000
"""Most values the parsed metadata may hold (aliases could otherwise expand it without bound)."""


def _front_matter(text: str) -> re.Match | None:
    """The YAML block as huggingface_hub finds it (``repocard.REGEX_YAML_BLOCK``): the leaderboard reads the same."""
    from huggingface_hub.repocard import REGEX_YAML_BLOCK

    return REGEX_YAML_BLOCK.search(text)


def read_front_matter(text: str) -> dict[str, Any] | None:
    """A README's YAML metadata, exactly as written (no model-index regrouping), as JSON-compatible values (dates as
    ISO strings, keys as strings); None without front matter. The one reader of card metadata in hubrl.

    The card is untrusted: its size and nesting are checked on the raw text before YAML runs (with libyaml's C
    loader where installed), and the parsed value is bounded in size.

    Raises:
        CardError: too large, too deep, not valid YAML, or not a mapping; one line, the YAML error chained.
    """
    import yaml

    from hubrl.errors import CardError

    match = _front_matter(text)
    if match is None:
        return None
    block = match.group(2)
    if len(block.encode("utf-8", "replace")) > MAX_FRONT_MATTER_BYTES:
        raise CardError(f"the README front matter is larger than {MAX_FRONT_MATTER_BYTES >> 20} MiB")
    if _flow_depth(block) > MAX_FRONT_MATTER_DEPTH:
        raise CardError(f"the README front matter nests deeper than {MAX_FRONT_MATTER_DEPTH} levels")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(block, Loader=loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as err:
        raise CardError(f"the README front matter is not valid YAML: {' '.join(str(err).split())[:200]}") from err
    except RecursionError as err:
        raise CardError("the README front matter nests too deeply") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CardError("the README front matter must be a YAML mapping (key: value pairs)")
    return _jsonable(data, [MAX_FRONT_MATTER_NODES], 0)


def _flow_depth(block: str) -> int:
    """The deepest ``[``/``{`` nesting outside quoted strings, a quote ending at its line's end at the latest (an
    apostrophe in plain text must not hide what follows); block-style nesting is bounded by the line count."""
    depth = deepest = 0
    quote = ""
    for ch in block:
        if quote:
            if ch == quote or ch == "\n":
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth = max(0, depth - 1)
    return deepest


def _jsonable(value: Any, budget: list[int], depth: int) -> Any:
    """A JSON-compatible copy of loaded YAML, bounded in size and depth (aliases can share and nest subtrees)."""
    from hubrl.errors import CardError

    budget[0] -= 1
    if budget[0] < 0 or depth > 2 * MAX_FRONT_MATTER_DEPTH:
        raise CardError("the README front matter is too large once its aliases are expanded")
    if isinstance(value, dict):
        return {str(k): _jsonable(v, budget, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v, budget, depth + 1) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def replace_front_matter(text: str, metadata: dict[str, Any]) -> str:
    """``text`` with its YAML front matter replaced by ``metadata`` (added if absent); the body kept byte for byte."""
    import yaml

    block = yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True, width=1000)
    match = _front_matter(text)
    if match is None:
        return f"---\n{block}---\n{text}"
    newline = match.group(4) or "\n"
    return f"---{newline}{block.replace(chr(10), newline)}---{newline}{text[match.end():]}"


def first_metric(metadata: dict[str, Any]) -> tuple[bool, Any]:
    """What the leaderboard reads: ``model-index[0].results[0].metrics[0].value`` -> (found, value)."""
    try:
        model_index = metadata.get("model-index") or metadata.get("model_index")
        metric = model_index[0]["results"][0]["metrics"][0]
        return True, metric["value"]
    except (AttributeError, KeyError, IndexError, TypeError):
        return False, None


def template_text(name: str = TEMPLATE) -> str:
    """A card template: from the installed package, or from the source tree's ``model_cards/``."""
    try:
        return resources.files("hubrl.model_cards").joinpath(name).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError, TypeError):
        return (Path(__file__).resolve().parent.parent / "model_cards" / name).read_text(encoding="utf-8")


def build_card(
    *,
    hyperparameters: dict[str, Any],
    results: dict[str, Any],
    repo_id: str | None = None,
    video: str = "replay.mp4",
    curve: str = "training_curve.png",
) -> ModelCard:
    """Render the card for a run folder's ``hyperparameters.json`` and ``results.json``.

    ``repo_id`` names the model-index entry (its name part, as the course does) and the load instructions; without
    it the card uses ``Reinforce-<env>`` and a placeholder repo id.
    """
    from huggingface_hub import ModelCard, ModelCardData

    env_id = results["env_id"]
    model_name = repo_id.split("/")[-1] if repo_id else default_model_name(env_id)
    mean, std = float(results["mean_reward"]), float(results["std_reward"])
    card_data = ModelCardData(
        tags=card_tags(env_id),
        model_name=model_name,
        eval_results=[course_eval_result(env_id, mean, std)],
    )
    seeds = results.get("seeds") or []
    seeds_text = f"{seeds[0]}..{seeds[-1]}" if len(seeds) > 1 else ", ".join(map(str, seeds))
    training = results.get("training") or {}
    training_text = ""
    if training:
        training_text = (
            f"Trained for {training.get('episodes', '?'):,} episodes / {training.get('env_steps', '?'):,} env steps "
            f"in {training.get('wall_s', 0):.1f} s (stopped: {training.get('stopped', '?')}) "
            f"on {training.get('machine', 'an unknown machine')}."
        )
    verification = None
    if results.get("hubrl_verification"):
        v = results["hubrl_verification"]
        verification = (f"re-evaluated by hubrl on {v.get('date', '?')}: {format_metric(v['mean_reward'], v['std_reward'])} "
                        f"over {v.get('n_episodes', '?')} episodes (seeds from {v.get('seed', '?')})")
    weights = results.get("weights") or {}
    return ModelCard.from_template(
        card_data,
        template_str=template_text(),
        env_id=env_id,
        mean_reward=f"{mean:.2f}",
        std_reward=f"{std:.2f}",
        score=f"{mean - std:.2f}",
        n_episodes=results.get("n_evaluation_episodes", len(seeds)),
        seeds_text=seeds_text,
        base_seed=seeds[0] if seeds else 0,
        returns_text=", ".join(f"{r:g}" for r in results.get("episode_returns", [])),
        deterministic=bool(results.get("deterministic")),
        max_steps=results.get("max_steps"),
        verification=verification,
        source=repo_id or "<user>/<repo>",
        video=video,
        curve=curve if training else None,
        training_text=training_text,
        weights_note=weights_note(weights),
        loadable=weights_format(weights) == CONFIG_FORMAT,
        obs_lags=(hyperparameters.get("env_options") or {}).get("obs_lags"),
        install=f'"{results["requires"]}"' if results.get("requires") else "hubrl",
        hyperparameters=[(k, _short(v)) for k, v in hyperparameters.items()],
    )


def weights_format(weights: dict[str, Any]) -> str:
    """results.json's ``weights.format`` in today's spelling (absent: a policy hubrl trained)."""
    fmt = str(weights.get("format", CONFIG_FORMAT))
    return LEGACY_FORMATS.get(fmt, fmt)


def weights_note(weights: dict[str, Any]) -> str | None:
    """Where the weights came from, for agents hubrl did not train (results.json ``weights``); None otherwise."""
    if weights_format(weights) == STATE_DICT_FORMAT:
        short = str(weights.get("class_name", "Policy")).rsplit(".", 1)[-1]
        return (f"**Loading needs the author's class.** hubrl could not rebuild `{weights.get('class_name')}` "
                f"({weights.get('reason', 'unknown layers')}), so `model.safetensors` holds its `state_dict` (no "
                f"pickle): `model = {short}(...)` then "
                "`model.load_state_dict(safetensors.torch.load_file(\"model.safetensors\"))`.")
    if weights.get("converted_from") == "model.pt":
        return ("Converted by hubrl from the course notebook's pickled `model.pt` (read without running any code "
                "from it); the pickle is not part of this agent.")
    if weights.get("class_name"):
        check = weights.get("check") or {}
        return (f"The author's own `{weights['class_name']}`, rebuilt by hubrl as its MLP; it gives the same action "
                f"probabilities on {check.get('states', '?')} real states (max difference "
                f"{check.get('max_probability_difference', float('nan')):.1e}). No pickle was written.")
    return None


_LOAD_LINE_RE = re.compile(r'load_from_hub\("([^"]+)"\)')
"""The load instructions in a rendered card name the repo it was rendered for."""


def match_generated_card(
    text: str, *, hyperparameters: Any, results: Any, repo_id: str | None = None
) -> tuple[bool, str | None]:
    """Is ``text`` a card hubrl generated from these JSON files, untouched since? -> (generated, repo id rendered for).

    A generated card equals what :func:`build_card` renders now for no repo, for ``repo_id``, or for a repo its own
    load instructions name (a run folder pushed elsewhere first). JSON files that cannot render a card (someone
    else's repo) mean "not generated". A card the user edited is never regenerated over.
    """
    for name in dict.fromkeys([None, repo_id, *_LOAD_LINE_RE.findall(text)]):
        try:
            rendered = str(build_card(hyperparameters=hyperparameters, results=results, repo_id=name))
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            return False, None
        if rendered == text:
            return True, name
    return False, None


def _short(value: Any) -> str:
    text = str(list(value) if isinstance(value, tuple) else value)
    return text if len(text) <= 80 else text[:77] + "..."


class Problem(str):
    """Something that keeps a repo off the leaderboard or misreports it: a one-sentence message with its fix (the
    string itself), a stable ``code``, and whether ``hubrl submit --fix`` can repair it (``fixable``).

    Example:
        >>> p = Problem("no-model-index", "the card has no model-index; ...", fixable=True)
        >>> p.code, p.fixable, "model-index" in p
        ('no-model-index', True, True)
    """

    code: str
    fixable: bool

    def __new__(cls, code: str, message: str, fixable: bool = False) -> Problem:
        problem = super().__new__(cls, message)
        problem.code, problem.fixable = code, fixable
        return problem

    @property
    def message(self) -> str:
        return str(self)

    def __reduce__(self):
        return Problem, (self.code, str(self), self.fixable)

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "message": str(self), "fixable": self.fixable}


def card_problems(card: ModelCard, env_id: str | None = None) -> list[Problem]:
    """What would keep this card off the course leaderboard, one fix-it sentence per problem (empty: fine).

    Checks exactly what the leaderboard reads: the env tag, a model-index, its first result's task and dataset,
    and a first metric whose value parses as ``"X +/- Y"``. See :func:`metadata_problems`.
    """
    return metadata_problems(card.data.to_dict() if card.data else {}, env_id)


def metadata_problems(metadata: dict[str, Any], env_id: str | None = None) -> list[Problem]:
    """:func:`card_problems` on a card's raw YAML metadata (as :func:`read_front_matter` or the Hub's cardData give it).

    ``env_id`` is the environment the model is for; without it the model-index dataset type names it. Every one
    of these is repaired by ``hubrl submit --fix``.
    """
    problems: list[Problem] = []

    def problem(code: str, message: str) -> None:
        problems.append(Problem(code, message, fixable=True))

    data = metadata if isinstance(metadata, dict) else {}
    raw_tags = data.get("tags") or []
    tags = [str(t) for t in raw_tags] if isinstance(raw_tags, list) else [str(raw_tags)]
    model_index = data.get("model-index") or data.get("model_index")
    first: dict[str, Any] = {}
    if not model_index:
        problem("no-model-index", "the card has no model-index; add one with an EvalResult (hubrl submit --fix does it)")
    else:
        try:
            first = model_index[0]["results"][0]
        except (KeyError, IndexError, TypeError):
            first = {}
        if not isinstance(first, dict) or not first:
            problem("no-result", "model-index has no results entry; add task, dataset and a mean_reward metric")
            first = {}
    dataset = first.get("dataset") if isinstance(first.get("dataset"), dict) else {}
    task = first.get("task") if isinstance(first.get("task"), dict) else {}
    card_env = env_id or dataset.get("type") or dataset.get("name")
    if not card_env:
        problem("no-dataset", "the model-index names no dataset; set dataset type and name to the env id")
    elif card_env not in tags:
        problem("no-env-tag", f"the tags lack the env id {card_env!r}; the leaderboard lists only models tagged with it")
    if first and dataset.get("type") not in (None, card_env):
        problem("dataset-type", f"model-index dataset type is {dataset.get('type')!r}, expected {card_env!r}")
    if first and task.get("type") != TASK:
        problem("task-type", f"model-index task type is {task.get('type')!r}, expected {TASK!r}")
    metrics = first.get("metrics")
    if first and not (isinstance(metrics, list) and metrics):
        problem("no-metrics", "model-index has no metrics; the first metric must be mean_reward 'X.XX +/- Y.YY'")
    elif first:
        found, value = first_metric(data)
        if not found:
            problem("no-metric-value", "the first metric has no value; it must be mean_reward 'X.XX +/- Y.YY'")
        elif parse_metric(value) is None:
            problem("metric-unparseable", f"first metric value {str(value)[:80]!r} does not parse as 'X.XX +/- Y.YY'")
    return problems
