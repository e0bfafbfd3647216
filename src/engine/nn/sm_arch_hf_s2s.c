/*
 * sm_arch_hf_s2s.c -- archs "marian" (Hugging Face MarianMTModel) and "bart"
 * (BartForConditionalGeneration), built into the transformer encoder-decoder
 * of sm_tfm_s2s.h.  Both are the same post-norm transformer with separate q,
 * k, v projections (q scaled after its bias, the same math as scaling the
 * scores) and differ in:
 *   marian  positions sinusoidal with sin in the first half of the features
 *           and cos in the second (MarianSinusoidalPositionalEmbedding,
 *           computed in double when the file does not hold them), no
 *           offset; no embedding layer norm; usually swish, scale_embedding
 *           and separate vocabularies (share_encoder_decoder_embeddings
 *           false, decoder_vocab_size)
 *   bart    learned positions read at row p + 2 (BartLearnedPositionalEmbedding's
 *           offset); layernorm_embedding after the embeddings of both stacks
 * Output: lm_head (absent: tied to the target embedding) + final_logits_bias.
 *
 * Config: config.json as saved.  Read (HF's defaults): vocab_size (required),
 * decoder_vocab_size (marian; vocab_size), d_model (required), encoder_layers,
 * decoder_layers (12), encoder_attention_heads, decoder_attention_heads (16),
 * encoder_ffn_dim, decoder_ffn_dim (4096), activation_function (gelu; also
 * relu, gelu_new, swish / silu), max_position_embeddings (1024),
 * scale_embedding (false), share_encoder_decoder_embeddings (true),
 * pad/bos/eos/decoder_start_token_id, forced_bos_token_id,
 * forced_eos_token_id, bad_words_ids (entries of one token), max_length (20:
 * HF counts the decoder start, so max_new_tokens defaults to max_length - 1).
 * Keys that would change the math in ways not implemented are errors:
 * normalize_before, add_final_layer_norm (mBART), add_bias_logits,
 * normalize_embedding false, model_type other than the arch's.  Other keys
 * (dropout, num_beams, ...) are ignored.
 *
 * Tensors, with or without the "model." prefix: shared.weight [V, d] (when
 * shared; encoder./decoder.embed_tokens.weight are its tied copies, optional),
 * else encoder.embed_tokens.weight [V, d] and decoder.embed_tokens.weight
 * [Vd, d]; {encoder,decoder}.embed_positions.weight ([P + 2, d] bart,
 * [P, d] marian, optional); bart: {encoder,decoder}.layernorm_embedding;
 * encoder.layers.{i}.self_attn.{q,k,v,out}_proj, .self_attn_layer_norm,
 * .fc1, .fc2, .final_layer_norm; decoder.layers.{i} the same plus
 * .encoder_attn.{q,k,v,out}_proj and .encoder_attn_layer_norm; lm_head.weight
 * [Vd, d] (optional) and final_logits_bias [1, Vd] (optional).
 */
#include "sm_tfm_s2s.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct hf_config
{
	bool		bart;
	int64_t		V,
				Vd,
				d,
				enc_layers,
				dec_layers,
				enc_heads,
				dec_heads,
				enc_ffn,
				dec_ffn,
				P,
				pad,
				bos,
				eos,
				start,
				forced_bos,
				forced_eos,
				max_new;
	sm_act		act;
	bool		scale,
				shared;
	const sm_json *bad;
} hf_config;

/* a boolean that must have the given value: another is SM_ERR_UNSUPPORTED */
static sm_status
hf_require(const sm_config *cfg, const char *key, bool want, const char *why, sm_error *err)
{
	bool		v;
	sm_status	rc = sm_config_bool(cfg, key, want, &v, err);

	if (rc != SM_OK || v == want)
		return rc;
	sm_fail(err, SM_ERR_UNSUPPORTED, "config key \"%s\": %s is not supported", key, v ? "true" : "false");
	sm_detail(err, "%s", why);
	return err->code;
}

