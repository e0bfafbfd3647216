-- device: seqmodel.device (cpu | cuda | auto) and the GPU columns of
-- compute_info.  Two expected files: device.out for a server where no CUDA
-- device can be used (no GPU, no driver or no CUDA module: CI and the
-- developers' machines; the reason, which names the machine, is not
-- shown), device_1.out for one with a GPU, where "cuda" gives the CPU's
-- answers within 1e-5 and counts its products.
SELECT backend FROM seqmodel.compute_info();  -- loads the library, which defines the settings
SHOW seqmodel.device;
SHOW seqmodel.gpu_cache_size;
SELECT seqmodel.import_safetensors('dev', 'linear', '{"in_features": 64, "out_features": 300}', ramp_linear(64, 300, 0.25));
CREATE TEMP TABLE dev_x AS SELECT array_agg((1 + sin(i))::real ORDER BY i) AS x FROM generate_series(1, 64) AS i;
SET seqmodel.device = 'cpu';
CREATE TEMP TABLE dev_ref AS SELECT seqmodel.predict('dev', x)::float8[] AS y FROM dev_x;
SELECT backend, device, gpu AS gpu_when_cpu, gpu_products FROM seqmodel.compute_info();
-- auto: whatever the machine, the same answers (a product this small stays on the CPU)
SET seqmodel.device = 'auto';
SELECT max_rel_err(seqmodel.predict('dev', x), y) = 0 AS auto_same_bits FROM dev_x, dev_ref;
SELECT device, gpu_fallbacks FROM seqmodel.compute_info();
-- cuda: every product on the GPU, or an error (0A000) that says why there is none
SET seqmodel.device = 'cuda';
SELECT backend, gpu ~ '^none: ' AS no_gpu FROM seqmodel.compute_info();
\set VERBOSITY terse
SELECT max_rel_err(seqmodel.predict('dev', x), y) < 1e-5 AS cuda_agrees FROM dev_x, dev_ref;
\set VERBOSITY default
SELECT gpu_products > 0 AS gpu_ran, gpu_fallbacks, gpu_cached_bytes > 0 AS gpu_holds_weights
  FROM seqmodel.compute_info();
-- a model that leaves the cache leaves the GPU too
SELECT seqmodel.drop_model('dev');
SELECT gpu_cached_bytes FROM seqmodel.compute_info();
-- the backend's GPU (device_info) and giving it back (gpu_release); with a
-- GPU the backend holds a context and slot 0 of gpu_max_backends until then
SHOW seqmodel.gpu_precision;
SHOW seqmodel.gpu_max_backends;
SHOW seqmodel.gpu_wait_timeout;
SELECT device, gpu ~ '^none: ' AS no_gpu, gpu_precision, holds_context, slot, gpu_max_backends,
       weights_bytes, models FROM seqmodel.device_info();
SELECT seqmodel.gpu_release() AS released;
SELECT holds_context, slot IS NULL AS no_slot, weights_bytes FROM seqmodel.device_info();
SELECT seqmodel.gpu_release() AS released_again;
-- errors: an unknown device or precision (22023, with the list of values); a
-- GPU budget below 16 MB; a negative wait; gpu_max_backends outside the
-- server's configuration (55P02)
SET seqmodel.device = 'tpu';
SET seqmodel.gpu_precision = 'fp16';
SET seqmodel.gpu_cache_size = '1MB';
SET seqmodel.gpu_wait_timeout = -1;
SET seqmodel.gpu_max_backends = 2;
RESET seqmodel.device;
SHOW seqmodel.device;
