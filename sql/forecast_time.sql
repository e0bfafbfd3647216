-- forecast_time: forecasts with times (issue 14, part 2): forecast_query_<type>
-- over (series, time, value) rows and forecast_table with the history's
-- times, for timestamptz, timestamp, date and integer times; frequencies
-- inferred or given; every error.  The values are forecast_query's and
-- forecast_table's: only the time column is new.
SET TimeZone = 'Europe/Berlin';
SET DateStyle = 'ISO, YMD';
SET IntervalStyle = 'postgres';

-- three series, hourly, of 4, 7 and 11 rows from 2024-03-31 00:00 local:
-- the change to summer time at 02:00 falls in the second and third
CREATE TABLE readings AS
SELECT s, ts, sin(s + g / 3.0)::real AS v, g
  FROM generate_series(1, 3) s,
       LATERAL generate_series(1, 1 + 3 * s + (s = 3)::int) g,
       LATERAL (SELECT '2024-03-31 00:00+01'::timestamptz + (g - 1) * interval '1 hour') t(ts);

-- timestamptz: the times of the steps ahead, one per step, beside step
SELECT series, step, time FROM seqmodel.forecast_query_timestamptz('lstm_l1_uni_head',
         'SELECT s, ts, v FROM readings ORDER BY s, ts', 3)
 ORDER BY series, step;
-- the values are forecast_query's on the same series
SELECT count(*) AS rows, bool_and(t.value = p.value) AS same_values
  FROM seqmodel.forecast_query_timestamptz('lstm_l1_uni_head', 'SELECT s, ts, v FROM readings ORDER BY s, ts', 3) t
  JOIN seqmodel.forecast_query('lstm_l1_uni_head', 'SELECT s, v FROM readings ORDER BY s, ts', 3) p
    ON p.series = t.series AND p.step = t.step AND p.feature = t.feature AND p.quantile IS NOT DISTINCT FROM t.quantile;
-- a given freq that agrees gives the same rows
SELECT (SELECT array_agg((series, step, time, value) ORDER BY series, step)
          FROM seqmodel.forecast_query_timestamptz('lstm_l1_uni_head', 'SELECT s, ts, v FROM readings ORDER BY s, ts', 3))
     = (SELECT array_agg((series, step, time, value) ORDER BY series, step)
          FROM seqmodel.forecast_query_timestamptz('lstm_l1_uni_head', 'SELECT s, ts, v FROM readings ORDER BY s, ts', 3, '1 hour'))
       AS given_equals_inferred;

-- timestamptz, daily at local midnight across the change: calendar days
-- (the change day has 23 hours), as timestamptz + interval '1 day'
SELECT step, time FROM seqmodel.forecast_query_timestamptz('lstm_l1_uni_head',
         'SELECT 1, d, 0.5 FROM generate_series(''2024-03-27''::timestamptz, ''2024-03-31'', ''1 day'') d ORDER BY d', 3);
-- exactly 24 hours apart across the change (01:00 local after it): 24 hours
SELECT step, time FROM seqmodel.forecast_query_timestamptz('lstm_l1_uni_head',
         'SELECT 1, d, 0.5 FROM generate_series(''2024-03-29 00:00+01''::timestamptz, ''2024-04-01 00:00+01'', ''24 hours'') d ORDER BY d', 3);
-- a history before the change fits both: calendar days win
SELECT step, time FROM seqmodel.forecast_query_timestamptz('lstm_l1_uni_head',
         'SELECT 1, d, 0.5 FROM generate_series(''2024-03-28 00:00+01''::timestamptz, ''2024-03-30 00:00+01'', ''24 hours'') d ORDER BY d', 3);
-- a given '24 hours' keeps them 24 hours
SELECT step, time FROM seqmodel.forecast_query_timestamptz('lstm_l1_uni_head',
         'SELECT 1, d, 0.5 FROM generate_series(''2024-03-28 00:00+01''::timestamptz, ''2024-03-30 00:00+01'', ''24 hours'') d ORDER BY d', 3, '24 hours');
-- monthly timestamptz, inferred, and quantile rows carry the time too
SELECT step, time, quantile FROM seqmodel.forecast_query_timestamptz('lstm_quantile',
         'SELECT ''a'', d, 0.5 FROM generate_series(''2023-10-15 12:00''::timestamptz, ''2024-01-15 12:00'', ''1 month'') d ORDER BY d', 2)
 ORDER BY step, quantile NULLS FIRST;
