"""Peer-group use cases: plain functions over a Session, one commit at the end of each.

``place_late_joiners`` and ``release_leavers`` are the exceptions: the sync layer calls them
inside its own transaction (a launch, a roster sync), so they add to the session and let the
caller commit.
"""

from __future__ import annotations

import math
import secrets
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask_babel import lazy_gettext as _l
from sqlalchemy import Table, delete, func, insert, or_, select, text
from sqlalchemy.orm import Session

from lti_tool.community.content import MAX_BODY, render, render_markdown
from lti_tool.community.engagement.models import EventKind, ParticipationEvent
from lti_tool.community.engagement.services import forget_authored, record
from lti_tool.community.groups import assignment
from lti_tool.community.groups.models import (
    NAME_MAX,
    URL_MAX,
    AssignMode,
    ChangeReason,
    Group,
    GroupLink,
    GroupPost,
    GroupSet,
    Membership,
    MembershipChange,
    SurveyAnswer,
    SurveyQuestion,
)
from lti_tool.community.groups.permissions import (
    Actor,
    InvalidInput,
    NotFound,
    PermissionDenied,
    Refused,
)
from lti_tool.community.moderation.services import FlagError, flag_content, hidden_keys
from lti_tool.community.notifications.services import notify
from lti_tool.courses.models import Enrolment, EnrolmentStatus, Member
from lti_tool.courses.roles import CourseRole, course_role
from lti_tool.extensions import utcnow

MAX_GROUP_SIZE = 50
MAX_GROUPS = 500
MAX_OPTIONS = 12
MEETING_MAX = 2_000
POSTS_SHOWN = 100
SUBJECT_GROUP = "groups_group"
SUBJECT_POST = "groups_post"


# --- who takes part --------------------------------------------------------------------------


def eligible_members(
    session: Session, course_id: int, member_ids: Iterable[int] | None = None
) -> list[int]:
    """Active students of a course (LMS Learner role), optionally among ``member_ids``."""
    query = select(Enrolment.member_id, Enrolment.roles).where(
        Enrolment.course_id == course_id, Enrolment.status == EnrolmentStatus.ACTIVE
    )
    if member_ids is not None:
        query = query.where(Enrolment.member_id.in_(list(member_ids)))
    return sorted(
        member_id
        for member_id, roles in session.execute(query)
        if course_role(roles or []) == CourseRole.LEARNER
    )


def _require_manager(actor: Actor) -> None:
    if not actor.manages_groups:
        raise PermissionDenied()


def _log(
    session: Session,
    group_set: GroupSet,
    member_id: int,
    reason: ChangeReason,
    *,
    from_group: int | None = None,
    to_group: int | None = None,
    actor_id: int | None = None,
    at: datetime | None = None,
) -> None:
    session.add(
        MembershipChange(
            course_id=group_set.course_id,
            set_id=group_set.id,
            member_id=member_id,
            from_group_id=from_group,
            to_group_id=to_group,
            reason=reason,
            actor_id=actor_id,
            created_at=at or utcnow(),
        )
    )


def _joined(session: Session, group: Group, member_id: int, at: datetime) -> None:
    record(
        session,
        course_id=group.course_id,
        member_id=member_id,
        kind=EventKind.GROUP_JOINED,
        subject_type=SUBJECT_GROUP,
        subject_id=group.id,
        at=at,
    )


# --- sets ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SetInput:
    """What staff fill in to create a set."""

    name: str
    group_size: int | None
    mode: str
    group_count: int | None = None  # manual and self-signup: how many groups to open
    signup_cap: int | None = None
    signup_deadline: datetime | None = None
    rotating_facilitator: bool = False


def create_set(session: Session, actor: Actor, data: SetInput, seed: int | None = None) -> GroupSet:
    """A new set; manual and self-signup sets open their (empty) groups at once."""
    _require_manager(actor)
    errors: dict[str, object] = {}
    name = " ".join(data.name.split())
    if not name:
        errors["name"] = _l("Give the set a name.")
    elif len(name) > NAME_MAX:
        errors["name"] = _l("The name is too long.")
    if data.group_size is None or not 2 <= data.group_size <= MAX_GROUP_SIZE:
        errors["group_size"] = _l("Group size must be between 2 and %(max)d.", max=MAX_GROUP_SIZE)
    try:
        mode = AssignMode(data.mode)
    except ValueError:
        errors["mode"] = _l("Choose how members are assigned.")
        mode = AssignMode.MANUAL
    if data.group_count is not None and not 1 <= data.group_count <= MAX_GROUPS:
        errors["group_count"] = _l(
            "Number of groups must be between 1 and %(max)d.", max=MAX_GROUPS
        )
    if mode == AssignMode.SELF_SIGNUP:
        if data.signup_cap is not None and not 1 <= data.signup_cap <= MAX_GROUP_SIZE:
            errors["signup_cap"] = _l("The cap must be between 1 and %(max)d.", max=MAX_GROUP_SIZE)
        if data.signup_deadline is not None and data.signup_deadline <= utcnow():
            errors["signup_deadline"] = _l("The deadline must be in the future.")
    if errors:
        raise InvalidInput(errors)
    assert data.group_size is not None
    group_set = GroupSet(
        course_id=actor.course_id,
        name=name,
        group_size=data.group_size,
        mode=mode,
        signup_cap=(data.signup_cap or data.group_size) if mode == AssignMode.SELF_SIGNUP else None,
        signup_deadline=data.signup_deadline if mode == AssignMode.SELF_SIGNUP else None,
        rotating_facilitator=data.rotating_facilitator,
        seed=seed if seed is not None else secrets.randbelow(2**31),
        created_by=actor.member_id,
    )
    session.add(group_set)
    session.flush()
    if not mode.automatic:
        count = data.group_count or max(
            1, math.ceil(len(eligible_members(session, actor.course_id)) / data.group_size)
        )
        _open_groups(session, group_set, count)
    session.commit()
    return group_set


