"""Small HTML pieces the Q&A pages repeat for every post, built in Python.

A page of fifty answers repeats these a few hundred times; as Jinja macros they were most of the
page's CPU time. Every value goes through ``markupsafe.escape`` (``Markup.format`` is several
times slower); labels come translated once per page (views._labels).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from markupsafe import Markup, escape

from lti_tool.community.qa.queries import Author


class PostHtml:
    """HTML helpers bound to one page's labels, form token and time formatter."""

    def __init__(
        self,
        labels: Mapping[str, Any],
        csrf: str,
        ago: Callable[[datetime], str],
        count: Callable[[str, int], str],
    ) -> None:
        self.labels = labels
        self.csrf = csrf
        self.ago = ago
        self.count = count  # ("answers" | "helpful", n) -> "3 answers"

    def author(self, author: Author) -> Markup:
        """Who wrote a post, as this viewer may see it."""
        if author.hidden:
            return Markup(  # noqa: S704 -- every value escaped
                f'<span class="qa-author qa-anonymous">{escape(self.labels["anonymous"])}</span>'
            )
        name = self.labels["you"] if author.is_viewer else author.name
        html = f'<span class="qa-author">{escape(name)}</span>'
        if author.revealed:
            note = escape(self.labels["anonymous_to_classmates"])
            html += f' <span class="qa-tag-note">({note})</span>'
        if author.mentor:
            html += f' <span class="mentor-mark">{escape(self.labels["peer_mentor"])}</span>'
        return Markup(html)  # noqa: S704 -- every value escaped

    def stamp(self, moment: datetime) -> Markup:
        """A relative time ("5 minutes ago") that machines can read too."""
        return Markup(  # noqa: S704 -- every value escaped
            f'<time datetime="{moment.isoformat()}">{escape(self.ago(moment))}</time>'
        )

    def state(self, state: str) -> Markup:
        label = escape(self.labels["states"][state])
        return Markup(f'<span class="qa-state qa-state-{escape(state)}">{label}</span>')  # noqa: S704

    def button(
        self,
        action: str,
        label: str,
        *,
        pressed: bool | None = None,
        fields: Mapping[str, str] | None = None,
        aria: str | None = None,
        danger: bool = False,
    ) -> Markup:
        """A one-button POST form carrying the CSRF token."""
        hidden = "".join(
            f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'
            for name, value in (fields or {}).items()
        )
        attributes = ""
        if pressed is not None:
            attributes += f' aria-pressed="{"true" if pressed else "false"}"'
        if aria:
            attributes += f' aria-label="{escape(aria)}"'
        css = "qa-button qa-danger" if danger else "qa-button"
        return Markup(  # noqa: S704 -- every value escaped
            f'<form method="post" action="{escape(action)}" class="qa-inline">'
            f'<input type="hidden" name="csrf_token" value="{escape(self.csrf)}">{hidden}'
            f'<button type="submit" class="{css}"{attributes}>{escape(label)}</button></form>'
        )

    def inline_link(self, href: str, label: str, slot: str, aria: str | None = None) -> Markup:
        """A link to a small form page, which htmx loads in place when it is there."""
        url = escape(href)
        extra = f' aria-label="{escape(aria)}"' if aria else ""
        return Markup(  # noqa: S704 -- every value escaped
            f'<a class="qa-link" href="{url}" hx-get="{url}" hx-target="#{escape(slot)}" '
            f'hx-swap="innerHTML"{extra}>{escape(label)}</a>'
        )
