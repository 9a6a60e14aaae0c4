"""An LTI 1.3 platform (the LMS side) written from the 1EdTech specs, to test Bottega and demo it.

It is an independent peer: it imports nothing from lti_tool nor pylti1p3 (only Flask, PyJWT,
cryptography and requests), so a misreading of the specs shared with the tool cannot hide.
Tests drive the ``Platform`` object found at ``app.extensions["lti_platform"]``::

    with serve_platform() as server:  # a real socket; server.url is the issuer
        platform = server.platform
        platform.register_tool("tool-1", login_url=..., redirect_uris=[...], jwks_url=...)
        launch = platform.prepare_launch("tool-1", user={"sub": "42"}, roles=[ROLE_LEARNER])
        # a browser follows launch.login_url; the tool redirects it to <issuer>/auth

Routes are relative to the app root and every absolute URL is built as ``issuer + path``, so the
app also works mounted under a prefix (then the issuer includes the prefix, e.g. ``.../demo/lms``).
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import hmac
import json
import os
import random
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final
from urllib.parse import quote, urlencode, urlsplit
from wsgiref.types import WSGIApplication

import jwt
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from flask import Flask, Response, jsonify, request, url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup
from werkzeug.serving import BaseWSGIServer, make_server

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
MESSAGE_TYPE = LTI + "message_type"
VERSION = LTI + "version"
DEPLOYMENT_ID = LTI + "deployment_id"
TARGET_LINK_URI = LTI + "target_link_uri"
RESOURCE_LINK = LTI + "resource_link"
ROLES = LTI + "roles"
CONTEXT = LTI + "context"
CUSTOM = LTI + "custom"
LAUNCH_PRESENTATION = LTI + "launch_presentation"
TOOL_PLATFORM = LTI + "tool_platform"
NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"
DL_SETTINGS = DL + "deep_linking_settings"
DL_CONTENT_ITEMS = DL + "content_items"
DL_DATA = DL + "data"
TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"
NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
AGS_SCOPES = tuple(
    "https://purl.imsglobal.org/spec/lti-ags/scope/" + name
    for name in ("lineitem", "lineitem.readonly", "result.readonly", "score")
)
SUPPORTED_SCOPES: tuple[str, ...] = (*AGS_SCOPES, NRPS_SCOPE)
NRPS_MEDIA_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
AGS_LINEITEM, AGS_LINEITEM_READONLY, AGS_RESULT_READONLY, AGS_SCORE = AGS_SCOPES
LINEITEM_MEDIA_TYPE = "application/vnd.ims.lis.v2.lineitem+json"
LINEITEMS_MEDIA_TYPE = "application/vnd.ims.lis.v2.lineitemcontainer+json"
SCORE_MEDIA_TYPE = "application/vnd.ims.lis.v1.score+json"
RESULTS_MEDIA_TYPE = "application/vnd.ims.lis.v2.resultcontainer+json"
ACTIVITY_PROGRESS = frozenset({"Initialized", "Started", "InProgress", "Submitted", "Completed"})
GRADING_PROGRESS = frozenset({"FullyGraded", "Pending", "PendingManual", "Failed", "NotReady"})
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ROLE_INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
ROLE_LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
RESOURCE_LINK_REQUEST = "LtiResourceLinkRequest"
DEEP_LINKING_REQUEST = "LtiDeepLinkingRequest"
USER_CLAIMS = ("name", "given_name", "family_name", "email", "picture", "locale")
ID_TOKEN_LIFETIME = 300
ACCESS_TOKEN_LIFETIME = 3600
MOODLE_VERSION = "4.3.2 (Build: 20231211)"
MOODLE_VARIABLES = (
    "Context.id Context.title Context.label CourseSection.title ResourceLink.id ResourceLink.title"
    " User.id User.username Person.name.full Person.name.given Person.name.family"
    " Person.email.primary Membership.role"
)
_LEEWAY = 5  # seconds of clock skew accepted on the tool's tokens


class _Remove:
    def __repr__(self) -> str:
        return "REMOVE"


REMOVE: Final = _Remove()
"""In ``Tamper.claims`` / ``Tamper.headers``: delete that entry instead of setting it."""


class PlatformError(ValueError):
    """A refused request: an OAuth/OIDC error code, a reason and the HTTP status to answer."""

    def __init__(self, code: str, description: str, status: int = 400) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.status = status


@dataclass
class Tamper:
    """How to break one id_token, for the certification suite's negative cases."""

    claims: dict[str, Any] = field(default_factory=dict)  # merged last, top level; REMOVE deletes
    headers: dict[str, Any] = field(default_factory=dict)  # e.g. {"kid": REMOVE}
    alg: str = "RS256"  # "none": unsigned; "HS256": HMAC keyed with our public key PEM
    sign_with_other_key: bool = False  # a key the JWKS does not list, under the usual kid
    exp_offset: int = 0  # seconds added to the normal exp (now + 300)
    iat_offset: int = 0  # seconds added to the normal iat (now)
    nonce: str | None = None  # replaces the nonce the tool sent
    aud: str | list[str] | None = None
    azp: str | None = None


SERVICES: Final = ("jwks", "token", "nrps", "lineitems", "scores")
"""The services a tool calls, as ``Platform.faults`` names them (lineitems: every AGS call but
score POSTs, i.e. line items and results)."""
_GARBAGE_JSON = '{"keys": [{"kty": "RSA", "n": "truncated'  # cut mid-document, as a proxy may
_HTML_ERROR = (
    "<!doctype html><html><head><title>502 Bad Gateway</title></head><body>"
    "<h1>Bad Gateway</h1><p>The LMS is being upgraded. Please try again later.</p>"
    "<hr><address>nginx</address></body></html>"
)


