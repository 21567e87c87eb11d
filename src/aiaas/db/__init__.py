"""Persistence: SQLAlchemy 2 tables, engine and sessions, Alembic migrations."""
