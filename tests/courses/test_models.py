"""LMS ids are unique only inside their scope: two LMSs must never collide."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from lti_tool.courses.models import Course, Deployment, Enrolment, Member, Placement, Platform
from lti_tool.extensions import db


def make_platform(issuer: str, client_id: str, deployment: str = "1") -> Platform:
    platform = Platform(
        issuer=issuer,
        client_id=client_id,
        auth_login_url=f"{issuer}/auth",
        auth_token_url=f"{issuer}/token",
        key_set_url=f"{issuer}/jwks",
        deployments=[Deployment(deployment_id=deployment)],
    )
    db.session.add(platform)
    db.session.commit()
    return platform


def make_course(platform: Platform, lms_id: str) -> Course:
    course = Course(platform=platform, deployment=platform.deployments[0], lms_id=lms_id)
    db.session.add(course)
    db.session.commit()
    return course


def test_same_issuer_with_two_client_ids_is_two_registrations(app: Flask) -> None:
    with app.app_context():
        first = make_platform("https://lms.example.org", "client-a")
        second = make_platform("https://lms.example.org", "client-b")
        assert first.id != second.id
        # Both use deployment "1": deployment ids are unique per registration only.
        assert db.session.scalar(select(func.count()).select_from(Deployment)) == 2


def test_registering_the_same_issuer_and_client_twice_is_refused(app: Flask) -> None:
    with app.app_context():
        make_platform("https://lms.example.org", "client-a")
        with pytest.raises(IntegrityError):
            make_platform("https://lms.example.org", "client-a")


def test_same_course_and_user_ids_on_two_lmss_stay_apart(app: Flask) -> None:
    with app.app_context():
        moodle = make_platform("https://moodle.example.org", "c1")
        canvas = make_platform("https://canvas.example.org", "c1")
        course_a = make_course(moodle, "42")
        course_b = make_course(canvas, "42")
        alice = Member(platform=moodle, lms_id="7", name="Alice")
        bob = Member(platform=canvas, lms_id="7", name="Bob")
        db.session.add_all([alice, bob])
        db.session.add_all(
            [
                Enrolment(
                    course=course_a,
                    member=alice,
                    roles=["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"],
                ),
                Enrolment(course=course_b, member=bob, roles=[]),
                Placement(course=course_a, lms_id="rl-1", widget="qa"),
                Placement(course=course_b, lms_id="rl-1", widget="kudos"),
            ]
        )
        db.session.commit()
        assert course_a.id != course_b.id and alice.id != bob.id
        widgets = db.session.scalars(
            select(Placement.widget).join(Course).where(Course.platform_id == moodle.id)
        ).all()
        assert widgets == ["qa"]


def test_a_course_id_is_unique_within_its_deployment(app: Flask) -> None:
    with app.app_context():
        platform = make_platform("https://moodle.example.org", "c1")
        make_course(platform, "42")
        with pytest.raises(IntegrityError):
            make_course(platform, "42")


def test_member_without_any_personal_data_gets_a_neutral_handle(app: Flask) -> None:
    with app.app_context():
        platform = make_platform("https://moodle.example.org", "c1")
        member = Member(platform=platform, lms_id="anon-1")
        db.session.add(member)
        db.session.commit()
        assert member.email is None
        assert member.display_name == f"Member #{member.id}"
        member_id = member.id
    # In the page's language, like every other word on it.
    with app.test_request_context(headers={"Accept-Language": "it"}):
        assert db.session.get(Member, member_id).display_name == f"Membro n. {member_id}"
