"""What Bottega keeps of an LMS's refusal: the start of its body, read within bounds."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
import requests

from lti_tool.lti.services import ERROR_BODY_BYTES, lms_message


class _Counting(io.BytesIO):
    """A response body that counts what the client read of it."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.taken = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.taken += len(chunk)
        return chunk

    def stream(self, amt: int, decode_content: bool = True) -> Iterator[bytes]:
        while chunk := self.read(amt):
            yield chunk


def _response(body: bytes, content_type: str, status: int = 503) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.reason = "Service Unavailable"
    response.headers["Content-Type"] = content_type
    response.encoding = requests.utils.get_encoding_from_headers(response.headers)
    response.raw = _Counting(body)
    return response


def test_an_oauth_error_object_is_quoted_by_its_fields() -> None:
    body = b'{"error": "invalid_client", "error_description": "unknown key"}'
    assert lms_message(_response(body, "application/json")) == "invalid_client: unknown key"


def test_a_huge_error_page_is_read_only_as_far_as_its_start() -> None:
    body = b"<html><head><title>Down for maintenance</title></head>" + b"x" * (8 * 1024 * 1024)
    response = _response(body, "text/html")
    assert lms_message(response) == "Down for maintenance"
    assert response.raw.taken <= ERROR_BODY_BYTES + 8192  # not the 8 MB


def test_a_charset_nobody_knows_still_gives_the_text() -> None:
    response = _response(b"Temporarily closed", "text/plain; charset=klingon")
    assert lms_message(response) == "Temporarily closed"


def test_a_body_that_breaks_off_leaves_the_reason_phrase() -> None:
    class Broken(_Counting):
        def read(self, size: int | None = -1) -> bytes:
            raise requests.exceptions.ConnectionError("connection reset")

    response = _response(b"", "application/json")
    response.raw = Broken(b"")
    assert lms_message(response) == "Service Unavailable"


def test_a_body_sent_a_byte_at_a_time_is_read_for_two_seconds_at_most(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = iter(range(0, 1000, 1))  # one second per read
    monkeypatch.setattr("lti_tool.lti.services.time.monotonic", lambda: float(next(clock)))
    response = _response(b"Service down for maintenance", "text/plain")

    def bytewise(amt: int, decode_content: bool = True) -> Iterator[bytes]:
        raw = response.raw
        while byte := raw.read(1):
            yield byte

    response.raw.stream = bytewise
    assert lms_message(response) == "Ser"
