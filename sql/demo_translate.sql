-- demo_translate: the translation demo as a test.  test/data/demo_translate.sql
-- (also run by test/demo) translates 870 held-out English message-catalog
-- strings into German with three models trained in PyTorch (a GRU
-- encoder-decoder without attention, one with Bahdanau attention, a small
-- transformer) and one SentencePiece tokenizer, scores them with chrF in SQL
-- and compares the translations with PyTorch's.  Then, stricter, by token
-- ids: every greedy and beam-search output whose decisions all had a margin
-- of at least 1e-4 in PyTorch is PyTorch's, and the teacher-forced
-- log-likelihood of every reference translation is PyTorch's within 1e-4
-- (relative).
\getenv abs_srcdir PG_ABS_SRCDIR
\set demo :abs_srcdir '/test/data/demo_translate.sql'
\i :demo

\echo '== by ids: PyTorch''s greedy and beam outputs (decisions with a margin >= 1e-4) and log-likelihoods'
SELECT m.model,
       seqmodel.import_safetensors(m.model, m.arch,
           pg_read_file(:'datadir' || m.model || '.json')::jsonb,
           pg_read_binary_file(:'datadir' || m.model || '.safetensors')) AS parameters
  FROM translate_models m ORDER BY m.ord;
SELECT count(*) AS tokenizers_imported
  FROM (SELECT seqmodel.import_tokenizer_sentencepiece(model, pg_read_binary_file(:'spm'))
          FROM translate_models) t;
CREATE TEMP TABLE translate_ids AS
SELECT e.id, e.model,
       seqmodel.translate_ids(e.model, e.source_ids,
                              jsonb_build_object('max_new_tokens', e.max_new_tokens)) AS greedy_ids,
       seqmodel.translate_ids(e.model, e.source_ids,
                              jsonb_build_object('max_new_tokens', e.max_new_tokens, 'num_beams', 4)) AS beam_ids,
       seqmodel.seq2seq_logprob_ids(e.model, e.source_ids, e.target_ids) AS logprob
  FROM translate_expected e JOIN translate_models m USING (model);
SELECT i.model,
       count(*) FILTER (WHERE e.greedy_min_margin >= 1e-4) AS greedy_compared,
       coalesce(bool_and(i.greedy_ids = e.greedy_ids) FILTER (WHERE e.greedy_min_margin >= 1e-4), false)
         AS greedy_ids_match,
       count(*) FILTER (WHERE e.beam_min_margin >= 1e-4) AS beam_compared,
       coalesce(bool_and(i.beam_ids = e.beam_ids) FILTER (WHERE e.beam_min_margin >= 1e-4), false)
         AS beam_ids_match,
       count(*) AS logprobs_compared,
       max(abs(i.logprob - e.logprob) / abs(e.logprob)) < 1e-4 AS logprob_matches
  FROM translate_ids i JOIN translate_expected e USING (id, model) JOIN translate_models m USING (model)
 GROUP BY i.model, m.ord ORDER BY m.ord;
-- translate (text) is translate_ids on the tokenizer's ids, decoded
SELECT s.model, bool_and(seqmodel.detokenize_target(s.model, i.beam_ids) = s.beam_text) AS text_is_decoded_ids
  FROM translate_sql s JOIN translate_ids i USING (id, model) JOIN translate_models m USING (model)
 GROUP BY s.model, m.ord ORDER BY m.ord;
SELECT seqmodel.drop_model(model) FROM translate_models ORDER BY ord;
