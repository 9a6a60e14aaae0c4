"""Imports every model module so Alembic and create_app see all tables."""

from lti_tool.community.engagement.models import ParticipationEvent  # noqa: F401
from lti_tool.community.moderation.models import Flag  # noqa: F401
from lti_tool.community.notifications.models import Notification  # noqa: F401
from lti_tool.courses.models import (  # noqa: F401
    Course,
    Deployment,
    Enrolment,
    Member,
    Placement,
    Platform,
)
from lti_tool.lti.models import KeySetCache, LoginState  # noqa: F401
