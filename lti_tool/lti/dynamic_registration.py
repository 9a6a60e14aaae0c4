"""LTI Dynamic Registration 1.0: Bottega registers itself with an LMS (Moodle 4.x and others).

An LMS admin gives the LMS Bottega's registration URL; the LMS opens it with two query
parameters, ``openid_configuration`` (the platform's OpenID configuration URL) and an optional,
single-use ``registration_token``. Bottega then

1. fetches the configuration (short timeouts, no redirects, a size cap, JSON only) and checks it:
   an issuer on the host of the configuration URL (the spec's requirement), https endpoints
   (http only on loopback), RS256 and ``private_key_jwt`` when the platform lists algorithms or
   methods, and an LTI platform configuration;
2. posts its client registration to the platform's registration endpoint, with the token as a
   bearer token;
3. stores the answer (client id, deployment id) as a Platform through ``registration``, active
   on Bottega's side: Moodle keeps the tool pending until an LMS admin activates it.

pylti1p3's ``DynamicRegistration`` is not used: it sets no timeouts, follows redirects, checks
with ``assert`` and validates neither the issuer's host nor the endpoints. Its two checks (an LTI
platform configuration in the OpenID configuration, an LTI tool configuration in the answer) are
kept here. Tokens are never logged; configuration URLs are logged without their query.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import socket
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from lti_tool.config import is_loopback_url
from lti_tool.courses.models import Platform, PlatformStatus
from lti_tool.lti import claims as c
from lti_tool.lti.errors import RegistrationFlowError
from lti_tool.lti.registration import (
    PlatformInput,
    RegistrationError,
    add_deployments,
    add_platform,
    check_url,
)
from lti_tool.telemetry.metrics import lms_call_failed

log = logging.getLogger(__name__)

TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"
# The services Bottega asks for (the same list as GET /lti/config).
TOOL_SCOPES: tuple[str, ...] = (
    "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
)
TOOL_CLAIMS: tuple[str, ...] = (
    "iss",
    "sub",
    "name",
    "given_name",
    "family_name",
    "email",
    "picture",
    "locale",
)
CLIENT_NAME = "Bottega"
TIMEOUT = (3.05, 10.0)  # connect, read (per socket read)
DEADLINE = 20.0  # seconds for a whole answer, however slowly it trickles in
MAX_BODY = 512 * 1024  # a platform configuration is a few kB
MAX_URL = 2048
MAX_ID = 255  # the database's limit for client and deployment ids
TOKEN_RE = re.compile(r"[\x21-\x7e]{1,4096}")  # visible ASCII: safe in an Authorization header
PRODUCT_NAMES = {
    "moodle": "Moodle",
    "canvas": "Canvas",
    "desire2learn": "Brightspace",
    "d2l": "Brightspace",
    "brightspace": "Brightspace",
    "blackboard": "Blackboard",
    "sakai": "Sakai",
    "openedx": "Open edX",
    "schoology": "Schoology",
    "ilias": "ILIAS",
}


@dataclass(frozen=True)
class ToolSettings:
    """Bottega's own URLs and texts, absolute on PUBLIC_URL (the view builds them)."""

    login_url: str
    launch_url: str
    jwks_url: str
    description: str
    logo_url: str | None = None

    @property
    def domain(self) -> str:
        # Host and port as in target_link_uri: Moodle compares the two (domain_targetlinkuri).
        return urlsplit(self.launch_url).netloc


@dataclass(frozen=True)
class PlatformConfiguration:
    """What Bottega uses of a platform's OpenID configuration, checked."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    registration_endpoint: str
    authorization_server: str | None
    scopes_supported: tuple[str, ...]
    product_family_code: str
    version: str
    messages_supported: tuple[str, ...] = ()  # message types the platform lists, if any

    @property
    def name(self) -> str:
        """A name for admins: the product and the issuer's host, e.g. "Moodle (lms.example.org)"."""
        host = urlsplit(self.issuer).netloc
        code = self.product_family_code.strip()
        product = PRODUCT_NAMES.get(code.lower(), code)
        return (f"{product} ({host})" if product else host)[:255]


@dataclass(frozen=True)
class RegistrationResult:
    """What was stored, for the confirmation page."""

    platform_id: int
    platform_name: str
    issuer: str
    client_id: str
    deployment_id: str | None
    created: bool  # False: the (issuer, client id) was known and only the deployment was added
    status: PlatformStatus
    product_family_code: str


def _error(message: Any, status: int = 400, detail: str | None = None, **params: Any) -> Exception:
    return RegistrationFlowError(message, status=status, detail=detail, **params)


