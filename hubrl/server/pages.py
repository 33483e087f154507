"""The pages people look at, at the Hub's own URLs: the model list, model pages, leaderboards and class progress.

Every page is computed from the repositories on disk at request time (so a new push shows at once), from public
repositories only (a browser sends no token), and rendered by Jinja2 templates with autoescaping; the one piece of
HTML that comes from a user, the card, goes through :func:`hubrl.server.render.render_card` first. Pages run no
script (the CSP header of :mod:`hubrl.server.web` forbids it).

A model's claim is read the way the course leaderboard reads it (:func:`hubrl.card.first_metric`, ranked by
mean - std); "verified" means hubrl re-evaluated it (a ``hubrl_verification`` record in results.json, written by
``hubrl submit --verify``) or the Hub flagged the metric ``verified: true``.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import jinja2

from hubrl.card import first_metric, needs_author_class, parse_metric
from hubrl.envs import ENVS
from hubrl.server.app import HubApp
from hubrl.server.errors import HubServerError, RepoNotFound
from hubrl.server.naming import check_name
from hubrl.server.render import render_card
from hubrl.server.storage import Commit, RepoMeta

UNIT4_ENVS = ("CartPole-v1", "Pixelcopter-PLE-v0")
"""The environments of the course's Unit 4 certification ("Check my progress")."""
MAX_CARD_BYTES = 1 << 20
MAX_RESULTS_BYTES = 4 << 20
VERIFICATION_KEY = "hubrl_verification"

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("hubrl.server", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class PageRequest:
    query: dict[str, str]
    token: str | None
    base_url: str


@dataclass
class ModelSummary:
    """What the pages show of one repository at one commit."""

    repo_id: str
    commit: Commit
    tags: list[str]
    env_id: str | None
    mean: float | None = None
    std: float | None = None
    metric_error: str | None = None
    verification: dict | None = None
    hub_verified: bool = False
    replay: str | None = None
    curve: str | None = None
    files: list[tuple[str, int]] = field(default_factory=list)
    needs_author_class: bool = False
    """The weights are a module's own state_dict (results.json ``weights.format``): no ``hubrl enjoy`` for it."""

    @property
    def score(self) -> float | None:
        return None if self.mean is None or self.std is None else self.mean - self.std

    @property
    def pass_mark(self) -> float | None:
        info = ENVS.get(self.env_id or "")
        return info.pass_mark if info else None

    @property
    def passes(self) -> bool | None:
        return None if self.pass_mark is None or self.score is None else self.score >= self.pass_mark

    @property
    def verified(self) -> bool:
        return self.hub_verified or (self.verification is not None and not self.verification.get("flags"))

    @property
    def verified_text(self) -> str:
        v = self.verification
        if v is not None:
            measured = _metric_text(v.get("mean_reward"), v.get("std_reward"))
            return f"{'flagged' if v.get('flags') else 'verified'} (hubrl measured {measured})"
        return "verified by the Hub" if self.hub_verified else "not verified"

    def url(self, path: str) -> str:
        return f"/{self.repo_id}/resolve/{self.commit.id}/{path}"


def _metric_text(mean: Any, std: Any) -> str:
    try:
        return f"{float(mean):.2f} +/- {float(std):.2f}"
    except (TypeError, ValueError):
        return "?"


class _Summaries:
    """Summaries cached by (repo, commit): commits never change, so a new push is simply a new key."""

    def __init__(self) -> None:
        self._cache: OrderedDict[tuple[str, str], ModelSummary] = OrderedDict()
        self._guard = threading.Lock()

    def get(self, hub: HubApp, repo_id: str, commit: Commit) -> ModelSummary:
        key = (repo_id, commit.id)
        with self._guard:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        summary = _summarize(hub, repo_id, commit)
        with self._guard:
            self._cache[key] = summary
            while len(self._cache) > 4096:
                self._cache.popitem(last=False)
        return summary


_summaries = _Summaries()


def _read_text(hub: HubApp, repo_id: str, commit: Commit, path: str, limit: int) -> str | None:
    entry = commit.files.get(path)
    if entry is None:
        return None
    with hub.storage.open_blob(repo_id, entry.oid) as f:
        return f.read(limit).decode("utf-8", "replace")


def _summarize(hub: HubApp, repo_id: str, commit: Commit) -> ModelSummary:
    info = hub.card(repo_id, commit)
    data = info.card_data or {}
    env_id = None
    found, value = first_metric(data)
    try:
        env_id = str(data["model-index"][0]["results"][0]["dataset"]["type"])
    except (KeyError, IndexError, TypeError):
        env_id = next((t for t in info.tags if t in ENVS), None)
    summary = ModelSummary(repo_id=repo_id, commit=commit, tags=info.tags, env_id=env_id)
    if found:
        parsed = parse_metric(value)
        if parsed is None:
            summary.metric_error = f"unparseable metric value {str(value)[:80]!r}"
        else:
            summary.mean, summary.std = parsed
        try:
            summary.hub_verified = bool(data["model-index"][0]["results"][0]["metrics"][0].get("verified"))
        except (KeyError, IndexError, TypeError, AttributeError):
            pass
    else:
        summary.metric_error = "the card has no model-index metric"
    text = _read_text(hub, repo_id, commit, "results.json", MAX_RESULTS_BYTES)
    if text:
        try:
            results = json.loads(text)
        except (ValueError, RecursionError):
            results = None
        record = results.get(VERIFICATION_KEY) if isinstance(results, dict) else None
        summary.verification = record if isinstance(record, dict) else None
        summary.needs_author_class = needs_author_class(results.get("weights") if isinstance(results, dict) else None)
    files = sorted(commit.files.items())
    summary.files = [(p, e.size) for p, e in files]
    videos = [p for p, _ in files if p.lower().endswith((".mp4", ".webm"))]
    images = [p for p, _ in files if p.lower().endswith(".png")]
    summary.replay = "replay.mp4" if "replay.mp4" in commit.files else (videos[0] if videos else None)
    summary.curve = "training_curve.png" if "training_curve.png" in commit.files else (
        next((p for p in images if "curve" in p), None))
    return summary


def _public_models(hub: HubApp, request: PageRequest) -> list[ModelSummary]:
    user = hub.tokens.user_for(request.token)
    out = []
    for meta in hub.storage.iter_repos():
        if meta.private and meta.namespace != user:
            continue
        try:
            commit = hub.storage.resolve(meta.id, "main")
        except HubServerError:
            continue  # deleted meanwhile
        out.append(_summaries.get(hub, meta.id, commit))
    return out


def _ranked(models: list[ModelSummary], env_id: str) -> list[ModelSummary]:
    """The leaderboard's order: models tagged ``env_id`` with a readable claim, best mean - std first."""
    entries = [m for m in models if env_id in m.tags and m.score is not None]
    return sorted(entries, key=lambda m: (-m.score, m.repo_id))  # type: ignore[operator]


def _render(template: str, **context: Any) -> str:
    return _templates.get_template(template).render(envs=list(ENVS), **context)


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


_templates.filters["size"] = _size
_templates.filters["num"] = lambda x: "" if x is None else f"{x:.2f}"


# ------------------------------------------------------------------------------------------ pages
def index_page(hub: HubApp, request: PageRequest) -> str:
    """``/``: every model, filtered by env tag (``?env=``) and searched by name (``?search=``)."""
    env = request.query.get("env", "")
    search = request.query.get("search", "").strip().lower()
    models = [
        m
        for m in _public_models(hub, request)
        if (not env or env in m.tags) and (not search or search in m.repo_id.lower())
    ]
    models.sort(key=lambda m: m.commit.date, reverse=True)
    return _render("index.html", title="Models", models=models, env=env, search=request.query.get("search", ""))


def model_page(hub: HubApp, request: PageRequest, namespace: str, name: str) -> str:
    """``/{namespace}/{name}``: the card, the replay, the curve, the metric, the files and how to load it."""
    repo_id = f"{namespace}/{name}"
    try:
        check_name(namespace), check_name(name)
        meta: RepoMeta = hub.storage.get_repo(repo_id)
    except HubServerError:
        raise RepoNotFound(f"There is no model {repo_id[:200]} on this Hub.") from None
    if meta.private and hub.tokens.user_for(request.token) != meta.namespace:
        raise RepoNotFound(f"There is no model {repo_id} on this Hub.")
    commit = hub.storage.resolve(repo_id, "main")
    summary = _summaries.get(hub, repo_id, commit)
    text = _read_text(hub, repo_id, commit, "README.md", MAX_CARD_BYTES)
    shown = [path for path in (summary.replay, summary.curve) if path]
    card_html = render_card(text, repo_id=repo_id, commit_id=commit.id, shown=shown) if text else ""
    return _render(
        "model.html",
        title=repo_id,
        m=summary,
        card_html=card_html,
        endpoint=request.base_url,
        created=meta.created_at,
    )


def leaderboards_page(hub: HubApp, request: PageRequest) -> str:
    """``/leaderboard``: one link per environment hubrl knows, with how many ranked models it has."""
    models = _public_models(hub, request)
    boards = [(env, len(_ranked(models, env)), info.pass_mark) for env, info in ENVS.items()]
    return _render("leaderboards.html", title="Leaderboards", boards=boards)


def leaderboard_page(hub: HubApp, request: PageRequest, env_id: str) -> str:
    """``/leaderboard/{env_id}``: ranked by mean - std, with pass mark, verification and replays."""
    entries = _ranked(_public_models(hub, request), env_id)
    info = ENVS.get(env_id)
    return _render(
        "leaderboard.html",
        title=f"Leaderboard {env_id}",
        env_id=env_id,
        entries=entries,
        pass_mark=info.pass_mark if info else None,
        known=info is not None,
    )


def progress_page(hub: HubApp, request: PageRequest, user: str) -> str:
    """``/progress/{user}``: the course's "Check my progress" for Unit 4 (best model per env, pass or not)."""
    check_name(user, "user name")
    mine = [m for m in _public_models(hub, request) if m.repo_id.split("/")[0] == user]
    rows = []
    for env_id in UNIT4_ENVS:
        ranked = _ranked(mine, env_id)
        rows.append({"env_id": env_id, "pass_mark": ENVS[env_id].pass_mark, "best": ranked[0] if ranked else None})
    passed = all(r["best"] is not None and r["best"].passes for r in rows)
    return _render("progress.html", title=f"Progress of {user}", user=user, rows=rows, passed=passed)


def error_page(err: HubServerError) -> str:
    return _render("error.html", title=f"Error {err.status}", status=err.status, message=str(err))
