"""The default badge rules (rows, installed by migration 0007 and here) and badge labels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_tool.community.engagement.models import EventKind
from lti_tool.community.recognition.models import BadgeRule, RuleMode
from lti_tool.courses.services import dialect_insert

# A member's own actions: what "active in a week" means (received events are others' doing).
ACTIVE_KINDS = (
    EventKind.ASK,
    EventKind.ANSWER,
    EventKind.COMMENT,
    EventKind.ACCEPT,
    EventKind.UPVOTE,
    EventKind.KUDOS_GIVEN,
    EventKind.GROUP_POST,
    EventKind.GROUP_JOINED,
)


@dataclass(frozen=True)
class RuleSpec:
    code: str
    name: str
    kinds: tuple[str, ...]
    mode: RuleMode = RuleMode.COUNT
    threshold: int = 1
    subject_type: str | None = None


DEFAULT_RULES = (
    RuleSpec("first_question", "First question", (EventKind.ASK,)),
    RuleSpec("first_answer", "First answer", (EventKind.ANSWER,)),
    RuleSpec("first_accepted_answer", "First accepted answer", (EventKind.ANSWER_ACCEPTED,)),
    RuleSpec("helpful_10", "10 helpful votes", (EventKind.UPVOTE_RECEIVED,), threshold=10),
    RuleSpec(
        "helped_5_peers",
        "Helped 5 different peers",
        (EventKind.ANSWER_ACCEPTED, EventKind.UPVOTE_RECEIVED),
        RuleMode.DISTINCT_ACTORS,
        5,
        "qa_answer",
    ),
    RuleSpec("kudos_5", "5 kudos received", (EventKind.KUDOS_RECEIVED,), threshold=5),
    RuleSpec(
        "active_4_weeks", "Active 4 weeks in a row", ACTIVE_KINDS, RuleMode.CONSECUTIVE_WEEKS, 4
    ),
    RuleSpec("group_facilitator", "Group facilitator", (EventKind.GROUP_FACILITATOR,)),
)

# Names and descriptions of the known badges in the page's language; a rule added later as data
# shows its stored English name until a translation is added here.
LABELS: dict[str, tuple[Any, Any]] = {
    "first_question": (_l("First question"), _l("Asked a first question in the course.")),
    "first_answer": (_l("First answer"), _l("Answered a classmate's question.")),
    "first_accepted_answer": (
        _l("First accepted answer"),
        _l("An answer was accepted by the person who asked."),
    ),
    "helpful_10": (_l("10 helpful votes"), _l("Posts marked helpful 10 times.")),
    "helped_5_peers": (
        _l("Helped 5 different peers"),
        _l("Answers found helpful or accepted by 5 different classmates."),
    ),
    "kudos_5": (_l("5 kudos received"), _l("Thanked with kudos 5 times.")),
    "active_4_weeks": (
        _l("Active 4 weeks in a row"),
        _l("Took part in the course every week for 4 weeks."),
    ),
    "group_facilitator": (_l("Group facilitator"), _l("Took a turn facilitating a peer group.")),
}


def badge_name(code: str, stored: str) -> str:
    label = LABELS.get(code)
    return str(label[0]) if label else stored


def badge_description(code: str, stored: str) -> str:
    label = LABELS.get(code)
    return str(label[1]) if label else stored


def active_rules(session: Session) -> list[BadgeRule]:
    """The badge rules in force; the defaults are installed into an empty table."""
    stmt = select(BadgeRule).order_by(BadgeRule.position, BadgeRule.id)
    rules = list(session.scalars(stmt))
    if not rules:
        install_default_rules(session)
        rules = list(session.scalars(stmt))
    return [r for r in rules if r.active]


def install_default_rules(session: Session) -> None:
    """Add the default rules that are missing (by code); edited rows are left alone."""
    rows = [
        {
            "code": spec.code,
            "name": spec.name,
            "description": "",
            "kinds": ",".join(str(k) for k in spec.kinds),
            "subject_type": spec.subject_type,
            "mode": spec.mode.value,
            "threshold": spec.threshold,
            "position": n,
            "active": True,
        }
        for n, spec in enumerate(DEFAULT_RULES)
    ]
    session.execute(
        dialect_insert(session, BadgeRule)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["code"])
    )
