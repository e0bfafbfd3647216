/*
 * sm_arch_bert.c -- arch "bert": Hugging Face BertModel and
 * BertForSequenceClassification.
 *
 * Config: Hugging Face's config.json as it is.  Read: vocab_size,
 * hidden_size, num_hidden_layers, num_attention_heads, intermediate_size,
 * hidden_act ("gelu" default, "gelu_new", "relu"), max_position_embeddings
 * (512), type_vocab_size (2), layer_norm_eps (1e-12), id2label / num_labels
 * (the classifier's width: the labels' count, else num_labels, else 2).
 * position_embedding_type other than "absolute" and is_decoder true are
 * errors; other keys of config.json are ignored.  seqmodel's own key
 * "output": "logits" (classifier(pooler(first token)); the default when
 * the classifier is stored) | "pooled" (the pooler output; the default
 * with a pooler and no classifier) | "hidden" (final hidden states [L, d];
 * the default otherwise).
 *
 * Tensors, with or without the "bert." prefix:
 *   embeddings.word_embeddings.weight [V, d], embeddings.position_embeddings
 *   .weight [max_pos, d], embeddings.token_type_embeddings.weight [types, d],
 *   embeddings.LayerNorm; per layer encoder.layer.{i}.: attention.self.query
 *   / key / value, attention.output.dense, attention.output.LayerNorm,
 *   intermediate.dense, output.dense, output.LayerNorm;
 *   pooler.dense (optional); classifier.weight / bias [labels, d] (optional,
 *   never prefixed).  The buffer embeddings.position_ids (and
 *   embeddings.token_type_ids) of some checkpoints is accepted and ignored.
 */
#include "sm_tfm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct bcfg
{
	int64_t		V,
				d,
				layers,
				heads,
				inner,
				P,
				types,
				labels;
	double		eps;
	sm_act		act;
	const char *output;
	const sm_json *id2label;
} bcfg;

static sm_status
read_config(const sm_config *cfg, bcfg *c, sm_error *err)
{
	const char *act,
			   *pet;
	bool		dec;
	sm_status	rc;

	memset(c, 0, sizeof(*c));
	if ((rc = sm_config_int(cfg, "vocab_size", true, 0, 1, INT32_MAX, &c->V, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "hidden_size", true, 0, 1, 1 << 16, &c->d, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "num_hidden_layers", true, 0, 1, 1024, &c->layers, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "num_attention_heads", true, 0, 1, 1024, &c->heads, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "intermediate_size", true, 0, 1, 1 << 20, &c->inner, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "max_position_embeddings", false, 512, 1, 1 << 20, &c->P, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "type_vocab_size", false, 2, 1, 1 << 16, &c->types, err)) != SM_OK ||
		(rc = sm_config_number(cfg, "layer_norm_eps", 1e-12, &c->eps, err)) != SM_OK ||
		(rc = sm_config_string(cfg, "hidden_act", "gelu", &act, err)) != SM_OK ||
		(rc = sm_config_string(cfg, "position_embedding_type", "absolute", &pet, err)) != SM_OK ||
		(rc = sm_config_bool(cfg, "is_decoder", false, &dec, err)) != SM_OK ||
		(rc = sm_config_string(cfg, "output", NULL, &c->output, err)) != SM_OK)
		return rc;
	if ((rc = sm_tfm_hf_act("hidden_act", act, &c->act, err)) != SM_OK)
		return rc;
	if (strcmp(pet, "absolute") != 0)
		return sm_fail(err, SM_ERR_UNSUPPORTED, "config key \"position_embedding_type\": \"%s\" is not supported; only \"absolute\" is", pet);
	if (dec)
		return sm_fail(err, SM_ERR_UNSUPPORTED, "config key \"is_decoder\": true is not supported");
	if (c->output && strcmp(c->output, "logits") != 0 && strcmp(c->output, "pooled") != 0 &&
		strcmp(c->output, "hidden") != 0)
		return sm_fail(err, SM_ERR_INVALID, "config key \"output\" must be \"logits\", \"pooled\" or \"hidden\", not \"%s\"", c->output);
	if ((rc = sm_tfm_check_sizes(c->d, "hidden_size", c->heads, "num_attention_heads", c->eps, "layer_norm_eps", err)) != SM_OK)
		return rc;
	/* labels: id2label {"0": "neg", ...} with keys 0 .. n-1, else num_labels */
	c->id2label = sm_json_get(cfg->json, "id2label");
	if (c->id2label != NULL)
	{
		int			n;

		if ((rc = sm_tfm_id2label(c->id2label, NULL, &n, err)) != SM_OK)
			return rc;
		c->labels = n;
	}
	else if ((rc = sm_config_int(cfg, "num_labels", false, 2, 1, 1 << 20, &c->labels, err)) != SM_OK)
		return rc;
	{
		sm_tfm		scratch = {.vocab = (int) c->V};

		if ((rc = sm_tfm_text_config(cfg, &scratch, SM_POOL_FIRST, err)) != SM_OK)
			return rc;
	}
	return SM_OK;
}

