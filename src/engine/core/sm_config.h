/*
 * sm_config.h -- typed, checked access to a model's config (a JSON object).
 *
 * Config keys mirror the constructor arguments of the PyTorch module (or
 * Hugging Face's config.json), so a user copies them over unchanged.  Each
 * accessor either yields a value or fails with a message that names the key,
 * what was expected and what was found.
 */
#ifndef SM_CONFIG_H
#define SM_CONFIG_H

#include "sm_core.h"
#include "sm_json.h"

typedef struct sm_config
{
	const sm_json *json;		/* the config object */
	const char *arch;			/* for messages */
} sm_config;

/* The config must be a JSON object whose keys are all in allowed (NULL-ended). */
sm_status	sm_config_check_keys(const sm_config *cfg, const char *const *allowed,
								 sm_error *err);

/* Integer in [min, max]; a missing key is an error when required, else def. */
sm_status	sm_config_int(const sm_config *cfg, const char *key, bool required,
						  int64_t def, int64_t min, int64_t max, int64_t *out,
						  sm_error *err);
sm_status	sm_config_bool(const sm_config *cfg, const char *key, bool def,
						   bool *out, sm_error *err);
/* A finite number; a missing key gives def. */
sm_status	sm_config_number(const sm_config *cfg, const char *key, double def,
							 double *out, sm_error *err);
/* The string stays owned by the config. */
sm_status	sm_config_string(const sm_config *cfg, const char *key, const char *def,
							 const char **out, sm_error *err);

#endif							/* SM_CONFIG_H */
