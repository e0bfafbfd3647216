-- tfm: archs transformer, gpt2 and bert against PyTorch
-- (test/fixtures/gen_tfm_fixtures.py): forward, logprob_ids, predict and
-- predict_steps on every fixture case, within 1e-5 normwise; padded
-- batches in torch (src_key_padding_mask) against one sequence here.
\getenv abs_srcdir PG_ABS_SRCDIR
\set tfmdir :abs_srcdir '/test/fixtures/tfm/'
\set f :tfmdir 'tfm_models.sql'
\i :f
\set f :tfmdir 'tfm_io.sql'
\i :f

SELECT count(*) AS models, sum(seqmodel.import_safetensors(model, arch, config, pg_read_binary_file(:'tfmdir' || file))) > 0 AS imported
  FROM fixture_tfm_models;
SELECT arch, count(*) AS models FROM seqmodel.models WHERE arch IN ('transformer', 'gpt2', 'bert') GROUP BY arch ORDER BY arch;

-- every case: the function's output has PyTorch's shape and values
SELECT id, model, fn, coalesce(array_length(ids, 1), array_length(input, 1)) AS len,
       max_rel_err(CASE fn WHEN 'forward' THEN seqmodel.forward(model, ids)
                           WHEN 'logprob_ids' THEN ARRAY[seqmodel.logprob_ids(model, ids)]::real[]
                           WHEN 'predict' THEN seqmodel.predict(model, input)
                           WHEN 'predict_steps' THEN seqmodel.predict_steps(model, input) END,
                   expected) < 1e-5 AS matches_pytorch
  FROM fixture_tfm_io ORDER BY id;

-- logprob_ids in double precision: the sum agrees closely, not just normwise
SELECT id, model, abs(seqmodel.logprob_ids(model, ids) - expected[1]) < 1e-4 * greatest(1, abs(expected[1])) AS close
  FROM fixture_tfm_io WHERE fn = 'logprob_ids' ORDER BY id;

-- a numeric transformer forecasts like an LSTM: each recursive step is
-- predict over the history with the earlier steps appended
WITH h AS (SELECT input FROM fixture_tfm_io WHERE model = 'tfm_num1_scaled' AND fn = 'predict' ORDER BY id LIMIT 1),
     f AS (SELECT seqmodel.forecast('tfm_num1_scaled', input, 3) AS fc, input FROM h)
SELECT array_length(fc, 1) AS steps,
       abs(fc[1] - (seqmodel.predict('tfm_num1_scaled', input))[1]) < 1e-5 * greatest(1, abs(fc[1])) AS step1,
       abs(fc[2] - (seqmodel.predict('tfm_num1_scaled', input || fc[1]))[1]) < 1e-5 * greatest(1, abs(fc[2])) AS step2,
       abs(fc[3] - (seqmodel.predict('tfm_num1_scaled', input || fc[1:2]))[1]) < 1e-5 * greatest(1, abs(fc[3])) AS step3
  FROM f;
-- three features per step
WITH h AS (SELECT input FROM fixture_tfm_io WHERE model = 'tfm_num3' AND fn = 'predict' ORDER BY id LIMIT 1),
     f AS (SELECT seqmodel.forecast('tfm_num3', input, 2) AS fc, input FROM h)
SELECT array_dims(fc) AS dims,
       max_rel_err(seqmodel.predict('tfm_num3', input), (SELECT array_agg(x) FROM unnest(fc[1:1][1:3]) x)) < 1e-5 AS step1,
       max_rel_err(seqmodel.predict('tfm_num3', input || fc[1:1][1:3]), (SELECT array_agg(x) FROM unnest(fc[2:2][1:3]) x)) < 1e-5 AS step2
  FROM f;
-- the batched paths agree with the single-series ones
CREATE TEMP TABLE tfm_series AS
SELECT s::text AS series, t, (sin(t * 0.3 + s) * 5 + 20)::real AS v
  FROM generate_series(1, 4) s, generate_series(1, 6 + 3 * s) t;
SELECT series, max_rel_err(fq, f) < 1e-5 AS query_matches_single,
       max_rel_err(agg, f) < 1e-5 AS agg_matches_single
  FROM (SELECT series, array_agg(value ORDER BY step) AS fq
          FROM seqmodel.forecast_query('tfm_num1_scaled', 'SELECT series, v FROM tfm_series ORDER BY series, t', 4)
         GROUP BY series) q
  JOIN (SELECT series, seqmodel.forecast('tfm_num1_scaled', array_agg(v ORDER BY t), 4)::float8[] AS f,
               seqmodel.forecast_agg('tfm_num1_scaled', v, 4 ORDER BY t) AS agg
          FROM tfm_series GROUP BY series) s USING (series)
 ORDER BY series;

