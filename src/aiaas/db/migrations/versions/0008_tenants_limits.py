"""tenants as records, and rate limits per tenant, key and model

Every tenant already named by a key or a model becomes a record (enabled, no display name), so
existing data keeps working; the built-in models' owner (``builtin``) is not a tenant anyone
calls as, so it gets none.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

BUILTIN_TENANT = "builtin"


def upgrade() -> None:
    tenants = op.create_table('tenants',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('rate_limits',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('key_id', sa.String(length=32), nullable=False),
    sa.Column('model', sa.String(length=128), nullable=False),
    sa.Column('requests_per_minute', sa.BigInteger(), nullable=True),
    sa.Column('tokens_per_minute', sa.BigInteger(), nullable=True),
    sa.Column('items_per_minute', sa.BigInteger(), nullable=True),
    sa.Column('audio_seconds_per_minute', sa.BigInteger(), nullable=True),
    sa.Column('concurrent_requests', sa.BigInteger(), nullable=True),
    sa.Column('updated_by', sa.String(length=32), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant', 'key_id', 'model', name='uq_rate_limits_subject')
    )
    with op.batch_alter_table('rate_limits', schema=None) as batch_op:
        batch_op.create_index('ix_rate_limits_tenant', ['tenant'], unique=False)

    named: sa.CompoundSelect[tuple[str]] = sa.union(sa.select(sa.column('tenant')).select_from(sa.table('api_keys')),
                     sa.select(sa.column('tenant')).select_from(sa.table('models')))
    names = sorted({row[0] for row in op.get_bind().execute(named)} - {BUILTIN_TENANT})
    now = datetime.now(UTC)
    if names:
        op.bulk_insert(tenants, [{"name": name, "display_name": "", "disabled": False,
                                  "created_at": now, "updated_at": now} for name in names])


def downgrade() -> None:
    with op.batch_alter_table('rate_limits', schema=None) as batch_op:
        batch_op.drop_index('ix_rate_limits_tenant')
    op.drop_table('rate_limits')
    op.drop_table('tenants')
