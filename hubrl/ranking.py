"""The course leaderboard, read the way the course reads it, plus what the course never does: check the claims.

Ranking (what the Deep RL Course leaderboard does): list the Hub models tagged with the exact env id, read the
first metric of each card's model-index (``model-index[0].results[0].metrics[0].value``), split ``"X +/- Y"``
(a lone number means std 0) and sort by ``X - Y``, best first. Cards the leaderboard cannot rank (no model-index,
an unparseable value such as ``"abc"``, unreadable front matter) are listed after the ranked ones with the reason,
never dropped silently and never crashing the listing.

Checking claims. Scores on cards are self-reported; hubrl flags them in two ways:

* **impossible** (no agent needed): the claimed mean is above the env's best possible return
  (:attr:`hubrl.envs.EnvInfo.max_return`, e.g. 500 for CartPole-v1's 500-step limit) or below its lowest, or the
  claimed std is negative or larger than half the return range (no set of returns in [min, max] has a larger std).
* **far outside the measured range** (``--verify``): hubrl downloads the agent (safely, see
  :func:`hubrl.hub.load_from_hub`), re-evaluates it with its seeded protocol (10 episodes, seeds 0..9, the env's
  ``max_t``) and flags a claimed mean with
  ``|claimed mean - measured mean| > max(3 * measured std, 5% of (max_return - min_return))``.
  Three standard deviations of the episode returns is deliberately lenient (the claimed mean is itself an average
  of ~10 episodes); the 5%-of-range floor keeps agents whose measured returns barely vary (a CartPole agent at
  500.00 +/- 0.00) from being flagged over noise: on CartPole-v1 the floor is 24.95.

Verification never sets the Hub's EvalResult ``verified`` flag (only the Hub does that); :func:`check_submission`
records hubrl's measurement under its own key ``hubrl_verification`` in results.json and in the card body.
"""

from __future__ import annotations

import concurrent.futures
import copy
import datetime as dt
import json
import math
import multiprocessing
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubrl.card import (
    COURSE_TAGS,
    TASK,
    course_eval_result,
    first_metric,
    format_metric,
    metadata_problems,
    parse_metric,
    read_front_matter,
    replace_front_matter,
)
from hubrl.envs import ENVS
from hubrl.errors import CardError, ConfigError, HubError, HubrlError

COURSE_LEADERBOARD_URL = "https://huggingface.co/spaces/huggingface-projects/Deep-RL-Course-Leaderboard"
"""Where the course shows its ranking (it refreshes on a schedule: a new push can take hours to appear)."""
VERIFY_EPISODES = 10
VERIFY_SEED = 0
DEFAULT_VERIFY_TOP = 5
FAR_STDS = 3.0
"""A claimed mean further than this many measured stds (or ``FAR_RANGE_FRACTION``) from the measurement is flagged."""
FAR_RANGE_FRACTION = 0.05
"""... or further than this fraction of the env's return range, whichever is larger."""
VERIFICATION_KEY = "hubrl_verification"
_SECTION_START = "<!-- hubrl-verification:start -->"
_SECTION_END = "<!-- hubrl-verification:end -->"


# -- data -----------------------------------------------------------------------------------------------------------

