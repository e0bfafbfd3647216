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
