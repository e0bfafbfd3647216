-- seqmodel 0.4.0 -> 0.5.0: the compute layer (seqmodel's own CPU kernels
-- behind one compute seam, chosen by CPUID; GUC seqmodel.cpu_kernels), and
-- forecasts with times (forecast_query_<type>, forecast_table with times),
-- rolling-origin backtests (backtest), and the RNN encoder-decoder
-- (translate_ids, seq2seq_logprob_ids).
\echo Use "ALTER EXTENSION seqmodel UPDATE TO '0.5.0'" to load this file. \quit

CREATE FUNCTION seqmodel.compute_info(OUT backend text, OUT cpu_kernels text, OUT kernels text,
                                      OUT cpu text, OUT cpu_features text, OUT blas_core text,
                                      OUT blas_threads integer, OUT threads integer,
                                      OUT device text, OUT gpu text, OUT gpu_products bigint,
                                      OUT gpu_fallbacks bigint, OUT gpu_cached_bytes bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'sm_compute_info'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION seqmodel.compute_info() IS
'what runs the models in this backend: the backend (cpu or cuda), seqmodel.cpu_kernels and the kernel set it chose, the CPU''s brand and the features the kernels use (from CPUID), OpenBLAS''s own core choice and pool size, seqmodel.threads, seqmodel.device, the GPU (or why none is used), and the products sent to it, those computed on the CPU after a GPU error, and the weight bytes it holds';

CREATE FUNCTION seqmodel.forecast_query_timestamptz(model text, query text, horizon integer,
                                        freq interval DEFAULT NULL, quantiles real[] DEFAULT NULL,
                                        samples integer DEFAULT 100, seed bigint DEFAULT 0)
RETURNS TABLE (series text, step integer, "time" timestamptz, value real, quantile real, feature integer)
AS 'MODULE_PATHNAME', 'sm_forecast_query_time'
LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 1000;
COMMENT ON FUNCTION seqmodel.forecast_query_timestamptz(text, text, integer, interval, real[], integer, bigint) IS
'forecast every series a query returns as (series key, time, value) rows ordered by series and time, with timestamptz times: freq NULL infers each series'' regular frequency; each row carries the time of its step';

CREATE FUNCTION seqmodel.forecast_query_timestamp(model text, query text, horizon integer,
                                        freq interval DEFAULT NULL, quantiles real[] DEFAULT NULL,
                                        samples integer DEFAULT 100, seed bigint DEFAULT 0)
RETURNS TABLE (series text, step integer, "time" timestamp, value real, quantile real, feature integer)
AS 'MODULE_PATHNAME', 'sm_forecast_query_time'
LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 1000;
COMMENT ON FUNCTION seqmodel.forecast_query_timestamp(text, text, integer, interval, real[], integer, bigint) IS
'forecast every series a query returns as (series key, time, value) rows ordered by series and time, with timestamp times: freq NULL infers each series'' regular frequency; each row carries the time of its step';

CREATE FUNCTION seqmodel.forecast_query_date(model text, query text, horizon integer,
                                        freq interval DEFAULT NULL, quantiles real[] DEFAULT NULL,
                                        samples integer DEFAULT 100, seed bigint DEFAULT 0)
RETURNS TABLE (series text, step integer, "time" date, value real, quantile real, feature integer)
AS 'MODULE_PATHNAME', 'sm_forecast_query_time'
LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 1000;
COMMENT ON FUNCTION seqmodel.forecast_query_date(text, text, integer, interval, real[], integer, bigint) IS
'forecast every series a query returns as (series key, time, value) rows ordered by series and time, with date times: freq NULL infers each series'' regular frequency; each row carries the time of its step';

CREATE FUNCTION seqmodel.forecast_query_bigint(model text, query text, horizon integer,
                                        freq bigint DEFAULT NULL, quantiles real[] DEFAULT NULL,
                                        samples integer DEFAULT 100, seed bigint DEFAULT 0)
RETURNS TABLE (series text, step integer, "time" bigint, value real, quantile real, feature integer)
AS 'MODULE_PATHNAME', 'sm_forecast_query_time'
LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 1000;
COMMENT ON FUNCTION seqmodel.forecast_query_bigint(text, text, integer, bigint, real[], integer, bigint) IS
'forecast every series a query returns as (series key, time, value) rows ordered by series and time, with bigint times: freq NULL infers each series'' regular frequency; each row carries the time of its step';

CREATE FUNCTION seqmodel.forecast_table(model text, history real[], times timestamptz[], horizon integer,
                                        freq interval DEFAULT NULL, quantiles real[] DEFAULT NULL,
                                        samples integer DEFAULT 100, seed bigint DEFAULT 0)
RETURNS TABLE (step integer, "time" timestamptz, value real, quantile real, feature integer)
AS 'MODULE_PATHNAME', 'sm_forecast_table_time'
LANGUAGE C STABLE PARALLEL SAFE ROWS 100;
COMMENT ON FUNCTION seqmodel.forecast_table(text, real[], timestamptz[], integer, interval, real[], integer, bigint) IS
'forecast of one series at the given timestamptz times (one per step of the history) as rows with the time of each step: freq NULL infers the frequency';

CREATE FUNCTION seqmodel.forecast_table(model text, history real[], times timestamp[], horizon integer,
                                        freq interval DEFAULT NULL, quantiles real[] DEFAULT NULL,
                                        samples integer DEFAULT 100, seed bigint DEFAULT 0)
RETURNS TABLE (step integer, "time" timestamp, value real, quantile real, feature integer)
AS 'MODULE_PATHNAME', 'sm_forecast_table_time'
LANGUAGE C STABLE PARALLEL SAFE ROWS 100;
COMMENT ON FUNCTION seqmodel.forecast_table(text, real[], timestamp[], integer, interval, real[], integer, bigint) IS
'forecast of one series at the given timestamp times (one per step of the history) as rows with the time of each step: freq NULL infers the frequency';

CREATE FUNCTION seqmodel.forecast_table(model text, history real[], times date[], horizon integer,
                                        freq interval DEFAULT NULL, quantiles real[] DEFAULT NULL,
                                        samples integer DEFAULT 100, seed bigint DEFAULT 0)
RETURNS TABLE (step integer, "time" date, value real, quantile real, feature integer)
AS 'MODULE_PATHNAME', 'sm_forecast_table_time'
LANGUAGE C STABLE PARALLEL SAFE ROWS 100;
COMMENT ON FUNCTION seqmodel.forecast_table(text, real[], date[], integer, interval, real[], integer, bigint) IS
'forecast of one series at the given date times (one per step of the history) as rows with the time of each step: freq NULL infers the frequency';

CREATE FUNCTION seqmodel.forecast_table(model text, history real[], times bigint[], horizon integer,
                                        freq bigint DEFAULT NULL, quantiles real[] DEFAULT NULL,
                                        samples integer DEFAULT 100, seed bigint DEFAULT 0)
RETURNS TABLE (step integer, "time" bigint, value real, quantile real, feature integer)
AS 'MODULE_PATHNAME', 'sm_forecast_table_time'
LANGUAGE C STABLE PARALLEL SAFE ROWS 100;
COMMENT ON FUNCTION seqmodel.forecast_table(text, real[], bigint[], integer, bigint, real[], integer, bigint) IS
'forecast of one series at the given bigint times (one per step of the history) as rows with the time of each step: freq NULL infers the frequency';

CREATE FUNCTION seqmodel.backtest(model text, query text, horizon integer,
                                  origins integer DEFAULT 1, stride integer DEFAULT NULL,
                                  season integer DEFAULT 1, quantiles real[] DEFAULT NULL,
                                  samples integer DEFAULT 100, seed bigint DEFAULT 0)
RETURNS TABLE (series text, origin integer, cutoff integer, feature integer,
               actual real[], forecast real[], mae float8, rmse float8, mape float8,
               smape float8, mase float8, naive_mae float8, pinball float8,
               intervals real[], coverage float8[])
AS 'MODULE_PATHNAME', 'sm_backtest'
LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 1000;
COMMENT ON FUNCTION seqmodel.backtest(text, text, integer, integer, integer, integer, real[], integer, bigint) IS
'rolling-origin backtest of every series a query returns as (series key, value) rows ordered by series and time: per series, origin and feature the forecast of horizon steps from the history before the origin against the actuals, with MAE, RMSE, MAPE, sMAPE, MASE and the seasonal naive forecast''s MAE (season), and for quantile forecasts the pinball loss and the coverage of each central interval; one batched forecast per origin';

-- States kept per series (issue 14, part 1): a state table holds, per model
-- and series, the recurrent state after the rows consumed so far, tied to
-- the model's version (src/pg/state.c).
CREATE FUNCTION seqmodel.state_create(state_table text, time_type regtype DEFAULT 'timestamptz')
RETURNS regclass
LANGUAGE plpgsql VOLATILE STRICT AS $$
DECLARE
    qname text;
BEGIN
    IF time_type NOT IN ('pg_catalog.timestamptz'::pg_catalog.regtype, 'pg_catalog.timestamp'::pg_catalog.regtype,
                         'pg_catalog.date'::pg_catalog.regtype, 'pg_catalog.int8'::pg_catalog.regtype) THEN
        RAISE EXCEPTION 'time_type must be timestamptz, timestamp, date or bigint, not %', time_type
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Integer times of any width go into a bigint state table.';
    END IF;
    SELECT pg_catalog.string_agg(pg_catalog.quote_ident(p), '.' ORDER BY o) INTO qname
      FROM pg_catalog.unnest(pg_catalog.parse_ident(state_table)) WITH ORDINALITY AS u(p, o);
    EXECUTE pg_catalog.format(
        'CREATE TABLE %s (series pg_catalog.text NOT NULL, model pg_catalog.text NOT NULL, '
        'model_version pg_catalog.int8 NOT NULL, last_time %s NOT NULL, '
        'steps pg_catalog.int8 NOT NULL CHECK (steps >= 0), state pg_catalog.float4[] NOT NULL, '
        'PRIMARY KEY (model, series))', qname, time_type);
    RETURN qname::pg_catalog.regclass;
END
$$;
COMMENT ON FUNCTION seqmodel.state_create(text, regtype) IS
'create a state table: per model and series the model version, the time of the last row consumed, the steps consumed and the recurrent state (h, then c, of every layer), primary key (model, series)';

CREATE FUNCTION seqmodel.state_update(model text, state_table regclass, query text, strict boolean DEFAULT false,
                                      OUT updated_series bigint, OUT new_rows bigint, OUT skipped_rows bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'sm_state_update'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION seqmodel.state_update(text, regclass, text, boolean) IS
'advance the stored states of every series a query returns as (series key, time, value) rows ordered by series and time by its rows newer than the state''s last_time (older rows are skipped, or with strict an error); a series without a state starts from zero; the rows are locked, the model version is checked';

CREATE FUNCTION seqmodel.state_rebuild(model text, state_table regclass, query text,
                                       OUT updated_series bigint, OUT new_rows bigint, OUT skipped_rows bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'sm_state_rebuild'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION seqmodel.state_rebuild(text, regclass, text) IS
'recompute from a zero state, at the model''s current version, the state of every series a query returns as (series key, time, value) rows ordered by series and time, over all its rows';

CREATE FUNCTION seqmodel.forecast_from_state(model text, state_table regclass, horizon integer,
                                             series_keys text[] DEFAULT NULL, quantiles real[] DEFAULT NULL,
                                             samples integer DEFAULT 100, seed bigint DEFAULT 0)
RETURNS TABLE (series text, step integer, value real, quantile real, feature integer)
AS 'MODULE_PATHNAME', 'sm_forecast_from_state'
LANGUAGE C STABLE PARALLEL SAFE ROWS 1000;
COMMENT ON FUNCTION seqmodel.forecast_from_state(text, regclass, integer, text[], real[], integer, bigint) IS
'forecast every series with a state in the state table (or those in series_keys) from its stored state, as forecast_query would from its whole history; rows as forecast_query''s';

CREATE FUNCTION seqmodel.state_trigger() RETURNS trigger
AS 'MODULE_PATHNAME', 'sm_state_trigger'
LANGUAGE C;
COMMENT ON FUNCTION seqmodel.state_trigger() IS
'trigger AFTER INSERT ... REFERENCING NEW TABLE AS ... FOR EACH STATEMENT, arguments (model, state table [, series column, time column, value column]): the inserted readings advance the states (strict: a reading not newer than its state is an error)';

CREATE FUNCTION seqmodel.translate_ids(model text, source integer[], options jsonb DEFAULT '{}')
RETURNS integer[]
AS 'MODULE_PATHNAME', 'sm_translate_ids'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seqmodel.translate_ids(text, integer[], jsonb) IS
'decode a source sequence of token ids with an encoder-decoder model (arch rnn_seq2seq): greedy, or beam search as Hugging Face''s generate defines it; options num_beams (1: greedy), max_new_tokens (default: the config''s max_length), length_penalty, early_stopping, no_repeat_ngram_size; returns the target ids without sos and eos';

CREATE FUNCTION seqmodel.seq2seq_logprob_ids(model text, source integer[], target integer[])
RETURNS float8
AS 'MODULE_PATHNAME', 'sm_seq2seq_logprob_ids'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seqmodel.seq2seq_logprob_ids(text, integer[], integer[]) IS
'the log-likelihood of a target sequence given a source under an encoder-decoder model (arch rnn_seq2seq), teacher forced from the config''s sos_token_id: the sum over target tokens of log P(target[t] | source, target[1..t-1]), in double precision; include eos in target to score the end';

-------------------------------------------------------------------------------
-- Who may do what (issue 15, part 9): owners, per-model use, roles, RLS
-------------------------------------------------------------------------------

-- Two group roles (NOLOGIN).  Roles belong to the cluster, not to a
-- database, and this script may run in several databases: each is created
-- only if missing (an existing role of that name is used as it is), and
-- DROP EXTENSION never drops them (the privileges below go with the
-- extension's objects).  The extension is not trusted, so only a superuser
-- runs this script.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'seqmodel_user') THEN
        CREATE ROLE seqmodel_user NOLOGIN;
        COMMENT ON ROLE seqmodel_user IS 'seqmodel: may run the models it owns or was granted (seqmodel.grant_use)';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'seqmodel_importer') THEN
        CREATE ROLE seqmodel_importer NOLOGIN;
        COMMENT ON ROLE seqmodel_importer IS 'seqmodel: may also import models, and replace, drop and grant those it owns';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m
                    WHERE m.roleid OPERATOR(pg_catalog.=) 'seqmodel_user'::pg_catalog.regrole
                      AND m.member OPERATOR(pg_catalog.=) 'seqmodel_importer'::pg_catalog.regrole) THEN
        GRANT seqmodel_user TO seqmodel_importer;
    END IF;
END
$$;

-- Every model has an owner: the role that imported it.  Models that exist
-- when this script runs (an upgrade) get the catalog table's owner, the
-- role that created the extension unless it was changed, and a use grant
-- to PUBLIC (below), so every role that could run them before still can.
-- The constant default fills existing rows without firing the version
-- trigger, so their caches stay valid.
DO $$
BEGIN
    EXECUTE pg_catalog.format(
        'ALTER TABLE seqmodel.model ADD COLUMN owner pg_catalog.regrole NOT NULL DEFAULT %L::pg_catalog.oid::pg_catalog.regrole',
        (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) 'seqmodel.model'::pg_catalog.regclass));
