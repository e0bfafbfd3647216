/*
 * sm_config.c -- checked config accessors.
 */
#include "sm_config.h"

#include <math.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

sm_status
sm_config_check_keys(const sm_config *cfg, const char *const *allowed, sm_error *err)
{
	const sm_json *j = cfg->json;

	if (j == NULL || j->type != SM_JSON_OBJECT)
		return sm_fail(err, SM_ERR_INVALID, "config of arch \"%s\" must be a JSON object, not %s",
					   cfg->arch, j ? sm_json_type_name(j->type) : "nothing");
	for (size_t i = 0; i < j->count; i++)
	{
		bool		known = false;

		for (const char *const *a = allowed; *a; a++)
			if (strcmp(*a, j->keys[i]) == 0)
				known = true;
		if (!known)
		{
			char		list[SM_DETAIL_LEN] = "";
			size_t		len = 0;

			for (const char *const *a = allowed; *a && len < sizeof(list); a++)
				len += (size_t) snprintf(list + len, sizeof(list) - len, "%s%s",
										 a == allowed ? "" : ", ", *a);
			sm_fail(err, SM_ERR_INVALID, "unknown config key \"%s\" for arch \"%s\"",
					j->keys[i], cfg->arch);
			sm_detail(err, "Valid keys are: %s.", list);
			return err->code;
		}
	}
	return SM_OK;
}

static sm_status
wrong_type(const sm_config *cfg, const char *key, const char *expected,
		   const sm_json *v, sm_error *err)
{
	sm_fail(err, SM_ERR_INVALID, "config key \"%s\" must be %s, not %s",
			key, expected, sm_json_type_name(v->type));
	sm_detail(err, "Arch \"%s\" reads \"%s\" as %s.", cfg->arch, key, expected);
	return err->code;
}

sm_status
sm_config_int(const sm_config *cfg, const char *key, bool required, int64_t def,
			  int64_t min, int64_t max, int64_t *out, sm_error *err)
{
	const sm_json *v = sm_json_get(cfg->json, key);

	if (v == NULL)
	{
		if (required)
		{
			sm_fail(err, SM_ERR_INVALID, "config key \"%s\" is missing", key);
			sm_detail(err, "Arch \"%s\" requires \"%s\", an integer.", cfg->arch, key);
			return err->code;
		}
		*out = def;
		return SM_OK;
	}
	if (v->type != SM_JSON_NUMBER || !v->is_integer)
		return wrong_type(cfg, key, "an integer", v, err);
	if (v->integer < min || v->integer > max)
	{
		sm_fail(err, SM_ERR_INVALID, "config key \"%s\" is out of range", key);
		sm_detail(err, "\"%s\" must be between %" PRId64 " and %" PRId64 "; it is %" PRId64 ".",
				  key, min, max, v->integer);
		return err->code;
	}
	*out = v->integer;
	return SM_OK;
}

sm_status
sm_config_bool(const sm_config *cfg, const char *key, bool def, bool *out, sm_error *err)
{
	const sm_json *v = sm_json_get(cfg->json, key);

	if (v == NULL)
	{
		*out = def;
		return SM_OK;
	}
	if (v->type != SM_JSON_BOOL)
		return wrong_type(cfg, key, "a boolean", v, err);
	*out = v->boolean;
	return SM_OK;
}

sm_status
sm_config_string(const sm_config *cfg, const char *key, const char *def,
				 const char **out, sm_error *err)
{
	const sm_json *v = sm_json_get(cfg->json, key);

	if (v == NULL)
	{
		*out = def;
		return SM_OK;
	}
	if (v->type != SM_JSON_STRING || strlen(v->string) != v->string_len)
		return wrong_type(cfg, key, "a string", v, err);
	*out = v->string;
	return SM_OK;
}

sm_status
sm_config_number(const sm_config *cfg, const char *key, double def, double *out, sm_error *err)
{
	const sm_json *v = sm_json_get(cfg->json, key);

	*out = def;
	if (v == NULL)
		return SM_OK;
	if (v->type != SM_JSON_NUMBER || !isfinite(v->number))
		return sm_fail(err, SM_ERR_INVALID, "config key \"%s\" must be a number, not %s",
					   key, sm_json_type_name(v->type));
	*out = v->number;
	return SM_OK;
}
