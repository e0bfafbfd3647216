-- Language identification on real text: a small BERT classifier trained in
-- PyTorch (test/data/train_langid.py) on the translated strings of Debian's
-- gettext catalogs, with its own WordPiece tokenizer (a Hugging Face
-- tokenizer.json).  Labels 300 held-out strings of 10 languages
-- (test/data/langid_samples.csv) in SQL, and checks the result against
-- PyTorch's (test/data/langid_expected.csv): the same token ids, the same
-- labels and the same probabilities.  The files are read by the server
-- (pg_read_file), from $PG_ABS_SRCDIR/test/data as pg_regress sets it, else
-- from psql's working directory (run psql from the repository root).
\set ON_ERROR_STOP on
\pset footer off
\getenv abs_srcdir PG_ABS_SRCDIR
\if :{?abs_srcdir}
\else
\set abs_srcdir `pwd`
\endif
\set datadir :abs_srcdir '/test/data/'
\set samples_csv :datadir 'langid_samples.csv'
\set expected_csv :datadir 'langid_expected.csv'
\set weights :datadir 'langid.safetensors'
\set cfgfile :datadir 'langid_config.json'
\set tokfile :datadir 'langid_tokenizer.json'

\echo '== load the held-out samples (test/data/langid_samples.csv) and PyTorch''s results'
CREATE TEMP TABLE langid_samples (id int PRIMARY KEY, lang text NOT NULL, text text NOT NULL);
COPY langid_samples FROM :'samples_csv' WITH (FORMAT csv, HEADER true);
CREATE TEMP TABLE langid_expected (id int PRIMARY KEY, label text NOT NULL,
                                   probs real[] NOT NULL, ids int[] NOT NULL);
COPY langid_expected FROM :'expected_csv' WITH (FORMAT csv, HEADER true);
SELECT lang, count(*) AS samples FROM langid_samples GROUP BY lang ORDER BY lang;

\echo '== import the model (Hugging Face BERT names and config) and its tokenizer'
SELECT seqmodel.import_safetensors('langid', 'bert', pg_read_file(:'cfgfile')::jsonb,
                                   pg_read_binary_file(:'weights'));