@dataclass
class Verification:
    """hubrl's re-evaluation of one agent, next to what its card claims."""

    repo_id: str
    env_id: str
    claimed_mean: float | None = None
    claimed_std: float | None = None
    error: str | None = None
    """Why the agent could not be loaded or evaluated (None: it was)."""
    format: str | None = None
    mean_reward: float | None = None
    std_reward: float | None = None
    n_episodes: int = 0
    seed: int = VERIFY_SEED
    seeds: list[int] = field(default_factory=list)
    episode_returns: list[float] = field(default_factory=list)
    max_steps: int | None = None
    flags: list[str] = field(default_factory=list)
    """Why the claim is not credible (impossible, or far outside the measured range); empty: consistent."""

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def score(self) -> float | None:
        return None if self.mean_reward is None else self.mean_reward - (self.std_reward or 0.0)

    @property
    def verdict(self) -> str:
        """``error`` (not loadable), ``flagged`` (claim not credible) or ``consistent``."""
        return "error" if self.error else ("flagged" if self.flags else "consistent")

    @property
    def passes(self) -> bool | None:
        mark = _pass_mark(self.env_id)
        return None if mark is None or self.score is None else self.score >= mark

    def to_json(self) -> dict[str, Any]:
        return {
            "repo_id": self.repo_id, "env_id": self.env_id, "verdict": self.verdict, "error": self.error,
            "format": self.format, "claimed_mean": self.claimed_mean, "claimed_std": self.claimed_std,
            "mean_reward": self.mean_reward, "std_reward": self.std_reward, "score": self.score,
            "passes": self.passes, "n_episodes": self.n_episodes, "seed": self.seed, "seeds": self.seeds,
            "episode_returns": self.episode_returns, "max_steps": self.max_steps, "flags": self.flags,
        }

    def record(self) -> dict[str, Any]:
        """What goes under ``hubrl_verification`` in results.json."""
        from hubrl import __version__

        return {
            "mean_reward": self.mean_reward, "std_reward": self.std_reward, "score": self.score,
            "n_episodes": self.n_episodes, "seed": self.seed, "seeds": self.seeds,
            "date": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
            "hubrl_version": __version__, "episode_returns": self.episode_returns, "max_steps": self.max_steps,
            "deterministic": False,
            "claimed": None if self.claimed_mean is None else format_metric(self.claimed_mean, self.claimed_std or 0.0),
            "flags": self.flags,
        }


class _ClaimScore:
    """Score, pass mark and pass/fail derived from a claimed ``mean`` and ``std`` for ``env_id``."""

    env_id: str | None
    mean: float | None
    std: float | None

    @property
    def score(self) -> float | None:
        return None if self.mean is None or self.std is None else self.mean - self.std

    @property
    def pass_mark(self) -> float | None:
        return _pass_mark(self.env_id)

    @property
    def passes(self) -> bool | None:
        """The course pass mark met (mean - std >= mark)? None where the course sets none or the card is unranked."""
        return None if self.pass_mark is None or self.score is None else self.score >= self.pass_mark


@dataclass
class LeaderboardEntry(_ClaimScore):
    """One model tagged with the env id, as the leaderboard reads its card."""

    repo_id: str
    env_id: str
    rank: int | None
    """1 = best; None when the leaderboard cannot rank the card (see ``parse_error``)."""
    metric_value: Any
    """The first metric's raw value, e.g. ``"500.00 +/- 0.00"``, ``500`` or ``"abc"``."""
    mean: float | None
    std: float | None
    parse_error: str | None = None
    hub_verified: bool = False
    """The metric's ``verified`` flag (set by the Hub only; self-reported cards carry false)."""
    flags: list[str] = field(default_factory=list)
    """Impossible claims, found without running anything."""
    last_modified: str | None = None
    sha: str | None = None
    verification: Verification | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "rank": self.rank, "repo_id": self.repo_id, "env_id": self.env_id,
            "metric_value": self.metric_value if isinstance(self.metric_value, (str, int, float, type(None)))
            else repr(self.metric_value),
            "mean": self.mean, "std": self.std, "score": self.score, "parse_error": self.parse_error,
            "pass_mark": self.pass_mark, "passes": self.passes, "hub_verified": self.hub_verified,
            "flags": self.flags, "last_modified": self.last_modified, "sha": self.sha,
            "verification": self.verification.to_json() if self.verification else None,
        }


