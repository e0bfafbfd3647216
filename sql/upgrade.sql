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
-- the upgraded extension has exactly the objects of a fresh install
SELECT object AS missing_after_upgrade FROM fresh
EXCEPT SELECT pg_describe_object(classid, objid, objsubid)
  FROM pg_depend WHERE refobjid = (SELECT oid FROM pg_extension WHERE extname = 'seqmodel') AND deptype = 'e';
SELECT pg_describe_object(classid, objid, objsubid) AS extra_after_upgrade
  FROM pg_depend WHERE refobjid = (SELECT oid FROM pg_extension WHERE extname = 'seqmodel') AND deptype = 'e'
EXCEPT SELECT object FROM fresh;
SELECT count(*) > 20 AS many_objects FROM fresh;
