-- forecast_errors: every error of the recurrent SQL, with its SQLSTATE.
\getenv abs_srcdir PG_ABS_SRCDIR
\set rnndir :abs_srcdir '/test/fixtures/rnn/'

-- wrong arch for the function, and predict of a recurrent model on bad input
SELECT seqmodel.predict_steps('linear', '{1,2,3,4,5}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.forecast('linear', '{1,2,3,4,5}', 3);
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.predict('lstm_multi', '{1,2,3}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.predict('lstm_multi', '{{1,2},{3,4}}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.predict('lstm_l1_uni_head', '{{1,2},{3,4}}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.predict('lstm_l1_uni_head', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.forecast('lstm_l1_uni_head', '{1,NULL,3}', 3);
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.forecast('lstm_l1_uni_head', '{1,2,NaN}', 3);
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.forecast('lstm_l1_uni_head', '{1,2,Infinity}', 3);
\echo :LAST_ERROR_SQLSTATE

-- horizon
SELECT seqmodel.forecast('lstm_l1_uni_head', '{1,2,3}', 0);
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.forecast('lstm_l1_uni_head', '{1,2,3}', -5);
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.forecast('lstm_l1_uni_head', '{1,2,3}', 10001);
\echo :LAST_ERROR_SQLSTATE
SET seqmodel.max_horizon = 5;
SELECT seqmodel.forecast('lstm_l1_uni_head', '{1,2,3}', 6);
\echo :LAST_ERROR_SQLSTATE
RESET seqmodel.max_horizon;
SELECT seqmodel.forecast('lstm_direct', '{1,2,3}', 13);
\echo :LAST_ERROR_SQLSTATE

-- models that cannot forecast
SELECT seqmodel.forecast('lstm_l1_uni', '{1,2,3}', 2);
\echo :LAST_ERROR_SQLSTATE

-- a series shorter than the model needs (config min_history)
SELECT seqmodel.import_safetensors('needs10', arch, config || '{"min_history": 10}', pg_read_binary_file(:'rnndir' || file))
  FROM fixture_rnn_models WHERE model = 'lstm_l1_uni_head';
SELECT seqmodel.forecast('needs10', '{1,2,3}', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.forecast_query('needs10', 'SELECT s, g::real FROM generate_series(1, 2) s, generate_series(1, 12 - 5 * s) g ORDER BY s, g', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.forecast_agg('needs10', v, 2 ORDER BY v) FROM generate_series(1, 4) v;
\echo :LAST_ERROR_SQLSTATE

-- NULL and non-finite values in the aggregate and the query, by position
SELECT seqmodel.forecast_agg('lstm_l1_uni_head', v, 2 ORDER BY g)
  FROM (SELECT g, CASE WHEN g = 4 THEN NULL ELSE g END::real AS v FROM generate_series(1, 6) g) s;
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.forecast_agg('lstm_l1_uni_head', v, 2 ORDER BY g)
  FROM (SELECT g, CASE WHEN g = 3 THEN 'NaN'::real ELSE g::real END AS v FROM generate_series(1, 6) g) s;
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.forecast_agg('lstm_multi', ARRAY[1, 2]::real[], 2) FROM generate_series(1, 3);
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.forecast_agg('lstm_multi', 1::real, 2) FROM generate_series(1, 3);
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.forecast_agg('lstm_l1_uni_head', 1::real, 0) FROM generate_series(1, 3);
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.forecast_agg('lstm_l1_uni_head', 1::real, 2) WHERE false;
SELECT * FROM seqmodel.forecast_query('lstm_l1_uni_head', 'SELECT 1, CASE WHEN s.g = 5 THEN NULL ELSE s.g END::real FROM generate_series(1, 9) AS s(g) ORDER BY s.g', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.forecast_query('lstm_l1_uni_head', 'SELECT NULL::text, 1.0', 2);
\echo :LAST_ERROR_SQLSTATE

-- a query of the wrong shape
SELECT * FROM seqmodel.forecast_query('lstm_l1_uni_head', 'SELECT 1, 2, 3', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.forecast_query('lstm_l1_uni_head', 'SELECT 1, ''x''::text', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.forecast_query('lstm_l1_uni_head', 'SELECT 1, ARRAY[1.0]::real[]', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.forecast_query('lstm_multi', 'SELECT 1, 1.0', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.forecast_query('lstm_multi', 'SELECT 1, ARRAY[1, 2]::real[]', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.forecast_query('lstm_l1_uni_head', 'SELECT s, 1.0 FROM (VALUES (1), (2), (1)) v(s)', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.forecast_query('lstm_l1_uni_head', 'CREATE TEMP TABLE nope (a int)', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.forecast_query('lstm_l1_uni_head', 'SELEC 1', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS no_rows FROM seqmodel.forecast_query('lstm_l1_uni_head', 'SELECT 1, 1.0 WHERE false', 2);
-- NULL arguments: no rows (NULL quantiles are the default, so these are not STRICT)
SELECT count(*) AS no_rows FROM seqmodel.forecast_query('lstm_l1_uni_head', NULL, 2);
SELECT count(*) AS no_rows FROM seqmodel.forecast_table('lstm_l1_uni_head', NULL, 2);
SELECT count(*) AS no_rows FROM seqmodel.forecast_table(NULL, '{1,2}', 2);

-- quantile options
SELECT * FROM seqmodel.forecast_table('lstm_l1_uni_head', '{1,2,3}', 2, '{0.5}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.forecast_table('lstm_quantile', '{1,2,3}', 2, '{0.25}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.forecast_table('lstm_quantile', '{1,2,3}', 2, '{1.5}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.forecast_table('gru_gaussian', '{1,2,3}', 2, '{0.5}', samples => 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.forecast_table('gru_gaussian', '{1,2,3}', 2, '{0.5}', samples => -1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.forecast_table('gru_gaussian', '{1,2,3}', 2, '{{0.5}}');
\echo :LAST_ERROR_SQLSTATE

-- config errors at import
SELECT seqmodel.import_safetensors('bad', arch, config || '{"proj_size": 2}', pg_read_binary_file(:'rnndir' || file))
  FROM fixture_rnn_models WHERE model = 'gru_l1_uni_head';
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('bad', arch, config || '{"hidden_size": 6}', pg_read_binary_file(:'rnndir' || file))
  FROM fixture_rnn_models WHERE model = 'gru_l1_uni_head';
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('bad', arch, config || '{"num_layers": 2}', pg_read_binary_file(:'rnndir' || file))
  FROM fixture_rnn_models WHERE model = 'gru_l1_uni_head';
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('bad', arch, config || '{"bidirectional": true}', pg_read_binary_file(:'rnndir' || file))
  FROM fixture_rnn_models WHERE model = 'gru_l1_uni_head';
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('bad', arch, config || '{"rnn_prefix": "rnn."}', pg_read_binary_file(:'rnndir' || file))
  FROM fixture_rnn_models WHERE model = 'gru_l1_uni_head';
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('bad', 'lstm', config, pg_read_binary_file(:'rnndir' || file))
  FROM fixture_rnn_models WHERE model = 'gru_l1_uni_head';
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('bad', arch, config || '{"input_std": 0}', pg_read_binary_file(:'rnndir' || file))
  FROM fixture_rnn_models WHERE model = 'gru_l1_uni_head';
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('bad', arch, config || '{"quantiles": [0.9, 0.1]}', pg_read_binary_file(:'rnndir' || file))
  FROM fixture_rnn_models WHERE model = 'gru_l1_uni_head';
\echo :LAST_ERROR_SQLSTATE
-- sort_quantiles needs a quantile head, and is a boolean
SELECT seqmodel.import_safetensors('bad', arch, config || '{"sort_quantiles": true}', pg_read_binary_file(:'rnndir' || file))
  FROM fixture_rnn_models WHERE model = 'gru_l1_uni_head';
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('bad', arch, config || '{"sort_quantiles": "yes"}', pg_read_binary_file(:'rnndir' || file))
  FROM fixture_rnn_models WHERE model = 'gru_l1_uni_head';
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.drop_model('needs10');
