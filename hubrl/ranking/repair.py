"""Pure repairs of a model card: the metadata the leaderboard reads, and hubrl's verification in the card body.

No I/O: each function takes what was read and returns the new text or metadata with a list of what changed, so
:func:`hubrl.ranking.check_submission` can commit them in one commit (or not at all).
"""

from __future__ import annotations

import copy
import math
from typing import TYPE_CHECKING, Any

from hubrl.card import (
    COURSE_TAGS, TASK, build_card, course_eval_result, format_metric, match_generated_card, metadata_problems,
    parse_metric,
)
from hubrl.envs.facts import ENVS
from hubrl.errors import CardError

if TYPE_CHECKING:
    from hubrl.ranking.claims import Verification
_SECTION_START = "<!-- hubrl-verification:start -->"
_SECTION_END = "<!-- hubrl-verification:end -->"


def repair_metadata(
    metadata: dict | None,
    env_id: str,
    *,
    repo_id: str,
    results: dict | None = None,
    verification: Verification | None = None,
) -> tuple[dict, list[str]]:
    """The card metadata with what the leaderboard reads repaired, and a list of the changes.

    Keeps every other key. Tags: adds the env id and the course tags, removes other hubrl env ids. Model-index:
    keeps a parseable first metric; otherwise the claim comes from results.json (mean_reward and std_reward), or
    from hubrl's verification when results.json lacks a std (the course notebook writes none).

    Raises:
        CardError: the card has no parseable metric and none can be derived honestly (run a verification).
    """
    meta = copy.deepcopy(metadata) if isinstance(metadata, dict) else {}
    changes: list[str] = []
    raw_tags = meta.get("tags")
    tags = [str(t) for t in raw_tags] if isinstance(raw_tags, list) else ([str(raw_tags)] if raw_tags else [])
    wrong = [t for t in tags if t in ENVS and t != env_id]
    new_tags = [t for t in tags if t not in wrong]
    if env_id not in new_tags:
        new_tags.insert(0, env_id)
    new_tags += [t for t in COURSE_TAGS if t not in new_tags]
    if new_tags != tags:
        meta["tags"] = new_tags
        added = [t for t in new_tags if t not in tags]
        changes.append("tags: " + ", ".join([*(f"+{t}" for t in added), *(f"-{t}" for t in wrong)]))

    model_name = repo_id.split("/")[-1]
    model_index = meta.get("model-index")
    has_entry = isinstance(model_index, list) and bool(model_index) and isinstance(model_index[0], dict)
    entry = model_index[0] if has_entry else None
    results_list = entry.get("results") if entry is not None and isinstance(entry.get("results"), list) else []
    first = results_list[0] if results_list and isinstance(results_list[0], dict) else None
    metrics = first.get("metrics") if first is not None and isinstance(first.get("metrics"), list) else []
    metric0 = metrics[0] if metrics and isinstance(metrics[0], dict) else None
    keep_metric = metric0 is not None and parse_metric(metric0.get("value")) is not None

    if keep_metric:
        course_metric = None
    else:
        mean, std, origin = _derive_claim(results, verification, env_id)
        course_metric = _course_result(env_id, mean, std, model_name)["metrics"][0]
        changes.append(f"model-index metric: {metric0.get('value') if metric0 else None!r} -> "
                       f"{course_metric['value']!r} (from {origin})")
    course = _course_result(env_id, 0.0, 0.0, model_name)
    if first is None:
        new_first = {"task": course["task"], "dataset": course["dataset"], "metrics": [course_metric]}
        changes.append(f"model-index: added a {TASK} result on {env_id}")
    else:
        new_first = dict(first)
        task = first.get("task") if isinstance(first.get("task"), dict) else {}
        dataset = first.get("dataset") if isinstance(first.get("dataset"), dict) else {}
        if task.get("type") != TASK:
            new_first["task"] = {**task, "type": TASK, "name": task.get("name") or TASK}
            changes.append(f"model-index task type: {task.get('type')!r} -> {TASK!r}")
        if dataset.get("type") != env_id or dataset.get("name") != env_id:
            new_first["dataset"] = {**dataset, "name": env_id, "type": env_id}
            changes.append(f"model-index dataset: {dataset.get('type')!r} -> {env_id!r}")
        if course_metric is not None:
            rest = [m for m in metrics[1:]] if metric0 is not None else [m for m in metrics if isinstance(m, dict)]
            new_first["metrics"] = [course_metric, *rest]
    new_entry = dict(entry) if entry is not None else {"name": model_name}
    new_entry.setdefault("name", model_name)
    new_entry["results"] = [new_first, *results_list[1:]]
    new_index = [new_entry, *(model_index[1:] if entry is not None else [])]
    if entry is None:
        changes.append("model-index: added (the leaderboard ranks by its first metric)")
    meta["model-index"] = new_index
    problems = metadata_problems(meta, env_id)
    if problems:  # pragma: no cover - a bug here, not a user error
        raise CardError(f"hubrl could not repair the card: {'; '.join(problems)}")
    return meta, changes


