-- seqmodel 0.2.0 -> 0.3.0: transformers (archs transformer, gpt2, bert) and
-- the SQL for token models.  A fresh CREATE EXTENSION runs 0.1.0 and every
-- upgrade script after it.

\echo Use "ALTER EXTENSION seqmodel UPDATE TO '0.3.0'" to load this file. \quit

COMMENT ON FUNCTION seqmodel.predict(text, real[]) IS
'run a model: arch linear takes one vector (1-D) or one per row (2-D); rnn, lstm, gru and transformer (numeric input) take one sequence (1-D: T steps of one feature, 2-D: T x input_size) and give the output at the last step (a transformer: its pooled output through its head)';

CREATE FUNCTION seqmodel.forward(model text, ids integer[]) RETURNS real[]
AS 'MODULE_PATHNAME', 'sm_forward'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seqmodel.forward(text, integer[]) IS
'run a token model (gpt2, bert, transformer with vocab_size) over one sequence of token ids: per-token rows (L x width: hidden states or logits) or one sequence row (pooled or classifier output), as the model''s config says';

CREATE FUNCTION seqmodel.logprob_ids(model text, ids integer[]) RETURNS double precision
AS 'MODULE_PATHNAME', 'sm_logprob_ids'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seqmodel.logprob_ids(text, integer[]) IS
'sum over t of log P(ids[t+1] | ids[1..t]) under a decoder (gpt2): the sequence''s log-likelihood after its first token';