def _without_query(url: str) -> str:
    """A URL safe to show and log: some LMSs put the registration token in the query."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


# -- the start request ------------------------------------------------------------------------


def _private_address(host: str) -> str | None:
    """The first address ``host`` stands for that is not on the public internet (loopback,
    private, link-local, unspecified...), or None. A name that does not resolve is left to fail
    when it is fetched."""
    try:
        found = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return None
    for info in found:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global:
            return str(address)
    return None


def _check_url(label: str, url: str, allow_loopback: bool) -> str:
    """``check_url``; when loopback is not allowed (production), no host that is this server or
    another machine of a private network either: anyone may open the registration URL, and it
    must not make Bottega probe services that the internet cannot reach (``0.0.0.0``,
    ``2130706433``, ``10.0.0.5``, a name resolving to one of them)."""
    url = check_url(label, url)
    if allow_loopback:
        return url
    if is_loopback_url(url):
        raise RegistrationError(f"{label} must not point to this server's loopback interface")
    private = _private_address(urlsplit(url).hostname or "")
    if private is not None:
        raise RegistrationError(f"{label} points to a local or private network address")
    return url


def check_start(
    openid_configuration: str | None,
    registration_token: str | None,
    *,
    allow_loopback: bool = True,
) -> tuple[str, str | None]:
    """The two query parameters the LMS sends, checked; the token may be absent.

    ``allow_loopback=False`` (production) refuses 127.0.0.1 and localhost, so that anyone who
    opens the registration URL cannot make Bottega call services on its own host.
    """
    url = (openid_configuration or "").strip()
    if not url:
        raise _error(
            _l(
                "The LMS did not send the openid_configuration parameter. Start the "
                "registration from your LMS: give it Bottega's registration URL as a "
                '"tool URL" for dynamic registration (in Moodle: Site administration > '
                "Plugins > Activities > External tool > Manage tools)."
            )
        )
    if len(url) > MAX_URL:
        raise _error(_l("The openid_configuration address is too long."))
    try:
        _check_url("openid_configuration", url, allow_loopback)
    except RegistrationError as exc:
        raise _error(
            _l(
                "The openid_configuration address %(url)s is not an absolute https URL. "
                "Check the LMS's public address (in Moodle: $CFG->wwwroot)."
            ),
            detail="openid_configuration refused (not an allowed URL)",  # no query: no token
            url=_without_query(url) if "://" in url else url[:100],
        ) from exc
    if urlsplit(url).username is not None:
        raise _error(_l("The openid_configuration address must not contain a user name."))
    token = registration_token.strip() if registration_token else None
    if token is not None and not TOKEN_RE.fullmatch(token):
        raise _error(
            _l(
                "The registration token the LMS sent is malformed. Start the registration "
                "again from your LMS."
            )
        )
    return url, token or None


# -- HTTP -------------------------------------------------------------------------------------


@contextmanager
def _session(http: requests.Session | None) -> Iterator[requests.Session]:
    """The caller's session, left open, or a new one closed afterwards."""
    if http is not None:
        yield http
        return
    with requests.Session() as session:
        yield session


def _send(
    http: requests.Session,
    method: str,
    url: str,
    *,
    what: Any,
    token: str | None,
    body: Mapping[str, Any] | None = None,
    timeout: tuple[float, float] = TIMEOUT,
) -> tuple[int, Any]:
    """One request: the status and the JSON answer (None when the answer is not JSON)."""
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    shown = _without_query(url)
    started = time.monotonic()
    try:
        with http.request(
            method,
            url,
            headers=headers,
            json=body,
            timeout=timeout,
            allow_redirects=False,
            stream=True,
        ) as response:
            status = response.status_code
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_content(chunk_size=65536):
                size += len(chunk)
                if size > MAX_BODY:
                    raise _error(
                        _l("%(what)s at %(url)s sent an answer too large to be read."),
                        what=what,
                        url=shown,
                    )
                if time.monotonic() - started > DEADLINE:
                    raise requests.Timeout(f"no complete answer within {DEADLINE} s")
                chunks.append(chunk)
    except requests.Timeout as exc:
        lms_call_failed("registration", "timeout")
        raise _error(
            _l(
                "%(what)s at %(url)s did not answer in time. Check that the LMS is reachable "
                "from Bottega's server, then start the registration again."
            ),
            detail=f"{method} {shown}: timeout",
            what=what,
            url=shown,
        ) from exc
    except (requests.RequestException, ValueError) as exc:  # ValueError: a URL urllib3 refuses
        lms_call_failed("registration", "unreachable")
        raise _error(
            _l(
                "%(what)s at %(url)s could not be reached from Bottega's server. Check the "
                "LMS's public address and that its server accepts connections, then start the "
                "registration again."
            ),
            detail=f"{method} {shown}: {type(exc).__name__}",
            what=what,
            url=shown,
        ) from exc
    if status >= 300:
        lms_call_failed("registration", status)
    if 300 <= status < 400:
        raise _error(
            _l(
                "%(what)s at %(url)s answered with a redirect. The LMS must give its final "
                "https address (in Moodle: check $CFG->wwwroot)."
            ),
            detail=f"{method} {shown}: HTTP {status}",
            what=what,
            url=shown,
        )
    try:
        data = json.loads(b"".join(chunks)) if chunks else None
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        data = None
    return status, data


