"""PII policies per tenant, key and model

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('privacy_policies',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('key_id', sa.String(length=32), nullable=False),
    sa.Column('model', sa.String(length=128), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('entities', sa.JSON(), nullable=True),
    sa.Column('updated_by', sa.String(length=32), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant', 'key_id', 'model', name='uq_privacy_policies_subject')
    )
    with op.batch_alter_table('privacy_policies', schema=None) as batch_op:
        batch_op.create_index('ix_privacy_policies_tenant', ['tenant'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('privacy_policies', schema=None) as batch_op:
        batch_op.drop_index('ix_privacy_policies_tenant')
    op.drop_table('privacy_policies')
