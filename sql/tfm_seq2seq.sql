-- tfm_seq2seq: arch transformer_seq2seq (torch.nn.Transformer in the PyTorch
-- translation tutorial's Seq2SeqTransformer) against PyTorch
-- (test/fixtures/gen_tfm_seq2seq_fixtures.py): translate_ids (greedy and beam
-- search) gives torch's token ids exactly, seq2seq_logprob_ids its
-- teacher-forced log-likelihood within 1e-5; post-norm, pre-norm with gelu
-- and computed positions, a shared embedding with a tied generator; then the
-- errors of this arch, with their SQLSTATEs; then Hugging Face's Marian and
-- BART the same way.
\getenv abs_srcdir PG_ABS_SRCDIR
\set s2sdir :abs_srcdir '/test/fixtures/seq2seq/'
\set f :s2sdir 'tfm_seq2seq_models.sql'
\i :f
\set f :s2sdir 'tfm_seq2seq_io.sql'
\i :f

SELECT count(*) AS models, sum(seqmodel.import_safetensors(model, arch, config, pg_read_binary_file(:'s2sdir' || file))) > 0 AS imported
  FROM fixture_ts_models;
SELECT name, arch, parameters FROM seqmodel.models WHERE arch = 'transformer_seq2seq' ORDER BY name;

-- log-likelihoods of the targets given the sources
SELECT id, model, abs(seqmodel.seq2seq_logprob_ids(model, source, target) - expected) <= 1e-5 * abs(expected) AS matches_pytorch
  FROM fixture_ts_io WHERE fn = 'logprob' ORDER BY id;

-- greedy and beam search outputs
SELECT id, model, fn, options, seqmodel.translate_ids(model, source, options) = expected_ids AS matches_pytorch
  FROM fixture_ts_io WHERE fn IN ('greedy', 'beam') ORDER BY id;

-- the default options are greedy with the config's max_new_tokens
SELECT bool_and(seqmodel.translate_ids(model, source) = expected_ids) AS default_matches
  FROM fixture_ts_io WHERE fn = 'greedy' AND options = '{}';
-- every row of a table in one statement, in parallel-safe calls
SELECT count(*) FILTER (WHERE seqmodel.translate_ids(model, source, options) = expected_ids) AS equal, count(*) AS cases
  FROM fixture_ts_io WHERE fn = 'beam';

-- sampling: the same seed gives the same tokens, another seed others (for some of 20 sources)
SELECT bool_and(seqmodel.translate_ids(model, source, '{"temperature": 1.5, "seed": 11}') =
                seqmodel.translate_ids(model, source, '{"temperature": 1.5, "seed": 11}')) AS reproducible,
       bool_or(seqmodel.translate_ids(model, source, '{"temperature": 1.5, "seed": 11}') <>
               seqmodel.translate_ids(model, source, '{"temperature": 1.5, "seed": 12}')) AS seeds_differ,
       bool_and(seqmodel.translate_ids(model, source, '{"temperature": 0.0001, "top_k": 3}') =
                seqmodel.translate_ids(model, source)) AS cold_is_greedy
  FROM fixture_ts_io WHERE fn IN ('greedy', 'beam');

-- errors
\set VERBOSITY default
SELECT seqmodel.translate_ids('ts_post', '{1, 2}', '{"temperature": 1, "num_beams": 2}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.translate_ids('ts_post', '{1, 2}', '{"temperature": -0.5}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.translate_ids('ts_post', '{1, 2}', '{"top_k": -1}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.translate_ids('ts_post', '{1, 2}', '{"seed": "x"}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.translate_ids('ts_post', '{}');                                   -- empty source
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.translate_ids('ts_post', '{1, 23}');                              -- past src_vocab_size
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.translate_ids('ts_post', array_fill(1, ARRAY[41]));               -- longer than max_len 40
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.translate_ids('ts_post', '{1, 2}', '{"max_new_tokens": 41}');     -- past the target positions
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.seq2seq_logprob_ids('ts_post', '{1, 2}', '{1, 19}');              -- past tgt_vocab_size
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.seq2seq_logprob_ids('ts_post', '{1, 2}', array_fill(1, ARRAY[41]));
\echo :LAST_ERROR_SQLSTATE
-- import checks the config and every tensor against it
SELECT seqmodel.import_safetensors('ts_bad', 'transformer_seq2seq', '{"src_vocab_size": 23, "tgt_vocab_size": 19, "d_model": 16, "nhead": 3, "bos_token_id": 1}',
                                   pg_read_binary_file(:'s2sdir' || 'ts_post.safetensors'));
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('ts_bad', 'transformer_seq2seq', '{"src_vocab_size": 23, "tgt_vocab_size": 19, "d_model": 16, "nhead": 2}',
                                   pg_read_binary_file(:'s2sdir' || 'ts_post.safetensors'));
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('ts_bad', 'transformer_seq2seq', '{"src_vocab_size": 23, "tgt_vocab_size": 19, "d_model": 16, "nhead": 2, "bos_token_id": 1, "num_encoder_layers": 3, "num_decoder_layers": 2, "dim_feedforward": 32, "max_len": 40}',
                                   pg_read_binary_file(:'s2sdir' || 'ts_post.safetensors'));
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('ts_bad', 'transformer_seq2seq', '{"src_vocab_size": 23, "tgt_vocab_size": 19, "d_model": 16, "nhead": 2, "bos_token_id": 1, "num_encoder_layers": 2, "num_decoder_layers": 2, "dim_feedforward": 32, "max_len": 41}',
                                   pg_read_binary_file(:'s2sdir' || 'ts_post.safetensors'));
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY terse

-- Hugging Face Marian and BART (test/fixtures/gen_hf_seq2seq_fixtures.py:
-- the models written from transformers' equations, config.json as saved,
-- names with the "model." prefix): tied and separate vocabularies, Marian's
-- sinusoidal positions stored and computed, BART's learned positions with
-- their offset, bad_words_ids, forced_bos_token_id, forced_eos_token_id
\set f :s2sdir 'hf_seq2seq_models.sql'
\i :f
\set f :s2sdir 'hf_seq2seq_io.sql'
\i :f
SELECT count(*) AS models, sum(seqmodel.import_safetensors(model, arch, config, pg_read_binary_file(:'s2sdir' || file))) > 0 AS imported
  FROM fixture_hf_models;
SELECT name, arch, parameters FROM seqmodel.models WHERE arch IN ('marian', 'bart') ORDER BY name;
SELECT model, count(*) AS cases,
       count(*) FILTER (WHERE abs(seqmodel.seq2seq_logprob_ids(model, source, target) - expected) <= 1e-5 * abs(expected)) AS logprob_equal
  FROM fixture_hf_io WHERE fn = 'logprob' GROUP BY model ORDER BY model;
SELECT model, fn, count(*) AS cases,
       count(*) FILTER (WHERE seqmodel.translate_ids(model, source, options) = expected_ids) AS equal_to_pytorch
  FROM fixture_hf_io WHERE fn IN ('greedy', 'beam') GROUP BY model, fn ORDER BY model, fn;
-- BART's forced_bos_token_id: every output starts with bos 0
SELECT bool_and((seqmodel.translate_ids('hf_bart', source, options))[1] = 0) AS starts_with_bos
  FROM fixture_hf_io WHERE model = 'hf_bart' AND fn IN ('greedy', 'beam');
-- Marian's bad_words_ids [[pad]]: pad is never generated
SELECT bool_and(NOT 28 = ANY (seqmodel.translate_ids('hf_marian', source, options))) AS no_pad
  FROM fixture_hf_io WHERE model = 'hf_marian' AND fn IN ('greedy', 'beam');
\set VERBOSITY default
SELECT seqmodel.import_safetensors('hf_bad', 'bart', '{"model_type": "marian", "vocab_size": 31, "d_model": 16}',
                                   pg_read_binary_file(:'s2sdir' || 'hf_bart.safetensors'));
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('hf_bad', 'bart', '{"vocab_size": 31, "d_model": 16, "normalize_before": true}',
                                   pg_read_binary_file(:'s2sdir' || 'hf_bart.safetensors'));
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('hf_bad', 'marian', config, pg_read_binary_file(:'s2sdir' || 'hf_bart.safetensors'))
  FROM fixture_hf_models WHERE model = 'hf_marian';
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('hf_bad', 'marian', config || '{"bad_words_ids": [[28, 27]]}', pg_read_binary_file(:'s2sdir' || file))
  FROM fixture_hf_models WHERE model = 'hf_marian';
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.translate_ids('hf_marian', '{1, 2}', '{"max_new_tokens": 49}');   -- past max_position_embeddings 48
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY terse

SELECT seqmodel.drop_model(name) FROM seqmodel.models WHERE arch IN ('transformer_seq2seq', 'marian', 'bart') ORDER BY name;
DROP TABLE fixture_ts_models, fixture_ts_io, fixture_hf_models, fixture_hf_io;
