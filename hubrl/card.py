"""The model card: metadata the course leaderboard reads, rendered with huggingface_hub from ``model_cards/``.

One place for the card's facts: the course tags, ``library_name: hubrl`` (how the Hub tells hubrl's models apart and
would key a "Use this model" snippet), the model-index layout, the metric format ``"<mean:.2f> +/- <std:.2f>"`` that
the leaderboard splits and ranks by mean - std, the score that card states, the load snippets, and what makes a card
one hubrl generated. ``import hubrl.card`` is cheap: huggingface_hub loads when a card is built or read.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubrl.eval_results import HUBRL_URL, TASK_ID, benchmark_dataset, eval_results_path
from hubrl.policy import CONFIG_FORMAT, LEGACY_FORMATS, STATE_DICT_FORMAT
from hubrl.traces import TRACES

if TYPE_CHECKING:
    from huggingface_hub import EvalResult, EvalResultEntry, ModelCard

COURSE_TAGS = ("reinforce", "reinforcement-learning", "custom-implementation", "deep-rl-class")
"""Tags every course REINFORCE card carries, after the env id."""
TASK = "reinforcement-learning"
METRIC = "mean_reward"
TEMPLATE = "reinforce.md"
LIBRARY_NAME = "hubrl"
"""The card's ``library_name``: the Hub lists, filters and counts models by it (downloads of ``config.json``, the
Hub's default download-counted file, count for the library)."""

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


def course_score(mean: float, std: float) -> float:
    """The score a card states for ``mean`` and ``std``: mean - std of the two numbers its metric shows (2 decimals),
    so the ``.eval_results`` value, the card's score line and the leaderboard's reading of the metric agree.

    Example:
        >>> course_score(153.7049, 74.4861)
        79.21
    """
    shown = parse_metric(format_metric(mean, std))
    assert shown is not None  # format_metric refused non-finite numbers
    return round(shown[0] - shown[1], 2)


REQUIRES = re.compile(r"hubrl\[(box2d|mujoco|atari)\]")
"""What results.json's ``requires`` may name in a snippet (someone else's file: any other text gives ``hubrl``)."""


def course_shaped(config: Any) -> bool:
    """Whether a config.json's policy is the course's shape (an MLP over discrete actions), which
    ``Policy.to_torch()`` turns into the course's ``Policy``; read only to choose a snippet."""
    return not isinstance(config, dict) or (not config.get("conv_layers")
                                            and config.get("head", "categorical") == "categorical")


def usage_snippets(repo_id: str, *, requires: Any = None, config: Any = None) -> list[tuple[str, str]]:
    """How to use a hubrl model, as (language, code), in the form the Hub's library snippets take for RL libraries
    (huggingface.js ``model-libraries-snippets.ts``: sample-factory and ml-agents give one shell command that loads
    by repo id, stable-baselines3 a ``load_from_hub(repo_id=...)`` call). The card and the local Hub's model page
    show these. ``requires`` (results.json's, e.g. ``hubrl[box2d]``) is what pip installs; ``config``
    (config.json's content) picks how to get a trainable torch module back."""
    install = f'"{requires}"' if isinstance(requires, str) and REQUIRES.fullmatch(requires) else "hubrl"
    if course_shaped(config):
        trainable = ("model = agent.policy.to_torch()   # the course's Policy (forward, act) with these weights, ready "
                     "to fine-tune")
    else:
        trainable = ("from hubrl.network import PolicyNetwork\n"
                     "model = PolicyNetwork.from_policy(agent.policy)   # hubrl's network with these weights, ready "
                     "to fine-tune")
    return [
        ("bash", f"pip install {install}\nhubrl enjoy {repo_id}          # evaluate and record a replay"),
        ("python", "import hubrl\n\n"
                   f"agent = hubrl.load_from_hub(\"{repo_id}\")   # safetensors + config.json, no pickle involved\n"
                   "print(hubrl.evaluate_agent(agent.policy, n_eval_episodes=10).summary())\n"
                   "hubrl.record_video(agent.policy, \"replay.mp4\")\n" + trainable),
    ]


def course_eval_result(env_id: str, mean: float, std: float) -> EvalResult:
    """The model-index result the leaderboard reads: task/dataset = the env id, metric mean_reward "X +/- Y".

    ``verified`` is always False: only the Hub sets it.
    """
    from huggingface_hub import EvalResult

    return EvalResult(
        task_type=TASK, task_name=TASK, dataset_type=env_id, dataset_name=env_id,
        metric_type=METRIC, metric_name=METRIC, metric_value=format_metric(mean, std), verified=False,
    )


