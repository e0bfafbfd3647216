/*
 * sm_arch_transformer.c -- arch "transformer": torch.nn.TransformerEncoder
 * with the input stage and head a user's module puts around it, for time
 * series (numeric input) or tokens.
 *
 * Config (unknown keys are errors):
 *   d_model, nhead, num_layers   integers, required (d_model % nhead == 0)
 *   dim_feedforward    integer, default 2048 (torch's default)
 *   activation         "relu" (default) | "gelu"
 *   layer_norm_eps     number, default 1e-5
 *   norm_first         boolean, default false (post-norm)
 *   batch_first, dropout, enable_nested_tensor: accepted, no effect
 *   encoder_prefix     default "encoder.": "{p}layers.{i}.self_attn.in_proj_weight" ...
 *   final_norm         boolean, default false: TransformerEncoder(norm=LayerNorm) ("{p}norm.")
 *   causal             boolean, default false: the square subsequent mask
 *   input: exactly one of
 *     vocab_size       token ids: nn.Embedding at embedding_prefix (default "embedding.");
 *                      scale_embedding (default false) multiplies by sqrt(d_model)
 *     input_size       numbers: nn.Linear(input_size, d_model) at input_prefix
 *                      (default "input_proj."), after the input scaling of sm_seqhead.h
 *   positional         "sinusoidal" (default) | "learned" | "none"
 *   max_len            longest sequence (default 5000 sinusoidal, 512 learned,
 *                      1 << 20 none); learned: nn.Embedding(max_len, d_model) at
 *                      position_prefix (default "pos_embedding.")
 *   pooling            "last" (default) | "first" | "mean" | "none"
 *   output_size        head nn.Linear(d_model, output_size) at head_prefix
 *                      (default "head."), head_bias default true
 *   output             "head" (default) | "hidden"
 *   lm_head            boolean, default false: the head is a language-model
 *                      head (needs vocab_size, causal, pooling "none",
 *                      output_size = vocab_size): logprob and generate use it
 *   the text keys of sm_tfm.h (embedding_pooling, bos/eos_token_id, id2label, ...)
 *   and, for numeric input, the forecasting keys of sm_seqhead.h.
 * What forward / predict return: "hidden": the final hidden states [L, d];
 * "head": pooled (pooling) then the head: [W]; with pooling "none", the
 * head at every token [L, W].
 */
#include "sm_tfm.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const transformer_keys[] = {
	"d_model", "nhead", "num_layers", "dim_feedforward", "activation", "layer_norm_eps",
	"norm_first", "batch_first", "dropout", "enable_nested_tensor", "encoder_prefix",
	"final_norm", "causal", "vocab_size", "embedding_prefix", "scale_embedding",
	"input_size", "input_prefix", "positional", "max_len", "position_prefix", "pooling",
	"output_size", "head_prefix", "head_bias", "output", "lm_head", SM_SEQHEAD_KEYS, SM_TFM_TEXT_KEYS, NULL
};

typedef struct tcfg
{
	int64_t		d,
				heads,
				layers,
				ffn,
				V,
				I,
				max_len,
				O;
	const sm_json *id2label;
	bool		lm_head;
	bool		norm_first,
				final_norm,
				causal,
				scale_emb,
				head_bias,
				hidden;
	sm_act		act;
	double		eps;
	const char *enc,
			   *emb,
			   *inp,
			   *pos,
			   *head;
	int			positional;		/* 0 none, 1 sinusoidal, 2 learned */
	sm_tfm_pool pool;
} tcfg;

/* s must be one of the (NULL-ended) names; its index into *out */
static sm_status
config_choice(const sm_config *cfg, const char *key, const char *def,
			  const char *const *names, int *out, sm_error *err)
{
	const char *s;
	sm_status	rc = sm_config_string(cfg, key, def, &s, err);
	char		list[200] = "";
	size_t		len = 0;

	if (rc != SM_OK)
		return rc;
	for (int i = 0; names[i]; i++)
	{
		if (strcmp(s, names[i]) == 0)
		{
			*out = i;
			return SM_OK;
		}
		len += (size_t) snprintf(list + len, sizeof(list) - len, "%s\"%s\"", i ? ", " : "", names[i]);
	}
	sm_fail(err, SM_ERR_INVALID, "config key \"%s\" has an invalid value \"%s\"", key, s);
	sm_detail(err, "Expected one of %s.", list);
	return err->code;
}

