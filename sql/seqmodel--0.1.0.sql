-- seqmodel 0.1.0: the model catalog, import/export, the per-backend cache
-- and predict for arch "linear".  Every object is schema-qualified; the
-- extension is not relocatable (schema seqmodel).

\echo Use "CREATE EXTENSION seqmodel" to load this file. \quit

-------------------------------------------------------------------------------
-- Catalog
-------------------------------------------------------------------------------

-- Every change of a model (its row, or any of its tensor rows) takes a new
-- value from this sequence; backends compare it with the version they
-- cached.  Values are never reused, so equal versions mean equal contents,
-- also across rolled-back transactions.
CREATE SEQUENCE seqmodel.model_version_seq;

CREATE TABLE seqmodel.model (
    name     text PRIMARY KEY CHECK (name <> ''),
    arch     text NOT NULL,
    config   jsonb NOT NULL CHECK (jsonb_typeof(config) = 'object'),
    metadata jsonb CHECK (metadata IS NULL OR jsonb_typeof(metadata) = 'object'),
    created  timestamptz NOT NULL DEFAULT now(),
    version  bigint NOT NULL DEFAULT nextval('seqmodel.model_version_seq')
);
COMMENT ON TABLE seqmodel.model IS 'models: name, arch, config (the arch''s constructor arguments), safetensors __metadata__, version';

-- One row per tensor, or several ("chunks", numbered from 0, in order) for a
-- tensor larger than 4 MiB: data of chunk k holds bytes [k * 4 MiB, ...).
-- shape and dtype are repeated on every chunk row.  data is stored as in the
-- safetensors file: little-endian, C order, dtype F32, F16 or BF16.
CREATE TABLE seqmodel.tensor (
    model text NOT NULL REFERENCES seqmodel.model (name) ON UPDATE CASCADE ON DELETE CASCADE,
    name  text NOT NULL CHECK (name <> ''),
    chunk integer NOT NULL DEFAULT 0 CHECK (chunk >= 0),
    shape integer[] NOT NULL,
    dtype text NOT NULL,
    data  bytea NOT NULL,
    PRIMARY KEY (model, name, chunk)
);
-- float data hardly compresses: store it out of line without compression,
-- which also makes reading it a plain copy
ALTER TABLE seqmodel.tensor ALTER COLUMN data SET STORAGE EXTERNAL;
COMMENT ON TABLE seqmodel.tensor IS 'model weights, named as in the PyTorch state_dict, split into chunks of at most 4 MiB';

