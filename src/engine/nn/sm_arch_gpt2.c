/*
 * sm_arch_gpt2.c -- arch "gpt2": Hugging Face GPT2Model / GPT2LMHeadModel.
 *
 * Config: Hugging Face's config.json as it is.  Read: vocab_size,
 * n_positions, n_embd, n_layer, n_head, n_inner (null: 4 * n_embd),
 * activation_function ("gelu_new" default, "gelu_pytorch_tanh", "gelu",
 * "relu"), layer_norm_epsilon (1e-5).  Keys that would change the math in
 * ways not implemented are errors (scale_attn_weights false,
 * scale_attn_by_inverse_layer_idx, reorder_and_upcast_attn,
 * add_cross_attention); other keys of config.json are ignored.  seqmodel's
 * own keys: "output": "logits" (default) | "hidden"; "conv1d": true
 * (default: weights stored input-major as HF's Conv1D does) | false
 * (stored as torch Linear [out, in], as nanoGPT-style modules save them).
 *
 * Tensors, with or without the "transformer." prefix: wte.weight [V, d],
 * wpe.weight [n_positions, d], h.{i}.ln_1, h.{i}.attn.c_attn [d, 3d],
 * h.{i}.attn.c_proj [d, d], h.{i}.ln_2, h.{i}.mlp.c_fc [d, inner],
 * h.{i}.mlp.c_proj [inner, d], ln_f; lm_head.weight [V, d] optional (absent:
 * tied to wte).  The attention-mask buffers h.{i}.attn.bias and
 * h.{i}.attn.masked_bias of older checkpoints are accepted and ignored.
 */
#include "sm_tfm.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct gcfg
{
	int64_t		V,
				P,
				d,
				layers,
				heads,
				inner;
	double		eps;
	sm_act		act;
	bool		hidden,
				conv1d;
} gcfg;

/* a boolean HF key that must have the given value here */
static sm_status
config_require_bool(const sm_config *cfg, const char *key, bool want, sm_error *err)
{
	bool		v;
	sm_status	rc = sm_config_bool(cfg, key, want, &v, err);

	if (rc != SM_OK)
		return rc;
	if (v != want)
	{
		sm_fail(err, SM_ERR_UNSUPPORTED, "config key \"%s\": %s is not supported", key, v ? "true" : "false");
		sm_detail(err, "seqmodel's gpt2 implements GPT-2's standard attention.");
		return err->code;
	}
	return SM_OK;
}

static sm_status
read_config(const sm_config *cfg, gcfg *c, sm_error *err)
{
	const char *act,
			   *out;
	const sm_json *inner;
	sm_status	rc;

	memset(c, 0, sizeof(*c));
	if ((rc = sm_config_int(cfg, "vocab_size", true, 0, 1, INT32_MAX, &c->V, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "n_positions", true, 0, 1, 1 << 20, &c->P, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "n_embd", true, 0, 1, 1 << 16, &c->d, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "n_layer", true, 0, 1, 1024, &c->layers, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "n_head", true, 0, 1, 1024, &c->heads, err)) != SM_OK ||
		(rc = sm_config_number(cfg, "layer_norm_epsilon", 1e-5, &c->eps, err)) != SM_OK ||
		(rc = sm_config_string(cfg, "activation_function", "gelu_new", &act, err)) != SM_OK ||
		(rc = sm_config_string(cfg, "output", "logits", &out, err)) != SM_OK ||
		(rc = sm_config_bool(cfg, "conv1d", true, &c->conv1d, err)) != SM_OK ||
		(rc = config_require_bool(cfg, "scale_attn_weights", true, err)) != SM_OK ||
		(rc = config_require_bool(cfg, "scale_attn_by_inverse_layer_idx", false, err)) != SM_OK ||
		(rc = config_require_bool(cfg, "reorder_and_upcast_attn", false, err)) != SM_OK ||
		(rc = config_require_bool(cfg, "add_cross_attention", false, err)) != SM_OK)
		return rc;
	inner = sm_json_get(cfg->json, "n_inner");
	if (inner == NULL || inner->type == SM_JSON_NULL)
		c->inner = 4 * c->d;
	else if ((rc = sm_config_int(cfg, "n_inner", true, 0, 1, 1 << 20, &c->inner, err)) != SM_OK)
		return rc;
	if ((rc = sm_tfm_hf_act("activation_function", act, &c->act, err)) != SM_OK)
		return rc;
	if (strcmp(out, "logits") != 0 && strcmp(out, "hidden") != 0)
		return sm_fail(err, SM_ERR_INVALID, "config key \"output\" must be \"logits\" or \"hidden\", not \"%s\"", out);
	c->hidden = strcmp(out, "hidden") == 0;
	if ((rc = sm_tfm_check_sizes(c->d, "n_embd", c->heads, "n_head", c->eps, "layer_norm_epsilon", err)) != SM_OK)
		return rc;
	{
		sm_tfm		scratch = {.vocab = (int) c->V};

		if ((rc = sm_tfm_text_config(cfg, &scratch, SM_POOL_MEAN, err)) != SM_OK)
			return rc;
	}
	return SM_OK;
}

