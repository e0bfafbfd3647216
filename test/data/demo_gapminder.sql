-- Many real series: one global LSTM (test/data/train_gapminder_lstm.py,
-- trained in PyTorch on 1960 .. 2006) forecasts the life expectancy of 185
-- countries (gapminder, from Debian's r-cran-dslabs) with 80 % intervals.
-- In SQL: every country's next 5 years in one call, checked against
-- PyTorch's forecasts; a backtest over the held-out decade 2007 .. 2016
-- against the naive forecast, per continent, with the intervals' coverage;
-- and a state kept per country, advanced year by year, equal to full re-runs.
-- The files are read by the server (COPY, pg_read_file), from
-- $PG_ABS_SRCDIR/test/data as pg_regress sets it, else from psql's working
-- directory (run psql from the repository root).
\set ON_ERROR_STOP on
\pset footer off
\getenv abs_srcdir PG_ABS_SRCDIR
\if :{?abs_srcdir}
\else
\set abs_srcdir `pwd`
\endif
\set datadir :abs_srcdir '/test/data/'
\set csv :datadir 'gapminder_life_expectancy.csv'
\set expected_csv :datadir 'gapminder_expected.csv'
\set weights :datadir 'gapminder_lstm.safetensors'
\set cfgfile :datadir 'gapminder_lstm.json'

\echo '== load 185 countries x 57 years of life expectancy (test/data/gapminder_life_expectancy.csv)'
CREATE TEMP TABLE life (country text, continent text NOT NULL, year int,
                        life_expectancy real NOT NULL, PRIMARY KEY (country, year));
COPY life FROM :'csv' WITH (FORMAT csv, HEADER true);
SELECT continent, count(DISTINCT country) AS countries, min(year) AS first, max(year) AS last,
       round(avg(life_expectancy) FILTER (WHERE year = 2016)::numeric, 1) AS mean_2016
  FROM life GROUP BY ROLLUP (continent) ORDER BY continent NULLS LAST;
-- PyTorch's forecasts of every country from its first 47, 52 and 57 years
CREATE TEMP TABLE life_expected (country text, cutoff int, step int, q10 real, q50 real, q90 real,
                                 PRIMARY KEY (country, cutoff, step));
COPY life_expected FROM :'expected_csv' WITH (FORMAT csv, HEADER true);

\echo '== import the global model: one LSTM for every country, 10/50/90 % quantiles of the next 5 years'
SELECT seqmodel.import_safetensors('life_lstm', 'lstm', pg_read_file(:'cfgfile')::jsonb,
                                   pg_read_binary_file(:'weights')) AS parameters;
SELECT config->>'forecast' AS forecast, config->'quantiles' AS quantiles, config->'min_history' AS min_history
  FROM seqmodel.models WHERE name = 'life_lstm';

\echo '== 2017 .. 2021 for every country in one call, at their times (a batched pass over 185 series)'
CREATE TEMP TABLE life_forecast AS
SELECT series AS country, step, time::date AS year_start, value, quantile
  FROM seqmodel.forecast_query_date('life_lstm',
         'SELECT country, make_date(year, 1, 1), life_expectancy FROM life ORDER BY country, year', 5);
SELECT country, extract(year FROM year_start)::int AS year,
       round(max(value) FILTER (WHERE quantile = 0.1::real)::numeric, 2) AS low_10,
       round(max(value) FILTER (WHERE quantile IS NULL)::numeric, 2) AS median,
       round(max(value) FILTER (WHERE quantile = 0.9::real)::numeric, 2) AS high_90
  FROM life_forecast
 WHERE country IN ('Japan', 'Nigeria', 'Brazil', 'Germany') AND step IN (1, 5)
 GROUP BY country, year_start ORDER BY country, year_start;
-- the median is the point forecast, and every value is PyTorch's within 1e-5 (relative)
SELECT count(*) AS values_compared,
       max(abs(f.value - CASE WHEN f.quantile = 0.1::real THEN e.q10 WHEN f.quantile = 0.9::real THEN e.q90 ELSE e.q50 END)
           / abs(e.q50)) < 1e-5 AS matches_pytorch
  FROM life_forecast f JOIN life_expected e ON e.country = f.country AND e.cutoff = 57 AND e.step = f.step;

\echo '== backtest over the held-out decade: origins after 2006 and after 2011, 5 years each'
CREATE TEMP TABLE life_backtest AS
SELECT b.*, l.continent
  FROM seqmodel.backtest('life_lstm', 'SELECT country, life_expectancy FROM life ORDER BY country, year',
                         horizon => 5, origins => 2) b
  JOIN (SELECT DISTINCT country, continent FROM life) l ON l.country = b.series;
SELECT origin, cutoff, 1959 + cutoff AS history_to, count(*) AS countries FROM life_backtest
 GROUP BY origin, cutoff ORDER BY origin;
-- the backtest's forecasts (the medians) are PyTorch's from the same cut-offs
SELECT count(*) AS values_compared, max(abs(b.forecast[e.step] - e.q50) / abs(e.q50)) < 1e-5 AS matches_pytorch
  FROM life_backtest b JOIN life_expected e ON e.country = b.series AND e.cutoff = b.cutoff;
-- per country: the model's MAE over both origins against the naive forecast's (the last value);
-- per continent: where the model wins, MASE, and how often the 80 % interval held the actual
WITH per_country AS (
  SELECT series, continent, avg(mae) AS mae, avg(naive_mae) AS naive_mae, avg(mase) AS mase,
         avg(coverage[1]) AS coverage, min(intervals[1]) AS nominal
    FROM life_backtest GROUP BY series, continent)
SELECT coalesce(continent, 'all') AS continent, count(*) AS countries,
       count(*) FILTER (WHERE mae < naive_mae) AS model_wins,
       round(avg((mae < naive_mae)::int)::numeric, 2) AS share_won,
       round(avg(mae)::numeric, 2) AS mae_years, round(avg(naive_mae)::numeric, 2) AS naive_mae_years,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY mase)::numeric, 2) AS median_mase,
       round(min(nominal)::numeric, 2) AS nominal, round(avg(coverage)::numeric, 2) AS coverage
  FROM per_country GROUP BY ROLLUP (continent) ORDER BY continent NULLS LAST;