SELECT count(*) AS rows, bool_and(t.value = p.value) AS same_values
  FROM seqmodel.forecast_query_timestamptz('lstm_quantile', 'SELECT s, ts, v FROM readings ORDER BY s, ts', 3) t
  JOIN seqmodel.forecast_query('lstm_quantile', 'SELECT s, v FROM readings ORDER BY s, ts', 3) p
    ON p.series = t.series AND p.step = t.step AND p.feature = t.feature AND p.quantile IS NOT DISTINCT FROM t.quantile;

-- timestamp without time zone: hourly (in UTC: local times skip 02:00),
-- every 15 minutes, inferred and given
SELECT series, step, time FROM seqmodel.forecast_query_timestamp('lstm_l1_uni_head',
         'SELECT s, ts AT TIME ZONE ''UTC'', v FROM readings WHERE s < 3 ORDER BY s, ts', 2)
 ORDER BY series, step;
SELECT step, time FROM seqmodel.forecast_query_timestamp('lstm_l1_uni_head',
         'SELECT 1, t, 0.5 FROM generate_series(''2024-12-31 23:15''::timestamp, ''2024-12-31 23:45'', ''15 minutes'') t ORDER BY t', 3);
SELECT step, time FROM seqmodel.forecast_query_timestamp('lstm_l1_uni_head',
         'SELECT 1, ''2024-12-31 23:45''::timestamp, 0.5', 3, freq => '15 minutes');
-- month ends: anchored at the first time, so a month end stays a month end
SELECT step, time FROM seqmodel.forecast_query_timestamp('lstm_l1_uni_head',
         'SELECT 1, t, 0.5 FROM unnest(''{2024-01-31 08:00, 2024-02-29 08:00, 2024-03-31 08:00, 2024-04-30 08:00}''::timestamp[]) t', 4);
SELECT count(*) AS rows, bool_and(t.value = p.value) AS same_values
  FROM seqmodel.forecast_query_timestamp('gru_gaussian', 'SELECT s, ts AT TIME ZONE ''UTC'', v FROM readings ORDER BY s, ts', 3, seed => 5) t
  JOIN seqmodel.forecast_query('gru_gaussian', 'SELECT s, v FROM readings ORDER BY s, ts', 3, seed => 5) p
    ON p.series = t.series AND p.step = t.step AND p.feature = t.feature AND p.quantile IS NOT DISTINCT FROM t.quantile;

-- date: monthly (month ends, and the 30th), quarterly, yearly, weekly, daily; inferred
SELECT step, time FROM seqmodel.forecast_query_date('lstm_l1_uni_head',
         'SELECT 1, d, 0.5 FROM unnest(''{2023-11-30, 2023-12-31, 2024-01-31, 2024-02-29}''::date[]) d', 4);
SELECT step, time FROM seqmodel.forecast_query_date('lstm_l1_uni_head',
         'SELECT 1, d, 0.5 FROM unnest(''{2023-11-30, 2023-12-30, 2024-01-30, 2024-02-29}''::date[]) d', 4);
SELECT series, step, time FROM seqmodel.forecast_query_date('lstm_l1_uni_head',
         'SELECT k, d::date, 0.5 FROM (VALUES (''quarterly'', interval ''3 months''), (''yearly'', ''1 year''),
                                             (''weekly'', ''7 days''), (''daily'', ''1 day'')) f(k, i),
                 generate_series(''2023-01-01''::timestamp, ''2023-01-01''::timestamp + 3 * i, i) d ORDER BY k, d', 2)
 ORDER BY series, step;
-- given: '1 month' (anchored, and month ends), '1 year' and '2 weeks' for a one-row series
SELECT step, time FROM seqmodel.forecast_query_date('lstm_l1_uni_head',
         'SELECT 1, (''2024-01-31''::date + g * interval ''1 month'')::date, 0.5 FROM generate_series(0, 2) g ORDER BY g', 2, '1 month');
SELECT step, time FROM seqmodel.forecast_query_date('lstm_l1_uni_head',
         'SELECT 1, d, 0.5 FROM unnest(''{2024-04-30, 2024-05-31}''::date[]) d', 2, '1 month');
