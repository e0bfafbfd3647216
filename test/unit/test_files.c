/*
 * test_files.c -- fixture files for the unit suites (see sm_tests.h): a
 * whole file read into memory, and a model loaded from a safetensors file
 * the way the glue loads stored rows (begin, add and fill each tensor,
 * finish).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sm_tests.h"

#include "core/sm_json.h"
#include "core/sm_safetensors.h"
#include "text/sm_tokenizer.h"

char *
sm_test_read_file(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	char	   *s;
	long		n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	s = malloc((size_t) n + 1);
	if (s && fread(s, 1, (size_t) n, f) != (size_t) n)
	{
		free(s);
		s = NULL;
	}
	if (s)
		s[n] = '\0';
	fclose(f);
	*len = (size_t) n;
	return s;
}

sm_model *
sm_test_load_model(const char *arch, const char *path, const char *config)
{
	size_t		n;
	char	   *data;
	sm_st_file	st;
	sm_model   *model = NULL;
	sm_error	err;

	if ((data = sm_test_read_file(path, &n)) == NULL)
		return NULL;
	if (sm_st_parse((const uint8_t *) data, n, &st, &err) != SM_OK)
	{
		fprintf(stderr, "%s: %s\n", path, err.message);
		free(data);
		return NULL;
	}
	if (sm_model_begin(&model, arch, config, strlen(config), &err) != SM_OK)
		goto fail;
	for (int i = 0; i < st.n_tensors; i++)
	{
		sm_tensor  *t;

		if (sm_model_add_tensor(model, &st.tensors[i].info, &t, &err) != SM_OK)
			goto fail;
		if (t && sm_tensor_append(t, st.tensors[i].info.dtype, data + st.data_start + st.tensors[i].begin,
								  st.tensors[i].end - st.tensors[i].begin, &err) != SM_OK)
			goto fail;
	}
	if (sm_model_finish(model, &err) != SM_OK)
		goto fail;
	sm_st_file_free(&st);
	free(data);
	return model;
fail:
	fprintf(stderr, "%s: %s (%s)\n", path, err.message, err.detail);
	sm_model_free(model);
	sm_st_file_free(&st);
	free(data);
	return NULL;
}

/* ---------------------------------------------------------------- tokenizer fixtures */

