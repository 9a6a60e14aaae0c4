"""The demo LMS's pages: one course with Bottega placed in it, seen as a student, tutor or teacher.

Like ``platform.py`` this imports nothing from the rest of ``lti_tool`` nor pylti1p3: it is the
LMS side. A page that shows a placed widget prepares a fresh launch and embeds the tool's login
URL in an ``<iframe>``, as Moodle or Canvas do; the page's script (``static/lms.js``) answers
LTI Platform Storage messages (``lti.put_data`` / ``lti.get_data`` and the older
``org.imsglobal.lti.*`` names) from the tool's frame. The teacher's "Add a widget" opens a
deep linking request in the same frame, and the widgets the tool sends back join the course
(in memory: the demo forgets them on restart)::

    app = create_platform_app(issuer)
    get_platform(app).register_tool("bottega", login_url=..., redirect_uris=[...], jwks_url=...)
    lms = install_course_pages(app, "bottega")  # /course/student, /course/tutor, ...
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, current_app, make_response, render_template, request
from flask.typing import ResponseReturnValue

from lti_tool.demo.platform import (
    DEEP_LINKING_REQUEST,
    DL_CONTENT_ITEMS,
    DL_DATA,
    ROLE_INSTRUCTOR,
    ROLE_LEARNER,
    Platform,
    PlatformError,
    PreparedLaunch,
    get_platform,
)

ROLE_TEACHING_ASSISTANT = (
    "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"
)
COURSE_OFFERING = "http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"
EXTENSION = "lti_demo_lms"
STAFF_WIDGETS = frozenset({"dashboard"})


@dataclass(frozen=True)
class Persona:
    """Someone who opens the demo course."""

    key: str  # in URLs: student, tutor, instructor
    label: str
    sub: str
    given_name: str
    family_name: str
    name: str
    email: str
    roles: tuple[str, ...]
    staff: bool = False  # sees staff-only widgets
    can_edit: bool = False  # may add widgets (deep linking)

    def user_claims(self) -> dict[str, str]:
        return {
            "sub": self.sub,
            "name": self.name,
            "given_name": self.given_name,
            "family_name": self.family_name,
            "email": self.email,
        }

    def membership(self) -> dict[str, Any]:
        return {
            "status": "Active",
            "user_id": self.sub,
            "name": self.name,
            "given_name": self.given_name,
            "family_name": self.family_name,
            "email": self.email,
            "roles": list(self.roles),
        }


PERSONAS: dict[str, Persona] = {
    p.key: p
    for p in (
        Persona(
            "student",
            "Student",
            "demo-student-giulia",
            "Giulia",
            "Rossi",
            "Giulia Rossi",
            "giulia.rossi@example.org",
            (ROLE_LEARNER,),
        ),
        Persona(
            "tutor",
            "Tutor",
            "demo-tutor-marco",
            "Marco",
            "Bianchi",
            "Marco Bianchi",
            "marco.bianchi@example.org",
            (ROLE_TEACHING_ASSISTANT,),
            staff=True,
        ),
        Persona(
            "instructor",
            "Instructor",
            "demo-instructor-anna",
            "Anna",
            "Verdi",
            "Prof.ssa Anna Verdi",
            "anna.verdi@example.org",
            (ROLE_INSTRUCTOR,),
            staff=True,
            can_edit=True,
        ),
    )
}
CLASSMATES = (
    ("demo-student-luca", "Luca", "Esposito"),
    ("demo-student-sofia", "Sofia", "Romano"),
    ("demo-student-matteo", "Matteo", "Colombo"),
    ("demo-student-chiara", "Chiara", "Ricci"),
)


@dataclass(frozen=True)
class ResourceLink:
    """A widget placed in the course (an LTI resource link)."""

    id: str
    title: str
    widget: str
    text: str = ""
    url: str | None = None  # target_link_uri from deep linking; else the tool's default
    custom: Mapping[str, str] = field(default_factory=dict)

    @property
    def staff_only(self) -> bool:
        return self.widget in STAFF_WIDGETS


def default_links() -> list[ResourceLink]:
    return [
        ResourceLink("demo-rl-home", "Community home", "home", "The course community."),
        ResourceLink("demo-rl-qa", "Questions and answers", "qa", "Ask and answer."),
        ResourceLink("demo-rl-groups", "Study groups", "groups", "Peer groups."),
        ResourceLink("demo-rl-kudos", "Kudos", "kudos", "Thank helpful classmates."),
        ResourceLink("demo-rl-dashboard", "Community dashboard", "dashboard", "For staff."),
    ]


@dataclass
class DemoCourse:
    """The course, its placed widgets and its roster."""

    id: str = "demo-storia-arte"
    label: str = "ARTE-101"
    title: str = "Storia dell'arte (demo)"
    links: list[ResourceLink] = field(default_factory=default_links)

    def context_claim(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "title": self.title, "type": [COURSE_OFFERING]}

    def roster(self) -> list[dict[str, Any]]:
        members = [p.membership() for p in PERSONAS.values()]
        for sub, given, family in CLASSMATES:
            members.append(
                {
                    "status": "Active",
                    "user_id": sub,
                    "name": f"{given} {family}",
                    "given_name": given,
                    "family_name": family,
                    "email": f"{given}.{family}@example.org".lower(),
                    "roles": [ROLE_LEARNER],
                }
            )
        return members


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class DemoLms:
    """The course pages' state: which tool they launch, how, and what is placed."""

    def __init__(
        self,
        platform: Platform,
        client_id: str,
        *,
        course: DemoCourse | None = None,
        storage_target: str | None = "_parent",
        deployment_id: str = "1",
        tool_home_url: str | None = None,
    ) -> None:
        self.platform = platform
        self.client_id = client_id
        self.course = course or DemoCourse()
        self.storage_target = storage_target  # None: the LMS offers no platform storage
        self.deployment_id = deployment_id
        self.tool_home_url = tool_home_url
        self.lock = threading.Lock()
        with platform.lock:
            platform.rosters[self.course.id] = self.course.roster()
            platform.contexts[self.course.id] = self.course.context_claim()

    @property
    def tool_origin(self) -> str:
        """The origin storage messages must come from: the tool's login URL's."""
        with self.platform.lock:
            tool = self.platform.tools[self.client_id]
        return origin_of(tool.login_url)

    def links_for(self, persona: Persona) -> list[ResourceLink]:
        with self.lock:
            return [link for link in self.course.links if persona.staff or not link.staff_only]

    def add_links(self, claims: Mapping[str, Any]) -> list[ResourceLink]:
        """Place the ltiResourceLink items of a verified deep linking response."""
        added = []
        items = [
            item
            for item in claims.get(DL_CONTENT_ITEMS) or []
            if isinstance(item, dict) and item.get("type") == "ltiResourceLink"
        ]
        # The platform gives each a resource link id, and graded ones a line item.
        placed = self.platform.place_links(self.client_id, self.course.id, items)
        for item, link in zip(items, placed, strict=True):
            raw = item.get("custom")
            custom = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
            url = item.get("url")
            if not (isinstance(url, str) and url.startswith(("http://", "https://"))):
                url = None
            added.append(
                ResourceLink(
                    id=str(link["resource_link_id"]),
                    title=str(item.get("title") or "Bottega")[:200],
                    widget=custom.get("widget", "home"),
                    text=str(item.get("text") or "")[:500],
                    url=url,
                    custom=custom,
                )
            )
        with self.lock:
            self.course.links.extend(added)
        return added

    def launch(self, persona: Persona, link: ResourceLink, return_url: str) -> PreparedLaunch:
        """A fresh resource link launch of ``link`` for ``persona``."""
        return self.platform.prepare_launch(
            self.client_id,
            deployment_id=self.deployment_id,
            user=persona.user_claims(),
            roles=list(persona.roles),
            context=self.course.context_claim(),
            resource_link={"id": link.id, "title": link.title, "description": link.text},
            custom={"widget": link.widget, **link.custom},
            target_link_uri=link.url,
            launch_presentation={"document_target": "iframe", "return_url": return_url},
            nrps=True,
            ags=self.platform.ags_claim(self.course.id, link.id),
            storage_target=self.storage_target,
        )

    def deep_linking_launch(self, persona: Persona, return_url: str) -> PreparedLaunch:
        """A deep linking request: the tool's widget picker, returning to ``return_url``."""
        return self.platform.prepare_launch(
            self.client_id,
            deployment_id=self.deployment_id,
            user=persona.user_claims(),
            roles=list(persona.roles),
            context=self.course.context_claim(),
            message_type=DEEP_LINKING_REQUEST,
            launch_presentation={"document_target": "iframe"},
            deep_linking_settings={
                "deep_link_return_url": return_url,
                "accept_multiple": True,
                "title": "Bottega",
                "data": f"{persona.key}:{secrets.token_urlsafe(16)}",
            },
            storage_target=self.storage_target,
        )


