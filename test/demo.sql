-- The quick-start demo: import a model trained in PyTorch from its
-- safetensors file, look at the catalog, and run it over a table.
\set ON_ERROR_STOP on
\pset footer off
CREATE EXTENSION IF NOT EXISTS seqmodel;

\echo '== what runs the models here: the CPU, its features, the kernel set chosen from them'
SELECT backend, kernels, cpu, cpu_features, blas_core FROM seqmodel.compute_info();

\echo '== import test/fixtures/linear.safetensors (a torch.nn.Linear(5, 3)) from the client'
\set QUIET on
\lo_import test/fixtures/linear.safetensors
\set QUIET off
SELECT seqmodel.import_safetensors('demo_linear', 'linear',
       '{"in_features": 5, "out_features": 3}', lo_get(:LASTOID), replace => true) AS parameters;
SELECT lo_unlink(:LASTOID) AS freed \gset

\echo '== the catalog'
SELECT name, arch, parameters, bytes, tensors, config FROM seqmodel.models WHERE name = 'demo_linear';
SELECT name, shape, dtype, octet_length(data) AS bytes FROM seqmodel.tensor WHERE model = 'demo_linear' ORDER BY name;

\echo '== predict: one vector, then one row per vector of a table'
SELECT seqmodel.predict('demo_linear', '{0.5, -1, 2, 0.25, 1}') AS y;
\set QUIET on
CREATE TEMP TABLE sensor_features AS
SELECT g AS id, ARRAY[sin(g), cos(g), sin(2 * g), cos(3 * g), g % 7 - 3]::real[] AS x
  FROM generate_series(1, 5) AS g;
\set QUIET off
SELECT id, x, seqmodel.predict('demo_linear', x) AS y FROM sensor_features ORDER BY id;

\echo '== or all rows in one call (one matrix product)'
SELECT seqmodel.predict('demo_linear', array_agg(x ORDER BY id)) AS y_batch FROM sensor_features;

\echo '== what this backend keeps loaded'
SELECT model, arch, version, bytes, hits FROM seqmodel.cache_info();

\echo '== export gives back the same safetensors file'
\set fixture `od -An -v -tx1 test/fixtures/linear.safetensors | tr -d ' \n'`
SELECT seqmodel.export_safetensors('demo_linear') = decode(:'fixture', 'hex') AS export_is_the_original_file;

\echo
\echo == a real series: Mauna Loa CO2 (test/data), an LSTM trained by test/data/train_co2_lstm.py
\i test/data/demo_co2.sql

\echo
\echo == real text: a language identifier (test/data), a small BERT and its tokenizer trained by test/data/train_langid.py
\i test/data/demo_langid.sql

\echo
\echo == many real series: life expectancy of 185 countries (test/data), one LSTM trained by test/data/train_gapminder_lstm.py
\i test/data/demo_gapminder.sql

\echo
\echo == translation: English -> German message catalogs (test/data), three translators trained by test/data/train_translators.py
\i test/data/demo_translate.sql