static sm_status
read_config(const sm_config *cfg, tcfg *c, sm_error *err)
{
	static const char *const acts[] = {"relu", "gelu", NULL};
	static const char *const posk[] = {"none", "sinusoidal", "learned", NULL};
	static const char *const pools[] = {"none", "first", "mean", "last", NULL};
	static const char *const outs[] = {"head", "hidden", NULL};
	int			a,
				p,
				o;
	sm_status	rc;

	memset(c, 0, sizeof(*c));
	if ((rc = sm_config_check_keys(cfg, transformer_keys, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "d_model", true, 0, 1, 1 << 16, &c->d, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "nhead", true, 0, 1, 1024, &c->heads, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "num_layers", true, 0, 1, 1024, &c->layers, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "dim_feedforward", false, 2048, 1, 1 << 20, &c->ffn, err)) != SM_OK ||
		(rc = config_choice(cfg, "activation", "relu", acts, &a, err)) != SM_OK ||
		(rc = sm_config_bool(cfg, "norm_first", false, &c->norm_first, err)) != SM_OK ||
		(rc = sm_config_bool(cfg, "final_norm", false, &c->final_norm, err)) != SM_OK ||
		(rc = sm_config_bool(cfg, "causal", false, &c->causal, err)) != SM_OK ||
		(rc = sm_config_bool(cfg, "scale_embedding", false, &c->scale_emb, err)) != SM_OK ||
		(rc = sm_config_bool(cfg, "head_bias", true, &c->head_bias, err)) != SM_OK ||
		(rc = sm_config_string(cfg, "encoder_prefix", "encoder.", &c->enc, err)) != SM_OK ||
		(rc = sm_config_string(cfg, "embedding_prefix", "embedding.", &c->emb, err)) != SM_OK ||
		(rc = sm_config_string(cfg, "input_prefix", "input_proj.", &c->inp, err)) != SM_OK ||
		(rc = sm_config_string(cfg, "position_prefix", "pos_embedding.", &c->pos, err)) != SM_OK ||
		(rc = sm_config_string(cfg, "head_prefix", "head.", &c->head, err)) != SM_OK ||
		(rc = config_choice(cfg, "positional", "sinusoidal", posk, &p, err)) != SM_OK ||
		(rc = config_choice(cfg, "pooling", "last", pools, (int *) &c->pool, err)) != SM_OK ||
		(rc = config_choice(cfg, "output", "head", outs, &o, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "vocab_size", false, 0, 1, INT32_MAX, &c->V, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "input_size", false, 0, 1, 1 << 20, &c->I, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "output_size", false, 0, 1, 1 << 24, &c->O, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "max_len", false, p == 2 ? 512 : p == 1 ? 5000 : 1 << 20,
							1, 1 << 20, &c->max_len, err)) != SM_OK)
		return rc;
	c->act = a == 0 ? SM_ACT_RELU : SM_ACT_GELU;
	c->positional = p;
	c->hidden = o == 1;
	if ((rc = sm_config_bool(cfg, "lm_head", false, &c->lm_head, err)) != SM_OK)
		return rc;
	if ((rc = sm_config_number(cfg, "layer_norm_eps", 1e-5, &c->eps, err)) != SM_OK)
		return rc;
	if ((rc = sm_tfm_check_sizes(c->d, "d_model", c->heads, "nhead", c->eps, "layer_norm_eps", err)) != SM_OK)
		return rc;
	if ((c->V > 0) == (c->I > 0))
	{
		sm_fail(err, SM_ERR_INVALID, "config must have exactly one of \"vocab_size\" and \"input_size\"");
		sm_detail(err, "vocab_size: the model reads token ids; input_size: it reads numbers.");
		return err->code;
	}
	/* the head as a language-model head: next-token logits at every position */
	if (c->lm_head)
	{
		if (c->V == 0 || !c->causal || c->pool != SM_POOL_NONE || c->O != c->V)
		{
			sm_fail(err, SM_ERR_INVALID, "config key \"lm_head\": true needs vocab_size, \"causal\": true, \"pooling\": \"none\" and output_size equal to vocab_size");
			sm_detail(err, "The head then gives next-token logits at every position, as a decoder's.");
			return err->code;
		}
	}
	/* the text keys (checked here, at import, as well as at build) */
	{
		sm_tfm		scratch = {.vocab = (int) c->V};
		const sm_json *id2label = sm_json_get(cfg->json, "id2label");
		int			n;

		if ((rc = sm_tfm_text_config(cfg, &scratch, c->pool, err)) != SM_OK)
			return rc;
		if (id2label != NULL)
		{
			if ((rc = sm_tfm_id2label(id2label, NULL, &n, err)) != SM_OK)
				return rc;
			if (n != c->O)
			{
				sm_fail(err, SM_ERR_INVALID, "config key \"id2label\" names %d labels but \"output_size\" is %lld",
						n, (long long) c->O);
				return err->code;
			}
			c->id2label = id2label;
		}
	}
	return SM_OK;
}

