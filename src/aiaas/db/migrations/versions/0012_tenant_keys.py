"""Wrapped tenant data keys and the vault state for encryption at rest

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('tenant_keys',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('keyset', sa.LargeBinary(), nullable=False),
    sa.Column('master_id', sa.String(length=16), nullable=False),
    sa.Column('primary_key_id', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant')
    )
    op.create_table('vault_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plain_allowed', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )


def downgrade() -> None:
    op.drop_table('vault_state')
    op.drop_table('tenant_keys')
