-- roles: who may do what (README "Roles and privileges").  Three roles --
-- an owner (seqmodel_importer), a grantee (seqmodel_user) and a stranger
-- (seqmodel_importer too, so only ownership and row-level security stop
-- it) -- and a deputy with the owner's privileges try every function; each
-- refusal is 42501.  The cache is per backend: a model cached by one role
-- must not run for another after SET ROLE.
\getenv abs_srcdir PG_ABS_SRCDIR
\set rnndir :abs_srcdir '/test/fixtures/rnn/'

-- the extension's roles: NOLOGIN group roles, an importer is also a user
SELECT rolname, rolcanlogin, rolsuper, rolinherit FROM pg_roles
 WHERE rolname IN ('seqmodel_user', 'seqmodel_importer') ORDER BY 1;
SELECT pg_has_role('seqmodel_importer', 'seqmodel_user', 'MEMBER') AS importer_is_user;
-- the catalog tables have row-level security, the models view the caller's rights
SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c
 WHERE c.relnamespace = 'seqmodel'::regnamespace AND c.relkind = 'r' AND c.relname IN ('model', 'tensor', 'tokenizer', 'model_grant')
 ORDER BY 1;
SELECT reloptions FROM pg_class WHERE oid = 'seqmodel.models'::regclass;
-- no function of the extension is SECURITY DEFINER
SELECT count(*) AS security_definer FROM pg_proc WHERE pronamespace = 'seqmodel'::regnamespace AND prosecdef;

CREATE ROLE seqmodel_test_owner IN ROLE seqmodel_importer;
CREATE ROLE seqmodel_test_grantee IN ROLE seqmodel_user;
CREATE ROLE seqmodel_test_stranger IN ROLE seqmodel_importer;
CREATE ROLE seqmodel_test_deputy IN ROLE seqmodel_test_owner;
CREATE ROLE seqmodel_test_nobody;

-- what the roles read: a model file, series, a weight generator, a small vocabulary
CREATE TABLE roles_files AS SELECT pg_read_binary_file(:'rnndir' || 'lstm_l1_uni_head.safetensors') AS lstm;
CREATE TABLE roles_series AS SELECT 'a'::text AS s, t, sin(t * 0.3)::real AS v FROM generate_series(1, 12) t;
GRANT SELECT ON roles_files, roles_series TO PUBLIC;
SELECT seqmodel.state_create('roles_state', 'bigint') AS state_table;
GRANT SELECT, INSERT, UPDATE, DELETE ON roles_state TO PUBLIC;
CREATE FUNCTION roles_synth(shapes jsonb) RETURNS bytea LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    hdr text[] := '{}';
    data bytea := ''::bytea;
    k text;
    shp jsonb;
    n bigint;
    off bigint := 0;
    t int := 0;
BEGIN
    FOR k, shp IN SELECT key, value FROM jsonb_each(shapes) ORDER BY key LOOP
        t := t + 1;
        n := seqmodel.numel(ARRAY(SELECT jsonb_array_elements_text(shp)::int));
        data := data || (SELECT string_agg(le_f32((0.5 * sin(i * 0.731 + t * 1.37))::real), ''::bytea ORDER BY i)
                           FROM generate_series(1, n) AS i);
        hdr := hdr || format('"%s":{"dtype":"F32","shape":%s,"data_offsets":[%s,%s]}', k, shp, off, off + 4 * n);
        off := off + 4 * n;
    END LOOP;
    RETURN make_safetensors('{' || array_to_string(hdr, ',') || '}', data);