static sm_status
bert_spec(const sm_config *cfg, sm_spec *spec, sm_error *err)
{
	bcfg		c;
	char		name[SM_MAX_NAME];
	int64_t		s2[2];
	sm_status	rc;

	if ((rc = read_config(cfg, &c, err)) != SM_OK)
		return rc;
	s2[1] = c.d;
	s2[0] = c.V;
	if ((rc = sm_spec_add(spec, err, 2, s2, "embeddings.word_embeddings.weight")) != SM_OK)
		return rc;
	s2[0] = c.P;
	if ((rc = sm_spec_add(spec, err, 2, s2, "embeddings.position_embeddings.weight")) != SM_OK)
		return rc;
	s2[0] = c.types;
	if ((rc = sm_spec_add(spec, err, 2, s2, "embeddings.token_type_embeddings.weight")) != SM_OK ||
		(rc = sm_tfm_spec_norm(spec, err, c.d, "embeddings.LayerNorm.")) != SM_OK ||
		(rc = sm_spec_ignore(spec, err, "embeddings.position_ids")) != SM_OK ||
		(rc = sm_spec_ignore(spec, err, "embeddings.token_type_ids")) != SM_OK ||
		(rc = sm_tfm_spec_dense(spec, err, c.d, c.d, false, true, true, "pooler.dense.")) != SM_OK ||
		(rc = sm_tfm_spec_dense(spec, err, c.labels, c.d, false, true, true, "classifier.")) != SM_OK)
		return rc;
	for (int i = 0; i < c.layers; i++)
	{
#define SUB(fmt) (snprintf(name, sizeof(name), "encoder.layer.%d." fmt, i), name)
		if ((rc = sm_tfm_spec_dense(spec, err, c.d, c.d, false, true, false, SUB("attention.self.query."))) != SM_OK ||
			(rc = sm_tfm_spec_dense(spec, err, c.d, c.d, false, true, false, SUB("attention.self.key."))) != SM_OK ||
			(rc = sm_tfm_spec_dense(spec, err, c.d, c.d, false, true, false, SUB("attention.self.value."))) != SM_OK ||
			(rc = sm_tfm_spec_dense(spec, err, c.d, c.d, false, true, false, SUB("attention.output.dense."))) != SM_OK ||
			(rc = sm_tfm_spec_norm(spec, err, c.d, SUB("attention.output.LayerNorm."))) != SM_OK ||
			(rc = sm_tfm_spec_dense(spec, err, c.inner, c.d, false, true, false, SUB("intermediate.dense."))) != SM_OK ||
			(rc = sm_tfm_spec_dense(spec, err, c.d, c.inner, false, true, false, SUB("output.dense."))) != SM_OK ||
			(rc = sm_tfm_spec_norm(spec, err, c.d, SUB("output.LayerNorm."))) != SM_OK)
			return rc;
#undef SUB
	}
	return SM_OK;
}

/* both tensors of an optional dense layer, or neither */
static sm_status
optional_pair(bool has_w, bool has_b, const char *name, sm_error *err)
{
	if (has_w != has_b)
	{
		sm_fail(err, SM_ERR_INVALID, "tensor \"%s%s\" is missing", name, has_w ? "bias" : "weight");
		sm_detail(err, "\"%sweight\" and \"%sbias\" come together.", name, name);
		return err->code;
	}
	return SM_OK;
}

/* What the model outputs, given which optional layers it has; errors when "output" asks for a missing one. */
static sm_status
resolve_output(const char *output, bool pooler, bool classifier, const char **out, sm_error *err)
{
	*out = output ? output : classifier ? "logits" : pooler ? "pooled" : "hidden";
	if (strcmp(*out, "hidden") != 0 && (!pooler || (strcmp(*out, "logits") == 0 && !classifier)))
	{
		sm_fail(err, SM_ERR_INVALID, "config key \"output\" is \"%s\", but the model has no %s",
				*out, !pooler ? "pooler (\"pooler.dense.weight\")" : "classifier (\"classifier.weight\")");
		sm_hint(err, "Set \"output\" to \"hidden\" for the final hidden states.");
		return err->code;
	}
	return SM_OK;
}

static bool
spec_seen(const sm_spec *spec, const char *name)
{
	for (int i = 0; i < spec->count; i++)
		if (strcmp(spec->items[i].name, name) == 0)
			return spec->items[i].seen;
	return false;
}

