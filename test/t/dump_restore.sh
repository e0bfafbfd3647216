#!/usr/bin/env bash
# pg_dump carries models: dump a database with models in it (a chunked
# tensor, an F16 one, safetensors metadata), restore it into a new database,
# and check the models are there, byte for byte, and run.  Run inside a
# cluster (test/run-tests runs it under pg_virtualenv); prints one line per
# check and a closing "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
fix=$(pwd)/test/fixtures
. test/t/lib/check_cmd.sh    # passed, failed, check NAME COMMAND...
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

dropdb --if-exists sm_dump_src >/dev/null 2>&1; dropdb --if-exists sm_dump_dst >/dev/null 2>&1
createdb sm_dump_src && createdb sm_dump_dst || { echo "0 passed, 1 failed"; exit 1; }
q -d sm_dump_src <<SQL >/dev/null
CREATE EXTENSION seqmodel;
\lo_import $fix/linear.safetensors
SELECT seqmodel.import_safetensors('lin', 'linear', '{"in_features": 5, "out_features": 3}', lo_get(:LASTOID));
SELECT lo_unlink(:LASTOID);
\lo_import $fix/linear_f16.safetensors
SELECT seqmodel.import_safetensors('lin16', 'linear', '{"in_features": 5, "out_features": 3}', lo_get(:LASTOID));
SELECT lo_unlink(:LASTOID);
-- a 1100 x 1024 tensor: two chunk rows
SELECT seqmodel.import_safetensors('wide', 'linear', '{"in_features": 1024, "out_features": 1100, "bias": false}',
       (SELECT decode(lpad(to_hex(h_len), 2, '0') || '00000000000000', 'hex') || convert_to(h, 'UTF8') || w
          FROM (SELECT '{"weight":{"dtype":"F32","shape":[1100,1024],"data_offsets":[0,4505600]}}'::text AS h) hh,
               LATERAL (SELECT octet_length(convert_to(hh.h, 'UTF8')) AS h_len) l,
               LATERAL (SELECT string_agg(decode(repeat(lpad(to_hex(o), 2, '0') || '00803f', 1024), 'hex'), ''::bytea ORDER BY o) AS w
                          FROM generate_series(0, 1099) o) ww));
SQL
snapshot="SELECT md5(string_agg(m.name || m.arch || m.config::text || coalesce(m.metadata::text, '')
                       || t.name || t.chunk || t.shape::text || t.dtype || md5(t.data), ',' ORDER BY m.name, t.name, t.chunk))
            FROM seqmodel.model m JOIN seqmodel.tensor t ON t.model = m.name"
before=$(q -d sm_dump_src -c "$snapshot")
pg_dump sm_dump_src > /tmp/seqmodel-dump.sql 2>/tmp/seqmodel-dump.err
check "pg_dump succeeds" bash -c "[ -s /tmp/seqmodel-dump.sql ] && ! [ -s /tmp/seqmodel-dump.err ] && echo t || cat /tmp/seqmodel-dump.err"
check "restore succeeds" bash -c "psql -X -q -v ON_ERROR_STOP=1 -d sm_dump_dst -f /tmp/seqmodel-dump.sql >/dev/null 2>&1 && echo t"
after=$(q -d sm_dump_dst -c "$snapshot")
check "models, configs, metadata and tensors identical after restore" bash -c "[ -n '$before' ] && [ '$before' = '$after' ] && echo t || echo 'before $before after $after'"
check "restored model runs" q -d sm_dump_dst -c "SELECT seqmodel.predict('lin', '{1,2,3,4,5}') IS NOT NULL"
check "restored model predicts as the original" bash -c "[ \"\$(psql -X -At -d sm_dump_src -c \"SELECT seqmodel.predict('lin16', '{1,2,3,4,5}')\")\" = \"\$(psql -X -At -d sm_dump_dst -c \"SELECT seqmodel.predict('lin16', '{1,2,3,4,5}')\")\" ] && echo t"
check "restored export is the original file" q -d sm_dump_dst -c "SELECT seqmodel.export_safetensors('lin') = decode('$(od -An -v -tx1 "$fix/linear.safetensors" | tr -d ' \n')', 'hex')"
check "version sequence continues after restore" q -d sm_dump_dst -c "SELECT nextval('seqmodel.model_version_seq') > (SELECT max(version) FROM seqmodel.model)"
check "chunked tensor restored" q -d sm_dump_dst -c "SELECT count(*) = 2 FROM seqmodel.tensor WHERE model = 'wide'"
dropdb sm_dump_src; dropdb sm_dump_dst
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
