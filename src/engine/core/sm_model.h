/*
 * sm_model.h -- architectures, the tensors each needs, and a model's life
 * from stored rows to a runnable object.
 *
 * Each architecture (one file each: sm_linear.c, ...) provides an sm_arch:
 *   spec()    checks the config and lists every tensor it needs with its
 *             shape (names as in the PyTorch state_dict);
 *   build()   turns complete, checked weights into a runnable model;
 *   release() frees what build() made.
 * The same spec serves import (checking a file's tensor list before anything
 * is stored) and load (checking stored rows, which a user may have edited),
 * so both report a missing, unexpected or mis-shaped tensor the same way.
 */
#ifndef SM_MODEL_H
#define SM_MODEL_H

#include "sm_config.h"
#include "sm_core.h"
#include "sm_json.h"
#include "sm_tensor.h"

typedef struct sm_spec_entry
{
	char	   *name;
	int			ndim;
	int64_t		shape[SM_MAX_DIMS];
	bool		seen;
	bool		optional;		/* may be absent (checked when present) */
	bool		ignored;		/* a stored buffer the arch does not use: any dtype
								 * and shape, never loaded */
} sm_spec_entry;

typedef struct sm_spec
{
	int			count;
	int			cap;
	sm_spec_entry *items;
} sm_spec;

/* Add a required tensor; the name is printf-formatted (prefix + suffix). */
sm_status	sm_spec_add(sm_spec *spec, sm_error *err, int ndim, const int64_t *shape,
						const char *fmt,...) __attribute__((format(printf, 5, 6)));
/* The same for a tensor that may be absent, and for one that is ignored. */
sm_status	sm_spec_add_optional(sm_spec *spec, sm_error *err, int ndim, const int64_t *shape,
								 const char *fmt,...) __attribute__((format(printf, 5, 6)));
sm_status	sm_spec_ignore(sm_spec *spec, sm_error *err, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));
void		sm_spec_free(sm_spec *spec);

typedef struct sm_model sm_model;

/*
 * What kind of runnable form an arch builds (model->impl): the capability
 * the glue and the forward passes dispatch on, instead of comparing arch
 * pointers.  sm_linear_of, sm_rnn_of and sm_tfm_of read it.
 */
typedef enum sm_family
{
	SM_FAMILY_LINEAR,			/* sm_linear: one dense layer (nn/sm_linear.h) */
	SM_FAMILY_RECURRENT,		/* sm_rnn: rnn, lstm, gru (nn/sm_rnn.h) */
	SM_FAMILY_TRANSFORMER,		/* sm_tfm: transformer, gpt2, bert (nn/sm_tfm.h) */
	SM_FAMILY_SEQ2SEQ,			/* sm_s2s: rnn_seq2seq (nn/sm_seq2seq.h) */
	SM_FAMILY_TFM_SEQ2SEQ		/* sm_tfm_s2s: transformer_seq2seq (nn/sm_tfm_s2s.h) */
} sm_family;

typedef struct sm_arch
{
	const char *name;
	sm_family	family;
	/*
	 * A prefix stored names may carry before the spec's names (Hugging
	 * Face's "transformer." or "bert."), or NULL.  Weights are known by the
	 * spec's name either way.
	 */
	const char *strip_prefix;
	sm_status	(*spec) (const sm_config *cfg, sm_spec *spec, sm_error *err);
	/* optional: checks that need to know which optional tensors are present */
	sm_status	(*check_tensors) (const sm_config *cfg, const sm_spec *spec, sm_error *err);
	sm_status	(*build) (sm_model *model, sm_error *err);
	void		(*release) (sm_model *model);
} sm_arch;

struct sm_model
{
	const sm_arch *arch;
	sm_json    *config;
	sm_config	cfg;
	sm_spec		spec;
	sm_weights	weights;
	void	   *impl;			/* the arch's runnable form */
};

/*
 * Bytes the spec's tensors take as float32 (optional ones counted, ignored
 * buffers not): known after sm_model_begin, before any tensor data is read,
 * so a loader can refuse or make room first.
 */
uint64_t	sm_model_f32_bytes(const sm_model *model);

/* The loaded weight of that name (printf-style), or NULL. */
const float *sm_model_weight(const sm_model *model, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));

/* The arch of that name, or NULL. */
const sm_arch *sm_arch_find(const char *name);
/* "linear, lstm, ..." for messages */
const char *sm_arch_names(void);

/*
 * Import-time check of an arch, its config (JSON text) and a file's tensor
 * list; nothing is loaded.
 */
sm_status	sm_model_check(const char *arch, const char *config, size_t config_len,
						   const sm_tensor_info *tensors, int n, sm_error *err);

/*
 * Load: begin (arch + config), add each stored tensor (checked against the
 * spec, storage allocated; *out is NULL for an ignored tensor, whose data
 * the caller skips), fill it with sm_tensor_append, then finish
 * (every tensor present and complete; the arch builds).  On failure at any
 * step call sm_model_free.
 */
sm_status	sm_model_begin(sm_model **out, const char *arch, const char *config,
						   size_t config_len, sm_error *err);
sm_status	sm_model_add_tensor(sm_model *model, const sm_tensor_info *info,
								sm_tensor **out, sm_error *err);
sm_status	sm_model_finish(sm_model *model, sm_error *err);
void		sm_model_free(sm_model *model);

/* Bytes of float32 weights held. */
size_t		sm_model_bytes(const sm_model *model);
/* Number of parameters (elements of all tensors). */
uint64_t	sm_model_parameters(const sm_model *model);

#endif							/* SM_MODEL_H */
