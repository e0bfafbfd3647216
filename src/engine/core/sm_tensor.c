/*
 * sm_tensor.c -- shapes, weight sets and streaming a stored tensor into
 * float32.
 */
#include "sm_tensor.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

bool
sm_shape_numel(int ndim, const int64_t *shape, size_t *numel)
{
	uint64_t	n = 1;

	for (int i = 0; i < ndim; i++)
	{
		if (shape[i] < 0 || sm_mul_overflow_u64(n, (uint64_t) shape[i], &n))
			return false;
	}
	if (n > SIZE_MAX / 8)
		return false;
	*numel = (size_t) n;
	return true;
}

void
sm_shape_format(char *buf, size_t size, int ndim, const int64_t *shape)
{
	size_t		len = 0;

	if (size == 0)
		return;
	buf[0] = '\0';
	len += (size_t) snprintf(buf + len, size - len, "[");
	for (int i = 0; i < ndim && len < size; i++)
		len += (size_t) snprintf(buf + len, size - len, i ? ", %" PRId64 : "%" PRId64, shape[i]);
	if (len < size)
		snprintf(buf + len, size - len, "]");
}

void
sm_weights_init(sm_weights *w)
{
	memset(w, 0, sizeof(*w));
}

sm_tensor *
sm_weights_find(const sm_weights *w, const char *name)
{
	for (int i = 0; i < w->count; i++)
		if (strcmp(w->items[i]->name, name) == 0)
			return w->items[i];
	return NULL;
}

sm_status
sm_weights_add(sm_weights *w, const char *name, int ndim, const int64_t *shape,
			   sm_tensor **out, sm_error *err)
{
	sm_tensor  *t;
	size_t		numel;

	if (sm_weights_find(w, name) != NULL)
		return sm_fail(err, SM_ERR_INVALID, "tensor \"%s\" appears twice", name);
	if (ndim < 0 || ndim > SM_MAX_DIMS || !sm_shape_numel(ndim, shape, &numel))
		return sm_fail(err, SM_ERR_INVALID, "tensor \"%s\" has an invalid shape", name);
	if (w->count == w->cap)
	{
		int			cap = w->cap ? w->cap * 2 : 16;
		sm_tensor **items = sm_alloc_array((size_t) cap, sizeof(*items));

		if (items == NULL)
			return sm_fail(err, SM_ERR_NOMEM, "out of memory");
		if (w->count > 0)
			memcpy(items, w->items, sizeof(*items) * (size_t) w->count);
		sm_free(w->items);
		w->items = items;
		w->cap = cap;
	}
	t = sm_alloc0(sizeof(*t));
	if (t == NULL)
		return sm_fail(err, SM_ERR_NOMEM, "out of memory");
	t->name = sm_strndup(name, strlen(name));
	t->data = sm_alloc_array(numel ? numel : 1, sizeof(float));
	if (t->name == NULL || t->data == NULL)
	{
		sm_free(t->name);
		sm_free(t->data);
		sm_free(t);
		return sm_fail(err, SM_ERR_NOMEM, "out of memory loading tensor \"%s\" (%zu bytes)",
					   name, numel * sizeof(float));
	}
	t->ndim = ndim;
	memcpy(t->shape, shape, sizeof(int64_t) * (size_t) ndim);
	t->numel = numel;
	t->filled = 0;
	w->items[w->count++] = t;
	w->bytes += numel * sizeof(float);
	*out = t;
	return SM_OK;
}

void
sm_weights_free(sm_weights *w)
{
	for (int i = 0; i < w->count; i++)
	{
		sm_free(w->items[i]->name);
		sm_free(w->items[i]->data);
		sm_free(w->items[i]);
	}
	sm_free(w->items);
	sm_weights_init(w);
}

sm_status
sm_tensor_append(sm_tensor *t, sm_dtype dtype, const void *bytes, size_t nbytes,
				 sm_error *err)
{
	size_t		esize = sm_dtype_size(dtype);
	size_t		n;

	if (!sm_dtype_is_weight(dtype))
		return sm_fail(err, SM_ERR_UNSUPPORTED, "tensor \"%s\" has dtype %s, which cannot hold weights",
					   t->name, sm_dtype_name(dtype));
	if (nbytes % esize != 0)
	{
		sm_fail(err, SM_ERR_CORRUPT, "stored data of tensor \"%s\" is not a whole number of %s elements",
				t->name, sm_dtype_name(dtype));
		sm_detail(err, "A piece of %zu bytes is not a multiple of %zu.", nbytes, esize);
		return err->code;
	}
	n = nbytes / esize;
	if (n > t->numel - t->filled)
	{
		char		shape[128];

		sm_shape_format(shape, sizeof(shape), t->ndim, t->shape);
		sm_fail(err, SM_ERR_CORRUPT, "stored data of tensor \"%s\" is longer than its shape allows",
				t->name);
		sm_detail(err, "Shape %s holds %zu elements; the stored data has more than that.",
				  shape, t->numel);
		return err->code;
	}
	sm_dtype_to_f32(dtype, bytes, n, t->data + t->filled);
	t->filled += n;
	return SM_OK;
}

size_t
sm_find_nonfinite(const float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isfinite(x[i]))
			return i;
	return n;
}
