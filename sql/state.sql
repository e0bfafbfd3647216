-- state: recurrent states kept per series in a table (state_create,
-- state_update, state_rebuild, forecast_from_state, state_trigger).  A
-- history fed in increments must forecast as forecast_query over the whole
-- history (and as PyTorch, fixture_rnn_batch_expected), within 1e-5.
\getenv abs_srcdir PG_ABS_SRCDIR
\set rnndir :abs_srcdir '/test/fixtures/rnn/'

-- forecast_from_state against forecast_query over the full history: same
-- rows (every quantile too), values within 1e-5 (normwise)
CREATE FUNCTION state_matches(m text, tbl regclass, q text, h int, k text[] DEFAULT NULL) RETURNS boolean
LANGUAGE sql AS $$
    SELECT count(*) = (SELECT count(*) FROM seqmodel.forecast_query(m, q, h) f
                        WHERE k IS NULL OR f.series = ANY (k))
           AND count(*) = (SELECT count(*) FROM seqmodel.forecast_from_state(m, tbl, h, k))
           AND count(*) > 0
           AND max(abs(a.value - b.value)) / greatest(max(abs(b.value)), 1e-30) < 1e-5
      FROM seqmodel.forecast_from_state(m, tbl, h, k) a
      JOIN seqmodel.forecast_query(m, q, h) b USING (series, step, feature)
     WHERE a.quantile IS NOT DISTINCT FROM b.quantile
$$;

-- readings of 5 series, 17 to 45 hourly steps
CREATE TABLE readings (series text, "time" timestamptz, value real);
INSERT INTO readings
SELECT 's' || s, '2024-01-01 00:00+00'::timestamptz + g * interval '1 hour', sin(g * 0.3 + s) + 0.1 * s
  FROM generate_series(1, 5) s, generate_series(1, 10 + 7 * s) g;

-- a state table, and its shape
SELECT seqmodel.state_create('st_lstm') AS created;
SELECT attname, format_type(atttypid, atttypmod) AS type, attnotnull
  FROM pg_attribute WHERE attrelid = 'st_lstm'::regclass AND attnum > 0 ORDER BY attnum;
SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'st_lstm'::regclass ORDER BY 1;

-- three increments: up to 05:00, then a query repeating those rows (skipped)
-- up to 12:00, then only the newer rows (the O(new rows) form: filter on
-- the stored last_time)
SELECT * FROM seqmodel.state_update('lstm_l1_uni_head', 'st_lstm',
    $$SELECT series, "time", value FROM readings WHERE "time" <= '2024-01-01 05:00+00' ORDER BY 1, 2$$);
SELECT series, steps, last_time AT TIME ZONE 'UTC' AS last_time_utc, array_length(state, 1) AS width
  FROM st_lstm ORDER BY series;
SELECT * FROM seqmodel.state_update('lstm_l1_uni_head', 'st_lstm',
    $$SELECT series, "time", value FROM readings WHERE "time" <= '2024-01-01 12:00+00' ORDER BY 1, 2$$);
SELECT * FROM seqmodel.state_update('lstm_l1_uni_head', 'st_lstm',
    $$SELECT r.series, r."time", r.value FROM readings r
       WHERE r."time" > coalesce((SELECT s.last_time FROM st_lstm s
                                   WHERE s.model = 'lstm_l1_uni_head' AND s.series = r.series), '-infinity')
       ORDER BY 1, 2$$);
SELECT series, steps, steps = (SELECT count(*) FROM readings r WHERE r.series = s.series) AS all_steps
  FROM st_lstm s ORDER BY series;
SELECT state_matches('lstm_l1_uni_head', 'st_lstm', 'SELECT series, value FROM readings ORDER BY series, "time"', 6) AS matches_full_run;
-- nothing new: nothing changes
SELECT * FROM seqmodel.state_update('lstm_l1_uni_head', 'st_lstm',
    $$SELECT series, "time", value FROM readings ORDER BY 1, 2$$);
-- some series only
SELECT state_matches('lstm_l1_uni_head', 'st_lstm', 'SELECT series, value FROM readings ORDER BY series, "time"', 3, '{s2,s4,nope}') AS some_series_match;

