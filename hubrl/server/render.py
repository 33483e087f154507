"""A model card (untrusted markdown with HTML in it) turned into HTML that is safe to put in a page.

markdown-it-py renders CommonMark with tables; nh3 (the Ammonia sanitiser) then keeps only an allow-list of tags
and attributes: no ``<script>``, no ``on*=`` handlers, no ``javascript:`` URLs, no ``style``. Relative links and
media in the card (``replay.mp4``, ``training_curve.png``) are pointed at the repository's files, at the commit
shown. The YAML front matter is metadata, not prose: it is left out of the rendered card. The page shows the replay
and the curve itself, so the card's own copies of those files (and a heading left with nothing under it) are left
out too, and a table header whose cells are all empty (``| | |``) is dropped rather than drawn as an empty row.
"""

from __future__ import annotations

import posixpath
from collections.abc import Collection
from html.parser import HTMLParser
from urllib.parse import quote, urlsplit

import nh3
from markdown_it import MarkdownIt

_MARKDOWN = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
_TAGS = set(nh3.ALLOWED_TAGS) | {"video", "source"}
_ATTRIBUTES = {
    **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()},
    "video": {"src", "controls", "loop", "muted", "autoplay", "playsinline", "width", "height", "poster"},
    "source": {"src", "type"},
    "img": {"src", "alt", "title", "width", "height"},
    "a": {"href", "title"},
}
_URL_ATTRIBUTES = {"src", "href", "poster"}


def strip_front_matter(text: str) -> str:
    """The card's body: ``text`` without its YAML front matter (the same block huggingface_hub reads)."""
    from huggingface_hub.repocard import REGEX_YAML_BLOCK  # lazily: see hubrl.server.cards.front_matter

    match = REGEX_YAML_BLOCK.search(text)
    return text[match.end() :] if match else text


def _repo_path(value: str) -> str | None:
    """The repository file a relative URL in the card names (None for absolute, in-page or escaping URLs)."""
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or value.startswith(("/", "#")):
        return None
    path = posixpath.normpath(parts.path)
    if not parts.path or path.startswith("..") or path == ".":
        return None
    return path


class _Media(HTMLParser):
    """The elements of an HTML block and whether it holds anything but media elements and blank text."""

    MEDIA = {"video", "source", "img"}

    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str | None] = []
        self.other = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.MEDIA:
            self.other = True
        elif tag != "source" or dict(attrs).get("src"):
            self.sources.append(dict(attrs).get("src"))

    def handle_data(self, data: str) -> None:
        self.other = self.other or bool(data.strip())


def _shows_only(token, shown: Collection[str]) -> bool:
    """Whether a block (an HTML block, or a paragraph's inline content) is nothing but media the page shows."""
    parser = _Media()
    if token.type == "html_block":
        parser.feed(token.content)
    elif token.type == "inline":
        for child in token.children or []:
            if child.type == "image":
                parser.sources.append(child.attrGet("src"))
            elif child.type == "html_inline":
                parser.feed(child.content)
            elif child.type not in ("softbreak", "hardbreak") and child.content.strip():
                return False
    else:
        return False
    parser.close()
    return bool(parser.sources) and not parser.other and all(
        src is not None and _repo_path(src) in shown for src in parser.sources)


def _tidy(tokens: list, shown: Collection[str]) -> list:
    """Drop the card's copies of media the page shows, the headings they leave empty, and all-empty table headers."""
    out: list = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.type == "paragraph_open" and i + 2 < len(tokens) and _shows_only(tokens[i + 1], shown):
            i += 3
            continue
        if token.type == "html_block" and _shows_only(token, shown):
            i += 1
            continue
        if token.type == "thead_open":
            end = next(j for j in range(i, len(tokens)) if tokens[j].type == "thead_close")
            if all(not t.content.strip() for t in tokens[i:end] if t.type == "inline"):
                i = end + 1
                continue
        out.append(token)
        i += 1
    result, skip = [], 0
    for j, token in enumerate(out):
        if skip:
            skip -= 1
            continue
        if token.type == "heading_open" and _empty_heading(out, j):
            skip = 2
            continue
        result.append(token)
    return result


def _empty_heading(tokens: list, j: int) -> bool:
    """Whether the heading opening at ``j`` has nothing under it before the next heading of its level or above."""
    nxt = j + 3
    if nxt >= len(tokens):
        return True
    following = tokens[nxt]
    return following.type == "heading_open" and following.tag <= tokens[j].tag


def render_card(text: str, *, repo_id: str, commit_id: str, shown: Collection[str] = ()) -> str:
    """Safe HTML for a README: markdown rendered, front matter hidden, HTML sanitised, relative URLs resolved.

    ``shown`` names repository files the page displays itself (the replay, the curve): the card's copies of them
    are left out, so each appears once.
    """
    tokens = _tidy(_MARKDOWN.parse(strip_front_matter(text)), set(shown))
    html = _MARKDOWN.renderer.render(tokens, _MARKDOWN.options, {})
    files_base = f"/{repo_id}/resolve/{commit_id}/"

    def rewrite(tag: str, attribute: str, value: str) -> str | None:
        if attribute not in _URL_ATTRIBUTES:
            return value
        parts = urlsplit(value)
        if parts.scheme or parts.netloc or value.startswith(("/", "#")):
            return value  # absolute or in-page; nh3 still drops schemes outside its allow-list
        path = _repo_path(value)
        return None if path is None else files_base + quote(path)

    return nh3.clean(
        html,
        tags=_TAGS,
        clean_content_tags={"script", "style"},
        attributes=_ATTRIBUTES,
        attribute_filter=rewrite,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
