"""Text members write: Markdown rendered safely, and @mentions found.

Markdown is parsed with raw HTML disabled (markdown-it-py's "js-default" preset), then the HTML
is cleaned again with an allowlist (nh3, the Ammonia sanitizer): two independent layers, so a
parser quirk alone cannot let script through. Math between ``$...$`` or ``$$...$$`` is kept as
escaped TeX inside ``<span class="math">`` and drawn in the browser by the vendored KaTeX.
Links open safely and carry ``rel="nofollow ugc noopener"``; an image becomes a link to it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from markupsafe import Markup, escape
from mdit_py_plugins.dollarmath import dollarmath_plugin

MAX_BODY = 20_000  # characters of Markdown in one post
ALLOWED_TAGS = {
    "p",
    "br",
    "hr",
    "strong",
    "em",
    "del",
    "s",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "h3",
    "h4",
    "h5",
    "h6",
    "a",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "span",
    "div",
}
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {"a": {"href", "title"}}  # classes: see below
ALLOWED_CLASSES = {
    "span": {"math", "math-inline", "mention"},
    "div": {"math", "math-block"},
    "code": {
        "language-" + lang
        for lang in (
            "python",
            "java",
            "javascript",
            "c",
            "cpp",
            "sql",
            "html",
            "css",
            "bash",
            "r",
            "text",
        )
    },
}
MENTION_RE = re.compile(r"(?<![\w@])@([\w][\w.\-]{1,40})", re.UNICODE)


def _math_inline(
    self: RendererHTML, tokens: list[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return f'<span class="math math-inline">{escape(tokens[idx].content)}</span>'


def _math_block(
    self: RendererHTML, tokens: list[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return f'<div class="math math-block">{escape(tokens[idx].content)}</div>\n'


def _image(
    self: RendererHTML, tokens: list[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    """An image as a link to it, named by its description: no tracking pixel or page-wide picture
    in a post, and nothing the writer typed disappears (the allowlist has no ``img``)."""
    token = tokens[idx]
    src = str(token.attrGet("src") or "")
    alt = self.renderInlineAsText(token.children or [], options, env) or src
    opened = sum(
        +1 if t.type == "link_open" else -1 if t.type == "link_close" else 0 for t in tokens[:idx]
    )
    if opened > 0:  # inside a link already (a badge): its words, as a link cannot hold a link
        return str(escape(alt))
    return f'<a href="{escape(src)}">{escape(alt)}</a>'


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    md = MarkdownIt("js-default", {"html": False, "linkify": False, "typographer": False})
    md.use(dollarmath_plugin, allow_space=False, double_inline=True)
    md.add_render_rule("math_inline", _math_inline)
    md.add_render_rule("math_inline_double", _math_inline)
    md.add_render_rule("math_block", _math_block)
    md.add_render_rule("math_block_label", _math_block)
    md.add_render_rule("image", _image)
    # Headings inside a post start at h3: the page owns h1 and h2.
    md.disable(["lheading"])
    return md


def _demote_headings(html: str) -> str:
    return re.sub(r"<(/?)h([12])>", lambda m: f"<{m.group(1)}h{int(m.group(2)) + 2}>", html)


@dataclass(frozen=True)
class Rendered:
    """A post's Markdown parsed once, with what its callers need: the page's HTML, whom it
    mentions and its words for excerpts (a long pathological text costs one parse, not three)."""

    html: Markup
    mentions: frozenset[str]
    text: str  # every word on one line, without Markdown syntax

    def excerpt(self, limit: int = 200) -> str:
        """A one-line excerpt of at most ``limit`` characters, for lists and notifications."""
        return _cut(self.text, limit)


def render(text: str) -> Rendered:
    """Parse a member's Markdown once: safe HTML, the handles it mentions and its plain words."""
    md = _parser()
    env: EnvType = {}
    tokens = md.parse(text or "", env)
    mentions = _mentions(tokens)  # before rendering, which reads the tokens only
    raw = md.renderer.render(tokens, md.options, env)
    return Rendered(html=_clean(raw), mentions=mentions, text=_flat(raw))


def _clean(raw: str) -> Markup:
    cleaned = nh3.clean(
        _demote_headings(raw),
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        allowed_classes=ALLOWED_CLASSES,
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow ugc noopener",
        strip_comments=True,
    )
    return Markup(cleaned)  # noqa: S704 -- cleaned by nh3 with an allowlist just above


def _flat(raw: str) -> str:
    return " ".join(html.unescape(nh3.clean(raw, tags=set())).split())


def _cut(flat: str, limit: int) -> str:
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _mentions(tokens: Sequence[Token]) -> frozenset[str]:
    """Handles in the text's words only: not in code (fenced, indented or inline), math or link
    addresses, where an ``@`` names nobody."""
    words = [
        token.content
        for block in tokens
        if block.type == "inline"
        for token in block.children or []
        if token.type == "text"
    ]
    return frozenset(
        m.group(1).rstrip(".-").casefold() for w in words for m in MENTION_RE.finditer(w)
    )


def render_markdown(text: str) -> Markup:
    """Safe HTML for a member's Markdown (when nothing else is needed: see ``render``)."""
    return _clean(_parser().render(text or ""))


def plain_text(text: str, limit: int = 200) -> str:
    """A one-line excerpt without Markdown syntax, for lists and notifications."""
    return _cut(_flat(_parser().render(text or "")), limit)


def mentioned_handles(text: str) -> set[str]:
    """The ``@handles`` a text mentions (lower case), as ``render`` finds them."""
    return set(_mentions(_parser().parse(text or "")))


_SKIPPED_PROSE = {"code_inline", "code_block", "fence", "math_inline", "math_inline_double"}
_SKIPPED_PROSE |= {"math_block", "math_block_label", "html_inline", "html_block", "image"}


def prose_text(text: str) -> str:
    """The words a member wrote, without Markdown syntax, code, math or link addresses.

    For text analysis (sentiment): code and formulas are not the writer's voice.
    """
    parts: list[str] = []
    for block in _parser().parse(text or ""):
        if block.type in _SKIPPED_PROSE:
            parts.append("\n")
            continue
        if block.type == "inline":
            for token in block.children or []:
                if token.type in ("text", "softbreak", "hardbreak"):
                    parts.append(token.content if token.type == "text" else " ")
                elif token.type in _SKIPPED_PROSE:
                    parts.append(" ")
            parts.append("\n")
    return "".join(parts).strip()
