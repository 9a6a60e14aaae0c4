"""The NRPS client and its HTTP policy, over real HTTP against a scripted endpoint."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from lti_tool.config import ServiceSettings
from lti_tool.lti.keys import KeyStore
from lti_tool.lti.nrps import NrpsClient, parse_links, with_limit
from lti_tool.lti.service_token import ServiceTokenClient, TokenKey
from lti_tool.lti.services import (
    Deadline,
    ServiceError,
    ServiceHttp,
    ServiceRegistration,
    check_service_url,
    parse_retry_after,
)

from .fake_lms import FakeLms, serve_fake

pytestmark = pytest.mark.slow
FAST = ServiceSettings(connect_timeout=1, read_timeout=2, retries=2, max_wait=3)


class MemoryCache:
    def __init__(self) -> None:
        self.tokens: dict[TokenKey, str] = {}

    def get(self, key: TokenKey) -> str | None:
        return self.tokens.get(key)

    def put(self, key: TokenKey, token: str, usable_for: float) -> None:
        self.tokens[key] = token

    def drop(self, key: TokenKey) -> None:
        self.tokens.pop(key, None)

    def claim(self, key: TokenKey, seconds: float) -> bool:
        return True

    def release(self, key: TokenKey) -> None:
        return None


@pytest.fixture
def fake() -> Iterator[FakeLms]:
    lms = FakeLms(members=[{"user_id": f"u{i}", "roles": ["Learner"]} for i in range(7)])
    with serve_fake(lms):
        yield lms


def client_for(
    fake: FakeLms, keys_dir: object, settings: ServiceSettings = FAST, deadline: float | None = None
) -> NrpsClient:
    registration = ServiceRegistration(
        issuer=fake.url,
        client_id="client-1",
        auth_token_url=fake.url + "/token",
        auth_login_url=fake.url + "/auth",
    )
    keys = KeyStore(keys_dir)  # type: ignore[arg-type]
    keys.ensure()
    http = ServiceHttp(settings, deadline=Deadline(deadline))
    tokens = ServiceTokenClient(http, keys, MemoryCache())
    return NrpsClient(registration, "1", http=http, tokens=tokens, page_size=3)


@pytest.mark.parametrize("style", ["quoted", "bare", "relative"])
def test_follows_cursor_links_exactly_as_given(fake: FakeLms, keys_dir: object, style: str) -> None:
    fake.link_style = style
    fake.page_size = 3  # the LMS ignores our limit and pages with cursors of its own
    stream = client_for(fake, keys_dir).memberships(fake.url + "/roster")
    ids = [m.lms_id for page in stream for m in page.members]
    assert ids == [f"u{i}" for i in range(7)]
    assert stream.complete and stream.pages == 3
    assert fake.requests == ["/roster?limit=3", "/roster?cursor=3", "/roster?cursor=6"]


def test_a_looping_link_stops_the_stream_incomplete(fake: FakeLms, keys_dir: object) -> None:
    fake.loop = True
    stream = client_for(fake, keys_dir).memberships(fake.url + "/roster?limit=3&cursor=0")
    pages = list(stream)  # the LMS keeps answering "next: cursor=0"
    assert len(pages) == 2 and not stream.complete and stream.stopped == "loop"
    assert fake.requests == ["/roster?limit=3&cursor=0", "/roster?cursor=0"]


def test_differences_link_is_remembered(fake: FakeLms, keys_dir: object) -> None:
    fake.offer_differences = True
    stream = client_for(fake, keys_dir).memberships(fake.url + "/roster")
    list(stream)
    assert stream.differences_url == fake.url + "/roster/changes?since=42"


def test_429_with_retry_after_is_honoured_then_succeeds(fake: FakeLms, keys_dir: object) -> None:
    fake.statuses = [429]
    fake.retry_after = "1"
    started = time.monotonic()
    pages = list(client_for(fake, keys_dir).memberships(fake.url + "/roster"))
    assert time.monotonic() - started >= 1.0
    assert sum(len(p.members) for p in pages) == 7


def test_a_long_retry_after_is_left_to_the_job_queue(fake: FakeLms, keys_dir: object) -> None:
    fake.statuses = [503]
    fake.retry_after = "120"
    started = time.monotonic()
    with pytest.raises(ServiceError) as caught:
        list(client_for(fake, keys_dir).memberships(fake.url + "/roster"))
    assert time.monotonic() - started < 2
    assert caught.value.temporary and caught.value.retry_after == pytest.approx(120)
    assert caught.value.code == "server_error"


def test_one_token_refresh_on_401(fake: FakeLms, keys_dir: object) -> None:
    client = client_for(fake, keys_dir)
    list(client.memberships(fake.url + "/roster"))
    assert fake.token_requests == 1
    fake.valid_tokens.clear()  # the LMS forgot every token it issued
    list(client.memberships(fake.url + "/roster"))
    assert fake.token_requests == 2
    fake.statuses = [401, 401]
    with pytest.raises(ServiceError) as caught:
        list(client.memberships(fake.url + "/roster"))
    assert caught.value.code == "unauthorized" and not caught.value.temporary
    assert fake.token_requests == 3  # one refresh, not a loop


def test_a_4xx_carries_the_lms_message(fake: FakeLms, keys_dir: object) -> None:
    fake.statuses = [403]
    with pytest.raises(ServiceError) as caught:
        list(client_for(fake, keys_dir).memberships(fake.url + "/roster"))
    assert caught.value.code == "refused" and caught.value.status == 403
    assert caught.value.detail == "scripted" and not caught.value.temporary


def test_a_hanging_lms_times_out_within_the_bound(fake: FakeLms, keys_dir: object) -> None:
    import threading

    fake.hang = threading.Event()
    settings = ServiceSettings(connect_timeout=1, read_timeout=0.3, retries=1, max_wait=1)
    client = client_for(fake, keys_dir, settings)
    client.tokens.cache.put(  # type: ignore[attr-defined]
        TokenKey.of(
            client.platform,
            "1",
            ["https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"],
        ),
        fake.issue(),
        60,
    )
    started = time.monotonic()
    with pytest.raises(ServiceError) as caught:
        list(client.memberships(fake.url + "/roster"))
    elapsed = time.monotonic() - started
    assert caught.value.code == "timeout" and caught.value.temporary
    assert elapsed < 2.0  # two attempts of 0.3 s and a short pause, not 30 s


def test_the_deadline_bounds_a_slow_but_answering_lms(fake: FakeLms, keys_dir: object) -> None:
    fake.members = [{"user_id": f"u{i}"} for i in range(200)]
    fake.page_size = 1
    client = client_for(fake, keys_dir, deadline=0.5)
    started = time.monotonic()
    with pytest.raises(ServiceError) as caught:
        for _page in client.memberships(fake.url + "/roster"):
            time.sleep(0.05)
    assert caught.value.code == "timeout"
    assert time.monotonic() - started < 1.5


def test_bearer_tokens_only_go_to_the_registrations_hosts() -> None:
    moodle = ServiceRegistration(
        issuer="https://moodle.example.org",
        client_id="c",
        auth_token_url="https://moodle.example.org/mod/lti/token.php",
        auth_login_url="https://moodle.example.org/mod/lti/auth.php",
    )
    check_service_url(moodle, "https://moodle.example.org/mod/lti/services.php/2/memberships")
    for bad in (
        "https://evil.example.org/memberships",
        "https://moodle.example.org.evil.example/x",
        "https://moodle.example.org:8443/x",
        "http://moodle.example.org/x",
        "ftp://moodle.example.org/x",
        "/relative",
    ):
        with pytest.raises(ServiceError) as caught:
            check_service_url(moodle, bad)
        assert caught.value.code == "untrusted_host"
    canvas = ServiceRegistration(
        issuer="https://canvas.instructure.com",
        client_id="c",
        auth_token_url="https://sso.canvaslms.com/login/oauth2/token",
        auth_login_url="https://sso.canvaslms.com/api/lti/authorize_redirect",
    )
    url = "https://school.instructure.com/api/lti/courses/1/names_and_roles"
    with pytest.raises(ServiceError):
        check_service_url(canvas, url)
    check_service_url(canvas, url, extra_hosts=["*.instructure.com"])


def test_untrusted_url_fails_before_any_token_is_requested(fake: FakeLms, keys_dir: object) -> None:
    client = client_for(fake, keys_dir)
    with pytest.raises(ServiceError):
        client.memberships(fake.url.replace("127.0.0.1", "localhost") + "/roster")
    assert fake.token_requests == 0 and fake.requests == []


def test_link_header_parsing() -> None:
    base = "https://lms.example/nrps/1?limit=10"
    header = (
        '<https://lms.example/nrps/1?limit=10&from=10>; rel="next", '
        "</nrps/1/changes?since=5>; rel=differences, "
        '<https://lms.example/nrps/1?a=1,2>; title="x"; rel="last prev"'
    )
    links = parse_links(header, base)
    assert links["next"] == "https://lms.example/nrps/1?limit=10&from=10"
    assert links["differences"] == "https://lms.example/nrps/1/changes?since=5"
    assert links["prev"] == links["last"] == "https://lms.example/nrps/1?a=1,2"
    assert parse_links(None, base) == {}


def test_limit_is_added_to_the_first_url_only_when_absent() -> None:
    assert with_limit("https://x/m", 100) == "https://x/m?limit=100"
    assert with_limit("https://x/m?role=Learner", 100) == "https://x/m?role=Learner&limit=100"
    assert with_limit("https://x/m?limit=5", 100) == "https://x/m?limit=5"


def test_retry_after_forms() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert 0 <= (parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") or 0) < 1
