"""pylti1p3's tool configuration, backed by the database so LMSs are registered at run time."""

from __future__ import annotations

from typing import Any

from pylti1p3.deployment import Deployment as PyDeployment
from pylti1p3.registration import Registration
from pylti1p3.tool_config import ToolConfAbstract
from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_tool.courses.models import Deployment, Platform
from lti_tool.lti.keys import KeyStore


def find_platform(session: Session, iss: str, client_id: str | None) -> Platform | None:
    """The registration for (issuer, client id); with no client id, the issuer's only one."""
    query = select(Platform).where(Platform.issuer == iss)
    if client_id:
        return session.scalar(query.where(Platform.client_id == client_id))
    found = list(session.scalars(query.limit(2)))
    return found[0] if len(found) == 1 else None


class ToolRegistration(Registration):
    """A registration that signs with the tool's current key and knows its kid without parsing."""

    def __init__(self, platform: Platform, keys: KeyStore) -> None:
        super().__init__()
        self.platform = platform
        self._keys = keys
        key = keys.signing_key()
        self.set_issuer(platform.issuer).set_client_id(platform.client_id)
        self.set_auth_login_url(platform.auth_login_url)
        self.set_auth_token_url(platform.auth_token_url)
        self.set_key_set_url(platform.key_set_url)
        if platform.auth_audience:
            self.set_auth_audience(platform.auth_audience)
        self.set_tool_private_key(key.private_pem.decode())
        self.set_tool_public_key(key.public_pem.decode())
        self._kid = key.kid

    def get_kid(self) -> str | None:
        return self._kid

    def get_jwks(self) -> list[Any]:
        return list(self._keys.jwks()["keys"])


class DatabaseToolConf(ToolConfAbstract):
    """Registrations and deployments read from the platform tables of one database session."""

    def __init__(self, session: Session, keys: KeyStore) -> None:
        self.session = session
        self.keys = keys

    def check_iss_has_one_client(self, iss: str) -> bool:
        return False  # one issuer may register Bottega several times (Canvas does)

    def check_iss_has_many_clients(self, iss: str) -> bool:
        return True

    def platform(self, iss: str, client_id: str | None) -> Platform | None:
        return find_platform(self.session, iss, client_id)

    def find_registration_by_issuer(self, iss: str, *args: Any, **kwargs: Any) -> Registration:
        platform = self.platform(iss, None)
        return ToolRegistration(platform, self.keys) if platform else None  # type: ignore[return-value]

    def find_registration_by_params(
        self, iss: str, client_id: str, *args: Any, **kwargs: Any
    ) -> Registration:
        platform = self.platform(iss, client_id)
        return ToolRegistration(platform, self.keys) if platform else None  # type: ignore[return-value]

    def find_deployment(self, iss: str, deployment_id: str) -> PyDeployment | None:
        return None  # every issuer may have several clients: see find_deployment_by_params

    def find_deployment_by_params(
        self, iss: str, deployment_id: str, client_id: str, *args: Any, **kwargs: Any
    ) -> PyDeployment | None:
        found = self.session.scalar(
            select(Deployment.id)
            .join(Platform)
            .where(
                Platform.issuer == iss,
                Platform.client_id == client_id,
                Deployment.deployment_id == deployment_id,
                Deployment.active.is_(True),
            )
        )
        return PyDeployment().set_deployment_id(deployment_id) if found else None