def eval_result_entry(results: dict[str, Any], mean: float, std: float) -> EvalResultEntry:
    """The card's claim in the Hub's evaluation-results format: the score (:func:`course_score`) on the env's
    benchmark dataset, the protocol in ``notes``, ``source`` naming hubrl. ``mean``/``std`` are the card's.

    Example:
        >>> eval_result_entry(results, 500.0, 0.0).value
        500.0
    """
    from huggingface_hub import EvalResultEntry

    seeds = results.get("seeds") or []
    seeds_text = f"seeds {seeds[0]}..{seeds[-1]}" if len(seeds) > 1 else f"seed {', '.join(map(str, seeds))}"
    policy = "deterministic policy (argmax)" if results.get("deterministic") else "stochastic policy (actions sampled)"
    notes = (f"hubrl seeded evaluation: {results.get('n_evaluation_episodes', len(seeds))} episodes ({seeds_text}, "
             f"episode i reset and sampled with seed i), cap {results.get('max_steps')} steps, {policy}; value = "
             f"mean - std = {format_metric(mean, std).replace(' +/- ', ' - ')}")
    date = results.get("eval_datetime")
    return EvalResultEntry(dataset_id=benchmark_dataset(results["env_id"]), task_id=TASK_ID,
                           value=course_score(mean, std), date=str(date) if date else None, source_url=HUBRL_URL,
                           source_name="hubrl (results.json holds the seeds and every episode's return)", notes=notes)


def render_eval_results(results: dict[str, Any], mean: float | None = None, std: float | None = None) -> str:
    """``.eval_results/<env>.yaml`` for a run's ``results.json`` (its own mean and std unless the card's are given),
    written with huggingface_hub's ``eval_result_entries_to_yaml``."""
    import yaml
    from huggingface_hub import eval_result_entries_to_yaml

    mean = float(results["mean_reward"]) if mean is None else mean
    std = float(results["std_reward"]) if std is None else std
    data = eval_result_entries_to_yaml([eval_result_entry(results, mean, std)])
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)


def read_eval_results(text: str) -> list[EvalResultEntry]:
    """Someone else's ``.eval_results/*.yaml`` as huggingface_hub's entries (bounded as :func:`load_yaml` says).

    Raises:
        CardError: not valid YAML, too large or deep, or not a list of entries with dataset id, task id and value.
    """
    from huggingface_hub import parse_eval_result_entries

    from hubrl.errors import CardError

    data = load_yaml(text, what="the evaluation results file")
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise CardError("the evaluation results file must be a YAML list of entries (dataset: {id, task_id}, value)")
    try:
        return parse_eval_result_entries(data)
    except (KeyError, TypeError, AttributeError, ValueError) as err:
        raise CardError(f"an evaluation result entry lacks or mistypes {str(err)[:80]}: each needs dataset.id, "
                        "dataset.task_id and value") from None


MAX_FRONT_MATTER_BYTES = 128 << 10
"""Largest YAML front matter read (someone else's card: bounded before YAML runs). Real metadata is small (a course
card's is about 1 KiB; the largest on the Hub, embedding models' MTEB result tables, tens of KiB), while parsing costs
up to ~9 us per byte even with libyaml's C loader (a 256 KiB flow list of nested empty lists took 2.3 s of CPU here),
so 128 KiB keeps one card near a second at worst and a page that reads three fresh ones well under 10 s."""
MAX_FRONT_MATTER_DEPTH = 64
"""Deepest nesting of ``[``/``{`` in the front matter (the YAML composer recurses per level)."""
MAX_FRONT_MATTER_NODES = 200_000
"""Most values the parsed metadata may hold (aliases could otherwise expand it without bound)."""


def _front_matter(text: str) -> re.Match | None:
    """The YAML block as huggingface_hub finds it (``repocard.REGEX_YAML_BLOCK``): the leaderboard reads the same."""
    from huggingface_hub.repocard import REGEX_YAML_BLOCK

    return REGEX_YAML_BLOCK.search(text)


def read_front_matter(text: str, *, max_bytes: int = MAX_FRONT_MATTER_BYTES) -> dict[str, Any] | None:
    """A README's YAML metadata, exactly as written (no model-index regrouping), as JSON-compatible values (dates as
    ISO strings, keys as strings); None without front matter. The one reader of card metadata in hubrl.

    The card is untrusted: see :func:`load_yaml` for the bounds.

    Args:
        text: the whole README.
        max_bytes: the largest front matter read (UTF-8 bytes); at most :data:`MAX_FRONT_MATTER_BYTES` is useful,
            smaller for callers that must answer cheaply (an anonymous ``/api/validate-yaml``).

    Raises:
        CardError: too large, too deep, not valid YAML, or not a mapping; one line, the YAML error chained.
    """
    from hubrl.errors import CardError

    match = _front_matter(text)
    if match is None:
        return None
    data = load_yaml(match.group(2), what="the README front matter", max_bytes=max_bytes)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CardError("the README front matter must be a YAML mapping (key: value pairs)")
    return data


