-- seqmodel 0.1.0 -> 0.2.0: recurrent models (archs rnn, lstm, gru) and the
-- forecasting SQL.  A fresh CREATE EXTENSION runs 0.1.0 then this script.

\echo Use "ALTER EXTENSION seqmodel UPDATE TO '0.2.0'" to load this file. \quit

COMMENT ON FUNCTION seqmodel.predict(text, real[]) IS
'run a model: arch linear takes one vector (1-D) or one per row (2-D); rnn, lstm and gru take one sequence (1-D: T steps of one feature, 2-D: T x input_size) and give the output at the last step';

CREATE FUNCTION seqmodel.predict_steps(model text, input real[]) RETURNS real[]
AS 'MODULE_PATHNAME', 'sm_predict_steps'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seqmodel.predict_steps(text, real[]) IS
'run a recurrent model over one sequence; the output at every step, T x width';

CREATE FUNCTION seqmodel.forecast(model text, history real[], horizon integer) RETURNS real[]
AS 'MODULE_PATHNAME', 'sm_forecast'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seqmodel.forecast(text, real[], integer) IS
'point forecast of the next horizon steps of one series (1-D history: one value per step; 2-D: T x input_size)';

CREATE FUNCTION seqmodel.forecast_table(model text, history real[], horizon integer,
                                        quantiles real[] DEFAULT NULL,
                                        samples integer DEFAULT 100, seed bigint DEFAULT 0)
RETURNS TABLE (step integer, value real, quantile real, feature integer)
AS 'MODULE_PATHNAME', 'sm_forecast_table'
LANGUAGE C STABLE PARALLEL SAFE ROWS 100;
COMMENT ON FUNCTION seqmodel.forecast_table(text, real[], integer, real[], integer, bigint) IS
'forecast of one series as rows: the point forecast (quantile NULL) and, for quantile or gaussian heads, the requested quantiles';

CREATE FUNCTION seqmodel.forecast_query(model text, query text, horizon integer,
                                        quantiles real[] DEFAULT NULL,
                                        samples integer DEFAULT 100, seed bigint DEFAULT 0)
RETURNS TABLE (series text, step integer, value real, quantile real, feature integer)
AS 'MODULE_PATHNAME', 'sm_forecast_query'
LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 1000;
COMMENT ON FUNCTION seqmodel.forecast_query(text, text, integer, real[], integer, bigint) IS
'forecast every series a query returns as (series key, value) rows ordered by series and time, in batches';

CREATE FUNCTION seqmodel.forecast_agg_step(internal, text, real, integer) RETURNS internal
AS 'MODULE_PATHNAME', 'sm_forecast_agg_step'
LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION seqmodel.forecast_agg_step(internal, text, real, integer) IS 'transition function of forecast_agg(text, real, integer)';
CREATE FUNCTION seqmodel.forecast_agg_array_step(internal, text, real[], integer) RETURNS internal
AS 'MODULE_PATHNAME', 'sm_forecast_agg_array_step'
LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION seqmodel.forecast_agg_array_step(internal, text, real[], integer) IS 'transition function of forecast_agg(text, real[], integer)';
CREATE FUNCTION seqmodel.forecast_agg_final(internal) RETURNS real[]
AS 'MODULE_PATHNAME', 'sm_forecast_agg_final'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION seqmodel.forecast_agg_final(internal) IS 'final function of forecast_agg';

CREATE AGGREGATE seqmodel.forecast_agg(model text, value real, horizon integer) (
    SFUNC = seqmodel.forecast_agg_step,
    STYPE = internal,
    FINALFUNC = seqmodel.forecast_agg_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE seqmodel.forecast_agg(text, real, integer) IS
'point forecast of the series aggregated (use ORDER BY time inside the call): real[horizon]';
CREATE AGGREGATE seqmodel.forecast_agg(model text, value real[], horizon integer) (
    SFUNC = seqmodel.forecast_agg_array_step,
    STYPE = internal,
    FINALFUNC = seqmodel.forecast_agg_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE seqmodel.forecast_agg(text, real[], integer) IS
'point forecast of a multi-feature series (rows of input_size values, ORDER BY time): real[horizon][input_size]';
