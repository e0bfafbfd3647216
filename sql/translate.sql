-- translate: text in, text out, for encoder-decoders (src/pg/translate.c),
-- with the demo's no-attention GRU translator and its SentencePiece
-- tokenizer (test/data/translate_rnn.*, translate_spm.model): translate is
-- translate_ids on the source tokenizer's ids read back by the target
-- tokenizer; logprob(model, source, target) is seq2seq_logprob_ids on both
-- sides' ids; translate_query gives every row what translate gives it,
-- batched; generate on an encoder-decoder translates; then every error.
\getenv abs_srcdir PG_ABS_SRCDIR
\set datadir :abs_srcdir '/test/data/'
SELECT seqmodel.import_safetensors('mt_rnn', 'rnn_seq2seq', pg_read_file(:'datadir' || 'translate_rnn.json')::jsonb,
                                   pg_read_binary_file(:'datadir' || 'translate_rnn.safetensors')) AS parameters;
SELECT seqmodel.import_tokenizer_sentencepiece('mt_rnn', pg_read_binary_file(:'datadir' || 'translate_spm.model')) AS vocabulary;
CREATE TEMP TABLE src (id int, s text);
INSERT INTO src VALUES (1, 'Cannot open file'), (2, 'Print help and exit'), (3, NULL),
  (4, 'The accessible MDI value of this object'), (NULL, 'Warning'), (6, 'unrecognized character after (?P'),
  (7, 'Could not read the file: permission denied'), (8, 'Show version information and exit'), (9, 'Ab'), (10, 'Yes');

SELECT id, s, seqmodel.translate('mt_rnn', s) AS german FROM src WHERE s IS NOT NULL ORDER BY id;
-- the same as the ids through both tokenizers
SELECT bool_and(seqmodel.translate('mt_rnn', s) =
                seqmodel.detokenize_target('mt_rnn', seqmodel.translate_ids('mt_rnn', seqmodel.tokenize('mt_rnn', s)))) AS greedy,
       bool_and(seqmodel.translate('mt_rnn', s, '{"num_beams": 4}') =
                seqmodel.detokenize_target('mt_rnn', seqmodel.translate_ids('mt_rnn', seqmodel.tokenize('mt_rnn', s), '{"num_beams": 4}'))) AS beam
  FROM src WHERE s IS NOT NULL;
-- logprob of a target given a source: both sides' ids (the target's </s> included)
SELECT abs(seqmodel.logprob('mt_rnn', 'Cannot open file', 'Datei kann nicht geöffnet werden') -
           seqmodel.seq2seq_logprob_ids('mt_rnn', seqmodel.tokenize('mt_rnn', 'Cannot open file'),
                                        seqmodel.tokenize_target('mt_rnn', 'Datei kann nicht geöffnet werden'))) < 1e-12 AS same,
       seqmodel.logprob('mt_rnn', 'Cannot open file', 'Datei kann nicht geöffnet werden') >
       seqmodel.logprob('mt_rnn', 'Cannot open file', 'Der Hund schläft im Garten') AS prefers_the_right_one;
-- translate_query: every row what translate gives it (NULL text: NULL), in the query's order, beams batched
SELECT q.key, q.translation IS NOT DISTINCT FROM seqmodel.translate('mt_rnn', s.s, '{"num_beams": 3}') AS same
  FROM seqmodel.translate_query('mt_rnn', 'SELECT id, s FROM src ORDER BY id', '{"num_beams": 3}') WITH ORDINALITY q
  LEFT JOIN src s ON s.id::text IS NOT DISTINCT FROM q.key AND (s.id IS NOT NULL OR s.s = 'Warning')
 ORDER BY q.ordinality;
SELECT count(*) AS rows, count(translation) AS translated
  FROM seqmodel.translate_query('mt_rnn', $$SELECT i, 'Cannot open file ' || i FROM generate_series(1, 150) i$$);
-- sampling: reproducible per seed; generate on an encoder-decoder translates (greedy at temperature 0)
SELECT seqmodel.translate('mt_rnn', 'Print help and exit', '{"temperature": 0.8, "seed": 5}') =
       seqmodel.translate('mt_rnn', 'Print help and exit', '{"temperature": 0.8, "seed": 5}') AS reproducible,
       seqmodel.generate('mt_rnn', 'Print help and exit', 100, 0, 0) = seqmodel.translate('mt_rnn', 'Print help and exit') AS generate_translates,
       seqmodel.generate('mt_rnn', 'Print help and exit', 100, 0.8, 0, 5) =
       seqmodel.translate('mt_rnn', 'Print help and exit', '{"temperature": 0.8, "seed": 5}') AS generate_samples_alike,
       seqmodel.generate('mt_rnn', 'Print help and exit', 0, 0, 0) AS nothing;
-- progress (terse: the rate varies)
\set VERBOSITY terse
SET seqmodel.progress = on;
SET seqmodel.progress_interval = 3600;
SELECT count(*) FROM seqmodel.translate_query('mt_rnn', 'SELECT id, s FROM src');
RESET seqmodel.progress;
RESET seqmodel.progress_interval;

-- errors
\set VERBOSITY default
SELECT seqmodel.translate('mt_rnn', '');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.logprob('mt_rnn', 'Cannot open file', '');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.translate('mt_rnn', 'x', '{"num_beams": 0}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.translate('mt_rnn', 'x', '{"max_new_tokens": 5000}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.translate('linear', 'x');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.logprob('linear', 'x', 'y');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.translate('no_such_model', 'x');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.score_query('mt_rnn', 'translate', 'SELECT id, s FROM src');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.translate_query('mt_rnn', 'SELECT id FROM src');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.translate_query('mt_rnn', 'SELECT id, id FROM src');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.translate_query('mt_rnn', 'SELECT id, s FROM src', '{"beams": 2}');
\echo :LAST_ERROR_SQLSTATE
-- a model without a tokenizer; a tokenizer too big for a model's vocabulary
SELECT seqmodel.import_safetensors('mt_bare', 'rnn_seq2seq', pg_read_file(:'datadir' || 'translate_rnn.json')::jsonb,
                                   pg_read_binary_file(:'datadir' || 'translate_rnn.safetensors')) AS parameters;
SELECT seqmodel.translate('mt_bare', 'Cannot open file');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.drop_model('mt_bare');
\set s2sdir :abs_srcdir '/test/fixtures/seq2seq/'
SELECT seqmodel.import_safetensors('mt_tiny', 'transformer_seq2seq', '{"src_vocab_size": 23, "tgt_vocab_size": 19, "d_model": 16, "nhead": 2, "num_encoder_layers": 2, "num_decoder_layers": 2, "dim_feedforward": 32, "max_len": 40, "bos_token_id": 1, "eos_token_id": 2}',
                                   pg_read_binary_file(:'s2sdir' || 'ts_post.safetensors')) AS parameters;
SELECT seqmodel.import_tokenizer_sentencepiece('mt_tiny', pg_read_binary_file(:'datadir' || 'translate_spm.model'));
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.drop_model('mt_tiny');
\set VERBOSITY terse
SELECT seqmodel.drop_model('mt_rnn');
