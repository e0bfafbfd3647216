-- setup: install the extension, load the PyTorch fixtures' inputs and
-- outputs, and define the helpers the other tests share.
CREATE EXTENSION seqmodel;
SELECT e.extname, e.extversion, n.nspname, e.extrelocatable
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE e.extname = 'seqmodel';

-- inputs and PyTorch's float32 outputs (test/fixtures/gen_fixtures.py)
\getenv abs_srcdir PG_ABS_SRCDIR
\set iofile :abs_srcdir '/test/fixtures/linear_io.sql'
\i :iofile

-- normwise relative error: max |got - expected| / max |expected|;
-- Infinity when the shapes differ
CREATE FUNCTION max_rel_err(got real[], expected float8[]) RETURNS float8
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT CASE WHEN array_dims(got) IS DISTINCT FROM array_dims(expected) THEN 'Infinity'::float8
           ELSE (SELECT max(abs(g - e)) / greatest(max(abs(e)), 1e-30)
                   FROM unnest(got::float8[], expected) AS u(g, e)) END
$$;

-- building safetensors files in SQL (for cases too big to commit)
CREATE FUNCTION le_u64(n bigint) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT string_agg(substring(int8send(n) FROM 9 - i FOR 1), ''::bytea ORDER BY i)
      FROM generate_series(1, 8) AS i
$$;
CREATE FUNCTION le_f32(r real) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT string_agg(substring(float4send(r) FROM 5 - i FOR 1), ''::bytea ORDER BY i)
      FROM generate_series(1, 4) AS i
$$;
CREATE FUNCTION make_safetensors(header text, data bytea) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT le_u64(octet_length(h)) || h || data
      FROM convert_to(header, 'UTF8') AS h
$$;
-- a linear model [out, in] whose row o is all o, bias all b: predict on
-- ones gives in * o + b exactly
CREATE FUNCTION ramp_linear(n_in int, n_out int, b real) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT make_safetensors(
        format('{"weight":{"dtype":"F32","shape":[%s,%s],"data_offsets":[0,%s]},'
               '"bias":{"dtype":"F32","shape":[%s],"data_offsets":[%s,%s]}}',
               n_out, n_in, 4 * n_in * n_out, n_out, 4 * n_in * n_out, 4 * n_in * n_out + 4 * n_out),
        (SELECT string_agg(decode(repeat(encode(le_f32(o::real), 'hex'), n_in), 'hex'), ''::bytea ORDER BY o)
           FROM generate_series(0, n_out - 1) AS o)
        || decode(repeat(encode(le_f32(b), 'hex'), n_out), 'hex'))
$$;
SELECT le_u64(1) = '\x0100000000000000'::bytea AS le_u64_ok,
       le_f32(1) = '\x0000803f'::bytea AS le_f32_ok;