def bulk_insert(
    session: Session, table: Table, constants: dict[str, Any], columns: dict[str, list[int]]
) -> None:
    """Insert one row per position of the integer ``columns``, each with the ``constants``.

    PostgreSQL: one statement over arrays (unnest), rather than a statement per row or a long
    multi-row INSERT for the driver to parse. Elsewhere: one executemany.
    """
    count = len(next(iter(columns.values())))
    if not count:
        return
    if session.get_bind().dialect.name == "postgresql":
        names = [*constants, *columns]
        arrays = ", ".join(f"CAST(:{c} AS INTEGER[])" for c in columns)
        values = ", ".join([*(f":{c}" for c in constants), *(f"t.{c}" for c in columns)])
        statement = text(
            f"INSERT INTO {table.name} ({', '.join(names)}) "  # noqa: S608 -- names from models
            f"SELECT {values} FROM unnest({arrays}) AS t({', '.join(columns)})"
        )
        session.execute(statement, {**constants, **columns})
        return
    rows = [{**constants, **{c: values[i] for c, values in columns.items()}} for i in range(count)]
    session.connection().execute(insert(table), rows)


def _open_groups(session: Session, group_set: GroupSet, count: int) -> list[Group]:
    bulk_insert(
        session,
        Group.__table__,
        {
            "course_id": group_set.course_id,
            "set_id": group_set.id,
            "name": "",
            "meeting_note": "",
            "meeting_note_html": "",
            "created_at": utcnow(),
        },
        {"number": list(range(1, count + 1))},
    )
    # A set's groups are all opened at once, so these are exactly the new ones.
    groups = list(
        session.scalars(select(Group).where(Group.set_id == group_set.id).order_by(Group.number))
    )
    return groups


def group_label(group: Group) -> str:
    """A group's name: its own, or "Group 3" in the reader's language."""
    return group.name or str(_l("Group %(number)d", number=group.number))


def list_sets(session: Session, actor: Actor) -> list[GroupSet]:
    """The course's sets, newest first."""
    return list(
        session.scalars(
            select(GroupSet)
            .where(GroupSet.course_id == actor.course_id)
            .order_by(GroupSet.created_at.desc(), GroupSet.id.desc())
        )
    )


def find_set(session: Session, actor: Actor, set_id: int) -> GroupSet:
    """A set of the actor's course, or NotFound."""
    group_set = session.scalar(
        select(GroupSet).where(GroupSet.id == set_id, GroupSet.course_id == actor.course_id)
    )
    if group_set is None:
        raise NotFound()
    return group_set


def set_rotating_facilitator(session: Session, actor: Actor, set_id: int, on: bool) -> None:
    """Turn the rotating facilitator on or off; on, each group gets its first facilitator."""
    _require_manager(actor)
    group_set = find_set(session, actor, set_id)
    group_set.rotating_facilitator = on
    for group in _set_groups(session, group_set.id):
        if on:
            _ensure_facilitator(session, group_set, group)
        else:
            group.facilitator_id = group.facilitator_since = None
    session.commit()


def _set_groups(session: Session, set_id: int) -> list[Group]:
    return list(session.scalars(select(Group).where(Group.set_id == set_id).order_by(Group.number)))


# --- joining survey --------------------------------------------------------------------------


def survey_questions(session: Session, set_id: int) -> list[SurveyQuestion]:
    return list(
        session.scalars(
            select(SurveyQuestion)
            .where(SurveyQuestion.set_id == set_id)
            .order_by(SurveyQuestion.id)
        )
    )


def add_question(
    session: Session, actor: Actor, set_id: int, prompt: str, strategy: str, options: Sequence[str]
) -> SurveyQuestion:
    """A survey question of a balanced set, before its groups are formed."""
    _require_manager(actor)
    group_set = find_set(session, actor, set_id)
    if group_set.mode != AssignMode.BALANCED:
        raise Refused(_l("Only balanced sets have a joining survey."))
    if group_set.formed_at is not None:
        raise Refused(_l("The groups are formed: the survey can no longer change."))
    errors: dict[str, object] = {}
    prompt = " ".join(prompt.split())
    cleaned = list(dict.fromkeys(o.strip()[:120] for o in options if o.strip()))
    if not prompt:
        errors["prompt"] = _l("Write the question.")
    elif len(prompt) > 300:
        errors["prompt"] = _l("The question is too long.")
    try:
        chosen = assignment.Strategy(strategy)
    except ValueError:
        errors["strategy"] = _l("Choose mix or match.")
        chosen = assignment.Strategy.MIX
    if not 2 <= len(cleaned) <= MAX_OPTIONS:
        errors["options"] = _l("Give between 2 and %(max)d options, one per line.", max=MAX_OPTIONS)
    if errors:
        raise InvalidInput(errors)
    question = SurveyQuestion(
        course_id=actor.course_id,
        set_id=set_id,
        prompt=prompt,
        strategy=chosen.value,
        options=cleaned,
    )
    session.add(question)
    session.commit()
    return question


