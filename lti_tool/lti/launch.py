"""OIDC login and launch validation: pylti1p3's Flask launch with the gaps it leaves closed.

pylti1p3 checks neither ``aud`` nor ``azp``, never consumes the nonce, accepts any algorithm a
platform key names, sets no timeout on key fetches and keeps state in cookies a blocked
third-party iframe never sends back. This module keeps its message validators and Flask
adapter and adds, each with a test: audience and authorised party, an atomically consumed
state and nonce bound to the browser (cookie or LTI Platform Storage), ``exp``/``iat`` with a
60 s leeway and a maximum age, RS256 with a ``kid`` only, a known deployment, message type and
version, a numeric ``sub`` read as text, and keys from a cached, rate-limited key set.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import itertools
import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote_plus, urlsplit

import jwt
import requests
from flask_babel import lazy_gettext as _l
from jwt import PyJWT
from jwt.api_jws import PyJWS
from jwt.exceptions import DecodeError
from pylti1p3.contrib.flask import FlaskMessageLaunch, FlaskRequest
from pylti1p3.exception import LtiException
from pylti1p3.message_validators import get_validators
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from lti_tool.config import is_loopback_url
from lti_tool.courses.models import Platform, PlatformStatus
from lti_tool.courses.services import dialect_insert
from lti_tool.extensions import utcnow
from lti_tool.lti import claims as c
from lti_tool.lti.errors import LaunchError, LoginError
from lti_tool.lti.jwks import PlatformKeys
from lti_tool.lti.models import LoginState
from lti_tool.lti.registry import DeploymentInfo, PlatformInfo, Registry
from lti_tool.lti.tool_conf import DatabaseToolConf
from lti_tool.telemetry.context import set_tenant

log = logging.getLogger(__name__)

LEEWAY = 60  # seconds of clock skew tolerated between the LMS and us
MAX_TOKEN_AGE = 600  # an id_token issued longer ago than this is stale
LOGIN_LIFETIME = timedelta(minutes=10)
STATE_COOKIE_PREFIX = "lti_state_"
# Frame names platforms use for LTI Platform Storage (Canvas and Sakai differ from the spec).
STORAGE_TARGETS = frozenset({"_parent", "_top", "post_message_forwarding"})


# -- login ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginStart:
    """Where to send the browser next, and what it must remember."""

    auth_url: str
    state: str
    binding: str
    cookie_name: str
    storage_target: str | None
    platform_origin: str
    platform_id: int


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def storage_target_from(value: str | None) -> str | None:
    """The platform's storage frame name, when it offered LTI Platform Storage."""
    if not value:
        return None
    value = value.strip()
    # Frame names are plain identifiers; anything else is ignored rather than trusted.
    if value in STORAGE_TARGETS or (
        value.replace("_", "").replace("-", "").isalnum() and len(value) <= 64
    ):
        return value
    return None


