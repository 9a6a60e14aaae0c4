"""Assignment and Grade Services 2.0: line items and scores, with Bottega's service token.

The launch's AGS claim names the line items container (``lineitems``), the placement's own line
item when the LMS bound one to it (``lineitem``, e.g. created from a deep linking ``lineItem``),
and the scopes granted. Scores are posted as real platforms demand them: ``userId``,
``timestamp``, ``activityProgress`` and ``gradingProgress`` always, and ``scoreGiven`` /
``scoreMaximum`` with ``FullyGraded`` (Moodle ignores a score otherwise). Moodle answers 409 to
a timestamp not later than the last one it took for that user: such a score is settled (the
platform already holds it, or a later one), never retried.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import requests

from lti_tool.courses.models import Platform
from lti_tool.lti.nrps import parse_links
from lti_tool.lti.service_token import ServiceTokenClient, authorized
from lti_tool.lti.services import (
    ServiceError,
    ServiceHttp,
    ServiceRegistration,
    check_service_url,
    lms_message,
)

SCOPE_PREFIX = "https://purl.imsglobal.org/spec/lti-ags/scope/"
SCOPE_LINEITEM = SCOPE_PREFIX + "lineitem"
SCOPE_LINEITEM_READONLY = SCOPE_PREFIX + "lineitem.readonly"
SCOPE_RESULT_READONLY = SCOPE_PREFIX + "result.readonly"
SCOPE_SCORE = SCOPE_PREFIX + "score"
KNOWN_SCOPES = (SCOPE_LINEITEM, SCOPE_LINEITEM_READONLY, SCOPE_RESULT_READONLY, SCOPE_SCORE)
LINEITEM_TYPE = "application/vnd.ims.lis.v2.lineitem+json"
CONTAINER_TYPE = "application/vnd.ims.lis.v2.lineitemcontainer+json"
SCORE_TYPE = "application/vnd.ims.lis.v1.score+json"
PARTICIPATION_TAG = "participation"
MAX_PAGES = 50


@dataclass(frozen=True)
class AgsEndpoint:
    """The AGS claim of a launch, as plain data."""

    lineitems: str | None
    lineitem: str | None
    scopes: tuple[str, ...]

    @classmethod
    def of(cls, claim: Any) -> AgsEndpoint | None:
        """The endpoint from a stored ``ags`` claim; None when it names no URL."""
        if not isinstance(claim, dict):
            return None
        lineitems = claim.get("lineitems")
        lineitem = claim.get("lineitem")
        scopes = claim.get("scope")
        endpoint = cls(
            lineitems=lineitems if isinstance(lineitems, str) and lineitems else None,
            lineitem=lineitem if isinstance(lineitem, str) and lineitem else None,
            scopes=tuple(s for s in scopes if isinstance(s, str))
            if isinstance(scopes, list)
            else (),
        )
        return endpoint if endpoint.lineitems or endpoint.lineitem else None

    @property
    def can_score(self) -> bool:
        return SCOPE_SCORE in self.scopes

    @property
    def can_create(self) -> bool:
        return SCOPE_LINEITEM in self.scopes and self.lineitems is not None

    def token_scopes(self) -> list[str]:
        """The AGS scopes to ask a token for: those granted that Bottega uses."""
        return [s for s in KNOWN_SCOPES if s in self.scopes]


@dataclass(frozen=True)
class LineItem:
    """A gradebook column (AGS 2.0 §3.2)."""

    url: str | None
    label: str
    score_maximum: float
    resource_link_id: str | None = None
    resource_id: str | None = None
    tag: str | None = None

    @classmethod
    def of(cls, data: Any) -> LineItem | None:
        if not isinstance(data, dict):
            return None
        try:
            maximum = float(data.get("scoreMaximum") or 0)
        except (TypeError, ValueError):
            maximum = 0.0
        url = data.get("id")
        return cls(
            url=url if isinstance(url, str) and url else None,
            label=str(data.get("label") or ""),
            score_maximum=maximum,
            resource_link_id=_text(data.get("resourceLinkId")),
            resource_id=_text(data.get("resourceId")),
            tag=_text(data.get("tag")),
        )

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"label": self.label, "scoreMaximum": self.score_maximum}
        if self.resource_link_id:
            body["resourceLinkId"] = self.resource_link_id
        if self.resource_id:
            body["resourceId"] = self.resource_id
        if self.tag:
            body["tag"] = self.tag
        return body


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def iso_timestamp(moment: datetime) -> str:
    """An ISO 8601 timestamp with milliseconds and an explicit offset, as AGS requires."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Score:
    """One learner's score for one line item, at a fixed moment."""

    user_id: str
    score_given: float
    score_maximum: float
    timestamp: datetime
    comment: str | None = None

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "userId": self.user_id,
            "timestamp": iso_timestamp(self.timestamp),
            "activityProgress": "Submitted" if self.score_given > 0 else "Initialized",
            "gradingProgress": "FullyGraded",
            "scoreGiven": self.score_given,
            "scoreMaximum": self.score_maximum,
        }
        if self.comment:
            body["comment"] = self.comment
        return body


