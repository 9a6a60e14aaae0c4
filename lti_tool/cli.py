"""``flask --app wsgi ...`` commands: thin wrappers over services, with --json output."""

from __future__ import annotations

import json
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from lti_tool.extensions import db
from lti_tool.lti.keys import KeyStore, KeyStoreError
from lti_tool.lti.registration import (
    PlatformInput,
    RegistrationError,
    add_deployments,
    add_platform,
    list_platforms,
    platform_as_dict,
)
from lti_tool.lti.tool_conf import find_platform


class CliError(click.ClickException):
    """A one-line error on stderr and exit status 2 (bad input), never a traceback."""

    exit_code = 2


class OneLineCommand(click.Command):
    """A command whose usage errors (missing or bad options) print one line, exit 2."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            raise CliError(exc.format_message()) from exc


def _emit(as_json: bool, data: Any, text: str) -> None:
    click.echo(json.dumps(data, indent=2, default=str) if as_json else text)


json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")

platform_cli = AppGroup("platform", help="Register LMS platforms and list them.")
keys_cli = AppGroup("keys", help="The tool's signing keys (published at /.well-known/jwks.json).")


@platform_cli.command("add", cls=OneLineCommand)
@click.option(
    "--issuer", required=True, help="The LMS issuer (iss), e.g. https://moodle.example.org"
)
@click.option("--client-id", required=True, help="The client id the LMS gave Bottega.")
@click.option("--auth-login-url", required=True, help="The LMS OIDC authorization endpoint.")
@click.option("--auth-token-url", required=True, help="The LMS OAuth2 token endpoint.")
@click.option("--key-set-url", required=True, help="The LMS public key set (JWKS) URL.")
@click.option(
    "--deployment-id",
    "deployment_ids",
    multiple=True,
    required=True,
    help="A deployment id (repeat the option for several).",
)
@click.option("--name", default="", help="A name for admins (defaults to the issuer).")
@click.option("--auth-audience", default=None, help="Token audience, when the LMS needs one.")
@json_option
def platform_add(
    as_json: bool,
    deployment_ids: tuple[str, ...],
    issuer: str,
    client_id: str,
    auth_login_url: str,
    auth_token_url: str,
    key_set_url: str,
    name: str,
    auth_audience: str | None,
) -> None:
    """Register an LMS platform by hand."""
    data = PlatformInput(
        issuer=issuer,
        client_id=client_id,
        auth_login_url=auth_login_url,
        auth_token_url=auth_token_url,
        key_set_url=key_set_url,
        deployment_ids=deployment_ids,
        name=name,
        auth_audience=auth_audience,
    )
    try:
        platform = add_platform(db.session(), data)
    except RegistrationError as exc:
        db.session.rollback()
        raise CliError(str(exc)) from exc
    row = platform_as_dict(platform)
    _emit(
        as_json,
        row,
        f"Registered {platform.name} (issuer {platform.issuer}, "
        f"client id {platform.client_id}, id {platform.id}).",
    )


@platform_cli.command("list", cls=OneLineCommand)
@json_option
def platform_list(as_json: bool) -> None:
    """List registered platforms."""
    platforms = [platform_as_dict(p) for p in list_platforms(db.session())]
    lines = [
        f"{p['id']:>4}  {p['status']:<8}  {p['issuer']}  client={p['client_id']}  "
        f"deployments={','.join(p['deployment_ids']) or '-'}  {p['name']}"
        for p in platforms
    ]
    _emit(as_json, platforms, "\n".join(lines) or "No platform registered yet.")


@platform_cli.command("add-deployment", cls=OneLineCommand)
@click.option("--issuer", required=True, help="The LMS issuer of the registration.")
@click.option("--client-id", required=True, help="The client id of the registration.")
@click.option(
    "--deployment-id",
    "deployment_ids",
    multiple=True,
    required=True,
    help="A deployment id to add (repeat for several).",
)
@json_option
def platform_add_deployment(
    as_json: bool, issuer: str, client_id: str, deployment_ids: tuple[str, ...]
) -> None:
    """Add deployments to a registered platform (e.g. after a dynamic registration)."""
    session = db.session()
    platform = find_platform(session, issuer, client_id)
    if platform is None:
        raise CliError(f"no platform with issuer {issuer} and client id {client_id}")
    cleaned = [d.strip() for d in deployment_ids]
    if any(not d for d in cleaned):
        raise CliError("deployment ids must not be empty")
    add_deployments(session, platform, cleaned)
    row = platform_as_dict(platform)
    _emit(as_json, row, f"Deployments of {platform.name}: {', '.join(row['deployment_ids'])}.")


def _store() -> KeyStore:
    store: KeyStore = current_app.extensions["bottega_keys"]
    return store


def _key_row(key: Any, signing: bool) -> dict[str, Any]:
    return {
        "kid": key.kid,
        "created": key.created.isoformat(),
        "signing": signing,
        "file": key.path.name,
    }


@keys_cli.command("list", cls=OneLineCommand)
@json_option
def keys_list(as_json: bool) -> None:
    """List active keys, the signing key first."""
    rows = [_key_row(k, i == 0) for i, k in enumerate(_store().keys())]
    lines = [
        f"{r['kid']}  {r['created']}  {'signing' if r['signing'] else 'published'}" for r in rows
    ]
    _emit(as_json, rows, "\n".join(lines))


@keys_cli.command("rotate", cls=OneLineCommand)
@json_option
def keys_rotate(as_json: bool) -> None:
    """Add a new signing key; older keys stay published until retired."""
    key = _store().rotate()
    _emit(as_json, _key_row(key, True), f"New signing key {key.kid}; older keys stay published.")


@keys_cli.command("retire", cls=OneLineCommand)
@click.argument("kid")
@json_option
def keys_retire(as_json: bool, kid: str) -> None:
    """Stop publishing a key (after LMSs have had time to fetch its successor)."""
    try:
        key = _store().retire(kid)
    except KeyStoreError as exc:
        raise CliError(str(exc)) from exc
    _emit(as_json, {"kid": key.kid, "retired": True}, f"Retired key {key.kid}.")


def register_cli(app: Flask) -> None:
    app.cli.add_command(platform_cli)
    app.cli.add_command(keys_cli)