@dataclass
class SubmissionReport(_ClaimScore):
    """Whether and where a repo will appear on the course leaderboard, what keeps it off, and what was done."""

    repo_id: str
    endpoint: str
    env_id: str | None
    problems: list[str]
    """What still keeps the card off the leaderboard or misreports it, each with its fix (after any ``fix``)."""
    would_appear: bool
    """Public, tagged with the env id, and a first metric the leaderboard can parse."""
    metric_value: Any = None
    mean: float | None = None
    std: float | None = None
    rank: int | None = None
    """The rank its claimed score takes among the models listed now for the env (ties go after the others)."""
    n_ranked: int = 0
    """How many models that ranking counts, this one included."""
    listed: bool = False
    """Whether the listing already shows it (the real course leaderboard refreshes on a schedule)."""
    flags: list[str] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    """Problems the ``fix`` repaired."""
    changes: list[str] = field(default_factory=list)
    """What the commit changed, one line each."""
    commit: str | None = None
    verification: Verification | None = None
    recorded_verification: dict[str, Any] | None = None
    """The ``hubrl_verification`` already in the repo's results.json (from an earlier ``--verify``), if any."""
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "repo_id": self.repo_id, "endpoint": self.endpoint, "env_id": self.env_id, "problems": self.problems,
            "would_appear": self.would_appear, "metric_value": self.metric_value if isinstance(
                self.metric_value, (str, int, float, type(None))) else repr(self.metric_value),
            "mean": self.mean, "std": self.std, "score": self.score, "pass_mark": self.pass_mark,
            "passes": self.passes, "rank": self.rank, "n_ranked": self.n_ranked, "listed": self.listed,
            "flags": self.flags, "fixed": self.fixed, "changes": self.changes, "commit": self.commit,
            "verification": self.verification.to_json() if self.verification else None,
            "recorded_verification": self.recorded_verification, "notes": self.notes,
        }


def _pass_mark(env_id: str | None) -> float | None:
    info = ENVS.get(env_id or "")
    return info.pass_mark if info else None


# -- claims ---------------------------------------------------------------------------------------------------------

def impossible_claims(env_id: str, mean: float | None, std: float | None) -> list[str]:
    """Claims no agent can achieve on ``env_id`` within the course episode cap (empty for unknown envs)."""
    info = ENVS.get(env_id)
    if info is None or mean is None:
        return []
    flags = []
    if mean > info.max_return + 1e-6:
        flags.append(f"impossible: claimed mean {mean:.2f} exceeds the best possible return {info.max_return:g} "
                     f"on {env_id} (episodes are capped at {info.max_t} steps)")
    if mean < info.min_return - 1e-6:
        flags.append(f"impossible: claimed mean {mean:.2f} is below the lowest possible return {info.min_return:g}")
    if std is not None and std < 0:
        flags.append(f"impossible: claimed std {std:.2f} is negative")
    elif std is not None and std > (info.max_return - info.min_return) / 2 + 1e-6:
        flags.append(f"impossible: claimed std {std:.2f} exceeds half the return range "
                     f"({(info.max_return - info.min_return) / 2:g})")
    return flags


def claim_tolerance(env_id: str, measured_std: float) -> float:
    """How far a claimed mean may sit from the measured mean: max(3 * measured std, 5% of the return range)."""
    info = ENVS.get(env_id)
    span = (info.max_return - info.min_return) if info else 0.0
    return max(FAR_STDS * measured_std, FAR_RANGE_FRACTION * span)


def judge_claim(env_id: str, claimed_mean: float | None, claimed_std: float | None,
                measured_mean: float, measured_std: float) -> list[str]:
    """Flags for a claim next to a measurement: impossible ones, and a mean far outside the measured range."""
    flags = impossible_claims(env_id, claimed_mean, claimed_std)
    if claimed_mean is not None:
        tolerance = claim_tolerance(env_id, measured_std)
        if abs(claimed_mean - measured_mean) > tolerance + 1e-9:
            flags.append(f"claimed mean {claimed_mean:.2f} is far outside the measured range "
                         f"{measured_mean:.2f} +/- {tolerance:.2f} (max(3 x measured std, 5% of the return range))")
    return flags


# -- listing --------------------------------------------------------------------------------------------------------

def leaderboard(
    env_id: str,
    *,
    limit: int | None = None,
    author: str | None = None,
    endpoint: str | None = None,
    token: str | bool | None = None,
    cache_dir: str | Path | None = None,
) -> list[LeaderboardEntry]:
    """The models tagged ``env_id`` on the Hub, ranked by claimed mean - std, as the course leaderboard ranks them.

    Every page of the listing is read (``limit`` caps only what is returned, after ranking). Cards come from the
    listing's ``cardData``; where it lacks a model-index, README.md is downloaded and its front matter read.
    Unrankable cards follow the ranked ones with ``rank=None`` and a ``parse_error``.

    Example:
        >>> for entry in leaderboard("CartPole-v1", limit=10):
        ...     print(entry.rank, entry.repo_id, entry.score)
    """
    from hubrl.hub import hub_api

    if limit is not None and limit < 1:
        raise ConfigError(f"limit must be positive, got {limit}")
    api = hub_api(endpoint, token)
    infos = _list_models(api, env_id, author)
    metadata = _listing_metadata(api, infos, token=token, cache_dir=cache_dir)
    entries = [_entry(info, env_id, meta, error) for info, (meta, error) in zip(infos, metadata)]
    ranked = sorted((e for e in entries if e.score is not None), key=lambda e: (-e.score, -e.mean, e.repo_id))
    for i, entry in enumerate(ranked, 1):
        entry.rank = i
    unranked = sorted((e for e in entries if e.score is None), key=lambda e: e.repo_id)
    result = ranked + unranked
    return result[:limit] if limit is not None else result