-- the same over every kind of recurrent model that can keep a state: cells,
-- layers, proj_size without a head, input and output scaling, direct,
-- quantile and Gaussian heads; increments at 3 cut points
CREATE TABLE state_models (model text);
INSERT INTO state_models VALUES ('rnn_l3_uni_head'), ('gru_l1_uni_head'), ('lstm_l3_uni_head'), ('lstm_proj_l2_uni'),
    ('gru_scaled'), ('rnn_nobias_head'), ('lstm_direct'), ('lstm_quantile'), ('lstm_direct_quantile'), ('gru_gaussian');
SELECT seqmodel.state_create('st_all') AS created;
SELECT model, sum(u.new_rows) AS rows, sum(u.skipped_rows) AS skipped
  FROM state_models,
       LATERAL (VALUES ('2024-01-01 03:00+00'), ('2024-01-01 17:00+00'), ('2024-01-02 00:00+00'), ('infinity')) c(cut),
       LATERAL seqmodel.state_update(model, 'st_all',
           format($$SELECT series, "time", value FROM readings WHERE "time" <= %L ORDER BY 1, 2$$, cut)) u
 GROUP BY model ORDER BY model;
SELECT model, state_matches(model, 'st_all', 'SELECT series, value FROM readings ORDER BY series, "time"', 4) AS matches_full_run
  FROM state_models ORDER BY model;
-- a Gaussian head's sampled quantiles too, seeded as forecast_query is
SELECT count(*) AS rows,
       max(abs(a.value - b.value)) < 1e-4 AS same_paths
  FROM seqmodel.forecast_from_state('gru_gaussian', 'st_all', 3, NULL, '{0.1,0.9}', 500, 42) a
  JOIN seqmodel.forecast_query('gru_gaussian', 'SELECT series, value FROM readings ORDER BY series, "time"', 3, '{0.1,0.9}', 500, 42) b
 USING (series, step, feature) WHERE a.quantile IS NOT DISTINCT FROM b.quantile;

-- against PyTorch: the fixture series (1 to 100 steps, bigint times) fed in
-- increments, then forecast, as PyTorch forecasts each whole series
SELECT seqmodel.state_create('st_torch', 'bigint') AS created;
SELECT m.model, sum(u.new_rows) AS rows
  FROM (VALUES ('lstm_l1_uni_head'), ('gru_scaled')) m(model),
       LATERAL (VALUES (1), (5), (30), (64), (1000)) c(cut),
       LATERAL seqmodel.state_update(m.model, 'st_torch',
           format('SELECT series, t, value FROM fixture_rnn_series WHERE model = %L AND t <= %s ORDER BY 1, 2', m.model, c.cut)) u
 GROUP BY m.model ORDER BY 1;
SELECT m.model,
       (SELECT max(abs(f.value - e.value)) / max(abs(e.value))
          FROM seqmodel.forecast_from_state(m.model, 'st_torch', 6) f
          JOIN fixture_rnn_batch_expected e ON e.model = m.model AND e.series = f.series AND e.step = f.step) < 1e-5 AS matches_pytorch
  FROM (VALUES ('lstm_l1_uni_head'), ('gru_scaled')) m(model) ORDER BY 1;

-- multi-feature rows (real[]), with scaling
CREATE TABLE readings3 (k int, t int, v real[]);
INSERT INTO readings3 SELECT g % 3, g, ARRAY[sin(g), cos(g), g / 50.0]::real[] FROM generate_series(1, 90) g;
SELECT seqmodel.state_create('public.st_multi', 'bigint') AS created;
SELECT (seqmodel.state_update('lstm_multi_scaled', 'st_multi', 'SELECT k, t, v FROM readings3 WHERE t <= 40 ORDER BY 1, 2')).new_rows,
       (seqmodel.state_update('lstm_multi_scaled', 'st_multi', 'SELECT k, t, v FROM readings3 ORDER BY 1, 2')).new_rows AS then_rows;
SELECT state_matches('lstm_multi_scaled', 'st_multi', 'SELECT k, v FROM readings3 ORDER BY k, t', 4) AS matches_full_run;

