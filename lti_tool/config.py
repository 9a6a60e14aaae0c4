"""Configuration: the only module that reads the environment."""

from __future__ import annotations

import logging
import os
import secrets
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENTS = ("development", "production", "test")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
# LTI Dynamic Registration: "open" (a registration is active at once), "approval" (new LMSs
# wait for `flask platform approve`), "off" (manual registration only).
REGISTRATION_POLICIES = ("open", "approval", "off")
REDIS_SCHEMES = ("redis", "rediss", "unix")
# Seconds LMSs may cache the tool's key set (JWKS_MAX_AGE); a rotated key waits as long to sign.
DEFAULT_JWKS_MAX_AGE = 300


class ConfigError(RuntimeError):
    """Raised when the environment cannot produce a safe configuration."""


def is_loopback_url(url: str) -> bool:
    """True for http(s) URLs whose host is the loopback interface."""
    host = (urlsplit(url).hostname or "").lower()
    return host in LOOPBACK_HOSTS or host.startswith("127.")


def _flag(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(env: dict[str, str], name: str, default: int, minimum: int | None = None) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {raw!r}")
    return value


def _float(env: dict[str, str], name: str, default: float, minimum: float = 0.0) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum:g}, got {raw!r}")
    return value


# Shorter secrets, and the placeholder of deploy/bottega.env.example, can be guessed: anyone who
# guesses it can sign a session cookie as any member of any course.
MIN_SECRET_KEY_LENGTH = 32


def _secret_key(env: dict[str, str], instance: Path, production: bool) -> str:
    key = env.get("SECRET_KEY", "")
    if key and production and len(key.strip()) < MIN_SECRET_KEY_LENGTH:
        raise ConfigError(
            f"SECRET_KEY is too short ({len(key.strip())} characters): in production it must "
            f"be at least {MIN_SECRET_KEY_LENGTH} random characters "
            '(e.g. python -c "import secrets; print(secrets.token_urlsafe(48))").'
        )
    if key:
        return key
    if production:
        raise ConfigError(
            "SECRET_KEY is not set. In production Bottega refuses to start without it: "
            "set SECRET_KEY to a long random value shared by every worker "
            '(e.g. python -c "import secrets; print(secrets.token_urlsafe(48))").'
        )
    # Development: generate once and keep it, so sessions survive a restart.
    path = instance / "secret_key"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(secrets.token_urlsafe(48))
        tmp.chmod(0o600)
        try:
            os.link(tmp, path)  # atomic and fails if another process won the race
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    return path.read_text().strip()


def sqlite_missing_features() -> str:
    """What this Python's SQLite lacks of FTS5 and the JSON functions ("" when nothing)."""
    missing = []
    probe = sqlite3.connect(":memory:")
    try:
        for name, statement in (
            ("FTS5", "CREATE VIRTUAL TABLE probe USING fts5(text)"),
            ("JSON functions", "SELECT json_group_array(json_array(1, 'a'))"),
        ):
            try:
                probe.execute(statement)
            except sqlite3.OperationalError:
                missing.append(name)
    finally:
        probe.close()
    return ", ".join(missing)


def _utc_session_options(database_url: str) -> str:
    """libpq ``options`` that put PostgreSQL sessions in UTC, after any the URL gives.

    Bottega stores and computes in UTC. With the session in UTC, psycopg reads ``timestamptz``
    as datetimes in ``datetime.UTC`` whatever the server's default zone: the same offsets as
    SQLite's (``+00:00`` in pages), and cheaper to format and subtract than a ``ZoneInfo``
    (a few percent of a Q&A page with fifty answers).
    """
    given = parse_qs(urlsplit(database_url).query).get("options", [""])[-1]
    return f"{given} -c TimeZone=UTC".strip()