SELECT seqmodel.import_tokenizer('langid', pg_read_file(:'tokfile'));
-- the labels, in label-id order (the order of classify's probabilities)
CREATE TEMP TABLE langid_labels AS
SELECT key::int + 1 AS k, value AS label
  FROM jsonb_each_text(pg_read_file(:'cfgfile')::jsonb -> 'id2label');
SELECT string_agg(label, ' ' ORDER BY k) AS labels FROM langid_labels;

\echo '== the tokenizer: text to ids and back'
SELECT seqmodel.tokenize('langid', 'Die Datei konnte nicht geöffnet werden') AS ids;
SELECT seqmodel.detokenize('langid',
         seqmodel.tokenize('langid', 'Die Datei konnte nicht geöffnet werden')) AS text;
-- the same ids as the Python tokenizer the model was trained with, on every sample
SELECT count(*) AS samples,
       count(*) FILTER (WHERE seqmodel.tokenize('langid', s.text) = e.ids) AS same_ids,
       count(*) = 300 AND bool_and(seqmodel.tokenize('langid', s.text) = e.ids) AS tokens_match_pytorch
  FROM langid_samples s JOIN langid_expected e USING (id);

\echo '== the model reads at most 128 tokens: longer samples keep their first 126 and [SEP]'
SELECT count(*) FILTER (WHERE cardinality(seqmodel.tokenize('langid', text)) > 128) AS longer_than_128,
       max(cardinality(seqmodel.tokenize('langid', text))) AS longest
  FROM langid_samples;
SET seqmodel.truncation = truncate;    -- the default, error, refuses them (PyTorch truncated them too)

\echo '== label and probabilities of every sample, one row at a time'
CREATE TEMP TABLE langid_sql AS
SELECT id, seqmodel.label('langid', text) AS label, seqmodel.classify('langid', text) AS probs
  FROM langid_samples;
SELECT s.id, s.lang, q.label,
       round((SELECT max(p) FROM unnest(q.probs) AS p)::numeric, 2) AS p,
       left(s.text, 60) AS text
  FROM langid_samples s JOIN langid_sql q USING (id)
 WHERE s.id % 30 IN (2, 17)
 ORDER BY s.id;

\echo '== accuracy on the 300 held-out samples (PyTorch: 0.970)'
SELECT count(*) AS samples,
       count(*) FILTER (WHERE q.label = s.lang) AS correct,
       round(avg((q.label = s.lang)::int), 3) AS accuracy,
       avg((q.label = s.lang)::int) >= 0.95 AS accuracy_at_least_95
  FROM langid_samples s JOIN langid_sql q USING (id);

\echo '== per language: what the mistakes were taken for'
SELECT lang,
       sum(n) AS samples,
       coalesce(sum(n) FILTER (WHERE label = lang), 0) AS correct,
       coalesce(string_agg(label || ' ' || n, ', ' ORDER BY n DESC, label)
                  FILTER (WHERE label <> lang), '') AS mistaken_for
  FROM (SELECT s.lang, q.label, count(*) AS n
          FROM langid_samples s JOIN langid_sql q USING (id)
         GROUP BY s.lang, q.label) c
 GROUP BY lang ORDER BY lang;

\echo '== the same labels and probabilities as PyTorch (test/data/langid_expected.csv)?'
SELECT count(*) AS samples,
       count(*) FILTER (WHERE q.label = e.label) AS same_label,
       count(*) = 300 AND bool_and(q.label = e.label) AS labels_match_pytorch,
       count(*) = 300 AND bool_and(cardinality(q.probs) = 10) AND max(d.diff) < 1e-4
         AS probs_match_pytorch
  FROM langid_sql q JOIN langid_expected e USING (id),
       LATERAL (SELECT max(abs(a::float8 - b)) AS diff FROM unnest(q.probs, e.probs) AS u(a, b)) d;
-- label is the argmax of classify
SELECT bool_and(q.label = l.label) AS label_is_argmax_of_classify
  FROM langid_sql q,
       LATERAL (SELECT k FROM unnest(q.probs) WITH ORDINALITY AS u(p, k)
                 ORDER BY p DESC, k LIMIT 1) m
  JOIN langid_labels l USING (k);

\echo '== all samples in one call: score_query batches rows across the query'
CREATE TEMP TABLE langid_batch AS
SELECT t.id, t.lang, s.output
  FROM seqmodel.score_query('langid', 'classify', 'SELECT id, text FROM langid_samples') s
  JOIN langid_samples t ON t.id::text = s.key;
SELECT count(*) AS samples,
       round(avg((l.label = b.lang)::int), 3) AS accuracy,
       bool_and(l.label = q.label) AS same_labels_as_row_by_row,
       count(*) = 300 AND max(d.diff) < 1e-5 AS same_probs_as_row_by_row
  FROM langid_batch b
  JOIN langid_sql q USING (id),
       LATERAL (SELECT k FROM unnest(b.output) WITH ORDINALITY AS u(p, k)
                 ORDER BY p DESC, k LIMIT 1) m
  JOIN langid_labels l USING (k),
       LATERAL (SELECT max(abs(a::float8 - c)) AS diff FROM unnest(b.output, q.probs) AS u(a, c)) d;
SELECT l.label, count(*) AS samples
  FROM langid_batch b,
       LATERAL (SELECT k FROM unnest(b.output) WITH ORDINALITY AS u(p, k)
                 ORDER BY p DESC, k LIMIT 1) m
  JOIN langid_labels l USING (k)
 GROUP BY l.label ORDER BY l.label;

\echo '== sentences typed here'
SELECT n, sentence, seqmodel.label('langid', sentence) AS label,
       round((SELECT max(p) FROM unnest(seqmodel.classify('langid', sentence)) AS p)::numeric, 2) AS p
  FROM (VALUES (1, 'Die Datei konnte nicht geöffnet werden'),
               (2, 'Could not open the file'),
               (3, 'No se pudo abrir el archivo'),
               (4, 'Impossible d''ouvrir le fichier'),
               (5, 'Impossibile aprire il file'),
               (6, 'ファイルを開けませんでした'),
               (7, 'Het bestand kon niet worden geopend'),
               (8, 'Nie można otworzyć pliku'),
               (9, 'Não foi possível abrir o arquivo'),
               (10, 'Не удалось открыть файл')) AS v(n, sentence)
 ORDER BY n;

RESET seqmodel.truncation;
SELECT seqmodel.drop_model('langid');