def scores_url(lineitem_url: str) -> str:
    """The scores endpoint of a line item: ``/scores`` appended to its path, query kept."""
    parts = urlsplit(lineitem_url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/scores"))


def with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    extra = urlencode(params)
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit(parts._replace(query=query))


class AgsClient:
    """Line items and scores of one registration and deployment.

    Safe to share between threads: the access token is kept here for the client's life and
    refreshed once when the LMS answers 401 (by whichever thread sees it first).
    """

    def __init__(
        self,
        platform: Platform | ServiceRegistration,
        deployment_id: str,
        endpoint: AgsEndpoint,
        *,
        http: ServiceHttp,
        tokens: ServiceTokenClient,
        extra_hosts: Sequence[str] = (),
    ) -> None:
        self.platform = (
            platform
            if isinstance(platform, ServiceRegistration)
            else ServiceRegistration.of(platform)
        )
        self.deployment_id = deployment_id
        self.endpoint = endpoint
        self.http = http
        self.tokens = tokens
        self.extra_hosts = tuple(extra_hosts)
        self._token: str | None = None
        self._lock = threading.Lock()

    # -- plumbing ------------------------------------------------------------------------------
    def _current_token(self, stale: str | None = None) -> str:
        with self._lock:
            if self._token is None or (stale is not None and self._token == stale):
                scopes = self.endpoint.token_scopes()
                if not scopes:
                    raise ServiceError(
                        "no_service", "the LMS granted no grade service scope", temporary=False
                    )
                self._token = self.tokens.token(
                    self.platform, self.deployment_id, scopes, refresh=stale is not None
                )
            return self._token

    def _call(
        self,
        method: str,
        url: str,
        *,
        accept: str,
        content_type: str | None = None,
        body: Any = None,
        retry: bool = True,
    ) -> requests.Response:
        """One authorised request; a 401 gets one token refresh. Returns a non-401 answer."""
        check_service_url(self.platform, url, self.extra_hosts)
        used: list[str] = []

        def token(refresh: bool) -> str:
            used.append(self._current_token(stale=used[-1] if refresh and used else None))
            return used[-1]

        headers = {"Accept": accept, **({"Content-Type": content_type} if content_type else {})}
        data = json.dumps(body).encode() if body is not None else None
        response = authorized(
            self.http, token, method, url, headers=headers, data=data, service="ags", retry=retry
        )
        if response.status_code == 401:
            message = lms_message(response)
            response.close()
            raise ServiceError(
                "unauthorized",
                "the LMS refused Bottega's access token for grades",
                temporary=False,
                status=401,
                detail=message,
            )
        return response

    @staticmethod
    def _refused(response: requests.Response, what: str) -> ServiceError:
        message = lms_message(response)
        response.close()
        status = response.status_code
        return ServiceError(
            "refused",
            f"the LMS answered {status} to {what}",
            temporary=status in (408, 425),
            status=status,
            detail=message,
        )

    # -- line items ----------------------------------------------------------------------------
    def get_line_item(self, url: str) -> LineItem:
        response = self._call("GET", url, accept=LINEITEM_TYPE)
        if response.status_code != 200:
            raise self._refused(response, "the line item request")
        item = LineItem.of(self.http.read_json(response, limit=1024 * 1024))
        if item is None:
            raise ServiceError("bad_response", "the line item is not an object", temporary=False)
        return item if item.url else LineItem(url, item.label, item.score_maximum)

    def find_line_items(
        self, *, resource_link_id: str | None = None, tag: str | None = None
    ) -> list[LineItem]:
        """The container's line items, filtered by the LMS (and again here) as asked."""
        if self.endpoint.lineitems is None:
            raise ServiceError("no_service", "the launch gave no line items URL", temporary=False)
        params = {}
        if resource_link_id:
            params["resource_link_id"] = resource_link_id
        if tag:
            params["tag"] = tag
        url: str | None = (
            with_query(self.endpoint.lineitems, params) if params else (self.endpoint.lineitems)
        )
        found: list[LineItem] = []
        seen: set[str] = set()
        while url and url not in seen and len(seen) < MAX_PAGES:
            seen.add(url)
            response = self._call("GET", url, accept=CONTAINER_TYPE)
            if response.status_code != 200:
                raise self._refused(response, "the line items request")
            links = parse_links(response.headers.get("Link"), url)
            data = self.http.read_json(response)
            if not isinstance(data, list):
                raise ServiceError(
                    "bad_response", "the line items answer is not a list", temporary=False
                )
            for entry in data:
                item = LineItem.of(entry)
                if item is None or item.url is None:
                    continue
                if resource_link_id and item.resource_link_id != resource_link_id:
                    continue
                if tag and item.tag != tag:
                    continue
                found.append(item)
            url = links.get("next")
        if url:
            # Pages that loop or never end: the list is not known, so nothing may be created on
            # the strength of it (a second column for an item on a page not read).
            raise ServiceError(
                "bad_response",
                f"the LMS's line items go on past {MAX_PAGES} pages or loop",
                temporary=False,
            )
        return found

    def create_line_item(self, item: LineItem) -> LineItem:
        if not self.endpoint.can_create:
            raise ServiceError(
                "no_service", "the LMS did not allow Bottega to create line items", temporary=False
            )
        assert self.endpoint.lineitems is not None
        # Sent once: after a timeout or a 5xx the LMS may have created it all the same, and a
        # second POST would add a second gradebook column. The job's next attempt looks first.
        response = self._call(
            "POST",
            self.endpoint.lineitems,
            accept=LINEITEM_TYPE,
            content_type=LINEITEM_TYPE,
            body=item.as_json(),
            retry=False,
        )
        if response.status_code not in (200, 201):
            raise self._refused(response, "the new line item")
        created = LineItem.of(self.http.read_json(response, limit=1024 * 1024))
        if created is None or created.url is None:
            raise ServiceError("bad_response", "the created line item has no id", temporary=False)
        return created

    def find_or_create(self, item: LineItem) -> tuple[LineItem, bool]:
        """The line item of ``item.resource_link_id`` and tag, created when there is none."""
        existing = self.find_line_items(resource_link_id=item.resource_link_id, tag=item.tag)
        if existing:
            return existing[0], False
        return self.create_line_item(item), True

    # -- scores --------------------------------------------------------------------------------
    def post_score(self, lineitem_url: str, score: Score) -> str:
        """Publish one score: ``"sent"``, or ``"settled"`` when the LMS answers 409 (it holds
        this score already, or a later one). Other failures raise ServiceError."""
        if not self.endpoint.can_score:
            raise ServiceError(
                "no_service", "the LMS did not allow Bottega to send scores", temporary=False
            )
        response = self._call(
            "POST",
            scores_url(lineitem_url),
            accept="application/json",
            content_type=SCORE_TYPE,
            body=score.as_json(),
        )
        status = response.status_code
        if 200 <= status < 300:
            response.close()
            return "sent"
        if status == 409:
            response.close()
            return "settled"
        if status in (404, 410):
            # The column is gone (an instructor deleted it): no score of this push can land.
            message = lms_message(response)
            response.close()
            raise ServiceError(
                "lineitem_gone",
                f"the LMS no longer has this line item ({status})",
                temporary=False,
                status=status,
                detail=message,
            )
        raise self._refused(response, "a score")
