"""Statements of :mod:`embcore.store.sources`: documents, chunk provenance, generated queries
(migration 008)."""

# --------------------------------------------------------------------------- corpus passages (frames)

INSERT_CORPUS_PASSAGES = (
    "INSERT INTO passages (project_id, text, text_hash, kind, origin, meta) "
    "SELECT ?, n.text, n.text_hash, 'passage', 'data', n.meta FROM corpus_texts n "
    "ANTI JOIN passages p ON p.project_id = ? AND p.text_hash = n.text_hash"
)
CORPUS_PASSAGE_IDS = (
    "SELECT p.text_hash, p.id FROM passages p JOIN corpus_texts n ON n.text_hash = p.text_hash "
    "WHERE p.project_id = ?"
)
SET_PASSAGE_META = (
    "UPDATE passages SET meta = n.meta FROM passage_meta n "
    "WHERE passages.id = n.id AND passages.project_id = ?"
)

# --------------------------------------------------------------------------- documents and chunks (frames)

DELETE_DOCUMENTS = "DELETE FROM documents WHERE project_id = ?"
INSERT_DOCUMENTS = (
    "INSERT INTO documents (project_id, doc_id, title, source, format, sha256, n_chars, text, meta) "
    "SELECT ?, doc_id, title, source, format, sha256, n_chars, text, meta FROM new_documents"
)
DELETE_CHUNKS = "DELETE FROM chunks WHERE project_id = ?"
DELETE_CHUNK_PASSAGES = "DELETE FROM chunk_passages WHERE project_id = ?"
INSERT_CHUNKS = (
    "INSERT INTO chunks (project_id, chunk_id, doc_id, ordinal, heading_path, char_start, char_end, passage_id) "
    "SELECT ?, chunk_id, doc_id, ordinal, heading_path::VARCHAR[], char_start, char_end, passage_id "
    "FROM new_chunks"
)
INSERT_CHUNK_PASSAGES = (
    "INSERT INTO chunk_passages (project_id, passage_id, chunk_id, role) "
    "SELECT ?, passage_id, chunk_id, role FROM new_links"
)

# --------------------------------------------------------------------------- generated queries (frames)

DELETE_QUERY_SOURCES_OF_FRAME = (
    "DELETE FROM query_sources WHERE query_id IN (SELECT query_id FROM new_sources)"
)
INSERT_QUERY_SOURCES = (
    "INSERT INTO query_sources (query_id, project_id, chunk_id, method, status, reason, scores) "
    "SELECT query_id, ?, chunk_id, method, status, reason, scores FROM new_sources"
)

# --------------------------------------------------------------------------- search logs and ICT passages

SET_GIVEN_NEGATIVE_ORIGIN = "UPDATE given_negatives SET origin = ? WHERE project_id = ?"
GIVEN_NEGATIVE_COUNT = "SELECT count(*) FROM given_negatives WHERE project_id = ?"
# ICT positives become 'generated' passages of origin 'ict' unless they are a chunk's own text
# (params: pid, passage ids, pid)
MARK_ICT_PASSAGES = (
    "UPDATE passages SET kind = 'generated', origin = 'ict' WHERE project_id = ? AND list_contains(?, id) "
    "AND id NOT IN (SELECT passage_id FROM chunk_passages WHERE project_id = ? AND role = 'chunk')"
)
MARK_ICT_POSITIVES = "UPDATE positives SET origin = 'ict' WHERE project_id = ? AND list_contains(?, query_id)"

# --------------------------------------------------------------------------- the mining guard

