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
SELECT seqmodel.drop_model('co2_lstm');
