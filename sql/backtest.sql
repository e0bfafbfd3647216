-- backtest: rolling-origin backtests (issue 14, part 4).  Each origin's
-- forecast equals forecast() on the history before it, and each metric
-- equals its definition computed here in SQL from the returned arrays.
CREATE TABLE bt AS
SELECT s, t, (sin(s + t / 3.0) + t / 50.0)::real AS v
  FROM generate_series(1, 3) s, LATERAL generate_series(1, 15 + 5 * s) t;
CREATE VIEW bt_hist AS SELECT s::text AS series, array_agg(v ORDER BY t) AS hist FROM bt GROUP BY s;

-- three origins, four steps apart, horizon 4: the last forecast ends at the last row
SELECT series, origin, cutoff, feature, array_length(actual, 1) AS steps
  FROM seqmodel.backtest('lstm_l1_uni_head', 'SELECT s, v FROM bt ORDER BY s, t', 4, origins => 3)
 ORDER BY series, origin;
-- forecasts from the history before each origin, actuals the rows after it
SELECT bool_and((SELECT bool_and(abs(a - e) <= 1e-6 * greatest(1, abs(e)))
                   FROM unnest(b.forecast, seqmodel.forecast('lstm_l1_uni_head', h.hist[1:b.cutoff], 4)) u(a, e))) AS forecasts_match,
       bool_and(b.actual = h.hist[b.cutoff + 1:b.cutoff + 4]) AS actuals_match
  FROM seqmodel.backtest('lstm_l1_uni_head', 'SELECT s, v FROM bt ORDER BY s, t', 4, origins => 3) b
  JOIN bt_hist h USING (series);
-- stride 1 and season 3: the metrics, by their definitions
CREATE TABLE bt_out AS
SELECT * FROM seqmodel.backtest('lstm_l1_uni_head', 'SELECT s, v FROM bt ORDER BY s, t', 5, origins => 4, stride => 1, season => 3);
SELECT count(*) AS rows, count(DISTINCT cutoff) AS cutoffs FROM bt_out;
CREATE FUNCTION close(a float8, b float8) RETURNS boolean LANGUAGE sql IMMUTABLE AS
$$ SELECT abs(a - b) <= 1e-9 * greatest(1, abs(b)) $$;
SELECT bool_and(close(b.mae, m.mae)) AS mae, bool_and(close(b.rmse, m.rmse)) AS rmse,
       bool_and(close(b.mape, m.mape)) AS mape, bool_and(close(b.smape, m.smape)) AS smape,
       bool_and(close(b.mase, b.mae / m.scale)) AS mase, bool_and(close(b.naive_mae, m.naive)) AS naive_mae,
       bool_and(b.pinball IS NULL AND b.intervals IS NULL AND b.coverage IS NULL) AS no_quantiles
  FROM bt_out b JOIN bt_hist h USING (series),
       LATERAL (SELECT avg(abs(a - f)) AS mae, sqrt(avg((a - f) ^ 2)) AS rmse,
                       100 * avg(abs(a - f) / abs(a)) FILTER (WHERE a <> 0) AS mape,
                       100 * avg(CASE WHEN abs(a) + abs(f) = 0 THEN 0 ELSE 2 * abs(a - f) / (abs(a) + abs(f)) END) AS smape,
                       avg(abs(a - h.hist[b.cutoff - 3 + (k - 1) % 3 + 1])) AS naive
                  FROM unnest(b.actual::float8[], b.forecast::float8[]) WITH ORDINALITY u(a, f, k)) m0,
       LATERAL (SELECT m0.*, (SELECT avg(abs(h.hist[t]::float8 - h.hist[t - 3])) FROM generate_series(4, b.cutoff) t) AS scale) m;
-- MAPE is NULL when every actual is 0, MASE when the history is constant by season
SELECT mape IS NULL AS no_mape, mase IS NULL AS no_mase, smape, mae > 0 AS has_mae
  FROM seqmodel.backtest('lstm_l1_uni_head', 'SELECT 1, 0 FROM generate_series(1, 8)', 2);

-- quantile heads: the pinball loss and the 80 % interval's coverage (against
-- forecast_table's quantiles: one series alone, equal to a batch within 1e-6)
CREATE TABLE bt_q AS
SELECT * FROM seqmodel.backtest('lstm_quantile', 'SELECT s, v FROM bt ORDER BY s, t', 4, origins => 2);
SELECT DISTINCT intervals FROM bt_q;
SELECT bool_and(abs(b.pinball - p.loss) <= 1e-6 * greatest(1, p.loss)) AS pinball, bool_and(close(b.coverage[1], p.cov)) AS coverage
  FROM bt_q b JOIN bt_hist h USING (series),
       LATERAL (SELECT avg(CASE WHEN a >= q.value THEN q.quantile * (a - q.value) ELSE (q.quantile - 1) * (a - q.value) END) AS loss
                  FROM seqmodel.forecast_table('lstm_quantile', h.hist[1:b.cutoff], 4) q
                  JOIN unnest(b.actual::float8[]) WITH ORDINALITY u(a, k) ON u.k = q.step
                 WHERE q.quantile IS NOT NULL) l,
       LATERAL (SELECT l.loss, avg((a BETWEEN lo.value AND hi.value)::int) AS cov
                  FROM unnest(b.actual) WITH ORDINALITY u(a, k)
                  JOIN seqmodel.forecast_table('lstm_quantile', h.hist[1:b.cutoff], 4) lo ON lo.step = u.k AND lo.quantile = 0.1::real
                  JOIN seqmodel.forecast_table('lstm_quantile', h.hist[1:b.cutoff], 4) hi ON hi.step = u.k AND hi.quantile = 0.9::real) p;
