"""App start tokens become single-use and short-lived (issue 13 point 6).

Until now a customer had one app token, valid for every app start for ever. From now on
each app start gets a new token valid for one session within minutes
(``csms.domain.people.cards.APP_START_TOKEN_LIFETIME``). The old long-lived tokens are
retired here: marked used and expired now, so that none of them starts another session,
while a session one of them started still gets its own messages (its stop) accepted. The
retention job purges them once no running session names them.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 18:00:00
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_id_tags = sa.table(
    "id_tags",
    sa.column("kind", sa.String()),
    sa.column("expires_at", sa.DateTime(timezone=True)),
    sa.column("used_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    now = datetime.now(UTC)
    if op.get_bind().dialect.name == "sqlite":
        now = now.replace(tzinfo=None)  # as storage.sql.tables.UtcDateTime stores it there
    op.execute(
        _id_tags.update()
        .where(_id_tags.c.kind == "app", _id_tags.c.expires_at.is_(None))
        .values(expires_at=now, used_at=sa.func.coalesce(_id_tags.c.used_at, now))
    )


def downgrade() -> None:
    # Not undone: the retired tokens stay retired (expired and used).
    pass
