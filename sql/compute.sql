-- compute: the CPU kernel sets (seqmodel.cpu_kernels) and what
-- seqmodel.compute_info() reports.  The answers must not depend on the
-- machine: each kernel set is compared with the CPU's own feature bits.
SELECT backend, cpu_kernels, threads, blas_core <> '' AS has_blas_core,
       cpu <> '' AS has_cpu, cpu_features <> '' AS has_features
  FROM seqmodel.compute_info();
SHOW seqmodel.cpu_kernels;  -- defined once the library is loaded (by the call above)
-- auto picks the widest set the CPU's features allow
SELECT kernels = CASE WHEN cpu_features ~ '\mavx512f\M' THEN 'avx512'
                      WHEN cpu_features ~ '\mavx2\M' AND cpu_features ~ '\mfma\M' THEN 'avx2'
                      ELSE 'generic' END AS auto_is_widest
  FROM seqmodel.compute_info();

-- every set this CPU runs can be chosen, and gives the same answers
SELECT seqmodel.import_safetensors('kern', 'linear', '{"in_features": 64, "out_features": 300}', ramp_linear(64, 300, 0.25));
CREATE TEMP TABLE kern_x AS SELECT array_agg((1 + sin(i))::real ORDER BY i) AS x FROM generate_series(1, 64) AS i;
CREATE TEMP TABLE kern_ref AS SELECT seqmodel.predict('kern', x)::float8[] AS y FROM kern_x;
SET seqmodel.cpu_kernels = 'generic';
SELECT cpu_kernels, kernels FROM seqmodel.compute_info();
SELECT max_rel_err(seqmodel.predict('kern', x), y) < 1e-6 AS generic_agrees FROM kern_x, kern_ref;
SET seqmodel.cpu_kernels = 'blas';
SELECT cpu_kernels, kernels FROM seqmodel.compute_info();
SELECT max_rel_err(seqmodel.predict('kern', x), y) < 1e-6 AS blas_agrees FROM kern_x, kern_ref;
-- avx2 / avx512: accepted exactly when the CPU has the features
CREATE FUNCTION try_kernels(k text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  PERFORM set_config('seqmodel.cpu_kernels', k, true);
  RETURN true;
EXCEPTION WHEN feature_not_supported THEN
  RETURN false;
END $$;
SELECT try_kernels('avx2') = (cpu_features ~ '\mavx2\M' AND cpu_features ~ '\mfma\M') AS avx2_iff_cpu_has_it,
       try_kernels('avx512') = (cpu_features ~ '\mavx512f\M') AS avx512_iff_cpu_has_it
  FROM seqmodel.compute_info();
-- a failed SET leaves the setting as it was
SHOW seqmodel.cpu_kernels;
SET seqmodel.cpu_kernels = 'auto';
SELECT cpu_kernels, kernels = CASE WHEN cpu_features ~ '\mavx512f\M' THEN 'avx512'
                      WHEN cpu_features ~ '\mavx2\M' AND cpu_features ~ '\mfma\M' THEN 'avx2'
                      ELSE 'generic' END AS back_to_auto
  FROM seqmodel.compute_info();
SELECT max_rel_err(seqmodel.predict('kern', x), y) = 0 AS auto_same_bits FROM kern_x, kern_ref;
-- errors: an unknown set (22023, with the list); a set the CPU lacks is in cpu_unsupported
SET seqmodel.cpu_kernels = 'sse9';
RESET seqmodel.cpu_kernels;
SELECT seqmodel.drop_model('kern');