END
$$;
\set tfm_tensors '{"embedding.weight": [16, 8], "pos_embedding.weight": [24, 8], "encoder.layers.0.self_attn.in_proj_weight": [24, 8], "encoder.layers.0.self_attn.in_proj_bias": [24], "encoder.layers.0.self_attn.out_proj.weight": [8, 8], "encoder.layers.0.self_attn.out_proj.bias": [8], "encoder.layers.0.linear1.weight": [16, 8], "encoder.layers.0.linear1.bias": [16], "encoder.layers.0.linear2.weight": [8, 16], "encoder.layers.0.linear2.bias": [8], "encoder.layers.0.norm1.weight": [8], "encoder.layers.0.norm1.bias": [8], "encoder.layers.0.norm2.weight": [8], "encoder.layers.0.norm2.bias": [8]'
\set cls_config '{"d_model": 8, "nhead": 2, "num_layers": 1, "dim_feedforward": 16, "vocab_size": 16, "positional": "learned", "max_len": 24, "pooling": "mean", "output_size": 2, "id2label": {"0": "animal", "1": "thing"}}'
\set lm_config '{"d_model": 8, "nhead": 2, "num_layers": 1, "dim_feedforward": 16, "vocab_size": 16, "positional": "learned", "max_len": 24, "causal": true, "pooling": "none", "output_size": 16, "lm_head": true}'
\set small_vocab '[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\ncat\nsat\non\nmat\n##s\n.\na\ndog'
\set lstm_config '{"input_size": 1, "hidden_size": 5, "num_layers": 1, "bidirectional": false, "output_size": 1}'
-- a function that runs a model as the owner (SECURITY DEFINER): the cache
-- must check again when the role changes within one statement
CREATE FUNCTION roles_predict_as_owner() RETURNS real[] LANGUAGE sql SECURITY DEFINER
AS $$ SELECT seqmodel.predict('roles_lin', '{1,1,1}') $$;
ALTER FUNCTION roles_predict_as_owner() OWNER TO seqmodel_test_owner;

-- ---------------------------------------------------------------- the owner imports and runs
SET ROLE seqmodel_test_owner;
SELECT seqmodel.import_safetensors('roles_lin', 'linear', '{"in_features": 3, "out_features": 2}', ramp_linear(3, 2, 0.5)) AS parameters;
SELECT seqmodel.import_safetensors('roles_lstm', 'lstm', :'lstm_config', (SELECT lstm FROM roles_files)) AS parameters;
SELECT seqmodel.import_safetensors('roles_cls', 'transformer', :'cls_config',
       roles_synth((:'tfm_tensors' || ', "head.weight": [2, 8], "head.bias": [2]}')::jsonb)) AS parameters;
SELECT seqmodel.import_tokenizer_wordpiece('roles_cls', E:'small_vocab') AS vocab;
SELECT seqmodel.import_safetensors('roles_lm', 'transformer', :'lm_config',
       roles_synth((:'tfm_tensors' || ', "head.weight": [16, 8], "head.bias": [16]}')::jsonb)) AS parameters;
SELECT seqmodel.import_tokenizer_wordpiece('roles_lm', E:'small_vocab') AS vocab;
SELECT name, arch, owner FROM seqmodel.models ORDER BY name;
SELECT seqmodel.predict('roles_lin', '{1,1,1}') AS predict;
SELECT array_length(seqmodel.forecast('roles_lstm', '{0.1,0.2,0.3}', 3), 1) AS forecast_len;
SELECT count(*) AS forecast_query_rows FROM seqmodel.forecast_query('roles_lstm', 'SELECT s, v FROM roles_series ORDER BY s, t', 3);
SELECT array_length(seqmodel.classify('roles_cls', 'the cat sat'), 1) AS classes;
SELECT length(seqmodel.generate('roles_lm', 'the cat', 3)) >= 0 AS generated;
SELECT octet_length(seqmodel.export_safetensors('roles_lin')) > 0 AS exported;
SELECT model, hits > 0 AS hit FROM seqmodel.cache_info() WHERE model LIKE 'roles_%' ORDER BY model;
SELECT model, grantee, grantor FROM seqmodel.model_grant WHERE model LIKE 'roles_%' ORDER BY 1, 2;
-- the owner cannot import as anyone else, nor read files on the server
INSERT INTO seqmodel.model (name, arch, config, owner) VALUES ('roles_forged', 'linear', '{}', 'seqmodel_test_stranger');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors_file('roles_file', 'linear', '{}', '/dev/null');
\echo :LAST_ERROR_SQLSTATE

