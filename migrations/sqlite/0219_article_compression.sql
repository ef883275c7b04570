-- PostgreSQL compresses article bodies with LZ4 from here (issue 15); SQLite stores them
-- uncompressed and has nothing to change. This file keeps the two migration lists in step.
SELECT 1;
