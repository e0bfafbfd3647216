-- predict: arch linear against PyTorch's outputs, one vector and rows of
-- vectors, F32/F16/BF16 weights, in a parallel worker, over a table.

-- every fixture case: same shape as PyTorch's output, within 1e-5 relative
SELECT id, model, array_dims(input) AS input_dims,
       array_dims(seqmodel.predict(model, input)) AS output_dims,
       max_rel_err(seqmodel.predict(model, input), expected) < 1e-5 AS matches_pytorch
  FROM fixture_linear_io ORDER BY id;

-- a look at actual numbers, rounded so BLAS builds agree
SELECT array(SELECT round(v::numeric, 4) FROM unnest(seqmodel.predict('linear', '{1,0,0,0,0}')) v) AS col0_plus_bias;
-- the input's lower bound does not matter
SELECT seqmodel.predict('linear', '[0:4]={0.5,1,-1,2,0}') = seqmodel.predict('linear', '{0.5,1,-1,2,0}') AS lbound_ignored;

-- 1100 x 1024 weights stored in two chunk rows: exact integers come back
SELECT seqmodel.predict('ramp', array_fill(1::real, ARRAY[1024])) =
       (SELECT array_agg(1024 * o + 0.5 ORDER BY o)::real[] FROM generate_series(0, 1099) o) AS ramp_exact;
SELECT array_dims(seqmodel.predict('ramp', array_fill(1::real, ARRAY[3, 1024]))) AS ramp_batch_dims;

-- over a table, and inside parallel workers (each loads the model itself)
CREATE TABLE vectors AS
SELECT g AS id, ARRAY[sin(g), cos(g), sin(2 * g), cos(3 * g), g % 7 - 3]::real[] AS x
  FROM generate_series(1, 2000) AS g;
ANALYZE vectors;
CREATE TABLE serial_out AS SELECT id, seqmodel.predict('linear', x) AS y FROM vectors;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET force_parallel_mode = on;
EXPLAIN (COSTS OFF) SELECT id, seqmodel.predict('linear', x) FROM vectors WHERE (seqmodel.predict('linear', x))[1] > 0;
SELECT count(*) AS parallel_rows,
       bool_and(p.y = s.y) AS same_as_serial
  FROM (SELECT id, seqmodel.predict('linear', x) AS y FROM vectors) p JOIN serial_out s USING (id);
RESET force_parallel_mode;
RESET max_parallel_workers_per_gather;
RESET min_parallel_table_scan_size;
RESET parallel_tuple_cost;
RESET parallel_setup_cost;

-- the batched form agrees with row-by-row calls (BLAS may round a batch
-- differently from single rows, hence a tolerance)
SELECT max_rel_err(seqmodel.predict('linear', (SELECT array_agg(x ORDER BY id) FROM vectors WHERE id <= 50)),
                   (SELECT array_agg(y ORDER BY id) FROM serial_out WHERE id <= 50)::float8[]) < 1e-6 AS batch_equals_rows;

-- STRICT: NULL in, NULL out
SELECT seqmodel.predict(NULL, '{1,2,3,4,5}') IS NULL AS null_model, seqmodel.predict('linear', NULL) IS NULL AS null_input;
