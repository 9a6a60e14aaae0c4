"""Participation scores from the engagement events, by the placement's rubric."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from lti_tool.community.engagement.models import EventKind, ParticipationEvent
from lti_tool.community.grades.models import GradeRubric
from lti_tool.community.moderation.models import HiddenPost
from lti_tool.courses.models import Enrolment, EnrolmentStatus, Member
from lti_tool.courses.roles import CourseRole, course_role
from lti_tool.extensions import utcnow

MAX_POINTS = 1000.0
MAX_SCORE = 10000.0
_EPOCH_MONDAY = datetime(1970, 1, 5, tzinfo=UTC)  # weeks start on Monday, 00:00 UTC


@dataclass(frozen=True)
class Rubric:
    """Points per event kind; a cap on the points of one week; the score out of a maximum."""

    question: float = 2.0
    answer: float = 3.0
    accepted_answer: float = 5.0
    endorsement: float = 3.0
    kudos_received: float = 1.0
    group_post: float = 1.0
    weekly_cap: float | None = None
    score_maximum: float = 100.0

    def points(self) -> dict[str, float]:
        """Event kind -> points for it."""
        return {
            EventKind.ASK.value: self.question,
            EventKind.ANSWER.value: self.answer,
            EventKind.ANSWER_ACCEPTED.value: self.accepted_answer,
            EventKind.ENDORSEMENT_RECEIVED.value: self.endorsement,
            EventKind.KUDOS_RECEIVED.value: self.kudos_received,
            EventKind.GROUP_POST.value: self.group_post,
        }


POINT_FIELDS = (
    "question",
    "answer",
    "accepted_answer",
    "endorsement",
    "kudos_received",
    "group_post",
)


class RubricError(ValueError):
    """A rubric form with bad values: field name -> problem code ("number", "range")."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__(", ".join(f"{k}: {v}" for k, v in problems.items()))
        self.problems = problems


def parse_rubric(form: Mapping[str, str]) -> Rubric:
    """A rubric from form fields (blank weekly cap: none); RubricError names bad fields."""
    values: dict[str, float | None] = {}
    problems: dict[str, str] = {}
    limits = {name: MAX_POINTS for name in POINT_FIELDS}
    limits["weekly_cap"] = MAX_SCORE
    limits["score_maximum"] = MAX_SCORE
    for name, limit in limits.items():
        raw = (form.get(name) or "").strip().replace(",", ".")
        if name == "weekly_cap" and raw == "":
            values[name] = None
            continue
        try:
            number = float(raw)
        except ValueError:
            problems[name] = "number"
            continue
        positive = name in ("score_maximum", "weekly_cap")  # zero would grade nothing
        # NaN compares false with everything, so it fails the range check too.
        if 0 <= number <= limit and not (positive and number == 0):
            values[name] = number
        else:
            problems[name] = "range"
    if problems:
        raise RubricError(problems)
    return Rubric(**values)  # type: ignore[arg-type]


def rubric_for(session: Session, placement_id: int, default_maximum: float | None = None) -> Rubric:
    """The placement's rubric, or the default one (out of ``default_maximum`` when given,
    e.g. the line item's maximum score)."""
    row = session.get(GradeRubric, placement_id)
    if row is None:
        return Rubric(score_maximum=default_maximum) if default_maximum else Rubric()
    return Rubric(**{f.name: getattr(row, f.name) for f in fields(Rubric)})


def has_rubric(session: Session, placement_id: int) -> bool:
    return session.get(GradeRubric, placement_id) is not None


def save_rubric(session: Session, placement_id: int, rubric: Rubric, member_id: int | None) -> None:
    """Set the placement's rubric and commit."""
    row = session.get(GradeRubric, placement_id)
    if row is None:
        row = GradeRubric(placement_id=placement_id)
        session.add(row)
    for name, value in asdict(rubric).items():
        setattr(row, name, value)
    row.updated_by = member_id
    row.updated_at = utcnow()
    session.commit()


@dataclass(frozen=True)
class Learner:
    member_id: int
    lms_id: str


def active_learners(session: Session, course_id: int) -> list[Learner]:
    """Active members of the course whose highest course role is Learner."""
    rows = session.execute(
        select(Member.id, Member.lms_id, Enrolment.roles)
        .join(Enrolment, Enrolment.member_id == Member.id)
        .where(Enrolment.course_id == course_id, Enrolment.status == EnrolmentStatus.ACTIVE)
        .order_by(Member.id)
    )
    return [
        Learner(r.id, r.lms_id) for r in rows if course_role(r.roles or []) == CourseRole.LEARNER
    ]


def _week(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH_MONDAY).days // 7


def compute_scores(
    session: Session, course_id: int, rubric: Rubric, member_ids: Iterable[int]
) -> dict[int, float]:
    """Each member's score: points per event, at most ``weekly_cap`` a week, out of the maximum.

    Every member asked for gets a score, zero included. Events of all the course's widgets
    count: participation is the course's, whichever placement grades it; a post hidden by
    moderators counts again once restored.
    """
    wanted = set(member_ids)
    points = {k: v for k, v in rubric.points().items() if v > 0}
    totals: dict[int, dict[int, float]] = {m: {} for m in wanted}
    if points and wanted:
        rows = session.execute(
            select(
                ParticipationEvent.member_id, ParticipationEvent.kind, ParticipationEvent.created_at
            )
            .where(
                ParticipationEvent.course_id == course_id,
                ParticipationEvent.kind.in_(list(points)),
                # A post moderators hid earns nothing while hidden (deleted ones: never again).
                ~exists().where(
                    HiddenPost.course_id == course_id,
                    HiddenPost.subject_type == ParticipationEvent.subject_type,
                    HiddenPost.subject_id == ParticipationEvent.subject_id,
                ),
            )
            .execution_options(yield_per=5000)
        )
        for member_id, kind, created_at in rows:
            weeks = totals.get(member_id)
            if weeks is None:
                continue
            week = _week(created_at)
            weeks[week] = weeks.get(week, 0.0) + points[kind]
    scores: dict[int, float] = {}
    for member_id, weeks in totals.items():
        cap = rubric.weekly_cap
        total = sum(min(cap, p) if cap is not None else p for p in weeks.values())
        scores[member_id] = round(min(rubric.score_maximum, total), 2)
    return scores