SELECT step, time FROM seqmodel.forecast_query_date('lstm_l1_uni_head',
         'SELECT 1, ''2024-04-30''::date, 0.5', 2, '1 month');
SELECT step, time FROM seqmodel.forecast_query_date('lstm_l1_uni_head',
         'SELECT 1, ''2024-02-29''::date, 0.5', 2, '1 year');
SELECT step, time FROM seqmodel.forecast_query_date('lstm_l1_uni_head',
         'SELECT 1, ''2024-02-29''::date, 0.5', 2, '2 weeks');
SELECT count(*) AS rows, bool_and(t.value = p.value) AS same_values
  FROM seqmodel.forecast_query_date('lstm_l1_uni_head', 'SELECT s, (date ''2020-01-31'' + g * interval ''1 month'')::date, v FROM readings ORDER BY s, ts', 3) t
  JOIN seqmodel.forecast_query('lstm_l1_uni_head', 'SELECT s, v FROM readings ORDER BY s, ts', 3) p
    ON p.series = t.series AND p.step = t.step AND p.feature = t.feature AND p.quantile IS NOT DISTINCT FROM t.quantile;

-- integers: bigint, integer and smallint columns, inferred and given
SELECT series, step, time FROM seqmodel.forecast_query_bigint('lstm_l1_uni_head',
         'SELECT s, 100 + 5 * g, v FROM readings ORDER BY s, g', 2)
 ORDER BY series, step;
SELECT step, time FROM seqmodel.forecast_query_bigint('lstm_l1_uni_head',
         'SELECT 1, g::smallint, 0.5 FROM generate_series(-3, 0) g ORDER BY g', 2);
SELECT step, time FROM seqmodel.forecast_query_bigint('lstm_l1_uni_head',
         'SELECT 1, 7::bigint, 0.5', 2, freq => 10);
SELECT count(*) AS rows, bool_and(t.value = p.value) AS same_values
  FROM seqmodel.forecast_query_bigint('lstm_l1_uni_head', 'SELECT s, g, v FROM readings ORDER BY s, g', 3) t
  JOIN seqmodel.forecast_query('lstm_l1_uni_head', 'SELECT s, v FROM readings ORDER BY s, g', 3) p
    ON p.series = t.series AND p.step = t.step AND p.feature = t.feature AND p.quantile IS NOT DISTINCT FROM t.quantile;

-- multi-feature rows: the time is repeated for each feature
SELECT step, feature, time FROM seqmodel.forecast_query_bigint('lstm_multi',
         'SELECT 1, g, ARRAY[sin(g), cos(g), g / 50.0]::real[] FROM generate_series(1, 20) g ORDER BY g', 2)
 ORDER BY step, feature;
SELECT count(*) AS rows, bool_and(t.value = p.value) AS same_values
  FROM seqmodel.forecast_query_bigint('lstm_multi', 'SELECT g % 3, g, ARRAY[sin(g), cos(g), g / 50.0]::real[] FROM generate_series(1, 60) g ORDER BY g % 3, g', 4) t
  JOIN seqmodel.forecast_query('lstm_multi', 'SELECT g % 3, ARRAY[sin(g), cos(g), g / 50.0]::real[] FROM generate_series(1, 60) g ORDER BY g % 3, g', 4) p
    ON p.series = t.series AND p.step = t.step AND p.feature = t.feature AND p.quantile IS NOT DISTINCT FROM t.quantile;

-- more series than one batch (1024): each keeps its own times
SELECT count(*) AS rows, count(DISTINCT series) AS series,
       bool_and(time = (series::int + 3 + step) * 10) AS own_times
  FROM seqmodel.forecast_query_bigint('lstm_l1_uni_head',
         'SELECT s, (s + g) * 10, 0.5 FROM generate_series(1, 1500) s, generate_series(1, 3) g ORDER BY s, g', 2);

-- forecast_table with the history's times: one overload per time type
SELECT step, time FROM seqmodel.forecast_table('lstm_l1_uni_head', '{0.1,0.2,0.3}',
         '{2024-03-30 01:00+01, 2024-03-30 02:00+01, 2024-03-30 03:00+01}'::timestamptz[], 2);
SELECT step, time FROM seqmodel.forecast_table('lstm_l1_uni_head', '{0.1,0.2,0.3}',
         '{2024-01-31, 2024-02-29, 2024-03-31}'::timestamp[], 2);