static sm_status
hf_read(const sm_config *cfg, bool bart, hf_config *c, sm_error *err)
{
	const char *act,
			   *type;
	bool		tie;
	sm_status	rc;

	memset(c, 0, sizeof(*c));
	c->bart = bart;
	if ((rc = sm_config_string(cfg, "model_type", bart ? "bart" : "marian", &type, err)) != SM_OK)
		return rc;
	if (strcmp(type, bart ? "bart" : "marian") != 0)
	{
		sm_fail(err, SM_ERR_INVALID, "config has model_type \"%s\", not \"%s\"", type, bart ? "bart" : "marian");
		sm_detail(err, "Import a Hugging Face %s checkpoint with arch \"%s\".", type, type);
		return err->code;
	}
	if ((rc = sm_config_int(cfg, "vocab_size", true, 0, 1, INT32_MAX, &c->V, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "d_model", true, 0, 1, 1 << 16, &c->d, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "encoder_layers", false, 12, 1, 1024, &c->enc_layers, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "decoder_layers", false, 12, 1, 1024, &c->dec_layers, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "encoder_attention_heads", false, 16, 1, 1024, &c->enc_heads, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "decoder_attention_heads", false, 16, 1, 1024, &c->dec_heads, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "encoder_ffn_dim", false, 4096, 1, 1 << 20, &c->enc_ffn, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "decoder_ffn_dim", false, 4096, 1, 1 << 20, &c->dec_ffn, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "max_position_embeddings", false, 1024, 1, 1 << 20, &c->P, err)) != SM_OK ||
		(rc = sm_config_string(cfg, "activation_function", "gelu", &act, err)) != SM_OK ||
		(rc = sm_config_bool(cfg, "scale_embedding", false, &c->scale, err)) != SM_OK ||
		(rc = sm_config_bool(cfg, "share_encoder_decoder_embeddings", true, &c->shared, err)) != SM_OK ||
		(rc = sm_config_bool(cfg, "tie_word_embeddings", true, &tie, err)) != SM_OK ||
		(rc = hf_require(cfg, "normalize_before", false, "mBART's pre-norm layers are not implemented.", err)) != SM_OK ||
		(rc = hf_require(cfg, "add_final_layer_norm", false, "mBART's final layer norms are not implemented.", err)) != SM_OK ||
		(rc = hf_require(cfg, "add_bias_logits", false, "The logits bias is final_logits_bias.", err)) != SM_OK ||
		(rc = hf_require(cfg, "normalize_embedding", true, "The embedding layer norm is part of the arch.", err)) != SM_OK)
		return rc;
	if (bart)
		c->shared = true;
	if ((rc = sm_config_int(cfg, "decoder_vocab_size", false, c->V, 1, INT32_MAX, &c->Vd, err)) != SM_OK)
		return rc;
	if (c->shared && c->Vd != c->V)
	{
		sm_fail(err, SM_ERR_INVALID, "decoder_vocab_size %lld differs from vocab_size %lld with shared embeddings",
				(long long) c->Vd, (long long) c->V);
		sm_detail(err, "Separate vocabularies need \"share_encoder_decoder_embeddings\": false.");
		return err->code;
	}
	if ((rc = sm_tfm_check_sizes(c->d, "d_model", c->enc_heads, "encoder_attention_heads", 1e-5, "layer_norm_eps", err)) != SM_OK ||
		(rc = sm_tfm_check_sizes(c->d, "d_model", c->dec_heads, "decoder_attention_heads", 1e-5, "layer_norm_eps", err)) != SM_OK)
		return rc;
	if (strcmp(act, "swish") == 0 || strcmp(act, "silu") == 0)
		c->act = SM_ACT_SILU;
	else if ((rc = sm_tfm_hf_act("activation_function", act, &c->act, err)) != SM_OK)
	{
		sm_detail(err, "Supported: \"gelu\", \"gelu_new\", \"gelu_pytorch_tanh\", \"relu\", \"swish\", \"silu\".");
		return rc;
	}
	if ((rc = sm_tfm_s2s_token(cfg, "pad_token_id", c->Vd, bart ? 1 : -1, &c->pad, err)) != SM_OK ||
		(rc = sm_tfm_s2s_token(cfg, "bos_token_id", c->Vd, bart ? 0 : -1, &c->bos, err)) != SM_OK ||
		(rc = sm_tfm_s2s_token(cfg, "eos_token_id", c->Vd, bart ? 2 : -1, &c->eos, err)) != SM_OK ||
		(rc = sm_tfm_s2s_token(cfg, "decoder_start_token_id", c->Vd, bart ? c->eos : c->pad, &c->start, err)) != SM_OK ||
		(rc = sm_tfm_s2s_token(cfg, "forced_bos_token_id", c->Vd, -1, &c->forced_bos, err)) != SM_OK ||
		(rc = sm_tfm_s2s_token(cfg, "forced_eos_token_id", c->Vd, -1, &c->forced_eos, err)) != SM_OK)
		return rc;
	if (c->start < 0)
	{
		sm_fail(err, SM_ERR_INVALID, "config needs \"decoder_start_token_id\"");
		sm_detail(err, "The decoder's first input is that token (Marian: pad_token_id; BART: eos_token_id).");
		return err->code;
	}
	{
		int64_t		max_length;

		if ((rc = sm_config_int(cfg, "max_length", false, 20, 2, 1 << 20, &max_length, err)) != SM_OK)
			return rc;
		c->max_new = max_length - 1;
		if (c->max_new > c->P)
			c->max_new = c->P;
		if (c->max_new > SM_MAX_NEW_TOKENS)
			c->max_new = SM_MAX_NEW_TOKENS;
	}
	c->bad = sm_json_get(cfg->json, "bad_words_ids");
	if (c->bad && c->bad->type == SM_JSON_NULL)
		c->bad = NULL;
	if (c->bad)
	{
		if (c->bad->type != SM_JSON_ARRAY)
			return sm_fail(err, SM_ERR_INVALID, "config key \"bad_words_ids\" must be an array of arrays of token ids");
		for (size_t i = 0; i < c->bad->count; i++)
		{
			const sm_json *w = c->bad->items[i];

			if (w->type != SM_JSON_ARRAY || w->count < 1 || w->items[0]->type != SM_JSON_NUMBER ||
				!w->items[0]->is_integer || w->items[0]->integer < 0 || w->items[0]->integer >= c->Vd)
			{
				sm_fail(err, SM_ERR_INVALID, "config key \"bad_words_ids\" entry %zu must be an array of token ids below %lld",
						i + 1, (long long) c->Vd);
				return err->code;
			}
			if (w->count > 1)
			{
				sm_fail(err, SM_ERR_UNSUPPORTED, "config key \"bad_words_ids\" entry %zu has %zu tokens; only single tokens are supported",
						i + 1, w->count);
				sm_detail(err, "A single-token entry bans that token at every step, as Hugging Face does.");
				return err->code;
			}
		}
	}
	return SM_OK;
}