-- state_rebuild: from zero over the whole history, whatever was stored
UPDATE st_lstm SET state = array_fill(0.5::real, ARRAY[array_length(state, 1)]) WHERE series = 's3';
SELECT state_matches('lstm_l1_uni_head', 'st_lstm', 'SELECT series, value FROM readings ORDER BY series, "time"', 6) AS matches_after_damage;
SELECT * FROM seqmodel.state_rebuild('lstm_l1_uni_head', 'st_lstm', $$SELECT series, "time", value FROM readings WHERE series = 's3' ORDER BY 1, 2$$);
SELECT state_matches('lstm_l1_uni_head', 'st_lstm', 'SELECT series, value FROM readings ORDER BY series, "time"', 6) AS matches_after_rebuild;

-- an update in a rolled-back transaction leaves the old states
CREATE TABLE st_saved AS SELECT * FROM st_lstm;
INSERT INTO readings SELECT series, max("time") + interval '1 hour', 0.25 FROM readings GROUP BY series;
BEGIN;
SELECT * FROM seqmodel.state_update('lstm_l1_uni_head', 'st_lstm', $$SELECT series, "time", value FROM readings ORDER BY 1, 2$$);
SELECT count(*) AS changed FROM st_lstm JOIN st_saved USING (series) WHERE st_lstm.state IS DISTINCT FROM st_saved.state;
ROLLBACK;
SELECT count(*) AS changed_after_rollback FROM st_lstm s FULL JOIN st_saved o USING (model, series)
 WHERE (s.*) IS DISTINCT FROM (o.*);
-- and committed, it advances by exactly the new row
SELECT * FROM seqmodel.state_update('lstm_l1_uni_head', 'st_lstm', $$SELECT series, "time", value FROM readings ORDER BY 1, 2$$);
SELECT state_matches('lstm_l1_uni_head', 'st_lstm', 'SELECT series, value FROM readings ORDER BY series, "time"', 6) AS matches_full_run;

-- the model version: a state of another version is refused until rebuilt
SELECT count(*) AS imported FROM (
    SELECT seqmodel.import_safetensors('st_gru', arch, config, pg_read_binary_file(:'rnndir' || file))
      FROM fixture_rnn_models WHERE model = 'gru_scaled') i;
SELECT seqmodel.state_create('st_v', 'bigint') AS created;
SELECT (seqmodel.state_update('st_gru', 'st_v', 'SELECT series, t, value FROM fixture_rnn_series WHERE model = ''gru_scaled'' ORDER BY 1, 2')).updated_series;
SELECT count(DISTINCT model_version) = 1 AS one_version,
       bool_and(model_version = (SELECT version FROM seqmodel.model WHERE name = 'st_gru')) AS model_version
  FROM st_v;
