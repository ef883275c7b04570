-- Article bodies compressed with LZ4 instead of the default pglz (issue 15): most bodies are
-- past the 2 kB at which PostgreSQL compresses them, and LZ4 costs a fraction of pglz's CPU
-- for both writing and reading. Rows already stored keep their
-- compression until rewritten. A server built without LZ4 keeps pglz: the statement runs
-- through EXECUTE so that its failure (or an older server's syntax error) is caught here.
-- Keep in step with migrations/sqlite/0219_article_compression.sql.
DO $$
BEGIN
    EXECUTE 'ALTER TABLE articles ALTER COLUMN content_html SET COMPRESSION lz4';
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'articles.content_html keeps the default compression: %', SQLERRM;
END
$$;