-- ---------------------------------------------------------------- the stranger sees nothing
SET ROLE seqmodel_test_stranger;
SELECT (SELECT count(*) FROM seqmodel.model WHERE name LIKE 'roles_%') AS models,
       (SELECT count(*) FROM seqmodel.tensor WHERE model LIKE 'roles_%') AS tensors,
       (SELECT count(*) FROM seqmodel.tokenizer WHERE model LIKE 'roles_%') AS tokenizers,
       (SELECT count(*) FROM seqmodel.models WHERE name LIKE 'roles_%') AS in_view,
       (SELECT count(*) FROM seqmodel.model_grant WHERE model LIKE 'roles_%') AS grants;
-- the owner's model is in this backend's cache, but not for this role
SELECT count(*) AS cached_for_me FROM seqmodel.cache_info() WHERE model LIKE 'roles_%';
SELECT seqmodel.predict('roles_lin', '{1,1,1}');
\echo :LAST_ERROR_SQLSTATE
SELECT roles_predict_as_owner() AS as_owner;
SELECT roles_predict_as_owner() AS as_owner, seqmodel.predict('roles_lin', '{1,1,1}') AS as_me;
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.drop_model('roles_lin');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('roles_lin', 'linear', '{"in_features": 3, "out_features": 2}', ramp_linear(3, 2, 9), replace => true);
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.grant_use('roles_lin', 'seqmodel_test_stranger');
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY terse
SELECT seqmodel.predict_steps('roles_lstm', '{0.1,0.2}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.forecast('roles_lstm', '{0.1,0.2,0.3}', 3);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.forecast_table('roles_lstm', '{0.1,0.2,0.3}', 3);
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.forecast_agg('roles_lstm', v, 3 ORDER BY t) FROM roles_series;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM seqmodel.forecast_query('roles_lstm', 'SELECT s, v FROM roles_series ORDER BY s, t', 3);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM seqmodel.backtest('roles_lstm', 'SELECT s, v FROM roles_series ORDER BY s, t', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM seqmodel.state_update('roles_lstm', 'roles_state', 'SELECT s, t::bigint, v FROM roles_series ORDER BY s, t');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM seqmodel.forecast_from_state('roles_lstm', 'roles_state', 3);
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.classify('roles_cls', 'the cat');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.label('roles_cls', 'the cat');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.tokenize('roles_cls', 'the cat');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM seqmodel.score_query('roles_cls', 'classify', 'SELECT 1::text, ''the cat''');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.generate('roles_lm', 'the cat', 3);
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.logprob('roles_lm', 'the cat');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.forward('roles_lm', '{5,6}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.export_safetensors('roles_lin');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.drop_model('roles_lin', if_exists => true);
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_tokenizer_wordpiece('roles_cls', E:'small_vocab');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.revoke_use('roles_lin', 'seqmodel_test_grantee');
\echo :LAST_ERROR_SQLSTATE
-- the name is taken (the primary key spans every model): 42710 as for anyone
SELECT seqmodel.import_safetensors('roles_lin', 'linear', '{"in_features": 3, "out_features": 2}', ramp_linear(3, 2, 9));
\echo :LAST_ERROR_SQLSTATE
-- direct writes change nothing or are refused
UPDATE seqmodel.model SET arch = 'gru' WHERE name = 'roles_lin';
DELETE FROM seqmodel.tensor WHERE model = 'roles_lin';
DELETE FROM seqmodel.model_grant WHERE model LIKE 'roles_%';
INSERT INTO seqmodel.tensor (model, name, shape, dtype, data) VALUES ('roles_lin', 'extra', '{1}', 'F32', '\x00000000');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO seqmodel.model_grant VALUES ('roles_lin', 'seqmodel_test_stranger', 'seqmodel_test_owner');
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
-- its own model is its own
SELECT seqmodel.import_safetensors('roles_mine', 'linear', '{"in_features": 3, "out_features": 2}', ramp_linear(3, 2, 1)) AS parameters;
SELECT name, owner FROM seqmodel.models WHERE name LIKE 'roles_%' ORDER BY name;
SELECT seqmodel.cache_reset() >= 0 AS reset;

-- ---------------------------------------------------------------- the grantee, before and after grant_use
SET ROLE seqmodel_test_grantee;
SELECT seqmodel.predict('roles_lin', '{1,1,1}');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('roles_g', 'linear', '{"in_features": 3, "out_features": 2}', ramp_linear(3, 2, 1));
\echo :LAST_ERROR_SQLSTATE
SET ROLE seqmodel_test_owner;
SELECT seqmodel.grant_use('roles_lin', 'seqmodel_test_grantee') AS granted,
       seqmodel.grant_use('roles_lin', 'seqmodel_test_grantee') AS again,
       seqmodel.grant_use('roles_lstm', 'seqmodel_test_grantee') AS lstm,
       seqmodel.grant_use('roles_cls', 'seqmodel_test_grantee') AS cls,
       seqmodel.grant_use('roles_lm', 'seqmodel_test_grantee') AS lm;
SELECT model, grantee, grantor FROM seqmodel.model_grant WHERE model LIKE 'roles_%' ORDER BY 1, 2;
SELECT seqmodel.predict('roles_lin', '{1,1,1}') AS cached_by_owner;
SET ROLE seqmodel_test_grantee;
SELECT seqmodel.predict('roles_lin', '{1,1,1}') AS predict;
SELECT model FROM seqmodel.cache_info() WHERE model LIKE 'roles_%' ORDER BY model;
SELECT array_length(seqmodel.predict_steps('roles_lstm', '{0.1,0.2}'), 1) AS steps,
       array_length(seqmodel.forecast('roles_lstm', '{0.1,0.2,0.3}', 3), 1) AS forecast_len,
       (SELECT count(*) FROM seqmodel.forecast_table('roles_lstm', '{0.1,0.2,0.3}', 3)) AS table_rows,
       (SELECT array_length(seqmodel.forecast_agg('roles_lstm', v, 3 ORDER BY t), 1) FROM roles_series) AS agg_len;
SELECT count(*) AS forecast_query_rows FROM seqmodel.forecast_query('roles_lstm', 'SELECT s, v FROM roles_series ORDER BY s, t', 3);
SELECT * FROM seqmodel.state_update('roles_lstm', 'roles_state', 'SELECT s, t::bigint, v FROM roles_series ORDER BY s, t');
SELECT count(*) AS from_state_rows FROM seqmodel.forecast_from_state('roles_lstm', 'roles_state', 3);
SELECT count(*) AS backtest_rows FROM seqmodel.backtest('roles_lstm', 'SELECT s, v FROM roles_series ORDER BY s, t', 2);
SELECT array_length(seqmodel.classify('roles_cls', 'the cat'), 1) AS classes,
       seqmodel.label('roles_cls', 'the cat') IN ('animal', 'thing') AS labelled,
       seqmodel.tokenize('roles_cls', 'the cat') AS ids;
SELECT count(*) AS scored FROM seqmodel.score_query('roles_cls', 'classify', 'SELECT 1::text, ''the cat''');
SELECT length(seqmodel.generate('roles_lm', 'the cat', 3)) >= 0 AS generated,
       seqmodel.logprob('roles_lm', 'the cat') < 0 AS logprob,
       array_length(seqmodel.forward('roles_lm', '{5,6}'), 1) AS forward_rows;
-- use includes reading the rows (export, SELECT): the weights are not hidden from a grantee
SELECT octet_length(seqmodel.export_safetensors('roles_lin')) = octet_length(ramp_linear(3, 2, 0.5)) AS exported;
SELECT count(*) AS tensor_rows FROM seqmodel.tensor WHERE model = 'roles_lin';
-- but not replacing, dropping, granting or changing the tokenizer (no INSERT at all here)
SELECT seqmodel.drop_model('roles_lin');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_safetensors('roles_lin', 'linear', '{"in_features": 3, "out_features": 2}', ramp_linear(3, 2, 9), replace => true);
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY terse
SELECT seqmodel.grant_use('roles_lin', 'public');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.revoke_use('roles_lin', 'seqmodel_test_grantee');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.import_tokenizer_wordpiece('roles_cls', E:'small_vocab');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.predict('roles_mine', '{1,1,1}');
\echo :LAST_ERROR_SQLSTATE
UPDATE seqmodel.model SET arch = 'gru' WHERE name = 'roles_lin';
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default

-- ---------------------------------------------------------------- the deputy has the owner's privileges
SET ROLE seqmodel_test_deputy;
SELECT seqmodel.import_safetensors('roles_lin', 'linear', '{"in_features": 3, "out_features": 2}', ramp_linear(3, 2, 2), replace => true) AS replaced;
-- a replaced model keeps its owner and its grants
SELECT name, owner FROM seqmodel.models WHERE name = 'roles_lin';
SELECT model, grantee FROM seqmodel.model_grant WHERE model = 'roles_lin' ORDER BY 2;
SELECT seqmodel.grant_use('roles_lin', 'PUBLIC') AS to_public;

-- ---------------------------------------------------------------- PUBLIC, then revoked
SET ROLE seqmodel_test_stranger;
SELECT seqmodel.predict('roles_lin', '{1,1,1}') AS public_use;
SET ROLE seqmodel_test_grantee;
SELECT seqmodel.predict('roles_lin', '{1,1,1}') AS new_weights;
SET ROLE seqmodel_test_owner;
SELECT seqmodel.revoke_use('roles_lin', 'public') AS revoked,
       seqmodel.revoke_use('roles_lin', 'public') AS again,
       seqmodel.revoke_use('roles_lin', 'seqmodel_test_grantee') AS from_grantee;
SET ROLE seqmodel_test_stranger;
SELECT seqmodel.predict('roles_lin', '{1,1,1}');
\echo :LAST_ERROR_SQLSTATE
SET ROLE seqmodel_test_grantee;
SELECT seqmodel.predict('roles_lin', '{1,1,1}');
\echo :LAST_ERROR_SQLSTATE
SELECT array_length(seqmodel.classify('roles_cls', 'the cat'), 1) AS still_granted;
-- a role without any seqmodel role does not get as far as a model
SET ROLE seqmodel_test_nobody;
SELECT seqmodel.predict('roles_lin', '{1,1,1}');
\echo :LAST_ERROR_SQLSTATE

-- ---------------------------------------------------------------- grant functions' own errors
SET ROLE seqmodel_test_owner;
SELECT seqmodel.grant_use('roles_lin', 'seqmodel_test_no_such_role');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.grant_use('roles_no_such_model', 'public');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.revoke_use('roles_no_such_model', 'public');
\echo :LAST_ERROR_SQLSTATE
SELECT seqmodel.drop_model('roles_no_such_model', if_exists => true) AS dropped;

-- ---------------------------------------------------------------- clean up
SELECT seqmodel.drop_model(name) FROM seqmodel.model WHERE owner = 'seqmodel_test_owner'::regrole ORDER BY name;
SET ROLE seqmodel_test_stranger;
SELECT seqmodel.drop_model('roles_mine');
RESET ROLE;
SELECT count(*) AS left_over FROM seqmodel.model WHERE name LIKE 'roles_%';
SELECT count(*) AS grants_left FROM seqmodel.model_grant WHERE model LIKE 'roles_%';
DROP FUNCTION roles_predict_as_owner(), roles_synth(jsonb);
DROP TABLE roles_files, roles_series, roles_state;
DROP ROLE seqmodel_test_deputy, seqmodel_test_owner, seqmodel_test_grantee, seqmodel_test_stranger, seqmodel_test_nobody;
SELECT seqmodel.cache_reset() >= 0 AS reset;