static sm_status
gpt2_spec(const sm_config *cfg, sm_spec *spec, sm_error *err)
{
	gcfg		c;
	char		name[SM_MAX_NAME];
	int64_t		wte[2],
				wpe[2];
	sm_status	rc;

	if ((rc = read_config(cfg, &c, err)) != SM_OK)
		return rc;
	wte[0] = c.V;
	wte[1] = c.d;
	wpe[0] = c.P;
	wpe[1] = c.d;
	if ((rc = sm_spec_add(spec, err, 2, wte, "wte.weight")) != SM_OK ||
		(rc = sm_spec_add(spec, err, 2, wpe, "wpe.weight")) != SM_OK ||
		(rc = sm_spec_add_optional(spec, err, 2, wte, "lm_head.weight")) != SM_OK ||
		(rc = sm_tfm_spec_norm(spec, err, c.d, "ln_f.")) != SM_OK)
		return rc;
	for (int i = 0; i < c.layers; i++)
	{
#define SUB(fmt) (snprintf(name, sizeof(name), "h.%d." fmt, i), name)
		if ((rc = sm_tfm_spec_norm(spec, err, c.d, SUB("ln_1."))) != SM_OK ||
			(rc = sm_tfm_spec_norm(spec, err, c.d, SUB("ln_2."))) != SM_OK ||
			(rc = sm_tfm_spec_dense(spec, err, 3 * c.d, c.d, c.conv1d, true, false, SUB("attn.c_attn."))) != SM_OK ||
			(rc = sm_tfm_spec_dense(spec, err, c.d, c.d, c.conv1d, true, false, SUB("attn.c_proj."))) != SM_OK ||
			(rc = sm_tfm_spec_dense(spec, err, c.inner, c.d, c.conv1d, true, false, SUB("mlp.c_fc."))) != SM_OK ||
			(rc = sm_tfm_spec_dense(spec, err, c.d, c.inner, c.conv1d, true, false, SUB("mlp.c_proj."))) != SM_OK ||
			(rc = sm_spec_ignore(spec, err, "h.%d.attn.bias", i)) != SM_OK ||
			(rc = sm_spec_ignore(spec, err, "h.%d.attn.masked_bias", i)) != SM_OK)
			return rc;
#undef SUB
	}
	return SM_OK;
}

static sm_status
gpt2_build(sm_model *model, sm_error *err)
{
	gcfg		c;
	sm_tfm	   *m;
	sm_tfm_dims dims;
	char		name[SM_MAX_NAME];
	sm_status	rc;

	if ((rc = read_config(&model->cfg, &c, err)) != SM_OK)
		return rc;
	dims = (sm_tfm_dims) {.d = c.d, .heads = c.heads, .layers = c.layers, .ffn = c.inner, .eps = c.eps, .act = c.act};
	if ((rc = sm_tfm_new(model, &dims, &m, err)) != SM_OK)
		return rc;
	m->norm_first = true;
	m->causal = true;
	m->vocab = (int) c.V;
	m->max_len = (int) c.P;
	m->wte = sm_model_weight(model, "wte.weight");
	m->pos = sm_model_weight(model, "wpe.weight");
	m->lm_head = sm_model_weight(model, "lm_head.weight");
	if (m->lm_head == NULL)
		m->lm_head = m->wte;	/* tied, as GPT2LMHeadModel saves it */
	m->final_ln_g = sm_model_weight(model, "ln_f.weight");
	m->final_ln_b = sm_model_weight(model, "ln_f.bias");
	m->pool = SM_POOL_LAST;
	for (int i = 0; i < m->n_layers; i++)
	{
		sm_tfm_layer *L = &m->layers[i];

#define SUB(fmt) (snprintf(name, sizeof(name), "h.%d." fmt, i), name)
		L->ln1_g = sm_model_weight(model, "%sweight", SUB("ln_1."));
		L->ln1_b = sm_model_weight(model, "%sbias", SUB("ln_1."));
		L->ln2_g = sm_model_weight(model, "%sweight", SUB("ln_2."));
		L->ln2_b = sm_model_weight(model, "%sbias", SUB("ln_2."));
		L->qkv = sm_tfm_dense(model, 3 * m->d, m->d, c.conv1d, SUB("attn.c_attn."));
		L->o = sm_tfm_dense(model, m->d, m->d, c.conv1d, SUB("attn.c_proj."));
		L->ff1 = sm_tfm_dense(model, m->ffn, m->d, c.conv1d, SUB("mlp.c_fc."));
		L->ff2 = sm_tfm_dense(model, m->d, m->ffn, c.conv1d, SUB("mlp.c_proj."));
#undef SUB
	}
	m->default_out = c.hidden ? SM_TFM_OUT_HIDDEN : SM_TFM_OUT_LOGITS;
	return sm_tfm_finish(&model->cfg, m, SM_POOL_MEAN, err);
}

const sm_arch sm_arch_gpt2 = {
	.name = "gpt2", .family = SM_FAMILY_TRANSFORMER, .strip_prefix = "transformer.", .spec = gpt2_spec,
	.build = gpt2_build,
	.release = sm_tfm_release
};
