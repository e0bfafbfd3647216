-- demo_co2: the real-data demo as a test.  An LSTM trained in PyTorch on
-- Mauna Loa CO2 before 2000 (test/data) forecasts 2000-01 .. 2001-12 in SQL:
-- it must equal PyTorch's own forecast and beat the seasonal-naive baseline.
\getenv abs_srcdir PG_ABS_SRCDIR
\set datadir :abs_srcdir '/test/data/'
\set csv :datadir 'co2_monthly.csv'
\set expected_csv :datadir 'co2_expected.csv'
\set weights :datadir 'co2_lstm.safetensors'
\set cfgfile :datadir 'co2_lstm.json'
CREATE TEMP TABLE co2 (month date PRIMARY KEY, ppm real NOT NULL);
COPY co2 FROM :'csv' WITH (FORMAT csv, HEADER true);
CREATE TEMP TABLE co2_expected (month date, actual real, lstm_forecast float8, seasonal_naive real);
COPY co2_expected FROM :'expected_csv' WITH (FORMAT csv, HEADER true);
SELECT count(*) AS months FROM co2;
SELECT seqmodel.import_safetensors('co2_lstm', 'lstm', pg_read_file(:'cfgfile')::jsonb, pg_read_binary_file(:'weights'));
CREATE TEMP TABLE co2_forecast AS
SELECT (DATE '2000-01-01' + (i - 1) * interval '1 month')::date AS month, f[i] AS lstm
  FROM (SELECT seqmodel.forecast('co2_lstm', array_agg(ppm ORDER BY month), 24) AS f
          FROM co2 WHERE month < DATE '2000-01-01') s, generate_series(1, 24) i;
-- the SQL forecast is PyTorch's, and the aggregate gives the same
SELECT max(abs(f.lstm - e.lstm_forecast)) < 1e-3 AS matches_pytorch
  FROM co2_forecast f JOIN co2_expected e USING (month);
SELECT (SELECT seqmodel.forecast_agg('co2_lstm', ppm, 24 ORDER BY month) FROM co2 WHERE month < DATE '2000-01-01')
     = (SELECT array_agg(lstm ORDER BY month) FROM co2_forecast) AS aggregate_same;
-- better than seasonal naive on the held-out months
SELECT avg(abs(f.lstm - a.ppm)) < avg(abs(n.ppm - a.ppm)) AS lstm_beats_seasonal_naive
  FROM co2_forecast f
  JOIN co2 a ON a.month = f.month
  JOIN co2 n ON n.month = (f.month - interval '12 months')::date;
-- a state kept for the series, advanced month by month through 2000 .. 2001
-- (the model without its context window: a state carries the whole history)
SELECT seqmodel.import_safetensors('co2_whole', 'lstm', pg_read_file(:'cfgfile')::jsonb - 'context', pg_read_binary_file(:'weights'));
SELECT seqmodel.state_create('pg_temp.co2_state', 'date');
SELECT * FROM seqmodel.state_update('co2_whole', 'pg_temp.co2_state',
  $$SELECT 'mlo', month, ppm FROM co2 WHERE month < DATE '2000-01-01' ORDER BY 2$$);
CREATE TEMP TABLE co2_state_check (month date, new_rows bigint, same boolean);
DO $$
DECLARE m date; u record; same boolean;
BEGIN
  FOR m IN SELECT month FROM co2 WHERE month >= DATE '2000-01-01' ORDER BY month LOOP
    SELECT * INTO u FROM seqmodel.state_update('co2_whole', 'pg_temp.co2_state',
      format('SELECT %L, month, ppm FROM co2 WHERE month = %L', 'mlo', m));
    SELECT max(abs(s.value - f.value) / abs(f.value)) < 1e-5 AND count(*) = 12 INTO same
      FROM seqmodel.forecast_from_state('co2_whole', 'pg_temp.co2_state', 12) s
      JOIN seqmodel.forecast_query('co2_whole',
             format('SELECT %L, ppm FROM co2 WHERE month <= %L ORDER BY month', 'mlo', m), 12) f USING (series, step);
    INSERT INTO co2_state_check VALUES (m, u.new_rows, same);
  END LOOP;
END $$;
SELECT count(*) AS months, sum(new_rows) AS rows_consumed, bool_and(same) AS equals_full_rerun_every_month,
       (SELECT last_time FROM pg_temp.co2_state) AS last_month
  FROM co2_state_check;
SELECT seqmodel.drop_model('co2_whole');
SELECT seqmodel.drop_model('co2_lstm');
