-- tokenizer_spm: SentencePiece tokenizers (.model files, made by
-- test/fixtures/gen_spm_fixtures.sh with spm_train) imported into an
-- encoder-decoder, one tokenizer for both sides or separate source and
-- target tokenizers; their ids against python3-sentencepiece's (the edge-case
-- texts of the fixtures; every corpus line is checked by the unit tests);
-- the catalog rows, the version bump; then every error with its SQLSTATE.
\getenv abs_srcdir PG_ABS_SRCDIR
\set spmdir :abs_srcdir '/test/fixtures/tok/spm/'

-- an rnn_seq2seq of width 1 with all weights zero and the vocabularies the
-- tokenizers need: source 2000, target 1000
CREATE FUNCTION spm_s2s(vs int, v int) RETURNS bytea LANGUAGE plpgsql AS $$
DECLARE
    hdr text[] := '{}';
    off bigint := 0;
    k text;
    shp jsonb;
    n bigint;
BEGIN
    FOR k, shp IN SELECT key, value FROM jsonb_each(jsonb_build_object(
            'encoder.embedding.weight', jsonb_build_array(vs, 1),
            'encoder.gru.weight_ih_l0', '[3, 1]'::jsonb, 'encoder.gru.weight_hh_l0', '[3, 1]'::jsonb,
            'encoder.gru.bias_ih_l0', '[3]'::jsonb, 'encoder.gru.bias_hh_l0', '[3]'::jsonb,
            'decoder.embedding.weight', jsonb_build_array(v, 1),
            'decoder.gru.weight_ih_l0', '[3, 1]'::jsonb, 'decoder.gru.weight_hh_l0', '[3, 1]'::jsonb,
            'decoder.gru.bias_ih_l0', '[3]'::jsonb, 'decoder.gru.bias_hh_l0', '[3]'::jsonb,
            'decoder.out.weight', jsonb_build_array(v, 1), 'decoder.out.bias', jsonb_build_array(v)))
        ORDER BY key LOOP
        n := seqmodel.numel(ARRAY(SELECT jsonb_array_elements_text(shp)::int));
        hdr := hdr || format('"%s":{"dtype":"F32","shape":%s,"data_offsets":[%s,%s]}', k, shp, off, off + 4 * n);
        off := off + 4 * n;
    END LOOP;
    RETURN make_safetensors('{' || array_to_string(hdr, ',') || '}', decode(repeat('00', off::int), 'hex'));
END
$$;
SELECT seqmodel.import_safetensors('spm_s2s', 'rnn_seq2seq',
       '{"source_vocab_size": 2000, "target_vocab_size": 1000, "hidden_size": 1, "attention": "none", "sos_token_id": 1, "eos_token_id": 2, "max_length": 4}',
       spm_s2s(2000, 1000)) AS parameters;

-- ---------------------------------------------------------------- one tokenizer for both sides
SELECT seqmodel.import_tokenizer_sentencepiece('spm_s2s', pg_read_binary_file(:'spmdir' || 'unigram_500.model')) AS vocab;
SELECT kind, vocab_size, target_kind, target_vocab_size, target_definition IS NULL AS no_target,
       definition::jsonb #>> '{model,type}' AS hf_model, definition::jsonb #>> '{model,seqmodel_sentencepiece,model_type}' AS spm_model,
       definition::jsonb #>> '{pre_tokenizer,type}' AS pre_tokenizer, definition::jsonb #>> '{post_processor,single,1,SpecialToken,id}' AS appended
  FROM seqmodel.tokenizer WHERE model = 'spm_s2s';
SELECT seqmodel.tokenize('spm_s2s', 'Hello world.') AS ids;
SELECT seqmodel.detokenize('spm_s2s', seqmodel.tokenize('spm_s2s', '  Hello   world.  ')) AS text;
SELECT seqmodel.tokenize_target('spm_s2s', 'Hello world.') = seqmodel.tokenize('spm_s2s', 'Hello world.') AS target_is_source;
SELECT seqmodel.detokenize_target('spm_s2s', '{1, 175, 106, 75, 0, 2}') AS target_text;