SELECT step, time FROM seqmodel.forecast_table('lstm_l1_uni_head', '{0.1,0.2,0.3}',
         '{2024-01-31, 2024-02-29, 2024-03-31}'::date[], 2);
SELECT step, time FROM seqmodel.forecast_table('lstm_l1_uni_head', '{0.1,0.2,0.3}', ARRAY[3, 6, 9], 2);
SELECT step, time FROM seqmodel.forecast_table('lstm_l1_uni_head', '{0.5}', ARRAY['2024-01-01'::date], 2, freq => '1 day');
SELECT step, time, quantile FROM seqmodel.forecast_table('lstm_quantile', '{0.1,0.2,0.3}', ARRAY[1, 2, 3]::bigint[], 1)
 ORDER BY step, quantile NULLS FIRST;
-- its values are forecast_table's
SELECT (SELECT array_agg(value ORDER BY step, quantile NULLS FIRST)
          FROM seqmodel.forecast_table('gru_gaussian', '{0.1,0.2,0.3}', ARRAY[1, 2, 3], 3, NULL, '{0.1,0.9}', 50, 7))
     = (SELECT array_agg(value ORDER BY step, quantile NULLS FIRST)
          FROM seqmodel.forecast_table('gru_gaussian', '{0.1,0.2,0.3}', 3, '{0.1,0.9}', 50, 7)) AS same_values;
SELECT (SELECT array_agg(value ORDER BY step, feature)
          FROM seqmodel.forecast_table('lstm_multi', '{{1,2,3},{4,5,6}}', '{2024-01-01, 2024-02-01}'::date[], 3))
     = (SELECT array_agg(value ORDER BY step, feature)
          FROM seqmodel.forecast_table('lstm_multi', '{{1,2,3},{4,5,6}}', 3)) AS same_values;
-- the forms without times resolve as before
SELECT count(*) AS rows FROM seqmodel.forecast_table('lstm_l1_uni_head', '{1,2,3}', 2);
SELECT count(*) AS rows FROM seqmodel.forecast_table('lstm_quantile', '{1,2,3}', 2, '{0.1,0.9}');
SELECT count(*) AS rows FROM seqmodel.forecast_query('lstm_quantile', 'SELECT 1, 0.5', 2, '{0.1,0.9}');
-- NULL arguments: no rows; freq NULL: inferred
SELECT count(*) AS no_rows FROM seqmodel.forecast_query_date('lstm_l1_uni_head', NULL, 2);
SELECT count(*) AS no_rows FROM seqmodel.forecast_table('lstm_l1_uni_head', '{1,2}', NULL::date[], 2);
SELECT count(*) AS rows FROM seqmodel.forecast_table('lstm_l1_uni_head', '{1,2}', ARRAY[1, 2], 2, NULL);

