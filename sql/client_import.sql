-- client_import: importing a file that lives on the client, not the server.
-- psql's \lo_import sends it as a large object; lo_get() hands its bytes to
-- seqmodel.import_safetensors, and lo_unlink() frees it.  (Any driver can
-- instead bind the file's bytes as a bytea parameter of import_safetensors.)
\getenv abs_srcdir PG_ABS_SRCDIR
\set fixfile :abs_srcdir '/test/fixtures/linear.safetensors'
\set QUIET on
\lo_import :fixfile
\set QUIET off
SELECT seqmodel.import_safetensors('via_lo', 'linear', '{"in_features": 5, "out_features": 3}', lo_get(:LASTOID));
SELECT lo_unlink(:LASTOID);
SELECT seqmodel.predict('via_lo', '{1,2,3,4,5}') = seqmodel.predict('linear', '{1,2,3,4,5}') AS same_as_server_import;
SELECT seqmodel.drop_model('via_lo');
