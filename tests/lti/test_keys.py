"""The tool's keys: created once, kept across restarts, rotated without breaking LMSs."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from lti_tool.lti import keys as keys_module
from lti_tool.lti.keys import KeyStore, KeyStoreError


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
    store = KeyStore(tmp_path)
    store.ensure()
    old = store.signing_key()
    new = store.rotate()
    assert new.kid != old.kid
    assert store.signing_key().kid == new.kid
    assert [k["kid"] for k in store.jwks()["keys"]] == [new.kid, old.kid]


def test_another_process_sees_a_rotation(tmp_path: Path) -> None:
    worker = KeyStore(tmp_path)
    worker.ensure()
    before = worker.signing_key().kid
    KeyStore(tmp_path).rotate()  # as `flask keys rotate` would, from another process
    assert worker.signing_key().kid != before
    assert len(worker.jwks()["keys"]) == 2


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


def test_retiring_stops_publishing_but_never_the_last_key(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    store.ensure()
    old = store.signing_key()
    with pytest.raises(KeyStoreError, match="only active key"):
        store.retire(old.kid)
    store.rotate()
    store.retire(old.kid)
    assert old.kid not in [k["kid"] for k in store.jwks()["keys"]]
    assert (tmp_path / "retired" / old.path.name).exists()


def test_jwks_endpoint_publishes_public_keys_only(client: FlaskClient) -> None:
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    keys = response.json["keys"]  # type: ignore[index]
    assert keys and all(k["kty"] == "RSA" and k["alg"] == "RS256" and k["kid"] for k in keys)
    assert all("d" not in k and "p" not in k for k in keys), "private parts never leave"
    assert "max-age" in response.headers["Cache-Control"]


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
