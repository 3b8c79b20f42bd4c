"""Statements of :mod:`embcore.store.connection`: transactions, migrations, introspection."""

BEGIN = "BEGIN TRANSACTION"
COMMIT = "COMMIT"
ROLLBACK = "ROLLBACK"

DATABASE_PATH = "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"

CREATE_MIGRATIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP DEFAULT current_timestamp)"
)
HAS_MIGRATIONS_TABLE = "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
MIGRATION_VERSIONS = "SELECT version FROM schema_migrations"
SCHEMA_VERSION = "SELECT coalesce(max(version), 0) FROM schema_migrations"
APPLIED_MIGRATIONS = "SELECT version, name FROM schema_migrations ORDER BY version"
RECORD_MIGRATION = "INSERT INTO schema_migrations (version, name) VALUES (?, ?)"

TABLE_NAMES = "SELECT table_name FROM information_schema.tables"
ALL_ROWS = 'SELECT * FROM "{table}"'
