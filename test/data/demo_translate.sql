-- Translation in SQL: three English -> German translators trained in
-- PyTorch (test/data/train_translators.py) on the message catalogs of this
-- machine (test/data/prepare_translation.py), with one SentencePiece
-- tokenizer: an RNN encoder-decoder whose decoder sees the source only
-- through the encoder's final state (the bottleneck), the same with
-- Bahdanau attention over all encoder states, and a small transformer.
-- In SQL: translate the 870 held-out sentences greedily and with beam
-- search, show a few side by side, score each model with chrF overall and
-- by source length (a chrF written in SQL below, checked against the Python
-- one on PyTorch's outputs), and compare the translations with PyTorch's.
-- The files are read by the server (COPY, pg_read_file), from
-- $PG_ABS_SRCDIR/test/data as pg_regress sets it, else from psql's working
-- directory (run psql from the repository root).  The database must be UTF8.
\set ON_ERROR_STOP on
\pset footer off
\getenv abs_srcdir PG_ABS_SRCDIR
\if :{?abs_srcdir}
\else
\set abs_srcdir `pwd`
\endif
\set datadir :abs_srcdir '/test/data/'
\set test_tsv :datadir 'translate_test.tsv'
\set expected_csv :datadir 'translate_expected.csv'
\set scores_csv :datadir 'translate_scores.csv'
\set spm :datadir 'translate_spm.model'

\echo '== load the 870 held-out sentence pairs and PyTorch''s translations of them'
-- tab-separated, no quoting (no field holds a tab or newline; backslashes are text)
CREATE TEMP TABLE translate_test (id int PRIMARY KEY, source text NOT NULL, target text NOT NULL);
COPY translate_test FROM :'test_tsv' WITH (FORMAT csv, DELIMITER E'\t', QUOTE E'\x01');
CREATE TEMP TABLE translate_expected (
  id int, model text, words int, source_ids int[], max_new_tokens int,
  greedy_ids int[], greedy_text text, greedy_min_margin float8,
  beam_ids int[], beam_text text, beam_score float8, beam_min_margin float8,
  target_ids int[], logprob float8, PRIMARY KEY (id, model));
COPY translate_expected FROM :'expected_csv' WITH (FORMAT csv, HEADER true);
-- PyTorch side's chrF and BLEU (translate_reference.py), per model, decode and length bucket
CREATE TEMP TABLE translate_scores (model text, decode text, bucket text, sentences int,
                                    chrf float8, bleu float8);
COPY translate_scores FROM :'scores_csv' WITH (FORMAT csv, HEADER true);
CREATE TEMP VIEW translate_pairs AS
SELECT id, source, target, words,
       CASE WHEN words <= 5 THEN '1-5' WHEN words <= 10 THEN '6-10'
            WHEN words <= 15 THEN '11-15' ELSE '16+' END AS bucket
  FROM (SELECT *, array_length(string_to_array(source, ' '), 1) AS words FROM translate_test) t;
SELECT bucket AS source_words, count(*) AS sentences,
       round(avg(length(source)), 1) AS mean_source_chars,
       round(avg(length(target)), 1) AS mean_target_chars
  FROM translate_pairs GROUP BY bucket ORDER BY min(words);

\echo '== import the three translators, each with the SentencePiece tokenizer (one joint vocabulary)'
CREATE TEMP TABLE translate_models (model text PRIMARY KEY, arch text, what text, ord int);
INSERT INTO translate_models VALUES
  ('translate_rnn', 'rnn_seq2seq', 'GRU encoder-decoder, no attention (fixed-size bottleneck)', 1),
  ('translate_attn', 'rnn_seq2seq', 'GRU encoder-decoder, Bahdanau attention', 2),
  ('translate_tfm', 'transformer_seq2seq', 'transformer (nn.Transformer, 2+2 layers)', 3);
SELECT m.model, m.arch,
       seqmodel.import_safetensors(m.model, m.arch,
           pg_read_file(:'datadir' || m.model || '.json')::jsonb,
           pg_read_binary_file(:'datadir' || m.model || '.safetensors')) AS parameters,
       m.what
  FROM translate_models m ORDER BY m.ord;
SELECT count(*) AS tokenizers_imported
  FROM (SELECT seqmodel.import_tokenizer_sentencepiece(model, pg_read_binary_file(:'spm'))
          FROM translate_models) t;

\echo '== one sentence, three ways'
SELECT m.model,
       seqmodel.translate(m.model, 'Could not open file %s') AS greedy,
       seqmodel.translate(m.model, 'Could not open file %s', '{"num_beams": 4}') AS beam_4
  FROM translate_models m ORDER BY m.ord;

\echo '== translate every held-out sentence with each model: greedy and beam search (4 beams)'
-- max_new_tokens as PyTorch's decode loops had it: min(2 * source tokens (with </s>) + 10, 100)
CREATE TEMP TABLE translate_sql AS
SELECT e.id, e.model,
       seqmodel.translate(e.model, p.source, jsonb_build_object('max_new_tokens', e.max_new_tokens)) AS greedy_text,
       seqmodel.translate(e.model, p.source, jsonb_build_object('max_new_tokens', e.max_new_tokens,
                                                                'num_beams', 4)) AS beam_text
  FROM translate_expected e JOIN translate_pairs p USING (id);
SELECT model, count(*) AS sentences FROM translate_sql GROUP BY model ORDER BY model;

\echo '== side by side (the two lowest ids of each length bucket; beam search)'
\x on
WITH pick AS (
  SELECT id, bucket FROM (SELECT id, bucket, row_number() OVER (PARTITION BY bucket ORDER BY id) AS k
                            FROM translate_pairs) x WHERE k <= 2)
SELECT p.id, k.bucket AS words, p.source, p.target AS reference,
       max(s.beam_text) FILTER (WHERE s.model = 'translate_rnn') AS rnn,
       max(s.beam_text) FILTER (WHERE s.model = 'translate_attn') AS attention,
       max(s.beam_text) FILTER (WHERE s.model = 'translate_tfm') AS transformer
  FROM pick k JOIN translate_pairs p USING (id) JOIN translate_sql s USING (id)
 GROUP BY p.id, k.bucket, p.source, p.target, p.words ORDER BY p.words, p.id;
\x off

\echo '== chrF in SQL (sacrebleu''s chrF: character 1..6-grams, whitespace removed, beta 2)'
-- per order n: hypothesis n-grams, reference n-grams, matches (the smaller count of each
-- n-gram); a corpus sums these; its score averages precision and recall over the orders
-- where both counts are positive, then F_beta = (1 + beta^2) P R / (beta^2 P + R), times 100
CREATE FUNCTION pg_temp.chrf_strip(s text) RETURNS text LANGUAGE sql IMMUTABLE STRICT AS $$
  -- what Python's str.split() splits on (str.isspace)
  SELECT regexp_replace(s, '[\t\n\v\f\r\x1c-\x1f \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+', '', 'g')
$$;
CREATE FUNCTION pg_temp.chrf_stats(hyp text, ref text) RETURNS bigint[] LANGUAGE sql IMMUTABLE STRICT AS $$
  WITH s AS (SELECT pg_temp.chrf_strip(hyp) AS h, pg_temp.chrf_strip(ref) AS r),
  g AS (SELECT n, substr(s.h, i, n) COLLATE "C" AS gram, 1 AS in_h, 0 AS in_r
          FROM s, generate_series(1, 6) n, generate_series(1, length(s.h) - n + 1) i
        UNION ALL
        SELECT n, substr(s.r, i, n) COLLATE "C", 0, 1
          FROM s, generate_series(1, 6) n, generate_series(1, length(s.r) - n + 1) i),
  c AS (SELECT n, sum(in_h) AS ch, sum(in_r) AS cr FROM g GROUP BY n, gram),
  t AS (SELECT k, coalesce(sum(ch), 0) AS ch, coalesce(sum(cr), 0) AS cr,
               coalesce(sum(least(ch, cr)), 0) AS cm
          FROM generate_series(1, 6) k LEFT JOIN c ON c.n = k GROUP BY k)
  SELECT array_agg(x::bigint ORDER BY k, j) FROM t, LATERAL (VALUES (1, ch), (2, cr), (3, cm)) v(j, x)
$$;
CREATE FUNCTION pg_temp.chrf_add(st bigint[], hyp text, ref text) RETURNS bigint[] LANGUAGE sql IMMUTABLE AS $$
  SELECT array_agg(a + b ORDER BY i)
    FROM unnest(st, pg_temp.chrf_stats(coalesce(hyp, ''), ref)) WITH ORDINALITY u(a, b, i)
$$;
CREATE FUNCTION pg_temp.chrf_score(st bigint[]) RETURNS float8 LANGUAGE sql IMMUTABLE STRICT AS $$
  WITH o AS (SELECT st[3 * k + 3]::float8 / st[3 * k + 1] AS p, st[3 * k + 3]::float8 / st[3 * k + 2] AS r
               FROM generate_series(0, 5) k WHERE st[3 * k + 1] > 0 AND st[3 * k + 2] > 0),
       a AS (SELECT sum(p) / count(*) AS p, sum(r) / count(*) AS r FROM o)
  SELECT CASE WHEN p IS NULL OR p + r = 0 THEN 0 ELSE 100 * 5 * p * r / (4 * p + r) END FROM a
$$;
-- chrf(hypothesis, reference): the corpus chrF of the rows aggregated
CREATE AGGREGATE pg_temp.chrf(text, text) (
  sfunc = pg_temp.chrf_add, stype = bigint[], finalfunc = pg_temp.chrf_score,
  initcond = '{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0}');
SELECT round(pg_temp.chrf('The relationship between cats and dogs is not exactly friendly.',
                          'The relationship between dogs and cats is not exactly friendly.')::numeric, 4) AS chrf_example;

\echo '== the SQL chrF gives the Python chrF on PyTorch''s translations (every model, decode and bucket)'
CREATE TEMP TABLE translate_torch_chrf AS
SELECT e.model, d.decode, coalesce(p.bucket, 'all') AS bucket, count(*) AS sentences,
       pg_temp.chrf(CASE d.decode WHEN 'greedy' THEN e.greedy_text ELSE e.beam_text END, p.target) AS chrf
  FROM translate_expected e JOIN translate_pairs p USING (id)
       CROSS JOIN (VALUES ('greedy'), ('beam')) d(decode)
 GROUP BY GROUPING SETS ((e.model, d.decode, p.bucket), (e.model, d.decode));
SELECT count(*) AS scores_compared, max(abs(t.chrf - s.chrf)) < 1e-9 AS sql_chrf_equals_python,
       bool_and(t.sentences = s.sentences) AS same_sentences
  FROM translate_torch_chrf t JOIN translate_scores s USING (model, decode, bucket);

\echo '== chrF of the SQL translations, by model and source length in words (beam search, 4 beams)'
CREATE TEMP TABLE translate_chrf AS
SELECT s.model, d.decode, coalesce(p.bucket, 'all') AS bucket, count(*) AS sentences,
       pg_temp.chrf(CASE d.decode WHEN 'greedy' THEN s.greedy_text ELSE s.beam_text END, p.target) AS chrf
  FROM translate_sql s JOIN translate_pairs p USING (id)
       CROSS JOIN (VALUES ('greedy'), ('beam')) d(decode)
 GROUP BY GROUPING SETS ((s.model, d.decode, p.bucket), (s.model, d.decode));
SELECT c.model,
       round(max(chrf) FILTER (WHERE bucket = 'all')::numeric, 2) AS "all",
       round(max(chrf) FILTER (WHERE bucket = '1-5')::numeric, 2) AS "1-5",
       round(max(chrf) FILTER (WHERE bucket = '6-10')::numeric, 2) AS "6-10",
       round(max(chrf) FILTER (WHERE bucket = '11-15')::numeric, 2) AS "11-15",
       round(max(chrf) FILTER (WHERE bucket = '16+')::numeric, 2) AS "16+"
  FROM translate_chrf c JOIN translate_models m USING (model)
 WHERE decode = 'beam' GROUP BY c.model, m.ord ORDER BY m.ord;
\echo '== the same, greedy'
SELECT c.model,
       round(max(chrf) FILTER (WHERE bucket = 'all')::numeric, 2) AS "all",
       round(max(chrf) FILTER (WHERE bucket = '1-5')::numeric, 2) AS "1-5",
       round(max(chrf) FILTER (WHERE bucket = '6-10')::numeric, 2) AS "6-10",
       round(max(chrf) FILTER (WHERE bucket = '11-15')::numeric, 2) AS "11-15",
       round(max(chrf) FILTER (WHERE bucket = '16+')::numeric, 2) AS "16+"
  FROM translate_chrf c JOIN translate_models m USING (model)
 WHERE decode = 'greedy' GROUP BY c.model, m.ord ORDER BY m.ord;

\echo '== the SQL translations against PyTorch''s (text equal; and where every decision had a margin >= 1e-4)'
SELECT s.model,
       count(*) AS sentences,
       count(*) FILTER (WHERE s.greedy_text = e.greedy_text) AS greedy_equal,
       count(*) FILTER (WHERE e.greedy_min_margin >= 1e-4) AS greedy_clear,
       count(*) FILTER (WHERE e.greedy_min_margin >= 1e-4 AND s.greedy_text = e.greedy_text) AS greedy_clear_equal,
       count(*) FILTER (WHERE s.beam_text = e.beam_text) AS beam_equal,
       count(*) FILTER (WHERE e.beam_min_margin >= 1e-4) AS beam_clear,
       count(*) FILTER (WHERE e.beam_min_margin >= 1e-4 AND s.beam_text = e.beam_text) AS beam_clear_equal
  FROM translate_sql s JOIN translate_expected e USING (id, model) JOIN translate_models m USING (model)
 GROUP BY s.model, m.ord ORDER BY m.ord;

SELECT seqmodel.drop_model(model) FROM translate_models ORDER BY ord;