def load_yaml(block: str, *, what: str, max_bytes: int = MAX_FRONT_MATTER_BYTES) -> Any:
    """Someone else's YAML (a card's front matter, a repo's ``.eval_results`` file) as JSON-compatible values.

    Its size and nesting are checked on the raw text before YAML runs (with libyaml's C loader where installed), and
    the parsed value is bounded in size (aliases could otherwise expand it without bound). Whatever goes wrong
    inside YAML (an invalid document, a ``!!int`` that is not a number, a date past December, a 5000-digit integer)
    is a CardError.

    Raises:
        CardError: larger than ``max_bytes`` (:data:`MAX_FRONT_MATTER_BYTES`), deeper than
            :data:`MAX_FRONT_MATTER_DEPTH`, or not valid YAML; one line naming ``what``, the YAML error chained.
    """
    import yaml

    from hubrl.errors import CardError

    if len(block.encode("utf-8", "replace")) > max_bytes:
        raise CardError(f"{what} is larger than {_kib(max_bytes)}; real card metadata is a few KiB")
    if _flow_depth(block) > MAX_FRONT_MATTER_DEPTH:
        raise CardError(f"{what} nests deeper than {MAX_FRONT_MATTER_DEPTH} levels")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(block, Loader=loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as err:
        raise CardError(f"{what} is not valid YAML: {' '.join(str(err).split())[:200]}") from err
    except RecursionError as err:
        raise CardError(f"{what} nests too deeply") from err
    except Exception as err:  # a constructor's own error: int('x'), datetime(2024, 13, 1), int of 5000 digits
        raise CardError(f"{what} holds a value YAML cannot read: {' '.join(str(err).split())[:200]}") from err
    return _jsonable(data, [MAX_FRONT_MATTER_NODES], 0, what)


def _kib(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 and not n % (1 << 20) else f"{n / 1024:g} KiB"


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


def _jsonable(value: Any, budget: list[int], depth: int, what: str) -> Any:
    """A JSON-compatible copy of loaded YAML, bounded in size and depth (aliases can share and nest subtrees)."""
    from hubrl.errors import CardError

    budget[0] -= 1
    if budget[0] < 0 or depth > 2 * MAX_FRONT_MATTER_DEPTH:
        raise CardError(f"{what} is too large once its aliases are expanded")
    if isinstance(value, dict):
        return {str(k): _jsonable(v, budget, depth + 1, what) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v, budget, depth + 1, what) for v in value]
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
    config: dict[str, Any] | None = None,
) -> ModelCard:
    """Render the card for a run folder's ``hyperparameters.json`` and ``results.json`` (and its ``config.json``,
    which says how a trainable module is got back).

    ``repo_id`` names the model-index entry (its name part, as the course does) and the load instructions; without
    it the card uses ``Reinforce-<env>`` and a placeholder repo id.
    """
    from huggingface_hub import ModelCard, ModelCardData

    env_id = results["env_id"]
    model_name = repo_id.split("/")[-1] if repo_id else default_model_name(env_id)
    mean, std = float(results["mean_reward"]), float(results["std_reward"])
    card_data = ModelCardData(
        library_name=LIBRARY_NAME,
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
        score=f"{course_score(mean, std):.2f}",
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
        snippets=usage_snippets(repo_id or "<user>/<repo>", requires=results.get("requires"), config=config),
        eval_results=eval_results_path(env_id),
        benchmark=benchmark_dataset(env_id),
        traces=TRACES if training else None,
        obs_lags=(hyperparameters.get("env_options") or {}).get("obs_lags"),
        hyperparameters=[(k, _short(v)) for k, v in hyperparameters.items()],
    )


def weights_format(weights: dict[str, Any]) -> str:
    """results.json's ``weights.format`` in today's spelling (absent: a policy hubrl trained)."""
    fmt = str(weights.get("format", CONFIG_FORMAT))
    return LEGACY_FORMATS.get(fmt, fmt)


def needs_author_class(weights: Any) -> bool:
    """Whether results.json's ``weights`` entry says the weights are a module's own state_dict (any spelling)."""
    return isinstance(weights, dict) and weights_format(weights) == STATE_DICT_FORMAT


def weights_note(weights: dict[str, Any]) -> str | None:
    """Where the weights came from, for agents hubrl did not train (results.json ``weights``); None otherwise.

    A course push's ``weights.author_act`` is what the author's own ``act()`` scored on the same seeds.
    """
    if needs_author_class(weights):
        short = str(weights.get("class_name", "Policy")).rsplit(".", 1)[-1]
        return (f"**Loading needs the author's class.** `model.safetensors` holds `{weights.get('class_name')}`'s "
                f"own `state_dict` (no pickle) because {weights.get('reason', 'hubrl cannot rebuild it')}. The numbers "
                f"above are what the author's own `act()` scored. Load it with the class: `model = {short}(...)` then "
                "`model.load_state_dict(safetensors.torch.load_file(\"model.safetensors\"))`.")
    if weights.get("converted_from") == "model.pt":
        return ("Converted by hubrl from the course notebook's pickled `model.pt` (read without running any code "
                "from it); the pickle is not part of this agent.")
    if weights.get("class_name"):
        check = weights.get("check") or {}
        note = (f"The author's own `{weights['class_name']}`, rebuilt by hubrl as its MLP: on the "
                f"{check.get('states', '?')} states the author's `act()` saw, it gives the probability `act()` "
                f"reported for the action it chose (max difference "
                f"{check.get('max_probability_difference', float('nan')):.1e}). No pickle was written.")
        author_act = weights.get("author_act")
        if author_act:
            note += (f" The numbers above are hubrl's seeded protocol on this network; the author's own `act()` "
                     f"scored {format_metric(author_act['mean_reward'], author_act['std_reward'])} on the same seeds.")
        return note
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
