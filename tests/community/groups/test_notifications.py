"""A group message's notification: a link to it in its group, and nothing of it once moderators
hid it or its author deleted it."""

from __future__ import annotations

from flask import Flask

from lti_tool.community.groups import services
from lti_tool.community.moderation.services import hide_post
from lti_tool.extensions import db

from .conftest import GroupsWorld, sign_in


def _posted(app: Flask, gsite: GroupsWorld, text: str) -> tuple[int, int]:
    """Giulia posts in the group she shares with Marco: (group id, post id)."""
    with app.app_context():
        data = services.SetInput(name="Study", group_size=4, mode="manual", group_count=1)
        group_set = services.create_set(db.session, gsite["prof"], data, seed=42)
        [group] = services._set_groups(db.session, group_set.id)
        for key in ("giulia", "marco"):
            services.move_member(
                db.session, gsite["prof"], group_set.id, gsite.member_id(key), group.id
            )
        post = services.add_post(db.session, gsite["giulia"], group.id, text)
        return group.id, post.id


def test_a_group_message_notification_links_to_the_message(app: Flask, gsite: GroupsWorld) -> None:
    group_id, post_id = _posted(app, gsite, "Ci vediamo giovedì")
    page = sign_in(app, gsite.world, "marco").get("/w/L1/qa/notifications").text
    assert f'<a href="/w/L1/groups/{group_id}#post-{post_id}">' in page
    assert "Ci vediamo giovedì" in page


def test_a_hidden_group_message_is_no_longer_quoted(app: Flask, gsite: GroupsWorld) -> None:
    group_id, post_id = _posted(app, gsite, "Un insulto a Sara")
    with app.app_context():
        hide_post(
            db.session(), gsite.course_id, gsite.member_id("prof"), "groups_post", post_id, "Rude"
        )
    page = sign_in(app, gsite.world, "marco").get("/w/L1/qa/notifications").text
    assert "Un insulto a Sara" not in page and f"/groups/{group_id}" not in page
    assert "A message you were notified about is no longer available." in page


def test_a_deleted_group_message_is_no_longer_quoted(app: Flask, gsite: GroupsWorld) -> None:
    _group_id, post_id = _posted(app, gsite, "Il mio numero è 333 1234567")
    with app.app_context():
        services.delete_post(db.session, gsite["giulia"], post_id)
    page = sign_in(app, gsite.world, "marco").get("/w/L1/qa/notifications").text
    assert "333 1234567" not in page
    assert "A message you were notified about is no longer available." in page
