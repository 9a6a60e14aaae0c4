"""Small HTML pieces the Q&A pages repeat for every post, built in Python.

A page of fifty answers repeats these a few hundred times; as Jinja macros they were most of the
page's CPU time. Every value is escaped (``_e``: markupsafe's escaping, on plain strings, because
a ``Markup`` object per value was a fifth of the question page's CPU); pieces are joined as plain
strings and become ``Markup`` once, when a template receives them. Labels come translated once
per page (views._labels).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from markupsafe import Markup

from lti_tool.community.qa.queries import AnswerView, Author, CommentNode, QuestionSummary


def _e(value: object) -> str:
    """HTML-escaped text, as ``markupsafe.escape`` writes it (already safe ``Markup`` kept).

    Five ``str.replace`` calls (each a C scan that returns the same string when there is nothing
    to replace) cost a third to a seventh of one ``str.translate``, which looks every character
    up in a dict.
    """
    if isinstance(value, Markup):
        return str(value)
    return (
        str(value)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&#34;")
        .replace("'", "&#39;")
    )


_ESCAPED_LABELS: dict[int, tuple[Mapping[str, Any], dict[str, str]]] = {}


def _escaped(labels: Mapping[str, Any]) -> dict[str, str]:
    """The labels HTML-escaped, once per labels mapping (views._labels keeps one per language)."""
    cached = _ESCAPED_LABELS.get(id(labels))
    if cached is None or cached[0] is not labels:
        escaped = {k: _e(v) for k, v in labels.items() if isinstance(v, str)}
        cached = _ESCAPED_LABELS[id(labels)] = (labels, escaped)
    return cached[1]


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
        self._csrf = _e(csrf)
        self.t = _escaped(labels)  # the labels, escaped

    # --- pieces templates use one by one ----------------------------------------------------

    def author(self, author: Author) -> Markup:
        """Who wrote a post, as this viewer may see it."""
        return Markup(self._author(author))  # noqa: S704 -- every value escaped

    def stamp(self, moment: datetime) -> Markup:
        """A relative time ("5 minutes ago") that machines can read too."""
        return Markup(self._stamp(moment))  # noqa: S704 -- every value escaped

    def state(self, state: str) -> Markup:
        return Markup(self._state(state))  # noqa: S704 -- every value escaped

    def body(
        self, html: str, hidden: Collection[tuple[str, int]], moderator: bool, key: tuple[str, int]
    ) -> Markup:
        """A post's stored HTML; a placeholder for students when moderators hid it."""
        return Markup(self._body(html, hidden, moderator, key))  # noqa: S704 -- clean HTML

    def button(self, action: str, label: str, **options: Any) -> Markup:
        """A one-button POST form carrying the CSRF token (options: see ``_button``)."""
        return Markup(self._button(action, label, **options))  # noqa: S704 -- every value escaped

    def inline_link(self, href: str, label: str, slot: str, aria: str | None = None) -> Markup:
        """A link to a small form page, which htmx loads in place when it is there."""
        return Markup(self._inline_link(href, label, slot, aria))  # noqa: S704 -- escaped

    # --- the same as escaped strings --------------------------------------------------------

    def _author(self, author: Author) -> str:
        if author.hidden:
            return f'<span class="qa-author qa-anonymous">{self.t["anonymous"]}</span>'
        name = self.labels["you"] if author.is_viewer else author.name
        html = f'<span class="qa-author">{_e(name)}</span>'
        if author.revealed:
            note = self.t["anonymous_to_classmates"]
            html += f' <span class="qa-tag-note">({note})</span>'
        if author.mentor:
            html += f' <span class="mentor-mark">{self.t["peer_mentor"]}</span>'
        return html

    def _stamp(self, moment: datetime) -> str:
        return f'<time datetime="{moment.isoformat()}">{_e(self.ago(moment))}</time>'

    def _state(self, state: str) -> str:
        label = _e(self.labels["states"][state])
        return f'<span class="qa-state qa-state-{_e(state)}">{label}</span>'

    def _button(
        self,
        action: str,
        label: str,
        *,
        pressed: bool | None = None,
        fields: Mapping[str, str] | None = None,
        aria: str | None = None,
        danger: bool = False,
    ) -> str:
        """``pressed``: a toggle's state (aria-pressed); ``fields``: hidden inputs."""
        hidden = "".join(
            f'<input type="hidden" name="{_e(name)}" value="{_e(value)}">'
            for name, value in (fields or {}).items()
        )
        attributes = ""
        if pressed is not None:
            attributes += f' aria-pressed="{"true" if pressed else "false"}"'
        if aria:
            attributes += f' aria-label="{_e(aria)}"'
        css = "qa-button qa-danger" if danger else "qa-button"
        return (
            f'<form method="post" action="{_e(action)}" class="qa-inline">'
            f'<input type="hidden" name="csrf_token" value="{self._csrf}">{hidden}'
            f'<button type="submit" class="{css}"{attributes}>{_e(label)}</button></form>'
        )

    def _inline_link(self, href: str, label: str, slot: str, aria: str | None = None) -> str:
        url = _e(href)
        extra = f' aria-label="{_e(aria)}"' if aria else ""
        return (
            f'<a class="qa-link" href="{url}" hx-get="{url}" hx-target="#{_e(slot)}" '
            f'hx-swap="innerHTML"{extra}>{_e(label)}</a>'
        )

    # --- whole posts: a page repeats these for every question, answer and comment -----------

    def question_item(
        self, item: QuestionSummary, qa_url: str, hidden: Collection[tuple[str, int]] = ()
    ) -> Markup:
        """One question of a list page (moderators see hidden ones, marked)."""
        t = self.t
        endorsed = (
            f'<span class="qa-endorsed">{t["endorsed_short"]}</span>' if item.endorsed else ""
        )
        if ("qa_question", item.id) in hidden:
            endorsed += f' <span class="qa-state">{t["hidden"]}</span>'

        tags = ""
        if item.tags:
            names = "".join(f"<li>{_e(tag.name)}</li>" for tag in item.tags)
            tags = f'<ul class="qa-tags" aria-label="{t["tags"]}">{names}</ul>'
        return Markup(  # noqa: S704 -- every value escaped
            f'<li class="qa-item"><div class="qa-item-main">'
            f'<a class="qa-item-title" href="{_e(qa_url)}{item.id}">{_e(item.title)}</a>'
            f'<p class="qa-meta">{self._state(item.state.value)} {endorsed}'
            f" <span>{_e(self.count('answers', item.answer_count))}</span>"
            f" <span>{_e(self.count('helpful', item.helpful_count))}</span>"
            f" <span>{self._author(item.author)}, {self._stamp(item.created_at)}</span></p>"
            f"{tags}</div></li>"
        )

    def _body(
        self, html: str, hidden: Collection[tuple[str, int]], moderator: bool, key: tuple[str, int]
    ) -> str:
        """A post's body; a placeholder for students when moderators hid it."""
        if key not in hidden:
            return f'<div class="qa-body">{html}</div>'
        if moderator:
            mark = self.t["hidden_mark"]
            return (
                f'<p class="qa-meta"><span class="qa-state mod-hidden-mark">{mark}</span></p>'
                f'<div class="qa-body">{html}</div>'
            )
        text = self.t["hidden"]
        return f'<p class="qa-meta mod-hidden-placeholder"><em>{text}</em></p>'

    def comments(
        self,
        nodes: Sequence[CommentNode],
        here: str,
        qa_url: str,
        moderator: bool,
        hidden: Collection[tuple[str, int]] = (),
    ) -> Markup:
        """A thread of comments and their replies (``here``: the question's URL)."""
        html = self._comments(nodes, _e(here), _e(qa_url), moderator, hidden)
        return Markup(html)  # noqa: S704 -- escaped

    # The pieces below take URLs and labels already escaped: a page of fifty answers builds a
    # few hundred of them.

    def _form(self, action: str, label: str, pressed: bool | None = None, aria: str = "") -> str:
        """A one-button POST form (escaped ``action``, ``label`` and ``aria``)."""
        attributes = ""
        if pressed is not None:
            attributes = ' aria-pressed="true"' if pressed else ' aria-pressed="false"'
        css = "qa-button"
        if aria:
            attributes += f' aria-label="{aria}"'
            css = "qa-button qa-danger"  # only the delete buttons carry their own name
        return (
            f'<form method="post" action="{action}" class="qa-inline">'
            f'<input type="hidden" name="csrf_token" value="{self._csrf}">'
            f'<button type="submit" class="{css}"{attributes}>{label}</button></form>'
        )

    @staticmethod
    def _link(url: str, label: str, slot: str) -> str:
        """``_inline_link`` with an escaped URL and label."""
        return (
            f'<a class="qa-link" href="{url}" hx-get="{url}" hx-target="#{slot}" '
            f'hx-swap="innerHTML">{label}</a>'
        )

    def _comments(
        self,
        nodes: Sequence[CommentNode],
        here: str,
        qa_url: str,
        moderator: bool,
        hidden: Collection[tuple[str, int]] = (),
    ) -> str:
        """``comments`` with escaped ``here`` and ``qa_url``."""
        if not nodes:
            return ""
        t = self.t
        parts = ['<ul class="qa-comments">']
        for node in nodes:
            c = node.comment
            deleted = node.deleted
            parts.append(
                f'<li id="comment-{c.id}" class="qa-comment qa-deleted">'
                if deleted
                else f'<li id="comment-{c.id}" class="qa-comment">'
            )
            if deleted and not moderator:
                parts.append(f'<p class="qa-meta">{t["comment_deleted"]}</p>')
            else:
                if deleted:
                    parts.append(f'<p class="qa-meta">{t["deleted_for_moderators"]}</p>')
                c_url = f"{qa_url}comments/{c.id}"
                edited = f' · <a href="{c_url}/history">{t["edited"]}</a>' if c.edited_at else ""
                parts.append(
                    self._body(c.body_html, hidden, moderator, ("qa_comment", c.id))
                    + f'<p class="qa-meta">{self._author(node.author)}, '
                    f"{self._stamp(c.created_at)}{edited}</p>"
                )
                if not deleted:
                    slot = f"slot-c{c.id}"
                    parts.append('<div class="qa-actions qa-small">')
                    parts.append(self._link(f"{here}/comment?parent_id={c.id}", t["reply"], slot))
                    if node.can_change:
                        parts.append(
                            f' <a class="qa-link" href="{c_url}/edit" '
                            f'aria-label="{t["edit_comment"]}">{t["edit"]}</a> '
                            + self._form(f"{c_url}/delete", t["delete"], aria=t["delete_comment"])
                        )
                    parts.append(
                        " "
                        + self._link(
                            f"{here}/flag?kind=comment&amp;post_id={c.id}", t["flag"], slot
                        )
                    )
                    parts.append(f'</div><div id="{slot}" class="qa-slot"></div>')
            if node.replies:
                parts.append(self._comments(node.replies, here, qa_url, moderator, hidden))
            parts.append("</li>")
        parts.append("</ul>")
        return "".join(parts)

    def answers(
        self,
        views: Sequence[AnswerView],
        here: str,
        qa_url: str,
        moderator: bool,
        hidden: Collection[tuple[str, int]] = (),
        kudos_url: str = "",
    ) -> Markup:
        """Every answer of a question page (see ``answer``), one after the other."""
        here, qa_url, kudos_url = _e(here), _e(qa_url), _e(kudos_url)
        return Markup(  # noqa: S704 -- every value escaped, body_html is clean
            "\n".join(self._answer(v, here, qa_url, moderator, hidden, kudos_url) for v in views)
        )

    def answer(
        self,
        view: AnswerView,
        here: str,
        qa_url: str,
        moderator: bool,
        hidden: Collection[tuple[str, int]] = (),
        kudos_url: str = "",
    ) -> Markup:
        """One answer with its actions and comments (``here``: the question's URL;
        ``kudos_url``: where "Give kudos" goes, empty for none)."""
        html = self._answer(view, _e(here), _e(qa_url), moderator, hidden, _e(kudos_url))
        return Markup(html)  # noqa: S704 -- every value escaped, body_html is clean

    def _answer(
        self,
        view: AnswerView,
        here: str,
        qa_url: str,
        moderator: bool,
        hidden: Collection[tuple[str, int]],
        kudos_url: str,
    ) -> str:
        """``answer`` with escaped ``here``, ``qa_url`` and ``kudos_url``."""
        t = self.t
        a = view.answer
        a_url = f"{qa_url}answers/{a.id}"
        classes = "qa-answer"
        if view.accepted:
            classes += " qa-accepted"
        if a.deleted_at:
            classes += " qa-deleted"
        author = self._author(view.author)
        parts = [
            f'<article id="answer-{a.id}" class="{classes}">'
            f'<h3 class="visually-hidden">{t["answer_by"]} {author}</h3>'
        ]
        badges = []
        if view.accepted:
            badges.append(f'<span class="qa-accepted-badge">{t["accepted"]}</span>')
        if a.endorsed:
            by = t["endorsed_by_mentor"] if a.endorsed_by_mentor else t["endorsed"]
            badges.append(f'<span class="qa-endorsed">{by}</span>')
        if a.is_staff_answer:
            badges.append(f'<span class="qa-staff">{t["staff_answer"]}</span>')
        if a.deleted_at:
            badges.append(f'<span class="qa-state">{t["deleted_for_moderators"]}</span>')
        if badges:
            parts.append(f'<p class="qa-meta">{" ".join(badges)}</p>')
        edited = f' · <a href="{a_url}/history">{t["edited"]}</a>' if a.edited else ""
        parts.append(
            self._body(a.body_html, hidden, moderator, ("qa_answer", a.id))
            + f'<p class="qa-meta">{author}, {self._stamp(a.created_at)}{edited}</p>'
        )
        if not a.deleted_at:
            parts.append('<div class="qa-actions">')
            if view.can_vote:
                label = f"{t['helpful']} ({a.helpful_count})"
                parts.append(self._form(f"{a_url}/vote", label, pressed=view.voted))
            else:
                count = _e(self.count("helpful", a.helpful_count))
                parts.append(f'<span class="qa-count">{count}</span>')
            if view.can_accept:
                label = t["unaccept"] if view.accepted else t["accept"]
                parts.append(self._form(f"{a_url}/accept", label, pressed=view.accepted))
            if kudos_url and not view.author.anonymous and not view.author.is_viewer:
                give = f"{kudos_url}?to={view.author.member_id}&amp;answer={a.id}"
                parts.append(f'<a class="qa-button" href="{give}">{t["give_kudos"]}</a>')
            if view.can_endorse:
                label = t["unendorse"] if a.endorsed else t["endorse"]
                parts.append(self._form(f"{a_url}/endorse", label, pressed=a.endorsed))
            if view.can_change:
                parts.append(f'<a class="qa-button" href="{a_url}/edit">{t["edit"]}</a>')
                parts.append(self._form(f"{a_url}/delete", t["delete"], aria=t["delete_answer"]))
            slot = f"slot-a{a.id}"
            parts.append(self._link(f"{here}/comment?answer_id={a.id}", t["add_comment"], slot))
            parts.append(self._link(f"{here}/flag?kind=answer&amp;post_id={a.id}", t["flag"], slot))
            parts.append(f'</div><div id="{slot}" class="qa-slot"></div>')
        if view.comments:
            parts.append(
                f'<section class="qa-thread" aria-label="{t["comments_on_answer"]}">'
                f"{self._comments(view.comments, here, qa_url, moderator, hidden)}</section>"
            )
        parts.append("</article>")
        return "".join(parts)