def delete_question(session: Session, actor: Actor, set_id: int, question_id: int) -> None:
    _require_manager(actor)
    group_set = find_set(session, actor, set_id)
    if group_set.formed_at is not None:
        raise Refused(_l("The groups are formed: the survey can no longer change."))
    question = session.scalar(
        select(SurveyQuestion).where(
            SurveyQuestion.id == question_id, SurveyQuestion.set_id == group_set.id
        )
    )
    if question is None:
        raise NotFound()
    session.delete(question)
    session.commit()


def my_answers(session: Session, actor: Actor, set_id: int) -> dict[int, int]:
    """The actor's answers to a set's survey: question id -> option."""
    rows = session.execute(
        select(SurveyAnswer.question_id, SurveyAnswer.option)
        .join(SurveyQuestion, SurveyQuestion.id == SurveyAnswer.question_id)
        .where(SurveyQuestion.set_id == set_id, SurveyAnswer.member_id == actor.member_id)
    )
    return {qid: option for qid, option in rows}


def save_answers(
    session: Session, actor: Actor, set_id: int, answers: Mapping[int, int | None]
) -> None:
    """Store the actor's survey answers (question id -> option index); every question needed."""
    group_set = find_set(session, actor, set_id)
    questions = survey_questions(session, group_set.id)
    errors: dict[str, object] = {}
    for question in questions:
        option = answers.get(question.id)
        if option is None or not 0 <= option < len(question.options):
            errors[f"q{question.id}"] = _l("Choose one of the options.")
    if errors:
        raise InvalidInput(errors)
    ids = [q.id for q in questions]
    session.execute(
        delete(SurveyAnswer).where(
            SurveyAnswer.member_id == actor.member_id, SurveyAnswer.question_id.in_(ids)
        )
    )
    session.add_all(
        SurveyAnswer(
            question_id=q.id,
            member_id=actor.member_id,
            course_id=actor.course_id,
            option=answers[q.id],
        )
        for q in questions
    )
    session.commit()


def _survey(
    session: Session, set_id: int
) -> tuple[list[assignment.Question], dict[int, dict[int, int]]]:
    questions = survey_questions(session, set_id)
    answers: dict[int, dict[int, int]] = defaultdict(dict)
    if questions:
        rows = session.execute(
            select(SurveyAnswer.member_id, SurveyAnswer.question_id, SurveyAnswer.option).where(
                SurveyAnswer.question_id.in_([q.id for q in questions])
            )
        )
        for member_id, qid, option in rows:
            answers[member_id][qid] = option
    return (
        [assignment.Question(q.id, assignment.Strategy(q.strategy)) for q in questions],
        answers,
    )


# --- forming, late joiners, leavers, moves ---------------------------------------------------


def form_groups(session: Session, actor: Actor, set_id: int) -> list[Group]:
    """Form a random or balanced set's groups from the course's active students."""
    _require_manager(actor)
    group_set = find_set(session, actor, set_id)
    if not group_set.mode.automatic:
        raise Refused(_l("Only random and balanced sets are formed automatically."))
    if group_set.formed_at is not None:
        raise Refused(_l("The groups of this set are already formed."))
    people = eligible_members(session, actor.course_id)
    if not people:
        raise Refused(_l("There are no active students to place yet."))
    if group_set.mode == AssignMode.BALANCED:
        questions, answers = _survey(session, group_set.id)
        plan = assignment.balanced_groups(
            people, group_set.group_size, group_set.seed, questions, answers
        )
    else:
        plan = assignment.random_groups(people, group_set.group_size, group_set.seed)
    now = utcnow()
    groups = _open_groups(session, group_set, len(plan))
    # A course of 10,000 writes 30,000 rows here: in bulk (see bench/groups.py).
    member_ids = [m for members in plan for m in members]
    group_ids = [g.id for g, members in zip(groups, plan, strict=True) for _ in members]
    course = {"course_id": group_set.course_id}
    bulk_insert(
        session,
        Membership.__table__,
        {**course, "set_id": group_set.id, "joined_at": now},
        {"member_id": member_ids, "group_id": group_ids},
    )
    bulk_insert(
        session,
        MembershipChange.__table__,
        {**course, "set_id": group_set.id, "reason": ChangeReason.FORMED.value, "created_at": now},
        {"member_id": member_ids, "to_group_id": group_ids},
    )
    # The participation table, as engagement.record would write it, one row per join.
    bulk_insert(
        session,
        ParticipationEvent.__table__,
        {
            **course,
            "kind": EventKind.GROUP_JOINED.value,
            "subject_type": SUBJECT_GROUP,
            "created_at": now,
        },
        {"member_id": member_ids, "subject_id": group_ids},
    )
    group_set.formed_at = now
    session.flush()
    if group_set.rotating_facilitator:
        for group in groups:
            _ensure_facilitator(session, group_set, group)
    session.commit()
    return groups


