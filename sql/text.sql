-- text: tokenizers in SQL (the real GPT-2 and bert-base-uncased tokenizers,
-- checked against Hugging Face's own ids) and the text functions over token
-- models.  The models here are small (width 8) with the real vocabularies;
-- their weights are made in SQL.  The transformer math itself is checked
-- against PyTorch in tfm.sql; here every text function must equal the
-- composition of tokenize and the id-level functions.
\getenv abs_srcdir PG_ABS_SRCDIR
\set tokdir :abs_srcdir '/test/fixtures/tok/'
\set gpt2_json :tokdir 'gpt2/tokenizer.json'
\set gpt2_vocab :tokdir 'gpt2/vocab.json'
\set gpt2_merges :tokdir 'gpt2/merges.txt'
\set bert_json :tokdir 'bert/tokenizer.json'
\set bert_vocab :tokdir 'bert/vocab.txt'
\set corpus :tokdir 'corpus.txt'
\set sample :tokdir 'sample_ids.tsv'

-- a safetensors file whose tensors (name -> shape) hold a fixed pattern:
-- period 101 values in [-0.6, 0.6], different for every tensor
CREATE FUNCTION synth_safetensors(shapes jsonb) RETURNS bytea LANGUAGE plpgsql AS $$
DECLARE
    hdr text[] := '{}';
    data bytea := ''::bytea;
    k text;
    shp jsonb;
    n bigint;
    off bigint := 0;
    t int := 0;
    blk bytea;
BEGIN
    FOR k, shp IN SELECT key, value FROM jsonb_each(shapes) ORDER BY key LOOP
        t := t + 1;
        n := seqmodel.numel(ARRAY(SELECT jsonb_array_elements_text(shp)::int));
        SELECT string_agg(le_f32((0.6 * sin(i * 0.731 + t * 1.37))::real), ''::bytea ORDER BY i)
          INTO blk FROM generate_series(1, 101) AS i;
        data := data || substring(decode(repeat(encode(blk, 'hex'), (n / 101 + 1)::int), 'hex') FROM 1 FOR (4 * n)::int);
        hdr := hdr || format('"%s":{"dtype":"F32","shape":%s,"data_offsets":[%s,%s]}', k, shp, off, off + 4 * n);
        off := off + 4 * n;
    END LOOP;
    RETURN make_safetensors('{' || array_to_string(hdr, ',') || '}', data);
END
$$;

-- GPT-2 with its real vocabulary (50257), 1 layer of width 8, 64 positions
SELECT seqmodel.import_safetensors('gpt2_text', 'gpt2',
       '{"vocab_size": 50257, "n_positions": 64, "n_embd": 8, "n_layer": 1, "n_head": 2,
         "bos_token_id": 50256, "eos_token_id": 50256}',
       synth_safetensors('{"wte.weight": [50257, 8], "wpe.weight": [64, 8],
         "h.0.ln_1.weight": [8], "h.0.ln_1.bias": [8], "h.0.ln_2.weight": [8], "h.0.ln_2.bias": [8],
         "h.0.attn.c_attn.weight": [8, 24], "h.0.attn.c_attn.bias": [24],
         "h.0.attn.c_proj.weight": [8, 8], "h.0.attn.c_proj.bias": [8],
         "h.0.mlp.c_fc.weight": [8, 32], "h.0.mlp.c_fc.bias": [32],
         "h.0.mlp.c_proj.weight": [32, 8], "h.0.mlp.c_proj.bias": [8],
         "ln_f.weight": [8], "ln_f.bias": [8]}')) AS parameters;
-- bert-base-uncased's vocabulary (30522), 1 layer of width 8, 32 positions,
-- pooler and a 3-way classifier
\set bert_tensors '{"embeddings.word_embeddings.weight": [30522, 8], "embeddings.position_embeddings.weight": [32, 8], "embeddings.token_type_embeddings.weight": [2, 8], "embeddings.LayerNorm.weight": [8], "embeddings.LayerNorm.bias": [8], "encoder.layer.0.attention.self.query.weight": [8, 8], "encoder.layer.0.attention.self.query.bias": [8], "encoder.layer.0.attention.self.key.weight": [8, 8], "encoder.layer.0.attention.self.key.bias": [8], "encoder.layer.0.attention.self.value.weight": [8, 8], "encoder.layer.0.attention.self.value.bias": [8], "encoder.layer.0.attention.output.dense.weight": [8, 8], "encoder.layer.0.attention.output.dense.bias": [8], "encoder.layer.0.attention.output.LayerNorm.weight": [8], "encoder.layer.0.attention.output.LayerNorm.bias": [8], "encoder.layer.0.intermediate.dense.weight": [16, 8], "encoder.layer.0.intermediate.dense.bias": [16], "encoder.layer.0.output.dense.weight": [8, 16], "encoder.layer.0.output.dense.bias": [8], "encoder.layer.0.output.LayerNorm.weight": [8], "encoder.layer.0.output.LayerNorm.bias": [8], "pooler.dense.weight": [8, 8], "pooler.dense.bias": [8], "classifier.weight": [3, 8], "classifier.bias": [3]}'
\set bert_config '{"vocab_size": 30522, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 16, "max_position_embeddings": 32, "id2label": {"0": "negative", "1": "neutral", "2": "positive"}}'
SELECT seqmodel.import_safetensors('bert_text', 'bert', :'bert_config', synth_safetensors(:'bert_tensors')) AS parameters;
-- the same weights, giving hidden states (to check embed against forward)
SELECT seqmodel.import_safetensors('bert_text_hidden', 'bert', (:'bert_config')::jsonb || '{"output": "hidden"}',
       synth_safetensors(:'bert_tensors')) AS parameters;

-- ---------------------------------------------------------------- tokenizers
SELECT seqmodel.import_tokenizer('gpt2_text', pg_read_file(:'gpt2_json')) AS gpt2_vocab,
       seqmodel.import_tokenizer('bert_text', pg_read_file(:'bert_json')) AS bert_vocab,
       seqmodel.import_tokenizer('bert_text_hidden', pg_read_file(:'bert_json')) AS bert_text_hidden_vocab;
SELECT model, kind, vocab_size, length(definition) > 100000 AS stored FROM seqmodel.tokenizer ORDER BY model;
SELECT seqmodel.tokenize('gpt2_text', 'Hello world') AS gpt2, seqmodel.tokenize('bert_text', 'Hello world') AS bert;

-- the reference's ids (Hugging Face tokenizers) for a sample of the corpus:
-- the edge cases and every 150th line of real multilingual text
CREATE TEMP TABLE corpus AS
SELECT n, line FROM unnest(string_to_array(pg_read_file(:'corpus'), E'\n')) WITH ORDINALITY AS u(line, n);
CREATE TEMP TABLE expected_ids (n bigint, gpt2 text, bert text);
COPY expected_ids FROM :'sample';
SELECT count(*) AS lines,
       count(*) FILTER (WHERE seqmodel.tokenize('gpt2_text', c.line) = string_to_array(e.gpt2, ' ')::int[]) AS gpt2_same,
       count(*) FILTER (WHERE seqmodel.tokenize('bert_text', c.line) = string_to_array(e.bert, ' ')::int[]) AS bert_same,
       count(*) FILTER (WHERE c.line ~ '[^\x01-\x7e]') AS non_ascii
  FROM expected_ids e JOIN corpus c USING (n);
-- the lines that differ, if any (none expected)
SELECT e.n, seqmodel.tokenize('gpt2_text', c.line) AS got, e.gpt2 AS expected
  FROM expected_ids e JOIN corpus c USING (n)
 WHERE seqmodel.tokenize('gpt2_text', c.line) <> string_to_array(e.gpt2, ' ')::int[] LIMIT 3;
SELECT e.n, seqmodel.tokenize('bert_text', c.line) AS got, e.bert AS expected
  FROM expected_ids e JOIN corpus c USING (n)
 WHERE seqmodel.tokenize('bert_text', c.line) <> string_to_array(e.bert, ' ')::int[] LIMIT 3;

-- GPT-2 decoding gives the text back (special tokens left out)
SELECT count(*) AS lines, count(*) FILTER (WHERE seqmodel.detokenize('gpt2_text', seqmodel.tokenize('gpt2_text', line)) = line) AS round_trip
  FROM corpus WHERE n IN (SELECT n FROM expected_ids) AND line NOT LIKE '%<|endoftext|>%';
SELECT seqmodel.detokenize('bert_text', seqmodel.tokenize('bert_text', 'Héllo, WORLD! Don''t stop.')) AS bert_decoded,
       seqmodel.detokenize('gpt2_text', '{15496, 995, 50256}') AS gpt2_decoded,
       seqmodel.detokenize('gpt2_text', '{}') AS nothing;
-- a token cut inside a UTF-8 sequence decodes to U+FFFD, never invalid text
SELECT seqmodel.tokenize('gpt2_text', '😀') AS emoji_ids,
       seqmodel.detokenize('gpt2_text', (seqmodel.tokenize('gpt2_text', '😀'))[1:1]) AS half_emoji;

-- the same tokenizers from GPT-2's vocab.json + merges.txt and BERT's vocab.txt
SELECT seqmodel.import_safetensors('gpt2_files', 'gpt2', config, synth_safetensors('{"wte.weight": [50257, 8], "wpe.weight": [64, 8], "h.0.ln_1.weight": [8], "h.0.ln_1.bias": [8], "h.0.ln_2.weight": [8], "h.0.ln_2.bias": [8], "h.0.attn.c_attn.weight": [8, 24], "h.0.attn.c_attn.bias": [24], "h.0.attn.c_proj.weight": [8, 8], "h.0.attn.c_proj.bias": [8], "h.0.mlp.c_fc.weight": [8, 32], "h.0.mlp.c_fc.bias": [32], "h.0.mlp.c_proj.weight": [32, 8], "h.0.mlp.c_proj.bias": [8], "ln_f.weight": [8], "ln_f.bias": [8]}')) AS parameters
  FROM seqmodel.model WHERE name = 'gpt2_text';
SELECT seqmodel.import_tokenizer_bpe('gpt2_files', pg_read_file(:'gpt2_vocab'), pg_read_file(:'gpt2_merges')) AS from_files;
SELECT seqmodel.import_safetensors('bert_files', 'bert', :'bert_config', synth_safetensors(:'bert_tensors')) AS parameters;
SELECT seqmodel.import_tokenizer_wordpiece('bert_files', pg_read_file(:'bert_vocab')) AS from_vocab_txt;
SELECT count(*) AS lines,
       count(*) FILTER (WHERE seqmodel.tokenize('gpt2_files', line) = seqmodel.tokenize('gpt2_text', line)) AS bpe_same,
       count(*) FILTER (WHERE seqmodel.tokenize('bert_files', line) = seqmodel.tokenize('bert_text', line)) AS wordpiece_same
  FROM corpus WHERE n IN (SELECT n FROM expected_ids);
-- a cased vocab.txt keeps case and accents
SELECT seqmodel.import_tokenizer_wordpiece('bert_files', E'[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nHello\nhello\n##o\nH\n,', false) AS cased;
SELECT seqmodel.tokenize('bert_files', 'Hello hello Héllo, Ho') AS cased_ids;

-- pairs: [CLS] a [SEP] b [SEP] with segment ids
SELECT seqmodel.tokenize('bert_text', 'How old are you?', 'I am six.') AS pair_ids,
       seqmodel.token_type_ids('bert_text', 'How old are you?', 'I am six.') AS type_ids;

-- ---------------------------------------------------------------- classify, label, embed
CREATE TEMP TABLE reviews (id int PRIMARY KEY, body text);
INSERT INTO reviews VALUES (1, 'Great product, works as advertised.'), (2, 'Terrible. Broke after a day.'),
    (3, 'It is fine, I guess.'), (4, 'Ünïcödé àccents and 中文 text'), (5, NULL);
-- classify is the softmax of the classifier's logits (forward on the ids)
SELECT id, round((SELECT sum(x) FROM unnest(p) x)::numeric, 5) AS sum_probs,
       max_rel_err(p, (SELECT array_agg(exp(l) / s ORDER BY k)
                         FROM unnest(seqmodel.forward('bert_text', seqmodel.tokenize('bert_text', body))) WITH ORDINALITY AS u(l, k),
                              (SELECT sum(exp(l2)) AS s FROM unnest(seqmodel.forward('bert_text', seqmodel.tokenize('bert_text', body))) AS l2) t)) < 1e-6 AS is_softmax_of_forward
  FROM (SELECT id, body, seqmodel.classify('bert_text', body) AS p FROM reviews) s ORDER BY id;
SELECT id, seqmodel.label('bert_text', body) AS label,
       seqmodel.label('bert_text', body) = (ARRAY['negative', 'neutral', 'positive'])[
           (SELECT k FROM unnest(seqmodel.classify('bert_text', body)) WITH ORDINALITY AS u(p, k) ORDER BY p DESC, k LIMIT 1)] AS is_argmax
  FROM reviews ORDER BY id;
-- one call of a text function is one use of the model in the cache
SELECT hits AS h0 FROM seqmodel.cache_info() WHERE model = 'bert_text' \gset
SELECT count(seqmodel.label('bert_text', body)) AS labelled FROM reviews;
SELECT hits - :h0 AS hits_for_4_calls FROM seqmodel.cache_info() WHERE model = 'bert_text';
-- a pair through the classifier
SELECT array_length(seqmodel.classify('bert_text', 'How old are you?', 'I am six.'), 1) AS pair_classes;
-- embed: BERT pools the [CLS] row of the final hidden states
SELECT id, array_length(seqmodel.embed('bert_text', body), 1) AS width,
       seqmodel.embed('bert_text', body) = ARRAY(SELECT unnest((seqmodel.forward('bert_text_hidden', seqmodel.tokenize('bert_text', body)))[1:1][1:8])) AS cls_row_of_hidden
  FROM reviews WHERE body IS NOT NULL ORDER BY id;
-- embed of a decoder: the mean of its hidden states, L2-normalised when the config says so
SELECT seqmodel.import_safetensors('gpt2_embed', 'gpt2', config || '{"output": "hidden", "embedding_normalize": true}',
       (SELECT synth_safetensors('{"wte.weight": [50257, 8], "wpe.weight": [64, 8], "h.0.ln_1.weight": [8], "h.0.ln_1.bias": [8], "h.0.ln_2.weight": [8], "h.0.ln_2.bias": [8], "h.0.attn.c_attn.weight": [8, 24], "h.0.attn.c_attn.bias": [24], "h.0.attn.c_proj.weight": [8, 8], "h.0.attn.c_proj.bias": [8], "h.0.mlp.c_fc.weight": [8, 32], "h.0.mlp.c_fc.bias": [32], "h.0.mlp.c_proj.weight": [32, 8], "h.0.mlp.c_proj.bias": [8], "ln_f.weight": [8], "ln_f.bias": [8]}'))) AS parameters
  FROM seqmodel.model WHERE name = 'gpt2_text';
SELECT seqmodel.import_tokenizer('gpt2_embed', pg_read_file(:'gpt2_json')) AS vocab;
WITH h AS (SELECT seqmodel.forward('gpt2_embed', seqmodel.tokenize('gpt2_embed', 'mean of the hidden states')) AS x),
     m AS (SELECT c, avg(x[r][c]) AS v FROM h, generate_series(1, array_length(x, 1)) r, generate_series(1, 8) c GROUP BY c)
SELECT max_rel_err(seqmodel.embed('gpt2_embed', 'mean of the hidden states'),
                   (SELECT array_agg(v / sqrt((SELECT sum(v * v) FROM m)) ORDER BY c) FROM m)) < 1e-5 AS normalised_mean,
       round((SELECT sum(e * e) FROM unnest(seqmodel.embed('gpt2_embed', 'mean of the hidden states')) e)::numeric, 4) AS norm2;

-- ---------------------------------------------------------------- logprob, perplexity, generate
-- every token is scored after bos_token_id (<|endoftext|>)
SELECT abs(seqmodel.logprob('gpt2_text', t) - seqmodel.logprob_ids('gpt2_text', 50256 || seqmodel.tokenize('gpt2_text', t))) < 1e-9 AS logprob_is_ids,
       abs(seqmodel.perplexity('gpt2_text', t)
           - exp(-seqmodel.logprob('gpt2_text', t) / array_length(seqmodel.tokenize('gpt2_text', t), 1))) < 1e-9 AS perplexity_is_exp_mean,
       seqmodel.logprob('gpt2_text', t) < 0 AS negative
  FROM (VALUES ('The quick brown fox jumps over the lazy dog.'), ('Ünïcödé 中文')) v(t);
-- greedy generation is the argmax of the logits, token by token
WITH RECURSIVE g(ids, k) AS (
    SELECT seqmodel.tokenize('gpt2_text', 'Once upon a time'), 0
    UNION ALL
    SELECT ids || (SELECT (i - 1)::int FROM unnest((f)[array_length(f, 1):array_length(f, 1)][1:50257]) WITH ORDINALITY AS u(l, i)
                    ORDER BY l DESC, i LIMIT 1), k + 1
      FROM g, LATERAL (SELECT seqmodel.forward('gpt2_text', ids) AS f) s
     WHERE k < 6)
SELECT seqmodel.generate('gpt2_text', 'Once upon a time', 6)
     = seqmodel.detokenize('gpt2_text', ids[5:]) AS greedy_is_argmax
  FROM g WHERE k = 6;
-- sampling: reproducible for a seed (top_k = 1 equal to greedy is a unit
-- test: these pattern weights tie many logits, and ties are all kept)
SELECT seqmodel.generate('gpt2_text', 'Once upon a time', 8, 1.0, 0, 42)
     = seqmodel.generate('gpt2_text', 'Once upon a time', 8, 1.0, 0, 42) AS same_seed_same_text,
       seqmodel.generate('gpt2_text', 'Once upon a time', 8, 0.7, 20, 42)
     = seqmodel.generate('gpt2_text', 'Once upon a time', 8, 0.7, 20, 42) AS same_with_top_k,
       (SELECT count(DISTINCT seqmodel.generate('gpt2_text', 'Once upon a time', 8, 1.5, 0, s)) FROM generate_series(1, 5) s) > 1 AS seeds_differ,
       seqmodel.generate('gpt2_text', 'Once upon a time', 0) AS zero_tokens,
       seqmodel.generate('gpt2_text', 'Once upon a time', 4, 1.0, 50, NULL) IS NOT NULL AS unseeded,
       seqmodel.generate('gpt2_text', NULL, 4) IS NULL AS null_prompt;
-- the context (64 positions) bounds the continuation
SELECT length(seqmodel.generate('gpt2_text', 'Once upon a time', 1000)) > 0 AS stopped_at_context;
-- generate(model, prompt, options): the decoder interface's options (beam search for a
-- decoder); greedy equals the positional form, a beam's text scores at least greedy's.
-- (A bare literal third argument could be max_tokens or options: name it, or cast to jsonb.)
SELECT seqmodel.generate('gpt2_text', 'Once upon a time', options => '{"max_new_tokens": 6}')
     = seqmodel.generate('gpt2_text', 'Once upon a time', 6) AS options_greedy_same,
       seqmodel.generate('gpt2_text', 'Once upon a time', options => '{"max_new_tokens": 6, "temperature": 1.0, "seed": 42}')
     = seqmodel.generate('gpt2_text', 'Once upon a time', 6, 1.0, 0, 42) AS options_sampled_same,
       seqmodel.logprob('gpt2_text', 'Once upon a time' || seqmodel.generate('gpt2_text', 'Once upon a time', options => '{"max_new_tokens": 6, "num_beams": 4, "early_stopping": true}'))
    >= seqmodel.logprob('gpt2_text', 'Once upon a time' || seqmodel.generate('gpt2_text', 'Once upon a time', 6)) - 1e-9 AS beam_not_worse,
       length(seqmodel.generate('gpt2_text', 'Once upon a time', options => '{"num_beams": 3, "no_repeat_ngram_size": 2, "max_new_tokens": 8}')) > 0 AS ngram_ban;