-- errors
-- an irregular series (inferred): a missing hour
SELECT * FROM seqmodel.forecast_query_timestamptz('lstm_l1_uni_head',
         'SELECT s, ts, v FROM readings WHERE g <> 4 ORDER BY s, ts', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.forecast_query_date('lstm_l1_uni_head',
         'SELECT 1, d, 0.5 FROM unnest(''{2024-01-31, 2024-02-29, 2024-03-30}''::date[]) d', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.forecast_query_bigint('lstm_l1_uni_head', 'SELECT 1, g * g, 0.5 FROM generate_series(1, 4) g', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.forecast_table('lstm_l1_uni_head', '{1,2,3}', ARRAY[1, 2, 4], 2);
\echo :LAST_ERROR_SQLSTATE
-- a given freq the history does not follow
SELECT * FROM seqmodel.forecast_query_timestamptz('lstm_l1_uni_head',
         'SELECT s, ts, v FROM readings ORDER BY s, ts', 2, '30 minutes');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.forecast_query_date('lstm_l1_uni_head',
         'SELECT 1, d::date, 0.5 FROM generate_series(''2024-01-01''::timestamp, ''2024-03-01'', ''1 month'') d', 2, '31 days');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.forecast_query_date('lstm_l1_uni_head',
         'SELECT 1, d, 0.5 FROM unnest(''{2024-02-29, 2024-03-30}''::date[]) d', 2, '1 month');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.forecast_query_bigint('lstm_l1_uni_head', 'SELECT 1, g, 0.5 FROM generate_series(1, 4) g', 2, 2);
\echo :LAST_ERROR_SQLSTATE
-- out of order, and a time twice
SELECT * FROM seqmodel.forecast_query_timestamp('lstm_l1_uni_head',
         'SELECT s, ts AT TIME ZONE ''UTC'', v FROM readings ORDER BY s, ts DESC', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.forecast_query_date('lstm_l1_uni_head',
         'SELECT 1, d, 0.5 FROM unnest(''{2024-01-01, 2024-01-02, 2024-01-02}''::date[]) d', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.forecast_table('lstm_l1_uni_head', '{1,2,3}', ARRAY[1, 3, 2], 2);
\echo :LAST_ERROR_SQLSTATE
-- one row and no freq
SELECT * FROM seqmodel.forecast_query_bigint('lstm_l1_uni_head', 'SELECT ''x'', 1, 0.5', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.forecast_table('lstm_l1_uni_head', '{0.5}', ARRAY['2024-01-01'::date], 2);
\echo :LAST_ERROR_SQLSTATE
-- NULL and infinite times
SELECT * FROM seqmodel.forecast_query_date('lstm_l1_uni_head',
         'SELECT 1, d, 0.5 FROM unnest(''{2024-01-01, NULL, 2024-01-03}''::date[]) d', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.forecast_query_timestamptz('lstm_l1_uni_head',
         'SELECT 1, t, 0.5 FROM unnest(''{2024-01-01, infinity}''::timestamptz[]) t', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.forecast_table('lstm_l1_uni_head', '{1,2}', '{2024-01-01, NULL}'::date[], 2);
\echo :LAST_ERROR_SQLSTATE
-- freq that does not step forward, or not in whole days for dates
SELECT * FROM seqmodel.forecast_query_timestamp('lstm_l1_uni_head', 'SELECT 1, now()::timestamp, 0.5', 2, '0 seconds');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.forecast_query_timestamp('lstm_l1_uni_head', 'SELECT 1, now()::timestamp, 0.5', 2, '1 month -1 day');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.forecast_query_date('lstm_l1_uni_head', 'SELECT 1, current_date, 0.5', 2, '12 hours');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.forecast_query_bigint('lstm_l1_uni_head', 'SELECT 1, 1, 0.5', 2, 0);
\echo :LAST_ERROR_SQLSTATE
-- a query of the wrong shape
SELECT * FROM seqmodel.forecast_query_date('lstm_l1_uni_head', 'SELECT 1, 0.5', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.forecast_query_timestamptz('lstm_l1_uni_head', 'SELECT 1, current_date, 0.5', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.forecast_query_bigint('lstm_l1_uni_head', 'SELECT 1, 1.5, 0.5', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.forecast_query_bigint('lstm_l1_uni_head', 'SELECT 1, 1, ''x''::text', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.forecast_query_bigint('lstm_multi', 'SELECT 1, 1, 0.5', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.forecast_query_bigint('lstm_l1_uni_head', 'SELECT NULL::text, 1, 0.5', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.forecast_query_bigint('lstm_l1_uni_head', 'SELECT s, 1, 0.5 FROM (VALUES (1), (2), (1)) v(s)', 2, freq => 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.forecast_query_bigint('lstm_l1_uni_head', 'CREATE TEMP TABLE nope (a int)', 2);
\echo :LAST_ERROR_SQLSTATE
-- times that do not fit the history
SELECT * FROM seqmodel.forecast_table('lstm_l1_uni_head', '{1,2,3}', ARRAY[1, 2], 2);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.forecast_table('lstm_l1_uni_head', '{1,2}', ARRAY[[1, 2]], 2);
\echo :LAST_ERROR_SQLSTATE
-- an untyped array literal of times matches every overload: cast it
SELECT * FROM seqmodel.forecast_table('lstm_l1_uni_head', '{1,2}', '{2024-01-01, 2024-01-02}', 2);
\echo :LAST_ERROR_SQLSTATE
-- times ahead out of the type's range
SELECT * FROM seqmodel.forecast_query_bigint('lstm_l1_uni_head',
         'SELECT 1, 9223372036854775800 + g, 0.5 FROM generate_series(-1, 0) g', 10);
\echo :LAST_ERROR_SQLSTATE

DROP TABLE readings;
RESET TimeZone;
RESET DateStyle;
RESET IntervalStyle;
