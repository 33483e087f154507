"""Model-card metadata as the Hub derives it: ``cardData`` is the README's YAML front matter; ``tags`` come from it.

Tags, in order, without duplicates: ``library_name``, the card's ``tags``, ``pipeline_tag``, the card's
``language`` codes, ``model-index`` when the card has one, ``dataset:<x>`` for each of the card's ``datasets``,
``license:<x>``. The Hub adds more (``region:us``, ``endpoints_compatible``, ...) that nothing here needs.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

import yaml

MAX_FRONT_MATTER_BYTES = 1 << 20
_MAX_NODES = 200_000


class CardMetadataError(ValueError):
    """The README's front matter is not a YAML mapping."""


def _jsonable(value: object, budget: list[int]) -> object:
    """A JSON-compatible copy of loaded YAML (dates as ISO strings, keys as strings), bounded in size so that
    YAML aliases cannot expand into an enormous document."""
    budget[0] -= 1
    if budget[0] < 0:
        raise CardMetadataError("The YAML metadata is too large.")
    if isinstance(value, dict):
        return {str(k): _jsonable(v, budget) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v, budget) for v in value]
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def front_matter(text: str) -> dict | None:
    """The README's YAML metadata as a JSON-compatible dict; None without front matter.

    Raises CardMetadataError when the block is not valid YAML or not a mapping.
    """
    # The pattern the client's ModelCard reads, imported here: importing huggingface_hub fixes its endpoint
    # (HF_ENDPOINT), and a notebook may start the local Hub before it points the client at it.
    from huggingface_hub.repocard import REGEX_YAML_BLOCK

    match = REGEX_YAML_BLOCK.search(text)
    if match is None:
        return None
    block = match.group(2)
    if len(block.encode("utf-8", "replace")) > MAX_FRONT_MATTER_BYTES:
        raise CardMetadataError("The YAML metadata is larger than 1 MiB.")
    try:
        data = yaml.safe_load(block)
    except yaml.YAMLError as err:
        raise CardMetadataError(f"Invalid YAML in the README front matter: {err}".replace("\n", " ")) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CardMetadataError("The README front matter must be a YAML mapping (key: value pairs).")
    return _jsonable(data, [_MAX_NODES])  # type: ignore[return-value]


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


def card_info(readme: bytes | None) -> CardInfo:
    """What the Hub shows for a README (None: no README). An unreadable card yields empty metadata."""
    data: dict | None = None
    if readme is not None:
        try:
            data = front_matter(readme.decode("utf-8", "replace"))
        except CardMetadataError:
            data = None
    if not data:
        return CardInfo(card_data=data, tags=[], library_name=None, pipeline_tag=None, model_index=None)
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


def validation_errors(content: str) -> list[str]:
    """Messages for ``/api/validate-yaml``: empty when the README's metadata is acceptable."""
    try:
        front_matter(content)
    except CardMetadataError as err:
        return [str(err)]
    return []