-- errors: each with its SQLSTATE
\set VERBOSITY default
SELECT seqmodel.forward('gpt2_tied', '{1, 96, 2}');                 -- id past the vocabulary
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.forward('gpt2_tied', '{-1}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.logprob_ids('gpt2_tied', array_fill(1, ARRAY[33]));  -- longer than n_positions
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.forward('bert_classifier', '{}');                    -- empty
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.forward('bert_classifier', '{1, NULL, 3}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.forward('bert_classifier', '{{1, 2}, {3, 4}}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.logprob_ids('bert_classifier', '{1, 2}');           -- not a decoder
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.forward('tfm_num3', '{1, 2}');                       -- numeric model
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.predict('gpt2_tied', '{1, 2}');                      -- token model
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.forecast('bert_pooled', '{1, 2}', 3);
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.predict('tfm_num3', array_fill(1::real, ARRAY[33, 3])); -- longer than max_len
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.forward(NULL, '{1}') IS NULL AS strict;

-- import: configs and tensors are checked against the arch
SELECT seqmodel.import_safetensors('bad', 'gpt2', c.config - 'n_head' || '{"n_head": 5}', pg_read_binary_file(:'tfmdir' || c.file))
  FROM fixture_tfm_models c WHERE model = 'gpt2_tied';
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('bad', 'gpt2', c.config || '{"scale_attn_weights": false}', pg_read_binary_file(:'tfmdir' || c.file))
  FROM fixture_tfm_models c WHERE model = 'gpt2_tied';
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('bad', 'gpt2', c.config || '{"activation_function": "swish"}', pg_read_binary_file(:'tfmdir' || c.file))
  FROM fixture_tfm_models c WHERE model = 'gpt2_tied';
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('bad', 'gpt2', c.config || '{"n_embd": 32}', pg_read_binary_file(:'tfmdir' || c.file))
  FROM fixture_tfm_models c WHERE model = 'gpt2_tied';
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('bad', 'gpt2', c.config || '{"n_layer": 3}', pg_read_binary_file(:'tfmdir' || c.file))
  FROM fixture_tfm_models c WHERE model = 'gpt2_tied';
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('bad', 'gpt2', c.config || '{"conv1d": false}', pg_read_binary_file(:'tfmdir' || c.file))
  FROM fixture_tfm_models c WHERE model = 'gpt2_tied';
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('bad', 'bert', c.config || '{"position_embedding_type": "relative_key"}', pg_read_binary_file(:'tfmdir' || c.file))
  FROM fixture_tfm_models c WHERE model = 'bert_classifier';
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('bad', 'bert', c.config || '{"id2label": {"0": "a", "2": "b"}}', pg_read_binary_file(:'tfmdir' || c.file))
  FROM fixture_tfm_models c WHERE model = 'bert_classifier';
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('bad', 'bert', c.config || '{"output": "logits"}', pg_read_binary_file(:'tfmdir' || c.file))
  FROM fixture_tfm_models c WHERE model = 'bert_hidden';
\echo :LAST_ERROR_SQLSTATE
-- rows edited after import are checked when the model loads
SELECT seqmodel.import_safetensors('edited', 'bert', c.config, pg_read_binary_file(:'tfmdir' || c.file)) > 0 AS imported
  FROM fixture_tfm_models c WHERE model = 'bert_classifier';
DELETE FROM seqmodel.tensor WHERE model = 'edited' AND name = 'classifier.bias';
SELECT seqmodel.forward('edited', '{1}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.drop_model('edited');
SELECT seqmodel.import_safetensors('bad', 'transformer', c.config || '{"input_size": 2}', pg_read_binary_file(:'tfmdir' || c.file))
  FROM fixture_tfm_models c WHERE model = 'tfm_post_relu';
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('bad', 'transformer', c.config || '{"nhead": 3}', pg_read_binary_file(:'tfmdir' || c.file))
  FROM fixture_tfm_models c WHERE model = 'tfm_post_relu';
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('bad', 'transformer', c.config || '{"pooling": "max"}', pg_read_binary_file(:'tfmdir' || c.file))
  FROM fixture_tfm_models c WHERE model = 'tfm_post_relu';
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('bad', 'transformer', c.config || '{"final_norm": true}', pg_read_binary_file(:'tfmdir' || c.file))
  FROM fixture_tfm_models c WHERE model = 'tfm_post_relu';
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('bad', 'transformer', c.config || '{"nheads": 2}', pg_read_binary_file(:'tfmdir' || c.file))
  FROM fixture_tfm_models c WHERE model = 'tfm_post_relu';
\echo :LAST_ERROR_SQLSTATE
