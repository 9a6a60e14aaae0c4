"""The LMS's public keys: fetched once, refetched on rotation (rate-limited), stale when down."""

from __future__ import annotations

import threading
import time

from flask import Flask

from lti_tool.demo.platform import Fault, RunningServer, serve_platform
from lti_tool.lti.jwks import PlatformKeys

from ..lti_harness import LaunchResult, Lms, register_both_sides


def _keys(app: Flask) -> PlatformKeys:
    keys: PlatformKeys = app.extensions["bottega_platform_keys"]
    return keys


def test_key_set_is_fetched_once_for_many_launches(lms: Lms) -> None:
    for _ in range(5):
        assert lms.launch().ok
    assert lms.platform.jwks_requests == 1


def test_rotated_lms_key_is_picked_up_with_one_refetch(lms: Lms, app: Flask) -> None:
    _keys(app).refetch_interval = 0  # no waiting in a test
    assert lms.launch().ok
    lms.platform.rotate_key()
    assert lms.launch().ok
    assert lms.platform.jwks_requests == 2


def test_unknown_kids_do_not_hammer_the_lms(lms: Lms) -> None:
    from lti_tool.demo.platform import Tamper

    assert lms.launch().ok
    for _ in range(5):
        assert lms.launch(tamper=Tamper(headers={"kid": "forged"})).status == 401
    # One refetch at most inside the rate-limit window (30 s by default), not one per token.
    assert lms.platform.jwks_requests <= 2


def test_stale_keys_are_used_while_the_lms_key_endpoint_is_down(lms: Lms, app: Flask) -> None:
    assert lms.launch().ok
    keys = _keys(app)
    keys.ttl = 0  # everything is stale now
    lms.platform.jwks_failure = 503
    assert lms.launch().ok


def test_cached_key_set_survives_a_restart_while_the_lms_is_down(lms: Lms, app: Flask) -> None:
    assert lms.launch().ok
    # A new worker process starts with an empty memory cache: the database copy serves.
    app.extensions["bottega_platform_keys"] = PlatformKeys()
    lms.platform.jwks_failure = 500
    assert lms.launch().ok


def test_stale_keys_serve_while_the_lms_is_down_without_a_try_per_launch(
    lms: Lms, app: Flask
) -> None:
    assert lms.launch().ok
    _keys(app).ttl = 0
    lms.platform.jwks_failure = 503
    for _ in range(3):
        assert lms.launch().ok
    # One failed try; the next waits for the refetch interval (30 s), so no launch waits out
    # a slow LMS again and again.
    assert lms.platform.jwks_requests == 2


def test_a_key_set_refreshed_by_a_launch_is_not_fetched_again_for_its_unknown_kid(
    lms: Lms, app: Flask
) -> None:
    from lti_tool.demo.platform import Tamper

    assert lms.launch().ok
    _keys(app).ttl = 0  # the next launch refreshes the key set
    assert lms.launch(tamper=Tamper(headers={"kid": "forged"})).status == 401
    assert lms.platform.jwks_requests == 2  # the refresh, not a second fetch for the kid


def test_key_set_down_from_the_start_is_a_clear_503(lms: Lms) -> None:
    lms.platform.jwks_failure = 503
    result = lms.launch()
    assert result.status == 503
    assert "did not hand out its public keys" in result.launch_response.text
    assert "Try again in a few minutes" in result.launch_response.text


def test_key_set_url_that_is_wrong_is_a_clear_4xx(lms: Lms) -> None:
    lms.platform.jwks_failure = 404
    result = lms.launch()
    assert result.status == 400
    assert "could not fetch the public keys" in result.launch_response.text
    assert "Check the key set URL" in result.launch_response.text


def test_a_hanging_key_set_endpoint_times_out(lms: Lms, app: Flask) -> None:
    _keys(app).timeout = (0.5, 0.5)
    lms.platform.jwks_delay = 2.0
    result = lms.launch()
    assert result.status == 503


def test_a_key_set_sent_a_byte_at_a_time_is_given_up_on(lms: Lms, app: Flask) -> None:
    """No single read waits long, so only a bound on the whole fetch stops it."""
    _keys(app).timeout = (0.5, 0.5)  # the whole fetch: 1.5 s; the key set would take minutes
    lms.platform.jwks_drip = 0.2
    result = lms.launch()
    assert result.status == 503
    assert "Try again in a few minutes" in result.launch_response.text
    lms.platform.jwks_drip = 0.0
    assert lms.launch().ok


def test_a_huge_key_set_is_refused(lms: Lms, app: Flask) -> None:
    lms.platform.jwks_padding = 2 * 1024 * 1024
    result = lms.launch()
    assert result.status == 400
    assert "could not fetch the public keys" in result.launch_response.text
    lms.platform.jwks_padding = 0
    assert lms.launch().ok


def test_a_slow_key_set_of_one_lms_holds_up_no_launch_from_another(
    lms: Lms, app: Flask, tool_server: RunningServer
) -> None:
    """Key sets are fetched one at a time per LMS, not one at a time for all of them."""
    _keys(app).timeout = (5.0, 20.0)
    lms.platform.break_service("jwks", Fault.hanging(30))  # served once healed
    first: list[LaunchResult] = []
    waiting = threading.Thread(target=lambda: first.append(lms.launch()))
    waiting.start()
    try:
        deadline = time.monotonic() + 10
        while not lms.platform.service_requests.get("jwks") and time.monotonic() < deadline:
            time.sleep(0.02)  # the first launch is now waiting for its LMS's keys
        assert lms.platform.service_requests.get("jwks") == 1
        with serve_platform() as server:
            register_both_sides(app, server.platform, tool_server.url, name="Other LMS")
            other = Lms(server=server, tool_url=tool_server.url)
            assert other.launch().ok
        assert waiting.is_alive() and first == []  # still waiting for the slow LMS
    finally:
        lms.platform.heal()
        waiting.join(30)
    assert first and first[0].ok