SELECT seqmodel.generate('gpt2_text', 'Once upon a time', options => '{"num_beams": 3, "max_new_tokens": 100}') IS NOT NULL AS stopped_at_context_beams;

-- ---------------------------------------------------------------- score_query
-- one call for a whole query, many rows per matrix product: equal to the per-row functions
CREATE TEMP TABLE docs AS
SELECT i AS id, CASE WHEN i % 50 = 0 THEN NULL ELSE line END AS body
  FROM (SELECT row_number() OVER (ORDER BY n) AS i, line FROM corpus
         WHERE n > 42 AND n % 7 = 0
           AND array_length(seqmodel.tokenize('bert_text', line), 1) <= 32
           AND array_length(seqmodel.tokenize('gpt2_text', line), 1) < 64 LIMIT 150) s;
SELECT count(*) AS rows, count(output) AS scored,
       count(*) FILTER (WHERE max_rel_err(s.output, seqmodel.classify('bert_text', d.body)::float8[]) < 1e-5) AS classify_same
  FROM seqmodel.score_query('bert_text', 'classify', 'SELECT id, body FROM docs') s JOIN docs d ON d.id::text = s.key;
SELECT count(*) AS rows,
       count(*) FILTER (WHERE max_rel_err(s.output, seqmodel.embed('bert_text', d.body)::float8[]) < 1e-5) AS embed_same
  FROM seqmodel.score_query('bert_text', 'embed', 'SELECT id, body FROM docs WHERE body IS NOT NULL') s JOIN docs d ON d.id::text = s.key;
