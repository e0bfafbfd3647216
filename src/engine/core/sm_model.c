/*
 * sm_model.c -- tensor specs and the model life cycle (the arch registry is
 * nn/sm_archs.c).
 */
#include "sm_model.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static sm_status spec_add(sm_spec *spec, sm_error *err, int ndim, const int64_t *shape,
						  bool optional, bool ignored, const char *fmt, va_list ap)
			__attribute__((format(printf, 7, 0)));

static sm_status
spec_add(sm_spec *spec, sm_error *err, int ndim, const int64_t *shape, bool optional,
		 bool ignored, const char *fmt, va_list ap)
{
	char		name[SM_MAX_NAME];
	sm_spec_entry *e;

	vsnprintf(name, sizeof(name), fmt, ap);
	if (spec->count == spec->cap)
	{
		int			cap = spec->cap ? spec->cap * 2 : 16;
		sm_spec_entry *items = sm_alloc_array((size_t) cap, sizeof(*items));

		if (items == NULL)
			return sm_fail(err, SM_ERR_NOMEM, "out of memory");
		if (spec->count)
			memcpy(items, spec->items, sizeof(*items) * (size_t) spec->count);
		sm_free(spec->items);
		spec->items = items;
		spec->cap = cap;
	}
	e = &spec->items[spec->count];
	memset(e, 0, sizeof(*e));
	e->name = sm_strndup(name, strlen(name));
	if (e->name == NULL)
		return sm_fail(err, SM_ERR_NOMEM, "out of memory");
	e->ndim = ndim;
	if (ndim > 0)
		memcpy(e->shape, shape, sizeof(int64_t) * (size_t) ndim);
	e->optional = optional;
	e->ignored = ignored;
	spec->count++;
	return SM_OK;
}

sm_status
sm_spec_add(sm_spec *spec, sm_error *err, int ndim, const int64_t *shape,
			const char *fmt,...)
{
	va_list		ap;
	sm_status	rc;

	va_start(ap, fmt);
	rc = spec_add(spec, err, ndim, shape, false, false, fmt, ap);
	va_end(ap);
	return rc;
}

sm_status
sm_spec_add_optional(sm_spec *spec, sm_error *err, int ndim, const int64_t *shape,
					 const char *fmt,...)
{
	va_list		ap;
	sm_status	rc;

	va_start(ap, fmt);
	rc = spec_add(spec, err, ndim, shape, true, false, fmt, ap);
	va_end(ap);
	return rc;
}

sm_status
sm_spec_ignore(sm_spec *spec, sm_error *err, const char *fmt,...)
{
	va_list		ap;
	sm_status	rc;

	va_start(ap, fmt);
	rc = spec_add(spec, err, 0, NULL, true, true, fmt, ap);
	va_end(ap);
	return rc;
}

void
sm_spec_free(sm_spec *spec)
{
	for (int i = 0; i < spec->count; i++)
		sm_free(spec->items[i].name);
	sm_free(spec->items);
	memset(spec, 0, sizeof(*spec));
}

/* "weight, bias" -- the names a spec expects, for messages */
static void
spec_names(const sm_spec *spec, char *buf, size_t size)
{
	size_t		len = 0;

	buf[0] = '\0';
	for (int i = 0; i < spec->count && len < size; i++)
		if (!spec->items[i].ignored)
			len += (size_t) snprintf(buf + len, size - len, "%s\"%s\"%s", len ? ", " : "",
									 spec->items[i].name, spec->items[i].optional ? " (optional)" : "");
}

/* Parse the config and build the spec: shared by check and begin. */
static sm_status
config_and_spec(const char *arch_name, const char *config, size_t config_len,
				const sm_arch **arch, sm_json **json, sm_spec *spec, sm_error *err)
{
	sm_config	cfg;
	sm_status	rc;

	*json = NULL;
	*arch = sm_arch_find(arch_name);
	if (*arch == NULL)
	{
		sm_fail(err, SM_ERR_INVALID, "unknown arch \"%s\"", arch_name);
		sm_detail(err, "Known archs are: %s.", sm_arch_names());
		return err->code;
	}
	rc = sm_json_parse(config, config_len, json, err);
	if (rc != SM_OK)
		return rc;
	cfg.json = *json;
	cfg.arch = (*arch)->name;
	rc = (*arch)->spec(&cfg, spec, err);
	if (rc != SM_OK)
	{
		sm_json_free(*json);
		*json = NULL;
		sm_spec_free(spec);
	}
	return rc;
}

