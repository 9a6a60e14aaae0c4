"""The tool's RSA signing keys, kept as PEM files in KEYS_DIR and published as a JWKS.

File layout: ``<created>_<kid>.pem`` for active keys, moved under ``retired/`` when retired.
The newest active key signs; older active keys stay published so tokens signed before a
rotation still verify. Parsing an RSA private key costs tens of milliseconds, so keys are
parsed once per process and reloaded only when the directory changes.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwcrypto import jwk

from lti_tool.config import ConfigError

KEY_BITS = 2048
ALGORITHM = "RS256"
_STAMP = "%Y%m%dT%H%M%S%fZ"


class KeyStoreError(LookupError):
    """A key operation that cannot be done (unknown kid, last key retired)."""


@dataclass(frozen=True)
class ToolKey:
    """One parsed key pair."""

    kid: str
    created: datetime
    path: Path
    private_pem: bytes
    private_key: rsa.RSAPrivateKey
    public_jwk: dict[str, Any]

    @property
    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


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
    stamp, _, _ = path.stem.partition("_")
    try:
        created = datetime.strptime(stamp, _STAMP).replace(tzinfo=UTC)
    except ValueError:
        created = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    public = key.export_public(as_dict=True)
    public.update({"kid": kid, "alg": ALGORITHM, "use": "sig"})
    return ToolKey(kid, created, path, pem, private, public)


class KeyStore:
    """Keys of one directory; safe to share between threads, processes and hosts on one disk."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self._signature: tuple[int, int] | None = None
        self._keys: list[ToolKey] = []

    # -- reading ---------------------------------------------------------------------------
    def _active_files(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(
            (p for p in self.directory.glob("*.pem") if not p.name.startswith(".")),
            key=lambda p: p.name,
            reverse=True,
        )

    def _current_signature(self) -> tuple[int, int]:
        st = self.directory.stat()
        return (st.st_mtime_ns, st.st_ino)

    def keys(self) -> list[ToolKey]:
        """Active keys, newest first; parsed once and reloaded after a rotation."""
        signature = self._current_signature()
        if signature == self._signature:
            return self._keys
        with self._lock:
            if signature != self._signature:
                cached = {k.path: k for k in self._keys}
                self._keys = [cached.get(p) or _parse(p) for p in self._active_files()]
                self._signature = signature
        return self._keys

    def signing_key(self) -> ToolKey:
        """The key that signs new tokens (the newest active one)."""
        keys = self.keys()
        if not keys:
            raise KeyStoreError(f"no tool key in {self.directory}")
        return keys[0]

    def get(self, kid: str) -> ToolKey:
        for key in self.keys():
            if key.kid == kid:
                return key
        raise KeyStoreError(f"no active key with kid {kid}")

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The public key set every LMS fetches to verify our signatures."""
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

    def _generate(self) -> Path:
        private = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        kid = jwk.JWK.from_pem(pem).thumbprint()
        final = self.directory / f"{datetime.now(UTC).strftime(_STAMP)}_{kid}.pem"
        tmp = self.directory / f".{final.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, pem)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, final)  # readers see the whole file or none of it
        return final

    def ensure(self) -> bool:
        """Create the first key when there is none. Returns True when a key was created."""
        if self._active_files():
            return False
        with self._exclusive():
            if self._active_files():
                return False
            self._generate()
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

    def rotate(self) -> ToolKey:
        """Add a new signing key; the previous ones stay published until retired."""
        with self._exclusive():
            path = self._generate()
        return next(k for k in self.keys() if k.path == path)

    def retire(self, kid: str) -> ToolKey:
        """Stop publishing a key. The last active key cannot be retired."""
        with self._exclusive():
            key = self.get(kid)
            if len(self.keys()) == 1:
                raise KeyStoreError("cannot retire the only active key: rotate first")
            retired = self.directory / "retired"
            retired.mkdir(exist_ok=True)
            os.replace(key.path, retired / key.path.name)
        return key
