"""Bottega: an LTI 1.3 tool that turns an LMS course into a learning community."""

from __future__ import annotations

from inspect import CO_COROUTINE
from types import FunctionType
from typing import Any

from flask import Flask
from flask_babel import get_locale
from werkzeug.middleware.proxy_fix import ProxyFix

from lti_tool import models  # noqa: F401  (register every table with the metadata)
from lti_tool.cli import register_cli
from lti_tool.community.dashboard.views import bp as dashboard_bp
from lti_tool.community.groups.moderation_subjects import register_group_subjects
from lti_tool.community.groups.views import bp as groups_bp
from lti_tool.community.home.views import bp as home_bp
from lti_tool.community.kudos.views import bp as kudos_bp
from lti_tool.community.moderation.views import bp as moderation_bp
from lti_tool.community.notifications.sentences import sentence
from lti_tool.community.notifications.views import bp as notifications_bp
from lti_tool.community.pulse.views import bp as pulse_bp
from lti_tool.community.qa.moderation_subjects import register_qa_subjects
from lti_tool.community.qa.queries import ReplyTimes
from lti_tool.community.qa.views import bp as qa_bp
from lti_tool.community.recognition.views import bp as recognition_bp
from lti_tool.community.sentiment.views import bp as sentiment_bp
from lti_tool.community.welcome.moderation_subjects import register_welcome_subjects
from lti_tool.community.welcome.views import bp as welcome_bp
from lti_tool.config import PROJECT_ROOT, load_settings
from lti_tool.core.assets import install_static_url
from lti_tool.core.errors import register_error_handlers
from lti_tool.core.i18n import install_template_gettext, select_locale
from lti_tool.core.ids import IdConverter
from lti_tool.core.observability import install_observability
from lti_tool.core.requests import BottegaRequest
from lti_tool.core.security import install_security_headers
from lti_tool.core.transactions import install_read_only_commit
from lti_tool.core.views import bp as core_bp
from lti_tool.courses.access import role_label
from lti_tool.extensions import (
    SessionCookies,
    babel,
    csrf,
    db,
    drop_idle_limiter_check,
    limiter,
    migrate,
    skip_hooks_on,
)
from lti_tool.jobs.runtime import install as install_jobs
from lti_tool.lti.jwks import PlatformKeys
from lti_tool.lti.keys import KeyStore
from lti_tool.lti.registry import Registry
from lti_tool.sync.launch import RecentRows
from lti_tool.web.frames import frame_origins
from lti_tool.web.grades import bp as grades_bp
from lti_tool.web.lti import LEAN_ENDPOINTS
from lti_tool.web.lti import bp as lti_bp
from lti_tool.web.privacy import bp as privacy_bp
from lti_tool.web.registration import bp as registration_bp
from lti_tool.web.roster import bp as roster_bp

__version__ = "0.1.0"


class BottegaFlask(Flask):
    """Flask, with a shortcut for the check it makes before calling every view and hook, and
    request parameters without NUL characters (core/requests.py)."""

    request_class = BottegaRequest

    def ensure_sync(self, func: Any) -> Any:
        # Flask asks inspect whether each view and hook is a coroutine function, about a dozen
        # times per request; a plain ``def`` (all of Bottega's) is answered from its code flags.
        if type(func) is FunctionType and not func.__code__.co_flags & CO_COROUTINE:
            return func
        return super().ensure_sync(func)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the WSGI app; ``test_config`` overrides environment settings."""
    settings = load_settings(test_config)
    app = BottegaFlask(
        __name__,
        instance_path=str(settings.instance_path),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.config.from_mapping(settings.flask_config())
    app.url_map.converters["int"] = IdConverter  # before any route: ids stay in column range
    app.session_interface = SessionCookies()
    app.extensions["bottega_settings"] = settings
    install_observability(app, settings)  # logging, request ids, metrics, /metrics

    if settings.proxy_count:
        n = settings.proxy_count
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n, x_prefix=n
        )

    db.init_app(app)
    install_read_only_commit(app)  # PostgreSQL keeps its prepared statements across requests
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "lti_tool" / "migrations"))
    babel.init_app(app, locale_selector=select_locale)
    install_template_gettext(app)
    install_static_url(app)
    csrf.init_app(app)
    limiter.init_app(app)
    # The LTI login and launch have no rate limits: skip the limiter's work on every request.
    skip_hooks_on(app, LEAN_ENDPOINTS, limiter)

    keys = KeyStore(settings.keys_dir, settings.jwks_max_age)
    keys.prepare()  # parse once at start-up, not on the first request
    app.extensions["bottega_keys"] = keys
    app.extensions["bottega_platform_keys"] = PlatformKeys()
    app.extensions["bottega_recent_rows"] = RecentRows()
    app.extensions["bottega_reply_times"] = ReplyTimes()
    app.extensions["bottega_registry"] = Registry()

    app.register_blueprint(core_bp)
    app.register_blueprint(lti_bp)
    app.register_blueprint(registration_bp)
    app.register_blueprint(roster_bp)
    app.register_blueprint(grades_bp)
    app.register_blueprint(home_bp)
    app.register_blueprint(qa_bp)
    app.register_blueprint(sentiment_bp)
    app.register_blueprint(dashboard_bp)
    app.register_blueprint(pulse_bp)
    app.register_blueprint(welcome_bp)
    app.register_blueprint(moderation_bp)
    register_qa_subjects()
    register_group_subjects()
    register_welcome_subjects()
    app.register_blueprint(kudos_bp)
    app.register_blueprint(recognition_bp)
    app.register_blueprint(groups_bp)
    app.register_blueprint(privacy_bp)
    app.register_blueprint(notifications_bp)
    app.add_template_global(role_label)
    app.add_template_global(sentence, "notification_sentence")
    install_security_headers(app, hsts=settings.production, frame_origins=frame_origins)
    # Every limit is a decorator on a posting view (which checks it): no app-wide check.
    drop_idle_limiter_check(app, limiter)
    register_error_handlers(app)
    register_cli(app)
    # Jobs: a worker thread starts on the first request when JOBS_IN_PROCESS is on (never for
    # CLI commands or tests), and stops at exit; `jobs work` runs workers of their own.
    install_jobs(app)

    @app.context_processor
    def _template_globals() -> dict[str, Any]:
        return {"current_locale": str(get_locale() or "en")}

    if settings.demo:  # never in production: load_settings refuses it
        from lti_tool.demo.install import install_demo

        install_demo(app)
    return app
