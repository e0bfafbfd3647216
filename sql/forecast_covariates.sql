-- forecast_covariates: models whose input holds covariates besides the
-- targets (config targets, past_covariates, future_covariates), against
-- PyTorch's fixtures (test/fixtures/cov, gen_cov_fixtures.py) within 1e-5:
-- forecast with future, forecast_table_future, forecast_query_future,
-- backtest taking the covariates from the actuals; then every error.
\getenv abs_srcdir PG_ABS_SRCDIR
\set covdir :abs_srcdir '/test/fixtures/cov/'
\set f :covdir 'cov_models.sql'
\i :f
\set f :covdir 'cov_io.sql'
\i :f
SELECT count(*) AS models, sum(seqmodel.import_safetensors(model, arch, config, pg_read_binary_file(:'covdir' || file))) > 0 AS imported
  FROM fixture_cov_models;

-- normwise relative error of two arrays of the same shape
CREATE FUNCTION relerr(got real[], want float8[]) RETURNS float8 LANGUAGE sql AS $$
    SELECT max(abs(a - b)) / greatest(max(abs(b)), 1e-30) FROM unnest(got::float8[], want) u(a, b)
$$;
-- row t of a 2-D array as a 1-D array
CREATE FUNCTION row_of(a real[], t int) RETURNS real[] LANGUAGE sql AS $$
    SELECT array_agg(a[t][j] ORDER BY j) FROM generate_subscripts(a, 2) j
$$;

-- the column of feature f (from 1) in a forecast of model m: its position in "targets"
CREATE FUNCTION target_col(m text, f int) RETURNS int LANGUAGE sql AS $$
    SELECT coalesce((SELECT o::int FROM fixture_cov_models x, jsonb_array_elements_text(x.config -> 'targets') WITH ORDINALITY e(v, o)
                      WHERE x.model = m AND v::int = f - 1), 1)
$$;

-- forecast(model, history, horizon, future), or forecast() for direct models
SELECT id, model, array_dims(f) AS dims, relerr(f, expected) < 1e-5 AS matches_pytorch
  FROM (SELECT i.*, CASE WHEN future IS NULL THEN seqmodel.forecast(model, history, horizon)
                         ELSE seqmodel.forecast(model, history, horizon, future) END AS f
          FROM fixture_cov_io i) s
 ORDER BY id;

-- forecast_table_future: the point rows equal forecast(); quantiles against PyTorch
SELECT i.id, i.model,
       bool_and(t.value = (seqmodel.forecast(i.model, i.history, i.horizon, i.future))[t.step][1])
         FILTER (WHERE t.quantile IS NULL) AS points_equal_forecast,
       relerr(array_agg(t.value ORDER BY t.step, t.quantile) FILTER (WHERE t.quantile IS NOT NULL),
              i.expected_q) < 1e-5 AS quantiles_match_pytorch
  FROM fixture_cov_io i,
       LATERAL seqmodel.forecast_table_future(i.model, i.history, i.horizon, i.future) t
 WHERE i.model = 'gru_fut_quantile'
 GROUP BY i.id, i.model, i.expected_q;
-- a Gaussian head: samples => 0 is the mean path, as forecast()
SELECT bool_and(t.value = (seqmodel.forecast(i.model, i.history, i.horizon, i.future))[t.step][1]) AS mean_path
  FROM fixture_cov_io i,
       LATERAL seqmodel.forecast_table_future(i.model, i.history, i.horizon, i.future, samples => 0) t
 WHERE i.model = 'gru_fut_gaussian';
-- sampled paths (each feeding back its own draws, all the same covariates) are reproducible
SELECT count(*) FILTER (WHERE t.quantile IS NOT NULL) AS quantile_rows,
       (SELECT array_agg(value ORDER BY step, quantile) FROM fixture_cov_io i,
               LATERAL seqmodel.forecast_table_future(i.model, i.history, i.horizon, i.future, '{0.1,0.9}', 200, 3)
         WHERE i.model = 'gru_fut_gaussian')
     = array_agg(t.value ORDER BY t.step, t.quantile) AS same_seed_same_paths
  FROM fixture_cov_io i,
       LATERAL seqmodel.forecast_table_future(i.model, i.history, i.horizon, i.future, '{0.1,0.9}', 200, 3) t
 WHERE i.model = 'gru_fut_gaussian';