-- spm's own ids for the fixtures' edge-case texts (hex; the ones SQL text can
-- hold: valid UTF-8 without NUL), plus the appended </s>
CREATE TABLE spm_edge (model text, n int, input text, ids int[]);
INSERT INTO spm_edge
SELECT m, e.n, convert_from(decode(split_part(e.line, E'\t', 1), 'hex'), 'UTF8'),
       ('{' || replace(split_part(e.line, E'\t', 2), ' ', ',') || '}')::int[]
  FROM unnest(ARRAY['unigram_500', 'bpe_bf', 'unigram_ud']) AS m,
       LATERAL unnest(string_to_array(rtrim(pg_read_file(:'spmdir' || m || '.edge.tsv'), E'\n'), E'\n'))
               WITH ORDINALITY AS e(line, n)
 WHERE e.n <= 37 AND split_part(e.line, E'\t', 1) NOT LIKE '00%';
SELECT model, count(*) AS texts FROM spm_edge GROUP BY model ORDER BY model;
SELECT count(*) FILTER (WHERE seqmodel.tokenize('spm_s2s', input) = ids || 2) AS exact, count(*) AS texts
  FROM spm_edge WHERE model = 'unigram_500';

-- ---------------------------------------------------------------- separate source and target
SELECT version AS v1 FROM seqmodel.model WHERE name = 'spm_s2s' \gset
SELECT seqmodel.import_tokenizer_sentencepiece('spm_s2s', pg_read_binary_file(:'spmdir' || 'bpe_bf.model'),
                                               pg_read_binary_file(:'spmdir' || 'unigram_ud.model')) AS vocab;
SELECT version > :v1 AS new_version FROM seqmodel.model WHERE name = 'spm_s2s';
SELECT kind, vocab_size, target_kind, target_vocab_size,
       target_definition::jsonb #>> '{model,seqmodel_sentencepiece,piece_types,user_defined}' AS target_user_defined
  FROM seqmodel.tokenizer WHERE model = 'spm_s2s';
SELECT count(*) FILTER (WHERE seqmodel.tokenize('spm_s2s', input) = ids || 2) AS exact, count(*) AS texts
  FROM spm_edge WHERE model = 'bpe_bf';
SELECT count(*) FILTER (WHERE seqmodel.tokenize_target('spm_s2s', input) = ids || 2) AS exact, count(*) AS texts
  FROM spm_edge WHERE model = 'unigram_ud';
-- byte fallback on the source side: emoji and CJK as bytes, and back
SELECT seqmodel.tokenize('spm_s2s', 'Grüße 😀 漢') AS source_ids;
SELECT seqmodel.detokenize('spm_s2s', seqmodel.tokenize('spm_s2s', 'Grüße 😀 漢')) AS source_text;
-- user-defined pieces on the target side
SELECT seqmodel.tokenize_target('spm_s2s', 'see http://x <mask> a b') AS target_ids;
SELECT seqmodel.detokenize_target('spm_s2s', seqmodel.tokenize_target('spm_s2s', 'see http://x <mask> a b')) AS target_text;
-- the encoder-decoder's output read with the target tokenizer
SELECT seqmodel.detokenize_target('spm_s2s', seqmodel.translate_ids('spm_s2s', seqmodel.tokenize('spm_s2s', 'Hello'))) AS translated;

-- the stored tokenizer.json files read back and imported again: the same ids
SELECT seqmodel.import_tokenizer('spm_s2s', definition, target_definition) AS vocab FROM seqmodel.tokenizer WHERE model = 'spm_s2s';
SELECT target_kind FROM seqmodel.tokenizer WHERE model = 'spm_s2s';
SELECT count(*) FILTER (WHERE seqmodel.tokenize_target('spm_s2s', input) = ids || 2) AS exact, count(*) AS texts
  FROM spm_edge WHERE model = 'unigram_ud';

-- a changed target tokenizer is a new version; without one the target side is the source's
SELECT version AS v2 FROM seqmodel.model WHERE name = 'spm_s2s' \gset
UPDATE seqmodel.tokenizer SET target_kind = NULL, target_vocab_size = NULL, target_definition = NULL WHERE model = 'spm_s2s';
SELECT version > :v2 AS new_version FROM seqmodel.model WHERE name = 'spm_s2s';
SELECT seqmodel.tokenize_target('spm_s2s', 'Hello world.') = seqmodel.tokenize('spm_s2s', 'Hello world.') AS target_is_source;
SELECT seqmodel.import_tokenizer('spm_s2s', NULL) IS NULL AS null_json, seqmodel.import_tokenizer_sentencepiece(NULL, '\x00') IS NULL AS null_model;