END
$$;
ALTER TABLE seqmodel.model ALTER COLUMN owner SET DEFAULT pg_catalog.to_regrole(pg_catalog.quote_ident(CURRENT_USER));
COMMENT ON COLUMN seqmodel.model.owner IS 'the role that imported the model: it, roles with its privileges and superusers may replace, drop and grant it';

-- Per-model use: a row lets the grantee (and every role with its
-- privileges) see the model's rows and run it; grantee 0 (shown as -) is
-- PUBLIC.  grantor is the model's owner at the time of the grant.
CREATE TABLE seqmodel.model_grant (
    model   text NOT NULL REFERENCES seqmodel.model (name) ON UPDATE CASCADE ON DELETE CASCADE,
    grantee pg_catalog.regrole NOT NULL,
    grantor pg_catalog.regrole NOT NULL,
    PRIMARY KEY (model, grantee)
);
COMMENT ON TABLE seqmodel.model_grant IS 'per-model use grants (seqmodel.grant_use / revoke_use): grantee may run the model; grantee 0 (-) is PUBLIC; grantor is the model''s owner';
SELECT pg_catalog.pg_extension_config_dump('seqmodel.model_grant', '');

INSERT INTO seqmodel.model_grant (model, grantee, grantor)
SELECT name, 0::pg_catalog.oid::pg_catalog.regrole, owner FROM seqmodel.model;

