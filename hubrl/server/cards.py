"""Model-card metadata as the Hub derives it: ``cardData`` is the README's YAML front matter; ``tags`` come from it.

The front matter is read by :func:`hubrl.card.read_front_matter`, hubrl's one reader of card metadata (bounded in
size and nesting before YAML runs). Tags, in order, without duplicates: ``library_name``, the card's ``tags``,
``pipeline_tag``, the card's ``language`` codes, ``model-index`` when the card has one, ``dataset:<x>`` for each of
the card's ``datasets``, ``license:<x>``. The Hub adds more (``region:us``, ``endpoints_compatible``, ...) that
nothing here needs.
"""

from __future__ import annotations

from dataclasses import dataclass

from hubrl.card import MAX_FRONT_MATTER_BYTES, read_front_matter
from hubrl.errors import CardError

__all__ = ["MAX_FRONT_MATTER_BYTES", "CardInfo", "card_info", "validation_errors"]


def _as_list(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value if v is not None and not isinstance(v, (dict, list))]
    if isinstance(value, (dict,)):
        return []
    return [str(value)]


@dataclass(frozen=True)
class CardInfo:
    card_data: dict | None
    tags: list[str]
    library_name: str | None
    pipeline_tag: str | None
    model_index: list | None
    error: str | None = None
    """Why the front matter could not be read (the card then shows no metadata)."""


def card_info(readme: bytes | None, *, truncated: bool = False) -> CardInfo:
    """What the Hub shows for a README (None: no README). An unreadable card yields empty metadata and its error.

    ``truncated``: ``readme`` is only the start of a longer file (read up to twice :data:`MAX_FRONT_MATTER_BYTES`),
    so a front matter that opens but does not close in it is too large rather than absent.
    """
    data: dict | None = None
    error = None
    if readme is not None:
        text = readme.decode("utf-8", "replace")
        try:
            data = read_front_matter(text)
        except CardError as err:
            error = str(err)
        if data is None and error is None and truncated and text.lstrip().startswith("---"):
            error = f"the README front matter is larger than {MAX_FRONT_MATTER_BYTES >> 10} KiB"
    if not data:
        return CardInfo(card_data=data, tags=[], library_name=None, pipeline_tag=None, model_index=None, error=error)
    library = data.get("library_name") if isinstance(data.get("library_name"), str) else None
    pipeline = data.get("pipeline_tag") if isinstance(data.get("pipeline_tag"), str) else None
    model_index = data.get("model-index") if isinstance(data.get("model-index"), list) else None
    tags: list[str] = []
    tags += [library] if library else []
    tags += _as_list(data.get("tags"))
    tags += [pipeline] if pipeline else []
    tags += _as_list(data.get("language"))
    tags += ["model-index"] if model_index is not None else []
    tags += [f"dataset:{d}" for d in _as_list(data.get("datasets"))]
    tags += [f"license:{lic}" for lic in _as_list(data.get("license"))]
    return CardInfo(
        card_data=data,
        tags=list(dict.fromkeys(tags)),
        library_name=library,
        pipeline_tag=pipeline,
        model_index=model_index,
    )


def validation_errors(content: str, *, max_bytes: int = MAX_FRONT_MATTER_BYTES) -> list[str]:
    """Messages for ``/api/validate-yaml``: empty when the README's metadata is acceptable (at most ``max_bytes`` of
    front matter)."""
    try:
        read_front_matter(content, max_bytes=max_bytes)
    except CardError as err:
        return [str(err)]
    return []