def derive_state_key(secret_key: str) -> bytes:
    """The key that signs login states, derived from the app's SECRET_KEY (shared by workers)."""
    return hmac.new(secret_key.encode(), b"bottega lti login state v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class LoginTicket:
    """A login state read back and verified: what the login recorded, signed instead of stored.

    The login writes nothing: its state carries the platform, the expiry and the storage frame
    under an HMAC, and the nonce and the browser binding are derived from it with the same key.
    The launch consumes it by inserting its row (``token`` as the key, the nonce unique), once.
    """

    state: str
    token: str
    platform_id: int
    expires_at: int
    storage_target: str | None
    nonce: str
    binding: str


def _derived(key: bytes, label: bytes, state: str, size: int = 32) -> str:
    return _b64(hmac.new(key, label + state.encode(), hashlib.sha256).digest()[:size])


def issue_state(
    key: bytes, platform_id: int, storage_target: str | None, now_ts: float
) -> LoginTicket:
    """A new signed login state (``token.platform.expiry.frame.tag``)."""
    token = secrets.token_urlsafe(16)
    expires = int(now_ts + LOGIN_LIFETIME.total_seconds())
    message = f"{token}.{platform_id}.{expires}.{storage_target or ''}"
    state = f"{message}.{_derived(key, b'state:', message, 18)}"
    return LoginTicket(
        state=state,
        token=token,
        platform_id=platform_id,
        expires_at=expires,
        storage_target=storage_target,
        nonce=_derived(key, b"nonce:", state),
        binding=_derived(key, b"binding:", state),
    )


def _same(given: str, expected: str) -> bool:
    """Constant-time equality of two texts; any characters (hmac refuses non-ASCII str)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode())


def read_state(key: bytes, state: str) -> LoginTicket | None:
    """The login behind a state, or None when the state is not one this tool signed."""
    if len(state) > 400:
        return None
    message, _, tag = state.rpartition(".")
    if not message or not _same(tag, _derived(key, b"state:", message, 18)):
        return None
    parts = message.split(".")
    if len(parts) != 4 or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    return LoginTicket(
        state=state,
        token=parts[0],
        platform_id=int(parts[1]),
        expires_at=int(parts[2]),
        storage_target=parts[3] or None,
        nonce=_derived(key, b"nonce:", state),
        binding=_derived(key, b"binding:", state),
    )


_URL_SAFE = re.compile(r"[A-Za-z0-9_.~-]*")


def query_string(query: Mapping[str, str]) -> str:
    """``urlencode(query)``, the same text, copying the names and values that need no escaping
    (most of a login's) instead of escaping them byte by byte."""
    return "&".join(
        f"{quote_plus(k) if _URL_SAFE.fullmatch(k) is None else k}="
        f"{quote_plus(v) if _URL_SAFE.fullmatch(v) is None else v}"
        for k, v in query.items()
    )


def start_login(
    session: Session,
    params: Mapping[str, str],
    *,
    redirect_uri: str,
    own_origins: frozenset[str],
    registry: Registry,
    state_key: bytes,
    now_ts: float,
) -> LoginStart:
    """Validate a third-party initiated login and sign its state and nonce (no write)."""
    iss = (params.get("iss") or "").strip()
    login_hint = params.get("login_hint") or ""
    target = (params.get("target_link_uri") or "").strip()
    client_id = (params.get("client_id") or "").strip() or None
    if not iss or not login_hint or not target:
        missing = [n for n in ("iss", "login_hint", "target_link_uri") if not params.get(n)]
        raise LoginError(
            _l("The LMS did not send everything a login needs (missing: %(names)s)."),
            names=", ".join(missing),
        )
    platform = registry.platform(session, iss, client_id)
    if platform is None:
        raise LoginError(
            _l(
                "This LMS (issuer %(iss)s, client %(client)s) is not registered with Bottega. "
                "An administrator must register it first (dynamic registration or the "
                "platform add command)."
            ),
            status=400,
            iss=iss,
            client=client_id or "?",
        )
    set_tenant(platform.id)
    check_platform_active(platform)
    if _origin(target) not in own_origins:
        raise LoginError(_l("The target link %(url)s is not an address of this tool."), url=target)
    storage_target = storage_target_from(params.get("lti_storage_target"))
    ticket = issue_state(state_key, platform.id, storage_target, now_ts)
    query = {
        "scope": "openid",
        "response_type": "id_token",
        "response_mode": "form_post",
        "prompt": "none",
        "client_id": platform.client_id,
        "redirect_uri": redirect_uri,
        "state": ticket.state,
        "nonce": ticket.nonce,
        "login_hint": login_hint,
    }
    if params.get("lti_message_hint"):
        query["lti_message_hint"] = params["lti_message_hint"]
    auth_login_url = platform.auth_login_url
    separator = "&" if "?" in auth_login_url else "?"
    return LoginStart(
        auth_url=auth_login_url + separator + query_string(query),
        state=ticket.state,
        binding=ticket.binding,
        cookie_name=STATE_COOKIE_PREFIX + ticket.token[:16],
        storage_target=storage_target,
        platform_origin=_origin(auth_login_url),
        platform_id=platform.id,
    )


_launches_since_prune = itertools.count()
PRUNE_EVERY = 200  # launches per process between two clean-ups of old login rows
KEEP_USED_FOR = timedelta(days=1)  # a replay inside a day still gets "already used"


def _maybe_prune(session: Session) -> None:
    if next(_launches_since_prune) % PRUNE_EVERY == 0:
        prune_logins(session)


def prune_logins(session: Session) -> int:
    """Delete login rows that expired more than a day ago; returns how many."""
    removed = session.execute(  # type: ignore[attr-defined]
        delete(LoginState).where(LoginState.expires_at < utcnow() - KEEP_USED_FOR)
    ).rowcount
    return int(removed or 0)


def check_platform_active(platform: PlatformInfo | Platform) -> None:
    if platform.status == PlatformStatus.PENDING:
        raise LoginError(
            _l(
                "This LMS (issuer %(iss)s) registered Bottega, and the registration is "
                "waiting for the approval of this Bottega server's administrator "
                "(flask platform approve). Launches work once it is approved."
            ),
            status=403,
            iss=platform.issuer,
        )
    if platform.status == PlatformStatus.DISABLED:
        raise LoginError(
            _l("Launches from this LMS (issuer %(iss)s) are disabled in Bottega."),
            status=403,
            iss=platform.issuer,
        )


# -- launch -----------------------------------------------------------------------------------


_PYLTI_HTTP = requests.Session()
_BASE64URL = re.compile(rb"[A-Za-z0-9_-]*")


class _RS256JWS(PyJWS):
    """PyJWT's JWS for RS256 only, checking each base64url segment with one regex.

    PyJWT tests every character of a token against the alphabet in a Python loop, which costs
    more than the RSA verification. This does the same checks (alphabet, at most two ``=``,
    a length that can be base64, and the canonical encoding) in C.
    """

    @staticmethod
    def _decode_base64url_segment(segment: bytes, name: str) -> bytes:
        stripped = segment.rstrip(b"=")
        padding = len(segment) - len(stripped)
        if (
            padding > 2
            or (padding and len(segment) % 4)
            or len(stripped) % 4 == 1
            or _BASE64URL.fullmatch(stripped) is None
        ):
            raise DecodeError(f"Invalid {name} padding")
        try:
            decoded = base64.urlsafe_b64decode(stripped + b"=" * (-len(stripped) % 4))
        except (TypeError, binascii.Error) as err:
            raise DecodeError(f"Invalid {name} padding") from err
        if base64.urlsafe_b64encode(decoded).rstrip(b"=") != stripped:
            raise DecodeError(f"Invalid {name} padding")
        return decoded


class _IdTokenJWT(PyJWT):
    """PyJWT's JWT decoder on top of _RS256JWS."""

    def __init__(self) -> None:
        super().__init__()
        self._jws = _RS256JWS(algorithms=["RS256"], options=self._jws.options)


_ID_TOKEN = _IdTokenJWT()


class StrictMessageLaunch(FlaskMessageLaunch):
    """pylti1p3's Flask launch, validated our way (see the module docstring)."""

    def __init__(
        self,
        session: Session,
        tool_conf: DatabaseToolConf,
        keys: PlatformKeys,
        form: Mapping[str, str],
    ) -> None:
        request = FlaskRequest(
            cookies={}, session={}, request_data=dict(form), request_is_secure=True
        )
        # A shared HTTP session: pylti1p3 would build a new one per launch.
        super().__init__(request, tool_conf, requests_session=_PYLTI_HTTP)
        self.db = session
        self.platform_keys = keys
        self.body: dict[str, Any] = {}

    # pylti1p3 would validate on first claim access; we validate explicitly, once.
    def validate(self) -> StrictMessageLaunch:
        raise NotImplementedError("use validate_launch()")

    def header_and_body(self) -> tuple[dict[str, Any], dict[str, Any]]:
        try:
            self.validate_jwt_format()
        except LtiException as exc:
            raise LaunchError(
                _l("The id_token is not a well-formed JWT."), detail=str(exc)
            ) from exc
        header = dict(self._jwt.get("header") or {})
        body = dict(self._jwt.get("body") or {})
        return header, body


def _error(message: Any, status: int = 400, **params: Any) -> LaunchError:
    return LaunchError(message, status=status, **params)


def validate_launch(
    session: Session,
    form: Mapping[str, str],
    *,
    tool_conf: DatabaseToolConf,
    keys: PlatformKeys,
    registry: Registry,
    state_key: bytes,
    browser_proof: str | None,
    now_ts: float,
    ticket: LoginTicket | None = None,
) -> tuple[c.Launch, LoginTicket]:
    """Validate an id_token POST and consume its login; returns the launch as plain data.

    Raises LaunchError. The login row is inserted (consumed) in the session's transaction:
    the caller commits it together with what the launch writes. ``ticket``: the form's state
    already read with ``read_state`` (it is read again when it is not that state's).
    """
    id_token = form.get("id_token") or ""
    state = form.get("state") or ""
    if not id_token:
        error = form.get("error")
        if error:
            raise _error(
                _l("The LMS refused the login: %(error)s %(description)s"),
                error=error,
                description=form.get("error_description", ""),
            )
        raise _error(_l("The launch carries no id_token."))
    if not state:
        raise _error(_l("The launch carries no state."))

    login = ticket if ticket is not None and ticket.state == state else read_state(state_key, state)
    if login is None:
        raise _error(
            _l("This launch is unknown or has expired. Open the tool again from your course.")
        )
    if login.expires_at < now_ts:
        raise _error(_l("This launch has expired. Open the tool again from your course."))
    if browser_proof is None or not _same(browser_proof, login.binding):
        if login_used(session, login):
            raise _error(_l("This launch was already used. Open the tool again from your course."))
        raise _error(
            _l(
                "This launch was started in another browser or your browser blocked the "
                "tool's cookies. Open the tool again, or in a new window."
            ),
            status=403,
        )

    launch = StrictMessageLaunch(session, tool_conf, keys, form)
    header, body = launch.header_and_body()

    # Header: RS256 and a kid only; "none" and HMAC-with-the-public-key are refused here.
    if header.get("alg") != "RS256":
        raise _error(
            _l("The id_token must be signed with RS256 (it says %(alg)s)."),
            alg=str(header.get("alg")),
        )
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise _error(_l("The id_token header has no key id (kid)."))

    iss = body.get("iss")
    if not isinstance(iss, str) or not iss:
        raise _error(_l("The id_token has no issuer (iss)."))
    aud = body.get("aud")
    audiences = [aud] if isinstance(aud, str) else list(aud) if isinstance(aud, list) else []
    platform = registry.platform_by_id(session, login.platform_id)
    if platform is not None:
        set_tenant(platform.id)
    if platform is None or platform.issuer != iss:
        raise _error(
            _l(
                "The id_token comes from issuer %(iss)s, but the login was started for another LMS."
            ),
            iss=iss,
        )
    client_id = platform.client_id
    if client_id not in audiences:
        raise _error(
            _l(
                "The id_token is not addressed to Bottega's client id %(client)s "
                "(audience: %(aud)s)."
            ),
            client=client_id,
            aud=", ".join(map(str, audiences)),
        )
    azp = body.get("azp")
    if (len(audiences) > 1 or azp is not None) and azp != client_id:
        raise _error(
            _l("The id_token's authorised party (azp) must be Bottega's client id %(client)s."),
            client=client_id,
        )
    check_platform_active(platform)

    public_key = keys.key_for(session, platform, kid)
    try:
        _ID_TOKEN.decode(
            id_token,
            public_key,
            algorithms=["RS256"],
            audience=client_id,
            issuer=iss,
            leeway=LEEWAY,
            options={
                "require": ["exp", "iat", "iss", "aud", "nonce"],
                "verify_sub": False,
                "verify_jti": False,
            },
        )
    except jwt.ExpiredSignatureError as exc:
        raise _error(
            _l("The id_token has expired. Check the LMS server's clock or open the tool again."),
            status=401,
        ) from exc
    except jwt.ImmatureSignatureError as exc:
        raise _error(
            _l("The id_token was issued in the future. Check the LMS server's clock."), status=401
        ) from exc
    except jwt.MissingRequiredClaimError as exc:
        raise _error(_l("The id_token lacks the %(claim)s claim."), claim=exc.claim) from exc
    except jwt.InvalidSignatureError as exc:
        raise _error(
            _l("The id_token signature does not verify with the LMS's key."), status=401
        ) from exc
    except jwt.InvalidTokenError as exc:
        raise _error(
            _l("The id_token is not valid: %(reason)s"), reason=str(exc), status=401
        ) from exc
    iat = body.get("iat")
    if not isinstance(iat, (int, float)) or now_ts - float(iat) > MAX_TOKEN_AGE + LEEWAY:
        raise _error(
            _l("The id_token is too old. Open the tool again from your course."), status=401
        )
    if float(iat) - now_ts > LEEWAY:
        raise _error(
            _l("The id_token was issued in the future. Check the LMS server's clock."), status=401
        )

    if body.get(c.VERSION) != "1.3.0":
        raise _error(
            _l("The launch must be LTI version 1.3.0 (it says %(version)s)."),
            version=str(body.get(c.VERSION)),
        )
    message_type = body.get(c.MESSAGE_TYPE)
    if not isinstance(message_type, str) or message_type not in c.MESSAGE_TYPES:
        raise _error(
            _l("Bottega does not handle the message type %(type)s."), type=str(message_type)
        )
    deployment_id = body.get(c.DEPLOYMENT_ID)
    if not isinstance(deployment_id, str) or not deployment_id:
        raise _error(_l("The launch has no deployment id."))
    deployment = registry.deployment(session, platform.id, deployment_id)
    if deployment is None or not deployment.active:
        raise _error(
            _l(
                "The deployment %(deployment)s of this LMS (issuer %(iss)s, client "
                "%(client)s) is not known to Bottega. Add it to the registration."
            ),
            deployment=deployment_id,
            iss=iss,
            client=client_id,
        )
    if "sub" not in body or body["sub"] in (None, ""):
        raise _error(_l("The launch does not say who the user is (no sub claim)."))
    if body.get(c.ROLES) is None or not isinstance(body.get(c.ROLES), list):
        raise _error(_l("The launch has no roles claim."))
    _check_shapes(body)
    if message_type == c.RESOURCE_LINK_REQUEST and not (body.get(c.RESOURCE_LINK) or {}).get("id"):
        raise _error(_l("The launch has no resource link id."))
    message_type = c.DATA_PRIVACY_ALIASES.get(message_type, message_type)
    if message_type == c.DATA_PRIVACY_REQUEST:
        # No resource link or course is needed; a for_user claim, when sent, names someone.
        for_user = body.get(c.FOR_USER)
        if for_user is not None and c.for_user_from(for_user) is None:
            raise _error(_l("The data privacy launch's for_user claim has no user_id."))
        if for_user is not None and not _is_id(for_user.get("user_id")):
            raise _error(_l("The launch's user id (sub) must be text of at most 255 characters."))
        body = {**body, c.MESSAGE_TYPE: message_type}
    # pylti1p3's own message validators still run (deep linking settings and so on).
    checked = {**body, "sub": str(body["sub"])}
    for validator in get_validators():
        if validator.can_validate(checked):
            try:
                validator.validate(checked)
            # Its validators index claims without checking their types first.
            except (LtiException, TypeError, AttributeError, KeyError, ValueError) as exc:
                raise _error(
                    _l("The launch message is not valid: %(reason)s"), reason=str(exc)
                ) from exc

    if message_type == c.DEEP_LINKING_REQUEST:
        _check_return_url(body.get(c.DEEP_LINKING_SETTINGS))
    if not _same(str(body.get("nonce")), login.nonce):
        raise _error(_l("The id_token's nonce does not match this login."), status=401)
    # Consume the login exactly once, atomically: a replayed id_token finds it used.
    target = body.get(c.TARGET_LINK_URI)
    if not consume_login(session, login, target if isinstance(target, str) else "", now_ts):
        session.rollback()
        raise _error(_l("This launch was already used. Open the tool again from your course."))
    _maybe_prune(session)
    return _to_launch(platform, deployment, body, target if isinstance(target, str) else ""), login


def _check_return_url(settings: object) -> None:
    """The deep linking answer is posted from the instructor's browser to this address: an
    absolute https URL (http only on loopback, for development), nothing a browser would run or
    post to this page instead."""
    url = settings.get("deep_link_return_url") if isinstance(settings, dict) else None
    parts = urlsplit(url) if isinstance(url, str) else None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or (parts.scheme == "http" and not is_loopback_url(str(url)))
    ):
        raise _error(
            _l(
                "The LMS's deep linking request has no valid return address (an https URL): "
                "Bottega could not send your choice back. Ask your LMS administrator."
            )
        )


MAX_ID_LENGTH = 255  # LTI 1.3 core: sub, context id and resource link id are at most 255


def _is_id(value: Any) -> bool:
    """A usable identifier: text or a whole number (some LMSs send numbers), not too long."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return False
    return 0 < len(str(value)) <= MAX_ID_LENGTH


def _check_shapes(body: dict[str, Any]) -> None:
    """Refuse claims of the wrong type or size that the launch would store (signed or not,
    an LMS bug must be a clear 400, never a 500 or a column overflow)."""
    if not _is_id(body["sub"]):
        raise _error(_l("The launch's user id (sub) must be text of at most 255 characters."))
    for claim, name in ((c.CONTEXT, "context"), (c.RESOURCE_LINK, "resource_link")):
        value = body.get(claim)
        if value is None:
            continue
        if not isinstance(value, dict) or ("id" in value and not _is_id(value["id"])):
            raise _error(
                _l(
                    "The launch's %(claim)s claim must be an object with an id of at most 255 "
                    "characters."
                ),
                claim=name,
            )


def login_used(session: Session, login: LoginTicket) -> bool:
    """Whether a launch already consumed this login (read only on the refusal path)."""
    return (
        session.execute(select(LoginState.used_at).where(LoginState.state == login.token)).first()
        is not None
    )


_CONSUME: dict[str, Any] = {}


def _consume_statement(session: Session, dialect: str) -> Any:
    stmt = _CONSUME.get(dialect)
    if stmt is None:
        table = LoginState.__table__
        stmt = _CONSUME[dialect] = (
            dialect_insert(session, table).on_conflict_do_nothing().returning(table.c.state)
        )
    return stmt


def consume_login(session: Session, login: LoginTicket, target: str, now_ts: float) -> bool:
    """Record the login as used; False when it already was (its state or nonce is taken)."""
    now = datetime.fromtimestamp(now_ts, UTC)
    connection = session.connection()
    result = connection.execute(
        _consume_statement(session, connection.dialect.name),
        {
            "state": login.token,
            "nonce": login.nonce,
            "binding": "",
            "platform_id": login.platform_id,
            "target_link_uri": target[:2000],
            "storage_target": login.storage_target,
            "created_at": now,
            "expires_at": datetime.fromtimestamp(login.expires_at, UTC),
            "used_at": now,
        },
    )
    return result.first() is not None


def _to_launch(
    platform: PlatformInfo, deployment: DeploymentInfo, body: dict[str, Any], target: str
) -> c.Launch:
    custom_raw = body.get(c.CUSTOM)
    custom = {str(k): str(v) for k, v in custom_raw.items()} if isinstance(custom_raw, dict) else {}
    context = body.get(c.CONTEXT) if isinstance(body.get(c.CONTEXT), dict) else None
    link = body.get(c.RESOURCE_LINK) if isinstance(body.get(c.RESOURCE_LINK), dict) else None
    privacy = body.get(c.MESSAGE_TYPE) == c.DATA_PRIVACY_REQUEST
    if privacy:  # about a person, not a course: no enrolment or placement is recorded
        context = link = None
    presentation = body.get(c.LAUNCH_PRESENTATION)
    presentation = presentation if isinstance(presentation, dict) else {}
    services: dict[str, Any] = {}
    if isinstance(body.get(c.NRPS), dict):
        services["nrps"] = body[c.NRPS]
    if isinstance(body.get(c.AGS), dict):
        services["ags"] = body[c.AGS]
    deep_linking = None
    settings = body.get(c.DEEP_LINKING_SETTINGS)
    if isinstance(settings, dict):
        deep_linking = c.DeepLinkRequest(
            return_url=str(settings.get("deep_link_return_url", "")),
            data=settings.get("data"),
            accept_multiple=_claim_flag(settings.get("accept_multiple"), default=False),
            accept_line_item=_claim_flag(settings.get("accept_lineitem"), default=True),
            title=str(settings.get("title") or ""),
        )
    return c.Launch(
        platform_id=platform.id,
        deployment_pk=deployment.id,
        deployment_id=deployment.deployment_id,
        issuer=platform.issuer,
        client_id=platform.client_id,
        message_type=str(body[c.MESSAGE_TYPE]),
        user=c.user_from(body),
        roles=tuple(str(r) for r in body.get(c.ROLES) or [] if isinstance(r, str)),
        course=c.LmsCourse(
            lms_id=str(context["id"]),
            title=str(context.get("title") or ""),
            label=str(context.get("label") or "")[:255],
        )
        if context and context.get("id")
        else None,
        placement=c.LmsPlacement(lms_id=str(link["id"]), title=str(link.get("title") or ""))
        if link and link.get("id")
        else None,
        widget=c.widget_from(custom),
        custom=custom,
        locale=c.locale_text(presentation.get("locale")),
        return_url=str(presentation.get("return_url")) if presentation.get("return_url") else None,
        target_link_uri=target,
        services=services,
        deep_linking=deep_linking,
        for_user=c.for_user_from(body.get(c.FOR_USER)) if privacy else None,
    )


def _claim_flag(value: Any, *, default: bool) -> bool:
    """A boolean of the deep linking settings claim: JSON true/false, or the strings "true" and
    "false" some platforms send (``bool("false")`` would be true)."""
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1")
    return value is True or value == 1
