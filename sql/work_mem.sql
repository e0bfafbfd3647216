-- work_mem: a call whose workspace would exceed seqmodel.work_mem fails
-- (54000) before allocating it, saying what it needed; within the limit
-- nothing changes, and the backend goes on.
-- an LSTM (hidden 64, every weight 0.01)
SELECT seqmodel.import_safetensors('wm', 'lstm', '{"input_size": 1, "hidden_size": 64, "output_size": 1}',
       make_safetensors('{"head.bias":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"head.weight":{"dtype":"F32","shape":[1,64],"data_offsets":[4,260]},"lstm.bias_hh_l0":{"dtype":"F32","shape":[256],"data_offsets":[260,1284]},"lstm.bias_ih_l0":{"dtype":"F32","shape":[256],"data_offsets":[1284,2308]},"lstm.weight_hh_l0":{"dtype":"F32","shape":[256,64],"data_offsets":[2308,67844]},"lstm.weight_ih_l0":{"dtype":"F32","shape":[256,1],"data_offsets":[67844,68868]}}',
                        decode(repeat(encode(le_f32(0.01), 'hex'), 17217), 'hex'))) AS parameters;
-- the default (the library is loaded now: the setting exists)
SHOW seqmodel.work_mem;
CREATE FUNCTION work_mem_error(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'ran';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, '[0-9]+ (kB|MB)', 'N \1', 'g');
END $$;
CREATE TEMP TABLE wm_long AS SELECT array_fill(0.5::real, ARRAY[50000]) AS h;
SET seqmodel.work_mem = '1MB';
-- a long sequence, many series at once and a transformer's attention are refused;
-- a long forecast of one series needs little (its states, not its steps) and runs
SELECT work_mem_error('SELECT seqmodel.predict_steps(''wm'', h) FROM wm_long') AS long_sequence;
SELECT work_mem_error('SELECT seqmodel.forecast(''wm'', ''{0.5, 0.25}'', 10000)') AS long_forecast;
SELECT work_mem_error($q$SELECT count(*) FROM seqmodel.forecast_query('wm', 'SELECT g % 5000, 0.5 FROM generate_series(1, 100000) g ORDER BY g % 5000, g', 3)$q$) AS many_series;
SELECT work_mem_error('SELECT seqmodel.predict_steps(''tfm_num1_scaled'', array_fill(0.5::real, ARRAY[3000]))') AS attention;
-- the rows a query gives are buffered within the limit too: one series may
-- take half of it (131072 values at 1MB), so a longer one is refused as it is read
SELECT work_mem_error($q$SELECT count(*) FROM seqmodel.forecast_query('wm', 'SELECT 1, 0.5 FROM generate_series(1, 200000) g', 3)$q$) AS long_series_buffered;
SELECT count(*) FROM seqmodel.backtest('wm', 'SELECT 1, 0.5 FROM generate_series(1, 200000) g', 3);
SELECT work_mem_error($q$SELECT seqmodel.forecast_agg('wm', 0.5, 3 ORDER BY g) FROM generate_series(1, 200000) g$q$) AS long_aggregate;
SELECT seqmodel.state_create('wm_state', 'bigint');
SELECT work_mem_error($q$SELECT * FROM seqmodel.state_update('wm', 'wm_state', 'SELECT 1, g, 0.5 FROM generate_series(1, 200000) g')$q$) AS long_state_update;
-- (short series run under the same limit)
SELECT updated_series, new_rows FROM seqmodel.state_update('wm', 'wm_state', 'SELECT g % 20, g, 0.5 FROM generate_series(1, 100) g ORDER BY 1, 2');
DROP TABLE wm_state;
-- the needed size is in the message, before any allocation: here the exact text
\set VERBOSITY terse
SELECT array_length(seqmodel.predict_steps('wm', h), 1) FROM wm_long;
\set VERBOSITY default
-- small calls run under the same limit
SELECT array_length(seqmodel.forecast('wm', '{0.5, 0.25}', 3), 1) AS small_forecast_runs;
RESET seqmodel.work_mem;
-- with the default limit the same calls run
SELECT work_mem_error('SELECT seqmodel.predict_steps(''wm'', h) FROM wm_long') AS long_sequence_default;
SELECT work_mem_error($q$SELECT count(*) FROM seqmodel.forecast_query('wm', 'SELECT g % 5000, 0.5 FROM generate_series(1, 100000) g ORDER BY g % 5000, g', 3)$q$) AS many_series_default;
SELECT work_mem_error($q$SELECT count(*) FROM seqmodel.forecast_query('wm', 'SELECT 1, 0.5 FROM generate_series(1, 200000) g', 3)$q$) AS long_series_default;
-- errors: below the minimum
SET seqmodel.work_mem = '100kB';
SELECT seqmodel.drop_model('wm');