# -- the platform's configuration -------------------------------------------------------------


def _str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def validate_configuration(
    config_url: str, data: Any, *, allow_loopback: bool = True
) -> PlatformConfiguration:
    """The OpenID configuration checked as LTI Dynamic Registration 1.0 §3.4 asks (and more)."""
    if not isinstance(data, dict):
        raise _error(
            _l("The LMS configuration at %(url)s is not a JSON object."),
            url=_without_query(config_url),
        )
    issuer = data.get("issuer")
    if not isinstance(issuer, str) or not issuer or issuer != issuer.strip():
        raise _error(_l("The LMS configuration does not name its issuer."))
    if len(issuer) > MAX_ID:
        raise _error(_l("The LMS issuer is longer than Bottega can store (255 characters)."))
    try:
        check_url("issuer", issuer)
    except RegistrationError as exc:
        raise _error(
            _l("The LMS issuer %(issuer)s is not an absolute https URL."),
            detail=str(exc),
            issuer=issuer[:200],
        ) from exc
    issuer_parts = urlsplit(issuer)
    if issuer_parts.query or issuer_parts.fragment:
        raise _error(
            _l("The LMS issuer %(issuer)s must not have a query or fragment."), issuer=issuer[:200]
        )
    config_host = urlsplit(config_url).hostname
    if issuer_parts.hostname != config_host:
        raise _error(
            _l(
                "The LMS configuration names the issuer %(issuer)s, which is not on the host of "
                "the configuration address (%(host)s). LTI Dynamic Registration requires both "
                "on the same host, so Bottega refuses it. Check the LMS's public address (in "
                "Moodle: $CFG->wwwroot) and start the registration again."
            ),
            issuer=issuer[:200],
            host=config_host or "?",
        )
    endpoints: dict[str, str] = {}
    for name in ("registration_endpoint", "authorization_endpoint", "token_endpoint", "jwks_uri"):
        value = data.get(name)
        try:
            if not isinstance(value, str) or len(value) > MAX_URL:
                raise RegistrationError(f"{name} is missing or not a string")
            endpoints[name] = _check_url(name, value, allow_loopback)
        except RegistrationError as exc:
            raise _error(
                _l(
                    "The LMS configuration lacks %(field)s or it is not an absolute https URL. "
                    "Check the LMS's public address (in Moodle: $CFG->wwwroot)."
                ),
                detail=str(exc),
                field=name,
            ) from exc
    algorithms = data.get("id_token_signing_alg_values_supported")
    if algorithms is not None and (not _str_list(algorithms) or "RS256" not in algorithms):
        raise _error(
            _l("The LMS does not sign with RS256, which LTI 1.3 requires and Bottega needs.")
        )
    methods = data.get("token_endpoint_auth_methods_supported")
    if methods is not None and (not _str_list(methods) or "private_key_jwt" not in methods):
        raise _error(
            _l("The LMS does not accept private_key_jwt at its token endpoint, as LTI 1.3 asks.")
        )
    scopes = data.get("scopes_supported")
    if scopes is not None and not _str_list(scopes):
        raise _error(_l("The LMS configuration's scopes_supported is not a list of scopes."))
    audience = data.get("authorization_server")
    if audience is not None and (not isinstance(audience, str) or not audience.strip()):
        raise _error(_l("The LMS configuration's authorization_server is not a string."))
    platform = data.get(PLATFORM_CONFIGURATION)
    if not isinstance(platform, dict):
        raise _error(
            _l(
                "The configuration at %(url)s is not an LTI platform configuration (it lacks "
                "%(field)s). Check that the LMS supports LTI Advantage dynamic registration."
            ),
            url=_without_query(config_url),
            field=PLATFORM_CONFIGURATION,
        )
    family = platform.get("product_family_code")
    version = platform.get("version")
    listed = platform.get("messages_supported")
    messages = tuple(
        str(m["type"])
        for m in (listed if isinstance(listed, list) else ())
        if isinstance(m, dict) and isinstance(m.get("type"), str)
    )
    return PlatformConfiguration(
        issuer=issuer,
        authorization_endpoint=endpoints["authorization_endpoint"],
        token_endpoint=endpoints["token_endpoint"],
        jwks_uri=endpoints["jwks_uri"],
        registration_endpoint=endpoints["registration_endpoint"],
        authorization_server=audience.strip() if isinstance(audience, str) else None,
        scopes_supported=tuple(scopes or ()),
        product_family_code=family if isinstance(family, str) else "",
        version=version if isinstance(version, str) else "",
        messages_supported=messages,
    )


