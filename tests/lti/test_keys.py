"""The tool's keys: created once, kept across restarts, rotated without breaking LMSs."""

from __future__ import annotations

import json
import multiprocessing
import time
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path

import jwt
import pytest
from flask.testing import FlaskClient

from lti_tool.lti import keys as keys_module
from lti_tool.lti.keys import ACTIVATION_MARGIN, MAX_TOKEN_LIFETIME, KeyStore, KeyStoreError
from lti_tool.lti.service_token import ASSERTION_LIFETIME, client_assertion
from lti_tool.lti.services import ServiceRegistration


def _ensure(directory: str, barrier: multiprocessing.synchronize.Barrier) -> None:  # type: ignore[name-defined]
    barrier.wait()
    KeyStore(directory).ensure()


def test_workers_starting_together_create_exactly_one_key(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(6)
    workers = [ctx.Process(target=_ensure, args=(str(tmp_path), barrier)) for _ in range(6)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
        assert w.exitcode == 0
    assert len(list(tmp_path.glob("*.pem"))) == 1
    assert not list(tmp_path.glob(".*.tmp")), "no half-written file is left behind"
    assert len(KeyStore(tmp_path).keys()) == 1


def test_key_survives_a_restart_with_the_same_kid(tmp_path: Path) -> None:
    first = KeyStore(tmp_path)
    assert first.ensure() is True
    restarted = KeyStore(tmp_path)
    assert restarted.ensure() is False
    assert restarted.signing_key().kid == first.signing_key().kid


def test_rotation_publishes_both_keys_and_signs_with_the_new_one(tmp_path: Path) -> None:
    """The new key is published first and signs only once every cached key set has it."""
    store = KeyStore(tmp_path, cache_max_age=300)
    store.ensure()
    old = store.signing_key()
    t0 = datetime.now(UTC)
    new = store.rotate(now=t0)
    assert new.kid != old.kid
    assert [k["kid"] for k in store.jwks()["keys"]] == [new.kid, old.kid]
    assert new.signs_from == t0 + timedelta(seconds=300) + ACTIVATION_MARGIN
    # An LMS that fetched the key set just before the rotation caches it until t0 + 300 s.
    for moment in (t0, t0 + timedelta(seconds=300), new.signs_from - timedelta(seconds=1)):
        assert store.signing_key(moment).kid == old.kid
    assert store.signing_key(new.signs_from).kid == new.kid
    assert store.signing_key(new.signs_from + timedelta(days=30)).kid == new.kid


def test_a_rotation_signs_with_the_old_key_on_the_real_clock_until_it_activates(
    tmp_path: Path,
) -> None:
    store = KeyStore(tmp_path)
    store.ensure()
    old = store.signing_key()
    new = store.rotate()
    assert new.kid in [k["kid"] for k in store.jwks()["keys"]]
    assert store.signing_key().kid == old.kid
    assert [(s.key.kid, s.state) for s in store.statuses()] == [
        (new.kid, "published"),
        (old.kid, "signing"),
    ]


def test_rotate_at_once_signs_immediately(tmp_path: Path) -> None:
    """For a leaked key: the new one signs now, the old one stays published until retired."""
    store = KeyStore(tmp_path)
    store.ensure()
    old = store.signing_key()
    new = store.rotate(at_once=True)
    assert new.signs_from == new.created
    assert store.signing_key().kid == new.kid
    assert [k["kid"] for k in store.jwks()["keys"]] == [new.kid, old.kid]


def test_another_process_sees_a_rotation(tmp_path: Path) -> None:
    worker = KeyStore(tmp_path)
    worker.ensure()
    before = worker.signing_key().kid
    t0 = datetime.now(UTC)
    new = KeyStore(tmp_path).rotate(now=t0)  # as `flask keys rotate` would, from another process
    assert len(worker.jwks()["keys"]) == 2
    assert worker.signing_key(t0).kid == before
    assert worker.signing_key(new.signs_from).kid == new.kid, "the activation time is on disk"


def _signing_worker(directory: str, conn: Connection) -> None:
    """A job worker: signs a service-token assertion at each moment it is sent."""
    keys = KeyStore(directory)
    registration = ServiceRegistration(
        issuer="https://lms.example.org",
        client_id="bottega",
        auth_token_url="https://lms.example.org/token",
        auth_login_url="https://lms.example.org/auth",
    )
    while (moment := conn.recv()) is not None:
        conn.send((client_assertion(registration, keys, now=moment), keys.jwks()))


def test_a_worker_started_before_the_rotation_signs_with_the_new_key_without_restart(
    tmp_path: Path,
) -> None:
    """And an LMS that cached the key set right after the rotation verifies its tokens."""
    KeyStore(tmp_path).ensure()
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    worker = ctx.Process(target=_signing_worker, args=(str(tmp_path), theirs))
    worker.start()
    try:
        ours.send(time.time())
        token, _ = ours.recv()
        old_kid = jwt.get_unverified_header(token)["kid"]

        new = KeyStore(tmp_path).rotate()  # `flask keys rotate`, another process
        ours.send(time.time())
        token, cached_by_lms = ours.recv()
        assert jwt.get_unverified_header(token)["kid"] == old_kid
        assert {k["kid"] for k in cached_by_lms["keys"]} == {old_kid, new.kid}

        ours.send(new.signs_from.timestamp())
        token, _ = ours.recv()
        assert jwt.get_unverified_header(token)["kid"] == new.kid
        signer = jwt.PyJWKSet.from_dict(cached_by_lms)[new.kid]
        claims = jwt.decode(
            token,
            signer.key,
            algorithms=["RS256"],
            audience="https://lms.example.org/token",
            options={"verify_exp": False, "verify_iat": False},
        )
        assert claims["iss"] == "bottega"
    finally:
        ours.send(None)
        worker.join(30)
    assert worker.exitcode == 0


def test_the_jwks_max_age_and_the_activation_delay_are_one_setting(tmp_path: Path) -> None:
    from lti_tool import create_app

    from ..conftest import base_config

    config = base_config(tmp_path, tmp_path / "keys", DATABASE_URL="sqlite://", JWKS_MAX_AGE="120")
    app = create_app(config)
    response = app.test_client().get("/.well-known/jwks.json")
    assert response.headers["Cache-Control"] == "public, max-age=120"
    rotated = json.loads(app.test_cli_runner().invoke(args=["keys", "rotate", "--json"]).output)
    created = datetime.fromisoformat(rotated["created"])
    signs_from = datetime.fromisoformat(rotated["signs_from"])
    assert signs_from - created == timedelta(seconds=120) + ACTIVATION_MARGIN
    assert rotated["state"] == "published"


def test_keys_are_parsed_once_per_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = KeyStore(tmp_path)
    store.ensure()
    calls = []
    real_parse = keys_module._parse
    monkeypatch.setattr(keys_module, "_parse", lambda p: calls.append(p) or real_parse(p))
    for _ in range(50):
        store.signing_key()
        store.jwks()
    assert len(calls) == 1
    store.rotate()
    store.jwks()
    assert len(calls) == 2, "only the new key is parsed after a rotation"


def test_retiring_stops_publishing_but_never_the_signing_key(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    store.ensure()
    old = store.signing_key()
    with pytest.raises(KeyStoreError, match="signs new tokens"):
        store.retire(old.kid)
    t0 = datetime.now(UTC)
    new = store.rotate(now=t0)
    with pytest.raises(KeyStoreError, match="signs new tokens"):
        store.retire(old.kid, now=t0)  # the new key does not sign yet
    active = new.signs_from
    with pytest.raises(KeyStoreError, match="may be verified until"):
        store.retire(old.kid, now=active + timedelta(seconds=30))  # its tokens are still valid
    store.retire(old.kid, now=active + MAX_TOKEN_LIFETIME)
    assert old.kid not in [k["kid"] for k in store.jwks()["keys"]]
    assert (tmp_path / "retired" / old.path.name).exists()


def test_a_leaked_key_is_retired_at_once_after_an_immediate_rotation(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    store.ensure()
    leaked = store.signing_key()
    staged = store.rotate()
    new = store.rotate(at_once=True)
    statuses = {s.key.kid: s for s in store.statuses()}
    assert statuses[new.kid].state == "signing"
    assert statuses[leaked.kid].state == "retiring"
    assert statuses[staged.kid].state == "retiring", "superseded before it ever signed"
    with pytest.raises(KeyStoreError, match="may be verified until"):
        store.retire(leaked.kid)
    store.retire(leaked.kid, at_once=True)
    store.retire(staged.kid)  # it never signed anything
    assert [k["kid"] for k in store.jwks()["keys"]] == [new.kid]


def test_a_staged_key_can_be_withdrawn_before_it_signs(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    store.ensure()
    old = store.signing_key()
    staged = store.rotate()
    store.retire(staged.kid)
    assert [k["kid"] for k in store.jwks()["keys"]] == [old.kid]


def test_a_host_whose_clock_lags_still_signs(tmp_path: Path) -> None:
    """Before every key's activation time (another host made them), the first to activate."""
    store = KeyStore(tmp_path)
    store.ensure()
    first = store.signing_key()
    store.rotate()
    assert store.signing_key(first.created - timedelta(minutes=5)).kid == first.kid


def test_tokens_live_no_longer_than_a_retiring_key_stays_published() -> None:
    assert timedelta(seconds=ASSERTION_LIFETIME) <= MAX_TOKEN_LIFETIME


def test_jwks_endpoint_publishes_public_keys_only(client: FlaskClient) -> None:
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    keys = response.json["keys"]  # type: ignore[index]
    assert keys and all(k["kty"] == "RSA" and k["alg"] == "RS256" and k["kid"] for k in keys)
    assert all("d" not in k and "p" not in k for k in keys), "private parts never leave"
    assert response.headers["Cache-Control"] == "public, max-age=300"


@pytest.mark.parametrize(
    "content",
    [b"", b"-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n", b"junk"],
    ids=["empty", "public-key", "junk"],
)
def test_an_unusable_key_file_stops_the_start_in_one_line(tmp_path: Path, content: bytes) -> None:
    """Before, the app started and every launch and the key set answered 500."""
    from lti_tool import create_app
    from lti_tool.config import ConfigError

    from ..conftest import base_config

    keys_dir = tmp_path / "keys"
    KeyStore(keys_dir).ensure()
    (keys_dir / "20990101T000000000000Z_copied.pem").write_bytes(content)
    config = base_config(tmp_path, keys_dir, DATABASE_URL="sqlite://")
    with pytest.raises(ConfigError) as refused:
        create_app(config)
    assert str(refused.value) == (
        f"KEYS_DIR {keys_dir}: 20990101T000000000000Z_copied.pem is not an unencrypted PEM "
        "private key; move it out of the folder or fix it"
    )


def test_a_key_folder_that_cannot_be_created_stops_the_start(tmp_path: Path) -> None:
    from lti_tool.config import ConfigError

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match=r"^KEYS_DIR: Not a directory: .*file/keys$"):
        KeyStore(blocker / "keys").prepare()