SELECT count(*) AS rows,
       count(*) FILTER (WHERE abs(s.output[1] - seqmodel.logprob('gpt2_text', d.body)) <= 1e-5 * abs(seqmodel.logprob('gpt2_text', d.body))) AS logprob_same
  FROM seqmodel.score_query('gpt2_text', 'logprob', 'SELECT id, body FROM docs WHERE body IS NOT NULL') s JOIN docs d ON d.id::text = s.key;
-- keys of any type, in the query's order; a NULL text gives a NULL output
SELECT key, output IS NULL AS no_output
  FROM seqmodel.score_query('bert_text', 'classify', $$SELECT k, t FROM (VALUES (date '2026-01-02', 'a'), (NULL, 'b'), (date '2026-01-01', NULL)) v(k, t)$$);
SELECT key, array_length(output, 1) AS width
  FROM seqmodel.score_query('bert_text', 'classify', $$SELECT 'x'::varchar, 'some text'::char(20)$$);
-- progress NOTICEs (every batch with an interval of 0; the detail has timings)
SET seqmodel.progress = on;
SET seqmodel.progress_interval = 0;
\set VERBOSITY terse
SELECT count(*) FROM seqmodel.score_query('bert_text', 'classify', 'SELECT id, body FROM docs');
\set VERBOSITY default
RESET seqmodel.progress;
RESET seqmodel.progress_interval;