def fetch_configuration(
    config_url: str,
    token: str | None,
    *,
    http: requests.Session | None = None,
    timeout: tuple[float, float] = TIMEOUT,
    allow_loopback: bool = True,
) -> PlatformConfiguration:
    """GET the platform's OpenID configuration and check it."""
    what = _l("The LMS configuration")
    with _session(http) as session:
        status, data = _send(session, "GET", config_url, what=what, token=token, timeout=timeout)
    if status != 200:
        raise _error(
            _l(
                "The LMS configuration at %(url)s answered with HTTP %(code)s. Start the "
                "registration again from your LMS."
            ),
            url=_without_query(config_url),
            code=status,
        )
    if data is None:
        raise _error(
            _l("The LMS configuration at %(url)s is not JSON."), url=_without_query(config_url)
        )
    return validate_configuration(config_url, data, allow_loopback=allow_loopback)


# -- the client registration ------------------------------------------------------------------


def requested_scopes(config: PlatformConfiguration) -> list[str]:
    """Bottega's scopes; only those the platform offers when it lists any."""
    if not config.scopes_supported:
        return list(TOOL_SCOPES)
    return [scope for scope in TOOL_SCOPES if scope in config.scopes_supported]


def registration_request(tool: ToolSettings, config: PlatformConfiguration) -> dict[str, Any]:
    """The client registration (LTI Dynamic Registration 1.0 §3.5)."""
    body: dict[str, Any] = {
        "application_type": "web",
        "response_types": ["id_token"],
        "grant_types": ["implicit", "client_credentials"],
        "initiate_login_uri": tool.login_url,
        "redirect_uris": [tool.launch_url],
        "client_name": CLIENT_NAME,
        "jwks_uri": tool.jwks_url,
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": " ".join(requested_scopes(config)),
        TOOL_CONFIGURATION: {
            "domain": tool.domain,
            "target_link_uri": tool.launch_url,
            "custom_parameters": {"widget": "home"},
            "claims": list(TOOL_CLAIMS),
            "messages": [
                {"type": c.RESOURCE_LINK_REQUEST},
                {
                    "type": c.DEEP_LINKING_REQUEST,
                    "target_link_uri": tool.launch_url,
                    "label": CLIENT_NAME,
                    "placements": ["ContentArea"],
                },
            ],
            "description": tool.description,
        },
    }
    # The data privacy launch only where the platform lists it: some platforms refuse a
    # registration that names a message type they do not know.
    if c.DATA_PRIVACY_REQUEST in config.messages_supported:
        body[TOOL_CONFIGURATION]["messages"].append(
            {"type": c.DATA_PRIVACY_REQUEST, "target_link_uri": tool.launch_url}
        )
    if tool.logo_url:
        body["logo_uri"] = tool.logo_url
    return body