def _list_models(api, env_id: str, author: str | None) -> list:
    """Every model tagged ``env_id``, with its cardData. No ``limit`` is passed, so the client follows every
    ``Link: rel="next"`` page. A card odd enough to break the client's ModelInfo parsing makes us list again without
    cardData (every card is then read from its README.md)."""
    import logging

    from hubrl.hub import _hub_error

    card_logger = logging.getLogger("huggingface_hub.repocard_data")  # "Invalid model-index" noise per odd card
    level = card_logger.level
    card_logger.setLevel(logging.ERROR)
    try:
        for card_data in (True, False):
            try:
                return list(api.list_models(filter=[env_id], author=author, cardData=card_data, full=True))
            except (TypeError, ValueError, KeyError, AttributeError) as err:  # the client choked on a card
                if not card_data:
                    raise _hub_error(err, repo_id=f"the {env_id} listing", revision=None, api=api) from None
            except Exception as err:  # network, HTTP: no second try
                raise _hub_error(err, repo_id=f"the {env_id} listing", revision=None, api=api) from None
        raise AssertionError("unreachable")  # pragma: no cover
    finally:
        card_logger.setLevel(level)


def _listing_metadata(api, infos, *, token, cache_dir) -> list[tuple[dict | None, str | None]]:
    """(raw metadata, error) per listed model: the listing's cardData, else README.md's front matter."""
    out: list[tuple[dict | None, str | None]] = []
    missing: list[int] = []
    for i, info in enumerate(infos):
        meta = None
        if info.card_data is not None:
            meta = info.card_data.to_dict()
            raw_index = getattr(info, "model_index", None)
            if raw_index is not None:  # the raw model-index: ModelCardData drops or regroups odd ones
                meta["model-index"] = raw_index
        out.append((meta, None))
        if meta is None or "model-index" not in meta:
            missing.append(i)
    if missing:
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(8, len(missing))) as pool:
            fetched = pool.map(lambda i: _readme_metadata(api, infos[i], token=token, cache_dir=cache_dir), missing)
            for i, result in zip(missing, fetched):
                out[i] = result
    return out


def _readme_metadata(api, info, *, token, cache_dir) -> tuple[dict | None, str | None]:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    siblings = getattr(info, "siblings", None)
    if siblings is not None and "README.md" not in {s.rfilename for s in siblings}:
        return None, "the repo has no README.md (no model card)"
    try:
        path = hf_hub_download(info.id, "README.md", revision=info.sha, endpoint=api.endpoint,
                               token=token, cache_dir=cache_dir)
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except EntryNotFoundError:
        return None, "the repo has no README.md (no model card)"
    except Exception as err:  # one unreadable card must not stop the listing
        return None, f"README.md could not be downloaded: {_first_line(err)}"
    try:
        meta = read_front_matter(text)
    except CardError as err:
        return None, str(err)
    return (meta if meta is not None else {}), None if meta is not None else "README.md has no YAML front matter"


def _entry(info, env_id: str, meta: dict | None, error: str | None) -> LeaderboardEntry:
    last = info.last_modified.isoformat() if getattr(info, "last_modified", None) else None
    entry = LeaderboardEntry(repo_id=info.id, env_id=env_id, rank=None, metric_value=None, mean=None, std=None,
                             last_modified=last, sha=getattr(info, "sha", None))
    entry.parse_error, entry.metric_value, parsed, entry.hub_verified = _read_claim(meta, error)
    if parsed is not None:
        entry.mean, entry.std = parsed
        entry.flags = impossible_claims(env_id, *parsed)
    return entry


