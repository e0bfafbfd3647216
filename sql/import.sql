-- import: safetensors in (bytes and server file), the catalog it fills,
-- export and round trip, replace and drop.
\getenv abs_srcdir PG_ABS_SRCDIR
\set fixdir :abs_srcdir '/test/fixtures/'

SELECT seqmodel.import_safetensors('linear', 'linear', '{"in_features": 5, "out_features": 3}',
       pg_read_binary_file(:'fixdir' || 'linear.safetensors'));
-- a module attribute self.fc = nn.Linear(4, 2, bias=False) saves "fc.weight"
SELECT seqmodel.import_safetensors('linear_fc', 'linear',
       '{"in_features": 4, "out_features": 2, "bias": false, "prefix": "fc."}',
       pg_read_binary_file(:'fixdir' || 'linear_fc.safetensors'));
SELECT seqmodel.import_safetensors('linear_f16', 'linear', '{"in_features": 5, "out_features": 3}',
       pg_read_binary_file(:'fixdir' || 'linear_f16.safetensors'));
-- the server-side file variant
SELECT seqmodel.import_safetensors_file('linear_bf16', 'linear', '{"in_features": 5, "out_features": 3}',
       :'fixdir' || 'linear_bf16.safetensors');

SELECT name, arch, parameters, bytes, tensors, config FROM seqmodel.models ORDER BY name;
SELECT model, name, chunk, shape, dtype, octet_length(data) FROM seqmodel.tensor ORDER BY model, name, chunk;
SELECT name, metadata FROM seqmodel.model ORDER BY name;
-- stored bytes are the file's bytes: F16 kept as F16
SELECT t.data = substring(f FROM 8 + get_byte(f, 0) + 256 * get_byte(f, 1) + 6 + 1 FOR 30) AS weight_bytes_kept
  FROM seqmodel.tensor t, pg_read_binary_file(:'fixdir' || 'linear_f16.safetensors') AS f
 WHERE t.model = 'linear_f16' AND t.name = 'weight';

-- export gives the file back: our writer and PyTorch's produce the same bytes
SELECT seqmodel.export_safetensors('linear') = pg_read_binary_file(:'fixdir' || 'linear.safetensors') AS same_file,
       seqmodel.export_safetensors('linear_f16') = pg_read_binary_file(:'fixdir' || 'linear_f16.safetensors') AS same_file_f16;
-- and import of an export gives the same tensors, byte for byte
SELECT seqmodel.import_safetensors('linear_copy', arch, config, seqmodel.export_safetensors('linear'))
  FROM seqmodel.model WHERE name = 'linear';
SELECT (SELECT array_agg(row(name, chunk, shape, dtype, data) ORDER BY name, chunk)
          FROM seqmodel.tensor WHERE model = 'linear')
     = (SELECT array_agg(row(name, chunk, shape, dtype, data) ORDER BY name, chunk)
          FROM seqmodel.tensor WHERE model = 'linear_copy') AS same_tensors;

-- replace
SELECT version AS v_before FROM seqmodel.model WHERE name = 'linear_copy' \gset
SELECT seqmodel.import_safetensors('linear_copy', 'linear', '{"in_features": 5, "out_features": 3}',
       pg_read_binary_file(:'fixdir' || 'linear_bf16.safetensors'), replace => true);
SELECT array_agg(DISTINCT dtype) AS dtypes, (SELECT version FROM seqmodel.model WHERE name = 'linear_copy') > :v_before AS new_version
  FROM seqmodel.tensor WHERE model = 'linear_copy';

-- drop
SELECT seqmodel.drop_model('linear_copy');
SELECT seqmodel.drop_model('linear_copy', if_exists => true);
SELECT count(*) AS rows_left FROM seqmodel.tensor WHERE model = 'linear_copy';

-- a tensor over 4 MiB is stored as several chunk rows (1100 x 1024 floats)
SELECT seqmodel.import_safetensors('ramp', 'linear', '{"in_features": 1024, "out_features": 1100}',
       ramp_linear(1024, 1100, 0.5));
SELECT name, chunk, shape, octet_length(data) FROM seqmodel.tensor WHERE model = 'ramp' ORDER BY name, chunk;
SELECT seqmodel.import_safetensors('ramp_copy', 'linear', '{"in_features": 1024, "out_features": 1100}',
       seqmodel.export_safetensors('ramp'));
SELECT (SELECT array_agg(row(name, chunk, shape, dtype, md5(data)) ORDER BY name, chunk)
          FROM seqmodel.tensor WHERE model = 'ramp')
     = (SELECT array_agg(row(name, chunk, shape, dtype, md5(data)) ORDER BY name, chunk)
          FROM seqmodel.tensor WHERE model = 'ramp_copy') AS ramp_round_trip;
SELECT seqmodel.drop_model('ramp_copy');

-- a scalar and an empty tensor are legal safetensors (an arch decides what
-- it needs; linear needs neither, so this is refused by the arch, not the
-- file parser)
SELECT seqmodel.import_safetensors('odd', 'linear', '{"in_features": 1, "out_features": 1}',
       make_safetensors('{"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"e":{"dtype":"F32","shape":[0,3],"data_offsets":[4,4]}}',
                        le_f32(1)));
