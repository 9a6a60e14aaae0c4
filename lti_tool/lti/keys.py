"""The tool's RSA signing keys, kept as PEM files in KEYS_DIR and published as a JWKS.

File layout: ``<created>_<kid>.pem`` for a key that signs from its creation, and
``<created>_<kid>.signs-<time>.pem`` for a key staged by ``keys rotate``: published at once,
signing only from ``<time>``, once every LMS that caches our key set (for ``cache_max_age``
seconds, the JWKS's own Cache-Control) has had to fetch it again. The activation time is in the
file name, so a key and its activation appear together (one atomic rename) in every process
and on every host, and copying ``*.pem`` copies it too. The newest key whose activation time
has passed signs; older keys stay published until ``retire`` moves them under ``retired/``.
Parsing an RSA private key costs tens of milliseconds, so keys are parsed once per process and
reloaded only when the directory changes; which key signs is worked out from the clock on
every call, so a staged key starts signing in every process without any file changing.
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwcrypto import jwk

from lti_tool.config import DEFAULT_JWKS_MAX_AGE, ConfigError

KEY_BITS = 2048
ALGORITHM = "RS256"
_STAMP = "%Y%m%dT%H%M%S%fZ"
_NAME = re.compile(r"(?P<created>\d{8}T\d{12}Z)_[^.]*(?:\.signs-(?P<signs>\d{8}T\d{12}Z))?")
# Added to the cache lifetime before a staged key signs: clocks of the LMS, of our hosts and a
# key set fetched just before the rotation but cached from when its response arrived.
ACTIVATION_MARGIN = timedelta(seconds=60)
# The longest-lived JWT the tool signs: deep linking responses (pylti1p3: 600 s); service
# token assertions live 300 s. A key that stopped signing is needed this long after.
MAX_TOKEN_LIFETIME = timedelta(seconds=600)

KeyState = Literal["signing", "published", "retiring"]


class KeyStoreError(LookupError):
    """A key operation that cannot be done (unknown kid, the signing key retired)."""


@dataclass(frozen=True)
class ToolKey:
    """One parsed key pair."""

    kid: str
    created: datetime
    signs_from: datetime
    path: Path
    private_pem: bytes
    private_key: rsa.RSAPrivateKey
    public_jwk: dict[str, Any]

    @property
    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


@dataclass(frozen=True)
class KeyStatus:
    """What a published key is doing at one moment, as `keys list` shows it."""

    key: ToolKey
    state: KeyState  # signing; published (staged, signs from key.signs_from); retiring
    retire_after: datetime | None  # retiring: when every token it signed has expired


def _stamp(path: Path) -> tuple[datetime, datetime]:
    """Creation and activation times from the file name (else the file's mtime, signing)."""
    found = _NAME.fullmatch(path.name.removesuffix(".pem"))
    if found is None:
        created = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        return created, created
    created = datetime.strptime(found["created"], _STAMP).replace(tzinfo=UTC)
    signs = found["signs"]
    return created, datetime.strptime(signs, _STAMP).replace(tzinfo=UTC) if signs else created


def _parse(path: Path) -> ToolKey:
    pem = path.read_bytes()
    try:
        private = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:  # not PEM, truncated, or encrypted
        raise KeyStoreError(f"{path.name} is not an unencrypted PEM private key") from exc
    if not isinstance(private, rsa.RSAPrivateKey):
        raise KeyStoreError(f"{path.name} is not an RSA private key")
    key = jwk.JWK.from_pem(pem)
    kid = key.thumbprint()
    created, signs_from = _stamp(path)
    public = key.export_public(as_dict=True)
    public.update({"kid": kid, "alg": ALGORITHM, "use": "sig"})
    return ToolKey(kid, created, signs_from, path, pem, private, public)


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


class KeyStore:
    """Keys of one directory; safe to share between threads, processes and hosts on one disk.

    ``cache_max_age`` is how long the JWKS endpoint lets LMSs cache the key set; a rotated key
    signs only after it (plus a margin), so both come from this one number (JWKS_MAX_AGE).
    """

    def __init__(self, directory: Path | str, cache_max_age: int = DEFAULT_JWKS_MAX_AGE) -> None:
        self.directory = Path(directory)
        self.cache_max_age = cache_max_age
        self._lock = threading.Lock()
        self._signature: tuple[int, int] | None = None
        self._keys: list[ToolKey] = []

    @property
    def activation_delay(self) -> timedelta:
        """From publishing a rotated key to its first signature."""
        return timedelta(seconds=self.cache_max_age) + ACTIVATION_MARGIN

    # -- reading ---------------------------------------------------------------------------
    def _active_files(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return [p for p in self.directory.glob("*.pem") if not p.name.startswith(".")]

    def _current_signature(self) -> tuple[int, int]:
        st = self.directory.stat()
        return (st.st_mtime_ns, st.st_ino)

    def keys(self) -> list[ToolKey]:
        """Published keys, newest first; parsed once and reloaded after a rotation."""
        signature = self._current_signature()
        if signature == self._signature:
            return self._keys
        with self._lock:
            if signature != self._signature:
                cached = {k.path: k for k in self._keys}
                parsed = [cached.get(p) or _parse(p) for p in self._active_files()]
                parsed.sort(key=lambda k: (k.created, k.path.name), reverse=True)
                self._keys = parsed
                self._signature = signature
        return self._keys

    def signing_key(self, now: datetime | None = None) -> ToolKey:
        """The key that signs new tokens: the newest one whose activation time has passed."""
        keys = self.keys()
        if not keys:
            raise KeyStoreError(f"no tool key in {self.directory}")
        return _signer(keys, _now(now))

    def statuses(self, now: datetime | None = None) -> list[KeyStatus]:
        """Every published key with its state, newest first."""
        keys = self.keys()
        if not keys:
            return []
        signing = keys.index(_signer(keys, _now(now)))
        return [
            KeyStatus(key, "published", None)
            if i < signing  # newer than the signing key: not active yet
            else KeyStatus(key, "signing", None)
            if i == signing
            else KeyStatus(key, "retiring", _retire_after(key, keys[:i]))
            for i, key in enumerate(keys)
        ]

    def get(self, kid: str) -> ToolKey:
        for key in self.keys():
            if key.kid == kid:
                return key
        raise KeyStoreError(f"no published key with kid {kid}")

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The public key set every LMS fetches to verify our signatures, staged keys included."""
        return {"keys": [k.public_jwk for k in self.keys()]}

    # -- writing ---------------------------------------------------------------------------
    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / ".lock", "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _generate(self, created: datetime, signs_from: datetime | None = None) -> Path:
        private = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        kid = jwk.JWK.from_pem(pem).thumbprint()
        name = f"{created.strftime(_STAMP)}_{kid}"
        if signs_from is not None and signs_from > created:
            name += f".signs-{signs_from.strftime(_STAMP)}"
        final = self.directory / f"{name}.pem"
        tmp = self.directory / f".{final.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, pem)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, final)  # readers see the whole file, with its activation time, or none
        return final

    def ensure(self) -> bool:
        """Create the first key when there is none. Returns True when a key was created.

        It signs at once: no LMS can have cached a key set without it."""
        if self._active_files():
            return False
        with self._exclusive():
            if self._active_files():
                return False
            self._generate(datetime.now(UTC))
            return True

    def prepare(self) -> None:
        """At start-up: create the first key if needed and parse every key, so that a folder
        Bottega cannot use stops it in one line instead of failing every launch later."""
        try:
            self.ensure()
            self.keys()
        except OSError as exc:
            where = exc.filename or self.directory
            raise ConfigError(f"KEYS_DIR: {exc.strerror or exc}: {where}") from exc
        except KeyStoreError as exc:
            raise ConfigError(
                f"KEYS_DIR {self.directory}: {exc}; move it out of the folder or fix it"
            ) from exc

    def rotate(self, *, at_once: bool = False, now: datetime | None = None) -> ToolKey:
        """Publish a new key that signs once every LMS's cached key set has it.

        ``at_once`` (a leaked key) signs from now: an LMS that cached the key set in the last
        ``cache_max_age`` seconds and does not fetch it again on an unknown kid refuses the new
        key's tokens until its copy expires. Older keys stay published until retired."""
        now = _now(now)
        with self._exclusive():
            path = self._generate(now, None if at_once else now + self.activation_delay)
        return next(k for k in self.keys() if k.path == path)

    def retire(self, kid: str, *, at_once: bool = False, now: datetime | None = None) -> ToolKey:
        """Stop publishing a key: a staged one at any time, a retiring one once the tokens it
        signed have expired (``at_once``: now, for a leaked key); never the signing key."""
        now = _now(now)
        with self._exclusive():
            key = self.get(kid)
            status = next(s for s in self.statuses(now) if s.key.kid == kid)
            if status.state == "signing":
                raise KeyStoreError(
                    f"{kid} signs new tokens: rotate first (keys rotate --now if it leaked)"
                )
            if status.retire_after is not None and status.retire_after > now and not at_once:
                raise KeyStoreError(
                    f"tokens signed with {kid} may be verified until "
                    f"{status.retire_after.isoformat(timespec='seconds')}: retire it then, "
                    "or now with --now if it leaked"
                )
            retired = self.directory / "retired"
            retired.mkdir(exist_ok=True)
            os.replace(key.path, retired / key.path.name)
        return key


def _signer(keys: list[ToolKey], now: datetime) -> ToolKey:
    """The newest key already active; when none is (a host whose clock lags the one that
    created them), the one that activates first, so that signing never stops."""
    for key in keys:
        if key.signs_from <= now:
            return key
    return min(keys, key=lambda k: k.signs_from)


def _retire_after(key: ToolKey, newer: list[ToolKey]) -> datetime:
    """When the last token a superseded key signed has expired: it signed until the first
    newer key became active (a key superseded before it was active never signed)."""
    stopped = min(k.signs_from for k in newer)
    if key.signs_from >= stopped:
        return key.created
    return stopped + MAX_TOKEN_LIFETIME