-- feature = the target's input feature (from 1): targets [2, 0] are features 3 and 1
SELECT DISTINCT feature, (SELECT array_agg(feature ORDER BY step, ord) FROM (SELECT step, feature, row_number() OVER () AS ord
          FROM seqmodel.forecast_table_future('gru_fut_scaled', i.history, 1, i.future)) x) AS order_of_rows
  FROM fixture_cov_io i, LATERAL seqmodel.forecast_table_future('gru_fut_scaled', i.history, 2, i.future) t
 WHERE i.id = (SELECT min(id) FROM fixture_cov_io WHERE model = 'gru_fut_scaled') ORDER BY 1;

-- forecast_query_future: every case of each future model in one batched call
CREATE TABLE cov_hist AS
SELECT i.id, i.model, t, row_of(i.history, t) AS value FROM fixture_cov_io i, generate_subscripts(i.history, 1) t;
CREATE TABLE cov_future AS
SELECT i.id, i.model, k AS step, row_of(i.future, k) AS value FROM fixture_cov_io i, generate_subscripts(i.future, 1) k
 WHERE i.future IS NOT NULL;
SELECT m.model,
       count(*) AS rows,
       max(abs(q.value - i.expected[q.step][target_col(m.model, q.feature)]))
         / max(abs(i.expected[q.step][target_col(m.model, q.feature)])) < 1e-5 AS matches_pytorch
  FROM (SELECT model, min(horizon) AS h FROM fixture_cov_io WHERE future IS NOT NULL GROUP BY model) m,
       LATERAL seqmodel.forecast_query_future(m.model, format('SELECT id, value FROM cov_hist WHERE model = %L ORDER BY id, t', m.model),
                                              m.h, format('SELECT id, step, value FROM cov_future WHERE model = %L', m.model),
                                              samples => 0) q
  JOIN fixture_cov_io i ON i.id = q.series::int
 WHERE q.quantile IS NULL
 GROUP BY m.model ORDER BY 1;
-- one number column per covariate, keys of another type, rows in any order
-- and past the horizon: the same forecasts
SELECT (SELECT array_agg(value ORDER BY series, step, feature) FROM seqmodel.forecast_query_future('lstm_fut',
          'SELECT id, value FROM cov_hist WHERE model = ''lstm_fut'' ORDER BY id, t', 1,
          'SELECT id, step, value FROM cov_future WHERE model = ''lstm_fut''')) =
       (SELECT array_agg(value ORDER BY series, step, feature) FROM seqmodel.forecast_query_future('lstm_fut',
          'SELECT id, value FROM cov_hist WHERE model = ''lstm_fut'' ORDER BY id, t', 1,
          'SELECT id::text, step::bigint, value[1]::float8, value[2]::float8 FROM cov_future WHERE model = ''lstm_fut'' ORDER BY step DESC')) AS number_columns_same;
-- a series alone equals forecast() with its future (bit for bit with our kernels; BLAS may round
-- a batch differently)
SELECT bool_and(abs(q.value - (seqmodel.forecast('gru_fut_scaled', i.history, 5, i.future))[q.step][CASE q.feature WHEN 3 THEN 1 ELSE 2 END])
                <= 1e-6 * greatest(1, abs(q.value))) AS batch_equals_single
  FROM seqmodel.forecast_query_future('gru_fut_scaled',
         'SELECT id, value FROM cov_hist WHERE model = ''gru_fut_scaled'' ORDER BY id, t', 5,
         'SELECT id, step, value FROM cov_future WHERE model = ''gru_fut_scaled''') q
  JOIN fixture_cov_io i ON i.id = q.series::int;

