"""Why a launch or login was refused, with a translated message that tells an admin what to fix."""

from __future__ import annotations

from typing import Any

from flask_babel import LazyString, force_locale
from flask_babel import lazy_gettext as _l


class LtiError(Exception):
    """A refused LTI request: an HTTP status, a translated message, and technical detail."""

    status = 400
    title: LazyString = _l("This launch could not be completed")

    def __init__(
        self,
        message: LazyString | str,
        *,
        status: int | None = None,
        detail: str | None = None,
        **params: Any,
    ) -> None:
        super().__init__(str(message))
        self.message = message
        self.params = params
        self.detail = detail
        if status is not None:
            self.status = status

    def text(self) -> str:
        """The message in the current language with its parameters filled in."""
        return str(self.message) % self.params if self.params else str(self.message)

    def log_text(self) -> str:
        """The message in English, for the server log: operators read one language there,
        whatever the language of the browser that was refused."""
        with force_locale("en"):
            return self.text()


class LoginError(LtiError):
    title = _l("The login from your LMS could not start")


class LaunchError(LtiError):
    title = _l("This launch could not be completed")


class RegistrationFlowError(LtiError):
    title = _l("Bottega could not be registered")
