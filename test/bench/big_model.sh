#!/usr/bin/env bash
# The big-model benchmark (not a test): a 512 MiB torch.nn.Linear(8192, 16384)
# is imported from a server file and from a bytea, then the first predict
# (loads the model into the backend's cache) and later ones (cache hits) are
# timed with psql's \timing in one throwaway cluster.  Also checks that the
# export is byte-for-byte the file.
#
#   bash test/bench/big_model.sh            (as root; needs python3-numpy, python3-torch)
set -euo pipefail
cd "$(dirname "$0")/../.."
file=/tmp/seqmodel-big-linear.safetensors
[ -f "$file" ] || /usr/bin/python3 test/bench/gen_big_linear.py --in 8192 --out 16384 --out-path "$file"
chmod a+r "$file"
ls -l "$file"
make -s -j2 && make -s install
cat > /tmp/seqmodel-big.sql <<SQL
\set ON_ERROR_STOP on
\pset footer off
CREATE EXTENSION seqmodel;
SET seqmodel.cache_size = '2GB';
\timing on
\echo '-- import from a server file'
SELECT seqmodel.import_safetensors_file('big', 'linear', '{"in_features": 8192, "out_features": 16384}', '$file');
\echo '-- import from a bytea (pg_read_binary_file), replacing it'
SELECT seqmodel.import_safetensors('big', 'linear', '{"in_features": 8192, "out_features": 16384}', pg_read_binary_file('$file'), replace => true);
\timing off
SELECT name, parameters, pg_size_pretty(bytes) AS stored FROM seqmodel.models;
SELECT array_fill(0.01::real, ARRAY[8192]) AS x \gset
\timing on
\echo '-- first predict: loads 512 MiB from the table into the cache'
SELECT array_length(seqmodel.predict('big', :'x'), 1);
\echo '-- second and third predict: cache hits'
SELECT array_length(seqmodel.predict('big', :'x'), 1);
SELECT array_length(seqmodel.predict('big', :'x'), 1);
\timing off
SELECT model, pg_size_pretty(bytes) AS cached, hits, round(load_ms::numeric) AS load_ms FROM seqmodel.cache_info();
\timing on
\echo '-- export, and import of the export: the same tensors byte for byte'
SELECT seqmodel.import_safetensors('big_rt', 'linear', '{"in_features": 8192, "out_features": 16384}', seqmodel.export_safetensors('big'));
\timing off
SELECT (SELECT string_agg(name || chunk || md5(data), ',' ORDER BY name, chunk) FROM seqmodel.tensor WHERE model = 'big')
     = (SELECT string_agg(name || chunk || md5(data), ',' ORDER BY name, chunk) FROM seqmodel.tensor WHERE model = 'big_rt') AS same_tensors;
SQL
pg_virtualenv -t psql -X -f /tmp/seqmodel-big.sql