-- backtest: the covariates ahead of each origin are the series' own rows
SELECT b.origin, b.feature,
       relerr(b.forecast, (SELECT array_agg(x::float8) FROM unnest(seqmodel.forecast('gru_fut_scaled',
                 (SELECT array_agg(v ORDER BY t) FROM (SELECT t, value AS v FROM cov_hist WHERE id = 4 AND t <= b.cutoff) h)::real[],
                 3, (SELECT array_agg(v ORDER BY t) FROM (SELECT t, ARRAY[value[2], value[4]] AS v FROM cov_hist WHERE id = 4 AND t > b.cutoff) h)::real[])) WITH ORDINALITY u(x, o)
               WHERE (o - 1) % 2 = CASE b.feature WHEN 3 THEN 0 ELSE 1 END)) < 1e-6 AS equals_forecast,
       b.actual = (SELECT array_agg(value[b.feature] ORDER BY t) FROM cov_hist WHERE id = 4 AND t > b.cutoff AND t <= b.cutoff + 3) AS actual_is_target
  FROM seqmodel.backtest('gru_fut_scaled', 'SELECT id, value FROM cov_hist WHERE id = 4 ORDER BY t', 3, origins => 2) b
 ORDER BY 1, 2;
-- past covariates (direct): forecast_query and the rows' features
SELECT count(*) AS rows, array_agg(DISTINCT feature) AS features
  FROM seqmodel.forecast_query('lstm_past_direct', 'SELECT id, value FROM cov_hist WHERE model = ''lstm_past_direct'' ORDER BY id, t', 4);

-- a direct model with past covariates keeps a state per series: equal to forecast_query
CREATE TABLE cov_rows AS SELECT id, '2024-01-01'::date + t AS day, value FROM cov_hist WHERE model = 'lstm_past_direct';
SELECT seqmodel.state_create('past_state', 'date') IS NOT NULL AS created;
SELECT updated_series, new_rows FROM seqmodel.state_update('lstm_past_direct', 'past_state', 'SELECT id, day, value FROM cov_rows ORDER BY id, day');
SELECT count(*) AS rows, max(abs(a.value - b.value)) / max(abs(b.value)) < 1e-5 AS state_equals_query
  FROM seqmodel.forecast_from_state('lstm_past_direct', 'past_state', 4) a
  JOIN seqmodel.forecast_query('lstm_past_direct', 'SELECT id, value FROM cov_rows ORDER BY id, day', 4) b USING (series, step, feature);

-- errors: config keys at import (22023, naming the key)
SELECT seqmodel.import_safetensors('bad', 'lstm', '{"input_size": 3, "hidden_size": 7, "output_size": 1, "targets": [0], "future_covariates": [1]}',
       pg_read_binary_file(:'covdir' || 'lstm_fut.safetensors'));
SELECT seqmodel.import_safetensors('bad', 'lstm', '{"input_size": 3, "hidden_size": 7, "output_size": 1, "future_covariates": [1, 3]}',
       pg_read_binary_file(:'covdir' || 'lstm_fut.safetensors'));
SELECT seqmodel.import_safetensors('bad', 'lstm', '{"input_size": 3, "hidden_size": 7, "output_size": 1, "targets": [0, 1], "future_covariates": [1, 2]}',
       pg_read_binary_file(:'covdir' || 'lstm_fut.safetensors'));
SELECT seqmodel.import_safetensors('bad', 'lstm', '{"input_size": 3, "hidden_size": 7, "output_size": 1, "future_covariates": [2, 2]}',
       pg_read_binary_file(:'covdir' || 'lstm_fut.safetensors'));
SELECT seqmodel.import_safetensors('bad', 'lstm', '{"input_size": 3, "hidden_size": 7, "output_size": 1, "targets": "0"}',
       pg_read_binary_file(:'covdir' || 'lstm_fut.safetensors'));
SELECT seqmodel.import_safetensors('bad', 'lstm', '{"input_size": 3, "hidden_size": 7, "output_size": 1, "targets": []}',
       pg_read_binary_file(:'covdir' || 'lstm_fut.safetensors'));