static sm_status
transformer_spec(const sm_config *cfg, sm_spec *spec, sm_error *err)
{
	tcfg		c;
	sm_seqhead	sh;
	char		name[SM_MAX_NAME];
	sm_status	rc;

	if ((rc = read_config(cfg, &c, err)) != SM_OK)
		return rc;
	if (c.I > 0)
	{
		if ((rc = sm_seqhead_read(cfg, c.I, c.O, &sh, err)) != SM_OK)
			return rc;
		sm_seqhead_free(&sh);
		if ((rc = sm_tfm_spec_dense(spec, err, c.d, c.I, false, true, false, c.inp)) != SM_OK)
			return rc;
	}
	else
	{
		int64_t		shape[2] = {c.V, c.d};

		if ((rc = sm_spec_add(spec, err, 2, shape, "%sweight", c.emb)) != SM_OK)
			return rc;
	}
	if (c.positional == 2)
	{
		int64_t		shape[2] = {c.max_len, c.d};

		if ((rc = sm_spec_add(spec, err, 2, shape, "%sweight", c.pos)) != SM_OK)
			return rc;
	}
	for (int i = 0; i < c.layers; i++)
	{
		int64_t		inw[2] = {3 * c.d, c.d};
		int64_t		inb[1] = {3 * c.d};

		if ((rc = sm_spec_add(spec, err, 2, inw, "%slayers.%d.self_attn.in_proj_weight", c.enc, i)) != SM_OK ||
			(rc = sm_spec_add(spec, err, 1, inb, "%slayers.%d.self_attn.in_proj_bias", c.enc, i)) != SM_OK)
			return rc;
#define SUB(fmt) (snprintf(name, sizeof(name), "%slayers.%d." fmt, c.enc, i), name)
		if ((rc = sm_tfm_spec_dense(spec, err, c.d, c.d, false, true, false, SUB("self_attn.out_proj."))) != SM_OK ||
			(rc = sm_tfm_spec_dense(spec, err, c.ffn, c.d, false, true, false, SUB("linear1."))) != SM_OK ||
			(rc = sm_tfm_spec_dense(spec, err, c.d, c.ffn, false, true, false, SUB("linear2."))) != SM_OK ||
			(rc = sm_tfm_spec_norm(spec, err, c.d, SUB("norm1."))) != SM_OK ||
			(rc = sm_tfm_spec_norm(spec, err, c.d, SUB("norm2."))) != SM_OK)
			return rc;
#undef SUB
	}
	if (c.final_norm)
	{
		snprintf(name, sizeof(name), "%snorm.", c.enc);
		if ((rc = sm_tfm_spec_norm(spec, err, c.d, name)) != SM_OK)
			return rc;
	}
	if (c.O > 0 && (rc = sm_tfm_spec_dense(spec, err, c.O, c.d, false, c.head_bias, false, c.head)) != SM_OK)
		return rc;
	return SM_OK;
}

