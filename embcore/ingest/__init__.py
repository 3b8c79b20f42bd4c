"""Ingest: read tables (formats, encodings, delimiters), clean them, map fields and build samples."""