-- Row-level security: a role sees (and so runs, exports, reads the weights
-- of) only the models it has the privileges of the owner of, or was
-- granted, or that are granted to PUBLIC; it writes only the rows of models
-- whose owner's privileges it has.  The tensor and tokenizer rows follow
-- their model row (the subqueries on seqmodel.model are themselves
-- filtered by its policy).  Superusers and the tables' owner bypass RLS.
ALTER TABLE seqmodel.model ENABLE ROW LEVEL SECURITY;
ALTER TABLE seqmodel.tensor ENABLE ROW LEVEL SECURITY;
ALTER TABLE seqmodel.tokenizer ENABLE ROW LEVEL SECURITY;
ALTER TABLE seqmodel.model_grant ENABLE ROW LEVEL SECURITY;

CREATE POLICY model_use ON seqmodel.model FOR SELECT
    USING (pg_catalog.pg_has_role(owner, 'USAGE')
           OR EXISTS (SELECT 1 FROM seqmodel.model_grant g
                       WHERE g.model OPERATOR(pg_catalog.=) model.name
                         AND (g.grantee::pg_catalog.oid OPERATOR(pg_catalog.=) 0::pg_catalog.oid
                              OR pg_catalog.pg_has_role(g.grantee, 'USAGE'))));
CREATE POLICY model_insert ON seqmodel.model FOR INSERT
    WITH CHECK (pg_catalog.pg_has_role(owner, 'USAGE'));