def _read_claim(meta: dict | None, error: str | None = None
                ) -> tuple[str | None, Any, tuple[float, float] | None, bool]:
    """(parse error, raw value, (mean, std), hub verified) for a card's metadata, read as the leaderboard does."""
    if meta is None:
        return error or "no card metadata", None, None, False
    if not meta.get("model-index"):
        return "the card has no model-index", None, None, False
    found, value = first_metric(meta)
    if not found:
        return "the model-index has no first metric value", None, None, False
    try:
        verified = bool(meta["model-index"][0]["results"][0]["metrics"][0].get("verified"))
    except (AttributeError, KeyError, IndexError, TypeError):
        verified = False
    parsed = parse_metric(value)
    if parsed is None:
        return f"unparseable metric value {value!r} (expected 'X.XX +/- Y.YY')", value, None, verified
    return None, value, parsed, verified


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


# -- verification ---------------------------------------------------------------------------------------------------

def verify_agent(
    repo_id: str,
    env_id: str,
    *,
    claimed_mean: float | None = None,
    claimed_std: float | None = None,
    endpoint: str | None = None,
    token: str | bool | None = None,
    cache_dir: str | Path | None = None,
    n_eval_episodes: int = VERIFY_EPISODES,
    seed: int = VERIFY_SEED,
) -> Verification:
    """Load ``repo_id`` safely and re-evaluate it with hubrl's seeded protocol; never raises for a bad agent.

    The numbers equal ``evaluate_agent(load_from_hub(repo_id).policy, env_id, n_eval_episodes=10, seed=0,
    max_steps=ENVS[env_id].max_t)``.
    """
    from hubrl.envs import env_info
    from hubrl.evaluate import evaluate_agent
    from hubrl.hub import load_from_hub

    result = Verification(repo_id=repo_id, env_id=env_id, claimed_mean=claimed_mean, claimed_std=claimed_std,
                          seed=seed)
    try:
        info = env_info(env_id)
        agent = load_from_hub(repo_id, endpoint=endpoint, token=token, cache_dir=cache_dir)
        result.format = agent.format
        if agent.env_id != env_id:
            raise ConfigError(f"the agent plays {agent.env_id}, not {env_id}")
        evaluation = evaluate_agent(agent.policy, env_id, n_eval_episodes=n_eval_episodes, max_steps=info.max_t,
                                    seed=seed)
    except HubrlError as err:
        result.error = str(err)
        return result
    except Exception as err:  # a broken repo must be reported, not crash the whole verification
        result.error = f"{type(err).__name__}: {_first_line(err)}"
        return result
    result.mean_reward, result.std_reward = evaluation.mean_reward, evaluation.std_reward
    result.n_episodes, result.seeds = evaluation.n_episodes, evaluation.seeds
    result.episode_returns, result.max_steps = evaluation.episode_returns, evaluation.max_steps
    result.flags = judge_claim(env_id, claimed_mean, claimed_std, evaluation.mean_reward, evaluation.std_reward)
    return result


def _verify_worker(kwargs: dict[str, Any]) -> Verification:
    """One worker process: load + evaluate one repo (single-threaded torch, so workers do not oversubscribe)."""
    try:
        import torch

        torch.set_num_threads(1)
    except Exception:  # pragma: no cover
        pass
    return verify_agent(**kwargs)