static sm_status
transformer_build(sm_model *model, sm_error *err)
{
	tcfg		c;
	sm_tfm	   *m;
	sm_tfm_dims dims;
	char		name[SM_MAX_NAME];
	sm_status	rc;

	if ((rc = read_config(&model->cfg, &c, err)) != SM_OK)
		return rc;
	dims = (sm_tfm_dims) {.d = c.d, .heads = c.heads, .layers = c.layers, .ffn = c.ffn, .eps = c.eps, .act = c.act};
	if ((rc = sm_tfm_new(model, &dims, &m, err)) != SM_OK)
		return rc;
	m->norm_first = c.norm_first;
	m->causal = c.causal;
	m->max_len = (int) c.max_len;
	m->pool = c.pool;
	if (c.I > 0)
	{
		if ((rc = sm_seqhead_read(&model->cfg, c.I, c.O, &m->sh, err)) != SM_OK)
			return rc;
		m->I = (int) c.I;
		m->in_proj = sm_tfm_dense(model, m->d, m->I, false, c.inp);
	}
	else
	{
		m->vocab = (int) c.V;
		m->wte = sm_model_weight(model, "%sweight", c.emb);
		if (c.scale_emb)
			m->emb_scale = sqrtf((float) c.d);
	}
	if (c.positional == 2)
		m->pos = sm_model_weight(model, "%sweight", c.pos);
	else if (c.positional == 1 && (rc = sm_tfm_sinusoidal(m, err)) != SM_OK)
		return rc;
	for (int i = 0; i < m->n_layers; i++)
	{
		sm_tfm_layer *L = &m->layers[i];

#define SUB(fmt) (snprintf(name, sizeof(name), "%slayers.%d." fmt, c.enc, i), name)
		L->qkv.w = sm_model_weight(model, "%slayers.%d.self_attn.in_proj_weight", c.enc, i);
		L->qkv.b = sm_model_weight(model, "%slayers.%d.self_attn.in_proj_bias", c.enc, i);
		L->qkv.in = m->d;
		L->qkv.out = 3 * m->d;
		L->o = sm_tfm_dense(model, m->d, m->d, false, SUB("self_attn.out_proj."));
		L->ff1 = sm_tfm_dense(model, m->ffn, m->d, false, SUB("linear1."));
		L->ff2 = sm_tfm_dense(model, m->d, m->ffn, false, SUB("linear2."));
		L->ln1_g = sm_model_weight(model, "%sweight", SUB("norm1."));
		L->ln1_b = sm_model_weight(model, "%sbias", SUB("norm1."));
		L->ln2_g = sm_model_weight(model, "%sweight", SUB("norm2."));
		L->ln2_b = sm_model_weight(model, "%sbias", SUB("norm2."));
#undef SUB
	}
	if (c.final_norm)
	{
		m->final_ln_g = sm_model_weight(model, "%snorm.weight", c.enc);
		m->final_ln_b = sm_model_weight(model, "%snorm.bias", c.enc);
	}
	if (c.O > 0)
		m->head = sm_tfm_dense(model, (int) c.O, m->d, false, c.head);
	if (c.lm_head)
	{
		m->lm_head = m->head.w;
		m->lm_bias = m->head.b;
	}
	m->default_out = c.hidden ? SM_TFM_OUT_HIDDEN
		: c.pool == SM_POOL_NONE ? SM_TFM_OUT_STEPS : SM_TFM_OUT_SEQUENCE;
	if (c.id2label && (rc = sm_tfm_id2label(c.id2label, &m->labels, &m->n_labels, err)) != SM_OK)
		return rc;
	return sm_tfm_finish(&model->cfg, m, c.pool, err);
}

const sm_arch sm_arch_transformer = {
	.name = "transformer", .family = SM_FAMILY_TRANSFORMER, .spec = transformer_spec, .build = transformer_build,
	.release = sm_tfm_release
};