@dataclass
class Fault:
    """How one service misbehaves until healed (``Platform.faults[service] = Fault(...)``).

    ``body``: "json" (an OAuth-style error object), "garbage" (a JSON media type and a truncated
    document), "html" (an HTML error page, as a proxy in front of the LMS answers). ``status``
    None with ``hang`` only delays the request, which is then served normally. ``hang`` waits
    that many seconds, or until ``Platform.heal`` is called. ``stall``: the status line and
    headers go out at once, the body stops halfway for that many seconds (or until healed).
    ``times`` limits how many requests fail (None: every one until healed).
    """

    status: int | None = 503
    body: str = "json"
    retry_after: str | None = None
    hang: float = 0.0
    times: int | None = None
    stall: float = 0.0

    @classmethod
    def garbage(cls, **kwargs: Any) -> Fault:
        return cls(status=200, body="garbage", **kwargs)

    @classmethod
    def html(cls, status: int = 502, **kwargs: Any) -> Fault:
        return cls(status=status, body="html", **kwargs)

    @classmethod
    def hanging(cls, seconds: float = 30.0, **kwargs: Any) -> Fault:
        return cls(status=None, hang=seconds, **kwargs)

    @classmethod
    def stalled(cls, status: int = 503, seconds: float = 30.0, **kwargs: Any) -> Fault:
        return cls(status=status, stall=seconds, **kwargs)

    def response(self, healed: threading.Event | None = None) -> Response:
        """The answer this fault gives (after its hang)."""
        assert self.status is not None
        if self.stall:
            document = {"error": "temporarily_unavailable", "error_description": "stalled"}
            whole = json.dumps(document).encode()
            wait = (healed or threading.Event()).wait

            def halves() -> Iterator[bytes]:
                yield whole[: len(whole) // 2]
                wait(self.stall)
                yield whole[len(whole) // 2 :]

            response = Response(halves(), self.status, mimetype="application/json")
        elif self.body == "garbage":
            response = Response(_GARBAGE_JSON, self.status, mimetype="application/json")
        elif self.body == "html":
            response = Response(_HTML_ERROR, self.status, mimetype="text/html")
        else:
            error = "temporarily_unavailable" if self.status >= 500 else "simulated_failure"
            body = json.dumps({"error": error, "error_description": "a simulated failure"})
            response = Response(body, self.status, mimetype="application/json")
        if self.retry_after is not None:
            response.headers["Retry-After"] = self.retry_after
        return response


@dataclass
class ToolRegistration:
    """One tool as the platform knows it (a Moodle "external tool type")."""

    client_id: str
    login_url: str
    redirect_uris: list[str]
    jwks_url: str
    deployment_ids: list[str]
    deep_link_url: str | None = None
    target_link_uri: str | None = None
    status: str = "active"  # "pending" after dynamic registration, until activate()
    scopes: tuple[str, ...] = SUPPORTED_SCOPES
    name: str = ""


@dataclass(frozen=True)
class PreparedLaunch:
    """A launch waiting for the tool's OIDC authentication request."""

    client_id: str
    deployment_id: str
    login_hint: str
    message_hint: str
    target_link_uri: str
    login_url: str
    login_params: dict[str, str]
    claims: dict[str, Any]  # message claims; iss, aud, azp, exp, iat, nonce are added at /auth
    tamper: Tamper | None = None


@dataclass(frozen=True)
class AuthResponse:
    """What /auth posts back to the tool."""

    redirect_uri: str
    id_token: str
    state: str | None
    claims: dict[str, Any]


@dataclass(frozen=True)
class AccessToken:
    """An OAuth2 access token issued by /token."""

    client_id: str
    scopes: frozenset[str]
    expires_at: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64int(value: int) -> str:
    return _b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def _b64json(value: Mapping[str, Any]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


@dataclass(frozen=True)
class PlatformKey:
    """One RSA key pair; kid is the RFC 7638 thumbprint."""

    kid: str
    private_key: rsa.RSAPrivateKey

    @classmethod
    def generate(cls) -> PlatformKey:
        return cls.of(rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @classmethod
    def of(cls, private: rsa.RSAPrivateKey) -> PlatformKey:
        numbers = private.public_key().public_numbers()
        members = {"e": _b64int(numbers.e), "kty": "RSA", "n": _b64int(numbers.n)}
        canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
        return cls(_b64(hashlib.sha256(canonical).digest()), private)

    @classmethod
    def from_pem(cls, pem: bytes) -> PlatformKey:
        private = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(private, rsa.RSAPrivateKey):
            raise ValueError("the PEM does not hold an RSA private key")
        return cls.of(private)

    @classmethod
    def load_or_create(cls, path: Path) -> PlatformKey:
        """The key stored at ``path`` (PKCS#8 PEM), created atomically the first time, so that
        tools caching the platform's key set keep trusting it across restarts."""
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(cls.generate().private_pem)
            try:
                os.link(tmp, path)  # atomic, and fails if another process won the race
            except FileExistsError:
                pass
            finally:
                tmp.unlink(missing_ok=True)
        return cls.from_pem(path.read_bytes())

    @property
    def private_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def public_jwk(self) -> dict[str, str]:
        numbers = self.private_key.public_key().public_numbers()
        return {
            "kty": "RSA",
            "e": _b64int(numbers.e),
            "n": _b64int(numbers.n),
            "kid": self.kid,
            "alg": "RS256",
            "use": "sig",
        }


def encode_jws(
    header: Mapping[str, Any], payload: Mapping[str, Any], key: PlatformKey, alg: str = "RS256"
) -> str:
    """A compact JWS, hand-made so that any header (even a lying one) can be produced."""
    signing_input = f"{_b64json(header)}.{_b64json(payload)}"
    data = signing_input.encode("ascii")
    if alg == "none":
        signature = b""
    elif alg == "RS256":
        signature = key.private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "HS256":
        signature = hmac.new(key.public_pem, data, hashlib.sha256).digest()
    else:
        raise ValueError(f"unsupported alg {alg!r}")
    return f"{signing_input}.{_b64(signature)}"


def _fetch_json(url: str) -> Any:
    response = requests.get(url, timeout=5)
    response.raise_for_status()
    return response.json()


def _is_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _bearer(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def validate_registration(body: Any) -> dict[str, Any]:
    """The client registration request, checked as LTI Dynamic Registration 1.0 §3.5 asks."""

    def fail(reason: str, code: str = "invalid_client_metadata") -> PlatformError:
        return PlatformError(code, reason)

    if not isinstance(body, dict):
        raise fail("the body must be a JSON object")
    if body.get("application_type") != "web":
        raise fail('application_type must be "web"')
    grants = body.get("grant_types")
    if not _str_list(grants) or not {"client_credentials", "implicit"} <= set(grants or ()):
        raise fail("grant_types must include client_credentials and implicit")
    if not _str_list(body.get("response_types")) or "id_token" not in body["response_types"]:
        raise fail('response_types must be ["id_token"]')
    uris = body.get("redirect_uris")
    if not _str_list(uris) or not uris or not all(_is_url(uri) for uri in uris):
        raise fail("redirect_uris must be a non-empty list of URLs", "invalid_redirect_uri")
    for name in ("initiate_login_uri", "jwks_uri"):
        if not _is_url(body.get(name)):
            raise fail(f"{name} must be an absolute URL")
    if body.get("token_endpoint_auth_method") != "private_key_jwt":
        raise fail('token_endpoint_auth_method must be "private_key_jwt"')
    if not isinstance(body.get("scope"), str):
        raise fail("scope must be a space separated string")
    config = body.get(TOOL_CONFIGURATION)
    if not isinstance(config, dict):
        raise fail(f"{TOOL_CONFIGURATION} must be an object")
    if not isinstance(config.get("domain"), str) or not config["domain"]:
        raise fail("the tool configuration needs a domain")
    if not _is_url(config.get("target_link_uri")):
        raise fail("the tool configuration needs an absolute target_link_uri")
    if not _str_list(config.get("claims")):
        raise fail("the tool configuration needs a list of claims")
    messages = config.get("messages")
    if not isinstance(messages, list) or not all(
        isinstance(m, dict) and isinstance(m.get("type"), str) for m in messages
    ):
        raise fail("the tool configuration's messages must be objects with a type")
    return body


class Platform:
    """The platform's state and behaviour; every public dict is guarded by ``lock``."""

    def __init__(
        self, issuer: str, *, name: str = "Bottega demo LMS", key: PlatformKey | None = None
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.name = name
        self.guid = str(uuid.uuid4())
        self.lock = threading.RLock()
        # Newest first; [0] signs. A given key (e.g. loaded from disk) survives restarts.
        self.keys: list[PlatformKey] = [key or PlatformKey.generate()]
        self.tools: dict[str, ToolRegistration] = {}
        self.launches: dict[str, PreparedLaunch] = {}
        self.contexts: dict[str, dict[str, Any]] = {}
        self.rosters: dict[str, list[dict[str, Any]]] = {}
        self.registrations: dict[str, dict[str, Any]] = {}  # client_id -> request received
        self.registration_tokens: set[str] = set()
        self.deep_link_results: list[dict[str, Any]] = []  # verified response claims
        self.access_tokens: dict[str, AccessToken] = {}
        self.last_auth: AuthResponse | None = None
        self.jwks_requests = 0
        self.token_requests = 0
        self.jwks_failure: int | None = None
        self.jwks_delay = 0.0
        # A misbehaving key set: sent a byte every ``jwks_drip`` seconds (no read ever waits
        # long, the whole takes minutes); ``jwks_padding`` characters of filler in the document.
        self.jwks_drip = 0.0
        self.jwks_padding = 0
        self.token_failure: int | None = None
        # How tool JWKS are fetched; tests may route it through a test client instead.
        self.fetch_json: Callable[[str], Any] = _fetch_json
        self._other_key: PlatformKey | None = None
        self._dl_data: dict[str, str] = {}  # data sent in deep linking settings -> client_id
        self._dl_context: dict[str, str] = {}  # data sent in deep linking settings -> context id
        # Assignment and Grade Services: line items by id, and every score each took, in order.
        self.line_items: dict[str, dict[str, Any]] = {}
        self.link_line_items: dict[tuple[str, str], str] = {}  # (context, resource link) -> id
        self.placed_links: list[dict[str, Any]] = []  # resource links made by deep linking
        self.scores: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (item, user) -> taken
        self.score_requests = 0  # score POSTs received, answered or failed
        self.score_failures = 0  # of which failed on purpose (the failure rate)
        # Misbehaviour switches for the grade service: a share of score POSTs answered with one
        # of ``ags_failure_statuses`` (429 with Retry-After), a delay on every AGS request, and
        # ``ags_hang``: while it is an unset Event, AGS requests wait for it (up to 30 s).
        self.ags_failure_rate = 0.0
        self.ags_failure_statuses: tuple[int, ...] = (500, 503, 429)
        self.ags_retry_after = "1"
        self.ags_latency = 0.0
        self.ags_hang: threading.Event | None = None
        # Fault injection: the next line item POSTs are created, then answered with this status
        # (a gateway that times out after the LMS did the work), this many times.
        self.lineitem_create_failures = 0
        self.lineitem_create_status = 502
        self.lineitem_posts = 0
        self.ags_random = random.Random(7)  # noqa: S311 (reproducible failures, not secrets)
        # Faults by service (see ``Fault``, ``SERVICES``), what each service was asked, and
        # every score POST received with the status answered, in order, for exactly-once checks.
        self.faults: dict[str, Fault] = {}
        self.service_requests: dict[str, int] = dict.fromkeys(SERVICES, 0)
        self.score_log: list[dict[str, Any]] = []
        self._healed = threading.Event()
        self._dl_nonces: set[str] = set()
        self._seen_jti: dict[tuple[str, str], float] = {}
        # Message types the OpenID configuration lists (Moodle lists these two).
        self.messages_supported: list[str] = [RESOURCE_LINK_REQUEST, DEEP_LINKING_REQUEST]
        self.token_jtis: list[str] = []  # the jti of every client assertion /token verified
        self.auth_url = self.issuer + "/auth"
        self.token_url = self.issuer + "/token"
        self.jwks_url = self.issuer + "/jwks"
        self.registration_url = self.issuer + "/register"
        self.openid_configuration_url = self.issuer + "/.well-known/openid-configuration"
        self.deep_link_return_url = self.issuer + "/deep_link_return"

    # -- URLs, keys ------------------------------------------------------------------------

    def memberships_url(self, context_id: str) -> str:
        return f"{self.issuer}/nrps/{quote(context_id, safe='')}"

    @property
    def signing_key(self) -> PlatformKey:
        with self.lock:
            return self.keys[0]

    def rotate_key(self) -> str:
        """A new signing key; older keys stay in the JWKS. Returns the new kid."""
        key = PlatformKey.generate()
        with self.lock:
            self.keys.insert(0, key)
        return key.kid

    def drop_key(self, kid: str) -> None:
        """Stop publishing a key (not the signing one)."""
        with self.lock:
            if self.keys[0].kid == kid:
                raise ValueError("the signing key cannot be dropped")
            self.keys = [k for k in self.keys if k.kid != kid]

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        with self.lock:
            return {"keys": [k.public_jwk() for k in self.keys]}

    def _unpublished_key(self) -> PlatformKey:
        with self.lock:
            if self._other_key is None:
                self._other_key = PlatformKey.generate()
            return self._other_key

    @property
    def last_id_token(self) -> str | None:
        with self.lock:
            return self.last_auth.id_token if self.last_auth else None

    # -- tools -----------------------------------------------------------------------------
    def register_tool(
        self,
        client_id: str,
        *,
        login_url: str,
        redirect_uris: Sequence[str],
        jwks_url: str,
        deployment_ids: Sequence[str] = ("1",),
        deep_link_url: str | None = None,
        target_link_uri: str | None = None,
        status: str = "active",
    ) -> ToolRegistration:
        """Register a tool by hand, as an LMS admin would."""
        if not redirect_uris:
            raise ValueError("a tool needs at least one redirect URI")
        tool = ToolRegistration(
            client_id=client_id,
            login_url=login_url,
            redirect_uris=list(redirect_uris),
            jwks_url=jwks_url,
            deployment_ids=list(deployment_ids),
            deep_link_url=deep_link_url,
            target_link_uri=target_link_uri,
            status=status,
        )
        with self.lock:
            self.tools[client_id] = tool
        return tool

    def activate(self, client_id: str) -> None:
        """What a Moodle admin does after a dynamic registration: allow launches."""
        with self.lock:
            self.tools[client_id].status = "active"

    def _active_tool(self, client_id: Any) -> ToolRegistration:
        with self.lock:
            tool = self.tools.get(client_id) if isinstance(client_id, str) else None
        if tool is None:
            raise PlatformError("unauthorized_client", "unknown client_id")
        if tool.status != "active":
            raise PlatformError("unauthorized_client", "the tool is pending activation")
        return tool

    # -- launches --------------------------------------------------------------------------
    def prepare_launch(
        self,
        client_id: str,
        *,
        deployment_id: str = "1",
        user: Mapping[str, Any] | None = None,
        roles: Sequence[str] | None = None,
        context: Mapping[str, Any] | None = None,
        resource_link: Mapping[str, Any] | None = None,
        custom: Mapping[str, Any] | None = None,
        message_type: str = RESOURCE_LINK_REQUEST,
        target_link_uri: str | None = None,
        launch_presentation: Mapping[str, Any] | None = None,
        nrps: bool = False,
        ags: Mapping[str, Any] | None = None,
        deep_linking_settings: Mapping[str, Any] | None = None,
        tamper: Tamper | None = None,
        storage_target: str | None = None,
    ) -> PreparedLaunch:
        """Store a launch and build the tool's login URL (OIDC third-party initiated login).

        ``user=None`` is an anonymous launch (no sub). ``roles=None`` omits the roles claim.
        A resource link launch without ``resource_link`` gets a generated one. The
        deployment id is not checked, so tests can launch with one the tool does not know.
        """
        tool = self._active_tool(client_id)
        user = dict(user or {})
        deep_linking = message_type == DEEP_LINKING_REQUEST
        target = (
            target_link_uri
            or (tool.deep_link_url if deep_linking else None)
            or tool.target_link_uri
            or tool.redirect_uris[0]
        )
        claims: dict[str, Any] = {
            MESSAGE_TYPE: message_type,
            VERSION: "1.3.0",
            DEPLOYMENT_ID: deployment_id,
            TARGET_LINK_URI: target,
            TOOL_PLATFORM: {
                "guid": self.guid,
                "name": self.name,
                "product_family_code": "bottega-demo",
                "version": "1.0",
            },
        }
        claims.update({name: user[name] for name in ("sub", *USER_CLAIMS) if name in user})
        optional: dict[str, Any] = {
            ROLES: roles,
            CONTEXT: context,
            CUSTOM: custom,
            LAUNCH_PRESENTATION: launch_presentation,
            AGS_CLAIM: ags,
        }
        claims.update(
            {
                k: copy.deepcopy(list(v) if k == ROLES else dict(v))
                for k, v in optional.items()
                if v is not None
            }
        )
        if message_type == RESOURCE_LINK_REQUEST or resource_link is not None:
            claims[RESOURCE_LINK] = dict(resource_link or {"id": "rl-" + secrets.token_hex(6)})
        if nrps:
            if context is None or "id" not in context:
                raise ValueError("an NRPS claim needs a context with an id")
            claims[NRPS_CLAIM] = {
                "context_memberships_url": self.memberships_url(str(context["id"])),
                "service_versions": ["2.0"],
            }
        if deep_linking:
            settings: dict[str, Any] = {
                "deep_link_return_url": self.deep_link_return_url,
                "accept_types": ["ltiResourceLink"],
                "accept_presentation_document_targets": ["iframe", "window"],
                "accept_multiple": True,
                "auto_create": True,
                "data": "dl-" + secrets.token_urlsafe(16),
                **(deep_linking_settings or {}),
            }
            claims[DL_SETTINGS] = settings
        login_hint = str(user["sub"]) if "sub" in user else "anonymous-" + secrets.token_hex(6)
        message_hint = secrets.token_urlsafe(24)
        params = {
            "iss": self.issuer,
            "login_hint": login_hint,
            "target_link_uri": target,
            "lti_message_hint": message_hint,
            "client_id": client_id,
            "lti_deployment_id": deployment_id,
        }
        if storage_target is not None:
            params["lti_storage_target"] = storage_target
        separator = "&" if "?" in tool.login_url else "?"
        launch = PreparedLaunch(
            client_id=client_id,
            deployment_id=deployment_id,
            login_hint=login_hint,
            message_hint=message_hint,
            target_link_uri=target,
            login_url=tool.login_url + separator + urlencode(params),
            login_params=params,
            claims=claims,
            tamper=tamper,
        )
        with self.lock:
            self.launches[message_hint] = launch
            if context is not None and "id" in context:
                self.contexts[str(context["id"])] = dict(context)
            if deep_linking and isinstance(claims[DL_SETTINGS].get("data"), str):
                self._dl_data[claims[DL_SETTINGS]["data"]] = client_id
                if context is not None and "id" in context:
                    self._dl_context[claims[DL_SETTINGS]["data"]] = str(context["id"])
        return launch

    def authorize(self, params: Mapping[str, str]) -> AuthResponse:
        """The OIDC authentication request (LTI 1.3 core §5.1.1.2) answered with an id_token."""
        tool = self._active_tool(params.get("client_id"))
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in tool.redirect_uris:
            raise PlatformError("invalid_request", "redirect_uri is not registered for this tool")
        if "openid" not in params.get("scope", "").split():
            raise PlatformError("invalid_scope", "scope must be openid")
        if params.get("response_type") != "id_token":
            raise PlatformError("unsupported_response_type", "response_type must be id_token")
        if params.get("response_mode") != "form_post":
            raise PlatformError("invalid_request", "response_mode must be form_post")
        if params.get("prompt") != "none":
            raise PlatformError("invalid_request", "prompt must be none")
        nonce = params.get("nonce", "")
        if not nonce:
            raise PlatformError("invalid_request", "nonce is required")
        with self.lock:
            launch = self.launches.get(params.get("lti_message_hint", ""))
        if (
            launch is None
            or launch.client_id != tool.client_id
            or params.get("login_hint") != launch.login_hint
        ):
            raise PlatformError("login_required", "login_hint and lti_message_hint match no launch")
        id_token, claims = self._id_token(launch, nonce)
        response = AuthResponse(redirect_uri, id_token, params.get("state"), claims)
        with self.lock:
            self.last_auth = response
        return response

    def _id_token(self, launch: PreparedLaunch, nonce: str) -> tuple[str, dict[str, Any]]:
        tamper = launch.tamper or Tamper()
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": launch.client_id if tamper.aud is None else tamper.aud,
            "azp": tamper.azp or launch.client_id,
            "exp": now + ID_TOKEN_LIFETIME + tamper.exp_offset,
            "iat": now + tamper.iat_offset,
            "nonce": nonce if tamper.nonce is None else tamper.nonce,
            **copy.deepcopy(launch.claims),
        }
        key = self.signing_key
        header: dict[str, Any] = {"typ": "JWT", "alg": tamper.alg, "kid": key.kid}
        for target, changes in ((claims, tamper.claims), (header, tamper.headers)):
            for name, value in changes.items():
                if value is REMOVE:
                    target.pop(name, None)
                else:
                    target[name] = value
        signer = self._unpublished_key() if tamper.sign_with_other_key else key
        return encode_jws(header, claims, signer, tamper.alg), claims

    # -- verifying what the tool signs -----------------------------------------------------
    def verify_tool_jwt(
        self, token: str, *, audience: Sequence[str], require: Sequence[str] = ()
    ) -> tuple[ToolRegistration, dict[str, Any]]:
        """Check a JWT the tool signed (iss = its client_id) against its JWKS, fetched now."""
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise PlatformError("invalid_client", f"malformed JWT: {exc}", 401) from exc
        if header.get("alg") != "RS256":
            raise PlatformError("invalid_client", "the JWT must be signed with RS256", 401)
        try:
            tool = self._active_tool(unverified.get("iss"))
        except PlatformError as exc:
            raise PlatformError("invalid_client", f"iss: {exc.description}", 401) from exc
        try:
            jwks = self.fetch_json(tool.jwks_url)
            if not isinstance(jwks, dict):
                raise ValueError("the JWKS is not a JSON object")
            keys = jwt.PyJWKSet.from_dict(jwks).keys
        except (requests.RequestException, ValueError, jwt.PyJWTError) as exc:
            raise PlatformError(
                "invalid_client", f"cannot use the tool's JWKS: {exc}", 401
            ) from exc
        kid = header.get("kid")
        matches = [k for k in keys if k.key_id == kid] if kid else keys
        if len(matches) != 1:
            raise PlatformError("invalid_client", f"no single key for kid {kid!r} in the JWKS", 401)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                matches[0].key,
                algorithms=["RS256"],
                audience=list(audience),
                leeway=_LEEWAY,
                options={"require": ["iss", "aud", "exp", "iat", *require]},
            )
        except jwt.PyJWTError as exc:
            raise PlatformError("invalid_client", f"JWT rejected: {exc}", 401) from exc
        return tool, claims

    def receive_deep_link(self, token: str) -> dict[str, Any]:
        """Verify an LtiDeepLinkingResponse (Deep Linking 2.0 §4.2) and store its claims."""
        try:
            tool, claims = self.verify_tool_jwt(token, audience=[self.issuer], require=["nonce"])
        except PlatformError as exc:
            raise PlatformError(exc.code, exc.description, 400) from exc

        def fail(reason: str) -> PlatformError:
            return PlatformError("invalid_request", reason)

        if not isinstance(claims.get("nonce"), str) or not claims["nonce"]:
            raise fail("nonce is missing")
        if claims.get(MESSAGE_TYPE) != "LtiDeepLinkingResponse":
            raise fail("message_type must be LtiDeepLinkingResponse")
        if claims.get(VERSION) != "1.3.0":
            raise fail("version must be 1.3.0")
        if claims.get(DEPLOYMENT_ID) not in tool.deployment_ids:
            raise fail("unknown deployment_id")
        items = claims.get(DL_CONTENT_ITEMS, [])
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise fail("content_items must be a list of objects")
        with self.lock:
            data = claims.get(DL_DATA)
            if not isinstance(data, str) or self._dl_data.get(data) != tool.client_id:
                raise fail("data does not echo what the deep linking request sent")
            if claims["nonce"] in self._dl_nonces:
                raise fail("nonce already used")
            self._dl_nonces.add(claims["nonce"])
            self.deep_link_results.append(claims)
        return claims

    def deep_link_context(self, claims: Mapping[str, Any]) -> str | None:
        """The context of the deep linking request a verified response answers."""
        with self.lock:
            return self._dl_context.get(str(claims.get(DL_DATA)))

    def place_links(
        self, client_id: str, context_id: str, items: Sequence[Any]
    ) -> list[dict[str, Any]]:
        """What Moodle does with placed ltiResourceLink items: a resource link each, and a
        line item bound to it for each graded one (a ``lineItem`` in the item)."""
        placed = []
        for item in items:
            if not isinstance(item, dict):
                continue
            if item.get("type") != "ltiResourceLink":
                continue
            link_id = "rl-" + secrets.token_hex(6)
            lineitem_id: str | None = None
            spec = item.get("lineItem")
            if isinstance(spec, dict):
                body = {k: v for k, v in spec.items() if k != "id"}
                body["resourceLinkId"] = link_id
                body.setdefault("label", item.get("title") or "Bottega")
                lineitem_id = self.create_line_item(client_id, context_id, body)["id"]
            link = {
                "context_id": context_id,
                "resource_link_id": link_id,
                "title": item.get("title"),
                "custom": item.get("custom") or {},
                "lineitem": lineitem_id,
            }
            with self.lock:
                if lineitem_id is not None:
                    self.link_line_items[(context_id, link_id)] = lineitem_id
                self.placed_links.append(link)
            placed.append(link)
        return placed

    # -- OAuth2 tokens and NRPS --------------------------------------------------------------
    def issue_token(self, form: Mapping[str, str]) -> dict[str, Any]:
        """OAuth2 client credentials with a JWT client assertion (LTI Security Framework §4)."""
        if form.get("grant_type") != "client_credentials":
            raise PlatformError("unsupported_grant_type", "grant_type must be client_credentials")
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise PlatformError(
                "invalid_request", f"client_assertion_type must be {ASSERTION_TYPE}"
            )
        tool, claims = self.verify_tool_jwt(
            form.get("client_assertion", ""),
            audience=[self.token_url, self.issuer],
            require=["sub", "jti"],
        )
        if claims["sub"] != tool.client_id:
            raise PlatformError("invalid_client", "sub must be the client_id", 401)
        now = time.time()
        with self.lock:
            self._seen_jti = {k: exp for k, exp in self._seen_jti.items() if exp > now - _LEEWAY}
            self.token_jtis.append(str(claims["jti"]))
            if (tool.client_id, str(claims["jti"])) in self._seen_jti:
                raise PlatformError("invalid_client", "jti already used", 401)
            self._seen_jti[(tool.client_id, str(claims["jti"]))] = float(claims["exp"])
        granted = [s for s in form.get("scope", "").split() if s in tool.scopes]
        if not granted:
            raise PlatformError("invalid_scope", "none of the requested scopes is allowed")
        token = secrets.token_urlsafe(32)
        with self.lock:
            self.access_tokens[token] = AccessToken(
                tool.client_id, frozenset(granted), now + ACCESS_TOKEN_LIFETIME
            )
        return {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": ACCESS_TOKEN_LIFETIME,
            "scope": " ".join(granted),
        }

    def expire_access_tokens(self) -> None:
        """Forget every access token, so tools must ask /token again."""
        with self.lock:
            self.access_tokens.clear()

    def check_access(self, authorization: str | None, scope: str) -> AccessToken:
        """The access token of an Authorization header, if valid and granted ``scope``."""
        with self.lock:
            access = self.access_tokens.get(_bearer(authorization))
        if access is None or access.expires_at < time.time():
            raise PlatformError("invalid_token", "missing, unknown or expired access token", 401)
        if scope not in access.scopes:
            raise PlatformError("insufficient_scope", f"the token was not granted {scope}", 403)
        return access

    def memberships(
        self, context_id: str, *, limit: int = 0, offset: int = 0, role: str | None = None
    ) -> tuple[dict[str, Any], str | None]:
        """A page of the NRPS 2.0 membership container and the next page's URL (Moodle paging)."""
        with self.lock:
            if context_id not in self.contexts and context_id not in self.rosters:
                raise PlatformError("not_found", "unknown context", 404)
            members = copy.deepcopy(self.rosters.get(context_id, []))
            context = dict(self.contexts.get(context_id, {"id": context_id}))
        if role:
            members = [
                m
                for m in members
                if any(r == role or r.rsplit("#", 1)[-1] == role for r in m.get("roles", []))
            ]
        page = members[offset : offset + limit] if limit else members[offset:]
        base = self.memberships_url(context_id)
        next_url = None
        if limit and offset + limit < len(members):
            query: dict[str, Any] = {"limit": limit, "from": offset + limit}
            if role:
                query["role"] = role
            next_url = f"{base}?{urlencode(query)}"
        container = {
            "id": base,
            "context": {k: context[k] for k in ("id", "label", "title") if k in context},
            "members": page,
        }
        return container, next_url

    # -- Assignment and Grade Services 2.0 ----------------------------------------------------
    def lineitems_url(self, context_id: str) -> str:
        return f"{self.issuer}/ags/{quote(context_id, safe='')}/lineitems"

    def ags_claim(
        self,
        context_id: str,
        resource_link_id: str | None = None,
        *,
        lineitem: str | None = None,
        scopes: Sequence[str] = AGS_SCOPES,
    ) -> dict[str, Any]:
        """The AGS claim of a launch: the container, and the link's own line item if bound."""
        with self.lock:
            if lineitem is None and resource_link_id is not None:
                lineitem = self.link_line_items.get((context_id, resource_link_id))
        claim: dict[str, Any] = {"scope": list(scopes), "lineitems": self.lineitems_url(context_id)}
        if lineitem is not None:
            claim["lineitem"] = lineitem
        return claim

    def create_line_item(self, client_id: str, context_id: str, body: Any) -> dict[str, Any]:
        """A new line item (AGS 2.0 §3.2.7); ``body`` as the tool POSTs it."""
        if not isinstance(body, dict):
            raise PlatformError("invalid_request", "a line item must be a JSON object")
        label = body.get("label")
        maximum = body.get("scoreMaximum")
        if not isinstance(label, str) or not label.strip():
            raise PlatformError("invalid_request", "label is required")
        if isinstance(maximum, bool) or not isinstance(maximum, int | float) or maximum <= 0:
            raise PlatformError("invalid_request", "scoreMaximum must be a number above 0")
        item_id = secrets.token_hex(6)
        item = {
            k: body[k]
            for k in ("label", "scoreMaximum", "resourceLinkId", "resourceId", "tag")
            if k in body
        }
        item["id"] = f"{self.lineitems_url(context_id)}/{item_id}/lineitem"
        with self.lock:
            self.line_items[item["id"]] = {
                **item,
                "_context": context_id,
                "_client": client_id,
                "_key": item_id,
            }
        return item

    @staticmethod
    def _public(item: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in item.items() if not k.startswith("_")}

    def line_item(self, access: AccessToken, context_id: str, key: str) -> dict[str, Any]:
        """A line item of this context that the token's tool owns; 404 for anyone else's."""
        with self.lock:
            found = next(
                (
                    i
                    for i in self.line_items.values()
                    if i["_key"] == key and i["_context"] == context_id
                ),
                None,
            )
        if found is None or found["_client"] != access.client_id:
            raise PlatformError("not_found", "no such line item", 404)
        return found

    def list_line_items(
        self, access: AccessToken, context_id: str, filters: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        """The container (AGS 2.0 §3.2.4), filtered by resource_link_id, resource_id, tag."""
        names = {"resource_link_id": "resourceLinkId", "resource_id": "resourceId", "tag": "tag"}
        with self.lock:
            items = [
                self._public(i)
                for i in self.line_items.values()
                if i["_context"] == context_id and i["_client"] == access.client_id
            ]
        for param, name in names.items():
            if filters.get(param):
                items = [i for i in items if i.get(name) == filters[param]]
        return items

    def take_score(self, item: Mapping[str, Any], body: Any) -> None:
        """A score POST (AGS 2.0 §3.4), checked as Moodle does: 409 when not newer."""
        if not isinstance(body, dict):
            raise PlatformError("invalid_request", "a score must be a JSON object")
        user = body.get("userId")
        if not isinstance(user, str | int) or isinstance(user, bool) or str(user) == "":
            raise PlatformError("invalid_request", "userId is required")
        try:
            stamp = datetime.fromisoformat(str(body.get("timestamp")))
        except ValueError as exc:
            raise PlatformError("invalid_request", "timestamp must be ISO 8601") from exc
        if stamp.tzinfo is None:
            raise PlatformError("invalid_request", "timestamp needs a time zone offset")
        if body.get("activityProgress") not in ACTIVITY_PROGRESS:
            raise PlatformError("invalid_request", "activityProgress is missing or unknown")
        if body.get("gradingProgress") not in GRADING_PROGRESS:
            raise PlatformError("invalid_request", "gradingProgress is missing or unknown")
        given, maximum = body.get("scoreGiven"), body.get("scoreMaximum")
        if given is not None:
            numbers = all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in (given, maximum)
            )
            if not numbers or maximum <= 0 or given < 0:  # type: ignore[operator]
                raise PlatformError(
                    "invalid_request", "scoreGiven needs a scoreMaximum above 0, both numbers"
                )
        key = (str(item["id"]), str(user))
        with self.lock:
            taken = self.scores.setdefault(key, [])
            if taken and datetime.fromisoformat(taken[-1]["timestamp"]) >= stamp:
                raise PlatformError(
                    "conflict", "the timestamp is not later than the last score's", 409
                )
            taken.append(copy.deepcopy(body))

    def results(self, item: Mapping[str, Any], user_id: str | None = None) -> list[dict[str, Any]]:
        """The result container (AGS 2.0 §3.3): each user's latest graded score."""
        out = []
        with self.lock:
            for (item_id, user), taken in sorted(self.scores.items()):
                if item_id != item["id"] or (user_id and user != user_id):
                    continue
                last = taken[-1]
                if last.get("gradingProgress") != "FullyGraded" or "scoreGiven" not in last:
                    continue
                out.append(
                    {
                        "id": f"{item['id']}/results/{quote(user, safe='')}",
                        "scoreOf": item["id"],
                        "userId": user,
                        "resultScore": last["scoreGiven"],
                        "resultMaximum": last["scoreMaximum"],
                        "timestamp": last["timestamp"],
                    }
                )
        return out

    def latest_scores(self, lineitem: str) -> dict[str, dict[str, Any]]:
        """For tests: user id -> the last score taken for ``lineitem``."""
        with self.lock:
            return {u: t[-1] for (i, u), t in self.scores.items() if i == lineitem and t}

    def ags_delay(self) -> None:
        """The configured latency, and the hang while ``ags_hang`` is an unset Event."""
        with self.lock:
            latency, hang = self.ags_latency, self.ags_hang
        if latency:
            time.sleep(latency)
        if hang is not None:
            hang.wait(30)

    def score_failure(self) -> int | None:
        """A status to fail this score POST with, drawn at the configured rate, or None."""
        with self.lock:
            self.score_requests += 1
            if self.ags_failure_rate <= 0 or self.ags_random.random() >= self.ags_failure_rate:
                return None
            self.score_failures += 1
            return self.ags_random.choice(self.ags_failure_statuses)

    # -- faults ------------------------------------------------------------------------------
    def break_service(self, service: str, fault: Fault) -> None:
        """Make ``service`` (one of SERVICES) misbehave as ``fault`` says, until healed."""
        if service not in SERVICES:
            raise ValueError(f"unknown service {service!r}; one of {', '.join(SERVICES)}")
        with self.lock:
            self._healed.clear()
            self.faults[service] = copy.copy(fault)

    def heal(self, service: str | None = None) -> None:
        """Stop the fault of ``service`` (every fault by default) and release hanging requests."""
        with self.lock:
            if service is None:
                self.faults.clear()
            else:
                self.faults.pop(service, None)
            if not self.faults:
                self._healed.set()

    def rotate_keys(self) -> str:
        """Rotate as an LMS does mid-run: a new signing key, the old one no longer published."""
        with self.lock:
            old = [k.kid for k in self.keys]
        kid = self.rotate_key()
        for stale in old:
            self.drop_key(stale)
        return kid

    def fault_answer(self, service: str) -> Response | None:
        """Count a request to ``service``; the fault's answer (after its hang), or None."""
        with self.lock:
            self.service_requests[service] = self.service_requests.get(service, 0) + 1
            fault = self.faults.get(service)
            if fault is not None and fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.pop(service, None)
            healed = self._healed
        if fault is None:
            return None
        if fault.hang:
            healed.wait(fault.hang)
        return None if fault.status is None else fault.response(healed)

    def line_item_id(self, key: str) -> str:
        """The URL of the line item whose path key is ``key`` (``key`` itself if none)."""
        with self.lock:
            return next((i["id"] for i in self.line_items.values() if i["_key"] == key), key)

    def log_score(self, lineitem: str, body: Any, status: int) -> None:
        """Remember a score POST and the status it was answered with."""
        entry: dict[str, Any] = {"lineitem": lineitem, "status": status}
        if isinstance(body, dict):
            entry.update(userId=body.get("userId"), timestamp=body.get("timestamp"))
            entry["scoreGiven"] = body.get("scoreGiven")
        with self.lock:
            self.score_log.append(entry)

    def scores_taken(self) -> dict[tuple[str, str, str], int]:
        """For tests: (line item, user, timestamp) -> how many POSTs of it were taken (204)."""
        counts: dict[tuple[str, str, str], int] = {}
        with self.lock:
            for entry in self.score_log:
                if entry["status"] == 204:
                    key = (entry["lineitem"], str(entry["userId"]), str(entry["timestamp"]))
                    counts[key] = counts.get(key, 0) + 1
        return counts

    # -- dynamic registration ----------------------------------------------------------------
    def start_registration(self) -> str:
        """A single-use registration token (see ``openid_configuration_url``)."""
        token = secrets.token_urlsafe(32)
        with self.lock:
            self.registration_tokens.add(token)
        return token

    def registration_start_url(self, tool_registration_url: str) -> str:
        """Where an admin's browser goes to let the tool register itself (a fresh token)."""
        query = urlencode(
            {
                "openid_configuration": self.openid_configuration_url,
                "registration_token": self.start_registration(),
            }
        )
        separator = "&" if "?" in tool_registration_url else "?"
        return tool_registration_url + separator + query

    def openid_configuration(self) -> dict[str, Any]:
        """The platform configuration a tool reads first (Dynamic Registration 1.0 §3.4)."""
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.auth_url,
            "token_endpoint": self.token_url,
            "jwks_uri": self.jwks_url,
            "registration_endpoint": self.registration_url,
            "scopes_supported": ["openid", *SUPPORTED_SCOPES],
            "response_types_supported": ["id_token"],
            "response_modes_supported": ["form_post"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "claims_supported": ["sub", "iss", "name", "given_name", "family_name", "email"],
            "subject_types_supported": ["public", "pairwise"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
            PLATFORM_CONFIGURATION: {
                "product_family_code": "moodle",
                "version": MOODLE_VERSION,
                "messages_supported": [{"type": kind} for kind in self.messages_supported],
                "variables": MOODLE_VARIABLES.split(),
            },
        }

    def register_dynamic(self, authorization: str | None, body: Any) -> dict[str, Any]:
        """Handle a client registration request; the new tool stays pending, as in Moodle."""
        token = _bearer(authorization)
        with self.lock:
            known = token in self.registration_tokens
        if not known:
            raise PlatformError("invalid_token", "unknown or already used registration token", 401)
        received = copy.deepcopy(validate_registration(body))
        config = received[TOOL_CONFIGURATION]
        deep_link = next(
            (
                m.get("target_link_uri") or config["target_link_uri"]
                for m in config["messages"]
                if m["type"] == DEEP_LINKING_REQUEST
            ),
            None,
        )
        granted = tuple(s for s in received["scope"].split() if s in SUPPORTED_SCOPES)
        client_id = secrets.token_hex(8)
        tool = ToolRegistration(
            client_id=client_id,
            login_url=received["initiate_login_uri"],
            redirect_uris=list(received["redirect_uris"]),
            jwks_url=received["jwks_uri"],
            deployment_ids=["1"],  # Moodle numbers deployments per tool type from 1
            deep_link_url=deep_link,
            target_link_uri=config["target_link_uri"],
            status="pending",
            scopes=granted,
            name=str(received.get("client_name", "")),
        )
        with self.lock:
            if token not in self.registration_tokens:  # a concurrent request used it first
                raise PlatformError("invalid_token", "registration token already used", 401)
            self.registration_tokens.discard(token)
            self.tools[client_id] = tool
            self.registrations[client_id] = copy.deepcopy(received)
        response = copy.deepcopy(received)
        response["client_id"] = client_id
        response["scope"] = " ".join(granted)
        response[TOOL_CONFIGURATION]["deployment_id"] = "1"
        return response


# -- the Flask app -------------------------------------------------------------------------
_AUTO_POST = Markup(
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Launching</title>'
    '</head><body><form id="lti-launch-form" method="post" action="{action}">'
    '<input type="hidden" name="id_token" value="{id_token}">{state}'
    '<noscript><button type="submit">Continue</button></noscript></form>'
    '<script src="{script}"></script></body></html>'
)
_RECEIVED = Markup(
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Items received</title>'
    "</head><body><h1>Items received</h1><p>{}</p><ul>{}</ul></body></html>"
)


def get_platform(app: Flask) -> Platform:
    """The Platform behind an app made by ``create_platform_app``."""
    platform = app.extensions["lti_platform"]
    assert isinstance(platform, Platform)
    return platform


def create_platform_app(
    issuer: str, *, secret_key: str | None = None, platform: Platform | None = None
) -> Flask:
    """A Flask app serving ``platform`` (a new one for ``issuer`` by default)."""
    platform = platform or Platform(issuer)
    app = Flask(__name__)
    app.secret_key = secret_key or secrets.token_hex(32)
    app.extensions["lti_platform"] = platform

    @app.errorhandler(PlatformError)
    def refused(exc: PlatformError) -> ResponseReturnValue:
        response = jsonify(error=exc.code, error_description=exc.description)
        if exc.code in ("invalid_token", "insufficient_scope"):
            response.headers["WWW-Authenticate"] = f'Bearer error="{exc.code}"'
        return response, exc.status

    fault_services = {
        "jwks": "jwks",
        "token": "token",
        "nrps": "nrps",
        "ags_lineitems": "lineitems",
        "ags_lineitem": "lineitems",
        "ags_results": "lineitems",
        "ags_scores": "scores",
    }

    @app.before_request
    def misbehave() -> ResponseReturnValue | None:
        service = fault_services.get(request.endpoint or "")
        if service is None:
            return None
        answer = platform.fault_answer(service)
        if answer is not None and service == "scores":
            item = platform.line_item_id((request.view_args or {}).get("key", ""))
            platform.log_score(item, request.get_json(silent=True), answer.status_code)
        return answer

    @app.route("/auth", methods=["GET", "POST"])
    def auth() -> ResponseReturnValue:
        answer = platform.authorize(request.values.to_dict())
        state = Markup("")
        if answer.state is not None:
            state = Markup('<input type="hidden" name="state" value="{}">').format(answer.state)
        html = _AUTO_POST.format(
            action=answer.redirect_uri,
            id_token=answer.id_token,
            state=state,
            script=url_for("static", filename="autopost.js"),
        )
        return Response(str(html), mimetype="text/html", headers={"Cache-Control": "no-store"})

    @app.get("/jwks")
    def jwks() -> ResponseReturnValue:
        with platform.lock:
            platform.jwks_requests += 1
            failure, delay = platform.jwks_failure, platform.jwks_delay
            drip, padding = platform.jwks_drip, platform.jwks_padding
        if delay:
            time.sleep(delay)
        if failure is not None:
            return jsonify(error="simulated failure"), failure
        document: dict[str, Any] = dict(platform.jwks())
        if padding:
            document["padding"] = "x" * padding
        if not drip:
            return jsonify(document)
        whole = json.dumps(document).encode()

        def bytewise() -> Iterator[bytes]:
            for i in range(len(whole)):
                time.sleep(drip)
                yield whole[i : i + 1]

        return Response(bytewise(), mimetype="application/json")

    @app.post("/token")
    def token() -> ResponseReturnValue:
        with platform.lock:
            platform.token_requests += 1
            failure = platform.token_failure
        if failure is not None:
            return jsonify(error="temporarily_unavailable"), failure
        answer = platform.issue_token(request.form.to_dict())
        return jsonify(answer), 200, {"Cache-Control": "no-store"}

    @app.get("/nrps/<context_id>")
    def nrps(context_id: str) -> ResponseReturnValue:
        platform.check_access(request.headers.get("Authorization"), NRPS_SCOPE)
        try:
            limit = max(0, int(request.args.get("limit", 0)))
            offset = max(0, int(request.args.get("from", 0)))
        except ValueError as exc:
            raise PlatformError("invalid_request", "limit and from must be integers") from exc
        container, next_url = platform.memberships(
            context_id, limit=limit, offset=offset, role=request.args.get("role")
        )
        response = Response(json.dumps(container), mimetype=NRPS_MEDIA_TYPE)
        if next_url:
            response.headers["Link"] = f'<{next_url}>; rel="next"'
        return response

    def _ags_access(*scopes: str) -> AccessToken:
        authorization = request.headers.get("Authorization")
        for scope in scopes[:-1]:
            try:
                return platform.check_access(authorization, scope)
            except PlatformError:
                continue
        return platform.check_access(authorization, scopes[-1])

    def _json_body(media_type: str) -> Any:
        if request.mimetype != media_type:
            raise PlatformError("invalid_request", f"Content-Type must be {media_type}", 415)
        body = request.get_json(silent=True)
        if body is None:
            raise PlatformError("invalid_request", "the body is not JSON")
        return body

    @app.route("/ags/<context_id>/lineitems", methods=["GET", "POST"])
    def ags_lineitems(context_id: str) -> ResponseReturnValue:
        platform.ags_delay()
        if request.method == "POST":
            access = _ags_access(AGS_LINEITEM)
            item = platform.create_line_item(
                access.client_id, context_id, _json_body(LINEITEM_MEDIA_TYPE)
            )
            platform.lineitem_posts += 1
            if platform.lineitem_create_failures > 0:
                platform.lineitem_create_failures -= 1
                return Response("bad gateway", platform.lineitem_create_status)
            return Response(json.dumps(item), 201, mimetype=LINEITEM_MEDIA_TYPE)
        access = _ags_access(AGS_LINEITEM, AGS_LINEITEM_READONLY)
        items = platform.list_line_items(access, context_id, request.args)
        return Response(json.dumps(items), mimetype=LINEITEMS_MEDIA_TYPE)

    @app.get("/ags/<context_id>/lineitems/<key>/lineitem")
    def ags_lineitem(context_id: str, key: str) -> ResponseReturnValue:
        platform.ags_delay()
        access = _ags_access(AGS_LINEITEM, AGS_LINEITEM_READONLY)
        item = platform._public(platform.line_item(access, context_id, key))
        return Response(json.dumps(item), mimetype=LINEITEM_MEDIA_TYPE)

    @app.post("/ags/<context_id>/lineitems/<key>/lineitem/scores")
    def ags_scores(context_id: str, key: str) -> ResponseReturnValue:
        platform.ags_delay()
        failure = platform.score_failure()
        body = request.get_json(silent=True)
        if failure is not None:
            platform.log_score(platform.line_item_id(key), body, failure)
            headers = {"Retry-After": platform.ags_retry_after} if failure == 429 else {}
            return jsonify(error="simulated failure"), failure, headers
        access = _ags_access(AGS_SCORE)
        item = platform.line_item(access, context_id, key)
        try:
            platform.take_score(item, _json_body(SCORE_MEDIA_TYPE))
        except PlatformError as exc:
            platform.log_score(item["id"], body, exc.status)
            raise
        platform.log_score(item["id"], body, 204)
        return Response(status=204)

    @app.get("/ags/<context_id>/lineitems/<key>/lineitem/results")
    def ags_results(context_id: str, key: str) -> ResponseReturnValue:
        platform.ags_delay()
        access = _ags_access(AGS_RESULT_READONLY)
        item = platform.line_item(access, context_id, key)
        results = platform.results(item, request.args.get("user_id"))
        return Response(json.dumps(results), mimetype=RESULTS_MEDIA_TYPE)

    @app.post("/deep_link_return")
    def deep_link_return() -> ResponseReturnValue:
        token = request.form.get("JWT", "")
        if not token:
            raise PlatformError("invalid_request", "the JWT form field is missing")
        claims = platform.receive_deep_link(token)
        titles = Markup("").join(
            Markup("<li>{}</li>").format(item.get("title") or item.get("url") or item.get("type"))
            for item in claims.get(DL_CONTENT_ITEMS, [])
        )
        message = claims.get(DL + "msg") or ""
        return str(_RECEIVED.format(message, titles))

    @app.get("/.well-known/openid-configuration")
    def openid_configuration() -> ResponseReturnValue:
        return jsonify(platform.openid_configuration())

    @app.post("/register")
    def register() -> ResponseReturnValue:
        body = request.get_json(silent=True)
        answer = platform.register_dynamic(request.headers.get("Authorization"), body)
        return jsonify(answer)

    return app


# -- a real socket for tests -----------------------------------------------------------------
def _not_ready(environ: Any, start_response: Any) -> Any:
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"starting"]


class RunningServer:
    """A WSGI app served by werkzeug in a daemon thread; a context manager that stops it."""

    def __init__(self, server: BaseWSGIServer, url: str) -> None:
        self._server = server
        self.url = url
        self.port = server.server_port
        self._thread = threading.Thread(
            target=functools.partial(server.serve_forever, poll_interval=0.05),
            name=f"wsgi-{self.port}",
            daemon=True,
        )
        self._thread.start()

    @property
    def app(self) -> WSGIApplication:
        return self._server.app

    @property
    def platform(self) -> Platform:
        """The Platform, when the served app is a platform app."""
        if not isinstance(self.app, Flask):
            raise TypeError("this server does not serve a platform app")
        return get_platform(self.app)

    def shutdown(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.shutdown()


def serve_in_thread(
    app: WSGIApplication | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    factory: Callable[[str], WSGIApplication] | None = None,
) -> RunningServer:
    """Serve ``app``, or ``factory(base_url)``: the socket is bound first (port 0 picks a free
    port), so a factory learns the URL it is served at, which a platform needs as its issuer."""
    if (app is None) == (factory is None):
        raise TypeError("give exactly one of app and factory")
    server = make_server(host, port, app or _not_ready, threaded=True)
    url = f"http://{host}:{server.server_port}"
    if factory is not None:
        server.app = factory(url)
    return RunningServer(server, url)


def serve_platform(host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """A new platform on a real socket; its issuer is the server's URL (``server.platform``)."""
    return serve_in_thread(factory=create_platform_app, host=host, port=port)
