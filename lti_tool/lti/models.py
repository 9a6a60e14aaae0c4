"""LTI bookkeeping tables: pending logins (state and nonce) and cached platform key sets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.extensions import UTCDateTime, db, utcnow


class LoginState(db.Model):  # type: ignore[name-defined]
    """One OIDC login in flight (LTI 1.3 Core 5.1.1): its state, nonce and browser binding.

    A launch consumes the row atomically (``used_at`` set once), so a replayed id_token or a
    state used twice is refused even when the browser sends no cookie at all.
    """

    __tablename__ = "lti_login_state"

    state: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), unique=True)
    # A secret the browser proves it holds (cookie or platform storage): state from another
    # browser is refused.
    binding: Mapped[str] = mapped_column(String(64))
    platform_id: Mapped[int] = mapped_column(ForeignKey("platform.id", ondelete="CASCADE"))
    target_link_uri: Mapped[str] = mapped_column(Text)
    storage_target: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class KeySetCache(db.Model):  # type: ignore[name-defined]
    """The last key set fetched from a platform, kept so launches work while the LMS is down."""

    __tablename__ = "lti_key_set_cache"

    platform_id: Mapped[int] = mapped_column(
        ForeignKey("platform.id", ondelete="CASCADE"), primary_key=True
    )
    keys: Mapped[dict[str, Any]] = mapped_column(JSON)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FrameOrigin(db.Model):  # type: ignore[name-defined]
    """An origin allowed to frame Bottega's pages for one registration (CSP frame-ancestors).

    The registration's own URLs give its default origins (computed, not stored); these rows add
    origins learnt from validated launches (``learnt``: a signed launch's return URL) and
    origins an administrator added (``admin``), e.g. a Canvas school's own domain.
    """

    __tablename__ = "lti_frame_origin"

    platform_id: Mapped[int] = mapped_column(
        ForeignKey("platform.id", ondelete="CASCADE"), primary_key=True
    )
    origin: Mapped[str] = mapped_column(String(255), primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
