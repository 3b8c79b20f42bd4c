"""Ingest: read tables (formats, encodings, delimiters), clean them, map fields and build samples;
or turn documents (chunks, generated queries, the quality gate) and search logs into samples
(:mod:`embcore.ingest.prepare`)."""
