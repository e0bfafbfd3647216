-- Forecasting on real data: Mauna Loa CO2 (monthly means, 1958-03 .. 2001-12)
-- with an LSTM trained in PyTorch (test/data/train_co2_lstm.py) on the months
-- before 2000.  Forecasts 2000-01 .. 2001-12 in SQL, compares with the
-- seasonal-naive baseline and checks the result against torch's own forecast
-- (test/data/co2_expected.csv).  Run from the repository root by psql, after
-- CREATE EXTENSION seqmodel (test/demo.sql does both).
\set ON_ERROR_STOP on
\pset footer off
\set cutoff 2000-01-01

\echo '== load test/data/co2_monthly.csv'
\set QUIET on
CREATE TEMP TABLE co2 (month date PRIMARY KEY, ppm real NOT NULL);
\copy co2 FROM 'test/data/co2_monthly.csv' WITH (FORMAT csv, HEADER true)
\set QUIET off
SELECT count(*) AS months, min(month) AS first, max(month) AS last,
       min(ppm) AS min_ppm, max(ppm) AS max_ppm
  FROM co2;

\echo '== import the LSTM (test/data/co2_lstm.safetensors, config test/data/co2_lstm.json)'
\set QUIET on
\lo_import test/data/co2_lstm.safetensors
\set co2_config `cat test/data/co2_lstm.json`
\set QUIET off
SELECT seqmodel.import_safetensors('co2_lstm', 'lstm', :'co2_config',
       lo_get(:LASTOID), replace => true) AS parameters;
SELECT lo_unlink(:LASTOID) AS freed \gset
SELECT name, arch, parameters, bytes, config FROM seqmodel.models WHERE name = 'co2_lstm';

\echo '== forecast the 24 months from' :cutoff 'on from all the months before, as a function of an array and as an aggregate'
\set QUIET on
CREATE TEMP TABLE co2_forecast AS
SELECT -- a function of the history as an array
       seqmodel.forecast('co2_lstm',
         (SELECT array_agg(ppm ORDER BY month) FROM co2 WHERE month < :'cutoff'),
         24) AS by_array,
       -- an aggregate over the history's rows, in time order
       (SELECT seqmodel.forecast_agg('co2_lstm', ppm, 24 ORDER BY month)
          FROM co2 WHERE month < :'cutoff') AS by_agg;

-- one row per forecast month: actual, LSTM, seasonal naive (12 months earlier)
CREATE TEMP TABLE co2_eval AS
SELECT a.month, a.ppm AS actual, f.lstm, s.ppm AS seasonal_naive
  FROM co2_forecast,
       unnest(by_array) WITH ORDINALITY AS f(lstm, k),
       co2 a, co2 s
 WHERE a.month = :'cutoff'::date + (f.k - 1) * interval '1 month'
   AND s.month = a.month - interval '12 months';
\set QUIET off
SELECT pg_typeof(by_array) AS type, cardinality(by_array) AS steps,
       by_agg = by_array AS aggregate_gives_the_same
  FROM co2_forecast;

\echo '== forecasts against the actual values (ppm)'
SELECT month,
       round(actual::numeric, 2) AS actual,
       round(lstm::numeric, 2) AS lstm,
       round(seasonal_naive::numeric, 2) AS seasonal_naive
  FROM co2_eval ORDER BY month;

\echo '== errors over the 24 months (ppm)'
SELECT round(avg(abs(lstm::float8 - actual))::numeric, 2) AS lstm_mae,
       round(sqrt(avg((lstm::float8 - actual) ^ 2))::numeric, 2) AS lstm_rmse,
       round(avg(abs(seasonal_naive::float8 - actual))::numeric, 2) AS naive_mae,
       round(sqrt(avg((seasonal_naive::float8 - actual) ^ 2))::numeric, 2) AS naive_rmse
  FROM co2_eval;

\echo '== the same forecast as PyTorch (test/data/co2_expected.csv)?'
\set QUIET on
CREATE TEMP TABLE co2_expected (month date PRIMARY KEY, actual real,
                                lstm_forecast real, seasonal_naive real);
\copy co2_expected FROM 'test/data/co2_expected.csv' WITH (FORMAT csv, HEADER true)
\set QUIET off
SELECT count(*) AS months,
       round(max(abs(e.lstm::float8 - x.lstm_forecast))::numeric, 6) AS max_abs_diff_ppm,
       count(*) = 24 AND max(abs(e.lstm::float8 - x.lstm_forecast)) < 1e-3 AS matches_torch
  FROM co2_eval e JOIN co2_expected x USING (month);