SELECT seqmodel.import_safetensors('bad', 'lstm', '{"input_size": 3, "hidden_size": 7, "output_size": 1, "future_covariates": [0, 1, 2]}',
       pg_read_binary_file(:'covdir' || 'lstm_fut.safetensors'));
SELECT seqmodel.import_safetensors('bad', 'lstm', '{"input_size": 3, "hidden_size": 7, "output_size": 1, "past_covariates": [1, 2]}',
       pg_read_binary_file(:'covdir' || 'lstm_fut.safetensors'));
SELECT seqmodel.import_safetensors('bad', 'lstm', '{"input_size": 3, "hidden_size": 7, "num_layers": 2, "output_size": 6, "forecast": "direct", "future_covariates": [1, 2]}',
       pg_read_binary_file(:'covdir' || 'lstm_past_direct.safetensors'));
SELECT seqmodel.import_safetensors('bad', 'gru', '{"input_size": 4, "hidden_size": 5, "num_layers": 2, "output_size": 2, "future_covariates": [1, 2, 3]}',
       pg_read_binary_file(:'covdir' || 'gru_fut_scaled.safetensors'));
SELECT seqmodel.import_safetensors('bad', 'gru', '{"input_size": 4, "hidden_size": 5, "num_layers": 2, "output_size": 2, "targets": [0, 2], "future_covariates": [1, 3], "output_mean": [1, 2, 3, 4]}',
       pg_read_binary_file(:'covdir' || 'gru_fut_scaled.safetensors'));
SELECT seqmodel.import_safetensors('bad', 'gru', '{"input_size": 2, "hidden_size": 7, "output_size": 2, "future_covariates": [1], "quantiles": [0.1, 0.5, 0.9]}',
       pg_read_binary_file(:'covdir' || 'gru_fut_gaussian.safetensors'));
SELECT seqmodel.import_safetensors('bad', 'gru', '{"input_size": 2, "hidden_size": 7, "output_size": 3, "future_covariates": [1], "distribution": "gaussian"}',
       pg_read_binary_file(:'covdir' || 'gru_fut_quantile.safetensors'));
-- future covariates missing, unexpected, of the wrong width, too few steps (22023)
SELECT seqmodel.forecast('lstm_fut', '{{1,2,3},{4,5,6}}', 3);
SELECT * FROM seqmodel.forecast_table('lstm_fut', '{{1,2,3},{4,5,6}}', 3);
SELECT * FROM seqmodel.forecast_query('lstm_fut', 'SELECT 1, ARRAY[1,2,3]::real[]', 3);
SELECT * FROM seqmodel.forecast_query_bigint('lstm_fut', 'SELECT 1, 1, ARRAY[1,2,3]::real[]', 3, freq => 1);
SELECT seqmodel.forecast('lstm_past_direct', '{{1,2,3},{4,5,6}}', 3, '{{1,2},{1,2},{1,2}}');
SELECT * FROM seqmodel.forecast_table_future('lstm_past_direct', '{{1,2,3},{4,5,6}}', 3, '{{1,2},{1,2},{1,2}}');
SELECT * FROM seqmodel.forecast_query_future('lstm_past_direct', 'SELECT 1, ARRAY[1,2,3]::real[]', 3, 'SELECT 1, 1, 0');
SELECT seqmodel.forecast('lstm_fut', '{{1,2,3},{4,5,6}}', 3, '{{1,2,3},{1,2,3},{1,2,3}}');
SELECT seqmodel.forecast('lstm_fut', '{{1,2,3},{4,5,6}}', 3, '{1,2,3}');
SELECT seqmodel.forecast('lstm_fut', '{{1,2,3},{4,5,6}}', 3, '{{1,2},{1,2}}');
SELECT seqmodel.forecast('lstm_fut', '{{1,2,3},{4,5,6}}', 3, '{{1,2},{1,NULL},{1,2}}');
SELECT seqmodel.forecast('lstm_fut', '{{1,2,3},{4,5,6}}', 3, '{{1,2},{1,NaN},{1,2}}');
-- more rows than the horizon: the first horizon rows are used
SELECT seqmodel.forecast('lstm_fut', '{{1,2,3},{4,5,6}}', 2, '{{1,2},{3,4},{5,6}}')
     = seqmodel.forecast('lstm_fut', '{{1,2,3},{4,5,6}}', 2, '{{1,2},{3,4}}') AS extra_rows_ignored;