/* import: the optional pooler and classifier, against "output" */
static sm_status
bert_check_tensors(const sm_config *cfg, const sm_spec *spec, sm_error *err)
{
	bcfg		c;
	const char *out;
	bool		pw = spec_seen(spec, "pooler.dense.weight"),
				cw = spec_seen(spec, "classifier.weight");
	sm_status	rc;

	if ((rc = read_config(cfg, &c, err)) != SM_OK ||
		(rc = optional_pair(pw, spec_seen(spec, "pooler.dense.bias"), "pooler.dense.", err)) != SM_OK ||
		(rc = optional_pair(cw, spec_seen(spec, "classifier.bias"), "classifier.", err)) != SM_OK)
		return rc;
	return resolve_output(c.output, pw, cw, &out, err);
}

static sm_status
bert_build(sm_model *model, sm_error *err)
{
	bcfg		c;
	sm_tfm	   *m;
	sm_tfm_dims dims;
	char		name[SM_MAX_NAME];
	sm_dense	pooler,
				classifier;
	const char *out;
	sm_status	rc;

	if ((rc = read_config(&model->cfg, &c, err)) != SM_OK)
		return rc;
	dims = (sm_tfm_dims) {.d = c.d, .heads = c.heads, .layers = c.layers, .ffn = c.inner, .eps = c.eps, .act = c.act};
	if ((rc = sm_tfm_new(model, &dims, &m, err)) != SM_OK)
		return rc;
	m->vocab = (int) c.V;
	m->max_len = (int) c.P;
	m->type_vocab = (int) c.types;
	m->wte = sm_model_weight(model, "embeddings.word_embeddings.weight");
	m->pos = sm_model_weight(model, "embeddings.position_embeddings.weight");
	m->tte = sm_model_weight(model, "embeddings.token_type_embeddings.weight");
	m->emb_ln_g = sm_model_weight(model, "embeddings.LayerNorm.weight");
	m->emb_ln_b = sm_model_weight(model, "embeddings.LayerNorm.bias");
	for (int i = 0; i < m->n_layers; i++)
	{
		sm_tfm_layer *L = &m->layers[i];

#define SUB(fmt) (snprintf(name, sizeof(name), "encoder.layer.%d." fmt, i), name)
		L->q = sm_tfm_dense(model, m->d, m->d, false, SUB("attention.self.query."));
		L->k = sm_tfm_dense(model, m->d, m->d, false, SUB("attention.self.key."));
		L->v = sm_tfm_dense(model, m->d, m->d, false, SUB("attention.self.value."));
		L->o = sm_tfm_dense(model, m->d, m->d, false, SUB("attention.output.dense."));
		L->ln1_g = sm_model_weight(model, "%sweight", SUB("attention.output.LayerNorm."));
		L->ln1_b = sm_model_weight(model, "%sbias", SUB("attention.output.LayerNorm."));
		L->ff1 = sm_tfm_dense(model, m->ffn, m->d, false, SUB("intermediate.dense."));
		L->ff2 = sm_tfm_dense(model, m->d, m->ffn, false, SUB("output.dense."));
		L->ln2_g = sm_model_weight(model, "%sweight", SUB("output.LayerNorm."));
		L->ln2_b = sm_model_weight(model, "%sbias", SUB("output.LayerNorm."));
#undef SUB
	}
	pooler = sm_tfm_dense(model, m->d, m->d, false, "pooler.dense.");
	classifier = sm_tfm_dense(model, (int) c.labels, m->d, false, "classifier.");
	if ((rc = optional_pair(pooler.w != NULL, pooler.b != NULL, "pooler.dense.", err)) != SM_OK ||
		(rc = optional_pair(classifier.w != NULL, classifier.b != NULL, "classifier.", err)) != SM_OK ||
		(rc = resolve_output(c.output, pooler.w != NULL, classifier.w != NULL, &out, err)) != SM_OK)
		return rc;
	if (strcmp(out, "hidden") == 0)
		m->default_out = SM_TFM_OUT_HIDDEN;
	else
	{
		bool		logits = strcmp(out, "logits") == 0;

		m->default_out = SM_TFM_OUT_SEQUENCE;
		m->pool = SM_POOL_FIRST;
		m->pooler = pooler;
		if (logits)
			m->head = classifier;
	}
	if (c.id2label && (rc = sm_tfm_id2label(c.id2label, &m->labels, &m->n_labels, err)) != SM_OK)
		return rc;
	return sm_tfm_finish(&model->cfg, m, SM_POOL_FIRST, err);
}

const sm_arch sm_arch_bert = {
	.name = "bert", .family = SM_FAMILY_TRANSFORMER, .strip_prefix = "bert.", .spec = bert_spec,
	.check_tensors = bert_check_tensors, .build = bert_build,
	.release = sm_tfm_release
};
