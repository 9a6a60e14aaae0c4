"""What a notification says: one whole sentence per kind, for the page and for the e-mail.

Whole sentences, so that each language orders its words (and the link) its way. The page passes
``about`` as markup (a link to the post) and gets markup back; the e-mail passes plain text and
gets plain text.
"""

from __future__ import annotations

from typing import Any

from flask_babel import get_translations
from markupsafe import Markup

# Kinds that are never e-mailed one by one: staff get the weekly digest by e-mail already.
NOT_MAILED = frozenset({"digest"})


def sentence(
    kind: str,
    about: str,
    *,
    removed: bool = False,
    subject_type: str = "",
    markup: bool = False,
) -> str:
    """The sentence of a notification of ``kind`` about ``about`` (a question's title, the start
    of a message), in the current locale. ``removed``: the post was deleted or hidden since."""

    def _(text: str, **values: Any) -> str:
        translated = str(get_translations().ugettext(text))
        if markup:  # the translation is ours; what is put into it is escaped unless markup
            return Markup(translated) % values  # noqa: S704  (our catalogue's text)
        return translated % values if values else translated

    if removed and subject_type == "qa_question":
        return _("A question you were notified about is no longer available.")
    if removed:
        return _("A message you were notified about is no longer available.")
    if kind == "answer":
        return _("New answer to %(question)s", question=about)
    if kind == "accepted":
        return _("An answer was accepted on %(question)s", question=about)
    if kind == "mention":
        return _("You were mentioned in %(question)s", question=about)
    if kind == "nudge":
        return _("A message from your course staff: %(message)s", message=about)
    if kind == "digest":
        return _("Your weekly community digest is ready: week of %(week)s", week=about)
    if kind == "welcome":
        return _("Someone welcomed you in Introductions: %(message)s", message=about)
    if kind == "moderation_warning":
        return _("A message from the moderators: %(message)s", message=about)
    if kind == "group_post":
        return _("New message in your group: %(message)s", message=about)
    if kind == "kudos":
        return _("You received kudos: %(message)s", message=about)
    if kind == "badge":
        return _("You earned a badge: %(badge)s", badge=about)
    if kind == "mentor":
        return _("You are now a peer mentor in this course.")
    return _("Update on %(subject)s", subject=about)