CREATE POLICY model_update ON seqmodel.model FOR UPDATE
    USING (pg_catalog.pg_has_role(owner, 'USAGE'))
    WITH CHECK (pg_catalog.pg_has_role(owner, 'USAGE'));
CREATE POLICY model_delete ON seqmodel.model FOR DELETE
    USING (pg_catalog.pg_has_role(owner, 'USAGE'));

CREATE POLICY tensor_use ON seqmodel.tensor FOR SELECT
    USING (EXISTS (SELECT 1 FROM seqmodel.model m WHERE m.name OPERATOR(pg_catalog.=) tensor.model));
CREATE POLICY tensor_write ON seqmodel.tensor FOR ALL
    USING (EXISTS (SELECT 1 FROM seqmodel.model m WHERE m.name OPERATOR(pg_catalog.=) tensor.model
                                                    AND pg_catalog.pg_has_role(m.owner, 'USAGE')))
    WITH CHECK (EXISTS (SELECT 1 FROM seqmodel.model m WHERE m.name OPERATOR(pg_catalog.=) tensor.model
                                                         AND pg_catalog.pg_has_role(m.owner, 'USAGE')));

CREATE POLICY tokenizer_use ON seqmodel.tokenizer FOR SELECT
    USING (EXISTS (SELECT 1 FROM seqmodel.model m WHERE m.name OPERATOR(pg_catalog.=) tokenizer.model));