-- the countries where the naive forecast did best by the widest margin
SELECT series AS country, round(avg(mae)::numeric, 2) AS mae, round(avg(naive_mae)::numeric, 2) AS naive_mae
  FROM life_backtest GROUP BY series HAVING avg(mae) >= avg(naive_mae)
 ORDER BY avg(mae) - avg(naive_mae) DESC LIMIT 5;

\echo '== a state kept per country: built from 1960 .. 2006, then advanced one year at a time'
SELECT seqmodel.state_create('pg_temp.life_state', 'date') AS state_table;
SELECT * FROM seqmodel.state_update('life_lstm', 'pg_temp.life_state',
  'SELECT country, make_date(year, 1, 1), life_expectancy FROM life WHERE year <= 2006 ORDER BY 1, 2');
CREATE TEMP TABLE life_state_check (year int, updated_series bigint, new_rows bigint, skipped_rows bigint,
                                    forecasts bigint, max_rel_diff float8);
DO $$
DECLARE
  y int;
  u record;
  c record;
BEGIN
  FOR y IN 2007 .. 2016 LOOP
    -- only that year's rows: one step per country
    SELECT * INTO u FROM seqmodel.state_update('life_lstm', 'pg_temp.life_state',
      format('SELECT country, make_date(year, 1, 1), life_expectancy FROM life WHERE year = %s ORDER BY 1, 2', y));
    -- the forecasts from the states against a full re-run over every year so far
    SELECT count(*) AS n, max(abs(s.value - f.value) / abs(f.value)) AS d INTO c
      FROM seqmodel.forecast_from_state('life_lstm', 'pg_temp.life_state', 5) s
      JOIN seqmodel.forecast_query('life_lstm',
             format('SELECT country, life_expectancy FROM life WHERE year <= %s ORDER BY country, year', y), 5) f
        ON f.series = s.series AND f.step = s.step AND f.quantile IS NOT DISTINCT FROM s.quantile;
    INSERT INTO life_state_check VALUES (y, u.updated_series, u.new_rows, u.skipped_rows, c.n, c.d);
  END LOOP;
END $$;
SELECT year, updated_series, new_rows, skipped_rows, forecasts, max_rel_diff < 1e-5 AS equals_full_rerun
  FROM life_state_check ORDER BY year;
SELECT count(*) AS countries, min(steps) AS steps, max(last_time) AS last_time
  FROM pg_temp.life_state WHERE model = 'life_lstm';
-- after 2016 the states forecast 2017 .. 2021 as PyTorch does from the whole history
SELECT count(*) AS values_compared,
       max(abs(s.value - CASE WHEN s.quantile = 0.1::real THEN e.q10 WHEN s.quantile = 0.9::real THEN e.q90 ELSE e.q50 END)
           / abs(e.q50)) < 1e-5 AS matches_pytorch
  FROM seqmodel.forecast_from_state('life_lstm', 'pg_temp.life_state', 5) s
  JOIN life_expected e ON e.country = s.series AND e.cutoff = 57 AND e.step = s.step;
SELECT seqmodel.drop_model('life_lstm');
