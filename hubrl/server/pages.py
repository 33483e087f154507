"""The pages people look at, at the Hub's own URLs: the model list, model pages, leaderboards and class progress.

Every page is computed from the repositories on disk at request time (so a new push shows at once), from public
repositories only (a browser sends no token), and rendered by Jinja2 templates with autoescaping; the one piece of
HTML that comes from a user, the card, goes through :func:`hubrl.server.render.render_card` first. Pages run no
script (the CSP header of :mod:`hubrl.server.web` forbids it).

A model is read once per commit as a :class:`~hubrl.ranking.claims.Claim` (its env, its claim as the course
leaderboard reads it, its problems) and ordered by :func:`~hubrl.ranking.claims.rank`: ``hubrl leaderboard`` and
``hubrl submit`` read and rank the same way. "Verified" and "flagged" come only from the Hub's own verifier
(:mod:`hubrl.server.verifier`, keyed by commit); what a repo says about its own verification is shown as
self-reported.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import jinja2

from hubrl.card import needs_author_class, usage_snippets
from hubrl.envs.facts import ENVS, UNIT4_ENVS
from hubrl.ranking.claims import Claim, rank, read_claim
from hubrl.server.cache import per_commit
from hubrl.server.claims import commit_claim, read_json, read_text
from hubrl.server.errors import HubServerError, RepoNotFound
from hubrl.server.naming import check_name
from hubrl.server.plots import Chart, charts
from hubrl.server.render import render_card
from hubrl.server.state import ServerState
from hubrl.server.storage import Commit, RepoMeta
from hubrl.server.verifier import verification_for

logger = logging.getLogger("hubrl.server")
MAX_CARD_BYTES = 1 << 20
MAX_HISTORY_BYTES = 4 << 20
"""Largest history.json the model page draws (a training run's rows are about 100 bytes each)."""

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
    """What the pages show of one repository at one commit: its :class:`Claim` and its files."""

    claim: Claim
    commit: Commit
    replay: str | None = None
    curve: str | None = None
    files: list[tuple[str, int]] = field(default_factory=list)
    needs_author_class: bool = False
    """The weights are a module's own state_dict (results.json ``weights.format``): no ``hubrl enjoy`` for it."""

    repo_id = property(lambda self: self.claim.repo_id)
    env_id = property(lambda self: self.claim.env_id)
    tags = property(lambda self: self.claim.tags)
    mean = property(lambda self: self.claim.mean)
    std = property(lambda self: self.claim.std)
    score = property(lambda self: self.claim.score)
    pass_mark = property(lambda self: self.claim.pass_mark)
    passes = property(lambda self: self.claim.passes)
    rank = property(lambda self: self.claim.rank)

    @property
    def verified_text(self) -> str:
        return self.claim.verification_text()

    @property
    def metric_error(self) -> str | None:
        return self.claim.unranked_reason

    def url(self, path: str) -> str:
        return f"/{self.repo_id}/resolve/{self.commit.id}/{quote(path)}"


@per_commit(4096)
def _summarize(hub: ServerState, meta: RepoMeta, commit: Commit) -> ModelSummary:
    """One repository's summary, computed once per commit; a repository that cannot be read at all (a bug, a file
    gone from disk) is listed as unreadable, logged once in one line, and never fails the page."""
    try:
        return _read_summary(hub, meta, commit)
    except Exception as err:
        logger.warning("Unreadable repository: %s at %s: %s", meta.id, commit.id, type(err).__name__)
        claim = read_claim(meta.id, card_error=f"the repository could not be read ({type(err).__name__})",
                           private=meta.private, sha=commit.id, last_modified=commit.date)
        return ModelSummary(claim=claim, commit=commit)


def _read_summary(hub: ServerState, meta: RepoMeta, commit: Commit) -> ModelSummary:
    summary = ModelSummary(claim=commit_claim(hub, meta, commit), commit=commit)
    results = read_json(hub, meta.id, commit, "results.json")
    summary.needs_author_class = needs_author_class(results.get("weights") if isinstance(results, dict) else None)
    files = sorted(commit.files.items())
    summary.files = [(p, e.size) for p, e in files]
    videos = [p for p, _ in files if p.lower().endswith((".mp4", ".webm"))]
    images = [p for p, _ in files if p.lower().endswith(".png")]
    summary.replay = "replay.mp4" if "replay.mp4" in commit.files else (videos[0] if videos else None)
    summary.curve = "training_curve.png" if "training_curve.png" in commit.files else (
        next((p for p in images if "curve" in p), None))
    return summary


def _checked(hub: ServerState, summary: ModelSummary) -> ModelSummary:
    """The summary with the Hub's own verdict on its commit attached (a copy: summaries are cached, verdicts come
    later)."""
    from dataclasses import replace

    verification = verification_for(hub, summary.repo_id, summary.commit.id)
    return summary if verification is None else replace(summary, claim=summary.claim.with_verification(verification))


@per_commit(256)
def _charts(hub: ServerState, repo_id: str, commit: Commit) -> list[Chart]:
    """The training curves of a commit's history.json (:mod:`hubrl.server.plots`); none without one."""
    return charts(read_json(hub, repo_id, commit, "history.json", limit=MAX_HISTORY_BYTES))


def _public_models(hub: ServerState, request: PageRequest) -> list[ModelSummary]:
    user = hub.tokens.user_for(request.token)
    out = []
    for meta in hub.storage.iter_repos():
        if meta.private and meta.namespace != user:
            continue
        try:
            commit = hub.storage.resolve(meta.id, "main")
        except HubServerError:
            continue  # deleted meanwhile
        out.append(_checked(hub, _summarize(hub, meta, commit)))
    return out


def _board(models: list[ModelSummary], env_id: str) -> tuple[list[ModelSummary], list[ModelSummary]]:
    """(ranked, unranked) models tagged ``env_id``, in :func:`~hubrl.ranking.claims.rank`'s order, as ``hubrl
    leaderboard`` lists them (the claims are copied: ranks differ from board to board)."""
    from dataclasses import replace

    tagged = [m for m in models if env_id in m.tags]
    copies = {id(m): replace(m, claim=replace(m.claim, rank=None)) for m in tagged}
    order = {id(c.claim): c for c in copies.values()}
    ranked = rank([c.claim for c in copies.values()], board=env_id)
    rows = [order[id(claim)] for claim in ranked]
    return [m for m in rows if m.rank is not None], [m for m in rows if m.rank is None]


def _ranked(models: list[ModelSummary], env_id: str) -> list[ModelSummary]:
    return _board(models, env_id)[0]


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
def index_page(hub: ServerState, request: PageRequest) -> str:
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


def model_page(hub: ServerState, request: PageRequest, namespace: str, name: str) -> str:
    """``/{namespace}/{name}``: the card, the replay, the training curves (drawn from history.json, as the run's
    TensorBoard traces were written), the metric, the files and how to use it (the card's snippets)."""
    repo_id = f"{namespace}/{name}"
    try:
        check_name(namespace), check_name(name)
        meta: RepoMeta = hub.storage.get_repo(repo_id)
    except HubServerError:
        raise RepoNotFound(f"There is no model {repo_id[:200]} on this Hub.") from None
    if meta.private and hub.tokens.user_for(request.token) != meta.namespace:
        raise RepoNotFound(f"There is no model {repo_id} on this Hub.")
    commit = hub.storage.resolve(repo_id, "main")
    summary = _checked(hub, _summarize(hub, meta, commit))
    text = read_text(hub, repo_id, commit, "README.md", MAX_CARD_BYTES)
    shown = [path for path in (summary.replay, summary.curve) if path]
    card_html = render_card(text, repo_id=repo_id, commit_id=commit.id, shown=shown) if text else ""
    results = read_json(hub, repo_id, commit, "results.json")
    return _render(
        "model.html",
        title=repo_id,
        m=summary,
        card_html=card_html,
        charts=_charts(hub, repo_id, commit),
        snippets=usage_snippets(repo_id, requires=results.get("requires") if isinstance(results, dict) else None,
                                config=read_json(hub, repo_id, commit, "config.json")),
        endpoint=request.base_url,
        created=meta.created_at,
    )


def leaderboards_page(hub: ServerState, request: PageRequest) -> str:
    """``/leaderboard``: one link per environment hubrl knows, with how many ranked models it has."""
    models = _public_models(hub, request)
    boards = [(env, len(_ranked(models, env)), info.pass_mark) for env, info in ENVS.items()]
    return _render("leaderboards.html", title="Leaderboards", boards=boards)


def leaderboard_page(hub: ServerState, request: PageRequest, env_id: str) -> str:
    """``/leaderboard/{env_id}``: ranked by mean - std, with pass mark, verification and replays."""
    entries, unranked = _board(_public_models(hub, request), env_id)
    info = ENVS.get(env_id)
    return _render(
        "leaderboard.html",
        title=f"Leaderboard {env_id}",
        env_id=env_id,
        entries=entries,
        unranked=unranked,
        pass_mark=info.pass_mark if info else None,
        known=info is not None,
    )


def progress_page(hub: ServerState, request: PageRequest, user: str) -> str:
    """``/progress/{user}``: the course's "Check my progress" for Unit 4 (best model per env, pass or not)."""
    check_name(user, "user name")
    mine = [m for m in _public_models(hub, request) if m.repo_id.split("/")[0] == user]
    rows = []
    for env_id in UNIT4_ENVS:
        ranked = _ranked(mine, env_id)
        rows.append({"env_id": env_id, "pass_mark": ENVS[env_id].pass_mark, "best": ranked[0] if ranked else None})
    passed = all(r["best"] is not None and r["best"].passes for r in rows)
    return _render("progress.html", title=f"Progress of {user}", user=user, rows=rows, passed=passed)


def error_page(status: int, message: str) -> str:
    return _render("error.html", title=f"Error {status}", status=status, message=message)


# ------------------------------------------------------------------------------------------ for the API
def model_summary(hub: ServerState, meta: RepoMeta, commit: Commit) -> ModelSummary:
    """What the pages show of one repository at one commit (cached per commit), its claim included, with the Hub's
    own verdict on that commit where there is one."""
    return _checked(hub, _summarize(hub, meta, commit))


def ranked_models(hub: ServerState, token: str | None, env_id: str) -> list[ModelSummary]:
    """The ranked rows of ``env_id``'s leaderboard page, in its order, as the holder of ``token`` sees them (the
    benchmark dataset's leaderboard answers the same rows)."""
    return _ranked(_public_models(hub, PageRequest({}, token, "")), env_id)
