"""A model card (untrusted markdown with HTML in it) turned into HTML that is safe to put in a page.

markdown-it-py renders CommonMark with tables; nh3 (the Ammonia sanitiser) then keeps only an allow-list of tags
and attributes: no ``<script>``, no ``on*=`` handlers, no ``javascript:`` URLs, no ``style``. Relative links and
media in the card (``replay.mp4``, ``training_curve.png``) are pointed at the repository's files, at the commit
shown. The YAML front matter is metadata, not prose: it is left out of the rendered card.
"""

from __future__ import annotations

import posixpath
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


def render_card(text: str, *, repo_id: str, commit_id: str) -> str:
    """Safe HTML for a README: markdown rendered, front matter hidden, HTML sanitised, relative URLs resolved."""
    html = _MARKDOWN.render(strip_front_matter(text))
    files_base = f"/{repo_id}/resolve/{commit_id}/"

    def rewrite(tag: str, attribute: str, value: str) -> str | None:
        if attribute not in _URL_ATTRIBUTES:
            return value
        parts = urlsplit(value)
        if parts.scheme or parts.netloc or value.startswith(("/", "#")):
            return value  # absolute or in-page; nh3 still drops schemes outside its allow-list
        path = posixpath.normpath(parts.path)
        if not parts.path or path.startswith("..") or path == ".":
            return None
        return files_base + quote(path)

    return nh3.clean(
        html,
        tags=_TAGS,
        clean_content_tags={"script", "style"},
        attributes=_ATTRIBUTES,
        attribute_filter=rewrite,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
