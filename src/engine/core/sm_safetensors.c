/*
 * sm_safetensors.c -- strict safetensors header parsing and writing.
 *
 * Validation order follows what a user can fix: the prefix, then the JSON,
 * then each tensor entry on its own (dtype, shape, offsets inside the data,
 * size), then how the tensors sit together (overlap, gaps, trailing bytes).
 * Every message names the tensor and gives the expected and actual values.
 */
#include "sm_safetensors.h"

#include <inttypes.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define ST_ERR "invalid safetensors data"

sm_status
sm_st_read_prefix(const uint8_t *data, uint64_t total_size, uint64_t *header_len,
				  sm_error *err)
{
	uint64_t	n = 0;

	if (total_size < SM_ST_PREFIX_LEN)
	{
		sm_fail(err, SM_ERR_CORRUPT, ST_ERR ": file is too short");
		sm_detail(err, "The file has %" PRIu64 " bytes; a safetensors file starts with an 8-byte header length.",
				  total_size);
		return err->code;
	}
	for (int i = 7; i >= 0; i--)
		n = (n << 8) | data[i];
	if (n > total_size - SM_ST_PREFIX_LEN)
	{
		sm_fail(err, SM_ERR_CORRUPT, ST_ERR ": header length is past the end of the file");
		sm_detail(err, "The header length is %" PRIu64 " bytes, but only %" PRIu64 " bytes follow the length prefix.",
				  n, total_size - SM_ST_PREFIX_LEN);
		return err->code;
	}
	if (n > SM_ST_MAX_HEADER)
	{
		sm_fail(err, SM_ERR_LIMIT, ST_ERR ": header is too large");
		sm_detail(err, "The header length is %" PRIu64 " bytes; at most %d are allowed.",
				  n, SM_ST_MAX_HEADER);
		return err->code;
	}
	if (n < 2)
	{
		sm_fail(err, SM_ERR_CORRUPT, ST_ERR ": header is too short");
		sm_detail(err, "The header length is %" PRIu64 " bytes; the smallest header, {}, has 2.", n);
		return err->code;
	}
	*header_len = n;
	return SM_OK;
}

static int
cmp_begin(const void *a, const void *b)
{
	const sm_st_tensor *x = a;
	const sm_st_tensor *y = b;

	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return strcmp(x->info.name, y->info.name);
}

/* A JSON number that is a non-negative integer. */
static bool
json_uint(const sm_json *j, uint64_t *out)
{
	if (j == NULL || j->type != SM_JSON_NUMBER || !j->is_integer || j->integer < 0)
		return false;
	*out = (uint64_t) j->integer;
	return true;
}