UPDATE seqmodel.model SET config = config WHERE name = 'st_gru';  -- a new version, same weights
-- (terse: the detail names the version numbers, which depend on the tests before)
\set VERBOSITY terse
SELECT * FROM seqmodel.forecast_from_state('st_gru', 'st_v', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.state_update('st_gru', 'st_v', 'SELECT series, t, value FROM fixture_rnn_series WHERE model = ''gru_scaled'' ORDER BY 1, 2');
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
SELECT * FROM seqmodel.state_rebuild('st_gru', 'st_v', 'SELECT series, t, value FROM fixture_rnn_series WHERE model = ''gru_scaled'' ORDER BY 1, 2');
SELECT (SELECT max(abs(f.value - e.value)) / max(abs(e.value))
          FROM seqmodel.forecast_from_state('st_gru', 'st_v', 6) f
          JOIN fixture_rnn_batch_expected e ON e.model = 'gru_scaled' AND e.series = f.series AND e.step = f.step) < 1e-5 AS rebuilt_matches_pytorch;

-- the trigger: inserted readings keep the states current
CREATE TABLE live (sensor text, ts bigint, reading real);
SELECT seqmodel.state_create('st_live', 'bigint') AS created;
CREATE TRIGGER live_state AFTER INSERT ON live REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION seqmodel.state_trigger('st_gru', 'st_live', 'sensor', 'ts', 'reading');
INSERT INTO live SELECT 'a' || s, g, 20 + 5 * sin(g * 0.2 + s) FROM generate_series(1, 3) s, generate_series(1, 10) g;
INSERT INTO live SELECT 'a' || s, g, 20 + 5 * sin(g * 0.2 + s) FROM generate_series(1, 4) s, generate_series(11, 12) g;
INSERT INTO live VALUES ('a1', 13, 21.5);
INSERT INTO live VALUES ('a2', 13, 19.0), ('a2', 14, 18.5), ('a2', 15, 18.0);
SELECT series, steps, last_time FROM st_live ORDER BY series;
SELECT state_matches('st_gru', 'st_live', 'SELECT sensor, reading FROM live ORDER BY sensor, ts', 5) AS trigger_matches_full_run;
-- a late reading is refused, and the INSERT with it
INSERT INTO live VALUES ('a3', 16, 20.0), ('a1', 13, 22.0);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS live_rows FROM live;
-- the default column names series, "time", value
CREATE TABLE live2 (series text, "time" date, value real);
SELECT seqmodel.state_create('st_live2', 'date') AS created;
CREATE TRIGGER live2_state AFTER INSERT ON live2 REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION seqmodel.state_trigger('lstm_l1_uni_head', 'st_live2');
INSERT INTO live2 SELECT 'x', '2024-01-01'::date + g, sin(g) FROM generate_series(1, 20) g;
INSERT INTO live2 SELECT 'x', '2024-01-01'::date + g, sin(g) FROM generate_series(21, 25) g;
SELECT series, steps, last_time FROM st_live2;
SELECT state_matches('lstm_l1_uni_head', 'st_live2', 'SELECT series, value FROM live2 ORDER BY series, "time"', 4) AS trigger_matches_full_run;

-- errors
-- models that cannot keep a state (0A000)
SELECT * FROM seqmodel.state_update('lstm_l1_bi_head', 'st_all', 'SELECT series, "time", value FROM readings ORDER BY 1, 2');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.forecast_from_state('gru_context', 'st_all', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.state_rebuild('tfm_num1_scaled', 'st_all', 'SELECT series, "time", value FROM readings ORDER BY 1, 2');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.state_update('linear_fc', 'st_all', 'SELECT series, "time", value FROM readings ORDER BY 1, 2');
\echo :LAST_ERROR_SQLSTATE
-- state tables: a missing column, a column of the wrong type, a last_time of no time type
CREATE TABLE st_bad1 (series text, model text, model_version bigint, last_time bigint, state real[]);
SELECT * FROM seqmodel.forecast_from_state('gru_scaled', 'st_bad1', 2);
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE st_bad2 (series text, model text, model_version bigint, last_time bigint, steps int, state real[]);
SELECT * FROM seqmodel.forecast_from_state('gru_scaled', 'st_bad2', 2);
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE st_bad3 (series text, model text, model_version bigint, last_time text, steps bigint, state real[]);
SELECT * FROM seqmodel.state_update('gru_scaled', 'st_bad3', 'SELECT 1, 1, 1');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.state_update('gru_scaled', 'no_such_table', 'SELECT 1, 1, 1');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.state_create('st_bad4', 'text');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.state_create('st_lstm');
\echo :LAST_ERROR_SQLSTATE
-- the query's columns
SELECT * FROM seqmodel.state_update('gru_scaled', 'st_all', 'SELECT series, value FROM readings');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.state_update('gru_scaled', 'st_all', 'SELECT series, 1, value FROM readings');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.state_update('gru_scaled', 'st_torch', 'SELECT series, now(), value FROM readings');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.state_update('gru_scaled', 'st_all', 'SELECT series, "time", ''x''::text FROM readings');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.state_update('gru_scaled', 'st_all', 'SELECT series, "time", ARRAY[value] FROM readings');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.state_update('lstm_multi_scaled', 'st_multi', 'SELECT k, t, 1.0 FROM readings3');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.state_update('gru_scaled', 'st_all', 'INSERT INTO readings VALUES (''z'', now(), 1)');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.state_update('gru_scaled', 'st_all', 'SELECT nonsense');
\echo :LAST_ERROR_SQLSTATE
-- the query's rows
SELECT * FROM seqmodel.state_update('gru_scaled', 'st_torch', 'SELECT NULL::text, 1, 1.0');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.state_update('gru_scaled', 'st_torch', 'SELECT ''n'', NULL::int, 1.0');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.state_update('gru_scaled', 'st_torch', 'SELECT ''n'', 1, NULL::real');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.state_update('gru_scaled', 'st_torch', 'SELECT ''n'', 1, ''NaN''::real');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.state_update('gru_scaled', 'st_torch', 'SELECT ''n'', t, 1.0 FROM (VALUES (1), (3), (2)) v(t)');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.state_update('gru_scaled', 'st_torch', 'SELECT ''n'', t, 1.0 FROM (VALUES (1), (1)) v(t)');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.state_update('gru_scaled', 'st_torch', 'SELECT k, t, 1.0 FROM (VALUES (''a'', 1), (''b'', 1), (''a'', 2)) v(k, t)');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.state_update('gru_scaled', 'st_torch', 'SELECT series, t, value FROM fixture_rnn_series WHERE model = ''gru_scaled'' AND series = ''len_9'' ORDER BY 1, 2', strict => true);
\echo :LAST_ERROR_SQLSTATE
-- stored states that are not this model's
UPDATE st_torch SET state = '{1,2}' WHERE model = 'gru_scaled' AND series = 'len_9';
SELECT * FROM seqmodel.forecast_from_state('gru_scaled', 'st_torch', 2);
\echo :LAST_ERROR_SQLSTATE
UPDATE st_torch SET state = array_fill(0::real, ARRAY[14]), steps = 0 WHERE model = 'gru_scaled' AND series = 'len_9';
SELECT * FROM seqmodel.forecast_from_state('gru_scaled', 'st_torch', 2);
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE st_nulls (series text, model text, model_version bigint, last_time bigint, steps bigint, state real[],
                       PRIMARY KEY (model, series));
INSERT INTO st_nulls VALUES ('a', 'gru_scaled', NULL, 1, 1, '{}');
SELECT * FROM seqmodel.forecast_from_state('gru_scaled', 'st_nulls', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.state_update('gru_scaled', 'st_nulls', 'SELECT ''a'', 2, 1.0');
\echo :LAST_ERROR_SQLSTATE
-- horizon and quantiles as forecast_query's
SELECT * FROM seqmodel.forecast_from_state('lstm_l1_uni_head', 'st_lstm', 0);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.forecast_from_state('lstm_l1_uni_head', 'st_lstm', 2, NULL, '{0.5}');
\echo :LAST_ERROR_SQLSTATE
-- NULL arguments give no rows (forecast_from_state) or NULL (STRICT updates)
SELECT count(*) AS rows FROM seqmodel.forecast_from_state('lstm_l1_uni_head', 'st_lstm', NULL);
SELECT seqmodel.state_update('lstm_l1_uni_head', 'st_lstm', NULL) IS NULL AS null_query;
-- the trigger's form
CREATE TRIGGER live_row AFTER INSERT ON live FOR EACH ROW EXECUTE FUNCTION seqmodel.state_trigger('st_gru', 'st_live');
INSERT INTO live VALUES ('a9', 1, 1);
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER live_row ON live;
CREATE TRIGGER live_args AFTER INSERT ON live REFERENCING NEW TABLE AS n FOR EACH STATEMENT EXECUTE FUNCTION seqmodel.state_trigger('st_gru');
INSERT INTO live VALUES ('a9', 1, 1);
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER live_args ON live;

DROP TABLE readings, readings3, live, live2, state_models, st_saved, st_lstm, st_all, st_torch, st_multi, st_v,
    st_live, st_live2, st_bad1, st_bad2, st_bad3, st_nulls;
DROP FUNCTION state_matches(text, regclass, text, int, text[]);
SELECT seqmodel.drop_model('st_gru');