@dataclass(frozen=True)
class JobSettings:
    """Background jobs: the outbox table is the truth; these bound retries and run time."""

    in_process: bool = False  # a worker thread in the web process (started on first request)
    poll_interval: float = 2.0  # seconds between two looks at the outbox when idle
    sweep_interval: float = 5.0  # seconds between sweeps (expired leases, schedules, pruning)
    lease: float = 120.0  # seconds a claimed job stays locked without a heartbeat
    timeout: float = 600.0  # the longest a job may run before it stops and is retried
    max_attempts: int = 8
    dead_after: float = 86400.0  # a job still failing this long after it was queued is dead
    backoff_base: float = 5.0
    backoff_max: float = 900.0
    keep: float = 7 * 86400.0  # finished and dead jobs are deleted after this many seconds
    queue: str = "bottega-jobs"  # the RQ queue name (wake-up channel only) with REDIS_URL


@dataclass(frozen=True)
class RosterSettings:
    """Roster sync (LTI NRPS 2.0)."""

    max_age: float = 12 * 3600.0  # a launch into a course with an older roster queues a sync
    schedule_interval: float = 3600.0  # how often stale rosters are looked for (0: never)
    full_every: float = 86400.0  # use rel="differences" until the last full sync is this old
    page_size: int = 100  # the limit asked of the LMS on the first page
    max_pages: int = 2000


@dataclass(frozen=True)
class GradeSettings:
    """Participation grades sent to the LMS (LTI AGS 2.0)."""

    concurrency: int = 16  # score POSTs in flight at once, per push
    schedule_interval: float = 6 * 3600.0  # how often every graded placement is pushed (0: never)


@dataclass(frozen=True)
class ServiceSettings:
    """Outbound calls to LMS services (token, NRPS, AGS)."""

    connect_timeout: float = 3.05
    read_timeout: float = 10.0
    retries: int = 2  # retries of one request on timeouts, 429 and 5xx, inside a job attempt
    max_wait: float = 30.0  # a longer Retry-After reschedules the job instead of waiting
    extra_hosts: tuple[str, ...] = ()  # service hosts trusted besides the registration's own


@dataclass(frozen=True)
class MailSettings:
    """Outgoing e-mail (the weekly digest); no SMTP_HOST means in-app only."""

    host: str | None = None
    port: int = 587
    username: str | None = None
    password: str | None = None
    sender: str = "Bottega <bottega@localhost>"
    starttls: bool = True
    timeout: float = 10.0


@dataclass(frozen=True)
class DigestSettings:
    """The weekly digest for course staff."""

    schedule_interval: float = 3600.0  # how often due digests are looked for (0: never)


@dataclass(frozen=True)
class NotificationMailSettings:
    """E-mails to members about their unread notifications (with SMTP_HOST and PUBLIC_URL)."""

    enabled: bool = True
    # A notification still unread this long after it came is mailed (read in the page: never).
    delay: float = 600.0
    # At most one e-mail per member this often: what comes meanwhile waits for the next one.
    gap: float = 3600.0
    # Notifications older than this are not mailed (mail turned on later sends no history).
    max_age: float = 172800.0
    schedule_interval: float = 300.0  # how often due e-mails are looked for (0: never)


@dataclass(frozen=True)
class PrivacySettings:
    """Retention of participation events (docs/privacy.md)."""

    # Events older than this many days (whole weeks) are deleted by a scheduled job; None: kept.
    event_retention_days: int | None = None
    schedule_interval: float = 86400.0  # how often the retention job runs while it is on


@dataclass(frozen=True)
class ObservabilitySettings:
    """Logs and metrics (see docs/observability.md)."""

    log_format: str = "text"  # "text" (readable, the default) or "json" (one object per line)
    log_level: str = "INFO"
    # /metrics answers a bearer of this token; without it, only unproxied loopback requests.
    metrics_token: str | None = None
    # prometheus_client reads PROMETHEUS_MULTIPROC_DIR itself at import; kept here to know
    # whether /metrics must aggregate the files of every process.
    multiproc_dir: Path | None = None


