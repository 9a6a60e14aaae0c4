"""Courses of one LMS stay apart over HTTP: a member enrolled in two courses sees each course's
data only in that course's launch, and staff of one course reach nothing of another by id.

The two courses share the platform (the subtle case: members and ids come from the same
registration); every page is visited, every route taking an id is tried with the other
course's ids.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from lti_tool.community.dashboard import playbook
from lti_tool.community.dashboard.models import ReachOut
from lti_tool.community.groups.models import (
    Group,
    GroupLink,
    GroupPost,
    GroupSet,
    Membership,
    SurveyQuestion,
)
from lti_tool.community.kudos import services as kudos
from lti_tool.community.moderation import services as moderation
from lti_tool.community.moderation.conduct import accept_conduct, pending_conduct_version
from lti_tool.community.qa import services as qa
from lti_tool.community.qa.permissions import Actor
from lti_tool.community.welcome import services as welcome
from lti_tool.courses.models import Enrolment, Member, Placement
from lti_tool.courses.roles import CourseRole
from lti_tool.extensions import db
from lti_tool.sync import privacy

from .qa.conftest import (
    PEOPLE,
    ROLE_URIS,
    CourseWorld,
    form_token,
    make_course,
    make_platform,
    sign_in,
)

SECRET = "Segreto-A"  # every text written in course A carries it
A_ONLY = ("Marco Bianchi", "Anna Neri", "Sara Verdi", "Luca Gallo", "Elena Costa")  # not in B


@dataclass
class Ids:
    question: int
    answer: int
    comment: int
    tag: int
    category: int
    group_set: int
    group: int
    post: int
    link: int
    survey_question: int
    flag: int
    hidden: int
    template: int
    introduction: int
    enrolment: int
    placement: int
    giulia: int  # a student of both courses
    request: int  # Marco's erasure request
    marco: int  # a student of course A only


def _two_courses(app: Flask) -> tuple[CourseWorld, CourseWorld, Ids]:
    """Course A (filled) and course B of the same LMS; Giulia is a student of both."""
    with app.app_context():
        s = db.session
        platform = make_platform("https://moodle.example.org")
        a = make_course(platform, "course-a", PEOPLE, managers=("cm",))
        b = make_course(
            platform,
            "course-b",
            {
                "prof": ("Bruno Blu", CourseRole.INSTRUCTOR),
                "cm": ("Carla Ciano", CourseRole.LEARNER),
            },
            managers=("cm",),
        )
        giulia = a["giulia"]
        s.add(
            Enrolment(
                course_id=b.course_id,
                member_id=giulia.member_id,
                roles=ROLE_URIS[CourseRole.LEARNER],
            )
        )
        s.commit()
        b.actors["giulia"] = Actor(member_id=giulia.member_id, course_id=b.course_id)
        prof = a["prof"]
        tag = qa.save_tag(s, prof, f"{SECRET}-tag")
        question = qa.ask(
            s, giulia, qa.QuestionInput(title=f"{SECRET} question", body="body", tag_ids=[tag.id])
        )
        answer = qa.answer(s, a["marco"], question.id, f"{SECRET} answer @giulia")
        comment = qa.comment(s, a["marco"], question.id, f"{SECRET} comment")
        category = kudos.categories(s, a.course_id)[0]
        kudos.give(
            s,
            a["marco"],
            kudos.KudosInput(
                receiver_id=giulia.member_id, category_id=category.id, message=f"{SECRET} kudos"
            ),
        )
        group_set = GroupSet(
            course_id=a.course_id, name=f"{SECRET} set", group_size=3, mode="manual"
        )
        s.add(group_set)
        s.flush()
        group = Group(course_id=a.course_id, set_id=group_set.id, number=1, name=f"{SECRET} group")
        s.add(group)
        s.flush()
        s.add(
            Membership(
                course_id=a.course_id,
                set_id=group_set.id,
                group_id=group.id,
                member_id=giulia.member_id,
            )
        )
        post = GroupPost(
            course_id=a.course_id,
            group_id=group.id,
            author_id=giulia.member_id,
            body=f"{SECRET} post",
            body_html=f"<p>{SECRET} post</p>",
        )
        link = GroupLink(
            course_id=a.course_id,
            group_id=group.id,
            author_id=giulia.member_id,
            title=f"{SECRET} link",
            url="https://example.org/a",
        )
        survey = SurveyQuestion(
            course_id=a.course_id,
            set_id=group_set.id,
            prompt=f"{SECRET} prompt",
            strategy="similar",
            options=["x", "y"],
        )
        s.add_all([post, link, survey])
        s.add(
            ReachOut(
                course_id=a.course_id,
                member_id=giulia.member_id,
                staff_id=prof.member_id,
                note=f"{SECRET} note",
            )
        )
        placement = Placement(
            course_id=a.course_id,
            lms_id="rl-a",
            widget="qa",
            services={
                "ags": {
                    "lineitem": "https://moodle.example.org/li/1",
                    "scope": ["https://purl.imsglobal.org/spec/lti-ags/scope/score"],
                    "graded": True,
                }
            },
        )
        s.add(placement)
        s.commit()
        flag = moderation.flag_content(
            s,
            course_id=a.course_id,
            reporter_id=a["marco"].member_id,
            subject_type="qa_question",
            subject_id=question.id,
            reason="spam",
        )
        hidden = moderation.hide_post(
            s, a.course_id, prof.member_id, "qa_comment", comment.id, f"{SECRET} hidden"
        )
        template = playbook.add_template(
            s, a.course_id, prof.member_id, f"{SECRET} template", "body"
        )
        marco = s.get(Member, a["marco"].member_id)
        assert marco is not None
        request = privacy.request_erasure(s, marco, a.course_id)
        intro = welcome.introduce(s, a.course_id, giulia.member_id, f"{SECRET} intro")
        enrolment = s.scalar(
            select(Enrolment.id).where(
                Enrolment.course_id == a.course_id, Enrolment.member_id == a["marco"].member_id
            )
        )
        s.commit()
        ids = Ids(
            question=question.id,
            answer=answer.id,
            comment=comment.id,
            tag=tag.id,
            category=category.id,
            group_set=group_set.id,
            group=group.id,
            post=post.id,
            link=link.id,
            survey_question=survey.id,
            flag=flag.id,
            hidden=hidden.id,
            template=template.id,
            introduction=intro.id,
            enrolment=enrolment or 0,
            placement=placement.id,
            giulia=giulia.member_id,
            request=request.id,
            marco=a["marco"].member_id,
        )
    return a, b, ids


PAGES = (
    "",
    "me",
    "members",
    "qa/",
    "qa/ask",
    "qa/unanswered",
    "qa/notifications",
    "qa/settings",
    "qa/?q=Segreto",
    "qa/duplicates?title=Segreto+question",
    "sentiment/",
    "dashboard/",
    "dashboard/at-risk",
    "dashboard/hanging",
    "dashboard/content",
    "dashboard/staff",
    "dashboard/playbook",
    "dashboard/report",
    "dashboard/digests",
    "welcome/",
    "welcome/?unanswered=1",
    "moderation/",
    "moderation/hidden",
    "moderation/audit",
    "kudos/",
    "kudos/give",
    "kudos/settings",
    "recognition/celebrations",
    "recognition/me",
    "recognition/top-helpers",
    "recognition/mentors",
    "groups/",
    "groups/health",
    "grades/",
    "privacy/",
    "roster",
)


@pytest.mark.parametrize("key", ["giulia", "prof", "cm"])
def test_course_b_pages_show_nothing_of_course_a(app: Flask, key: str) -> None:
    _a, b, _ids = _two_courses(app)
    client = sign_in(app, b, key, lid="B1")
    for page in PAGES:
        response = client.get(f"/w/B1/{page}", follow_redirects=True)
        assert response.status_code < 500, page
        assert SECRET not in response.text, page
        for name in A_ONLY:
            assert name not in response.text, (page, name)


def _id_routes(ids: Ids) -> tuple[list[str], list[tuple[str, dict[str, str]]]]:
    gets = [
        f"qa/{ids.question}",
        f"qa/{ids.question}/edit",
        f"qa/{ids.question}/comment",
        f"qa/{ids.question}/flag?kind=question&post_id={ids.question}",
        f"qa/answers/{ids.answer}/edit",
        f"qa/comments/{ids.comment}/edit",
        f"qa/{ids.question}/history",
        f"qa/answers/{ids.answer}/history",
        f"qa/comments/{ids.comment}/history",
        f"groups/sets/{ids.group_set}",
        f"groups/{ids.group}",
        f"moderation/flags/{ids.flag}",
        f"grades/{ids.placement}",
        f"grades/{ids.placement}/status",
        f"kudos/?category={ids.category}",
    ]
    posts = [
        (f"qa/{ids.question}/edit", {"title": "Taken over question", "body": "x"}),
        (f"qa/{ids.question}/answers", {"body": "Intrusion"}),
        (f"qa/{ids.question}/comments", {"body": "Intrusion"}),
        (f"qa/answers/{ids.answer}/edit", {"body": "Intrusion"}),
        (f"qa/comments/{ids.comment}/edit", {"body": "Intrusion"}),
        (f"qa/{ids.question}/delete", {}),
        (f"qa/answers/{ids.answer}/delete", {}),
        (f"qa/comments/{ids.comment}/delete", {}),
        (f"qa/{ids.question}/vote", {}),
        (f"qa/answers/{ids.answer}/vote", {}),
        (f"qa/answers/{ids.answer}/accept", {}),
        (f"qa/answers/{ids.answer}/endorse", {}),
        (f"qa/{ids.question}/endorse", {}),
        (f"qa/{ids.question}/follow", {"follow": "1"}),
        (
            f"qa/{ids.question}/flag",
            {"kind": "question", "post_id": str(ids.question), "reason": "spam"},
        ),
        (f"qa/settings/tags/{ids.tag}/delete", {}),
        ("qa/settings/tags", {"tag_id": str(ids.tag), "name": "Taken over"}),
        ("qa/ask", {"title": "Tagged with A's tag", "body": "x", "tags": str(ids.tag)}),
        (f"kudos/settings/categories/{ids.category}/retire", {"retired": "1"}),
        ("kudos/settings/categories", {"category_id": str(ids.category), "name": "Taken over"}),
        (
            "kudos/give",
            {
                "receiver": "0",
                "category": str(ids.category),
                "message": "Intrusion",
                "question": str(ids.question),
            },
        ),
        (f"recognition/mentors/{ids.enrolment}", {"grant": "1"}),
        (f"members/{ids.enrolment}/community-manager", {"grant": "1"}),
        (f"welcome/{ids.introduction}/reply", {"body": "Intrusion"}),
        (f"dashboard/playbook/templates/{ids.template}/delete", {}),
        (f"dashboard/at-risk/{ids.marco}/reach-out", {"note": "Intrusion", "reason": "inactive"}),
        (
            f"groups/sets/{ids.group_set}/questions",
            {"prompt": "Intrusion", "strategy": "similar", "options": "a\nb"},
        ),
        (f"groups/sets/{ids.group_set}/questions/{ids.survey_question}/delete", {}),
        (f"groups/sets/{ids.group_set}/survey", {}),
        (f"groups/sets/{ids.group_set}/form", {}),
        (
            f"groups/sets/{ids.group_set}/move",
            {"member_id": str(ids.giulia), "group_id": str(ids.group)},
        ),
        (f"groups/sets/{ids.group_set}/facilitator", {"on": "1"}),
        (f"groups/join/{ids.group}", {}),
        (f"groups/leave/{ids.group}", {}),
        (f"groups/{ids.group}/posts", {"body": "Intrusion"}),
        (f"groups/{ids.group}/links", {"title": "Intrusion", "url": "https://example.org/x"}),
        (f"groups/{ids.group}/meeting", {"meeting": "Intrusion"}),
        (f"groups/{ids.group}/facilitator/next", {}),
        (f"groups/posts/{ids.post}/delete", {}),
        (f"groups/posts/{ids.post}/flag", {"reason": "spam"}),
        (f"groups/links/{ids.link}/delete", {}),
        (f"moderation/flags/{ids.flag}/decide", {"action": "resolve", "reason": "mine"}),
        (f"moderation/flags/{ids.flag}/warn", {"message": "hi"}),
        (f"moderation/hidden/{ids.hidden}/restore", {"reason": "mine"}),
        (f"grades/{ids.placement}/rubric", {"question": "5"}),
        (f"grades/{ids.placement}/push", {}),
        (f"privacy/requests/{ids.request}/erase", {}),
    ]
    return gets, posts


def _fingerprint(app: Flask, course_id: int) -> dict[str, object]:
    """What course A's rows look like: any write through B's launch changes it."""
    from lti_tool.community.kudos.models import Kudos, KudosCategory
    from lti_tool.community.moderation.models import Flag, HiddenPost
    from lti_tool.community.qa.models import Answer, Comment, Follower, Question, Tag, Vote
    from lti_tool.community.welcome.models import Welcome

    with app.app_context():
        s = db.session
        counts = {
            m.__tablename__: s.scalar(select(func.count()).select_from(m))
            for m in (
                Question,
                Answer,
                Comment,
                Vote,
                Follower,
                Tag,
                Kudos,
                Flag,
                HiddenPost,
                Welcome,
                GroupPost,
                GroupLink,
                SurveyQuestion,
                Membership,
                ReachOut,
            )
        }
        counts["deleted"] = s.scalar(
            select(func.count()).select_from(Question).where(Question.deleted_at.is_not(None))
        )
        counts["texts"] = sorted(s.scalars(select(Question.title)).all())
        counts["categories"] = sorted(
            (c.name, c.retired)
            for c in s.scalars(select(KudosCategory).where(KudosCategory.course_id == course_id))
        )
        counts["members"] = sorted((m.id, m.name) for m in s.scalars(select(Member)))
        counts["flags"] = sorted(s.scalars(select(Flag.status)).all())
        counts["enrolments"] = sorted(
            (e.id, e.community_manager, e.peer_mentor) for e in s.scalars(select(Enrolment))
        )
        counts["groups"] = sorted(
            (g.id, g.meeting_note, g.facilitator_id) for g in s.scalars(select(Group))
        )
        return counts


@pytest.mark.parametrize("key", ["giulia", "prof", "cm"])
def test_ids_of_another_course_of_the_same_lms_are_refused(app: Flask, key: str) -> None:
    a, b, ids = _two_courses(app)
    client: FlaskClient = sign_in(app, b, key, lid="B1")
    token = form_token(client.get("/w/B1/qa/ask").text)
    gets, posts = _id_routes(ids)
    before = _fingerprint(app, a.course_id)
    for path in gets:
        response = client.get(f"/w/B1/{path}")
        assert response.status_code in (403, 404), path
    for path, data in posts:
        response = client.post(f"/w/B1/{path}", data={"csrf_token": token, **data})
        assert response.status_code in (400, 403, 404, 422), (path, response.status_code)
        assert SECRET not in response.text, path
    assert _fingerprint(app, a.course_id) == before


def test_one_browser_with_both_courses_open_sees_each_course_in_its_own_launch(
    app: Flask,
) -> None:
    """Giulia has course A and course B open in two LMS tabs (two launches in one session):
    each launch's pages show that course only, whichever she opened last."""
    a, b, ids = _two_courses(app)
    client = sign_in(app, a, "giulia", lid="LA")
    with client.session_transaction() as session:
        launches = dict(session["launches"])
        with app.app_context():
            enrolment_b = db.session.scalar(
                select(Enrolment.id).where(
                    Enrolment.course_id == b.course_id, Enrolment.member_id == ids.giulia
                )
            )
            pending = pending_conduct_version(db.session(), b.course_id, ids.giulia)
            if pending is not None:  # past the code of conduct in B too
                accept_conduct(db.session(), b.course_id, ids.giulia, pending)
        launches["LB"] = {**launches["LA"], "c": b.course_id, "e": enrolment_b}
        session["launches"] = launches
    for page in ("qa/", "qa/notifications", "kudos/", "groups/", "welcome/"):
        assert SECRET in client.get(f"/w/LA/{page}", follow_redirects=True).text, page
        in_b = client.get(f"/w/LB/{page}", follow_redirects=True)
        assert in_b.status_code == 200 and SECRET not in in_b.text, page
        assert "code of conduct" not in in_b.text.lower(), page  # the page itself
    assert client.get(f"/w/LA/qa/{ids.question}").status_code == 200
    assert client.get(f"/w/LB/qa/{ids.question}").status_code == 404
    assert client.get(f"/w/LB/groups/{ids.group}").status_code == 404