/* a gzip file, decompressed by gzip -dc, NUL-terminated; NULL when missing or broken */
char *
sm_test_read_gz(const char *path, size_t *len)
{
	char		cmd[512];
	FILE	   *f;
	char	   *buf;
	size_t		cap = 1 << 20,
				n = 0;

	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	fclose(f);
	snprintf(cmd, sizeof(cmd), "gzip -dc '%s'", path);
	if ((f = popen(cmd, "r")) == NULL)
		return NULL;
	buf = malloc(cap + 1);
	while (buf != NULL)
	{
		n += fread(buf + n, 1, cap - n, f);
		if (n < cap)
			break;
		cap *= 2;
		buf = realloc(buf, cap + 1);
	}
	if (pclose(f) != 0 || buf == NULL)
	{
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* split in place at '\n'; returns the count */
int
sm_test_split_lines(char *s, size_t len, char ***lines, size_t **lens)
{
	int			n = 0,
				cap = 1024;
	size_t		i = 0;

	*lines = malloc(cap * sizeof(char *));
	*lens = malloc(cap * sizeof(size_t));
	while (i < len)
	{
		char	   *nl = memchr(s + i, '\n', len - i);
		size_t		l = nl ? (size_t) (nl - (s + i)) : len - i;

		if (n == cap)
		{
			cap *= 2;
			*lines = realloc(*lines, cap * sizeof(char *));
			*lens = realloc(*lens, cap * sizeof(size_t));
		}
		(*lines)[n] = s + i;
		(*lens)[n] = l;
		s[i + l] = '\0';
		n++;
		i += l + 1;
	}
	return n;
}

/* undo the fixtures' escapes (\\ \n \t) in place; returns the length */
size_t
sm_test_unescape(char *s)
{
	size_t		o = 0;

	for (size_t i = 0; s[i]; i++)
	{
		if (s[i] == '\\' && s[i + 1])
		{
			i++;
			s[o++] = s[i] == 'n' ? '\n' : s[i] == 't' ? '\t' : s[i] == '0' ? '\0' : s[i];
		}
		else
			s[o++] = s[i];
	}
	s[o] = '\0';
	return o;
}

/* hex digits to bytes in place; returns the length */
size_t
sm_test_unhex(char *s)
{
	size_t		o = 0;

	for (size_t i = 0; s[i] && s[i + 1]; i += 2)
	{
		unsigned	v;

		sscanf(s + i, "%2x", &v);
		s[o++] = (char) v;
	}
	s[o] = '\0';
	return o;
}

void
sm_test_ids_str(const int32_t *ids, int n, char *out, size_t cap)
{
	size_t		o = 0;

	out[0] = '\0';
	for (int i = 0; i < n && o + 16 < cap; i++)
		o += (size_t) snprintf(out + o, cap - o, i ? " %d" : "%d", ids[i]);
}

int
sm_test_parse_ids(const char *s, int32_t *ids, int cap)
{
	int			n = 0;
	char	   *end;

	while (*s && n < cap)
	{
		long		v = strtol(s, &end, 10);

		if (end == s)
			break;
		ids[n++] = (int32_t) v;
		s = end;
	}
	return n;
}

static void
write_number(sm_buf *b, const sm_json *v)
{
	if (v->is_integer)
		sm_buf_appendf(b, "%lld", (long long) v->integer);
	else
		sm_buf_appendf(b, "%.17g", v->number);
}

/* v as JSON text, with "$base" strings replaced by charsmap (when not NULL) */
void
sm_test_json_write(sm_buf *b, const sm_json *v, const char *charsmap)
{
	switch (v->type)
	{
		case SM_JSON_NULL:
			sm_buf_append(b, "null", 4);
			break;
		case SM_JSON_BOOL:
			sm_buf_appendf(b, "%s", v->boolean ? "true" : "false");
			break;
		case SM_JSON_NUMBER:
			write_number(b, v);
			break;
		case SM_JSON_STRING:
			if (strcmp(v->string, "$base") == 0 && charsmap != NULL)
				sm_json_write_string(b, charsmap, strlen(charsmap));
			else
				sm_json_write_string(b, v->string, v->string_len);
			break;
		case SM_JSON_ARRAY:
			sm_buf_append(b, "[", 1);
			for (size_t i = 0; i < v->count; i++)
			{
				if (i > 0)
					sm_buf_append(b, ",", 1);
				sm_test_json_write(b, v->items[i], charsmap);
			}
			sm_buf_append(b, "]", 1);
			break;
		case SM_JSON_OBJECT:
			sm_buf_append(b, "{", 1);
			for (size_t i = 0; i < v->count; i++)
			{
				if (i > 0)
					sm_buf_append(b, ",", 1);
				sm_json_write_string(b, v->keys[i], strlen(v->keys[i]));
				sm_buf_append(b, ":", 1);
				sm_test_json_write(b, v->items[i], charsmap);
			}
			sm_buf_append(b, "}", 1);
			break;
	}
}

/* object o as JSON text without its member skip */
void
sm_test_json_write_without(sm_buf *b, const sm_json *o, const char *skip, const char *charsmap)
{
	bool		first = true;

	sm_buf_append(b, "{", 1);
	for (size_t m = 0; m < o->count; m++)
	{
		if (strcmp(o->keys[m], skip) == 0)
			continue;
		if (!first)
			sm_buf_append(b, ",", 1);
		first = false;
		sm_json_write_string(b, o->keys[m], strlen(o->keys[m]));
		sm_buf_append(b, ":", 1);
		sm_test_json_write(b, o->items[m], charsmap);
	}
	sm_buf_append(b, "}", 1);
}

/*
 * seqmodel's tokenizer.json of the SentencePiece .model at path without its
 * member model.seqmodel_sentencepiece: the file as a Hugging Face Unigram or
 * BPE tokenizer.json (Hugging Face's semantics apply).  false: unreadable.
 */
bool
sm_test_hf_json_from_spm(const char *path, sm_buf *out)
{
	size_t		len;
	char	   *data = sm_test_read_file(path, &len);
	sm_buf		j;
	sm_json    *doc = NULL;
	sm_error	err;
	bool		ok;

	if (data == NULL)
		return false;
	memset(&err, 0, sizeof(err));
	sm_buf_init(&j);
	ok = sm_tokenizer_json_from_sentencepiece(data, len, &j, &err) == SM_OK &&
		sm_json_parse(j.data, j.len, &doc, &err) == SM_OK;
	if (ok)
	{
		sm_buf_append(out, "{", 1);
		for (size_t i = 0; i < doc->count; i++)
		{
			if (i > 0)
				sm_buf_append(out, ",", 1);
			sm_json_write_string(out, doc->keys[i], strlen(doc->keys[i]));
			sm_buf_append(out, ":", 1);
			if (strcmp(doc->keys[i], "model") == 0)
				sm_test_json_write_without(out, doc->items[i], "seqmodel_sentencepiece", NULL);
			else
				sm_test_json_write(out, doc->items[i], NULL);
		}
		sm_buf_append(out, "}", 1);
	}
	sm_json_free(doc);
	sm_buf_free(&j);
	free(data);
	return ok && !out->failed;
}