@dataclass(frozen=True)
class Settings:
    """Every setting the app uses, read once from the environment."""

    env: str
    instance_path: Path
    database_url: str
    redis_url: str | None
    secret_key: str
    public_url: str | None
    keys_dir: Path
    proxy_count: int
    demo: bool
    extra: dict[str, Any] = field(default_factory=dict)
    dynamic_registration: str = "open"
    jwks_max_age: int = DEFAULT_JWKS_MAX_AGE
    jobs: JobSettings = field(default_factory=JobSettings)
    roster: RosterSettings = field(default_factory=RosterSettings)
    services: ServiceSettings = field(default_factory=ServiceSettings)
    mail: MailSettings = field(default_factory=MailSettings)
    digest: DigestSettings = field(default_factory=DigestSettings)
    notification_mail: NotificationMailSettings = field(default_factory=NotificationMailSettings)
    grades: GradeSettings = field(default_factory=GradeSettings)
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    observability: ObservabilitySettings = field(default_factory=ObservabilitySettings)

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def flask_config(self) -> dict[str, Any]:
        """Settings in the shape Flask and its extensions read."""
        engine: dict[str, Any] = {
            "pool_pre_ping": True,
            "connect_args": {"options": _utc_session_options(self.database_url)},
        }
        if self.is_sqlite:
            engine = {"connect_args": {"timeout": 30}}
        return {
            "BOTTEGA_ENV": self.env,
            "SECRET_KEY": self.secret_key,
            "SQLALCHEMY_DATABASE_URI": self.database_url,
            "SQLALCHEMY_ENGINE_OPTIONS": engine,
            "REDIS_URL": self.redis_url,
            "DYNAMIC_REGISTRATION": self.dynamic_registration,
            "PUBLIC_URL": self.public_url,
            "KEYS_DIR": str(self.keys_dir),
            "PROXY_COUNT": self.proxy_count,
            "DEMO_MODE": self.demo,
            "TESTING": self.env == "test",
            "BABEL_DEFAULT_LOCALE": "en",
            "BABEL_TRANSLATION_DIRECTORIES": str(PROJECT_ROOT / "lti_tool" / "translations"),
            "LANGUAGES": ("en", "it"),
            "JSON_SORT_KEYS": False,
            # The tool lives in an LMS iframe: its cookie must cross sites, so it is Secure,
            # SameSite=None and Partitioned (CHIPS), which browsers keep even when they block
            # third-party cookies. Loopback http is a secure context, so this works in dev too.
            "SESSION_COOKIE_NAME": "bottega_session",
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "None",
            "SESSION_COOKIE_SECURE": True,
            "SESSION_COOKIE_PARTITIONED": True,
            "PERMANENT_SESSION_LIFETIME": 8 * 3600,
            # Sign and send the cookie only when the session changed, not on every page.
            "SESSION_REFRESH_EACH_REQUEST": False,
            # Rate limits live in Redis when there is one, so every worker shares them.
            "RATELIMIT_STORAGE_URI": self.redis_url or "memory://",
            "RATELIMIT_STRATEGY": "moving-window",
            **self.extra,
        }