def _fit(
    questions: Sequence[assignment.Question],
    mine: Mapping[int, int],
    tallies: Mapping[int, Counter[tuple[int, int]]],
    group_ids: Iterable[int],
) -> dict[int, int]:
    """How well a person with answers ``mine`` suits each group: + one per member with the same
    answer to a "match" question, - one per member with the same answer to a "mix" one.
    ``tallies`` counts each group's (question, option) answers."""
    if not questions or not mine:
        return {}
    fit: dict[int, int] = {}
    for group_id in group_ids:
        tally = tallies[group_id]
        score = 0
        for q in questions:
            option = mine.get(q.id)
            if option is None:
                continue
            same = tally[(q.id, option)]
            score += same if q.strategy == assignment.Strategy.MATCH else -same
        fit[group_id] = score
    return fit


def _formed_sets(course_id: Any) -> Any:
    return select(GroupSet).where(
        GroupSet.course_id == course_id,
        GroupSet.formed_at.is_not(None),
        # Two comparisons rather than IN: a statement built once is not re-rendered per run.
        or_(GroupSet.mode == AssignMode.RANDOM, GroupSet.mode == AssignMode.BALANCED),
    )


def late_joiner_sets_exist(course_id: Any) -> Any:
    """SQL column: whether the course has a formed random or balanced set, the only kind
    place_late_joiners works on (a launch folds it into one statement, built once)."""
    return _formed_sets(course_id).with_only_columns(GroupSet.id).exists()


def place_late_joiners(
    session: Session, course_id: int, member_ids: Iterable[int] | None = None
) -> int:
    """Place active students missing from a formed random or balanced set in its smallest group
    (for balanced sets, the best fit among the smallest); returns how many were placed.

    ``member_ids`` limits the work to those members (a launch passes its own). Part of the
    caller's transaction: no commit.
    """
    sets = list(session.scalars(_formed_sets(course_id)))
    if not sets:
        return 0
    candidates = eligible_members(session, course_id, member_ids)
    if not candidates:
        return 0
    placed_count = 0
    now = utcnow()
    for group_set in sets:
        if member_ids is not None:  # a launch: only look at its own member(s)
            already = set(
                session.scalars(
                    select(Membership.member_id).where(
                        Membership.set_id == group_set.id, Membership.member_id.in_(candidates)
                    )
                )
            )
            if all(m in already for m in candidates):
                continue
        rows = session.execute(
            select(Membership.member_id, Membership.group_id).where(
                Membership.set_id == group_set.id
            )
        ).all()
        placed = {member_id for member_id, _ in rows}
        missing = [m for m in candidates if m not in placed]
        if not missing:
            continue
        groups = {g.id: g for g in _set_groups(session, group_set.id)}
        if not groups:
            continue
        members_by_group: dict[int, list[int]] = {gid: [] for gid in groups}
        for member_id, group_id in rows:
            members_by_group[group_id].append(member_id)
        questions, answers = (
            _survey(session, group_set.id) if group_set.mode == AssignMode.BALANCED else ([], {})
        )
        counts = {gid: len(ms) for gid, ms in members_by_group.items()}
        tallies: dict[int, Counter[tuple[int, int]]] = {
            gid: Counter(pair for m in ms for pair in answers.get(m, {}).items())
            for gid, ms in members_by_group.items()
        }
        for member_id in missing:
            # Only the emptiest groups are candidates; the survey picks among them.
            emptiest = min(counts.values())
            open_groups = {gid: n for gid, n in counts.items() if n == emptiest}
            mine = answers.get(member_id, {})
            target = assignment.smallest_group(
                open_groups, _fit(questions, mine, tallies, open_groups)
            )
            counts[target] += 1
            tallies[target].update(mine.items())
            members_by_group[target].append(member_id)
            session.add(
                Membership(
                    course_id=course_id,
                    set_id=group_set.id,
                    group_id=target,
                    member_id=member_id,
                    joined_at=now,
                )
            )
            _log(session, group_set, member_id, ChangeReason.LATE_JOINER, to_group=target, at=now)
            _joined(session, groups[target], member_id, now)
            placed_count += 1
    session.flush()
    return placed_count


def release_leavers(session: Session, course_id: int) -> int:
    """Free the places of members whose enrolment is no longer active; returns how many.

    Part of the caller's transaction: no commit.
    """
    rows = session.execute(
        select(Membership)
        .outerjoin(
            Enrolment,
            (Enrolment.course_id == Membership.course_id)
            & (Enrolment.member_id == Membership.member_id),
        )
        .where(
            Membership.course_id == course_id,
            (Enrolment.id.is_(None)) | (Enrolment.status != EnrolmentStatus.ACTIVE),
        )
    ).scalars()
    leaving = list(rows)
    if not leaving:
        return 0
    now = utcnow()
    sets = {
        s.id: s for s in session.scalars(select(GroupSet).where(GroupSet.course_id == course_id))
    }
    touched: set[int] = set()
    for membership in leaving:
        group_set = sets[membership.set_id]
        _log(
            session,
            group_set,
            membership.member_id,
            ChangeReason.LEFT_COURSE,
            from_group=membership.group_id,
            at=now,
        )
        touched.add(membership.group_id)
        session.delete(membership)
    session.flush()
    for group in session.scalars(select(Group).where(Group.id.in_(touched))):
        if sets[group.set_id].rotating_facilitator:
            _ensure_facilitator(session, sets[group.set_id], group)
    return len(leaving)


