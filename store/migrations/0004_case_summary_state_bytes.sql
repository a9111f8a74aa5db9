-- case_summary.state becomes zlib-compressed JSON (bytea). As jsonb the ~5 KB state was
-- TOASTed on every upsert, which cost ~4x the rest of the row (see BENCHMARKS.md); compressed
-- it is ~1.5 KB and stays inline. Existing rows keep their plain JSON bytes, which the
-- projection and store.queries still read (a zlib stream never starts with '{').
ALTER TABLE case_summary ALTER COLUMN state TYPE bytea USING convert_to(state::text, 'UTF8');
