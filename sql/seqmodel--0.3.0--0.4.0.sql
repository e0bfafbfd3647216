-- seqmodel 0.3.0 -> 0.4.0: text.  Tokenizers stored with their models, and
-- the SQL over text: tokenize / detokenize, classify / label, embed,
-- logprob / perplexity, generate, and score_query over a whole table.
-- A fresh CREATE EXTENSION runs 0.1.0 and every upgrade script after it.

\echo Use "ALTER EXTENSION seqmodel UPDATE TO '0.4.0'" to load this file. \quit

-------------------------------------------------------------------------------
-- Catalog: one tokenizer per model, stored as Hugging Face's tokenizer.json
-------------------------------------------------------------------------------

CREATE TABLE seqmodel.tokenizer (
    model      text PRIMARY KEY REFERENCES seqmodel.model (name) ON UPDATE CASCADE ON DELETE CASCADE,
    kind       text NOT NULL CHECK (kind IN ('bpe', 'wordpiece')),
    vocab_size integer NOT NULL CHECK (vocab_size > 0),
    definition text NOT NULL
);
COMMENT ON TABLE seqmodel.tokenizer IS 'the tokenizer of a model: kind (bpe: byte-level BPE, wordpiece), vocabulary size, and its definition as a Hugging Face tokenizer.json';
SELECT pg_catalog.pg_extension_config_dump('seqmodel.tokenizer', '');

-- a changed tokenizer is a changed model: the model gets a new version, so
-- every backend reloads it (the trigger function is the tensor table's: both
-- tables name their model in column "model")
CREATE TRIGGER tokenizer_insert AFTER INSERT ON seqmodel.tokenizer
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION seqmodel.tensor_changed();
CREATE TRIGGER tokenizer_update AFTER UPDATE ON seqmodel.tokenizer
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION seqmodel.tensor_changed();
CREATE TRIGGER tokenizer_delete AFTER DELETE ON seqmodel.tokenizer
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION seqmodel.tensor_changed();
CREATE TRIGGER tokenizer_truncate AFTER TRUNCATE ON seqmodel.tokenizer
    FOR EACH STATEMENT EXECUTE FUNCTION seqmodel.tensor_changed();

CREATE FUNCTION seqmodel.import_tokenizer(model text, tokenizer_json text) RETURNS integer
AS 'MODULE_PATHNAME', 'sm_import_tokenizer'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION seqmodel.import_tokenizer(text, text) IS
'store a Hugging Face tokenizer.json (byte-level BPE or WordPiece) as the tokenizer of a token model, replacing any it had; returns the vocabulary size';

CREATE FUNCTION seqmodel.import_tokenizer_bpe(model text, vocab_json text, merges text) RETURNS integer
AS 'MODULE_PATHNAME', 'sm_import_tokenizer_bpe'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION seqmodel.import_tokenizer_bpe(text, text, text) IS
'store a GPT-2 style byte-level BPE tokenizer from its vocab.json and merges.txt; returns the vocabulary size';

CREATE FUNCTION seqmodel.import_tokenizer_wordpiece(model text, vocab text, lowercase boolean DEFAULT true) RETURNS integer
AS 'MODULE_PATHNAME', 'sm_import_tokenizer_wordpiece'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION seqmodel.import_tokenizer_wordpiece(text, text, boolean) IS
'store a BERT WordPiece tokenizer from its vocab.txt (lowercase: the uncased models'' lower-casing and accent stripping); returns the vocabulary size';

-------------------------------------------------------------------------------
-- Text
-------------------------------------------------------------------------------

CREATE FUNCTION seqmodel.tokenize(model text, input text) RETURNS integer[]
AS 'MODULE_PATHNAME', 'sm_tokenize'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seqmodel.tokenize(text, text) IS
'the token ids of a text under the model''s tokenizer, with the special tokens the tokenizer adds (BERT: [CLS] ... [SEP]); never truncated';