-- Gaussian heads: sampled quantiles, reproducible for a seed; intervals from symmetric pairs
SELECT intervals, bool_and(coverage[1] BETWEEN 0 AND 1 AND coverage[2] BETWEEN 0 AND 1) AS coverage_is_a_share,
       bool_and(pinball > 0) AS pinball
  FROM seqmodel.backtest('gru_gaussian', 'SELECT s, v FROM bt ORDER BY s, t', 3, 2, quantiles => '{0.05, 0.25, 0.5, 0.75, 0.95, 0.6}', samples => 200, seed => 3)
 GROUP BY intervals;
SELECT (SELECT array_agg(mae ORDER BY series, origin) FROM seqmodel.backtest('gru_gaussian', 'SELECT s, v FROM bt ORDER BY s, t', 3, 2, quantiles => '{0.1, 0.9}', samples => 50, seed => 3))
     = (SELECT array_agg(mae ORDER BY series, origin) FROM seqmodel.backtest('gru_gaussian', 'SELECT s, v FROM bt ORDER BY s, t', 3, 2, quantiles => '{0.1, 0.9}', samples => 50, seed => 3)) AS same_seed_same_result;

-- multi-feature models: one row per feature
SELECT count(*) AS rows, count(DISTINCT feature) AS features,
       bool_and((SELECT bool_and(abs(a - e) <= 1e-6 * greatest(1, abs(e)))
                   FROM unnest(b.forecast, (SELECT array_agg(x ORDER BY k)
                                              FROM unnest(seqmodel.forecast('lstm_multi', h.hist[1:b.cutoff][1:3], 2)) WITH ORDINALITY v(x, k)
                                             WHERE (k - 1) % 3 + 1 = b.feature)) u(a, e))) AS forecasts_match
  FROM seqmodel.backtest('lstm_multi', 'SELECT g % 2, ARRAY[sin(g), cos(g), g / 50.0]::real[] FROM generate_series(1, 40) g ORDER BY g % 2, g', 2, 3) b
  JOIN (SELECT (g % 2)::text AS series, array_agg(ARRAY[sin(g), cos(g), g / 50.0]::real[] ORDER BY g) AS hist
          FROM generate_series(1, 40) g GROUP BY 1) h USING (series);
-- a context limit applies to each origin's history, as in forecast()
SELECT bool_and((SELECT bool_and(abs(a - e) <= 1e-6 * greatest(1, abs(e)))
                   FROM unnest(b.forecast, seqmodel.forecast('gru_context', h.hist[1:b.cutoff], 3)) u(a, e))) AS forecasts_match
  FROM seqmodel.backtest('gru_context', 'SELECT s, v FROM bt ORDER BY s, t', 3, origins => 3) b
  JOIN bt_hist h USING (series);
-- more series than one batch: every series and origin
SELECT count(*) AS rows, count(DISTINCT series) AS series
  FROM seqmodel.backtest('lstm_l1_uni_head', 'SELECT s, sin(s + g) FROM generate_series(1, 1100) s, generate_series(1, 6) g ORDER BY s, g', 2, 2);

-- errors
SELECT * FROM seqmodel.backtest('lstm_l1_uni_head', 'SELECT s, v FROM bt ORDER BY s, t', 0);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.backtest('lstm_l1_uni_head', 'SELECT s, v FROM bt ORDER BY s, t', 2, origins => 0);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.backtest('lstm_l1_uni_head', 'SELECT s, v FROM bt ORDER BY s, t', 2, origins => 10001);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.backtest('lstm_l1_uni_head', 'SELECT s, v FROM bt ORDER BY s, t', 2, stride => 0);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.backtest('lstm_l1_uni_head', 'SELECT s, v FROM bt ORDER BY s, t', 2, season => 0);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.backtest('lstm_l1_uni_head', 'SELECT s, v FROM bt ORDER BY s, t', 4, origins => 5);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.backtest('lstm_l1_uni_head', 'SELECT s, 1, v FROM bt ORDER BY s, t', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.backtest('lstm_l1_uni_head', 'SELECT s, v FROM (VALUES (1, 1.0), (1, 1.0), (2, 1.0), (2, 1.0), (1, 1.0), (1, 1.0)) x(s, v)', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.backtest('linear', 'SELECT 1, 1.0', 1);
\echo :LAST_ERROR_SQLSTATE
-- NULL arguments: no rows; NULL origins, stride, season: the defaults
SELECT count(*) AS no_rows FROM seqmodel.backtest('lstm_l1_uni_head', NULL, 2);
SELECT count(*) AS rows FROM seqmodel.backtest('lstm_l1_uni_head', 'SELECT s, v FROM bt ORDER BY s, t', 2, NULL, NULL, NULL);

DROP TABLE bt_out, bt_q;
DROP VIEW bt_hist;
DROP TABLE bt;
DROP FUNCTION close(float8, float8);
