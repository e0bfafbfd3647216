-- seq2seq: arch rnn_seq2seq (the RNN encoder-decoder of PyTorch's
-- translation tutorial) against PyTorch (test/fixtures/gen_seq2seq_fixtures.py):
-- translate_ids (greedy and beam search) gives torch's token ids exactly,
-- seq2seq_logprob_ids its teacher-forced log-likelihood within 1e-5; then
-- every error, with its SQLSTATE.
\getenv abs_srcdir PG_ABS_SRCDIR
\set s2sdir :abs_srcdir '/test/fixtures/seq2seq/'
\set f :s2sdir 'seq2seq_models.sql'
\i :f
\set f :s2sdir 'seq2seq_io.sql'
\i :f

SELECT count(*) AS models, sum(seqmodel.import_safetensors(model, arch, config, pg_read_binary_file(:'s2sdir' || file))) > 0 AS imported
  FROM fixture_s2s_models;
SELECT name, arch FROM seqmodel.models WHERE arch = 'rnn_seq2seq' ORDER BY name;

-- log-likelihoods of the targets given the sources
SELECT id, model, abs(seqmodel.seq2seq_logprob_ids(model, source, target) - expected) <= 1e-5 * abs(expected) AS matches_pytorch
  FROM fixture_s2s_io WHERE fn = 'logprob' ORDER BY id;

-- greedy and beam search outputs
SELECT id, model, fn, options, seqmodel.translate_ids(model, source, options) = expected_ids AS matches_pytorch
  FROM fixture_s2s_io WHERE fn IN ('greedy', 'beam') ORDER BY id;

-- num_beams 1 is greedy; the default options are greedy with max_new_tokens = max_length
SELECT bool_and(seqmodel.translate_ids(model, source) = seqmodel.translate_ids(model, source, '{"num_beams": 1}')) AS default_is_greedy,
       bool_and(seqmodel.translate_ids(model, source) = expected_ids) AS default_matches
  FROM fixture_s2s_io WHERE fn = 'greedy' AND options = '{}';
-- max_new_tokens caps the output
SELECT bool_and(coalesce(array_length(seqmodel.translate_ids(model, source, '{"num_beams": 3, "max_new_tokens": 2}'), 1), 0) <= 2) AS capped
  FROM fixture_s2s_io WHERE fn = 'beam';

-- errors
\set VERBOSITY default
SELECT seqmodel.translate_ids('s2s_gru_additive', '{}');                        -- empty source
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.translate_ids('s2s_gru_additive', '{1, 20, 2}');                -- past source_vocab_size
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.translate_ids('s2s_gru_additive', '{-1}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.translate_ids('s2s_gru_additive', '{1, NULL}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.translate_ids('s2s_gru_additive', '{{1, 2}, {3, 4}}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.translate_ids('s2s_gru_additive', '{1, 2}', '{"num_beams": 0}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.translate_ids('s2s_gru_additive', '{1, 2}', '{"num_beams": 65}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.translate_ids('s2s_gru_additive', '{1, 2}', '{"num_beams": 2.5}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.translate_ids('s2s_gru_additive', '{1, 2}', '{"max_new_tokens": 0}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.translate_ids('s2s_gru_additive', '{1, 2}', '{"max_new_tokens": 100000}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.translate_ids('s2s_gru_additive', '{1, 2}', '{"no_repeat_ngram_size": -1}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.translate_ids('s2s_gru_additive', '{1, 2}', '{"length_penalty": "long"}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.translate_ids('s2s_gru_additive', '{1, 2}', '{"early_stopping": 1}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.translate_ids('s2s_gru_additive', '{1, 2}', '{"beams": 4}');     -- unknown option
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.translate_ids('s2s_gru_additive', '{1, 2}', '[4]');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.translate_ids('linear', '{1, 2}');                               -- not an encoder-decoder
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.translate_ids('no_such_model', '{1, 2}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.seq2seq_logprob_ids('s2s_gru_additive', '{1, 2}', '{}');          -- empty target
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.seq2seq_logprob_ids('s2s_gru_additive', '{1, 2}', '{1, 24}');     -- past target_vocab_size
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.seq2seq_logprob_ids('s2s_gru_additive', '{}', '{1}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.seq2seq_logprob_ids('linear', '{1}', '{1}');
\echo :LAST_ERROR_SQLSTATE
-- import checks the config and every tensor against it
SELECT seqmodel.import_safetensors('s2s_bad', 'rnn_seq2seq', '{"source_vocab_size": 20, "target_vocab_size": 24, "hidden_size": 16, "attention": "dot"}',
                                   pg_read_binary_file(:'s2sdir' || 's2s_gru_additive.safetensors'));
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('s2s_bad', 'rnn_seq2seq', '{"source_vocab_size": 20, "target_vocab_size": 24, "hidden_size": 16, "attention": "luong"}',
                                   pg_read_binary_file(:'s2sdir' || 's2s_gru_additive.safetensors'));
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY terse

SELECT seqmodel.drop_model(name) FROM seqmodel.models WHERE arch = 'rnn_seq2seq' ORDER BY name;
DROP TABLE fixture_s2s_models, fixture_s2s_io;