def move_member(
    session: Session, actor: Actor, set_id: int, member_id: int, group_id: int | None
) -> None:
    """Staff place a member of the course in a group of the set, or take them out (None)."""
    _require_manager(actor)
    group_set = find_set(session, actor, set_id)
    enrolled = session.scalar(
        select(Enrolment.id).where(
            Enrolment.course_id == actor.course_id,
            Enrolment.member_id == member_id,
            Enrolment.status == EnrolmentStatus.ACTIVE,
        )
    )
    if enrolled is None:
        raise NotFound(_l("There is no such member in this course."))
    target = None
    if group_id is not None:
        target = session.scalar(
            select(Group).where(Group.id == group_id, Group.set_id == group_set.id)
        )
        if target is None:
            raise NotFound()
    _change_group(session, group_set, member_id, target, actor, ChangeReason.MOVED)
    session.commit()


def _change_group(
    session: Session,
    group_set: GroupSet,
    member_id: int,
    target: Group | None,
    actor: Actor,
    reason: ChangeReason,
) -> None:
    """Move a member to ``target`` (None: out of the set), log it, keep facilitators right."""
    now = utcnow()
    membership = session.scalar(
        select(Membership).where(
            Membership.set_id == group_set.id, Membership.member_id == member_id
        )
    )
    previous = membership.group_id if membership is not None else None
    if previous == (target.id if target else None):
        return
    if target is None:
        assert membership is not None
        session.delete(membership)
        if reason == ChangeReason.MOVED:
            reason = ChangeReason.REMOVED
    elif membership is None:
        session.add(
            Membership(
                course_id=group_set.course_id,
                set_id=group_set.id,
                group_id=target.id,
                member_id=member_id,
                joined_at=now,
            )
        )
    else:
        membership.group_id = target.id
        membership.joined_at = now
    if target is not None:
        _joined(session, target, member_id, now)
    _log(
        session,
        group_set,
        member_id,
        reason,
        from_group=previous,
        to_group=target.id if target else None,
        actor_id=actor.member_id,
        at=now,
    )
    session.flush()
    if group_set.rotating_facilitator:
        for group in session.scalars(
            select(Group).where(Group.id.in_([g for g in (previous, target and target.id) if g]))
        ):
            _ensure_facilitator(session, group_set, group)


def join_group(session: Session, actor: Actor, group_id: int) -> Group:
    """A student signs up for a group of a self-signup set (leaving their other one in it)."""
    group = _signup_group(session, actor, group_id)
    group_set = group.group_set
    size = session.scalar(
        select(func.count()).select_from(Membership).where(Membership.group_id == group.id)
    )
    cap = group_set.signup_cap or group_set.group_size
    if (size or 0) >= cap:
        raise Refused(_l("This group is full. Choose another one."))
    _change_group(session, group_set, actor.member_id, group, actor, ChangeReason.JOINED)
    session.commit()
    return group


def leave_group(session: Session, actor: Actor, group_id: int) -> None:
    """A student leaves the self-signup group they are in."""
    group = _signup_group(session, actor, group_id)
    if not _is_member(session, group.id, actor.member_id):
        raise NotFound()
    _change_group(session, group.group_set, actor.member_id, None, actor, ChangeReason.LEFT_GROUP)
    session.commit()


def _signup_group(session: Session, actor: Actor, group_id: int) -> Group:
    group = session.scalar(
        select(Group).where(Group.id == group_id, Group.course_id == actor.course_id)
    )
    if group is None:
        raise NotFound()
    group_set = group.group_set
    if group_set.mode != AssignMode.SELF_SIGNUP:
        raise NotFound()
    if group_set.signup_deadline is not None and utcnow() >= group_set.signup_deadline:
        raise Refused(_l("Sign-up for this set closed on its deadline."))
    return group


def change_log(session: Session, actor: Actor, set_id: int, limit: int = 200) -> list[LogLine]:
    """The set's membership changes, newest first (staff only)."""
    _require_manager(actor)
    group_set = find_set(session, actor, set_id)
    changes = list(
        session.scalars(
            select(MembershipChange)
            .where(MembershipChange.set_id == group_set.id)
            .order_by(MembershipChange.created_at.desc(), MembershipChange.id.desc())
            .limit(limit)
        )
    )
    names = _names(
        session, {c.member_id for c in changes} | {c.actor_id for c in changes if c.actor_id}
    )
    groups = {g.id: group_label(g) for g in _set_groups(session, group_set.id)}
    return [
        LogLine(
            at=c.created_at,
            member=names.get(c.member_id, ""),
            reason=c.reason,
            from_group=groups.get(c.from_group_id) if c.from_group_id else None,
            to_group=groups.get(c.to_group_id) if c.to_group_id else None,
            actor=names.get(c.actor_id) if c.actor_id else None,
        )
        for c in changes
    ]


@dataclass(frozen=True)
class LogLine:
    at: datetime
    member: str
    reason: ChangeReason
    from_group: str | None
    to_group: str | None
    actor: str | None