def get_demo_lms(app: Flask) -> DemoLms:
    lms = app.extensions[EXTENSION]
    assert isinstance(lms, DemoLms)
    return lms


bp = Blueprint("demo_lms", __name__, template_folder="templates", static_folder=None)


def _lms() -> DemoLms:
    return get_demo_lms(current_app)


def _persona(key: str) -> Persona:
    persona = PERSONAS.get(key)
    if persona is None:
        abort(404)
    return persona


def _page(template: str, **context: Any) -> ResponseReturnValue:
    response = make_response(render_template(template, lms=_lms(), **context))
    # Each view prepares a new launch: never serve one from the cache.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/")
def home() -> ResponseReturnValue:
    """The LMS's front page: pick who opens the course."""
    return _page("demo_lms/home.html", personas=list(PERSONAS.values()), persona=None)


@bp.get("/course/<persona>")
@bp.get("/course/<persona>/link/<link_id>")
def course(persona: str, link_id: str | None = None) -> ResponseReturnValue:
    """The course with one placed widget open (the first one by default) in an iframe."""
    who = _persona(persona)
    lms = _lms()
    links = lms.links_for(who)
    if link_id is None:
        link = links[0] if links else None
    else:
        link = next((item for item in links if item.id == link_id), None)
        if link is None:
            abort(404)
    launch = lms.launch(who, link, request.base_url) if link else None
    return _page(
        "demo_lms/course.html",
        persona=who,
        personas=list(PERSONAS.values()),
        links=links,
        current=link,
        frame_url=launch.login_url if launch else None,
        frame_title=f"{link.title} (Bottega)" if link else "",
        adding=False,
    )


