"""LMS service failures in the page's language, for the pages of LMS syncs."""

from __future__ import annotations

from collections.abc import Mapping

from flask_babel import gettext as _


def lms_error_text(code: str | None, own: Mapping[str, str], fallback: str) -> str | None:
    """The words for a failure ``code``: the page's ``own`` ones first, then the common ones."""
    if code is None:
        return None
    if code in own:
        return own[code]
    common = {
        "timeout": _("The LMS did not answer in time."),
        "unreachable": _("Bottega could not reach the LMS."),
        "rate_limited": _("The LMS asked Bottega to slow down."),
        "server_error": _("The LMS had an internal error."),
        "token_refused": _("The LMS refused to give Bottega an access token."),
        "bad_response": _("The LMS sent an answer Bottega cannot read."),
    }
    return common.get(code, fallback)