-- ---------------------------------------------------------------- truncation
-- 32 positions: a long text is an error by default ...
SELECT seqmodel.classify('bert_text', repeat('word ', 40));
\echo :LAST_ERROR_SQLSTATE
-- ... or keeps its first tokens ([SEP] stays last) when asked
SET seqmodel.truncation = truncate;
SELECT seqmodel.classify('bert_text', repeat('word ', 40)) = seqmodel.classify('bert_text', repeat('word ', 30)) AS truncated_to_30_words,
       seqmodel.logprob('gpt2_text', repeat('a ', 100)) = seqmodel.logprob('gpt2_text', repeat('a ', 63)) AS decoder_truncated,
       length(seqmodel.generate('gpt2_text', repeat('a ', 100), 3)) > 0 AS long_prompt_keeps_its_end;
SELECT count(*) AS rows FROM seqmodel.score_query('bert_text', 'embed', $$SELECT 1, repeat('word ', 100)$$);
RESET seqmodel.truncation;
SELECT seqmodel.generate('gpt2_text', repeat('a ', 100), 3);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.score_query('bert_text', 'embed', $$SELECT 7, repeat('word ', 100)$$);
\echo :LAST_ERROR_SQLSTATE
-- tokenize never truncates
SELECT array_length(seqmodel.tokenize('bert_text', repeat('word ', 40)), 1) AS all_tokens;

