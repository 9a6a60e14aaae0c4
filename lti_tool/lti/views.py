"""LTI endpoints: the tool's public key set (login, launch and registration come later)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from lti_tool.lti.keys import KeyStore

bp = Blueprint("lti", __name__)


def key_store() -> KeyStore:
    """The process-wide key store of the current app."""
    store: KeyStore = current_app.extensions["bottega_keys"]
    return store


@bp.get("/.well-known/jwks.json")
def jwks() -> Response:
    """Every active public key; LMSs cache it, so tell them for how long."""
    response = jsonify(key_store().jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