static sm_status
parse_entry(const char *name, const sm_json *entry, uint64_t data_len,
			sm_st_tensor *t, sm_error *err)
{
	const sm_json *dtype = NULL;
	const sm_json *shape = NULL;
	const sm_json *offsets = NULL;
	uint64_t	numel = 1;
	uint64_t	expect;
	size_t		esize;
	char		shapebuf[160];

	if (entry->type != SM_JSON_OBJECT)
		return sm_fail(err, SM_ERR_CORRUPT, ST_ERR ": entry of tensor \"%s\" is a JSON %s, not an object",
					   name, sm_json_type_name(entry->type));
	for (size_t i = 0; i < entry->count; i++)
	{
		const char *key = entry->keys[i];

		if (strcmp(key, "dtype") == 0)
			dtype = entry->items[i];
		else if (strcmp(key, "shape") == 0)
			shape = entry->items[i];
		else if (strcmp(key, "data_offsets") == 0)
			offsets = entry->items[i];
		else
			return sm_fail(err, SM_ERR_CORRUPT, ST_ERR ": entry of tensor \"%s\" has unknown key \"%s\"",
						   name, key);
	}
	if (dtype == NULL || shape == NULL || offsets == NULL)
		return sm_fail(err, SM_ERR_CORRUPT, ST_ERR ": entry of tensor \"%s\" lacks \"%s\"",
					   name, dtype == NULL ? "dtype" : shape == NULL ? "shape" : "data_offsets");

	if (dtype->type != SM_JSON_STRING)
		return sm_fail(err, SM_ERR_CORRUPT, ST_ERR ": dtype of tensor \"%s\" is not a string", name);
	t->info.dtype = sm_dtype_from_name(dtype->string);
	if (t->info.dtype == SM_DTYPE_INVALID)
	{
		sm_fail(err, SM_ERR_CORRUPT, ST_ERR ": tensor \"%s\" has unknown dtype \"%s\"", name, dtype->string);
		sm_detail(err, "Known dtypes are F32, F16, BF16, F64, I64, I32, I16, I8, U64, U32, U16, U8, BOOL, F8_E4M3 and F8_E5M2.");
		return err->code;
	}

	if (shape->type != SM_JSON_ARRAY)
		return sm_fail(err, SM_ERR_CORRUPT, ST_ERR ": shape of tensor \"%s\" is not an array", name);
	if (shape->count > SM_MAX_DIMS)
	{
		sm_fail(err, SM_ERR_UNSUPPORTED, "tensor \"%s\" has too many dimensions", name);
		sm_detail(err, "It has %zu dimensions; at most %d are supported.", shape->count, SM_MAX_DIMS);
		return err->code;
	}
	t->info.ndim = (int) shape->count;
	for (size_t i = 0; i < shape->count; i++)
	{
		uint64_t	d;

		if (!json_uint(shape->items[i], &d) || d > INT32_MAX)
			return sm_fail(err, SM_ERR_CORRUPT, ST_ERR ": shape of tensor \"%s\" has an invalid dimension at position %zu",
						   name, i + 1);
		t->info.shape[i] = (int64_t) d;
		if (sm_mul_overflow_u64(numel, d, &numel))
			return sm_fail(err, SM_ERR_CORRUPT, ST_ERR ": shape of tensor \"%s\" overflows", name);
	}

	if (offsets->type != SM_JSON_ARRAY || offsets->count != 2 ||
		!json_uint(offsets->items[0], &t->begin) || !json_uint(offsets->items[1], &t->end))
		return sm_fail(err, SM_ERR_CORRUPT, ST_ERR ": data_offsets of tensor \"%s\" is not a pair of non-negative integers",
					   name);
	if (t->begin > t->end)
	{
		sm_fail(err, SM_ERR_CORRUPT, ST_ERR ": data_offsets of tensor \"%s\" are reversed", name);
		sm_detail(err, "The tensor begins at byte %" PRIu64 " and ends at byte %" PRIu64 ".", t->begin, t->end);
		return err->code;
	}
	if (t->end > data_len)
	{
		sm_fail(err, SM_ERR_CORRUPT, ST_ERR ": tensor \"%s\" ends past the end of the data", name);
		sm_detail(err, "The tensor ends at byte %" PRIu64 " of the data section, which has %" PRIu64 " bytes.",
				  t->end, data_len);
		return err->code;
	}
	esize = sm_dtype_size(t->info.dtype);
	if (sm_mul_overflow_u64(numel, esize, &expect) || expect != t->end - t->begin)
	{
		sm_shape_format(shapebuf, sizeof(shapebuf), t->info.ndim, t->info.shape);
		sm_fail(err, SM_ERR_CORRUPT, ST_ERR ": size of tensor \"%s\" does not match its shape", name);
		sm_detail(err, "Shape %s of %s needs %" PRIu64 " bytes; its data_offsets span %" PRIu64 " bytes.",
				  shapebuf, sm_dtype_name(t->info.dtype), numel * esize, t->end - t->begin);
		return err->code;
	}
	return SM_OK;
}

