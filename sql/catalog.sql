-- catalog: what the extension installs, how pg_dump sees it, the version
-- that changes on every change of a model, and function properties.

-- config tables dumped by pg_dump
SELECT dumped FROM (SELECT unnest(extconfig)::regclass AS dumped FROM pg_extension WHERE extname = 'seqmodel') c ORDER BY dumped::text COLLATE "C";

-- every function: volatility, strictness, parallel safety
SELECT p.oid::regprocedure AS function, p.provolatile AS vol, p.proisstrict AS strict, p.proparallel AS par
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'seqmodel' ORDER BY p.oid::regprocedure::text COLLATE "C";
-- every function has a comment
SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'seqmodel' AND obj_description(p.oid, 'pg_proc') IS NULL ORDER BY 1;

-- the version changes on any change: the model row, a tensor row, a TRUNCATE
SELECT version AS v0 FROM seqmodel.model WHERE name = 'linear_fc' \gset
UPDATE seqmodel.model SET config = config WHERE name = 'linear_fc';
SELECT version AS v1 FROM seqmodel.model WHERE name = 'linear_fc' \gset
UPDATE seqmodel.tensor SET data = data WHERE model = 'linear_fc';
SELECT version AS v2 FROM seqmodel.model WHERE name = 'linear_fc' \gset
BEGIN;
TRUNCATE seqmodel.tensor;
SELECT version AS v3 FROM seqmodel.model WHERE name = 'linear_fc' \gset
ROLLBACK;
SELECT :v1 > :v0 AS row_change, :v2 > :v1 AS tensor_change, :v3 > :v2 AS truncate_change;
-- renaming a model carries its tensors along
UPDATE seqmodel.model SET name = 'linear_fc2' WHERE name = 'linear_fc';
SELECT DISTINCT model FROM seqmodel.tensor WHERE model LIKE 'linear_fc%';
SELECT array_dims(seqmodel.predict('linear_fc2', '{1,2,3,4}')) AS renamed_runs;
UPDATE seqmodel.model SET name = 'linear_fc' WHERE name = 'linear_fc2';

-- the models view
SELECT name, arch, parameters, bytes, tensors FROM seqmodel.models ORDER BY name;
SELECT seqmodel.numel('{}'), seqmodel.numel('{3,5}'), seqmodel.numel('{0,7}');
SELECT seqmodel.numel('{3,-1}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.numel('{3,NULL}');
\echo :LAST_ERROR_SQLSTATE

-- the catalog's own constraints (terse: the failing row shows a timestamp)
\set VERBOSITY terse
INSERT INTO seqmodel.model (name, arch, config) VALUES ('', 'linear', '{}');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO seqmodel.model (name, arch, config) VALUES ('y', 'linear', '[]');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO seqmodel.tensor (model, name, shape, dtype, data) VALUES ('no_model', 'w', '{1}', 'F32', '\x00000000');
\echo :LAST_ERROR_SQLSTATE

\set VERBOSITY default

-- the GUC
SHOW seqmodel.cache_size;