def _course_result(env_id: str, mean: float, std: float, model_name: str) -> dict[str, Any]:
    """The course's model-index result, built by card.py's EvalResult (one definition of the layout)."""
    from huggingface_hub import ModelCardData

    data = ModelCardData(model_name=model_name, eval_results=[course_eval_result(env_id, mean, std)]).to_dict()
    return data["model-index"][0]["results"][0]


def _derive_claim(results: dict | None, verification: Verification | None, env_id: str) -> tuple[float, float, str]:
    results = results or {}
    mean, std = results.get("mean_reward"), results.get("std_reward")
    if _finite(mean) and _finite(std) and results.get("env_id", env_id) == env_id:
        return float(mean), float(std), "results.json"
    if verification is not None and verification.ok:
        return verification.mean_reward, verification.std_reward, "hubrl's verification"
    reason = ("results.json has mean_reward but no std_reward (the course notebook writes none)"
              if _finite(mean) else "results.json has no mean_reward")
    raise CardError(f"cannot derive the metric: the card has no parseable one and {reason}; "
                    "run hubrl submit REPO_ID --verify --fix to measure and record it")


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def card_with_verification(text: str | None, original: str | None, hyper: dict | None, results: dict | None,
                            new_results: dict, record: dict, repo_id: str) -> str:
    """The card with hubrl's verification: hubrl-generated cards are re-rendered, others get a short section.

    ``text`` is the card so far (perhaps repaired), ``original`` the one read; ``record`` the
    ``hubrl_verification`` record that ``new_results`` holds.
    """
    if original is not None and text == original and hyper is not None and results is not None:
        generated, name = match_generated_card(original, hyperparameters=hyper, results=results, repo_id=repo_id)
        if generated:
            return str(build_card(hyperparameters=hyper, results=new_results, repo_id=name))
    text = text or ""
    section = (
        f"{_SECTION_START}\n## hubrl verification\n\n"
        f"Re-evaluated by hubrl {record['hubrl_version']} on {record['date']}: "
        f"**{format_metric(record['mean_reward'], record['std_reward'])}** "
        f"(score {record['score']:.2f}) over {record['n_episodes']} episodes, seeds "
        f"{record['seeds'][0]}..{record['seeds'][-1]}, actions sampled, "
        f"episodes capped at {record['max_steps']} steps. "
        f"Card claim: {record['claimed'] or 'none'}."
        + (f" Flags: {'; '.join(record['flags'])}." if record["flags"] else "")
        + f" Reproduce: `hubrl evaluate {repo_id} --n-eval-episodes {record['n_episodes']} --seed {record['seed']}`."
        f" (This is not the Hub's `verified` flag, which only the Hub sets.)\n{_SECTION_END}\n"
    )
    start, end = text.find(_SECTION_START), text.find(_SECTION_END)
    if start != -1 and end > start:
        tail = text[end + len(_SECTION_END):]
        return text[:start] + section + tail.lstrip("\n")
    return text + ("" if text.endswith("\n") or not text else "\n") + "\n" + section