def verify_entries(
    entries: list[LeaderboardEntry],
    n: int = DEFAULT_VERIFY_TOP,
    *,
    endpoint: str | None = None,
    token: str | bool | None = None,
    cache_dir: str | Path | None = None,
    workers: int | None = None,
    ray_address: str | None = None,
) -> list[Verification]:
    """Re-evaluate the top ``n`` ranked entries in parallel processes; attach and return their verifications.

    With ``ray_address`` (a Ray cluster's HEAD:PORT) each agent is one Ray task instead, running the same
    :func:`verify_agent` with the same seeds, so the verdicts and numbers are the local ones (see hubrl.cluster).

    Each worker process (``spawn`` context, ``min(n, os.cpu_count())`` of them unless ``workers`` says otherwise)
    loads one repo with :func:`hubrl.hub.load_from_hub` and evaluates it with :func:`verify_agent`; the endpoint and
    token are passed explicitly. With a single worker the agents are evaluated in this process instead (the numbers
    are the same: evaluation depends only on the weights and the seeds). Agents that cannot be loaded come back with
    ``error`` set, in rank order. In a script, call it under ``if __name__ == "__main__":`` (``spawn`` workers
    import the main module).
    """
    from hubrl.hub import hub_api

    if n < 1:
        raise ConfigError(f"--verify needs a positive number of agents, got {n}")
    top = sorted((e for e in entries if e.rank is not None), key=lambda e: e.rank)[:n]
    if not top:
        return []
    resolved = hub_api(endpoint, token).endpoint
    jobs = [dict(repo_id=e.repo_id, env_id=e.env_id, claimed_mean=e.mean, claimed_std=e.std, endpoint=resolved,
                 token=token, cache_dir=str(cache_dir) if cache_dir else None) for e in top]
    if ray_address:  # -- the cluster path (hubrl/cluster.py): one Ray task per agent ------------------------------
        from hubrl.cluster import run_tasks

        outcomes = {o.index: o for o in run_tasks(_verify_worker, jobs, address=ray_address,
                                                  names=[f"verify {job['repo_id']}" for job in jobs])}
        results = [outcomes[i].value if outcomes[i].ok else Verification(
            repo_id=job["repo_id"], env_id=job["env_id"], claimed_mean=job["claimed_mean"],
            claimed_std=job["claimed_std"], error=f"the verification task failed: {outcomes[i].error}")
            for i, job in enumerate(jobs)]
        for entry, verification in zip(top, results):
            entry.verification = verification
        return results  # -- end of the cluster path ----------------------------------------------------------------
    n_workers = max(1, min(workers or len(jobs), len(jobs), os.cpu_count() or 1))
    if n_workers == 1:  # nothing to run beside: skip the process start-up (same code, same numbers)
        results = [verify_agent(**job) for job in jobs]
        for entry, verification in zip(top, results):
            entry.verification = verification
        return results
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=n_workers, mp_context=context) as pool:
        futures = [pool.submit(_verify_worker, job) for job in jobs]
        results = []
        for job, future in zip(jobs, futures):
            try:
                results.append(future.result())
            except Exception as err:  # the worker itself died (out of memory, killed)
                results.append(Verification(repo_id=job["repo_id"], env_id=job["env_id"],
                                            claimed_mean=job["claimed_mean"], claimed_std=job["claimed_std"],
                                            error=f"the verification worker failed: {_first_line(err)}"))
    for entry, verification in zip(top, results):
        entry.verification = verification
    return results


# -- submission -----------------------------------------------------------------------------------------------------

