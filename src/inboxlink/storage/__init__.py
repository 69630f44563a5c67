"""Storage room: SQLAlchemy Core tables, Alembic migrations, repositories returning plain records.

Runs on SQLite (default, one process) and PostgreSQL (scale-out)."""
