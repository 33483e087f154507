"""Pushing a run folder to a Hub repo in one commit, the folder itself left untouched.

The folder and its card are checked first (nothing is sent for an incomplete folder or a card the leaderboard could
not read), the token is checked against the repo's namespace before anything is created, then exactly one commit
carries every file (``HfApi.create_commit``, applied atomically by the Hub); identical content makes no new commit.
A card hubrl generated is rendered for this repo in memory (its load instructions name the repo); a card the user
edited is pushed as it is. Beside it, ``.eval_results/<env>.yaml`` is rendered from the card being pushed (its
score, results.json's protocol), so every push, of any run folder, carries the Hub's evaluation-results form of the
card's claim; hidden files are not pushed, other files under ``.eval_results/`` are, as they are.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubrl.card import card_problems, first_metric, match_generated_card, parse_metric, render_eval_results
from hubrl.connection import HubConnection, check_repo_id
from hubrl.errors import CardError
from hubrl.eval_results import EVAL_RESULTS_DIR, eval_results_path
from hubrl.records import CARD, HYPERPARAMETERS, RESULTS, read_json, render_card, validate_run_folder


@dataclass
class PushResult:
    """What :func:`push_run` did (or, with ``dry_run``, would do)."""

    repo_id: str
    repo_url: str
    files: list[tuple[str, int]]
    card_metadata: dict[str, Any]
    commit_url: str | None = None
    commit_oid: str | None = None
    changed: bool = True
    dry_run: bool = False
    deleted: list[str] = field(default_factory=list)
    """Repo files the commit deleted (``delete_paths``)."""

    def summary(self) -> str:
        if self.dry_run:
            lines = [f"dry run: would push {len(self.files)} files to {self.repo_id} ({self.repo_url}):"]
            lines += [f"  {name:<24} {size:>12,} bytes" for name, size in self.files]
            first = (self.card_metadata.get("model-index") or [{}])[0].get("results", [{}])[0]
            metric = (first.get("metrics") or [{}])[0].get("value")
            lines.append(f"card: tags {self.card_metadata.get('tags')}, metric {metric!r}")
            return "\n".join(lines)
        if not self.changed:
            return f"{self.repo_url} already holds exactly these files; no new commit ({self.commit_oid})"
        removed = f", deleted {', '.join(self.deleted)}" if self.deleted else ""
        return f"pushed {len(self.files)} files to {self.repo_url}{removed} (commit {self.commit_oid})"


def card_for_repo(run_dir: Path, repo_id: str) -> str:
    """The card to push: a hubrl-generated card rendered for ``repo_id``; a card the user edited, as it is.

    "Generated" is :func:`hubrl.card.match_generated_card`: the card equals what hubrl renders now from the
    folder's JSON records, for no repo, for this repo or for the repo it was last pushed to.
    """
    current = (run_dir / CARD).read_text(encoding="utf-8")
    hyper, results = read_json(run_dir / HYPERPARAMETERS), read_json(run_dir / RESULTS)
    generated, _ = match_generated_card(current, hyperparameters=hyper, results=results, repo_id=repo_id)
    return render_card(run_dir, repo_id=repo_id) if generated else current


def push_run(
    run_dir: str | os.PathLike,
    repo_id: str,
    *,
    client: HubConnection | None = None,
    private: bool = False,
    revision: str | None = None,
    commit_message: str | None = None,
    dry_run: bool = False,
    delete_paths: tuple[str, ...] | list[str] = (),
) -> PushResult:
    """Push a complete run folder to ``repo_id`` in one commit; the folder is not modified.

    Args:
        run_dir: a folder written by ``hubrl train`` or ``hubrl convert`` (or the :class:`~hubrl.records.Run`).
        repo_id: ``namespace/name``; created if missing (``private`` applies then).
        client: the Hub (default: ``HF_ENDPOINT`` / ``HF_TOKEN`` at call time).
        revision: branch to commit to (created from main if missing); default main.
        commit_message: defaults to a summary of the evaluation.
        dry_run: validate and list what would be sent, send nothing.
        delete_paths: repo files to delete in the same commit (e.g. ``("model.pt",)``, a course pickle replaced by
            these safe weights); those the repo does not hold are skipped. Listed in ``PushResult.deleted``.

    Returns:
        A :class:`PushResult`; ``changed`` is False when the repo already held exactly these files.

    Raises:
        ConfigError: an invalid repo id.
        RunFolderError: the folder is incomplete or corrupt (nothing is sent).
        CardError: the card would not show on the leaderboard (nothing is sent).
        NotAuthorizedError: the token is missing, invalid, or another user's than the repo's namespace (checked
            before anything is created).
        HubUnreachableError: no answer from the endpoint.
        HubError: any other refusal by the Hub. A repo this push created is deleted again on failure.

    Example:
        >>> push_run("runs/CartPole-v1-default-seed0", "alice/Reinforce-CartPole-v1")
    """
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, ModelCard

    check_repo_id(repo_id)
    run_dir = validate_run_folder(Path(os.fspath(run_dir)), complete=True)
    results = read_json(run_dir / RESULTS)
    card_text = card_for_repo(run_dir, repo_id)
    card = ModelCard(card_text)
    problems = card_problems(card, results.get("env_id"))
    if problems:
        raise CardError(f"{run_dir / CARD} would not show on the leaderboard: {'; '.join(problems)}")
    metadata = card.data.to_dict()
    generated = {CARD: card_text.encode("utf-8"),
                 eval_results_path(results["env_id"]): eval_results_for_card(results, metadata).encode("utf-8")}
    on_disk = {p.relative_to(run_dir).as_posix(): p.stat().st_size for p in run_dir.rglob("*")
               if p.is_file() and _pushed(p.relative_to(run_dir).parts)}
    files = sorted({**on_disk, **{name: len(data) for name, data in generated.items()}}.items())
    client = client or HubConnection()
    repo_url = f"{client.endpoint}/{repo_id}"
    if dry_run:
        return PushResult(repo_id=repo_id, repo_url=repo_url, files=files, card_metadata=metadata, dry_run=True)
    client.require_login("hubrl push", repo_id)
    message = commit_message or (
        f"hubrl: REINFORCE {results['env_id']} {results['mean_reward']:.2f} +/- {results['std_reward']:.2f}"
    )
    api = client.api
    operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=generated.get(name, str(run_dir / name)))
                  for name, _ in files]
    created = False
    deleted: list[str] = []
    with client.translating(repo_id=repo_id, revision=revision):
        try:
            if not api.repo_exists(repo_id):
                api.create_repo(repo_id, private=private, exist_ok=True)
                created = True
            if revision and revision != "main":
                api.create_branch(repo_id, branch=revision, exist_ok=True)
            before = api.model_info(repo_id, revision=revision).sha
            if delete_paths:
                held = set(api.list_repo_files(repo_id, revision=revision))
                deleted = [p for p in dict.fromkeys(delete_paths) if p in held and p not in dict(files)]
                operations += [CommitOperationDelete(path_in_repo=p) for p in deleted]
            info = api.create_commit(repo_id, operations, commit_message=message, revision=revision)
        except BaseException:
            if created:  # leave the Hub as it was: no empty repo behind a failed first push
                _delete_quietly(api, repo_id)
            raise
    return PushResult(repo_id=repo_id, repo_url=repo_url, files=files, card_metadata=metadata,
                      commit_url=info.commit_url, commit_oid=info.oid, changed=info.oid != before, deleted=deleted)


def eval_results_for_card(results: dict[str, Any], metadata: dict[str, Any]) -> str:
    """The ``.eval_results`` file pushed beside a card: the card's claimed mean and std (checked parseable by
    :func:`~hubrl.card.card_problems` first), results.json's protocol."""
    parsed = parse_metric(first_metric(metadata)[1])
    assert parsed is not None, "card_problems() lets no unparseable metric through"
    return render_eval_results(results, *parsed)


def _pushed(parts: tuple[str, ...]) -> bool:
    """Hidden files stay home (editor and OS leftovers, half-written temporaries), ``.eval_results/`` excepted."""
    inside = parts[1:] if parts[0] == EVAL_RESULTS_DIR and len(parts) > 1 else parts
    return not any(part.startswith(".") for part in inside)


def _delete_quietly(api, repo_id: str) -> None:
    from huggingface_hub.errors import HfHubHTTPError

    try:
        api.delete_repo(repo_id)
    except (HfHubHTTPError, OSError):
        pass  # the push's own error is the one to report