-- ---------------------------------------------------------------- errors
-- empty text
SELECT seqmodel.classify('bert_text', '');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.logprob('gpt2_text', '');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.classify('bert_text', 'question', '');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.generate('gpt2_text', '', 5);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.score_query('bert_text', 'embed', $$SELECT 3, ''$$);
\echo :LAST_ERROR_SQLSTATE
-- the function does not fit the model
SELECT seqmodel.generate('bert_text', 'Hello', 5);
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.logprob('bert_text', 'Hello');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.classify('gpt2_text', 'Hello');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.label('bert_text_hidden', 'Hello');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.score_query('bert_text', 'logprob', 'SELECT 1, ''x''');
\echo :LAST_ERROR_SQLSTATE
-- sampling options
SELECT seqmodel.generate('gpt2_text', 'Hello', 5, -1);
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.generate('gpt2_text', 'Hello', 5, 'NaN');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.generate('gpt2_text', 'Hello', 5, 'Infinity');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.generate('gpt2_text', 'Hello', 5, 1, -3);
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.generate('gpt2_text', 'Hello', -1);
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.generate('gpt2_text', 'Hello', options => '{"num_beams": 0}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.generate('gpt2_text', 'Hello', options => '{"temperature": 1, "num_beams": 2}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.generate('bert_text', 'Hello', options => '{}');
\echo :LAST_ERROR_SQLSTATE
-- ids out of range
SELECT seqmodel.detokenize('gpt2_text', '{15496, 50257}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.detokenize('bert_text', '{101, -1}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.detokenize('bert_text', '{101, NULL}');
\echo :LAST_ERROR_SQLSTATE
-- no tokenizer
SELECT seqmodel.import_safetensors('no_tok', 'gpt2', config, (SELECT synth_safetensors('{"wte.weight": [50257, 8], "wpe.weight": [64, 8], "h.0.ln_1.weight": [8], "h.0.ln_1.bias": [8], "h.0.ln_2.weight": [8], "h.0.ln_2.bias": [8], "h.0.attn.c_attn.weight": [8, 24], "h.0.attn.c_attn.bias": [24], "h.0.attn.c_proj.weight": [8, 8], "h.0.attn.c_proj.bias": [8], "h.0.mlp.c_fc.weight": [8, 32], "h.0.mlp.c_fc.bias": [32], "h.0.mlp.c_proj.weight": [32, 8], "h.0.mlp.c_proj.bias": [8], "ln_f.weight": [8], "ln_f.bias": [8]}'))) AS parameters
  FROM seqmodel.model WHERE name = 'gpt2_text';
SELECT seqmodel.tokenize('no_tok', 'Hello');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.generate('no_tok', 'Hello', 3);
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.tokenize('no_such_model', 'Hello');
\echo :LAST_ERROR_SQLSTATE
-- score_query's query and task
SELECT * FROM seqmodel.score_query('bert_text', 'classify', 'SELECT 1, 2, 3');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.score_query('bert_text', 'classify', 'SELECT 1, 2');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.score_query('bert_text', 'classify', 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.score_query('bert_text', 'classify', 'CREATE TEMP TABLE x (a int)');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.score_query('bert_text', 'classify', 'SELEC 1');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.score_query('bert_text', 'summarize', 'SELECT 1, ''x''');
\echo :LAST_ERROR_SQLSTATE
-- importing tokenizers
SELECT seqmodel.import_tokenizer('bert_text', '{"model": {"type": "WordLevel", "vocab": {}}}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_tokenizer('bert_text', '{not json');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_tokenizer('bert_text', pg_read_file(:'gpt2_json'));  -- 50257 ids, model has 30522
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_tokenizer('no_such_model', pg_read_file(:'bert_json'));
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('numeric_lstm', 'lstm', '{"input_size": 1, "hidden_size": 2, "rnn_prefix": ""}',
       synth_safetensors('{"weight_ih_l0": [8, 1], "weight_hh_l0": [8, 2], "bias_ih_l0": [8], "bias_hh_l0": [8]}')) AS parameters;
SELECT seqmodel.import_tokenizer('numeric_lstm', pg_read_file(:'bert_json'));
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.embed('numeric_lstm', 'Hello');
\echo :LAST_ERROR_SQLSTATE
-- text config keys are checked at import
SELECT seqmodel.import_safetensors('bad_text_cfg', 'bert', (:'bert_config')::jsonb || '{"embedding_pooling": "max"}', synth_safetensors(:'bert_tensors'));
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('bad_text_cfg', 'gpt2', config || '{"eos_token_id": 60000}', synth_safetensors('{}'))
  FROM seqmodel.model WHERE name = 'gpt2_text';
\echo :LAST_ERROR_SQLSTATE

-- ---------------------------------------------------------------- arch transformer with token input
-- the same functions with a torch.nn.TransformerEncoder model and a small
-- WordPiece vocabulary: a classifier (mean pooling, id2label) ...
\set tfm_tensors '{"embedding.weight": [16, 8], "pos_embedding.weight": [24, 8], "encoder.layers.0.self_attn.in_proj_weight": [24, 8], "encoder.layers.0.self_attn.in_proj_bias": [24], "encoder.layers.0.self_attn.out_proj.weight": [8, 8], "encoder.layers.0.self_attn.out_proj.bias": [8], "encoder.layers.0.linear1.weight": [16, 8], "encoder.layers.0.linear1.bias": [16], "encoder.layers.0.linear2.weight": [8, 16], "encoder.layers.0.linear2.bias": [8], "encoder.layers.0.norm1.weight": [8], "encoder.layers.0.norm1.bias": [8], "encoder.layers.0.norm2.weight": [8], "encoder.layers.0.norm2.bias": [8]'
\set small_vocab '[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\ncat\nsat\non\nmat\n##s\n.\na\ndog'
SELECT seqmodel.import_safetensors('tfm_text_cls', 'transformer',
       '{"d_model": 8, "nhead": 2, "num_layers": 1, "dim_feedforward": 16, "vocab_size": 16, "positional": "learned",
         "max_len": 24, "pooling": "mean", "output_size": 2, "id2label": {"0": "animal", "1": "thing"}}',
       synth_safetensors((:'tfm_tensors' || ', "head.weight": [2, 8], "head.bias": [2]}')::jsonb)) AS parameters;
SELECT seqmodel.import_tokenizer_wordpiece('tfm_text_cls', E:'small_vocab') AS vocab;
SELECT seqmodel.tokenize('tfm_text_cls', 'The cats sat on a mat.') AS ids,
       seqmodel.detokenize('tfm_text_cls', seqmodel.tokenize('tfm_text_cls', 'The cats sat on a mat.')) AS text;
SELECT max_rel_err(seqmodel.classify('tfm_text_cls', t),
                   (SELECT array_agg(exp(l) / (SELECT sum(exp(l2)) FROM unnest(f) l2) ORDER BY k)
                      FROM unnest(f) WITH ORDINALITY AS u(l, k))) < 1e-6 AS is_softmax_of_forward,
       seqmodel.label('tfm_text_cls', t) IN ('animal', 'thing') AS labelled,
       array_length(seqmodel.embed('tfm_text_cls', t), 1) AS embed_width
  FROM (VALUES ('The cats sat on a mat.')) v(t),
       LATERAL (SELECT seqmodel.forward('tfm_text_cls', seqmodel.tokenize('tfm_text_cls', t)) AS f) s;
SELECT count(*) AS rows, bool_and(max_rel_err(s.output, seqmodel.classify('tfm_text_cls', v.t)::float8[]) < 1e-5) AS classify_same
  FROM seqmodel.score_query('tfm_text_cls', 'classify', $$SELECT t, t FROM (VALUES ('the cat'), ('a dog sat'), ('mats')) v(t)$$) s
  JOIN (VALUES ('the cat'), ('a dog sat'), ('mats')) v(t) ON v.t = s.key;
-- ... and a decoder: causal, its head a language-model head (lm_head: true)
SELECT seqmodel.import_safetensors('tfm_text_lm', 'transformer',
       '{"d_model": 8, "nhead": 2, "num_layers": 1, "dim_feedforward": 16, "vocab_size": 16, "positional": "learned",
         "max_len": 24, "causal": true, "pooling": "none", "output_size": 16, "lm_head": true}',
       synth_safetensors((:'tfm_tensors' || ', "head.weight": [16, 8], "head.bias": [16]}')::jsonb)) AS parameters;
SELECT seqmodel.import_tokenizer_wordpiece('tfm_text_lm', E:'small_vocab') AS vocab;
SELECT abs(seqmodel.logprob('tfm_text_lm', 'the cat sat') - seqmodel.logprob_ids('tfm_text_lm', seqmodel.tokenize('tfm_text_lm', 'the cat sat'))) < 1e-9 AS logprob_is_ids,
       seqmodel.perplexity('tfm_text_lm', 'the cat sat') > 1 AS perplexity_above_1;
WITH RECURSIVE g(ids, k) AS (
    SELECT seqmodel.tokenize('tfm_text_lm', 'the cat'), 0
    UNION ALL
    SELECT ids || (SELECT (i - 1)::int FROM unnest((f)[array_length(f, 1):array_length(f, 1)][1:16]) WITH ORDINALITY AS u(l, i)
                    ORDER BY l DESC, i LIMIT 1), k + 1
      FROM g, LATERAL (SELECT seqmodel.forward('tfm_text_lm', ids) AS f) s
     WHERE k < 5)
SELECT seqmodel.generate('tfm_text_lm', 'the cat', 5) = seqmodel.detokenize('tfm_text_lm', ids[5:]) AS greedy_is_argmax
  FROM g WHERE k = 5;
SELECT seqmodel.import_safetensors('tfm_text_bad', 'transformer',
       '{"d_model": 8, "nhead": 2, "num_layers": 1, "vocab_size": 16, "pooling": "none", "output_size": 16, "lm_head": true}',
       synth_safetensors('{}'));

-- ---------------------------------------------------------------- cancellation
-- a long score_query stops at statement_timeout (rows are checked for interrupts)
SET statement_timeout = '300ms';
SELECT count(*) FROM seqmodel.score_query('bert_text', 'embed', 'SELECT g, ''some words to embed'' FROM generate_series(1, 100000000) g');
\echo :LAST_ERROR_SQLSTATE
-- ... and so does the tokenizer on one long text (it polls every 4096 words).
-- The text is built first, outside the timeout, so that the timeout falls
-- inside the tokenizer, not in repeat(); and it is 24 M words, far more than
-- any machine tokenizes in 100 ms (6 M words built inside the timeout failed
-- once)
RESET statement_timeout;
CREATE TEMP TABLE long_text AS SELECT repeat('many words ', 12000000) AS t;
SET statement_timeout = '100ms';
SELECT cardinality(seqmodel.tokenize('bert_text', t)) FROM long_text;
\echo :LAST_ERROR_SQLSTATE
RESET statement_timeout;

-- ---------------------------------------------------------------- the catalog
-- the tokenizer is part of the model: a new tokenizer is a new version, a
-- replaced model keeps its tokenizer, a dropped one takes it along
SELECT version AS v1 FROM seqmodel.model WHERE name = 'bert_text' \gset
SELECT seqmodel.import_tokenizer('bert_text', pg_read_file(:'bert_json')) AS vocab;
SELECT version > :v1 AS new_version FROM seqmodel.model WHERE name = 'bert_text';
SELECT seqmodel.import_safetensors('bert_text', 'bert', :'bert_config', synth_safetensors(:'bert_tensors'), replace => true) AS parameters;
SELECT seqmodel.tokenize('bert_text', 'still here') AS kept_tokenizer;
SELECT seqmodel.drop_model(name) FROM seqmodel.model
 WHERE name IN ('gpt2_text', 'bert_text', 'bert_text_hidden', 'gpt2_files', 'bert_files', 'gpt2_embed', 'no_tok', 'numeric_lstm', 'tfm_text_cls', 'tfm_text_lm') ORDER BY name;
SELECT count(*) AS tokenizers_left FROM seqmodel.tokenizer;
