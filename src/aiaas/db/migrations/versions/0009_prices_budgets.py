"""versioned prices per model, the cost of each usage row, budgets and unit quotas

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def _money() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    """aiaas.db.money.Money's storage: NUMERIC(38, 10), or 10^-10 units as an integer on SQLite."""
    return sa.Numeric(38, 10).with_variant(sa.BigInteger(), "sqlite")


def upgrade() -> None:
    op.create_table('prices',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('model', sa.String(length=128), nullable=False),
    sa.Column('version', sa.Integer(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('input_per_1k', _money(), nullable=False),
    sa.Column('output_per_1k', _money(), nullable=False),
    sa.Column('per_item', _money(), nullable=False),
    sa.Column('per_audio_minute', _money(), nullable=False),
    sa.Column('per_request', _money(), nullable=False),
    sa.Column('effective_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('prices', schema=None) as batch_op:
        batch_op.create_index('ix_prices_model', ['tenant', 'model', 'effective_from'], unique=False)

    op.create_table('budgets',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('key_id', sa.String(length=32), nullable=False),
    sa.Column('period', sa.String(length=8), nullable=False),
    sa.Column('amount', _money(), nullable=True),
    sa.Column('tokens', sa.BigInteger(), nullable=True),
    sa.Column('items', sa.BigInteger(), nullable=True),
    sa.Column('audio_seconds', sa.Float(), nullable=True),
    sa.Column('soft_threshold', sa.Float(), nullable=False),
    sa.Column('created_by', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant', 'key_id', 'period', name='uq_budgets_subject')
    )
    with op.batch_alter_table('budgets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_budgets_tenant'), ['tenant'], unique=False)

    # Rows written before prices existed cost nothing: the default fills them.
    with op.batch_alter_table('usage_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cost', _money(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('currency', sa.String(length=3), nullable=True))
        batch_op.add_column(sa.Column('price_id', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('usage_records', schema=None) as batch_op:
        batch_op.drop_column('price_id')
        batch_op.drop_column('currency')
        batch_op.drop_column('cost')
    with op.batch_alter_table('budgets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_budgets_tenant'))
    op.drop_table('budgets')
    with op.batch_alter_table('prices', schema=None) as batch_op:
        batch_op.drop_index('ix_prices_model')
    op.drop_table('prices')
