"""Imports every model module so Alembic and create_app see all tables."""

from lti_tool.community.dashboard.models import DashboardSettings, ReachOut  # noqa: F401
from lti_tool.community.engagement.models import ParticipationEvent, WeekFigures  # noqa: F401
from lti_tool.community.grades.models import GradeRubric  # noqa: F401
from lti_tool.community.groups.models import (  # noqa: F401
    Group,
    GroupLink,
    GroupPost,
    GroupSet,
    Membership,
    MembershipChange,
    SurveyAnswer,
    SurveyQuestion,
)
from lti_tool.community.kudos.models import Kudos, KudosCategory, KudosSettings  # noqa: F401
from lti_tool.community.moderation.models import (  # noqa: F401
    ConductAcceptance,
    ConductVersion,
    Flag,
    HiddenPost,
    ModerationAction,
)
from lti_tool.community.notifications.models import MemberPreference, Notification  # noqa: F401
from lti_tool.community.pulse.models import PulseAnswer, PulseSurvey  # noqa: F401
from lti_tool.community.qa.models import (  # noqa: F401
    Answer,
    Comment,
    Follower,
    QASettings,
    Question,
    QuestionTag,
    Revision,
    Tag,
    Vote,
)
from lti_tool.community.recognition.models import (  # noqa: F401
    BadgeAward,
    BadgeRule,
    RecognitionSettings,
)
from lti_tool.community.sentiment.models import PostSentiment  # noqa: F401
from lti_tool.community.welcome.models import Introduction, Postponed, Welcome  # noqa: F401
from lti_tool.courses.models import (  # noqa: F401
    Course,
    Deployment,
    Enrolment,
    Member,
    Placement,
    Platform,
)
from lti_tool.jobs.models import Job, JobSchedule  # noqa: F401
from lti_tool.lti.models import FrameOrigin, KeySetCache, LoginState  # noqa: F401
from lti_tool.lti.service_token import ServiceToken  # noqa: F401
from lti_tool.sync.grades import GradePush, GradeScore  # noqa: F401
from lti_tool.sync.privacy import ErasureLog, PrivacyRequest  # noqa: F401
from lti_tool.sync.roster import RosterSync  # noqa: F401
