-- rnn: archs rnn, lstm, gru against PyTorch (test/fixtures/gen_rnn_fixtures.py):
-- predict, predict_steps and forecast on every fixture case, within 1e-5.
\getenv abs_srcdir PG_ABS_SRCDIR
\set rnndir :abs_srcdir '/test/fixtures/rnn/'
\set f :rnndir 'rnn_models.sql'
\i :f
\set f :rnndir 'rnn_io.sql'
\i :f

SELECT count(*) AS models, sum(seqmodel.import_safetensors(model, arch, config, pg_read_binary_file(:'rnndir' || file))) > 0 AS imported
  FROM fixture_rnn_models;
SELECT arch, count(*) AS models FROM seqmodel.models WHERE arch IN ('rnn', 'lstm', 'gru') GROUP BY arch ORDER BY arch;

-- PyTorch's reference gives a Gaussian head's raw output (mean, raw scale);
-- seqmodel reports (mean, scale) with scale = softplus(raw), as DeepAR
-- does: apply softplus to the reference's scale column for that model
CREATE FUNCTION softplus_scale_column(e float8[]) RETURNS float8[] LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE array_ndims(e)
        WHEN 1 THEN ARRAY[e[1], ln(1 + exp(e[2]))]
        ELSE (SELECT array_agg(ARRAY[e[t][1], ln(1 + exp(e[t][2]))] ORDER BY t)
                FROM generate_subscripts(e, 1) t) END
$$;
UPDATE fixture_rnn_io SET expected = softplus_scale_column(expected)
 WHERE model = 'gru_gaussian' AND fn IN ('predict', 'predict_steps');

-- every case: the function's output has PyTorch's shape and values
SELECT id, model, fn, array_dims(input) AS input_dims, horizon,
       max_rel_err(CASE fn WHEN 'predict' THEN seqmodel.predict(model, input)
                           WHEN 'predict_steps' THEN seqmodel.predict_steps(model, input)
                           WHEN 'forecast' THEN seqmodel.forecast(model, input, horizon) END,
                   expected) < 1e-5 AS matches_pytorch
  FROM fixture_rnn_io WHERE fn IN ('predict', 'predict_steps', 'forecast') ORDER BY id;

-- quantile heads: every quantile of every step
SELECT id, model, horizon,
       max_rel_err((SELECT array_agg(q ORDER BY step)
                      FROM (SELECT step, array_agg(value ORDER BY quantile) AS q
                              FROM seqmodel.forecast_table(model, input, horizon)
                             WHERE quantile IS NOT NULL GROUP BY step) s),
                   expected) < 1e-5 AS matches_pytorch
  FROM fixture_rnn_io WHERE fn = 'forecast_quantiles' ORDER BY id;

-- forecast_table's point rows are forecast()'s values (samples => 0: the
-- Gaussian model's point forecast is then its mean path, not a sample mean)
SELECT model, bool_and(t.value = f[t.step]) AS same
  FROM (SELECT DISTINCT ON (model) model, input, horizon FROM fixture_rnn_io
         WHERE fn = 'forecast' AND array_ndims(input) = 1 ORDER BY model, id) c,
       LATERAL seqmodel.forecast(c.model, c.input, c.horizon) AS f,
       LATERAL seqmodel.forecast_table(c.model, c.input, c.horizon, samples => 0) AS t
 WHERE t.quantile IS NULL
 GROUP BY model ORDER BY model;
