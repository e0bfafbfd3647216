-- shared_cache: one copy of a model's weights per cluster.  test/regress.sh
-- runs the suite once more with seqmodel preloaded and
-- seqmodel.shared_cache_size set (expected/shared_cache.out); in the other
-- passes the shared cache is off and every backend keeps its own copy
-- (expected/shared_cache_1.out).
\getenv abs_srcdir PG_ABS_SRCDIR
\set weights :abs_srcdir '/test/data/co2_lstm.safetensors'
\set cfgfile :abs_srcdir '/test/data/co2_lstm.json'
SELECT seqmodel.import_safetensors('sc', 'lstm', pg_read_file(:'cfgfile')::jsonb, pg_read_binary_file(:'weights')) AS parameters;
SELECT enabled, size_bytes > 0 AS has_size FROM seqmodel.shared_cache_stats();
SELECT seqmodel.forecast('sc', '{330, 331, 332, 333, 334}', 3) AS first;
-- the backend's entry is the shared copy; the copy is pinned while a transaction uses it
SELECT model, shared FROM seqmodel.cache_info() WHERE model = 'sc';
BEGIN;
SELECT seqmodel.forecast('sc', '{330, 331, 332, 333, 334}', 3) = seqmodel.forecast('sc', '{330, 331, 332, 333, 334}', 3) AS same;
SELECT model, state, readers, bytes > 0 AS has_bytes FROM seqmodel.shared_cache_info() WHERE model = 'sc';
COMMIT;
SELECT model, state, readers FROM seqmodel.shared_cache_info() WHERE model = 'sc';
-- a new connection finds the copy: no second build, the same answer
SELECT builds AS builds_before FROM seqmodel.shared_cache_stats() \gset
\c
SELECT seqmodel.forecast('sc', '{330, 331, 332, 333, 334}', 3) AS other_backend;
SELECT builds - :builds_before AS new_builds FROM seqmodel.shared_cache_stats();
SELECT model, shared FROM seqmodel.cache_info() WHERE model = 'sc';
-- one copy for every kernel set (their packed layout is the same)
SET seqmodel.cpu_kernels = generic;
SELECT seqmodel.forecast('sc', '{330, 331, 332, 333, 334}', 3) AS generic_kernels;
SELECT count(*) AS copies FROM seqmodel.shared_cache_info() WHERE model = 'sc';
RESET seqmodel.cpu_kernels;
-- a session may keep a copy of its own instead
SET seqmodel.shared_cache = off;
SELECT seqmodel.forecast('sc', '{330, 331, 332, 333, 334}', 3) AS own_copy;
SELECT model, shared FROM seqmodel.cache_info() WHERE model = 'sc';
RESET seqmodel.shared_cache;
-- a replaced model: the new version is built beside the old, which goes
-- once nothing reads it (here at once)
SELECT version AS v1 FROM seqmodel.models WHERE name = 'sc' \gset
SELECT seqmodel.import_safetensors('sc', 'lstm', pg_read_file(:'cfgfile')::jsonb || '{"output_mean": 0}',
                                   pg_read_binary_file(:'weights'), replace => true) AS parameters;
SELECT round((seqmodel.forecast('sc', '{330, 331, 332, 333, 334}', 3))[1]::numeric, 2) AS after_replace_step1;
SELECT version > :v1 AS new_version, state FROM seqmodel.shared_cache_info() WHERE model = 'sc';
-- a model dropped: its copies are freed (none is read now)
SELECT seqmodel.drop_model('sc');
SELECT seqmodel.forecast('sc', '{330, 331, 332, 333, 334}', 3);
SELECT count(*) AS copies_left FROM seqmodel.shared_cache_info() WHERE model = 'sc';
