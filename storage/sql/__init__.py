"""SQLAlchemy adapters of the storage ports (tables, repositories, unit of work)."""
