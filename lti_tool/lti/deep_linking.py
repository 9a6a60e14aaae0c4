"""Deep Linking 2.0: the signed LtiDeepLinkingResponse that places widgets in a course."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pylti1p3.deep_link import DeepLink
from pylti1p3.deep_link_resource import DeepLinkResource
from pylti1p3.lineitem import LineItem

from lti_tool.courses.models import Platform
from lti_tool.lti.keys import KeyStore
from lti_tool.lti.tool_conf import ToolRegistration


@dataclass(frozen=True)
class WidgetItem:
    """One widget the instructor picked, as an ltiResourceLink content item."""

    widget: str
    title: str
    text: str = ""
    graded: bool = False
    score_maximum: float = 100.0


def build_response(
    platform: Platform,
    keys: KeyStore,
    *,
    deployment_id: str,
    return_url: str,
    data: Any,
    launch_url: str,
    items: list[WidgetItem],
) -> str:
    """The signed JWT to POST back to the LMS's deep_link_return_url."""
    registration = ToolRegistration(platform, keys)
    settings: dict[str, Any] = {"deep_link_return_url": return_url}
    if data is not None:
        settings["data"] = data  # echoed unchanged, as the spec requires
    resources = []
    for item in items:
        resource = (
            DeepLinkResource()
            .set_type("ltiResourceLink")
            .set_title(item.title)
            .set_url(launch_url)
            # "graded" tells later launches that Bottega grades this link, for LMSs that
            # do not bind the line item to it in their AGS claim.
            .set_custom_params({"widget": item.widget, **({"graded": "1"} if item.graded else {})})
        )
        if item.graded:
            resource.set_lineitem(
                LineItem()
                .set_score_maximum(item.score_maximum)
                .set_label(item.title)
                .set_resource_id(f"bottega-{item.widget}")
                .set_tag("participation")
            )
        resources.append(resource)
    link = DeepLink(registration, deployment_id, settings)  # type: ignore[arg-type]
    message = link.get_message_jwt(resources)
    if data is None:
        message.pop("https://purl.imsglobal.org/spec/lti-dl/claim/data", None)
    for resource, item in zip(
        message["https://purl.imsglobal.org/spec/lti-dl/claim/content_items"], items, strict=True
    ):  # type: ignore[call-overload]
        if item.text:
            resource["text"] = item.text
    return str(link.encode_jwt(message))