/* an attention module's q, k, v and out projections */
static sm_status
spec_attention(sm_spec *spec, sm_error *err, int64_t d, const char *name)
{
	static const char *const parts[] = {"q_proj.", "k_proj.", "v_proj.", "out_proj."};
	char		sub[SM_MAX_NAME];
	sm_status	rc;

	for (int i = 0; i < 4; i++)
	{
		snprintf(sub, sizeof(sub), "%s%s", name, parts[i]);
		if ((rc = sm_tfm_spec_dense(spec, err, d, d, false, true, false, sub)) != SM_OK)
			return rc;
	}
	return SM_OK;
}

static sm_status
spec_stack(const hf_config *c, sm_spec *spec, sm_error *err, bool decoder)
{
	const char *s = decoder ? "decoder" : "encoder";
	int64_t		n = decoder ? c->dec_layers : c->enc_layers,
				ffn = decoder ? c->dec_ffn : c->enc_ffn,
				pos[2] = {c->P + (c->bart ? 2 : 0), c->d};
	char		name[SM_MAX_NAME];
	sm_status	rc;

	rc = c->bart ? sm_spec_add(spec, err, 2, pos, "%s.embed_positions.weight", s)
		: sm_spec_add_optional(spec, err, 2, pos, "%s.embed_positions.weight", s);
	if (rc != SM_OK)
		return rc;
	if (c->bart)
	{
		snprintf(name, sizeof(name), "%s.layernorm_embedding.", s);
		if ((rc = sm_tfm_spec_norm(spec, err, c->d, name)) != SM_OK)
			return rc;
	}
	for (int i = 0; i < n; i++)
	{
#define SUB(fmt) (snprintf(name, sizeof(name), "%s.layers.%d." fmt, s, i), name)
		if ((rc = spec_attention(spec, err, c->d, SUB("self_attn."))) != SM_OK ||
			(rc = sm_tfm_spec_norm(spec, err, c->d, SUB("self_attn_layer_norm."))) != SM_OK ||
			(decoder && (rc = spec_attention(spec, err, c->d, SUB("encoder_attn."))) != SM_OK) ||
			(decoder && (rc = sm_tfm_spec_norm(spec, err, c->d, SUB("encoder_attn_layer_norm."))) != SM_OK) ||
			(rc = sm_tfm_spec_dense(spec, err, ffn, c->d, false, true, false, SUB("fc1."))) != SM_OK ||
			(rc = sm_tfm_spec_dense(spec, err, c->d, ffn, false, true, false, SUB("fc2."))) != SM_OK ||
			(rc = sm_tfm_spec_norm(spec, err, c->d, SUB("final_layer_norm."))) != SM_OK)
			return rc;
#undef SUB
	}
	return SM_OK;
}

