-- forecast_batches: forecast_query over several batches with seqmodel.threads
-- 2, where each batch but the last is forecast on a helper thread while the
-- next batch's rows are read: the same rows in the same order as on one
-- thread (bit for bit on seqmodel's own kernels); an error in a later batch,
-- a cancel and models used by the query itself while a batch is in flight.

-- weights that differ from each other (a sine of the index): an LSTM and a
-- GRU of hidden size 8
CREATE FUNCTION batch_weights(n int, seed int) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
  SELECT string_agg(le_f32((sin(i * 12.9898 + seed) * 0.4)::real), ''::bytea ORDER BY i)
    FROM generate_series(1, n) i $$;
SELECT seqmodel.import_safetensors('blstm', 'lstm', '{"input_size": 1, "hidden_size": 8, "output_size": 1}',
       make_safetensors('{"head.bias":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"head.weight":{"dtype":"F32","shape":[1,8],"data_offsets":[4,36]},"lstm.bias_hh_l0":{"dtype":"F32","shape":[32],"data_offsets":[36,164]},"lstm.bias_ih_l0":{"dtype":"F32","shape":[32],"data_offsets":[164,292]},"lstm.weight_hh_l0":{"dtype":"F32","shape":[32,8],"data_offsets":[292,1316]},"lstm.weight_ih_l0":{"dtype":"F32","shape":[32,1],"data_offsets":[1316,1444]}}',
                        batch_weights(361, 1)));
SELECT seqmodel.import_safetensors('bgru', 'gru', '{"input_size": 1, "hidden_size": 8, "output_size": 1}',
       make_safetensors('{"head.bias":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"head.weight":{"dtype":"F32","shape":[1,8],"data_offsets":[4,36]},"gru.bias_hh_l0":{"dtype":"F32","shape":[24],"data_offsets":[36,132]},"gru.bias_ih_l0":{"dtype":"F32","shape":[24],"data_offsets":[132,228]},"gru.weight_hh_l0":{"dtype":"F32","shape":[24,8],"data_offsets":[228,996]},"gru.weight_ih_l0":{"dtype":"F32","shape":[24,1],"data_offsets":[996,1092]}}',
                        batch_weights(273, 2)));

-- 3000 series of 1 to 60 steps: batches of 128 (the first, when they
-- overlap the reading), 1024, 1024 and 824 series
CREATE TABLE batch_series AS
  SELECT s AS series, t, (sin(s * 0.37 + t * 0.21) + 0.1 * cos(t * 1.3 + s))::real AS value
    FROM generate_series(1, 3000) s, generate_series(1, 1 + s % 60) t;
CREATE INDEX ON batch_series (series, t);
ANALYZE batch_series;
CREATE TABLE batch_one AS
  SELECT m, f.* FROM unnest(ARRAY['blstm', 'bgru']) m,
         seqmodel.forecast_query(m, 'SELECT series, value FROM batch_series ORDER BY series, t', 3)
           WITH ORDINALITY f;
CREATE TABLE batch_time_one AS
  SELECT * FROM seqmodel.forecast_query_bigint('blstm',
    'SELECT series, t * 10, value FROM batch_series WHERE series <= 300 AND series % 60 <> 0 ORDER BY series, t', 2) WITH ORDINALITY;
SET seqmodel.threads = 2;
CREATE TABLE batch_two AS
  SELECT m, f.* FROM unnest(ARRAY['blstm', 'bgru']) m,
         seqmodel.forecast_query(m, 'SELECT series, value FROM batch_series ORDER BY series, t', 3)
           WITH ORDINALITY f;
-- bit for bit on our kernels; OpenBLAS's bits change with its thread count
CREATE FUNCTION batches_agree(a text, b text) RETURNS TABLE (m text, rows bigint, same_order bool, same_values bool)
LANGUAGE plpgsql AS $$
BEGIN
  RETURN QUERY EXECUTE format(
    'SELECT x.m, count(*), bool_and(x.series = y.series AND x.step = y.step),
            bool_and(CASE WHEN (SELECT kernels = ''blas'' OR backend <> ''cpu'' FROM seqmodel.compute_info())
                          THEN abs(x.value - y.value) <= 1e-6 * greatest(1, abs(x.value))
                          ELSE x.value = y.value END)
       FROM %I x FULL JOIN %I y ON x.m = y.m AND x.ordinality = y.ordinality
      GROUP BY x.m ORDER BY x.m', a, b);
END $$;
SELECT * FROM batches_agree('batch_one', 'batch_two');
SELECT count(DISTINCT series) AS series, count(*) AS rows FROM batch_two WHERE m = 'blstm';

-- the time forms carry each series' times through the batches (series of
-- one step have no frequency to infer: left out)
SELECT count(*) AS rows, bool_and(a.series = b.series AND a.step = b.step AND a.time = b.time) AS same_times,
       bool_and(abs(a.value - b.value) <= 1e-6 * greatest(1, abs(a.value))) AS same_values
  FROM batch_time_one a
  FULL JOIN (SELECT * FROM seqmodel.forecast_query_bigint('blstm',
          'SELECT series, t * 10, value FROM batch_series WHERE series <= 300 AND series % 60 <> 0 ORDER BY series, t', 2)
          WITH ORDINALITY) b USING (ordinality);
SELECT series, step, time FROM batch_time_one WHERE series IN ('1', '129', '299') ORDER BY series::int, step;

-- the query itself runs models while a batch is in flight: they wait for it
CREATE TABLE batch_nested AS
  SELECT 'blstm'::text AS m, f.* FROM seqmodel.forecast_query('blstm',
    'SELECT series, value + 0 * CASE WHEN t = 1 THEN (seqmodel.forecast(''bgru'', ARRAY[value], 1))[1] ELSE 0 END
       FROM batch_series ORDER BY series, t', 3) WITH ORDINALITY f;
SELECT x.m, count(*) AS rows, bool_and(x.series = y.series AND x.step = y.step AND x.value = y.value) AS same
  FROM batch_nested x JOIN batch_two y USING (m, ordinality) GROUP BY x.m;

-- an error in a later batch, while an earlier one is in flight: the error,
-- and the backend goes on as before
\set SHOW_CONTEXT never
SELECT count(*) FROM seqmodel.forecast_query('blstm',
  'SELECT series, CASE WHEN series = 2500 AND t = 3 THEN NULL ELSE value END FROM batch_series ORDER BY series, t', 3);
SELECT count(*) FROM seqmodel.forecast_query('blstm',
  'SELECT CASE WHEN series = 2900 THEN 1 ELSE series END, value FROM batch_series ORDER BY batch_series.series, t', 3);
SELECT count(*) FROM seqmodel.forecast_query('blstm',
  'SELECT series, CASE WHEN series = 1500 THEN ''NaN''::real ELSE value END FROM batch_series ORDER BY series, t', 3);
\set SHOW_CONTEXT errors
CREATE TABLE batch_again AS
  SELECT m, f.* FROM unnest(ARRAY['blstm', 'bgru']) m,
         seqmodel.forecast_query(m, 'SELECT series, value FROM batch_series ORDER BY series, t', 3)
           WITH ORDINALITY f;
SELECT * FROM batches_agree('batch_one', 'batch_again');

-- a cancel while batches are in flight (an LSTM of hidden size 256: each
-- batch of 1024 series of 300 steps takes seconds)
SELECT seqmodel.import_safetensors('bslow', 'lstm', '{"input_size": 1, "hidden_size": 256, "output_size": 1}',
       make_safetensors('{"head.bias":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"head.weight":{"dtype":"F32","shape":[1,256],"data_offsets":[4,1028]},"lstm.bias_hh_l0":{"dtype":"F32","shape":[1024],"data_offsets":[1028,5124]},"lstm.bias_ih_l0":{"dtype":"F32","shape":[1024],"data_offsets":[5124,9220]},"lstm.weight_hh_l0":{"dtype":"F32","shape":[1024,256],"data_offsets":[9220,1057796]},"lstm.weight_ih_l0":{"dtype":"F32","shape":[1024,1],"data_offsets":[1057796,1061892]}}',
                        decode(repeat(encode(le_f32(0.01), 'hex'), 265473), 'hex')));
SET statement_timeout = '500ms';
\set SHOW_CONTEXT never
SELECT count(*) FROM seqmodel.forecast_query('bslow',
  'SELECT s, 0.5::real FROM generate_series(1, 5000) s, LATERAL generate_series(1, 300 + 0 * s) t', 1);
\echo :LAST_ERROR_SQLSTATE
RESET statement_timeout;
\set SHOW_CONTEXT errors
SELECT count(*) AS still_works FROM seqmodel.forecast_query('bslow',
  'SELECT s, 0.5::real FROM generate_series(1, 200) s, LATERAL generate_series(1, 3 + 0 * s) t', 1);
DROP TABLE batch_again;
CREATE TABLE batch_again AS
  SELECT m, f.* FROM unnest(ARRAY['blstm', 'bgru']) m,
         seqmodel.forecast_query(m, 'SELECT series, value FROM batch_series ORDER BY series, t', 3)
           WITH ORDINALITY f;
SELECT * FROM batches_agree('batch_one', 'batch_again');

RESET seqmodel.threads;
SELECT seqmodel.drop_model(m) FROM unnest(ARRAY['blstm', 'bgru', 'bslow']) m;
DROP TABLE batch_series, batch_one, batch_two, batch_time_one, batch_nested, batch_again;
DROP FUNCTION batches_agree(text, text);
DROP FUNCTION batch_weights(int, int);