def check_submission(
    repo_id: str,
    *,
    endpoint: str | None = None,
    token: str | bool | None = None,
    verify: bool = False,
    fix: bool = False,
    cache_dir: str | Path | None = None,
) -> SubmissionReport:
    """Tell a student whether and where ``repo_id`` will appear on the course leaderboard.

    Checks the card exactly as the leaderboard reads it (public repo, env tag, model-index, first metric
    ``"X +/- Y"``, task and dataset ids), compares the claim with the course pass mark and finds the rank it takes
    among the models listed now for the env.

    ``fix`` repairs the card's YAML metadata only (tags, model-index), deriving the env id and the metric from
    results.json / hyperparameters.json when the card lacks them; the README body and every other file stay
    byte-identical. ``verify`` re-evaluates the agent with hubrl's seeded protocol and records the result under
    ``hubrl_verification`` in results.json and in the card body (the Hub's ``verified`` flag stays false).
    Whatever changes goes into ONE commit (README.md, plus results.json with ``verify``).

    Example:
        >>> report = check_submission("alice/Reinforce-CartPole-v1")
        >>> report.would_appear, report.rank, report.problems
    """
    from huggingface_hub import CommitOperationAdd

    from hubrl.hub import _hub_error, check_repo_id, hub_api

    check_repo_id(repo_id)
    api = hub_api(endpoint, token)
    try:
        info = api.model_info(repo_id)
    except Exception as err:
        raise _hub_error(err, repo_id=repo_id, revision=None, api=api) from None
    if fix or verify:  # both commit: fail now, not after an evaluation, when no valid token is at hand
        try:
            api.whoami()
        except Exception:
            raise HubError(f"hubrl submit --fix/--verify commits to {repo_id}: pass a write token for "
                           f"{repo_id.split('/')[0]} with --token or HF_TOKEN ({api.endpoint} rejected or got none)"
                           ) from None
    files = {s.rfilename for s in (info.siblings or [])}
    readme = _download_text(api, repo_id, "README.md", info.sha, files, token, cache_dir)
    results = _download_json(api, repo_id, "results.json", info.sha, files, token, cache_dir)
    hyper = _download_json(api, repo_id, "hyperparameters.json", info.sha, files, token, cache_dir)

    notes: list[str] = []
    front_error = None
    try:
        metadata = read_front_matter(readme) if readme is not None else None
    except CardError as err:
        metadata, front_error = None, str(err)
    env_id = _submission_env(metadata, results, hyper)
    report = SubmissionReport(repo_id=repo_id, endpoint=api.endpoint, env_id=env_id, problems=[], would_appear=False,
                              notes=notes)
    before = _problems(metadata, env_id, readme, front_error, info.private)

    verification = None
    if verify:
        mean, std = parse_metric(first_metric(metadata or {})[1]) or (None, None)
        if env_id:
            verification = verify_agent(repo_id, env_id, claimed_mean=mean, claimed_std=std, endpoint=api.endpoint,
                                        token=token, cache_dir=cache_dir)
        else:
            verification = Verification(repo_id=repo_id, env_id="", error="cannot tell which environment it plays")
        report.verification = verification

    new_readme, new_results = readme, None
    new_metadata = metadata
    fixable = [p for p in before if not p.startswith("the repo is private")]
    if fix and fixable:
        if env_id is None:
            raise CardError(f"cannot fix {repo_id}: neither the card nor results.json/hyperparameters.json names the "
                            "environment; add env_id to results.json or the card's model-index dataset")
        new_metadata, changes = repair_metadata(metadata, env_id, repo_id=repo_id, results=results,
                                                verification=verification)
        new_readme = replace_front_matter(readme or "", new_metadata)
        report.changes += changes
    elif fix:
        notes.append("the card's metadata is already what the leaderboard reads; nothing to fix")

    if verification is not None and verification.ok:
        claimed = parse_metric(first_metric(new_metadata or {})[1])
        if claimed is not None and claimed != (verification.claimed_mean, verification.claimed_std):
            # the fix set the claim: judge that one
            verification.claimed_mean, verification.claimed_std = claimed
            verification.flags = judge_claim(env_id, *claimed, verification.mean_reward, verification.std_reward)
        record = verification.record()
        new_results = {**(results or {"env_id": env_id}), VERIFICATION_KEY: record}
        new_readme = _card_with_verification(new_readme, readme, hyper, results, new_results, record, repo_id)
        report.changes.append(f"results.json: {VERIFICATION_KEY} = "
                              f"{format_metric(record['mean_reward'], record['std_reward'])}; card body: verification")

    operations = []
    if new_readme is not None and new_readme != readme:
        operations.append(CommitOperationAdd("README.md", new_readme.encode("utf-8")))
    if new_results is not None:
        operations.append(CommitOperationAdd("results.json", (json.dumps(new_results, indent=2) + "\n").encode()))
    if operations:
        parts = (["repair leaderboard metadata"] if fix and fixable else []) + (
            ["record hubrl verification"] if new_results is not None else [])
        try:
            commit = api.create_commit(repo_id, operations, commit_message="hubrl submit: " + " and ".join(parts),
                                       parent_commit=info.sha)
        except Exception as err:
            raise _hub_error(err, repo_id=repo_id, revision=None, api=api) from None
        report.commit = commit.oid

    after = _problems(new_metadata, env_id, new_readme, front_error if new_metadata is metadata else None,
                      info.private)
    report.problems = after
    report.fixed = [p for p in before if p not in after]
    recorded = (new_results or results or {}).get(VERIFICATION_KEY)
    report.recorded_verification = recorded if isinstance(recorded, dict) else None
    _, value, parsed, _ = _read_claim(new_metadata)
    report.metric_value = value
    if parsed is not None:
        report.mean, report.std = parsed
        report.flags = impossible_claims(env_id or "", *parsed)
    if verification is not None and verification.ok:
        report.flags = list(dict.fromkeys([*report.flags, *verification.flags]))
    tags = (new_metadata or {}).get("tags") or []
    tags = tags if isinstance(tags, list) else [tags]
    report.would_appear = bool(env_id and env_id in map(str, tags) and parsed is not None and not info.private)
    if env_id and parsed is not None:
        others = leaderboard(env_id, endpoint=api.endpoint, token=token, cache_dir=cache_dir)
        report.listed = any(e.repo_id == repo_id for e in others)
        ranked = [e for e in others if e.repo_id != repo_id and e.score is not None]
        report.rank = 1 + sum(1 for e in ranked if e.score >= report.score)
        report.n_ranked = len(ranked) + 1
    return report


