"""A graded course on the test LMS: a placement whose launches carry an AGS line item."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select

from lti_tool.community.engagement.models import EventKind
from lti_tool.community.engagement.services import record
from lti_tool.courses.models import Member, Placement
from lti_tool.extensions import db, utcnow
from lti_tool.sync.grades import GradeScore

from ..lti_harness import CLIENT_ID, INSTRUCTOR, Lms, browser
from .conftest import NrpsCourse, launch_course

LINK = "rl-graded-qa"


@dataclass
class GradedCourse:
    """An NRPS course with one graded Q&A placement (its line item made by the LMS)."""

    course: NrpsCourse
    lineitem: str
    placement_id: int
    lid: str
    client: Any

    @property
    def platform(self) -> Any:
        return self.course.platform

    @property
    def app(self) -> Flask:
        return self.course.app

    def push(self, *extra: str) -> Any:
        return self.course.cli(
            "grades",
            "push",
            "--issuer",
            self.course.lms.issuer,
            "--client-id",
            CLIENT_ID,
            "--context",
            self.course.context_id,
            "--json",
            *extra,
        )

    def push_result(self, *extra: str) -> dict[str, Any]:
        result = self.push(*extra)
        assert result.exit_code == 0, result.output
        [row] = json.loads(result.output)
        assert row["status"] == "done", row
        return dict(row)

    def latest(self) -> dict[str, dict[str, Any]]:
        return dict(self.platform.latest_scores(self.lineitem))

    def member_id(self, lms_id: str) -> int:
        with self.app.app_context():
            found = db.session.scalar(select(Member.id).where(Member.lms_id == lms_id))
        assert found is not None
        return int(found)

    def participate(self, lms_id: str, kind: EventKind, times: int = 1, days_ago: int = 0) -> None:
        member_id = self.member_id(lms_id)
        with self.app.app_context():
            for i in range(times):
                record(
                    db.session(),
                    course_id=self.course.course_id,
                    member_id=member_id,
                    kind=kind,
                    subject_type="qa_question",
                    subject_id=1000 + i,
                    at=utcnow() - timedelta(days=days_ago),
                )
            db.session.commit()

    def ledger(self) -> dict[str, GradeScore]:
        with self.app.app_context():
            rows = db.session.execute(
                select(Member.lms_id, GradeScore)
                .join(Member, Member.id == GradeScore.member_id)
                .where(GradeScore.placement_id == self.placement_id)
            ).all()
            for _, row in rows:
                db.session.expunge(row)
        return {lms_id: row for lms_id, row in rows}


def graded_launch(
    lms: Lms,
    app: Flask,
    context_id: str,
    *,
    link: str = LINK,
    ags: dict[str, Any] | None = None,
    custom: dict[str, str] | None = None,
) -> tuple[str, Any]:
    """An instructor's launch of a placement with an AGS claim; returns (lid, browser)."""
    client = browser()
    result = lms.launch(
        client,
        user={"sub": "teacher-1", "name": "Prof Bianchi"},
        roles=[INSTRUCTOR],
        context={"id": context_id, "title": "Storia dell'arte"},
        resource_link={"id": link, "title": "Partecipazione"},
        custom=custom or {"widget": "qa"},
        nrps=True,
        ags=ags,
    )
    assert result.page is not None and result.page.status_code == 200, result.status
    return result.page.url.split("/w/", 1)[1].split("/", 1)[0], client


def make_graded_course(
    lms: Lms, app: Flask, context_id: str = "course-101", learners: int = 10
) -> GradedCourse:
    course = launch_course(lms, app, context_id)
    platform = lms.platform
    item = platform.create_line_item(
        CLIENT_ID,
        context_id,
        {"label": "Partecipazione", "scoreMaximum": 100, "resourceLinkId": LINK},
    )
    lid, client = graded_launch(
        lms, app, context_id, ags=platform.ags_claim(context_id, lineitem=item["id"])
    )
    from .conftest import member

    course.set_roster([member(i) for i in range(learners)])
    assert course.sync().exit_code == 0
    with app.app_context():
        placement_id = db.session.scalar(select(Placement.id).where(Placement.lms_id == LINK))
    assert placement_id is not None
    return GradedCourse(course, item["id"], int(placement_id), lid, client)