sm_status
sm_st_parse_header(const uint8_t *header, uint64_t header_len, uint64_t total_size,
				   sm_st_file *out, sm_error *err)
{
	sm_json    *root = NULL;
	sm_status	rc;
	int			n = 0;

	memset(out, 0, sizeof(*out));
	out->header_len = header_len;
	out->data_start = SM_ST_PREFIX_LEN + header_len;
	out->data_len = total_size - out->data_start;

	rc = sm_json_parse((const char *) header, (size_t) header_len, &root, err);
	if (rc == SM_ERR_INVALID)
	{
		char		msg[SM_MSG_LEN];

		/* keep the parser's words, say where they come from */
		snprintf(msg, sizeof(msg), "%s", err->message);
		return sm_fail(err, SM_ERR_CORRUPT, ST_ERR ": header is not valid JSON: %s", msg);
	}
	if (rc != SM_OK)
		return rc;
	if (root->type != SM_JSON_OBJECT)
	{
		rc = sm_fail(err, SM_ERR_CORRUPT, ST_ERR ": header is a JSON %s, not an object",
					 sm_json_type_name(root->type));
		goto fail;
	}

	out->tensors = sm_alloc_array(root->count ? root->count : 1, sizeof(sm_st_tensor));
	if (out->tensors == NULL)
	{
		rc = sm_fail(err, SM_ERR_NOMEM, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < root->count; i++)
	{
		const char *name = root->keys[i];
		sm_st_tensor *t = &out->tensors[n];

		if (strcmp(name, "__metadata__") == 0)
		{
			sm_json    *meta = root->items[i];

			if (meta->type != SM_JSON_OBJECT)
			{
				rc = sm_fail(err, SM_ERR_CORRUPT, ST_ERR ": __metadata__ is not an object");
				goto fail;
			}
			for (size_t k = 0; k < meta->count; k++)
				if (meta->items[k]->type != SM_JSON_STRING)
				{
					rc = sm_fail(err, SM_ERR_CORRUPT, ST_ERR ": __metadata__ value \"%s\" is not a string",
								 meta->keys[k]);
					goto fail;
				}
			continue;
		}
		if (name[0] == '\0' || strlen(name) >= SM_MAX_NAME)
		{
			rc = sm_fail(err, SM_ERR_CORRUPT, ST_ERR ": tensor name is empty or longer than %d bytes",
						 SM_MAX_NAME - 1);
			goto fail;
		}
		memset(t, 0, sizeof(*t));
		rc = parse_entry(name, root->items[i], out->data_len, t, err);
		if (rc != SM_OK)
			goto fail;
		t->info.name = sm_strndup(name, strlen(name));
		if (t->info.name == NULL)
		{
			rc = sm_fail(err, SM_ERR_NOMEM, "out of memory");
			goto fail;
		}
		out->n_tensors = ++n;
	}

	/* the tensors must tile the data section exactly */
	qsort(out->tensors, (size_t) n, sizeof(sm_st_tensor), cmp_begin);
	{
		uint64_t	pos = 0;
		const char *prev = NULL;

		for (int i = 0; i < n; i++)
		{
			sm_st_tensor *t = &out->tensors[i];

			if (t->begin < pos)
			{
				sm_fail(err, SM_ERR_CORRUPT, ST_ERR ": tensors \"%s\" and \"%s\" overlap",
						prev, t->info.name);
				sm_detail(err, "\"%s\" ends at byte %" PRIu64 "; \"%s\" begins at byte %" PRIu64 ".",
						  prev, pos, t->info.name, t->begin);
				rc = err->code;
				goto fail;
			}
			if (t->begin > pos)
			{
				sm_fail(err, SM_ERR_CORRUPT, ST_ERR ": bytes %" PRIu64 " to %" PRIu64 " of the data belong to no tensor",
						pos, t->begin);
				if (prev)
					sm_detail(err, "They lie between tensors \"%s\" and \"%s\".", prev, t->info.name);
				else
					sm_detail(err, "They lie before tensor \"%s\".", t->info.name);
				rc = err->code;
				goto fail;
			}
			pos = t->end;
			prev = t->info.name;
		}
		if (pos != out->data_len)
		{
			sm_fail(err, SM_ERR_CORRUPT, ST_ERR ": %" PRIu64 " bytes after the last tensor belong to no tensor",
					out->data_len - pos);
			sm_detail(err, "The tensors end at byte %" PRIu64 "; the data section has %" PRIu64 " bytes.",
					  pos, out->data_len);
			rc = err->code;
			goto fail;
		}
	}

	/* keep the tree: metadata points into it */
	for (size_t i = 0; i < root->count; i++)
		if (strcmp(root->keys[i], "__metadata__") == 0)
			out->metadata = root->items[i];
	out->header = root;
	return SM_OK;

fail:
	if (out->header == NULL)
		sm_json_free(root);
	sm_st_file_free(out);
	return rc;
}

sm_status
sm_st_parse(const uint8_t *data, uint64_t size, sm_st_file *out, sm_error *err)
{
	uint64_t	n;
	sm_status	rc;

	memset(out, 0, sizeof(*out));
	rc = sm_st_read_prefix(data, size, &n, err);
	if (rc != SM_OK)
		return rc;
	return sm_st_parse_header(data + SM_ST_PREFIX_LEN, n, size, out, err);
}

void
sm_st_file_free(sm_st_file *file)
{
	if (file->tensors)
		for (int i = 0; i < file->n_tensors; i++)
			sm_free(file->tensors[i].info.name);
	sm_free(file->tensors);
	sm_json_free(file->header);
	memset(file, 0, sizeof(*file));
}

sm_status
sm_st_write_header(sm_buf *out, const sm_tensor_info *tensors, int n,
				   const sm_json *metadata, sm_error *err)
{
	sm_buf		h;
	uint64_t	offset = 0;
	uint64_t	len;
	uint8_t		prefix[SM_ST_PREFIX_LEN];

	sm_buf_init(&h);
	sm_buf_append(&h, "{", 1);
	if (metadata != NULL && metadata->count > 0)
	{
		sm_buf_append(&h, "\"__metadata__\":{", 16);
		for (size_t k = 0; k < metadata->count; k++)
		{
			const sm_json *v = metadata->items[k];

			if (v->type != SM_JSON_STRING)
			{
				sm_buf_free(&h);
				return sm_fail(err, SM_ERR_INVALID, "safetensors metadata value \"%s\" is not a string",
							   metadata->keys[k]);
			}
			if (k > 0)
				sm_buf_append(&h, ",", 1);
			sm_json_write_string(&h, metadata->keys[k], strlen(metadata->keys[k]));
			sm_buf_append(&h, ":", 1);
			sm_json_write_string(&h, v->string, v->string_len);
		}
		sm_buf_append(&h, "}", 1);
		if (n > 0)
			sm_buf_append(&h, ",", 1);
	}
	for (int i = 0; i < n; i++)
	{
		const sm_tensor_info *t = &tensors[i];
		size_t		numel;
		uint64_t	nbytes;

		if (!sm_shape_numel(t->ndim, t->shape, &numel) ||
			sm_mul_overflow_u64(numel, sm_dtype_size(t->dtype), &nbytes))
		{
			sm_buf_free(&h);
			return sm_fail(err, SM_ERR_INVALID, "tensor \"%s\" has an invalid shape", t->name);
		}
		if (i > 0)
			sm_buf_append(&h, ",", 1);
		sm_json_write_string(&h, t->name, strlen(t->name));
		sm_buf_appendf(&h, ":{\"dtype\":\"%s\",\"shape\":[", sm_dtype_name(t->dtype));
		for (int d = 0; d < t->ndim; d++)
			sm_buf_appendf(&h, d ? ",%" PRId64 : "%" PRId64, t->shape[d]);
		sm_buf_appendf(&h, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", offset, offset + nbytes);
		offset += nbytes;
	}
	sm_buf_append(&h, "}", 1);
	while (!h.failed && h.len % 8 != 0)
		sm_buf_append(&h, " ", 1);
	if (h.failed)
	{
		sm_buf_free(&h);
		return sm_fail(err, SM_ERR_NOMEM, "out of memory");
	}
	len = h.len;
	for (int i = 0; i < 8; i++)
		prefix[i] = (uint8_t) (len >> (8 * i));
	sm_buf_append(out, prefix, sizeof(prefix));
	sm_buf_append(out, h.data, h.len);
	sm_buf_free(&h);
	if (out->failed)
		return sm_fail(err, SM_ERR_NOMEM, "out of memory");
	return SM_OK;
}