/* Match one stored tensor against the spec; marks it seen. */
/* the spec entry a stored name stands for (with or without the arch's prefix), or NULL */
static sm_spec_entry *
spec_find(sm_spec *spec, const sm_arch *arch, const char *name)
{
	const char *pfx = arch->strip_prefix;
	size_t		plen = pfx ? strlen(pfx) : 0;

	for (int i = 0; i < spec->count; i++)
		if (strcmp(spec->items[i].name, name) == 0)
			return &spec->items[i];
	if (plen > 0 && strncmp(name, pfx, plen) == 0)
		for (int i = 0; i < spec->count; i++)
			if (strcmp(spec->items[i].name, name + plen) == 0)
				return &spec->items[i];
	return NULL;
}

/* Match one stored tensor against the spec; marks it seen.  *entry: its spec entry. */
static sm_status
spec_match(sm_spec *spec, const sm_arch *arch_, const sm_tensor_info *info,
		   sm_spec_entry **entry, sm_error *err)
{
	const char *arch = arch_->name;
	sm_spec_entry *e = spec_find(spec, arch_, info->name);

	*entry = e;
	if (e != NULL && e->ignored)
	{
		e->seen = true;
		return SM_OK;
	}
	if (e != NULL)
	{
		bool		same;

		if (!sm_dtype_is_weight(info->dtype))
		{
			sm_fail(err, SM_ERR_UNSUPPORTED, "tensor \"%s\" has unsupported dtype %s",
					info->name, sm_dtype_name(info->dtype));
			sm_detail(err, "Model weights must be F32, F16 or BF16.");
			sm_hint(err, "Convert the tensor in PyTorch, for example with .float(), before saving.");
			return err->code;
		}
		same = e->ndim == info->ndim &&
			memcmp(e->shape, info->shape, sizeof(int64_t) * (size_t) e->ndim) == 0;
		if (!same)
		{
			char		want[160];
			char		got[160];

			sm_shape_format(want, sizeof(want), e->ndim, e->shape);
			sm_shape_format(got, sizeof(got), info->ndim, info->shape);
			sm_fail(err, SM_ERR_INVALID, "tensor \"%s\" has shape %s, expected %s",
					info->name, got, want);
			sm_detail(err, "Arch \"%s\" with this config needs \"%s\" of shape %s.",
					  arch, info->name, want);
			return err->code;
		}
		if (e->seen)
		{
			sm_fail(err, SM_ERR_INVALID, "tensor \"%s\" appears twice", e->name);
			if (arch_->strip_prefix)
				sm_detail(err, "Names with and without the prefix \"%s\" are the same tensor.",
						  arch_->strip_prefix);
			return err->code;
		}
		e->seen = true;
		return SM_OK;
	}
	{
		char		names[SM_DETAIL_LEN - 64];

		spec_names(spec, names, sizeof(names));
		sm_fail(err, SM_ERR_INVALID, "unexpected tensor \"%s\" for arch \"%s\"", info->name, arch);
		sm_detail(err, "With this config the arch needs exactly these tensors: %s.", names);
		sm_hint(err, "Check the config's prefix keys, or drop the tensor from the state_dict before saving.");
		return err->code;
	}
}

static sm_status
spec_complete(const sm_spec *spec, const char *arch, sm_error *err)
{
	for (int i = 0; i < spec->count; i++)
	{
		const sm_spec_entry *e = &spec->items[i];

		if (!e->seen && !e->optional)
		{
			char		want[160];

			sm_shape_format(want, sizeof(want), e->ndim, e->shape);
			sm_fail(err, SM_ERR_INVALID, "tensor \"%s\" is missing", e->name);
			sm_detail(err, "Arch \"%s\" with this config needs \"%s\" of shape %s.",
					  arch, e->name, want);
			return err->code;
		}
	}
	return SM_OK;
}

