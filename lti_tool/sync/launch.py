"""Handle a validated launch: record who came, into which course, with which role and widget."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from lti_tool.courses import services
from lti_tool.courses.roles import CourseRole, course_role
from lti_tool.extensions import utcnow
from lti_tool.lti.claims import Launch


@dataclass(frozen=True)
class LaunchOutcome:
    """What the web layer needs to open the right page for the right person."""

    platform_id: int
    member_id: int
    course_id: int | None
    enrolment_id: int | None
    placement_id: int | None
    role: CourseRole
    widget: str
    locale: str | None
    deep_linking: bool


def handle_launch(session: Session, launch: Launch) -> LaunchOutcome:
    """Upsert member, course, enrolment and placement in one transaction, race-free."""
    now = utcnow()
    user = launch.user
    member_id = services.upsert_member(
        session,
        launch.platform_id,
        user.lms_id,
        services.Profile(
            name=user.name,
            given_name=user.given_name,
            family_name=user.family_name,
            email=user.email,
            picture=user.picture,
            locale=user.locale,
        ),
        seen_at=now,
    )
    course_id = enrolment_id = placement_id = None
    if launch.course is not None:
        course_id = services.upsert_course(
            session,
            launch.platform_id,
            launch.deployment_pk,
            services.CourseInfo(
                lms_id=launch.course.lms_id,
                title=launch.course.title,
                label=launch.course.label,
                services={k: v for k, v in launch.services.items() if k == "nrps"},
            ),
        )
        enrolment_id = services.upsert_enrolment(session, course_id, member_id, list(launch.roles))
        if launch.placement is not None:
            placement_id = services.upsert_placement(
                session,
                course_id,
                launch.placement.lms_id,
                launch.widget,
                launch.placement.title,
                {k: v for k, v in launch.services.items() if k == "ags"},
            )
    session.commit()
    return LaunchOutcome(
        platform_id=launch.platform_id,
        member_id=member_id,
        course_id=course_id,
        enrolment_id=enrolment_id,
        placement_id=placement_id,
        role=course_role(launch.roles),
        widget=launch.widget,
        locale=launch.locale or user.locale,
        deep_linking=launch.is_deep_linking,
    )