CREATE POLICY tokenizer_write ON seqmodel.tokenizer FOR ALL
    USING (EXISTS (SELECT 1 FROM seqmodel.model m WHERE m.name OPERATOR(pg_catalog.=) tokenizer.model
                                                    AND pg_catalog.pg_has_role(m.owner, 'USAGE')))
    WITH CHECK (EXISTS (SELECT 1 FROM seqmodel.model m WHERE m.name OPERATOR(pg_catalog.=) tokenizer.model
                                                         AND pg_catalog.pg_has_role(m.owner, 'USAGE')));

-- a grant is visible to its grantee, to everyone when it is to PUBLIC, and
-- to the owner (grantor); its policy must not read seqmodel.model, whose
-- policy reads this table
CREATE POLICY model_grant_read ON seqmodel.model_grant FOR SELECT
    USING (grantee::pg_catalog.oid OPERATOR(pg_catalog.=) 0::pg_catalog.oid
           OR pg_catalog.pg_has_role(grantee, 'USAGE')
           OR pg_catalog.pg_has_role(grantor, 'USAGE'));
-- (the write policies are per command: one FOR ALL would apply to SELECT too)
CREATE POLICY model_grant_insert ON seqmodel.model_grant FOR INSERT
    WITH CHECK (EXISTS (SELECT 1 FROM seqmodel.model m WHERE m.name OPERATOR(pg_catalog.=) model_grant.model
                                                         AND m.owner::pg_catalog.oid OPERATOR(pg_catalog.=) model_grant.grantor::pg_catalog.oid
                                                         AND pg_catalog.pg_has_role(m.owner, 'USAGE')));
CREATE POLICY model_grant_delete ON seqmodel.model_grant FOR DELETE
    USING (EXISTS (SELECT 1 FROM seqmodel.model m WHERE m.name OPERATOR(pg_catalog.=) model_grant.model
                                                    AND pg_catalog.pg_has_role(m.owner, 'USAGE')));

-- The models view runs with the caller's rights (a view otherwise reads its
-- tables as the view's owner, past RLS), and shows the owner.
CREATE OR REPLACE VIEW seqmodel.models WITH (security_invoker = true) AS
SELECT m.name,
       m.arch,
       coalesce(t.parameters, 0) AS parameters,
       coalesce(t.bytes, 0) AS bytes,
       coalesce(t.tensors, 0) AS tensors,
       m.config,
       m.version,
       m.created,
       m.owner
  FROM seqmodel.model m
  LEFT JOIN (SELECT model,
                    pg_catalog.sum(seqmodel.numel(shape)) FILTER (WHERE chunk = 0)::bigint AS parameters,
                    pg_catalog.sum(pg_catalog.octet_length(data))::bigint AS bytes,
                    pg_catalog.count(*) FILTER (WHERE chunk = 0) AS tensors
               FROM seqmodel.tensor
              GROUP BY model) t ON t.model OPERATOR(pg_catalog.=) m.name;
COMMENT ON VIEW seqmodel.models IS 'one row per model the caller may use: arch, parameter count, stored bytes, tensor count, config, version, owner';

CREATE FUNCTION seqmodel.grant_use(model text, grantee text) RETURNS boolean
AS 'MODULE_PATHNAME', 'sm_grant_use'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION seqmodel.grant_use(text, text) IS
'let a role (a role name, or public) see and run a model; only its owner, roles with the owner''s privileges and superusers may; returns false if it was granted already';