def _names(session: Session, member_ids: Iterable[int]) -> dict[int, str]:
    ids = list(member_ids)
    if not ids:
        return {}
    return {m.id: m.display_name for m in session.scalars(select(Member).where(Member.id.in_(ids)))}


# --- overview pages --------------------------------------------------------------------------


@dataclass
class GroupView:
    """A group with its members (names), for set pages."""

    group: Group
    members: list[tuple[int, str]] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.members)


def set_overview(
    session: Session, actor: Actor, set_id: int
) -> tuple[list[GroupView], list[tuple[int, str]]]:
    """Staff: every group of the set with its members, and the active students in no group."""
    _require_manager(actor)
    group_set = find_set(session, actor, set_id)
    views = {g.id: GroupView(g) for g in _set_groups(session, group_set.id)}
    placed: set[int] = set()
    for membership, member in session.execute(
        select(Membership, Member)
        .join(Member, Member.id == Membership.member_id)
        .where(Membership.set_id == group_set.id)
    ):
        views[membership.group_id].members.append((member.id, member.display_name))
        placed.add(member.id)
    for view in views.values():
        view.members.sort(key=lambda m: m[1].casefold())
    unplaced_ids = [m for m in eligible_members(session, actor.course_id) if m not in placed]
    names = _names(session, unplaced_ids)
    unplaced = sorted(((m, names[m]) for m in unplaced_ids), key=lambda m: m[1].casefold())
    return list(views.values()), unplaced


def signup_overview(
    session: Session, actor: Actor, set_id: int
) -> tuple[list[tuple[Group, int]], int | None]:
    """A self-signup set for students: each group with its size, and the actor's group id."""
    group_set = find_set(session, actor, set_id)
    counts = dict(
        session.execute(
            select(Membership.group_id, func.count())
            .where(Membership.set_id == group_set.id)
            .group_by(Membership.group_id)
        ).all()
    )
    mine = session.scalar(
        select(Membership.group_id).where(
            Membership.set_id == group_set.id, Membership.member_id == actor.member_id
        )
    )
    return [(g, int(counts.get(g.id, 0))) for g in _set_groups(session, group_set.id)], mine


def my_groups(session: Session, actor: Actor) -> list[Group]:
    """The groups the actor belongs to in this course."""
    return list(
        session.scalars(
            select(Group)
            .join(Membership, Membership.group_id == Group.id)
            .where(Membership.member_id == actor.member_id, Group.course_id == actor.course_id)
            .order_by(Group.set_id.desc(), Group.number)
        )
    )


# --- the group space -------------------------------------------------------------------------


def _is_member(session: Session, group_id: int, member_id: int) -> bool:
    return (
        session.scalar(
            select(Membership.id).where(
                Membership.group_id == group_id, Membership.member_id == member_id
            )
        )
        is not None
    )


def find_group(session: Session, actor: Actor, group_id: int) -> Group:
    """A group the actor may open: staff any of the course, students only their own."""
    group = session.scalar(
        select(Group).where(Group.id == group_id, Group.course_id == actor.course_id)
    )
    if group is None:
        raise NotFound()
    if not actor.manages_groups and not _is_member(session, group.id, actor.member_id):
        raise NotFound()
    return group


def _member_group(session: Session, actor: Actor, group_id: int) -> Group:
    """A group the actor may write in: its members, and staff."""
    return find_group(session, actor, group_id)


@dataclass(frozen=True)
class MemberLine:
    member_id: int
    name: str
    facilitator: bool
    joined_at: datetime


def group_members(session: Session, group: Group) -> list[MemberLine]:
    rows = session.execute(
        select(Membership, Member)
        .join(Member, Member.id == Membership.member_id)
        .where(Membership.group_id == group.id)
    ).all()
    lines = [
        MemberLine(m.id, m.display_name, group.facilitator_id == m.id, ms.joined_at)
        for ms, m in rows
    ]
    return sorted(lines, key=lambda line: (not line.facilitator, line.name.casefold()))


def group_posts(session: Session, group: Group, limit: int = POSTS_SHOWN) -> list[GroupPost]:
    """The latest posts of a group's thread, oldest first."""
    posts = list(
        session.scalars(
            select(GroupPost)
            .where(GroupPost.group_id == group.id, GroupPost.deleted_at.is_(None))
            .order_by(GroupPost.created_at.desc(), GroupPost.id.desc())
            .limit(limit)
        )
    )
    return posts[::-1]


def hidden_posts(session: Session, actor: Actor, posts: Sequence[GroupPost]) -> frozenset[int]:
    """The ids of ``posts`` that moderators hid (members see a placeholder instead)."""
    if not posts:
        return frozenset()
    keys = hidden_keys(session, actor.course_id, {SUBJECT_POST: [p.id for p in posts]})
    return frozenset(subject_id for _, subject_id in keys)


def group_links(session: Session, group: Group) -> list[GroupLink]:
    return list(
        session.scalars(
            select(GroupLink)
            .where(GroupLink.group_id == group.id)
            .order_by(GroupLink.created_at.desc(), GroupLink.id.desc())
        )
    )


def _validated_body(body: str, field_name: str = "body") -> str:
    text = (body or "").strip()
    if not text:
        raise InvalidInput({field_name: _l("Write something before sending.")})
    if len(text) > MAX_BODY:
        raise InvalidInput({field_name: _l("Keep it under %(max)d characters.", max=MAX_BODY)})
    return text