def load_settings(overrides: dict[str, Any] | None = None) -> Settings:
    """Build settings from os.environ, then apply test or caller overrides."""
    env: dict[str, str] = dict(os.environ)
    overrides = dict(overrides or {})
    for name in list(overrides):
        if name in _ENV_NAMES:
            value = overrides.pop(name)
            env[name] = "" if value is None else str(value)

    mode = env.get("BOTTEGA_ENV", "development").strip().lower() or "development"
    if mode not in ENVIRONMENTS:
        raise ConfigError(f"BOTTEGA_ENV must be one of {', '.join(ENVIRONMENTS)}, got {mode!r}")
    production = mode == "production"

    instance = Path(env.get("INSTANCE_PATH") or PROJECT_ROOT / "instance").resolve()
    database_url = env.get("DATABASE_URL") or f"sqlite:///{instance / 'bottega.sqlite3'}"
    if database_url.startswith("postgres://"):
        database_url = "postgresql://" + database_url[len("postgres://") :]
    if database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://") :]
    _check_database_url(database_url)
    if database_url.startswith("sqlite:///"):
        db_file = database_url[len("sqlite:///") :]
        if db_file and db_file != ":memory:":
            Path(db_file).parent.mkdir(parents=True, exist_ok=True)

    public_url = (env.get("PUBLIC_URL") or "").rstrip("/") or None
    if public_url:
        scheme = urlsplit(public_url).scheme
        if scheme not in ("http", "https") or not urlsplit(public_url).hostname:
            raise ConfigError(f"PUBLIC_URL must be an absolute http(s) URL, got {public_url!r}")
        if production and scheme != "https" and not is_loopback_url(public_url):
            raise ConfigError("PUBLIC_URL must use https in production")
    elif production:
        raise ConfigError(
            "PUBLIC_URL is not set. In production set it to the https address LMSs reach "
            "Bottega at (e.g. https://bottega.example.org)."
        )

    redis_url = env.get("REDIS_URL") or None
    if redis_url and urlsplit(redis_url).scheme not in REDIS_SCHEMES:
        raise ConfigError(
            "REDIS_URL must be redis://HOST:PORT/DB, rediss://... or unix://PATH, "
            f"got {_scheme_only(redis_url)!r}"
        )

    demo = _flag(env.get("BOTTEGA_DEMO"), default=False)
    if production and demo:
        raise ConfigError(
            "BOTTEGA_DEMO cannot be on in production: the demo LMS is for development"
        )

    policy = (env.get("DYNAMIC_REGISTRATION") or "open").strip().lower()
    if policy not in REGISTRATION_POLICIES:
        raise ConfigError(
            f"DYNAMIC_REGISTRATION must be one of {', '.join(REGISTRATION_POLICIES)}, "
            f"got {policy!r}"
        )

    settings = Settings(
        env=mode,
        instance_path=instance,
        database_url=database_url,
        redis_url=redis_url,
        secret_key=_secret_key(env, instance, production),
        public_url=public_url,
        keys_dir=Path(env.get("KEYS_DIR") or PROJECT_ROOT / "keys").resolve(),
        # Negative, werkzeug's ProxyFix would trust the client's own X-Forwarded-* values.
        proxy_count=_int(env, "PROXY_COUNT", 0, minimum=0),
        demo=demo,
        jwks_max_age=_int(env, "JWKS_MAX_AGE", DEFAULT_JWKS_MAX_AGE, minimum=0),
        dynamic_registration=policy,
        extra=overrides,
        jobs=_job_settings(env, redis=bool(env.get("REDIS_URL")), testing=mode == "test"),
        roster=RosterSettings(
            max_age=_float(env, "ROSTER_MAX_AGE", RosterSettings.max_age),
            schedule_interval=_float(
                env, "ROSTER_SCHEDULE_INTERVAL", RosterSettings.schedule_interval
            ),
            full_every=_float(env, "ROSTER_FULL_EVERY", RosterSettings.full_every),
            page_size=max(1, _int(env, "ROSTER_PAGE_SIZE", RosterSettings.page_size)),
            max_pages=max(1, _int(env, "ROSTER_MAX_PAGES", RosterSettings.max_pages)),
        ),
        grades=GradeSettings(
            concurrency=min(64, max(1, _int(env, "GRADES_CONCURRENCY", GradeSettings.concurrency))),
            schedule_interval=_float(
                env, "GRADES_SCHEDULE_INTERVAL", GradeSettings.schedule_interval
            ),
        ),
        services=ServiceSettings(
            connect_timeout=_float(env, "HTTP_CONNECT_TIMEOUT", 3.05, 0.01),
            read_timeout=_float(env, "HTTP_READ_TIMEOUT", 10.0, 0.01),
            retries=max(0, _int(env, "HTTP_RETRIES", ServiceSettings.retries)),
            max_wait=_float(env, "HTTP_MAX_WAIT", ServiceSettings.max_wait),
            extra_hosts=tuple(
                h.strip().lower() for h in env.get("LTI_SERVICE_HOSTS", "").split(",") if h.strip()
            ),
        ),
        mail=MailSettings(
            host=env.get("SMTP_HOST") or None,
            port=_int(env, "SMTP_PORT", MailSettings.port),
            username=env.get("SMTP_USER") or None,
            password=env.get("SMTP_PASSWORD") or None,
            sender=env.get("SMTP_FROM") or MailSettings.sender,
            starttls=_flag(env.get("SMTP_STARTTLS"), default=MailSettings.starttls),
            timeout=_float(env, "SMTP_TIMEOUT", MailSettings.timeout, 0.01),
        ),
        privacy=_privacy_settings(env),
        # Off under tests unless a test asks: a periodic job would change their job counts.
        digest=DigestSettings(
            schedule_interval=_float(
                env,
                "DIGEST_SCHEDULE_INTERVAL",
                0.0 if mode == "test" else DigestSettings.schedule_interval,
            ),
        ),
        notification_mail=NotificationMailSettings(
            enabled=_flag(env.get("NOTIFY_BY_EMAIL"), default=NotificationMailSettings.enabled),
            delay=_float(env, "NOTIFY_EMAIL_DELAY", NotificationMailSettings.delay),
            gap=_float(env, "NOTIFY_EMAIL_GAP", NotificationMailSettings.gap),
            max_age=_float(env, "NOTIFY_EMAIL_MAX_AGE", NotificationMailSettings.max_age, 60.0),
            schedule_interval=_float(
                env,
                "NOTIFY_EMAIL_INTERVAL",
                0.0 if mode == "test" else NotificationMailSettings.schedule_interval,
            ),
        ),
        observability=_observability_settings(env),
    )
    if settings.is_sqlite:
        missing = sqlite_missing_features()
        if missing:
            raise ConfigError(
                f"This Python's SQLite {sqlite3.sqlite_version} lacks what Bottega needs "
                f"({missing}): search uses FTS5 and the Q&A pages JSON functions (SQLite 3.38 "
                "or newer has both). Use a Python built with a newer SQLite, or PostgreSQL "
                "(DATABASE_URL)."
            )
    if production and settings.is_sqlite:
        log.warning(
            "SQLite database in production: it serves one host only. "
            "Use PostgreSQL (DATABASE_URL) for several workers or machines."
        )
    if production and not settings.redis_url:
        log.warning(
            "REDIS_URL is not set in production: each worker process counts the posting rate "
            "limits on its own, so with N workers a member may post N times the limit. Set "
            "REDIS_URL (docs/deploy.md)."
        )
    return settings