-- ---------------------------------------------------------------- errors
\set VERBOSITY default
SELECT seqmodel.import_tokenizer_sentencepiece('spm_s2s', '\x0102');                 -- not a ModelProto
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_tokenizer_sentencepiece('spm_s2s', substring(pg_read_binary_file(:'spmdir' || 'unigram_500.model') FROM 1 FOR 1000));
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_tokenizer_sentencepiece('spm_s2s', '\x0a090a053c756e6b3e18020a030a016112021803');  -- model type WORD
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_tokenizer_sentencepiece('spm_s2s', pg_read_binary_file(:'spmdir' || 'bpe_bf.model'), '\x0a');  -- a bad target
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_tokenizer_sentencepiece('spm_s2s', pg_read_binary_file(:'spmdir' || 'unigram_4k.model'));  -- 4000 pieces, source vocabulary 2000
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_tokenizer_sentencepiece('spm_s2s', pg_read_binary_file(:'spmdir' || 'bpe_bf.model'));  -- one for both: target vocabulary 1000
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_tokenizer_sentencepiece('spm_s2s', pg_read_binary_file(:'spmdir' || 'unigram_500.model'), pg_read_binary_file(:'spmdir' || 'bpe_bf.model'));
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_tokenizer_sentencepiece('no_such_model', pg_read_binary_file(:'spmdir' || 'unigram_500.model'));
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_tokenizer('spm_s2s', '{"model": {"seqmodel_sentencepiece": {"model_type": "word"}}}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.detokenize_target('spm_s2s', '{5, 2000}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('spm_lin', 'linear', '{"in_features": 2, "out_features": 1}', ramp_linear(2, 1, 0)) AS parameters;
SELECT seqmodel.import_tokenizer_sentencepiece('spm_lin', pg_read_binary_file(:'spmdir' || 'unigram_500.model'));
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_tokenizer_sentencepiece('spm_lin', pg_read_binary_file(:'spmdir' || 'unigram_500.model'), pg_read_binary_file(:'spmdir' || 'unigram_500.model'));
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.tokenize_target('spm_lin', 'no tokenizer');
\echo :LAST_ERROR_SQLSTATE
-- only the model's owner may change its tokenizers
CREATE ROLE seqmodel_spm_stranger IN ROLE seqmodel_importer;
SELECT seqmodel.grant_use('spm_s2s', 'seqmodel_spm_stranger');
CREATE TABLE spm_file AS SELECT pg_read_binary_file(:'spmdir' || 'unigram_500.model') AS bytes;
GRANT SELECT ON spm_file TO seqmodel_spm_stranger;
SET ROLE seqmodel_spm_stranger;
SELECT seqmodel.tokenize('spm_s2s', 'may use') AS ids;
SELECT seqmodel.import_tokenizer_sentencepiece('spm_s2s', bytes) FROM spm_file;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT seqmodel.revoke_use('spm_s2s', 'seqmodel_spm_stranger');
DROP TABLE spm_file;
DROP ROLE seqmodel_spm_stranger;

-- ---------------------------------------------------------------- Hugging Face tokenizer.json Unigram files
-- The variants of test/fixtures/tok/hf_unigram/variants.json, built here as
-- gen_hf_unigram_fixtures.js builds them: the stored tokenizer.json of a
-- SentencePiece fixture model without its member seqmodel_sentencepiece (so
-- that Hugging Face's semantics apply, as for a file from the Hub), with the
-- variant's top-level members replaced and its added tokens appended.  Their
-- ids (with the template's special tokens) and decodes (skipping them)
-- against npm tokenizers@0.23.2 for the edge-case texts; every corpus line is
-- checked by the unit tests.
\set hfdir :abs_srcdir '/test/fixtures/tok/hf_unigram/'
SELECT set_config('hf_test.spmdir', :'spmdir', false) IS NOT NULL AS set;
SELECT seqmodel.import_safetensors('hf_s2s', 'rnn_seq2seq',
       '{"source_vocab_size": 4002, "target_vocab_size": 4002, "hidden_size": 1, "attention": "none", "sos_token_id": 1, "eos_token_id": 2, "max_length": 4}',
       spm_s2s(4002, 4002)) AS parameters;
CREATE TABLE hf_variant AS
SELECT v.n, v.v ->> 'name' AS name, v.v ->> 'base' AS base, v.v -> 'set' AS set, v.v -> 'add' AS add
  FROM jsonb_array_elements(pg_read_file(:'hfdir' || 'variants.json')::jsonb -> 'variants') WITH ORDINALITY AS v(v, n);
CREATE TABLE hf_base (base text PRIMARY KEY, definition jsonb);
DO $$
DECLARE
    b text;
BEGIN
    FOR b IN SELECT DISTINCT base FROM hf_variant ORDER BY 1 LOOP
        PERFORM seqmodel.import_tokenizer_sentencepiece('hf_s2s', pg_read_binary_file(current_setting('hf_test.spmdir') || b || '.model'));
        INSERT INTO hf_base SELECT b, definition::jsonb FROM seqmodel.tokenizer WHERE model = 'hf_s2s';
    END LOOP;
END
$$;
CREATE FUNCTION hf_variant_json(v hf_variant) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    d jsonb := (SELECT definition FROM hf_base WHERE base = v.base) #- '{model,seqmodel_sentencepiece}';
    cm jsonb := jsonb_path_query_first(d -> 'normalizer', 'strict $.**.precompiled_charsmap');
    next int;
    a jsonb;
BEGIN
    IF v.set IS NOT NULL THEN
        d := d || replace(v.set::text, '"$base"', coalesce(cm::text, 'null'))::jsonb;
    END IF;
    IF v.add IS NOT NULL THEN   -- Unigram vocabularies: [piece, score] pairs, ids in order
        SELECT greatest(jsonb_array_length(d #> '{model,vocab}'), max((t ->> 'id')::int) + 1) INTO next
          FROM jsonb_array_elements(d -> 'added_tokens') AS t;
    END IF;
    FOR a IN SELECT jsonb_array_elements(coalesce(v.add, '[]')) LOOP
        d := jsonb_set(d, '{added_tokens}', (d -> 'added_tokens') || jsonb_set(a, '{id}', to_jsonb(next)));
        next := next + 1;
    END LOOP;
    RETURN d::text;
END
$$;
CREATE TABLE hf_edge (name text, n int, input text, ids int[], decoded text);
INSERT INTO hf_edge
SELECT v.name, e.n, convert_from(decode(split_part(e.line, E'\t', 1), 'hex'), 'UTF8'),
       ('{' || replace(split_part(e.line, E'\t', 3), ' ', ',') || '}')::int[],
       replace(replace(replace(replace(split_part(e.line, E'\t', 5), '\\', chr(1)), '\n', E'\n'), '\t', E'\t'), chr(1), '\')
  FROM hf_variant AS v,
       LATERAL unnest(string_to_array(rtrim(pg_read_file(:'hfdir' || v.name || '.edge.tsv'), E'\n'), E'\n'))
               WITH ORDINALITY AS e(line, n)
 WHERE position('\x00'::bytea IN decode(split_part(e.line, E'\t', 1), 'hex')) = 0
   AND position('\0' IN replace(split_part(e.line, E'\t', 5), '\\', '')) = 0;
CREATE TABLE hf_result (name text, kind text, exact_ids bigint, exact_decodes bigint, texts bigint);
DO $$
DECLARE
    v hf_variant;
BEGIN
    FOR v IN SELECT * FROM hf_variant ORDER BY n LOOP
        PERFORM seqmodel.import_tokenizer('hf_s2s', hf_variant_json(v));
        INSERT INTO hf_result
        SELECT v.name, (SELECT kind FROM seqmodel.tokenizer WHERE model = 'hf_s2s'),
               count(*) FILTER (WHERE seqmodel.tokenize('hf_s2s', input) = ids),
               count(*) FILTER (WHERE seqmodel.detokenize('hf_s2s', ids) = decoded), count(*)
          FROM hf_edge WHERE name = v.name;
    END LOOP;
END
$$;
SELECT r.* FROM hf_result AS r JOIN hf_variant AS v USING (name) ORDER BY v.n;
-- the T5-shaped variant, as a user would import it, and read back from the catalog
SELECT seqmodel.import_tokenizer('hf_s2s', hf_variant_json(v)) AS vocab FROM hf_variant AS v WHERE name = 't5';
SELECT kind, vocab_size, definition::jsonb #>> '{model,type}' AS hf_model,
       definition::jsonb #> '{model}' ? 'seqmodel_sentencepiece' AS ours,
       definition::jsonb #>> '{pre_tokenizer,pretokenizers,1,type}' AS pre_tokenizer
  FROM seqmodel.tokenizer WHERE model = 'hf_s2s';
SELECT seqmodel.tokenize('hf_s2s', 'Hello   world.  ') AS ids;
SELECT seqmodel.detokenize('hf_s2s', seqmodel.tokenize('hf_s2s', 'Hello   world.  ')) AS text;
-- ASCII-only vocabulary: unknown characters fused into one <unk>, accents lost
-- inside a grapheme as HF loses them
SELECT seqmodel.import_tokenizer('hf_s2s', hf_variant_json(v)) AS vocab FROM hf_variant AS v WHERE name = 'unigram_500';
SELECT seqmodel.tokenize('hf_s2s', 'Grüße 漢字 ａ' || chr(769)) AS ids;
SELECT seqmodel.detokenize('hf_s2s', seqmodel.tokenize('hf_s2s', 'Grüße 漢字 ａ' || chr(769))) AS text;

-- errors
SELECT seqmodel.import_tokenizer('hf_s2s', '{"model": {"type": "Unigram", "unk_id": 0, "vocab": []}}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_tokenizer('hf_s2s', '{"model": {"type": "Unigram", "unk_id": 3, "vocab": [["a", -1]]}}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_tokenizer('hf_s2s', '{"model": {"type": "Unigram", "unk_id": 0, "vocab": [["a", "x"]]}}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_tokenizer('hf_s2s', '{"normalizer": {"type": "NFKC"}, "model": {"type": "Unigram", "unk_id": 0, "vocab": [["a", -1]]}}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_tokenizer('hf_s2s', '{"normalizer": {"type": "Replace", "pattern": {"Regex": "(?<=a)b"}, "content": ""}, "model": {"type": "Unigram", "unk_id": 0, "vocab": [["a", -1]]}}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_tokenizer('hf_s2s', '{"normalizer": {"type": "Replace", "pattern": {"Regex": "[a-"}, "content": ""}, "model": {"type": "Unigram", "unk_id": 0, "vocab": [["a", -1]]}}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_tokenizer('hf_s2s', '{"pre_tokenizer": {"type": "Metaspace", "replacement": "__"}, "model": {"type": "Unigram", "unk_id": 0, "vocab": [["a", -1]]}}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_tokenizer('hf_s2s', '{"decoder": {"type": "CTC"}, "model": {"type": "Unigram", "unk_id": 0, "vocab": [["a", -1]]}}');
\echo :LAST_ERROR_SQLSTATE
-- no unk_id: a character the vocabulary lacks cannot be tokenized
SELECT seqmodel.import_tokenizer('hf_s2s', '{"model": {"type": "Unigram", "unk_id": null, "vocab": [["a", -1], ["b", -2]]}}') AS vocab;
SELECT seqmodel.tokenize('hf_s2s', 'abba') AS ids;
SELECT seqmodel.tokenize('hf_s2s', 'abc');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.drop_model('hf_s2s');
DROP FUNCTION hf_variant_json(hf_variant);
DROP TABLE hf_result, hf_edge, hf_base, hf_variant;

SELECT seqmodel.drop_model(name) FROM seqmodel.model WHERE name IN ('spm_s2s', 'spm_lin') ORDER BY name;
SELECT count(*) AS spm_tokenizers_left FROM seqmodel.tokenizer WHERE model IN ('spm_s2s', 'spm_lin');
DROP TABLE spm_edge;
DROP FUNCTION spm_s2s(int, int);
