"""Q&A fixtures: a course with members of each role, actors for them, and the real-HTTP LMS."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from lti_tool.community.moderation.conduct import accept_conduct, pending_conduct_version
from lti_tool.community.qa.permissions import Actor
from lti_tool.courses.models import Course, Deployment, Enrolment, Member, Platform
from lti_tool.courses.roles import CourseRole
from lti_tool.extensions import db

from ...lti.conftest import lms, tool_server  # noqa: F401  (real-HTTP fixtures)
from ...lti_harness import INSTRUCTOR, LEARNER, TA

ROLE_URIS = {
    CourseRole.LEARNER: [LEARNER],
    CourseRole.TEACHING_ASSISTANT: [TA],
    CourseRole.INSTRUCTOR: [INSTRUCTOR],
}


@dataclass
class CourseWorld:
    """A course and the actors in it, built straight in the database."""

    platform_id: int
    course_id: int
    actors: dict[str, Actor]

    def __getitem__(self, name: str) -> Actor:
        return self.actors[name]


def make_platform(issuer: str) -> Platform:
    platform = Platform(
        issuer=issuer,
        client_id="client",
        auth_login_url=f"{issuer}/auth",
        auth_token_url=f"{issuer}/token",
        key_set_url=f"{issuer}/jwks",
        deployments=[Deployment(deployment_id="1")],
    )
    db.session.add(platform)
    db.session.flush()
    return platform


def make_course(
    platform: Platform,
    lms_id: str,
    people: dict[str, tuple[str, CourseRole]],
    *,
    managers: tuple[str, ...] = (),
) -> CourseWorld:
    """A course with people (key -> (name, role)); commits."""
    course = Course(platform=platform, deployment=platform.deployments[0], lms_id=lms_id)
    db.session.add(course)
    db.session.flush()
    actors = {}
    for key, (name, role) in people.items():
        member = Member(platform=platform, lms_id=f"{lms_id}-{key}", name=name)
        db.session.add(member)
        db.session.flush()
        db.session.add(
            Enrolment(
                course_id=course.id,
                member_id=member.id,
                roles=ROLE_URIS.get(role, []),
                community_manager=key in managers,
            )
        )
        actors[key] = Actor(
            member_id=member.id,
            course_id=course.id,
            role=role,
            community_manager=key in managers,
        )
    db.session.commit()
    return CourseWorld(platform.id, course.id, actors)


PEOPLE = {
    "giulia": ("Giulia Rossi", CourseRole.LEARNER),
    "marco": ("Marco Bianchi", CourseRole.LEARNER),
    "sara": ("Sara Verdi", CourseRole.LEARNER),
    "prof": ("Anna Neri", CourseRole.INSTRUCTOR),
    "ta": ("Luca Gallo", CourseRole.TEACHING_ASSISTANT),
    "cm": ("Elena Costa", CourseRole.LEARNER),
}


def sign_in(
    app: Flask, world: CourseWorld, key: str, lid: str = "L1", *, accepted: bool = True
) -> FlaskClient:
    """A test client holding a launch of one member of the world (as after an LTI launch);
    ``accepted``: the member has accepted the course's code of conduct already."""
    actor = world[key]
    with app.app_context():
        enrolment_id = db.session.scalar(
            select(Enrolment.id).where(
                Enrolment.course_id == actor.course_id, Enrolment.member_id == actor.member_id
            )
        )
        pending = pending_conduct_version(db.session(), actor.course_id, actor.member_id)
        if accepted and pending is not None:
            accept_conduct(db.session(), actor.course_id, actor.member_id, pending)
    client = app.test_client()
    with client.session_transaction() as session:
        session["launches"] = {
            lid: {
                "p": world.platform_id,
                "m": actor.member_id,
                "c": actor.course_id,
                "e": enrolment_id,
                "pl": None,
                "r": int(actor.role),
                "w": "qa",
                "l": None,
            }
        }
    return client


def form_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


@pytest.fixture
def world(app: Flask) -> Iterator[CourseWorld]:
    """One course on one LMS, inside an app context."""
    with app.app_context():
        platform = make_platform("https://moodle.example.org")
        yield make_course(platform, "course-1", PEOPLE, managers=("cm",))


@pytest.fixture
def site(app: Flask) -> CourseWorld:
    """The same course for page tests: built, then the app context is left, so that each
    request gets its own (a request inside an open app context would share its ``g``)."""
    with app.app_context():
        platform = make_platform("https://moodle.example.org")
        return make_course(platform, "course-1", PEOPLE, managers=("cm",))
