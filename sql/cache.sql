-- cache: a backend loads a model once, reuses it, and notices every change
-- (replace, drop, edited rows, another session's commit, a rollback) at the
-- next statement; memory stays within seqmodel.cache_size (LRU).
\getenv abs_srcdir PG_ABS_SRCDIR
\set fixdir :abs_srcdir '/test/fixtures/'
\set lin '{"in_features": 5, "out_features": 3}'
\set x '{0.5, -1, 2, 0.25, 1}'
-- this backend's own copies (shared_cache.sql tests the shared cache's)
SET seqmodel.shared_cache = off;

SELECT seqmodel.cache_reset() >= 0 AS reset;
SELECT seqmodel.import_safetensors('c', 'linear', :'lin', pg_read_binary_file(:'fixdir' || 'linear.safetensors'));
SELECT seqmodel.predict('c', :'x') = seqmodel.predict('linear', :'x') AS same;
SELECT model, arch, bytes > 0 AS has_bytes, hits FROM seqmodel.cache_info() ORDER BY model;
-- the next statements reuse it (hits grow, no reload)
SELECT loaded_at AS loaded_first FROM seqmodel.cache_info() WHERE model = 'c' \gset
SELECT count(seqmodel.predict('c', :'x')) FROM generate_series(1, 100);
SELECT hits, loaded_at = :'loaded_first' AS not_reloaded FROM seqmodel.cache_info() WHERE model = 'c';

-- an edited tensor row is seen at the next statement
SELECT round((seqmodel.predict('c', :'x'))[1]::numeric, 4) AS y1_before;
UPDATE seqmodel.tensor SET data = le_f32(100) || substring(data FROM 5) WHERE model = 'c' AND name = 'bias';
SELECT round((seqmodel.predict('c', :'x'))[1]::numeric - (seqmodel.predict('linear', :'x'))[1]::numeric, 3) AS bias_shift_seen;

-- replace is seen (the F16 weights give slightly different outputs)
SELECT seqmodel.import_safetensors('c', 'linear', :'lin', pg_read_binary_file(:'fixdir' || 'linear_f16.safetensors'), replace => true);
SELECT seqmodel.predict('c', :'x') = seqmodel.predict('linear_f16', :'x') AS replaced_seen;

-- a rolled-back replace leaves the old model working
BEGIN;
SELECT seqmodel.import_safetensors('c', 'linear', :'lin', pg_read_binary_file(:'fixdir' || 'linear_bf16.safetensors'), replace => true);
SELECT seqmodel.predict('c', :'x') = seqmodel.predict('linear_bf16', :'x') AS new_inside_transaction;
ROLLBACK;
SELECT seqmodel.predict('c', :'x') = seqmodel.predict('linear_f16', :'x') AS old_after_rollback;
-- also when the change was only tensor rows
BEGIN;
UPDATE seqmodel.tensor SET data = le_f32(-7) || substring(data FROM 3) WHERE model = 'c' AND name = 'bias' AND false;
DELETE FROM seqmodel.tensor WHERE model = 'c' AND name = 'bias';
SELECT seqmodel.predict('c', :'x');
ROLLBACK;
SELECT seqmodel.predict('c', :'x') = seqmodel.predict('linear_f16', :'x') AS old_after_failed_load;

-- another session's committed change is seen at this session's next statement
SELECT seqmodel.predict('c', :'x') IS NOT NULL AS cached_here;
\setenv PGDATABASE :DBNAME
\! psql -X -q -c "SELECT seqmodel.import_safetensors('c', 'linear', '{\"in_features\": 5, \"out_features\": 3}', seqmodel.export_safetensors('linear'), replace => true)" -o /dev/null
SELECT seqmodel.predict('c', :'x') = seqmodel.predict('linear', :'x') AS other_session_seen;
\! psql -X -q -c "SELECT seqmodel.drop_model('c')" -o /dev/null
SELECT seqmodel.predict('c', :'x');
SELECT count(*) AS c_still_cached FROM seqmodel.cache_info() WHERE model = 'c';

-- within one statement the model is checked once, not per row
SELECT seqmodel.import_safetensors('c', 'linear', :'lin', pg_read_binary_file(:'fixdir' || 'linear.safetensors'));
SELECT seqmodel.cache_reset() > 0 AS reset;
SELECT count(seqmodel.predict('c', :'x')) FROM generate_series(1, 1000);
SELECT hits FROM seqmodel.cache_info() WHERE model = 'c';

-- LRU: two 4.5 MB models (9 MB each once loaded: float32 plus the packed copy) do not fit in 16 MB together
SELECT seqmodel.import_safetensors('ramp2', 'linear', '{"in_features": 1024, "out_features": 1100}', ramp_linear(1024, 1100, 1.5));
SET seqmodel.cache_size = '16MB';
SELECT (seqmodel.predict('ramp', array_fill(1::real, ARRAY[1024])))[2] AS ramp_y2;
SELECT model FROM seqmodel.cache_info() ORDER BY last_used DESC, model;
SELECT (seqmodel.predict('ramp2', array_fill(1::real, ARRAY[1024])))[2] AS ramp2_y2;
SELECT model FROM seqmodel.cache_info() ORDER BY model;
SELECT sum(bytes) <= 16 * 1024 * 1024 AS within_budget FROM seqmodel.cache_info();
RESET seqmodel.cache_size;
SELECT seqmodel.drop_model('ramp2');
SELECT seqmodel.drop_model('c');
SELECT seqmodel.cache_reset() >= 0 AS reset;
SELECT count(*) AS cached FROM seqmodel.cache_info();