def _scheme_only(url: str) -> str:
    """A URL as an error message may show it: its password and host stay out of the logs."""
    return url.split("://", 1)[0] + "://..." if "://" in url else url


DATABASE_BACKENDS = ("sqlite", "postgresql")


def _check_database_url(url: str) -> None:
    """SQLite or PostgreSQL: anything else fails at start in one line, not at the first query."""
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        backend = ""
    if backend not in DATABASE_BACKENDS:
        raise ConfigError(
            "DATABASE_URL must be sqlite:///PATH or postgresql://USER:PASSWORD@HOST/NAME, "
            f"got {_scheme_only(url)!r}"
        )


def _privacy_settings(env: dict[str, str]) -> PrivacySettings:
    days = _int(env, "EVENT_RETENTION_DAYS", 0)
    if days < 0:
        raise ConfigError(f"EVENT_RETENTION_DAYS must be 0 (off) or more, got {days}")
    if 0 < days < 28:
        # A shorter retention would delete events the dashboard's "this month" views count.
        raise ConfigError(f"EVENT_RETENTION_DAYS must be at least 28 (or 0: off), got {days}")
    return PrivacySettings(
        event_retention_days=days or None,
        schedule_interval=_float(
            env, "EVENT_RETENTION_INTERVAL", PrivacySettings.schedule_interval, 60.0
        ),
    )


LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _observability_settings(env: dict[str, str]) -> ObservabilitySettings:
    log_format = (env.get("LOG_FORMAT") or "text").strip().lower()
    if log_format not in LOG_FORMATS:
        raise ConfigError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}")
    level = (env.get("LOG_LEVEL") or "INFO").strip().upper()
    if level not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
    token = (env.get("METRICS_TOKEN") or "").strip() or None
    if token is not None and len(token) < 16:
        raise ConfigError("METRICS_TOKEN must be at least 16 characters long")
    folder = env.get("PROMETHEUS_MULTIPROC_DIR") or None
    return ObservabilitySettings(
        log_format=log_format,
        log_level=level,
        metrics_token=token,
        multiproc_dir=Path(folder).resolve() if folder else None,
    )


