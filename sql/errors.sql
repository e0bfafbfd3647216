-- errors: every error path, with its SQLSTATE echoed after it.
\getenv abs_srcdir PG_ABS_SRCDIR
\set fixdir :abs_srcdir '/test/fixtures/'
\set lin '{"in_features": 5, "out_features": 3}'

-- unknown model
SELECT seqmodel.predict('nope', '{1}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.export_safetensors('nope');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.drop_model('nope');
\echo :LAST_ERROR_SQLSTATE

-- duplicate name without replace
SELECT seqmodel.import_safetensors('linear', 'linear', :'lin', pg_read_binary_file(:'fixdir' || 'linear.safetensors'));
\echo :LAST_ERROR_SQLSTATE

-- arguments
SELECT seqmodel.import_safetensors('', 'linear', :'lin', pg_read_binary_file(:'fixdir' || 'linear.safetensors'));
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors(NULL, 'linear', :'lin', pg_read_binary_file(:'fixdir' || 'linear.safetensors'));
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('x', 'linear', :'lin', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('x', 'linear', NULL, pg_read_binary_file(:'fixdir' || 'linear.safetensors'));
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('x', 'linear', :'lin', pg_read_binary_file(:'fixdir' || 'linear.safetensors'), NULL);
\echo :LAST_ERROR_SQLSTATE

-- unknown arch
SELECT seqmodel.import_safetensors('x', 'lstn', :'lin', pg_read_binary_file(:'fixdir' || 'linear.safetensors'));
\echo :LAST_ERROR_SQLSTATE

-- config: missing key, wrong type, out of range, unknown key, not an object
SELECT seqmodel.import_safetensors('x', 'linear', '{"in_features": 5}', pg_read_binary_file(:'fixdir' || 'linear.safetensors'));
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('x', 'linear', '{"in_features": "5", "out_features": 3}', pg_read_binary_file(:'fixdir' || 'linear.safetensors'));
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('x', 'linear', '{"in_features": 5.5, "out_features": 3}', pg_read_binary_file(:'fixdir' || 'linear.safetensors'));
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('x', 'linear', '{"in_features": 5, "out_features": 3, "bias": "yes"}', pg_read_binary_file(:'fixdir' || 'linear.safetensors'));
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('x', 'linear', '{"in_features": 5, "out_features": 3, "prefix": 1}', pg_read_binary_file(:'fixdir' || 'linear.safetensors'));
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('x', 'linear', '{"in_features": 0, "out_features": 3}', pg_read_binary_file(:'fixdir' || 'linear.safetensors'));
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('x', 'linear', '{"in_features": 5, "out_features": 3, "bais": false}', pg_read_binary_file(:'fixdir' || 'linear.safetensors'));
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('x', 'linear', '[5, 3]', pg_read_binary_file(:'fixdir' || 'linear.safetensors'));
\echo :LAST_ERROR_SQLSTATE

-- tensors: missing, mis-shaped, unexpected, unsupported dtype
SELECT seqmodel.import_safetensors('x', 'linear', '{"in_features": 4, "out_features": 2, "prefix": "fc."}', pg_read_binary_file(:'fixdir' || 'linear_fc.safetensors'));
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('x', 'linear', :'lin', pg_read_binary_file(:'fixdir' || 'bad_shape.safetensors'));
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('x', 'linear', :'lin', pg_read_binary_file(:'fixdir' || 'extra_tensor.safetensors'));
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('x', 'linear', :'lin', pg_read_binary_file(:'fixdir' || 'bad_dtype.safetensors'));
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('x', 'linear', :'lin', pg_read_binary_file(:'fixdir' || 'linear_fc.safetensors'));
\echo :LAST_ERROR_SQLSTATE

-- corrupt safetensors
SELECT seqmodel.import_safetensors('x', 'linear', :'lin', pg_read_binary_file(:'fixdir' || 'bad_short.safetensors'));
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('x', 'linear', :'lin', pg_read_binary_file(:'fixdir' || 'bad_truncated.safetensors'));
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('x', 'linear', :'lin', pg_read_binary_file(:'fixdir' || 'bad_header_len.safetensors'));
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('x', 'linear', :'lin', pg_read_binary_file(:'fixdir' || 'bad_json.safetensors'));
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('x', 'linear', :'lin', pg_read_binary_file(:'fixdir' || 'bad_header_notobject.safetensors'));
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('x', 'linear', :'lin', pg_read_binary_file(:'fixdir' || 'bad_offsets.safetensors'));
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('x', 'linear', :'lin', pg_read_binary_file(:'fixdir' || 'bad_overlap.safetensors'));
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('x', 'linear', :'lin', pg_read_binary_file(:'fixdir' || 'bad_gap.safetensors'));
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('x', 'linear', :'lin', pg_read_binary_file(:'fixdir' || 'bad_size.safetensors'));
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('x', 'linear', :'lin', make_safetensors('{"weight":{"dtype":"Q4","shape":[3,5],"data_offsets":[0,60]}}', le_f32(0)));
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('x', 'linear', :'lin', make_safetensors('{"weight":{"dtype":"F32","shape":[3,5],"data_offsets":[0,60]},"weight":{"dtype":"F32","shape":[3],"data_offsets":[60,72]}}', ''));
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('x', 'linear', :'lin', ''::bytea);
\echo :LAST_ERROR_SQLSTATE
-- nothing was written by any of the failures
SELECT count(*) AS models_named_x FROM seqmodel.model WHERE name = 'x';

-- the server-file variant: missing file, a directory, no privilege
SELECT seqmodel.import_safetensors_file('x', 'linear', :'lin', 'no/such/file.safetensors');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors_file('x', 'linear', :'lin', '.');
\echo :LAST_ERROR_SQLSTATE
CREATE ROLE seqmodel_test_user;
GRANT USAGE ON SCHEMA seqmodel TO seqmodel_test_user;
GRANT EXECUTE ON FUNCTION seqmodel.import_safetensors_file(text, text, jsonb, text, boolean) TO seqmodel_test_user;
SET ROLE seqmodel_test_user;
SELECT seqmodel.import_safetensors_file('x', 'linear', :'lin', :'fixdir' || 'linear.safetensors');
\echo :LAST_ERROR_SQLSTATE
-- and without EXECUTE on the function at all (revoked from PUBLIC)
RESET ROLE;
REVOKE EXECUTE ON FUNCTION seqmodel.import_safetensors_file(text, text, jsonb, text, boolean) FROM seqmodel_test_user;
SET ROLE seqmodel_test_user;
SELECT seqmodel.import_safetensors_file('x', 'linear', :'lin', 'x');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
REVOKE USAGE ON SCHEMA seqmodel FROM seqmodel_test_user;
DROP ROLE seqmodel_test_user;

-- input: wrong rank, wrong width, empty, NULL elements, NaN, infinity
SELECT seqmodel.predict('linear', '{{{1,2,3,4,5}}}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.predict('linear', '{1,2,3,4}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.predict('linear', '{{1,2,3,4,5,6},{1,2,3,4,5,6}}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.predict('linear', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.predict('linear', '{1,2,NULL,4,5}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.predict('linear', '{{1,2,3,4,5},{1,2,3,NULL,5}}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.predict('linear', '{1,2,NaN,4,5}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.predict('linear', '{{1,2,3,4,5},{1,2,3,4,-Infinity}}');
\echo :LAST_ERROR_SQLSTATE

-- a model whose weights overflow gives an error, not a silent infinity
SELECT seqmodel.import_safetensors('overflow', 'linear', '{"in_features": 1, "out_features": 1}',
       make_safetensors('{"weight":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]},"bias":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
                        le_f32(3e38) || le_f32(0)));
SELECT seqmodel.predict('overflow', '{1}');
SELECT seqmodel.predict('overflow', '{10}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.drop_model('overflow');

-- stored rows edited into a bad state are reported when the model loads
SELECT seqmodel.import_safetensors('edited', 'linear', :'lin', pg_read_binary_file(:'fixdir' || 'linear.safetensors'));
UPDATE seqmodel.tensor SET data = data || '\x00000000'::bytea WHERE model = 'edited' AND name = 'bias';
SELECT seqmodel.predict('edited', '{1,2,3,4,5}');
\echo :LAST_ERROR_SQLSTATE
UPDATE seqmodel.tensor SET data = substring(data FROM 1 FOR 8) WHERE model = 'edited' AND name = 'bias';
SELECT seqmodel.predict('edited', '{1,2,3,4,5}');
\echo :LAST_ERROR_SQLSTATE
UPDATE seqmodel.tensor SET data = substring(data FROM 1 FOR 6) WHERE model = 'edited' AND name = 'bias';
SELECT seqmodel.predict('edited', '{1,2,3,4,5}');
\echo :LAST_ERROR_SQLSTATE
UPDATE seqmodel.tensor SET shape = '{4}' WHERE model = 'edited' AND name = 'bias';
SELECT seqmodel.predict('edited', '{1,2,3,4,5}');
\echo :LAST_ERROR_SQLSTATE
UPDATE seqmodel.tensor SET dtype = 'I8' WHERE model = 'edited' AND name = 'bias';
SELECT seqmodel.predict('edited', '{1,2,3,4,5}');
\echo :LAST_ERROR_SQLSTATE
UPDATE seqmodel.tensor SET dtype = 'F32', shape = '{3}', chunk = 1 WHERE model = 'edited' AND name = 'bias';
SELECT seqmodel.predict('edited', '{1,2,3,4,5}');
\echo :LAST_ERROR_SQLSTATE
DELETE FROM seqmodel.tensor WHERE model = 'edited' AND name = 'bias';
SELECT seqmodel.predict('edited', '{1,2,3,4,5}');
\echo :LAST_ERROR_SQLSTATE
UPDATE seqmodel.model SET config = '{"in_features": 5}' WHERE name = 'edited';
SELECT seqmodel.predict('edited', '{1,2,3,4,5}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.drop_model('edited');

-- a model larger than the cache may hold (a copy of this backend's own:
-- the shared cache's copies count against seqmodel.shared_cache_size)
SET seqmodel.cache_size = '1MB';
SET seqmodel.shared_cache = off;
SELECT seqmodel.predict('ramp', array_fill(1::real, ARRAY[1024]));
\echo :LAST_ERROR_SQLSTATE
RESET seqmodel.cache_size;
RESET seqmodel.shared_cache;
SET seqmodel.cache_size = '1kB';
SET seqmodel.no_such_setting = 1;