CREATE FUNCTION seqmodel.tokenize(model text, input text, pair text) RETURNS integer[]
AS 'MODULE_PATHNAME', 'sm_tokenize_pair'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seqmodel.tokenize(text, text, text) IS
'the token ids of a pair of texts (BERT: [CLS] a [SEP] b [SEP]); see seqmodel.token_type_ids for their segments';

CREATE FUNCTION seqmodel.token_type_ids(model text, input text, pair text) RETURNS integer[]
AS 'MODULE_PATHNAME', 'sm_token_type_ids'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seqmodel.token_type_ids(text, text, text) IS
'the segment (token type) id of each token of seqmodel.tokenize(model, input, pair): 0 for the first text, 1 for the second';

CREATE FUNCTION seqmodel.detokenize(model text, ids integer[]) RETURNS text
AS 'MODULE_PATHNAME', 'sm_detokenize'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seqmodel.detokenize(text, integer[]) IS
'token ids back to text (special tokens left out)';

CREATE FUNCTION seqmodel.classify(model text, input text) RETURNS real[]
AS 'MODULE_PATHNAME', 'sm_classify'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seqmodel.classify(text, text) IS
'class probabilities (softmax of the classifier''s logits, in label id order) of a text under a sequence classifier';

CREATE FUNCTION seqmodel.classify(model text, input text, pair text) RETURNS real[]
AS 'MODULE_PATHNAME', 'sm_classify_pair'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seqmodel.classify(text, text, text) IS
'class probabilities of a pair of texts (a cross-encoder: [CLS] a [SEP] b [SEP] with segment ids)';

CREATE FUNCTION seqmodel.label(model text, input text) RETURNS text
AS 'MODULE_PATHNAME', 'sm_label'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seqmodel.label(text, text) IS
'the most likely class of a text: the config''s id2label name (LABEL_<id> when it has none)';

CREATE FUNCTION seqmodel.embed(model text, input text) RETURNS real[]
AS 'MODULE_PATHNAME', 'sm_embed'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seqmodel.embed(text, text) IS
'a text''s embedding: the final hidden states pooled as the config''s embedding_pooling says (cls, mean or last), L2-normalised when embedding_normalize is true';

CREATE FUNCTION seqmodel.logprob(model text, input text) RETURNS double precision
AS 'MODULE_PATHNAME', 'sm_logprob'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seqmodel.logprob(text, text) IS
'log-likelihood of a text under a decoder: the sum of the log-probabilities of its tokens, each given those before it (after bos_token_id when the config has one, so every token is scored)';

CREATE FUNCTION seqmodel.perplexity(model text, input text) RETURNS double precision
AS 'MODULE_PATHNAME', 'sm_perplexity'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seqmodel.perplexity(text, text) IS
'perplexity of a text under a decoder: exp of minus the mean log-probability of its scored tokens';

CREATE FUNCTION seqmodel.generate(model text, prompt text, max_tokens integer,
                                  temperature real DEFAULT 0, top_k integer DEFAULT 0,
                                  seed bigint DEFAULT NULL) RETURNS text
AS 'MODULE_PATHNAME', 'sm_generate_text'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION seqmodel.generate(text, text, integer, real, integer, bigint) IS
'continue a prompt with a decoder: at most max_tokens new tokens, stopping at end-of-text; greedy at temperature 0, else sampled (from the top_k most likely when top_k > 0), reproducible for a given seed; returns the continuation';

CREATE FUNCTION seqmodel.score_query(model text, task text, query text)
RETURNS TABLE (key text, output real[])
AS 'MODULE_PATHNAME', 'sm_score_query'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE ROWS 1000;  -- it runs a query of its own (which may itself use a parallel plan)
COMMENT ON FUNCTION seqmodel.score_query(text, text, text) IS
'run a task (classify, embed or logprob) over every (key, text) row of a query, many rows per matrix product; a NOTICE reports progress when seqmodel.progress is on';
