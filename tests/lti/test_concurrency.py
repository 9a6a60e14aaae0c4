"""Twenty students opening a brand-new course at the same moment all get in, once each."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from flask import Flask
from sqlalchemy import func, select

from lti_tool.courses.models import Course, Enrolment, Member, Placement
from lti_tool.extensions import db

from ..lti_harness import LEARNER, Lms, browser


def test_twenty_parallel_first_launches_into_a_new_course(lms: Lms, app: Flask) -> None:
    link = {"id": "rl-week-1", "title": "Week 1 Q&A"}
    prepared = [
        lms.prepare(
            user={"sub": f"new-student-{i}", "name": f"Student {i}"},
            roles=[LEARNER],
            context={"id": "brand-new-course", "title": "New"},
            resource_link=link,
            custom={"widget": "qa"},
        )
        for i in range(20)
    ]

    def one(p: object) -> int:
        result = lms.launch(browser(), prepared=p)
        assert result.page is not None
        return result.page.status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(one, prepared))
    assert statuses == [200] * 20
    with app.app_context():
        count = lambda model: db.session.scalar(select(func.count()).select_from(model))  # noqa: E731
        assert count(Course) == 1
        assert count(Placement) == 1
        assert count(Member) == 20
        assert count(Enrolment) == 20
