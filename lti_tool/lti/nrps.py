"""Names and Role Provisioning Services 2.0: a course's members, streamed page by page.

The first request asks for ``limit`` members (NRPS 2.0 §2.4.2); every later page is fetched
exactly as the LMS's ``Link: <...>; rel="next"`` header gives it (Moodle pages with
limit/from, others with cursors: Bottega never builds page URLs). A page seen twice or more
pages than the cap end the stream as incomplete, so a caller never treats it as a full roster.
``rel="differences"`` is remembered for the next sync. One page is in memory at a time.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from lti_tool.courses.models import Platform
from lti_tool.lti.service_token import ServiceTokenClient, authorized
from lti_tool.lti.services import (
    ServiceError,
    ServiceHttp,
    ServiceRegistration,
    check_service_url,
    lms_message,
)

log = logging.getLogger(__name__)

SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
MEDIA_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
_LINK = re.compile(r"<([^>]*)>((?:\s*;\s*[^;,]*)*)")


def parse_links(header: str | None, base: str) -> dict[str, str]:
    """``rel -> URL`` from a Link header (RFC 8288); relative targets resolve against ``base``."""
    links: dict[str, str] = {}
    for match in _LINK.finditer(header or ""):
        target = match.group(1).strip()
        for param in match.group(2).split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() != "rel":
                continue
            for rel in value.strip().strip('"').split():
                links.setdefault(rel.lower(), urljoin(base, target))
    return links


def with_limit(url: str, limit: int) -> str:
    """The memberships URL asking for ``limit`` members, unless it already names a limit."""
    parts = urlsplit(url)
    names = {p.partition("=")[0] for p in parts.query.split("&") if p}
    if "limit" in names:
        return url
    query = f"{parts.query}&limit={limit}" if parts.query else f"limit={limit}"
    return urlunsplit(parts._replace(query=query))


def full_role(role: str) -> str:
    """A context role as a full URI (LTI allows short names such as ``Learner``)."""
    role = role.strip()
    return role if ("/" in role or "#" in role or ":" in role) else MEMBERSHIP + role


@dataclass(frozen=True)
class RosterMember:
    """One member as the LMS lists them; personal fields are None when not shared."""

    lms_id: str
    roles: tuple[str, ...]
    status: str  # "active", "inactive" or "deleted" (deleted only in differences)
    name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    email: str | None = None
    picture: str | None = None

    @property
    def active(self) -> bool:
        return self.status == "active"


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def member_from(data: Any) -> RosterMember | None:
    """A member from an NRPS ``members`` entry; None when it has no user id."""
    if not isinstance(data, dict):
        return None
    lms_id = _text(data.get("user_id"))
    if lms_id is None:
        return None
    raw_roles = data.get("roles")
    roles = tuple(
        dict.fromkeys(full_role(r) for r in raw_roles if isinstance(r, str) and r.strip())
        if isinstance(raw_roles, list)
        else ()
    )
    status = str(data.get("status") or "Active").strip().lower()
    if status not in ("active", "inactive", "deleted"):
        status = "active"
    return RosterMember(
        lms_id=lms_id,
        roles=roles,
        status=status,
        name=_text(data.get("name")),
        given_name=_text(data.get("given_name")),
        family_name=_text(data.get("family_name")),
        email=_text(data.get("email")),
        picture=_text(data.get("picture")),
    )


@dataclass(frozen=True)
class MembershipPage:
    number: int
    url: str
    members: list[RosterMember]
    skipped: int  # entries without a user id


@dataclass
class MembershipStream:
    """Pages of a membership container; after iteration, ``complete`` says if all arrived."""

    client: NrpsClient
    first_url: str
    complete: bool = False
    stopped: str | None = None  # why the stream ended early: "loop" or "page cap"
    differences_url: str | None = None
    pages: int = 0  # pages read, those of earlier attempts included when resumed
    # While a page is handed out: the page after it (None on the last), where to resume.
    next_url: str | None = None
    _seen: set[str] = field(default_factory=set)

    def __iter__(self) -> Iterator[MembershipPage]:
        url: str | None = self.first_url
        while url:
            if url in self._seen:
                log.warning("NRPS paging loops back to %s: stopping, roster incomplete", url)
                self.stopped = "loop"
                return
            if self.pages >= self.client.max_pages:
                log.warning("NRPS paging exceeded %s pages: roster incomplete", self.pages)
                self.stopped = "page cap"
                return
            self._seen.add(url)
            self.pages += 1
            members, skipped, links = self.client.fetch_page(url)
            if "differences" in links:
                self.differences_url = links["differences"]
            self.next_url = links.get("next")
            yield MembershipPage(self.pages, url, members, skipped)
            url = self.next_url
        self.complete = True


class NrpsClient:
    """Reads one registration's membership containers with its service token."""

    def __init__(
        self,
        platform: Platform | ServiceRegistration,
        deployment_id: str,
        *,
        http: ServiceHttp,
        tokens: ServiceTokenClient,
        page_size: int = 100,
        max_pages: int = 2000,
        extra_hosts: Sequence[str] = (),
    ) -> None:
        self.platform = (
            platform
            if isinstance(platform, ServiceRegistration)
            else ServiceRegistration.of(platform)
        )
        self.deployment_id = deployment_id
        self.http = http
        self.tokens = tokens
        self.page_size = page_size
        self.max_pages = max_pages
        self.extra_hosts = tuple(extra_hosts)

    def memberships(self, url: str) -> MembershipStream:
        """Every member of the container at ``url`` (the launch's context_memberships_url)."""
        check_service_url(self.platform, url, self.extra_hosts)
        return MembershipStream(self, with_limit(url, self.page_size))

    def resume(self, url: str, pages: int) -> MembershipStream:
        """The rest of a roster an earlier attempt read ``pages`` pages of, from the ``next``
        link it stopped at."""
        check_service_url(self.platform, url, self.extra_hosts)
        return MembershipStream(self, url, pages=pages)

    def differences(self, url: str) -> MembershipStream:
        """The changes since an earlier read, from the ``rel="differences"`` URL it gave."""
        check_service_url(self.platform, url, self.extra_hosts)
        return MembershipStream(self, url)

    def fetch_page(self, url: str) -> tuple[list[RosterMember], int, dict[str, str]]:
        """One page: its members, how many entries were skipped, and its links."""
        check_service_url(self.platform, url, self.extra_hosts)
        response = authorized(
            self.http,
            lambda refresh: self.tokens.token(
                self.platform, self.deployment_id, [SCOPE], refresh=refresh
            ),
            "GET",
            url,
            headers={"Accept": MEDIA_TYPE},
            service="nrps",
        )
        status = response.status_code
        if status != 200:
            message = lms_message(response)
            response.close()
            if status == 401:
                raise ServiceError(
                    "unauthorized",
                    "the LMS refused Bottega's access token for the roster",
                    temporary=False,
                    status=status,
                    detail=message,
                )
            raise ServiceError(
                "refused",
                f"the LMS answered {status} to the roster request",
                temporary=status in (408, 425),
                status=status,
                detail=message,
            )
        link_header = response.headers.get("Link")
        data = self.http.read_json(response)
        if not isinstance(data, dict) or not isinstance(data.get("members"), list):
            raise ServiceError(
                "bad_response", "the roster answer has no members list", temporary=False
            )
        members: list[RosterMember] = []
        skipped = 0
        for entry in data["members"]:
            member = member_from(entry)
            if member is None:
                skipped += 1
            else:
                members.append(member)
        return members, skipped, parse_links(link_header, url)
