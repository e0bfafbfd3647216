/*
 * test_files.c -- fixture files for the unit suites (see sm_tests.h): a
 * whole file read into memory, and a model loaded from a safetensors file
 * the way the glue loads stored rows (begin, add and fill each tensor,
 * finish).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sm_tests.h"

#include "core/sm_safetensors.h"

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