def _problems(metadata: dict | None, env_id: str | None, readme: str | None, front_error: str | None,
              private: bool | None) -> list[str]:
    problems = []
    if private:
        problems.append("the repo is private; the leaderboard lists public models only: make it public "
                        "(HfApi().update_repo_settings(repo_id, private=False) or the repo's Settings page)")
    if readme is None:
        problems.append("the repo has no README.md; the leaderboard reads the model card's metadata "
                        "(hubrl submit --fix writes one)")
    if front_error:
        problems.append(f"{front_error}; hubrl submit --fix rewrites the metadata block")
    if env_id is None:
        problems.append("cannot tell which environment this model plays: neither the card nor results.json/"
                        "hyperparameters.json names it; add env_id to results.json")
    problems += metadata_problems(metadata or {}, env_id)
    return list(dict.fromkeys(problems))


def _submission_env(metadata: dict | None, results: dict | None, hyper: dict | None) -> str | None:
    """The env the model plays: results.json / hyperparameters.json (what the agent was evaluated on) first, then
    the card's model-index dataset, then a known env id among its tags."""
    for source in (results or {}, hyper or {}):
        if isinstance(source.get("env_id"), str) and source["env_id"]:
            return source["env_id"]
    meta = metadata or {}
    try:
        dataset = meta["model-index"][0]["results"][0]["dataset"]
        for key in ("type", "name"):
            if isinstance(dataset.get(key), str) and dataset[key]:
                return dataset[key]
    except (KeyError, IndexError, TypeError, AttributeError):
        pass
    tags = meta.get("tags") if isinstance(meta.get("tags"), list) else []
    return next((t for t in tags if t in ENVS), None)


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
    from hubrl's verification when results.json lacks a std (the course notebook writes none). Raises
    :class:`CardError` when no honest claim can be derived.
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


def _card_with_verification(text: str | None, original: str | None, hyper: dict | None, results: dict | None,
                            new_results: dict, record: dict, repo_id: str) -> str:
    """The card with hubrl's verification: hubrl-generated cards are re-rendered, others get a short section."""
    from hubrl.card import build_card

    if original is not None and text == original and hyper is not None and results is not None:
        # a card rendered for another repo id (the run folder was pushed elsewhere first) is generated too
        named = re.findall(r'load_from_hub\("([^"]+)"\)', original)
        for name in dict.fromkeys([None, repo_id, *named]):
            try:
                generated = str(build_card(hyperparameters=hyper, results=results, repo_id=name))
            except Exception:
                break
            if generated == original:
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


def _download_text(api, repo_id, filename, revision, files, token, cache_dir) -> str | None:
    from huggingface_hub import hf_hub_download

    from hubrl.hub import _hub_error

    if filename not in files:
        return None
    try:
        path = hf_hub_download(repo_id, filename, revision=revision, endpoint=api.endpoint, token=token,
                               cache_dir=cache_dir)
    except Exception as err:
        raise _hub_error(err, repo_id=repo_id, revision=revision, api=api) from None
    return Path(path).read_bytes().decode("utf-8", errors="replace")


def _download_json(api, repo_id, filename, revision, files, token, cache_dir) -> dict | None:
    text = _download_text(api, repo_id, filename, revision, files, token, cache_dir)
    if text is None:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


__all__ = [
    "COURSE_LEADERBOARD_URL", "LeaderboardEntry", "SubmissionReport", "Verification", "check_submission",
    "claim_tolerance", "impossible_claims", "judge_claim", "leaderboard", "repair_metadata", "verify_agent",
    "verify_entries",
]
