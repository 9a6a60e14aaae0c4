"""Launches over real HTTP: who lands where, with which role."""

from __future__ import annotations

from ..lti_harness import INSTRUCTOR, LEARNER, Lms


def test_learner_launch_lands_on_the_widget_page(lms: Lms) -> None:
    result = lms.launch(custom={"widget": "qa"})
    assert result.status == 303, result.launch_response.text[:500]
    assert result.page is not None and result.page.status_code == 200
    assert "Giulia Rossi" in result.page.text
    assert "Questions and answers" in result.page.text


def test_instructor_launch(lms: Lms) -> None:
    result = lms.launch(roles=[INSTRUCTOR], user={"sub": "t1", "name": "Prof. Bianchi"})
    assert result.page is not None and "Instructor" in result.page.text
