-- cpu_unsupported: a kernel set this CPU cannot run is an error (0A000)
-- that says what the CPU has (the detail, which names this machine's
-- features, is not shown).  Two expected files: cpu_unsupported.out for a
-- CPU without AVX-512 (the error), cpu_unsupported_1.out for one with it.
SELECT backend FROM seqmodel.compute_info();  -- loads the library, which defines the setting
\set VERBOSITY terse
SET seqmodel.cpu_kernels = 'avx512';
SHOW seqmodel.cpu_kernels;
DO $$
BEGIN
  SET LOCAL seqmodel.cpu_kernels = 'avx512';
  RAISE NOTICE 'avx512 accepted';
EXCEPTION WHEN OTHERS THEN
  RAISE NOTICE 'SQLSTATE %: %', SQLSTATE, SQLERRM;
END $$;
RESET seqmodel.cpu_kernels;