CREATE FUNCTION seqmodel.revoke_use(model text, grantee text) RETURNS boolean
AS 'MODULE_PATHNAME', 'sm_revoke_use'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION seqmodel.revoke_use(text, text) IS
'take back a use grant of grant_use; returns false if there was none';

-- What the two roles may do.  Recorded as the objects' initial privileges,
-- so pg_dump leaves them to CREATE EXTENSION.
GRANT USAGE ON SCHEMA seqmodel TO seqmodel_user;
GRANT SELECT ON seqmodel.model, seqmodel.tensor, seqmodel.tokenizer, seqmodel.model_grant, seqmodel.models
    TO seqmodel_user;
GRANT INSERT, UPDATE, DELETE ON seqmodel.model, seqmodel.tensor, seqmodel.tokenizer TO seqmodel_importer;
GRANT INSERT, DELETE ON seqmodel.model_grant TO seqmodel_importer;
GRANT USAGE ON SEQUENCE seqmodel.model_version_seq TO seqmodel_importer;
-- the function itself also requires the privileges of pg_read_server_files
GRANT EXECUTE ON FUNCTION seqmodel.import_safetensors_file(text, text, jsonb, text, boolean) TO seqmodel_importer;

-- Covariates (issue 14, part 3): forecasts of models whose input holds
-- covariates besides the targets, the future covariates given for the horizon.
CREATE FUNCTION seqmodel.forecast(model text, history real[], horizon integer, future real[])
RETURNS real[]
AS 'MODULE_PATHNAME', 'sm_forecast_future'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seqmodel.forecast(text, real[], integer, real[]) IS
'point forecast of the next horizon steps of a model with future covariates: history [T][input_size] (targets and covariates of each step), future [steps][n_future] the covariates known ahead (config future_covariates order; at least horizon rows) -> [horizon][targets]';

CREATE FUNCTION seqmodel.forecast_table_future(model text, history real[], horizon integer, future real[],
                                               quantiles real[] DEFAULT NULL, samples integer DEFAULT 100,
                                               seed bigint DEFAULT 0)
RETURNS TABLE (step integer, value real, quantile real, feature integer)
AS 'MODULE_PATHNAME', 'sm_forecast_table_future'
LANGUAGE C STABLE PARALLEL SAFE ROWS 100;
COMMENT ON FUNCTION seqmodel.forecast_table_future(text, real[], integer, real[], real[], integer, bigint) IS
'forecast_table for a model with future covariates: one row per step and target (feature = its input feature, from 1) with quantile NULL for the point forecast, plus one row per quantile; future [steps][n_future] the covariates known ahead';

CREATE FUNCTION seqmodel.forecast_query_future(model text, query text, horizon integer, future_query text,
                                               quantiles real[] DEFAULT NULL, samples integer DEFAULT 100,
                                               seed bigint DEFAULT 0)
RETURNS TABLE (series text, step integer, value real, quantile real, feature integer)
AS 'MODULE_PATHNAME', 'sm_forecast_query_future'
LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 1000;
COMMENT ON FUNCTION seqmodel.forecast_query_future(text, text, integer, text, real[], integer, bigint) IS
'forecast_query for a model with future covariates: query returns (series key, value real[]) history rows ordered by series and time, future_query (series key, step, covariates as one real[] or one number column each) rows in any order, one for every series and step 1 .. horizon (later steps are ignored)';

-- One copy of the weights per cluster (issue 15, part 1; src/pg/shared_cache.c):
-- with seqmodel in shared_preload_libraries and seqmodel.shared_cache_size
-- > 0, every backend runs the cluster's one copy of a model.  cache_info
-- says which of a backend's models are that copy.
DROP FUNCTION seqmodel.cache_info();
CREATE FUNCTION seqmodel.cache_info(OUT model text, OUT arch text, OUT version bigint,
                                    OUT bytes bigint, OUT hits bigint,
                                    OUT loaded_at timestamptz, OUT last_used timestamptz,
                                    OUT load_ms float8, OUT shared boolean)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'sm_cache_info'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION seqmodel.cache_info() IS
'the models this backend holds in memory, most recently used first; shared: the model is the shared cache''s copy (bytes then counts only what this backend holds of its own, a tokenizer)';

CREATE FUNCTION seqmodel.shared_cache_info(OUT model text, OUT version bigint, OUT state text, OUT bytes bigint, OUT readers integer,
                                           OUT hits bigint, OUT loaded_at timestamptz,
                                           OUT last_used timestamptz, OUT load_ms float8)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'sm_shared_cache_info'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION seqmodel.shared_cache_info() IS
