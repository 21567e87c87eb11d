"""usage rows carry the call's unique id (journal replays insert each call once) and the
request id (a bill line traced to the logs)

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('usage_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('call_id', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('request_id', sa.String(length=128), nullable=True))
        batch_op.create_index('ux_usage_call_id', ['call_id'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('usage_records', schema=None) as batch_op:
        batch_op.drop_index('ux_usage_call_id')
        batch_op.drop_column('request_id')
        batch_op.drop_column('call_id')
