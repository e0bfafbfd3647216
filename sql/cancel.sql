-- cancel: statement_timeout (and so Ctrl-C, the same interrupt) stops a long
-- forecast promptly, and the backend stays usable.
-- an LSTM with hidden size 256 (every weight 0.01), built here
SELECT seqmodel.import_safetensors('slow', 'lstm', '{"input_size": 1, "hidden_size": 256, "output_size": 1}',
       make_safetensors('{"head.bias":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"head.weight":{"dtype":"F32","shape":[1,256],"data_offsets":[4,1028]},"lstm.bias_hh_l0":{"dtype":"F32","shape":[1024],"data_offsets":[1028,5124]},"lstm.bias_ih_l0":{"dtype":"F32","shape":[1024],"data_offsets":[5124,9220]},"lstm.weight_hh_l0":{"dtype":"F32","shape":[1024,256],"data_offsets":[9220,1057796]},"lstm.weight_ih_l0":{"dtype":"F32","shape":[1024,1],"data_offsets":[1057796,1061892]}}',
                        decode(repeat(encode(le_f32(0.01), 'hex'), 265473), 'hex')));
SELECT array_length(seqmodel.forecast('slow', '{0.5, 0.25}', 3), 1) AS works;
-- a history of 200000 steps and 10000 more to forecast: many seconds of work
CREATE TEMP TABLE long_history AS SELECT array_fill(0.5::real, ARRAY[200000]) AS h;
SET statement_timeout = '500ms';
-- where the cancel lands (reading forecast_query's rows, or the engine)
-- depends on the machine's speed; only the interruption itself is tested
\set SHOW_CONTEXT never
SELECT seqmodel.forecast('slow', h, 10000) FROM long_history;
\echo :LAST_ERROR_SQLSTATE
-- the same in forecast_query and predict_steps
SELECT count(*) FROM seqmodel.forecast_query('slow', 'SELECT g % 4, 0.5 FROM generate_series(1, 400000) g ORDER BY g % 4, g', 10000);
\echo :LAST_ERROR_SQLSTATE
SELECT array_dims(seqmodel.predict_steps('slow', h)) FROM long_history;
\echo :LAST_ERROR_SQLSTATE
-- a transformer: attention over 40000 positions (no position limit), and a
-- forecast that re-runs its growing window every step
SELECT array_dims(seqmodel.predict_steps('tfm_num1_scaled', array_fill(0.5::real, ARRAY[40000])));
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.forecast('tfm_num1_scaled', array_fill(0.5::real, ARRAY[5000]), 10000);
\echo :LAST_ERROR_SQLSTATE
RESET statement_timeout;
\set SHOW_CONTEXT errors
-- the backend goes on as before
SELECT array_length(seqmodel.forecast('slow', '{0.5, 0.25}', 3), 1) AS still_works;
SELECT array_length(seqmodel.forecast('tfm_num1_scaled', '{0.5, 0.25}', 3), 1) AS still_works;
SELECT seqmodel.drop_model('slow');