sm_status
sm_model_check(const char *arch_name, const char *config, size_t config_len,
			   const sm_tensor_info *tensors, int n, sm_error *err)
{
	const sm_arch *arch;
	sm_json    *json;
	sm_spec		spec = {0};
	sm_status	rc;

	rc = config_and_spec(arch_name, config, config_len, &arch, &json, &spec, err);
	if (rc != SM_OK)
		return rc;
	for (int i = 0; i < n && rc == SM_OK; i++)
	{
		sm_spec_entry *e;

		rc = spec_match(&spec, arch, &tensors[i], &e, err);
	}
	if (rc == SM_OK)
		rc = spec_complete(&spec, arch->name, err);
	if (rc == SM_OK && arch->check_tensors)
	{
		sm_config	cfg = {.json = json, .arch = arch->name};

		rc = arch->check_tensors(&cfg, &spec, err);
	}
	sm_spec_free(&spec);
	sm_json_free(json);
	return rc;
}

sm_status
sm_model_begin(sm_model **out, const char *arch_name, const char *config,
			   size_t config_len, sm_error *err)
{
	sm_model   *m = sm_alloc0(sizeof(sm_model));
	sm_status	rc;

	*out = NULL;
	if (m == NULL)
		return sm_fail(err, SM_ERR_NOMEM, "out of memory");
	sm_weights_init(&m->weights);
	rc = config_and_spec(arch_name, config, config_len, &m->arch, &m->config, &m->spec, err);
	if (rc != SM_OK)
	{
		sm_free(m);
		return rc;
	}
	m->cfg.json = m->config;
	m->cfg.arch = m->arch->name;
	*out = m;
	return SM_OK;
}

sm_status
sm_model_add_tensor(sm_model *model, const sm_tensor_info *info, sm_tensor **out,
					sm_error *err)
{
	sm_spec_entry *e;
	sm_status	rc = spec_match(&model->spec, model->arch, info, &e, err);

	*out = NULL;
	if (rc != SM_OK || e->ignored)
		return rc;
	return sm_weights_add(&model->weights, e->name, info->ndim, info->shape, out, err);
}

sm_status
sm_model_finish(sm_model *model, sm_error *err)
{
	sm_status	rc = spec_complete(&model->spec, model->arch->name, err);

	if (rc != SM_OK)
		return rc;
	for (int i = 0; i < model->weights.count; i++)
	{
		sm_tensor  *t = model->weights.items[i];

		if (t->filled != t->numel)
		{
			sm_fail(err, SM_ERR_CORRUPT, "stored data of tensor \"%s\" is incomplete", t->name);
			sm_detail(err, "The shape holds %zu elements; the stored data has %zu.",
					  t->numel, t->filled);
			return err->code;
		}
	}
	return model->arch->build(model, err);
}

void
sm_model_free(sm_model *model)
{
	if (model == NULL)
		return;
	if (model->impl && model->arch->release)
		model->arch->release(model);
	sm_weights_free(&model->weights);
	sm_spec_free(&model->spec);
	sm_json_free(model->config);
	sm_free(model);
}

size_t
sm_model_bytes(const sm_model *model)
{
	return model->weights.bytes;
}

uint64_t
sm_model_parameters(const sm_model *model)
{
	uint64_t	n = 0;

	for (int i = 0; i < model->weights.count; i++)
		n += model->weights.items[i]->numel;
	return n;
}

const float *
sm_model_weight(const sm_model *model, const char *fmt,...)
{
	char		name[SM_MAX_NAME];
	va_list		ap;
	sm_tensor  *t;

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	t = sm_weights_find(&model->weights, name);
	return t ? t->data : NULL;
}

uint64_t
sm_model_f32_bytes(const sm_model *model)
{
	uint64_t	total = 0;

	for (int i = 0; i < model->spec.count; i++)
	{
		const sm_spec_entry *e = &model->spec.items[i];
		uint64_t	n = 1;

		if (e->ignored)
			continue;
		for (int d = 0; d < e->ndim; d++)
			n *= (uint64_t) e->shape[d];
		total += n * sizeof(float);
	}
	return total;
}