DERIVED_PASSAGE_IDS = (
    "SELECT DISTINCT passage_id FROM chunk_passages WHERE project_id = ? AND role <> 'chunk' "
    "AND passage_id NOT IN (SELECT passage_id FROM chunk_passages WHERE project_id = ? AND role = 'chunk')"
)
HAS_SOURCES = (
    "SELECT (SELECT count(*) FROM chunks WHERE project_id = ?) "
    "+ (SELECT count(*) FROM query_sources WHERE project_id = ?)"
)
# (query, passage) pairs where the passage derives from a chunk the query was made from (params: pid x 3)
SAME_CHUNK_PAIRS = """
    WITH src AS (
        SELECT x.query_id, cp.chunk_id FROM positives x
        JOIN chunk_passages cp ON cp.passage_id = x.passage_id
        WHERE x.project_id = ? AND x.query_id IN (SELECT query_id FROM query_sources WHERE project_id = ?)
    )
    SELECT DISTINCT src.query_id, cp.passage_id FROM src JOIN chunk_passages cp ON cp.chunk_id = src.chunk_id
    WHERE cp.project_id = ?
"""

# --------------------------------------------------------------------------- the Queries page

GENERATED_QUERIES = """
    SELECT s.query_id, q.text, s.method, s.status, s.reason, s.scores, s.original_text, s.chunk_id,
           c.doc_id, d.title, c.heading_path, c.char_start, c.char_end,
           (SELECT p.text FROM positives x JOIN passages p ON p.id = x.passage_id
            WHERE x.query_id = s.query_id ORDER BY x.position, x.passage_id LIMIT 1) AS positive
    FROM query_sources s JOIN queries q ON q.id = s.query_id
    LEFT JOIN chunks c ON c.project_id = s.project_id AND c.chunk_id = s.chunk_id
    LEFT JOIN documents d ON d.project_id = s.project_id AND d.doc_id = c.doc_id
    WHERE s.project_id = ?
"""
AND_STATUS_IN = " AND list_contains(?, s.status)"
AND_METHOD = " AND (s.method = ? OR s.method LIKE ?)"
ORDER_BY_QUERY = " ORDER BY s.query_id"
GENERATED_QUERY_COUNTS = (
    "SELECT method, status, count(*) FROM query_sources WHERE project_id = ? GROUP BY ALL ORDER BY ALL"
)
GATE_FILTER_REASONS = (
    "SELECT reason, count(*) FROM query_sources WHERE project_id = ? AND status = 'filtered' "
    "GROUP BY ALL ORDER BY 2 DESC"
)
COUNT_GENERATED_OF = "SELECT count(*) FROM query_sources WHERE project_id = ? AND list_contains(?, query_id)"
SET_GENERATED_STATUS = (
    "UPDATE query_sources SET status = ?, updated_at = current_timestamp "
    "WHERE project_id = ? AND list_contains(?, query_id)"
)
GENERATED_QUERY_TEXT = (
    "SELECT q.text FROM query_sources s JOIN queries q ON q.id = s.query_id "
    "WHERE s.project_id = ? AND s.query_id = ?"
)
ACCEPT_GENERATED = (
    "UPDATE query_sources SET status = 'accepted', updated_at = current_timestamp WHERE query_id = ?"
)
OTHER_QUERY_WITH_HASH = "SELECT id FROM queries WHERE project_id = ? AND text_hash = ? AND id <> ?"
SET_QUERY_TEXT = "UPDATE queries SET text = ?, text_hash = ? WHERE id = ?"
ACCEPT_EDITED = (
    "UPDATE query_sources SET original_text = coalesce(original_text, ?), status = 'accepted', "
    "updated_at = current_timestamp WHERE query_id = ?"
)

# --------------------------------------------------------------------------- reading documents and chunks

CHUNK_TABLE = (
    "SELECT c.chunk_id, c.doc_id, d.title, c.heading_path, c.char_start, c.char_end, c.passage_id, p.text "
    "FROM chunks c LEFT JOIN documents d ON d.project_id = c.project_id AND d.doc_id = c.doc_id "
    "LEFT JOIN passages p ON p.id = c.passage_id WHERE c.project_id = ? ORDER BY c.chunk_id"
)
DOCUMENT_TEXT = "SELECT text FROM documents WHERE project_id = ? AND doc_id = ?"
DOCUMENTS = (
    "SELECT doc_id, title, source, format, n_chars, meta FROM documents WHERE project_id = ? ORDER BY doc_id"
)
