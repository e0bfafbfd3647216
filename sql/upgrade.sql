-- upgrade: install the oldest version, walk every upgrade, and compare with
-- a fresh install.  Runs last: it drops the extension (and so every model).
CREATE TEMP TABLE fresh AS
SELECT pg_describe_object(classid, objid, objsubid) AS object
  FROM pg_depend WHERE refobjid = (SELECT oid FROM pg_extension WHERE extname = 'seqmodel') AND deptype = 'e';
SELECT extversion FROM pg_extension WHERE extname = 'seqmodel';
DROP EXTENSION seqmodel CASCADE;
CREATE EXTENSION seqmodel VERSION '0.1.0';
SELECT extversion FROM pg_extension WHERE extname = 'seqmodel';
SELECT seqmodel.import_safetensors('kept', 'linear', '{"in_features": 1, "out_features": 1}',
       make_safetensors('{"weight":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]},"bias":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
                        le_f32(2) || le_f32(1)));
SELECT version AS v_before FROM seqmodel.model WHERE name = 'kept' \gset
ALTER EXTENSION seqmodel UPDATE;  -- walks every upgrade script to the default version
SELECT extversion FROM pg_extension WHERE extname = 'seqmodel';
-- models survive the upgrade untouched and still run
SELECT seqmodel.predict('kept', '{3}') AS y, version = :v_before AS same_version FROM seqmodel.model WHERE name = 'kept';
-- models that existed get the catalog table's owner and a use grant to
-- PUBLIC: every role that could run them still can, only their owner (and
-- superusers) may replace or drop them
SELECT m.owner = c.relowner::regrole AS owned_by_table_owner
  FROM seqmodel.model m, pg_class c WHERE m.name = 'kept' AND c.oid = 'seqmodel.model'::regclass;
SELECT model, grantee, grantor = (SELECT owner FROM seqmodel.model WHERE name = 'kept') AS by_owner FROM seqmodel.model_grant;
CREATE ROLE seqmodel_test_upgrade IN ROLE seqmodel_user;
SET ROLE seqmodel_test_upgrade;
SELECT seqmodel.predict('kept', '{3}') AS runs_for_a_user;
\set VERBOSITY terse
SELECT seqmodel.drop_model('kept');
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
RESET ROLE;
DROP ROLE seqmodel_test_upgrade;
-- the upgraded extension has exactly the objects of a fresh install
SELECT object AS missing_after_upgrade FROM fresh
EXCEPT SELECT pg_describe_object(classid, objid, objsubid)
  FROM pg_depend WHERE refobjid = (SELECT oid FROM pg_extension WHERE extname = 'seqmodel') AND deptype = 'e';
SELECT pg_describe_object(classid, objid, objsubid) AS extra_after_upgrade
  FROM pg_depend WHERE refobjid = (SELECT oid FROM pg_extension WHERE extname = 'seqmodel') AND deptype = 'e'
EXCEPT SELECT object FROM fresh;
SELECT count(*) > 20 AS many_objects FROM fresh;
