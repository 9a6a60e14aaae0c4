"""LTI claim names and the plain data a launch is turned into (no pylti1p3 types leak out)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
MESSAGE_TYPE = LTI + "message_type"
VERSION = LTI + "version"
DEPLOYMENT_ID = LTI + "deployment_id"
TARGET_LINK_URI = LTI + "target_link_uri"
RESOURCE_LINK = LTI + "resource_link"
ROLES = LTI + "roles"
CONTEXT = LTI + "context"
CUSTOM = LTI + "custom"
LAUNCH_PRESENTATION = LTI + "launch_presentation"
TOOL_PLATFORM = LTI + "tool_platform"
FOR_USER = LTI + "for_user"
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
AGS = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
DEEP_LINKING_SETTINGS = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"

RESOURCE_LINK_REQUEST = "LtiResourceLinkRequest"
DEEP_LINKING_REQUEST = "LtiDeepLinkingRequest"
# LTI Data Privacy Launch 1.0: the LMS opens the tool's privacy page for the user (or, with a
# for_user claim, for the person an LMS administrator acts for). pylti1p3 spells it without
# the "Lti" prefix; both are read as the spec's name.
DATA_PRIVACY_REQUEST = "LtiDataPrivacyLaunchRequest"
DATA_PRIVACY_ALIASES = {"DataPrivacyLaunchRequest": DATA_PRIVACY_REQUEST}
MESSAGE_TYPES = frozenset(
    {RESOURCE_LINK_REQUEST, DEEP_LINKING_REQUEST, DATA_PRIVACY_REQUEST, *DATA_PRIVACY_ALIASES}
)
WIDGETS = ("home", "qa", "groups", "kudos", "dashboard")


@dataclass(frozen=True)
class LmsUser:
    """The person launching, as the LMS describes them (only the id is certain)."""

    lms_id: str
    name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    email: str | None = None
    picture: str | None = None
    locale: str | None = None


@dataclass(frozen=True)
class LmsCourse:
    lms_id: str
    title: str = ""
    label: str = ""


@dataclass(frozen=True)
class LmsPlacement:
    """The resource link launched: where in the course the widget sits."""

    lms_id: str
    title: str = ""


@dataclass(frozen=True)
class DeepLinkRequest:
    """What the LMS accepts back from the widget picker."""

    return_url: str
    data: str | None
    accept_multiple: bool
    accept_line_item: bool
    title: str = ""


@dataclass(frozen=True)
class Launch:
    """A validated launch, as plain data."""

    platform_id: int
    deployment_pk: int
    deployment_id: str
    issuer: str
    client_id: str
    message_type: str
    user: LmsUser
    roles: tuple[str, ...]
    course: LmsCourse | None
    placement: LmsPlacement | None
    widget: str
    custom: dict[str, str]
    locale: str | None
    return_url: str | None
    target_link_uri: str
    services: dict[str, Any] = field(default_factory=dict)
    deep_linking: DeepLinkRequest | None = None
    # Data privacy launches: the person whose data is concerned, when not the launching user.
    for_user: LmsUser | None = None

    @property
    def is_deep_linking(self) -> bool:
        return self.message_type == DEEP_LINKING_REQUEST

    @property
    def is_data_privacy(self) -> bool:
        return self.message_type == DATA_PRIVACY_REQUEST


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def user_from(claims: dict[str, Any]) -> LmsUser:
    # A numeric sub is accepted as text: some platforms send integers.
    return LmsUser(
        lms_id=str(claims["sub"]),
        name=_text(claims.get("name")),
        given_name=_text(claims.get("given_name")),
        family_name=_text(claims.get("family_name")),
        email=_text(claims.get("email")),
        picture=_text(claims.get("picture")),
        locale=locale_text(claims.get("locale")),
    )


def for_user_from(claim: Any) -> LmsUser | None:
    """The for_user claim's person (its ``user_id`` is their sub), or None when absent."""
    if not isinstance(claim, dict) or _text(claim.get("user_id")) is None:
        return None
    return LmsUser(
        lms_id=str(claim["user_id"]).strip(),
        name=_text(claim.get("name")),
        given_name=_text(claim.get("given_name")),
        family_name=_text(claim.get("family_name")),
        email=_text(claim.get("email")),
    )


def locale_text(value: Any) -> str | None:
    """A BCP 47 tag fits in 35 characters; anything longer is no locale."""
    text = _text(value)
    return text if text is not None and len(text) <= 35 else None


def widget_from(custom: dict[str, Any]) -> str:
    widget = str(custom.get("widget") or "home").strip().lower()
    return widget if widget in WIDGETS else "home"