static sm_status
hf_spec(const sm_config *cfg, sm_spec *spec, sm_error *err, bool bart)
{
	hf_config	c;
	int64_t		se[2],
				te[2],
				fb[2];
	sm_status	rc;

	if ((rc = hf_read(cfg, bart, &c, err)) != SM_OK)
		return rc;
	rc = SM_OK;
	se[0] = c.V, se[1] = c.d;
	te[0] = c.Vd, te[1] = c.d;
	fb[0] = 1, fb[1] = c.Vd;
	if (c.shared)
		rc = sm_spec_add(spec, err, 2, se, "shared.weight");
	if (rc == SM_OK)
		rc = c.shared ? sm_spec_add_optional(spec, err, 2, se, "encoder.embed_tokens.weight")
			: sm_spec_add(spec, err, 2, se, "encoder.embed_tokens.weight");
	if (rc == SM_OK)
		rc = c.shared ? sm_spec_add_optional(spec, err, 2, te, "decoder.embed_tokens.weight")
			: sm_spec_add(spec, err, 2, te, "decoder.embed_tokens.weight");
	if (rc != SM_OK ||
		(rc = spec_stack(&c, spec, err, false)) != SM_OK ||
		(rc = spec_stack(&c, spec, err, true)) != SM_OK ||
		(rc = sm_spec_add_optional(spec, err, 2, te, "lm_head.weight")) != SM_OK ||
		(rc = sm_spec_add_optional(spec, err, 2, fb, "final_logits_bias")) != SM_OK)
		return rc;
	return SM_OK;
}

static sm_status
marian_spec(const sm_config *cfg, sm_spec *spec, sm_error *err)
{
	return hf_spec(cfg, spec, err, false);
}

static sm_status
bart_spec(const sm_config *cfg, sm_spec *spec, sm_error *err)
{
	return hf_spec(cfg, spec, err, true);
}

/* MarianSinusoidalPositionalEmbedding: sin of the even angles in the first half, cos of the odd in the second */
static float *
marian_positions(int P, int d)
{
	float	   *t = sm_alloc_array((size_t) P * d, sizeof(float));
	int			half = d % 2 == 0 ? d / 2 : d / 2 + 1;

	if (t == NULL)
		return NULL;
	for (int p = 0; p < P; p++)
		for (int j = 0; j < d; j++)
		{
			/* angle of feature j: pos / 10000^(2 (j / 2) / d), in double as numpy */
			double		a = p / pow(10000.0, 2.0 * (j / 2) / d);

			if (j % 2 == 0)
				t[(size_t) p * d + j / 2] = (float) sin(a);
			else
				t[(size_t) p * d + half + j / 2] = (float) cos(a);
		}
	return t;
}