@bp.get("/course/<persona>/add")
def add(persona: str) -> ResponseReturnValue:
    """The teacher adds a widget: a deep linking request in the iframe."""
    who = _persona(persona)
    if not who.can_edit:
        abort(403)
    lms = _lms()
    return_url = lms.platform.issuer + f"/course/{who.key}/placed"
    launch = lms.deep_linking_launch(who, return_url)
    return _page(
        "demo_lms/course.html",
        persona=who,
        personas=list(PERSONAS.values()),
        links=lms.links_for(who),
        current=None,
        frame_url=launch.login_url,
        frame_title="Add a widget (Bottega)",
        adding=True,
    )


@bp.post("/course/<persona>/placed")
def placed(persona: str) -> ResponseReturnValue:
    """The deep linking return URL: verify the tool's answer and place what it sent."""
    who = _persona(persona)
    lms = _lms()
    token = request.form.get("JWT", "")
    if not token:
        raise PlatformError("invalid_request", "the JWT form field is missing")
    claims = lms.platform.receive_deep_link(token)
    if not str(claims.get(DL_DATA, "")).startswith(who.key + ":"):
        raise PlatformError("invalid_request", "this answer belongs to another person's request")
    added = lms.add_links(claims)
    message = claims.get("https://purl.imsglobal.org/spec/lti-dl/claim/msg")
    return _page("demo_lms/placed.html", persona=who, added=added, message=message)


def install_course_pages(
    app: Flask,
    client_id: str,
    *,
    storage_target: str | None = "_parent",
    course: DemoCourse | None = None,
    tool_home_url: str | None = None,
) -> DemoLms:
    """Add the course pages to a platform app (``create_platform_app``), launching
    ``client_id``, which must already be registered with the platform."""
    lms = DemoLms(
        get_platform(app),
        client_id,
        course=course,
        storage_target=storage_target,
        tool_home_url=tool_home_url,
    )
    app.extensions[EXTENSION] = lms
    app.register_blueprint(bp)
    return lms