def add_post(session: Session, actor: Actor, group_id: int, body: str) -> GroupPost:
    """A message in the group's thread; the other members are notified."""
    group = _member_group(session, actor, group_id)
    text = _validated_body(body)
    rendered = render(text)
    now = utcnow()
    post = GroupPost(
        course_id=group.course_id,
        group_id=group.id,
        author_id=actor.member_id,
        body=text,
        body_html=str(rendered.html),
        created_at=now,
    )
    session.add(post)
    session.flush()
    group.last_activity_at = now
    record(
        session,
        course_id=group.course_id,
        member_id=actor.member_id,
        kind=EventKind.GROUP_POST,
        subject_type=SUBJECT_POST,
        subject_id=post.id,
        at=now,
    )
    members = session.scalars(select(Membership.member_id).where(Membership.group_id == group.id))
    notify(
        session,
        course_id=group.course_id,
        recipients=members,
        kind="group_post",
        # The post, not the group: once moderators hide it or its author deletes it, the
        # notification stops quoting it.
        subject_type=SUBJECT_POST,
        subject_id=post.id,
        actor_id=actor.member_id,
        excerpt=f"{group_label(group)}: {rendered.excerpt(200)}",
    )
    session.commit()
    return post


def _find_post(session: Session, actor: Actor, post_id: int) -> GroupPost:
    post = session.scalar(
        select(GroupPost).where(
            GroupPost.id == post_id,
            GroupPost.course_id == actor.course_id,
            GroupPost.deleted_at.is_(None),
        )
    )
    if post is None:
        raise NotFound()
    find_group(session, actor, post.group_id)  # students: their own groups only
    return post


def delete_post(session: Session, actor: Actor, post_id: int) -> GroupPost:
    """Delete a post (kept for moderation): its author or staff."""
    post = _find_post(session, actor, post_id)
    if post.author_id != actor.member_id and not actor.manages_groups:
        raise PermissionDenied()
    post.deleted_at = utcnow()
    post.deleted_by = actor.member_id
    forget_authored(session, actor.course_id, SUBJECT_POST, post.id, post.author_id)
    session.commit()
    return post


def flag_post(
    session: Session, actor: Actor, post_id: int, reason: str, note: str = ""
) -> GroupPost:
    """Flag a post for moderation (the one moderation queue)."""
    post = _find_post(session, actor, post_id)
    try:
        flag_content(
            session,
            course_id=actor.course_id,
            reporter_id=actor.member_id,
            subject_type=SUBJECT_POST,
            subject_id=post.id,
            reason=reason,
            note=note,
        )
    except FlagError as exc:
        session.rollback()
        if str(exc) == "already flagged":
            raise Refused(_l("You have already flagged this post.")) from exc
        raise InvalidInput({"reason": _l("Choose a reason.")}) from exc
    return post


def add_link(
    session: Session, actor: Actor, group_id: int, title: str, url: str, note: str
) -> GroupLink:
    """Share a link (http or https) or a note with the group."""
    group = _member_group(session, actor, group_id)
    errors: dict[str, object] = {}
    title = " ".join(title.split())
    url = url.strip()
    note = note.strip()
    if not title:
        errors["title"] = _l("Give it a title.")
    elif len(title) > 200:
        errors["title"] = _l("The title is too long.")
    if url:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > URL_MAX:
            errors["url"] = _l("Enter a web address starting with http:// or https://.")
    if not url and not note:
        errors["note"] = _l("Add a web address, a note, or both.")
    if len(note) > MEETING_MAX:
        errors["note"] = _l("Keep it under %(max)d characters.", max=MEETING_MAX)
    if errors:
        raise InvalidInput(errors)
    now = utcnow()
    link = GroupLink(
        course_id=group.course_id,
        group_id=group.id,
        author_id=actor.member_id,
        title=title,
        url=url,
        note=note,
        created_at=now,
    )
    session.add(link)
    group.last_activity_at = now
    session.commit()
    return link


def delete_link(session: Session, actor: Actor, link_id: int) -> None:
    link = session.scalar(
        select(GroupLink).where(GroupLink.id == link_id, GroupLink.course_id == actor.course_id)
    )
    if link is None:
        raise NotFound()
    find_group(session, actor, link.group_id)
    if link.author_id != actor.member_id and not actor.manages_groups:
        raise PermissionDenied()
    session.delete(link)
    session.commit()


def set_meeting_note(session: Session, actor: Actor, group_id: int, text: str) -> Group:
    """The group's next-meeting note (when, where, what to prepare); empty clears it."""
    group = _member_group(session, actor, group_id)
    text = (text or "").strip()
    if len(text) > MEETING_MAX:
        raise InvalidInput({"meeting": _l("Keep it under %(max)d characters.", max=MEETING_MAX)})
    now = utcnow()
    group.meeting_note = text
    group.meeting_note_html = str(render_markdown(text)) if text else ""
    group.meeting_updated_at = now
    group.last_activity_at = now
    session.commit()
    return group


# --- rotating facilitator --------------------------------------------------------------------


def _rotation(session: Session, group: Group) -> list[int]:
    """The group's members in turn order: by when they joined, then by id."""
    return list(
        session.scalars(
            select(Membership.member_id)
            .where(Membership.group_id == group.id)
            .order_by(Membership.joined_at, Membership.member_id)
        )
    )


