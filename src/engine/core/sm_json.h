/*
 * sm_json.h -- a small, strict JSON (RFC 8259) parser and string writer.
 *
 * Used for the safetensors header and for model configs (the glue passes
 * jsonb as text).  The parser accepts exactly RFC 8259: no comments, no
 * trailing commas, no NaN, no leading zeros, no control characters in
 * strings, valid UTF-8 only, surrogate pairs in \u escapes must pair up.
 * Duplicate object keys are rejected (safetensors and configs are
 * ambiguous with them).  Nesting deeper than SM_JSON_MAX_DEPTH is an
 * error.  Every node is allocated through sm_alloc; sm_json_free frees a
 * whole tree.
 */
#ifndef SM_JSON_H
#define SM_JSON_H

#include "sm_core.h"

#define SM_JSON_MAX_DEPTH 64

typedef enum sm_json_type
{
	SM_JSON_NULL,
	SM_JSON_BOOL,
	SM_JSON_NUMBER,
	SM_JSON_STRING,
	SM_JSON_ARRAY,
	SM_JSON_OBJECT
} sm_json_type;

typedef struct sm_json sm_json;
struct sm_json
{
	sm_json_type type;
	bool		boolean;		/* SM_JSON_BOOL */
	double		number;			/* SM_JSON_NUMBER (always set) */
	bool		is_integer;		/* number had no fraction/exponent and fits int64 */
	int64_t		integer;		/* valid when is_integer */
	char	   *string;			/* SM_JSON_STRING: decoded UTF-8, NUL-terminated */
	size_t		string_len;		/* bytes, excluding the NUL (strings may hold \u0000) */
	size_t		count;			/* elements of an array / members of an object */
	sm_json   **items;			/* array elements or object member values */
	char	  **keys;			/* object member keys, NUL-terminated; NULL for arrays */
};

/*
 * Parse text[0..len) as one JSON value (surrounding whitespace allowed).
 * On failure returns SM_ERR_INVALID with a message naming what was wrong and
 * the byte offset, e.g. "invalid JSON at byte 17: expected ':'".  *out is
 * NULL on failure.
 */
sm_status	sm_json_parse(const char *text, size_t len, sm_json **out, sm_error *err);
void		sm_json_free(sm_json *json);

/* Member of an object by key, or NULL (also NULL when obj is not an object). */
const sm_json *sm_json_get(const sm_json *obj, const char *key);

/* "null", "boolean", "number", "string", "array", "object" */
const char *sm_json_type_name(sm_json_type type);

/* Append s[0..len) as a JSON string literal (with quotes and escapes). */
void		sm_json_write_string(sm_buf *buf, const char *s, size_t len);

#endif							/* SM_JSON_H */
