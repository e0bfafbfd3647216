-- forecast: many series at once (forecast_query, mixed lengths, batched),
-- the forecast_agg aggregate, and sampled Gaussian quantiles.
\getenv abs_srcdir PG_ABS_SRCDIR
\set rnndir :abs_srcdir '/test/fixtures/rnn/'
\set f :rnndir 'rnn_batch.sql'
\i :f
\set f :rnndir 'rnn_gaussian.sql'
\i :f

-- forecast_query over series of lengths 1 to 100 in one batch, against
-- PyTorch run on each series alone
SELECT m.model,
       (SELECT count(*) FROM seqmodel.forecast_query(m.model,
            format('SELECT series, value FROM fixture_rnn_series WHERE model = %L ORDER BY series, t', m.model), 6)) AS rows,
       (SELECT max(abs(f.value - e.value)) / max(abs(e.value))
          FROM seqmodel.forecast_query(m.model,
                 format('SELECT series, value FROM fixture_rnn_series WHERE model = %L ORDER BY series, t', m.model), 6) f
          JOIN fixture_rnn_batch_expected e ON e.model = m.model AND e.series = f.series AND e.step = f.step
         WHERE f.quantile IS NULL) < 1e-5 AS matches_pytorch
  FROM (SELECT DISTINCT model FROM fixture_rnn_series) m ORDER BY 1;

-- the aggregate, per series, equals forecast() on the same array
SELECT s.model, bool_and(s.agg = seqmodel.forecast(s.model, s.hist, 6)) AS agg_equals_forecast
  FROM (SELECT model, series, seqmodel.forecast_agg(model, value, 6 ORDER BY t) AS agg,
               array_agg(value ORDER BY t) AS hist
          FROM fixture_rnn_series GROUP BY model, series) s
 GROUP BY s.model ORDER BY 1;
-- and forecast_query equals forecast() per series (batching changes nothing)
SELECT bool_and(abs(f.value - (seqmodel.forecast(f.model, h.hist, 6))[f.step]) <= 1e-6 * greatest(1, abs(f.value))) AS batch_equals_single
  FROM (SELECT DISTINCT model FROM fixture_rnn_series) m,
       LATERAL (SELECT m.model, q.* FROM seqmodel.forecast_query(m.model,
                  format('SELECT series, value FROM fixture_rnn_series WHERE model = %L ORDER BY series, t', m.model), 6) q) f
  JOIN (SELECT model, series, array_agg(value ORDER BY t) AS hist FROM fixture_rnn_series GROUP BY model, series) h
    ON h.model = f.model AND h.series = f.series;

-- any key type, any numeric value type
SELECT count(*) AS rows, count(DISTINCT series) AS series
  FROM seqmodel.forecast_query('lstm_l1_uni_head',
         'SELECT (g / 10)::int, sin(g)::numeric FROM generate_series(0, 99) g ORDER BY 1, g', 3);

-- multi-feature rows: forecast_agg over real[] and forecast_query over real[]
SELECT array_dims(seqmodel.forecast_agg('lstm_multi', ARRAY[sin(g), cos(g), g / 50.0]::real[], 4 ORDER BY g)) AS agg_dims
  FROM generate_series(1, 30) g;
SELECT count(*) AS rows, max(feature) AS features
  FROM seqmodel.forecast_query('lstm_multi',
         'SELECT g % 3, ARRAY[sin(g), cos(g), g / 50.0]::real[] FROM generate_series(1, 60) g ORDER BY g % 3, g', 4);

-- sampled Gaussian quantiles against PyTorch's sampling (200000 paths there,
-- 4000 here): within 0.1 standard deviations of the step's distribution
SELECT g.step, g.quantile,
       abs(t.value - g.expected) < 0.1 * g.sd AS close_to_pytorch
  FROM fixture_rnn_gaussian g
  JOIN seqmodel.forecast_table(g.model, g.history, g.horizon, '{0.1,0.5,0.9}', samples => 4000, seed => 1) t
    ON t.step = g.step AND t.quantile = g.quantile
 ORDER BY g.step, g.quantile;
-- reproducible for a seed; another seed draws other paths
SELECT (SELECT array_agg(value ORDER BY step, quantile) FROM seqmodel.forecast_table('gru_gaussian', '{0.1,0.2,0.3}', 3, '{0.1,0.9}', 50, 7))
     = (SELECT array_agg(value ORDER BY step, quantile) FROM seqmodel.forecast_table('gru_gaussian', '{0.1,0.2,0.3}', 3, '{0.1,0.9}', 50, 7)) AS same_seed_same_paths,
       (SELECT array_agg(value ORDER BY step, quantile) FROM seqmodel.forecast_table('gru_gaussian', '{0.1,0.2,0.3}', 3, '{0.1,0.9}', 50, 7))
     = (SELECT array_agg(value ORDER BY step, quantile) FROM seqmodel.forecast_table('gru_gaussian', '{0.1,0.2,0.3}', 3, '{0.1,0.9}', 50, 8)) AS other_seed_same_paths;
-- quantiles from forecast_query too, one row per quantile
SELECT quantile, count(*) FROM seqmodel.forecast_query('gru_gaussian',
         'SELECT 1, sin(g) FROM generate_series(1, 20) g ORDER BY g', 2, '{0.25, 0.75}', 200)
 GROUP BY quantile ORDER BY quantile NULLS FIRST;

-- the query of forecast_query may itself run other models: with a cache too
-- small for both, loading the inner model must not evict the outer one
-- while forecast_query is using it (it is pinned, then evicted afterwards)
SET seqmodel.cache_size = '4405kB';  -- ramp's 4404 kB fits, not ramp and the lstm together
SELECT seqmodel.cache_reset() >= 0 AS reset;
SELECT count(*) AS rows, bool_and(value IS NOT NULL) AS all_values
  FROM seqmodel.forecast_query('lstm_l1_uni_head',
         'SELECT g % 2, (seqmodel.predict(''ramp'', array_fill(0.001::real, ARRAY[1024])))[1] / 1000 + g / 100.0
            FROM generate_series(1, 6) g ORDER BY g % 2, g', 2);
SELECT model FROM seqmodel.cache_info() ORDER BY model;
SELECT array_length(seqmodel.forecast('lstm_l1_uni_head', '{0.1, 0.2}', 2), 1) AS still_runs;
SELECT model FROM seqmodel.cache_info() ORDER BY model;
RESET seqmodel.cache_size;