def _identifier(value: Any) -> str | None:
    """A client or deployment id: a non-empty string (numbers are read as text)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value if value and len(value) <= MAX_ID else None


def read_registration_response(data: Any) -> tuple[str, str | None]:
    """The client id and, when the platform says it, the deployment id."""
    if not isinstance(data, dict):
        raise _error(
            _l("The LMS accepted the registration but its answer is not a JSON object."),
            status=422,
        )
    client_id = _identifier(data.get("client_id"))
    if client_id is None:
        raise _error(
            _l(
                "The LMS accepted the registration but did not give Bottega a client id. "
                "Register Bottega by hand instead (see GET /lti/config)."
            ),
            status=422,
        )
    tool_config = data.get(TOOL_CONFIGURATION)
    if not isinstance(tool_config, dict):
        raise _error(
            _l(
                "The LMS accepted the registration but its answer is not an LTI tool "
                "configuration (it lacks %(field)s)."
            ),
            status=422,
            field=TOOL_CONFIGURATION,
        )
    raw_deployment = tool_config.get("deployment_id")
    deployment_id = _identifier(raw_deployment)
    if raw_deployment not in (None, "") and deployment_id is None:
        raise _error(_l("The LMS answered with a deployment id Bottega cannot read."), status=422)
    return client_id, deployment_id


def post_registration(
    config: PlatformConfiguration,
    body: Mapping[str, Any],
    token: str | None,
    *,
    http: requests.Session | None = None,
    timeout: tuple[float, float] = TIMEOUT,
) -> tuple[str, str | None]:
    """POST the client registration; the platform's client id and deployment id."""
    what = _l("The LMS registration endpoint")
    with _session(http) as session:
        status, data = _send(
            session,
            "POST",
            config.registration_endpoint,
            what=what,
            token=token,
            body=body,
            timeout=timeout,
        )
    reason = ""
    if isinstance(data, dict):
        reason = str(data.get("error_description") or data.get("error") or "")[:300]
    if status in (401, 403):
        log.info("Dynamic registration refused by %s: HTTP %s %s", config.issuer, status, reason)
        raise _token_refused(status, reason)
    if status not in (200, 201):
        log.info("Dynamic registration failed at %s: HTTP %s %s", config.issuer, status, reason)
        raise _error(
            _l(
                "The LMS refused Bottega's registration (HTTP %(code)s%(reason)s). Check the "
                "LMS's logs, then start the registration again."
            ),
            detail=reason,
            code=status,
            reason=f": {reason}" if reason else "",
        )
    return read_registration_response(data)


def _token_refused(status: int, reason: str) -> Exception:
    return _error(
        _l(
            "The LMS refused the registration token (HTTP %(code)s). A registration token "
            "works only once and expires: start the registration again from your LMS to get "
            "a new one."
        ),
        status=403,
        detail=reason,
        code=status,
    )


# -- storing ----------------------------------------------------------------------------------


def _find(session: Session, issuer: str, client_id: str) -> Platform | None:
    platform: Platform | None = session.scalar(
        select(Platform)
        .options(selectinload(Platform.deployments))
        .where(Platform.issuer == issuer, Platform.client_id == client_id)
    )
    return platform


def store_registration(
    session: Session,
    config: PlatformConfiguration,
    client_id: str,
    deployment_id: str | None,
    new_status: PlatformStatus = PlatformStatus.ACTIVE,
) -> RegistrationResult:
    """A new platform (``new_status``: active, or pending Bottega's approval), or a new
    deployment of a known one (whose status stays as it is)."""
    deployments = (deployment_id,) if deployment_id else ()
    platform = _find(session, config.issuer, client_id)
    created = platform is None
    if platform is None:
        try:
            platform = add_platform(
                session,
                PlatformInput(
                    issuer=config.issuer,
                    client_id=client_id,
                    auth_login_url=config.authorization_endpoint,
                    auth_token_url=config.token_endpoint,
                    key_set_url=config.jwks_uri,
                    deployment_ids=deployments,
                    name=config.name,
                    auth_audience=config.authorization_server,
                    status=new_status,
                ),
            )
        except (RegistrationError, IntegrityError) as exc:
            # Registered meanwhile by a concurrent request: fall back to adding the deployment.
            session.rollback()
            platform = _find(session, config.issuer, client_id)
            if platform is None:
                raise _error(
                    _l("Bottega could not store this LMS: %(reason)s"),
                    detail=str(exc),
                    reason=str(exc) if isinstance(exc, RegistrationError) else "conflict",
                ) from exc
            created = False
    if not created:
        try:
            add_deployments(session, platform, deployments)
        except IntegrityError:
            session.rollback()  # the same deployment added concurrently: it is there
            session.refresh(platform)
    return RegistrationResult(
        platform_id=platform.id,
        platform_name=platform.name,
        issuer=platform.issuer,
        client_id=platform.client_id,
        deployment_id=deployment_id,
        created=created,
        status=platform.status,
        product_family_code=config.product_family_code,
    )


# -- the whole flow ---------------------------------------------------------------------------


def register(
    session: Session,
    config_url: str,
    token: str | None,
    tool: ToolSettings,
    *,
    http: requests.Session | None = None,
    allow_loopback: bool = True,
    new_status: PlatformStatus = PlatformStatus.ACTIVE,
) -> RegistrationResult:
    """Fetch the configuration, register with the platform, store the result (a new LMS
    with ``new_status``)."""
    config = fetch_configuration(config_url, token, http=http, allow_loopback=allow_loopback)
    client_id, deployment_id = post_registration(
        config, registration_request(tool, config), token, http=http
    )
    result = store_registration(session, config, client_id, deployment_id, new_status)
    log.info(
        "Dynamic registration with %s: client %s, deployment %s (%s)",
        config.issuer,
        client_id,
        deployment_id or "none",
        "new platform" if result.created else "known platform",
    )
    return result