-- future_query: missing rows name the series and step (22000), a step twice (22000)
SELECT * FROM seqmodel.forecast_query_future('lstm_fut', 'SELECT s, ARRAY[1,2,3]::real[] FROM generate_series(1, 2) s ORDER BY s', 3,
       'SELECT 1, k, 0.5, 0.5 FROM generate_series(1, 3) k');
SELECT * FROM seqmodel.forecast_query_future('lstm_fut', 'SELECT 1, ARRAY[1,2,3]::real[]', 3,
       'SELECT 1, k, 0.5, 0.5 FROM generate_series(1, 3) k WHERE k <> 2');
SELECT * FROM seqmodel.forecast_query_future('lstm_fut', 'SELECT 1, ARRAY[1,2,3]::real[]', 3,
       'SELECT 1, k, 0.5, 0.5 FROM generate_series(1, 3) k UNION ALL SELECT 1, 2, 0, 0');
-- ... its columns (42804), a step below 1 (22023), NULLs (22004), values (22023)
SELECT * FROM seqmodel.forecast_query_future('lstm_fut', 'SELECT 1, ARRAY[1,2,3]::real[]', 3, 'SELECT 1, 1');
SELECT * FROM seqmodel.forecast_query_future('lstm_fut', 'SELECT 1, ARRAY[1,2,3]::real[]', 3, 'SELECT 1, 1.5, 0, 0');
SELECT * FROM seqmodel.forecast_query_future('lstm_fut', 'SELECT 1, ARRAY[1,2,3]::real[]', 3, 'SELECT 1, 1, 0, ''x''::text');
SELECT * FROM seqmodel.forecast_query_future('lstm_fut', 'SELECT 1, ARRAY[1,2,3]::real[]', 3, 'SELECT 1, 1, 0, 0, 0');
SELECT * FROM seqmodel.forecast_query_future('lstm_fut', 'SELECT 1, ARRAY[1,2,3]::real[]', 3, 'SELECT 1, 1, ARRAY[0,0,0]::real[]');
SELECT * FROM seqmodel.forecast_query_future('lstm_fut', 'SELECT 1, ARRAY[1,2,3]::real[]', 3, 'SELECT 1, 0, 0, 0');
SELECT * FROM seqmodel.forecast_query_future('lstm_fut', 'SELECT 1, ARRAY[1,2,3]::real[]', 3, 'SELECT NULL::int, 1, 0, 0');
SELECT * FROM seqmodel.forecast_query_future('lstm_fut', 'SELECT 1, ARRAY[1,2,3]::real[]', 3, 'SELECT 1, NULL::int, 0, 0');
SELECT * FROM seqmodel.forecast_query_future('lstm_fut', 'SELECT 1, ARRAY[1,2,3]::real[]', 3, 'SELECT 1, 1, 0, NULL::float8');
SELECT * FROM seqmodel.forecast_query_future('lstm_fut', 'SELECT 1, ARRAY[1,2,3]::real[]', 3, 'SELECT 1, 1, 0, ''infinity''::float8');
-- a model with future covariates keeps no state (0A000)
SELECT seqmodel.state_create('cov_state') IS NOT NULL AS created;
SELECT * FROM seqmodel.state_update('lstm_fut', 'cov_state', 'SELECT 1, now(), ARRAY[1,2,3]::real[]');

-- leave the catalog as it was
SELECT count(*) FILTER (WHERE seqmodel.drop_model(model)) AS dropped FROM fixture_cov_models;
DROP TABLE past_state, cov_state;