def _make_facilitator(session: Session, group: Group, member_id: int | None) -> None:
    now = utcnow()
    group.facilitator_id = member_id
    group.facilitator_since = now if member_id else None
    if member_id is not None:
        record(
            session,
            course_id=group.course_id,
            member_id=member_id,
            kind=EventKind.GROUP_FACILITATOR,
            subject_type=SUBJECT_GROUP,
            subject_id=group.id,
            at=now,
        )


def _ensure_facilitator(session: Session, group_set: GroupSet, group: Group) -> None:
    """A rotating set's group always has a facilitator among its members, when it has any."""
    if not group_set.rotating_facilitator:
        return
    order = _rotation(session, group)
    if group.facilitator_id in order:
        return
    _make_facilitator(session, group, order[0] if order else None)


def pass_facilitator(session: Session, actor: Actor, group_id: int) -> int | None:
    """Hand the facilitator's turn to the next member; returns the new facilitator's id."""
    group = find_group(session, actor, group_id)
    if not group.group_set.rotating_facilitator:
        raise Refused(_l("This set has no rotating facilitator."))
    if not actor.manages_groups and group.facilitator_id != actor.member_id:
        raise PermissionDenied()
    order = _rotation(session, group)
    if not order:
        return None
    position = order.index(group.facilitator_id) if group.facilitator_id in order else -1
    _make_facilitator(session, group, order[(position + 1) % len(order)])
    session.commit()
    return group.facilitator_id


# --- group health ----------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberHealth:
    member_id: int
    name: str
    last_activity_at: datetime | None
    posts: int


@dataclass(frozen=True)
class GroupHealth:
    group: Group
    set_name: str
    last_activity_at: datetime | None
    quiet: bool  # nothing for ``quiet_days`` (or ever, since the group began)
    members: list[MemberHealth]

    @property
    def never_posted(self) -> list[MemberHealth]:
        return [m for m in self.members if m.posts == 0]


def group_health(
    session: Session,
    actor: Actor,
    *,
    quiet_days: int = 7,
    set_id: int | None = None,
    now: datetime | None = None,
) -> list[GroupHealth]:
    """Last activity per group and per member, quiet groups and silent members (staff only)."""
    _require_manager(actor)
    now = now or utcnow()
    since = now - timedelta(days=quiet_days)
    query = (
        select(Group, GroupSet.name)
        .join(GroupSet, GroupSet.id == Group.set_id)
        .where(Group.course_id == actor.course_id)
        .order_by(GroupSet.created_at.desc(), GroupSet.id.desc(), Group.number)
    )
    if set_id is not None:
        query = query.where(Group.set_id == set_id)
    groups = session.execute(query).all()
    post_stats = {
        (group_id, author_id): (count, last)
        for group_id, author_id, count, last in session.execute(
            select(
                GroupPost.group_id,
                GroupPost.author_id,
                func.count(),
                func.max(GroupPost.created_at),
            )
            .where(GroupPost.course_id == actor.course_id, GroupPost.deleted_at.is_(None))
            .group_by(GroupPost.group_id, GroupPost.author_id)
        )
    }
    link_last = {
        (group_id, author_id): last
        for group_id, author_id, last in session.execute(
            select(GroupLink.group_id, GroupLink.author_id, func.max(GroupLink.created_at))
            .where(GroupLink.course_id == actor.course_id)
            .group_by(GroupLink.group_id, GroupLink.author_id)
        )
    }
    members_by_group: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for group_id, member_id, member in session.execute(
        select(Membership.group_id, Membership.member_id, Member)
        .join(Member, Member.id == Membership.member_id)
        .where(Membership.course_id == actor.course_id)
    ):
        members_by_group[group_id].append((member_id, member.display_name))
    report = []
    for group, set_name in groups:
        lines = []
        for member_id, name in sorted(members_by_group[group.id], key=lambda m: m[1].casefold()):
            count, last_post = post_stats.get((group.id, member_id), (0, None))
            last = max(
                (t for t in (last_post, link_last.get((group.id, member_id))) if t),
                default=None,
            )
            lines.append(MemberHealth(member_id, name, last, int(count)))
        reference = group.last_activity_at or group.created_at
        report.append(
            GroupHealth(
                group=group,
                set_name=set_name,
                last_activity_at=group.last_activity_at,
                quiet=reference < since,
                members=lines,
            )
        )
    return report


def quiet_groups(
    session: Session, actor: Actor, quiet_days: int = 7, now: datetime | None = None
) -> list[GroupHealth]:
    """Groups with no activity for ``quiet_days`` (for the dashboard)."""
    return [h for h in group_health(session, actor, quiet_days=quiet_days, now=now) if h.quiet]


def members_who_never_posted(session: Session, actor: Actor) -> list[tuple[Group, MemberHealth]]:
    """Each group's members with no post in its thread (for the dashboard)."""
    return [(h.group, m) for h in group_health(session, actor) for m in h.never_posted]


def count_by_group(session: Session, set_id: int) -> Counter[int]:
    """Members per group of a set."""
    return Counter(session.scalars(select(Membership.group_id).where(Membership.set_id == set_id)))