'the models in the shared cache (none without it): state (loading, ready, retired: a replaced or evicted copy still read), bytes of shared memory, readers (transactions pinning it now), uses, load time';

CREATE FUNCTION seqmodel.shared_cache_stats(OUT enabled boolean, OUT size_bytes bigint,
                                            OUT used_bytes bigint, OUT models bigint,
                                            OUT builds bigint, OUT evictions bigint,
                                            OUT fallbacks bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'sm_shared_cache_stats'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION seqmodel.shared_cache_stats() IS
'the shared cache: whether it is on, its size and use in bytes, models held, builds, evictions, and fallbacks (a backend kept its own copy for want of room)';

-------------------------------------------------------------------------------
-- SentencePiece tokenizers, and separate source and target tokenizers
-- (encoder-decoder models such as Marian keep two vocabularies)
-------------------------------------------------------------------------------

-- kinds: bpe (byte-level BPE, GPT-2), wordpiece (BERT), unigram
-- (SentencePiece unigram), sentencepiece_bpe (SentencePiece's BPE: merges by
-- piece score over characters, not byte-level)
ALTER TABLE seqmodel.tokenizer DROP CONSTRAINT tokenizer_kind_check;
ALTER TABLE seqmodel.tokenizer ADD CONSTRAINT tokenizer_kind_check
    CHECK (kind IN ('bpe', 'wordpiece', 'unigram', 'sentencepiece_bpe'));
-- the target side; all three NULL: the one tokenizer serves both sides.
-- The row's RLS policies and its version triggers cover these columns too:
-- a changed target tokenizer is a new model version.
ALTER TABLE seqmodel.tokenizer
    ADD COLUMN target_kind text CHECK (target_kind IN ('bpe', 'wordpiece', 'unigram', 'sentencepiece_bpe')),
    ADD COLUMN target_vocab_size integer CHECK (target_vocab_size > 0),
    ADD COLUMN target_definition text,
    ADD CONSTRAINT tokenizer_target_check
        CHECK ((target_kind IS NULL) = (target_definition IS NULL) AND (target_kind IS NULL) = (target_vocab_size IS NULL));
COMMENT ON TABLE seqmodel.tokenizer IS 'the tokenizer of a model: kind (bpe: byte-level BPE, wordpiece, unigram: SentencePiece unigram, sentencepiece_bpe: SentencePiece BPE), vocabulary size, and its definition as a Hugging Face tokenizer.json; an encoder-decoder may have a separate target tokenizer (target_* columns, NULL: the one tokenizer serves both sides)';
COMMENT ON COLUMN seqmodel.tokenizer.definition IS 'the (source) tokenizer as a Hugging Face tokenizer.json; one made from a SentencePiece .model has a member seqmodel_sentencepiece with what spm needs beyond that schema';
COMMENT ON COLUMN seqmodel.tokenizer.target_kind IS 'kind of the separate target tokenizer of an encoder-decoder, or NULL';
COMMENT ON COLUMN seqmodel.tokenizer.target_vocab_size IS 'vocabulary size of the separate target tokenizer, or NULL';
COMMENT ON COLUMN seqmodel.tokenizer.target_definition IS 'the separate target tokenizer as a tokenizer.json, or NULL (the one tokenizer serves both sides)';

DROP FUNCTION seqmodel.import_tokenizer(text, text);
CREATE FUNCTION seqmodel.import_tokenizer(model text, tokenizer_json text, target_tokenizer_json text DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'sm_import_tokenizer'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION seqmodel.import_tokenizer(text, text, text) IS
'store a Hugging Face tokenizer.json (byte-level BPE, WordPiece, or one made from a SentencePiece model) as the tokenizer of a token model or an encoder-decoder, replacing any it had; target_tokenizer_json: a separate target tokenizer (encoder-decoders only; NULL: one for both sides); returns the (source) vocabulary size; NULL if model or tokenizer_json is NULL';

CREATE FUNCTION seqmodel.import_tokenizer_sentencepiece(model text, source_spm bytea, target_spm bytea DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'sm_import_tokenizer_sentencepiece'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION seqmodel.import_tokenizer_sentencepiece(text, bytea, bytea) IS
'store SentencePiece tokenizers (.model files, unigram or BPE) as the tokenizer of a model, stored as tokenizer.json, replacing any it had; target_spm: a separate target tokenizer (encoder-decoders such as Marian; NULL: source_spm serves both sides); returns the source vocabulary size; NULL if model or source_spm is NULL';

CREATE FUNCTION seqmodel.tokenize_target(model text, input text) RETURNS integer[]
AS 'MODULE_PATHNAME', 'sm_tokenize_target'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seqmodel.tokenize_target(text, text) IS
'the token ids of a text under the target side''s tokenizer of an encoder-decoder (its separate target tokenizer, else its one tokenizer), with the special tokens it adds (SentencePiece: </s>)';

CREATE FUNCTION seqmodel.detokenize_target(model text, ids integer[]) RETURNS text
AS 'MODULE_PATHNAME', 'sm_detokenize_target'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seqmodel.detokenize_target(text, integer[]) IS
'target token ids (translate_ids'' output) back to text under the target side''s tokenizer, special tokens left out';

-------------------------------------------------------------------------------
-- Translation: text in, text out, for every encoder-decoder (rnn_seq2seq,
-- transformer_seq2seq, marian, bart), through the model's source and target
-- tokenizers
-------------------------------------------------------------------------------

COMMENT ON FUNCTION seqmodel.translate_ids(text, integer[], jsonb) IS
'decode a source sequence of token ids with an encoder-decoder model (archs rnn_seq2seq, transformer_seq2seq, marian, bart): greedy, sampled, or beam search as Hugging Face''s generate defines them; options num_beams (1: greedy), max_new_tokens (default from the config), length_penalty, early_stopping, no_repeat_ngram_size, temperature, top_k, seed; returns the target ids without the start token and eos';

CREATE FUNCTION seqmodel.translate(model text, source text, options jsonb DEFAULT '{}')
RETURNS text
AS 'MODULE_PATHNAME', 'sm_translate'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seqmodel.translate(text, text, jsonb) IS
'translate (transform, summarise) a text with an encoder-decoder model: the source through its source tokenizer, decoded as translate_ids does (the same options), the target ids back to text by its target tokenizer without special tokens';

CREATE FUNCTION seqmodel.logprob(model text, source text, target text) RETURNS double precision
AS 'MODULE_PATHNAME', 'sm_logprob_target'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seqmodel.logprob(text, text, text) IS
'log-likelihood of a target text given a source text under an encoder-decoder (teacher forcing; the target''s tokens as its tokenizer makes them, its end included): for reranking and evaluating translations';

CREATE FUNCTION seqmodel.translate_query(model text, query text, options jsonb DEFAULT '{}')
RETURNS TABLE (key text, translation text)
AS 'MODULE_PATHNAME', 'sm_translate_query'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE ROWS 1000;  -- it runs a query of its own
COMMENT ON FUNCTION seqmodel.translate_query(text, text, jsonb) IS
'translate every (key, source text) row of a query, up to 64 sources (and their beams) decoded together; the options of translate; a NOTICE reports progress when seqmodel.progress is on';

-- generation over the decoder interface: decoder-only models get beam search
-- (and the other decoding options of translate); an encoder-decoder translates
CREATE FUNCTION seqmodel.generate(model text, prompt text, options jsonb DEFAULT '{}') RETURNS text
AS 'MODULE_PATHNAME', 'sm_generate_options'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seqmodel.generate(text, text, jsonb) IS
'continue a prompt with a decoder (or translate it with an encoder-decoder) under the decoding options of translate: num_beams, max_new_tokens (default 50), length_penalty, early_stopping, no_repeat_ngram_size (the prompt counts), temperature, top_k, seed; returns the continuation';

-- The GPU's life in a backend (issue "CUDA offload"): give it back, see it.
CREATE FUNCTION seqmodel.gpu_release()
RETURNS boolean
AS 'MODULE_PATHNAME', 'sm_gpu_release'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION seqmodel.gpu_release() IS
'free this backend''s GPU memory now (the models'' weights on the GPU, its buffers and its CUDA context) and its seqmodel.gpu_max_backends slot; true when it held the GPU; the next GPU use opens it again';

CREATE FUNCTION seqmodel.device_info(OUT device text, OUT gpu text, OUT gpu_precision text,
                                     OUT holds_context boolean, OUT slot integer,
                                     OUT gpu_max_backends integer, OUT weights_bytes bigint,
                                     OUT buffer_bytes bigint, OUT cache_limit_bytes bigint,
                                     OUT gpu_free_bytes bigint, OUT gpu_total_bytes bigint,
                                     OUT products bigint, OUT fallbacks bigint,
                                     OUT last_error text, OUT models jsonb)
RETURNS record
AS 'MODULE_PATHNAME', 'sm_device_info'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION seqmodel.device_info() IS
'this backend and the GPU: seqmodel.device, the GPU (or why none is used), seqmodel.gpu_precision, whether it holds a CUDA context and which seqmodel.gpu_max_backends slot, the weight and buffer bytes it keeps on the GPU against seqmodel.gpu_cache_size, the GPU''s free and total memory, products sent and fallen back to the CPU, the last GPU error, and the cached models with their bytes on the GPU';