-- pg_dump dumps the rows of these tables (they are the user's data)
SELECT pg_catalog.pg_extension_config_dump('seqmodel.model', '');
SELECT pg_catalog.pg_extension_config_dump('seqmodel.tensor', '');
SELECT pg_catalog.pg_extension_config_dump('seqmodel.model_version_seq', '');

-- A new version on every change of a model row ...
CREATE FUNCTION seqmodel.bump_model_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.version := pg_catalog.nextval('seqmodel.model_version_seq');
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION seqmodel.bump_model_version() IS 'trigger: a model row that changes gets a new version';

CREATE TRIGGER model_version BEFORE UPDATE ON seqmodel.model
    FOR EACH ROW EXECUTE FUNCTION seqmodel.bump_model_version();

-- ... and of its tensor rows (statement-level: one update per statement)
CREATE FUNCTION seqmodel.tensor_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        UPDATE seqmodel.model SET version = version;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE seqmodel.model SET version = version
         WHERE name OPERATOR(pg_catalog.=) ANY (SELECT model FROM old_rows);
    ELSE
        UPDATE seqmodel.model SET version = version
         WHERE name OPERATOR(pg_catalog.=) ANY (SELECT model FROM new_rows);
    END IF;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION seqmodel.tensor_changed() IS 'trigger: a model whose tensor rows change gets a new version';

CREATE TRIGGER tensor_insert AFTER INSERT ON seqmodel.tensor
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION seqmodel.tensor_changed();
CREATE TRIGGER tensor_update AFTER UPDATE ON seqmodel.tensor
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION seqmodel.tensor_changed();
CREATE TRIGGER tensor_delete AFTER DELETE ON seqmodel.tensor
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION seqmodel.tensor_changed();
CREATE TRIGGER tensor_truncate AFTER TRUNCATE ON seqmodel.tensor
    FOR EACH STATEMENT EXECUTE FUNCTION seqmodel.tensor_changed();

CREATE FUNCTION seqmodel.numel(shape integer[]) RETURNS bigint
AS 'MODULE_PATHNAME', 'sm_numel'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seqmodel.numel(integer[]) IS 'number of elements of a tensor of this shape (1 for a scalar [])';

CREATE VIEW seqmodel.models AS
SELECT m.name,
       m.arch,
       coalesce(t.parameters, 0) AS parameters,
       coalesce(t.bytes, 0) AS bytes,
       coalesce(t.tensors, 0) AS tensors,
       m.config,
       m.version,
       m.created
  FROM seqmodel.model m
  LEFT JOIN (SELECT model,
                    pg_catalog.sum(seqmodel.numel(shape)) FILTER (WHERE chunk = 0)::bigint AS parameters,
                    pg_catalog.sum(pg_catalog.octet_length(data))::bigint AS bytes,
                    pg_catalog.count(*) FILTER (WHERE chunk = 0) AS tensors
               FROM seqmodel.tensor
              GROUP BY model) t ON t.model OPERATOR(pg_catalog.=) m.name;
COMMENT ON VIEW seqmodel.models IS 'one row per model: arch, parameter count, stored bytes, tensor count, config';

-------------------------------------------------------------------------------
-- Import and export
-------------------------------------------------------------------------------

CREATE FUNCTION seqmodel.import_safetensors(name text, arch text, config jsonb,
                                            weights bytea, replace boolean DEFAULT false)
RETURNS bigint
AS 'MODULE_PATHNAME', 'sm_import_safetensors'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION seqmodel.import_safetensors(text, text, jsonb, bytea, boolean) IS
'import a model from a safetensors file''s bytes; returns the number of parameters';

CREATE FUNCTION seqmodel.import_safetensors_file(name text, arch text, config jsonb,
                                                 path text, replace boolean DEFAULT false)
RETURNS bigint
AS 'MODULE_PATHNAME', 'sm_import_safetensors_file'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION seqmodel.import_safetensors_file(text, text, jsonb, text, boolean) IS
'import a model from a safetensors file on the database server (needs pg_read_server_files); returns the number of parameters';
REVOKE ALL ON FUNCTION seqmodel.import_safetensors_file(text, text, jsonb, text, boolean) FROM PUBLIC;

CREATE FUNCTION seqmodel.export_safetensors(name text) RETURNS bytea
AS 'MODULE_PATHNAME', 'sm_export_safetensors'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seqmodel.export_safetensors(text) IS
'the model''s tensors (and safetensors metadata) as a safetensors file';

CREATE FUNCTION seqmodel.drop_model(name text, if_exists boolean DEFAULT false) RETURNS boolean
AS 'MODULE_PATHNAME', 'sm_drop_model'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION seqmodel.drop_model(text, boolean) IS
'drop a model and its tensors; true if it existed';

-------------------------------------------------------------------------------
-- Running models
-------------------------------------------------------------------------------

CREATE FUNCTION seqmodel.predict(model text, input real[]) RETURNS real[]
AS 'MODULE_PATHNAME', 'sm_predict'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seqmodel.predict(text, real[]) IS
'run a model: a 1-D input is one vector, a 2-D input one vector per row';

-------------------------------------------------------------------------------
-- The per-backend model cache
-------------------------------------------------------------------------------

CREATE FUNCTION seqmodel.cache_info(OUT model text, OUT arch text, OUT version bigint,
                                    OUT bytes bigint, OUT hits bigint,
                                    OUT loaded_at timestamptz, OUT last_used timestamptz,
                                    OUT load_ms float8)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'sm_cache_info'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION seqmodel.cache_info() IS
'the models this backend holds in memory, most recently used first';

CREATE FUNCTION seqmodel.cache_reset() RETURNS bigint
AS 'MODULE_PATHNAME', 'sm_cache_reset'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION seqmodel.cache_reset() IS
'free every model this backend holds; returns how many there were';
