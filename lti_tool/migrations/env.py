"""Alembic environment: runs migrations on the app's own engine and metadata."""

import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app

config = context.config
if config.config_file_name and not logging.getLogger().handlers:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

db = current_app.extensions["migrate"].db
metadata = db.metadata


def _render_item(type_, obj, autogen_context):
    # Our UTC timestamp type is plain DateTime(timezone=True) in the schema.
    if type_ == "type" and type(obj).__name__ == "UTCDateTime":
        return "sa.DateTime(timezone=True)"
    return False


def _options(dialect_name: str) -> dict:
    # SQLite cannot ALTER most things in place: batch mode rebuilds the table instead.
    return {
        "render_as_batch": dialect_name == "sqlite",
        "compare_type": True,
        "render_item": _render_item,
    }


def run_offline() -> None:
    url = db.engine.url
    context.configure(
        url=url.render_as_string(hide_password=False),
        target_metadata=metadata,
        literal_binds=True,
        **_options(url.get_backend_name()),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    def skip_empty(ctx, revision, directives):
        # `flask db migrate` with no model change should not write an empty revision.
        if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
            directives[:] = []

    with db.engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            process_revision_directives=skip_empty,
            **_options(connection.dialect.name),
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