/* HF attention's q, k, v, out */
static void
attention(const sm_model *model, int d, const char *name, sm_dense *q, sm_dense *k, sm_dense *v,
		  sm_dense *o)
{
	char		sub[SM_MAX_NAME];

	snprintf(sub, sizeof(sub), "%sq_proj.", name);
	*q = sm_tfm_dense(model, d, d, false, sub);
	snprintf(sub, sizeof(sub), "%sk_proj.", name);
	*k = sm_tfm_dense(model, d, d, false, sub);
	snprintf(sub, sizeof(sub), "%sv_proj.", name);
	*v = sm_tfm_dense(model, d, d, false, sub);
	snprintf(sub, sizeof(sub), "%sout_proj.", name);
	*o = sm_tfm_dense(model, d, d, false, sub);
}

static sm_status
hf_build(sm_model *model, sm_error *err, bool bart)
{
	hf_config	c;
	sm_tfm_s2s *m;
	sm_tfm	   *e;
	sm_tfm_dims dims;
	char		name[SM_MAX_NAME];
	const float *epos,
			   *dpos;
	sm_status	rc;

	if ((rc = hf_read(&model->cfg, bart, &c, err)) != SM_OK)
		return rc;
	if ((m = sm_alloc0(sizeof(sm_tfm_s2s))) == NULL)
		return sm_fail(err, SM_ERR_NOMEM, "out of memory");
	model->impl = m;
	m->d = (int) c.d;
	m->heads = (int) c.dec_heads;
	m->dh = (int) (c.d / c.dec_heads);
	m->n_layers = (int) c.dec_layers;
	m->ffn = (int) c.dec_ffn;
	m->V = (int) c.Vd;
	m->eps = 1e-5f;
	m->act = c.act;
	m->norm_first = false;
	m->emb_scale = c.scale ? sqrtf((float) c.d) : 1.0f;
	m->max_target = (int) c.P;
	m->pos_offset = bart ? 2 : 0;
	m->start_id = (int32_t) c.start;
	m->eos_id = (int32_t) c.eos;
	m->pad_id = (int32_t) c.pad;
	m->forced_bos = (int32_t) c.forced_bos;
	m->forced_eos = (int32_t) c.forced_eos;
	m->max_new_default = (int) c.max_new;
	if (c.bad && c.bad->count > 0)
	{
		if ((m->banned = sm_alloc_array(c.bad->count, sizeof(int32_t))) == NULL)
			return sm_fail(err, SM_ERR_NOMEM, "out of memory");
		for (size_t i = 0; i < c.bad->count; i++)
			m->banned[i] = (int32_t) c.bad->items[i]->items[0]->integer;
		m->n_banned = (int) c.bad->count;
	}
	if ((m->layers = sm_alloc0(sizeof(sm_tfm_dec_layer) * (size_t) m->n_layers)) == NULL)
		return sm_fail(err, SM_ERR_NOMEM, "out of memory");

	/* positions: stored (bart always; marian usually), else Marian's table, computed once for both */
	epos = sm_model_weight(model, "encoder.embed_positions.weight");
	dpos = sm_model_weight(model, "decoder.embed_positions.weight");
	if ((epos == NULL || dpos == NULL) && (m->pos_owned = marian_positions(m->max_target, m->d)) == NULL)
		return sm_fail(err, SM_ERR_NOMEM, "out of memory for the positional encoding");
	m->pos = dpos ? dpos : m->pos_owned;

	/* the encoder */
	dims = (sm_tfm_dims) {.d = c.d, .heads = c.enc_heads, .layers = c.enc_layers, .ffn = c.enc_ffn,
	.eps = 1e-5, .act = c.act};
	if ((rc = sm_tfm_alloc(&dims, &m->enc, err)) != SM_OK)
		return rc;
	e = m->enc;
	e->vocab = (int) c.V;
	e->wte = sm_model_weight(model, c.shared ? "shared.weight" : "encoder.embed_tokens.weight");
	e->emb_scale = m->emb_scale;
	e->max_len = (int) c.P;
	e->pos = (epos ? epos : m->pos_owned) + (bart ? 2 * (size_t) c.d : 0);
	e->bos_id = e->eos_id = -1;
	e->default_out = SM_TFM_OUT_HIDDEN;
	if (bart)
	{
		e->emb_ln_g = sm_model_weight(model, "encoder.layernorm_embedding.weight");
		e->emb_ln_b = sm_model_weight(model, "encoder.layernorm_embedding.bias");
		m->emb_ln_g = sm_model_weight(model, "decoder.layernorm_embedding.weight");
		m->emb_ln_b = sm_model_weight(model, "decoder.layernorm_embedding.bias");
	}
	for (int i = 0; i < e->n_layers; i++)
	{
		sm_tfm_layer *L = &e->layers[i];

#define SUB(fmt) (snprintf(name, sizeof(name), "encoder.layers.%d." fmt, i), name)
		attention(model, e->d, SUB("self_attn."), &L->q, &L->k, &L->v, &L->o);
		L->ff1 = sm_tfm_dense(model, e->ffn, e->d, false, SUB("fc1."));
		L->ff2 = sm_tfm_dense(model, e->d, e->ffn, false, SUB("fc2."));
		L->ln1_g = sm_model_weight(model, "%sweight", SUB("self_attn_layer_norm."));
		L->ln1_b = sm_model_weight(model, "%sbias", SUB("self_attn_layer_norm."));
		L->ln2_g = sm_model_weight(model, "%sweight", SUB("final_layer_norm."));
		L->ln2_b = sm_model_weight(model, "%sbias", SUB("final_layer_norm."));
#undef SUB
	}

	/* the decoder */
	m->emb = sm_model_weight(model, c.shared ? "shared.weight" : "decoder.embed_tokens.weight");
	for (int i = 0; i < m->n_layers; i++)
	{
		sm_tfm_dec_layer *L = &m->layers[i];

#define SUB(fmt) (snprintf(name, sizeof(name), "decoder.layers.%d." fmt, i), name)
		attention(model, m->d, SUB("self_attn."), &L->sa_q, &L->sa_k, &L->sa_v, &L->sa_o);
		attention(model, m->d, SUB("encoder_attn."), &L->ca_q, &L->ca_k, &L->ca_v, &L->ca_o);
		L->ff1 = sm_tfm_dense(model, m->ffn, m->d, false, SUB("fc1."));
		L->ff2 = sm_tfm_dense(model, m->d, m->ffn, false, SUB("fc2."));
		L->ln1_g = sm_model_weight(model, "%sweight", SUB("self_attn_layer_norm."));
		L->ln1_b = sm_model_weight(model, "%sbias", SUB("self_attn_layer_norm."));
		L->ln2_g = sm_model_weight(model, "%sweight", SUB("encoder_attn_layer_norm."));
		L->ln2_b = sm_model_weight(model, "%sbias", SUB("encoder_attn_layer_norm."));
		L->ln3_g = sm_model_weight(model, "%sweight", SUB("final_layer_norm."));
		L->ln3_b = sm_model_weight(model, "%sbias", SUB("final_layer_norm."));
#undef SUB
	}
	{
		const float *head = sm_model_weight(model, "lm_head.weight");

		m->lm = (sm_dense) {.w = head ? head : m->emb, .in = m->d, .out = m->V};
	}
	m->lm_bias = sm_model_weight(model, "final_logits_bias");
	return sm_tfm_s2s_pack(m, err);
}

static sm_status
marian_build(sm_model *model, sm_error *err)
{
	return hf_build(model, err, false);
}

static sm_status
bart_build(sm_model *model, sm_error *err)
{
	return hf_build(model, err, true);
}

const sm_arch sm_arch_marian = {
	.name = "marian", .family = SM_FAMILY_TFM_SEQ2SEQ, .strip_prefix = "model.",
	.spec = marian_spec, .build = marian_build, .release = sm_tfm_s2s_release
};

const sm_arch sm_arch_bart = {
	.name = "bart", .family = SM_FAMILY_TFM_SEQ2SEQ, .strip_prefix = "model.",
	.spec = bart_spec, .build = bart_build, .release = sm_tfm_s2s_release
};