def _job_settings(env: dict[str, str], *, redis: bool, testing: bool) -> JobSettings:
    # The worker thread is on by default only where nothing else runs jobs: no Redis (so no
    # separate `jobs work` processes are expected) and not under tests (they start it explicitly).
    return JobSettings(
        in_process=_flag(env.get("JOBS_IN_PROCESS"), default=not redis and not testing),
        poll_interval=_float(env, "JOBS_POLL_INTERVAL", JobSettings.poll_interval, 0.01),
        sweep_interval=_float(env, "JOBS_SWEEP_INTERVAL", JobSettings.sweep_interval, 0.01),
        lease=_float(env, "JOBS_LEASE", JobSettings.lease, 0.01),
        timeout=_float(env, "JOBS_TIMEOUT", JobSettings.timeout, 0.01),
        max_attempts=max(1, _int(env, "JOBS_MAX_ATTEMPTS", JobSettings.max_attempts)),
        dead_after=_float(env, "JOBS_DEAD_AFTER", JobSettings.dead_after),
        backoff_base=_float(env, "JOBS_BACKOFF_BASE", JobSettings.backoff_base),
        backoff_max=_float(env, "JOBS_BACKOFF_MAX", JobSettings.backoff_max),
        keep=_float(env, "JOBS_KEEP", JobSettings.keep),
        queue=env.get("JOBS_QUEUE") or JobSettings.queue,
    )


_ENV_NAMES = frozenset(
    {
        "BOTTEGA_ENV",
        "INSTANCE_PATH",
        "DATABASE_URL",
        "REDIS_URL",
        "SECRET_KEY",
        "PUBLIC_URL",
        "KEYS_DIR",
        "JWKS_MAX_AGE",
        "PROXY_COUNT",
        "BOTTEGA_DEMO",
        "DYNAMIC_REGISTRATION",
        "JOBS_IN_PROCESS",
        "JOBS_POLL_INTERVAL",
        "JOBS_SWEEP_INTERVAL",
        "JOBS_LEASE",
        "JOBS_TIMEOUT",
        "JOBS_MAX_ATTEMPTS",
        "JOBS_DEAD_AFTER",
        "JOBS_BACKOFF_BASE",
        "JOBS_BACKOFF_MAX",
        "JOBS_KEEP",
        "JOBS_QUEUE",
        "ROSTER_MAX_AGE",
        "ROSTER_SCHEDULE_INTERVAL",
        "ROSTER_FULL_EVERY",
        "ROSTER_PAGE_SIZE",
        "ROSTER_MAX_PAGES",
        "HTTP_CONNECT_TIMEOUT",
        "HTTP_READ_TIMEOUT",
        "HTTP_RETRIES",
        "HTTP_MAX_WAIT",
        "LTI_SERVICE_HOSTS",
        "SMTP_HOST",
        "SMTP_PORT",
        "SMTP_USER",
        "SMTP_PASSWORD",
        "SMTP_FROM",
        "SMTP_STARTTLS",
        "SMTP_TIMEOUT",
        "DIGEST_SCHEDULE_INTERVAL",
        "NOTIFY_BY_EMAIL",
        "NOTIFY_EMAIL_DELAY",
        "NOTIFY_EMAIL_GAP",
        "NOTIFY_EMAIL_MAX_AGE",
        "NOTIFY_EMAIL_INTERVAL",
        "GRADES_CONCURRENCY",
        "GRADES_SCHEDULE_INTERVAL",
        "EVENT_RETENTION_DAYS",
        "EVENT_RETENTION_INTERVAL",
        "LOG_FORMAT",
        "LOG_LEVEL",
        "METRICS_TOKEN",
        "PROMETHEUS_MULTIPROC_DIR",
    }
)
