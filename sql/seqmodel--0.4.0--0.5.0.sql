-- seqmodel 0.4.0 -> 0.5.0: the compute layer (seqmodel's own CPU kernels
-- behind one compute seam, chosen by CPUID; GUC seqmodel.cpu_kernels).
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
