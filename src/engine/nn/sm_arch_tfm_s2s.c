/*
 * sm_arch_tfm_s2s.c -- arch "transformer_seq2seq": torch.nn.Transformer as
 * the PyTorch tutorial "Language Translation with nn.Transformer" wraps it
 * (Seq2SeqTransformer: TokenEmbedding for source and target, scaled by
 * sqrt(d_model), the tutorial's PositionalEncoding, nn.Transformer, and
 * the generator Linear), post- or pre-norm, separate or shared embeddings.
 *
 * Config (unknown keys are errors):
 *   src_vocab_size, tgt_vocab_size  integers >= 1, required
 *   d_model, nhead                  required (d_model % nhead == 0)
 *   num_encoder_layers, num_decoder_layers   default 6 (torch's)
 *   dim_feedforward    default 2048; activation "relu" (default) | "gelu"
 *   layer_norm_eps     default 1e-5; norm_first default false
 *   max_len            positions of source and target, default 5000 (the
 *                      tutorial's maxlen); the table is the tutorial's
 *                      (sin on even, cos on odd features), computed, or
 *                      read from its buffer "{position_prefix}pos_embedding"
 *                      [max_len, 1, d_model] when the file has it
 *   scale_embedding    default true (TokenEmbedding's * sqrt(d_model))
 *   bos_token_id, eos_token_id, pad_token_id   target ids (default none);
 *   decoder_start_token_id  default bos_token_id; one of the two is required
 *   max_new_tokens     the default decode limit, default min(64, max_len)
 *   transformer_prefix       default "transformer."
 *   source_embedding_prefix  default "src_tok_emb.embedding."
 *   target_embedding_prefix  default "tgt_tok_emb.embedding." (the source's
 *                            prefix: one shared table, equal vocabularies)
 *   position_prefix          default "positional_encoding."
 *   generator_prefix         default "generator."
 *   tie_generator            default false: the generator is the target
 *                            embedding (no "{generator_prefix}weight"; its
 *                            bias is read when present)
 *   dropout, batch_first: accepted, no effect on inference
 * Tensors (P the transformer prefix):
 *   P encoder.layers.{i}.self_attn.in_proj_weight [3d, d], in_proj_bias,
 *     .self_attn.out_proj, .linear1 [ffn, d], .linear2 [d, ffn], .norm1, .norm2
 *   P encoder.norm
 *   P decoder.layers.{i}.self_attn.*, .multihead_attn.* (as self_attn),
 *     .linear1, .linear2, .norm1, .norm2, .norm3
 *   P decoder.norm
 *   the embeddings [V, d], the generator [tgt_vocab, d] + bias.
 */
#include "sm_tfm_s2s.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const keys[] = {
	"src_vocab_size", "tgt_vocab_size", "d_model", "nhead", "num_encoder_layers",
	"num_decoder_layers", "dim_feedforward", "activation", "layer_norm_eps", "norm_first",
	"max_len", "scale_embedding", "bos_token_id", "eos_token_id", "pad_token_id",
	"decoder_start_token_id", "max_new_tokens", "transformer_prefix", "source_embedding_prefix",
	"target_embedding_prefix", "position_prefix", "generator_prefix", "tie_generator", "dropout",
	"batch_first", NULL
};

typedef struct ts_config
{
	int64_t		Vs,
				V,
				d,
				heads,
				enc_layers,
				dec_layers,
				ffn,
				max_len,
				bos,
				eos,
				pad,
				start,
				max_new;
	double		eps;
	sm_act		act;
	bool		norm_first,
				scale,
				tie_gen,
				shared_emb;
	const char *tp,
			   *sep,
			   *tep,
			   *pp,
			   *gp;
} ts_config;

static sm_status
read_config(const sm_config *cfg, ts_config *c, sm_error *err)
{
	const char *act;
	double		dropout;
	bool		batch_first;
	sm_status	rc;

	memset(c, 0, sizeof(*c));
	if ((rc = sm_config_check_keys(cfg, keys, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "src_vocab_size", true, 0, 1, INT32_MAX, &c->Vs, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "tgt_vocab_size", true, 0, 1, INT32_MAX, &c->V, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "d_model", true, 0, 1, 1 << 16, &c->d, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "nhead", true, 0, 1, 1024, &c->heads, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "num_encoder_layers", false, 6, 1, 1024, &c->enc_layers, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "num_decoder_layers", false, 6, 1, 1024, &c->dec_layers, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "dim_feedforward", false, 2048, 1, 1 << 20, &c->ffn, err)) != SM_OK ||
		(rc = sm_config_string(cfg, "activation", "relu", &act, err)) != SM_OK ||
		(rc = sm_config_number(cfg, "layer_norm_eps", 1e-5, &c->eps, err)) != SM_OK ||
		(rc = sm_config_bool(cfg, "norm_first", false, &c->norm_first, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "max_len", false, 5000, 1, 1 << 20, &c->max_len, err)) != SM_OK ||
		(rc = sm_config_bool(cfg, "scale_embedding", true, &c->scale, err)) != SM_OK ||
		(rc = sm_config_bool(cfg, "tie_generator", false, &c->tie_gen, err)) != SM_OK ||
		(rc = sm_config_number(cfg, "dropout", 0, &dropout, err)) != SM_OK ||
		(rc = sm_config_bool(cfg, "batch_first", false, &batch_first, err)) != SM_OK ||
		(rc = sm_config_string(cfg, "transformer_prefix", "transformer.", &c->tp, err)) != SM_OK ||
		(rc = sm_config_string(cfg, "source_embedding_prefix", "src_tok_emb.embedding.", &c->sep, err)) != SM_OK ||
		(rc = sm_config_string(cfg, "target_embedding_prefix", "tgt_tok_emb.embedding.", &c->tep, err)) != SM_OK ||
		(rc = sm_config_string(cfg, "position_prefix", "positional_encoding.", &c->pp, err)) != SM_OK ||
		(rc = sm_config_string(cfg, "generator_prefix", "generator.", &c->gp, err)) != SM_OK)
		return rc;
	if ((rc = sm_tfm_check_sizes(c->d, "d_model", c->heads, "nhead", c->eps, "layer_norm_eps", err)) != SM_OK)
		return rc;
	if (strcmp(act, "relu") == 0)
		c->act = SM_ACT_RELU;
	else if (strcmp(act, "gelu") == 0)
		c->act = SM_ACT_GELU;
	else
		return sm_fail(err, SM_ERR_INVALID, "config key \"activation\" must be \"relu\" or \"gelu\", not \"%s\"", act);
	c->shared_emb = strcmp(c->sep, c->tep) == 0;
	if (c->shared_emb && c->Vs != c->V)
	{
		sm_fail(err, SM_ERR_INVALID, "a shared embedding needs src_vocab_size equal to tgt_vocab_size");
		sm_detail(err, "source_embedding_prefix and target_embedding_prefix are both \"%s\"; the vocabularies have %lld and %lld tokens.",
				  c->sep, (long long) c->Vs, (long long) c->V);
		return err->code;
	}
	if ((rc = sm_tfm_s2s_token(cfg, "bos_token_id", c->V, -1, &c->bos, err)) != SM_OK ||
		(rc = sm_tfm_s2s_token(cfg, "eos_token_id", c->V, -1, &c->eos, err)) != SM_OK ||
		(rc = sm_tfm_s2s_token(cfg, "pad_token_id", c->V, -1, &c->pad, err)) != SM_OK ||
		(rc = sm_tfm_s2s_token(cfg, "decoder_start_token_id", c->V, c->bos, &c->start, err)) != SM_OK)
		return rc;
	if (c->start < 0)
	{
		sm_fail(err, SM_ERR_INVALID, "config needs \"decoder_start_token_id\" or \"bos_token_id\"");
		sm_detail(err, "The decoder's first input is that target token (the tutorial's BOS_IDX).");
		return err->code;
	}
	if ((rc = sm_config_int(cfg, "max_new_tokens", false, c->max_len < 64 ? c->max_len : 64, 1,
							c->max_len < SM_MAX_NEW_TOKENS ? c->max_len : SM_MAX_NEW_TOKENS,
							&c->max_new, err)) != SM_OK)
		return rc;
	return SM_OK;
}

/* attention: "{name}in_proj_weight" [3d, d], in_proj_bias, out_proj */
static sm_status
spec_attention(sm_spec *spec, sm_error *err, int64_t d, const char *name)
{
	int64_t		w[2] = {3 * d, d},
				b[1] = {3 * d};
	char		sub[SM_MAX_NAME];
	sm_status	rc;

	snprintf(sub, sizeof(sub), "%sout_proj.", name);
	if ((rc = sm_spec_add(spec, err, 2, w, "%sin_proj_weight", name)) != SM_OK ||
		(rc = sm_spec_add(spec, err, 1, b, "%sin_proj_bias", name)) != SM_OK)
		return rc;
	return sm_tfm_spec_dense(spec, err, d, d, false, true, false, sub);
}

static sm_status
spec_layers(const ts_config *c, sm_spec *spec, sm_error *err, bool decoder)
{
	int64_t		n = decoder ? c->dec_layers : c->enc_layers;
	char		name[SM_MAX_NAME];
	sm_status	rc;

	for (int i = 0; i < n; i++)
	{
#define SUB(fmt) (snprintf(name, sizeof(name), "%s%s.layers.%d." fmt, c->tp, decoder ? "decoder" : "encoder", i), name)
		if ((rc = spec_attention(spec, err, c->d, SUB("self_attn."))) != SM_OK ||
			(decoder && (rc = spec_attention(spec, err, c->d, SUB("multihead_attn."))) != SM_OK) ||
			(rc = sm_tfm_spec_dense(spec, err, c->ffn, c->d, false, true, false, SUB("linear1."))) != SM_OK ||
			(rc = sm_tfm_spec_dense(spec, err, c->d, c->ffn, false, true, false, SUB("linear2."))) != SM_OK ||
			(rc = sm_tfm_spec_norm(spec, err, c->d, SUB("norm1."))) != SM_OK ||
			(rc = sm_tfm_spec_norm(spec, err, c->d, SUB("norm2."))) != SM_OK ||
			(decoder && (rc = sm_tfm_spec_norm(spec, err, c->d, SUB("norm3."))) != SM_OK))
			return rc;
#undef SUB
	}
	snprintf(name, sizeof(name), "%s%s.norm.", c->tp, decoder ? "decoder" : "encoder");
	return sm_tfm_spec_norm(spec, err, c->d, name);
}

static sm_status
ts_spec(const sm_config *cfg, sm_spec *spec, sm_error *err)
{
	ts_config	c;
	int64_t		se[2],
				te[2],
				pe[3],
				gb[1];
	char		name[SM_MAX_NAME];
	sm_status	rc;

	if ((rc = read_config(cfg, &c, err)) != SM_OK)
		return rc;
	se[0] = c.Vs, se[1] = c.d;
	te[0] = c.V, te[1] = c.d;
	pe[0] = c.max_len, pe[1] = 1, pe[2] = c.d;
	gb[0] = c.V;
	if ((rc = sm_spec_add(spec, err, 2, se, "%sweight", c.sep)) != SM_OK ||
		(!c.shared_emb && (rc = sm_spec_add(spec, err, 2, te, "%sweight", c.tep)) != SM_OK) ||
		(rc = sm_spec_add_optional(spec, err, 3, pe, "%spos_embedding", c.pp)) != SM_OK ||
		(rc = spec_layers(&c, spec, err, false)) != SM_OK ||
		(rc = spec_layers(&c, spec, err, true)) != SM_OK)
		return rc;
	if (c.tie_gen)
		return sm_spec_add_optional(spec, err, 1, gb, "%sbias", c.gp);
	snprintf(name, sizeof(name), "%s", c.gp);
	return sm_tfm_spec_dense(spec, err, c.V, c.d, false, true, false, name);
}

/* an attention module's fused q k v and out projection */
static void
attention(const sm_model *model, int d, const char *name, sm_dense *qkv, sm_dense *o)
{
	char		sub[SM_MAX_NAME];

	qkv->w = sm_model_weight(model, "%sin_proj_weight", name);
	qkv->b = sm_model_weight(model, "%sin_proj_bias", name);
	qkv->in = d;
	qkv->out = 3 * d;
	snprintf(sub, sizeof(sub), "%sout_proj.", name);
	*o = sm_tfm_dense(model, d, d, false, sub);
}

static sm_status
build_encoder(const sm_model *model, const ts_config *c, sm_tfm_s2s *m, sm_error *err)
{
	sm_tfm_dims dims = {.d = c->d, .heads = c->heads, .layers = c->enc_layers, .ffn = c->ffn,
	.eps = c->eps, .act = c->act};
	char		name[SM_MAX_NAME];
	sm_tfm	   *e;
	sm_status	rc;

	if ((rc = sm_tfm_alloc(&dims, &m->enc, err)) != SM_OK)
		return rc;
	e = m->enc;
	e->vocab = (int) c->Vs;
	e->wte = sm_model_weight(model, "%sweight", c->sep);
	e->emb_scale = m->emb_scale;
	e->max_len = m->max_target;
	e->pos = m->pos;
	e->norm_first = c->norm_first;
	e->bos_id = e->eos_id = -1;
	e->default_out = SM_TFM_OUT_HIDDEN;
	for (int i = 0; i < e->n_layers; i++)
	{
		sm_tfm_layer *L = &e->layers[i];

#define SUB(fmt) (snprintf(name, sizeof(name), "%sencoder.layers.%d." fmt, c->tp, i), name)
		attention(model, e->d, SUB("self_attn."), &L->qkv, &L->o);
		L->ff1 = sm_tfm_dense(model, e->ffn, e->d, false, SUB("linear1."));
		L->ff2 = sm_tfm_dense(model, e->d, e->ffn, false, SUB("linear2."));
		L->ln1_g = sm_model_weight(model, "%sweight", SUB("norm1."));
		L->ln1_b = sm_model_weight(model, "%sbias", SUB("norm1."));
		L->ln2_g = sm_model_weight(model, "%sweight", SUB("norm2."));
		L->ln2_b = sm_model_weight(model, "%sbias", SUB("norm2."));
#undef SUB
	}
	e->final_ln_g = sm_model_weight(model, "%sencoder.norm.weight", c->tp);
	e->final_ln_b = sm_model_weight(model, "%sencoder.norm.bias", c->tp);
	return SM_OK;
}

static sm_status
ts_build(sm_model *model, sm_error *err)
{
	ts_config	c;
	sm_tfm_s2s *m;
	char		name[SM_MAX_NAME];
	const float *table;
	sm_status	rc;

	if ((rc = read_config(&model->cfg, &c, err)) != SM_OK)
		return rc;
	if ((m = sm_alloc0(sizeof(sm_tfm_s2s))) == NULL)
		return sm_fail(err, SM_ERR_NOMEM, "out of memory");
	model->impl = m;
	m->d = (int) c.d;
	m->heads = (int) c.heads;
	m->dh = (int) (c.d / c.heads);
	m->n_layers = (int) c.dec_layers;
	m->ffn = (int) c.ffn;
	m->V = (int) c.V;
	m->eps = (float) c.eps;
	m->act = c.act;
	m->norm_first = c.norm_first;
	m->emb_scale = c.scale ? sqrtf((float) c.d) : 1.0f;
	m->max_target = (int) c.max_len;
	m->start_id = (int32_t) c.start;
	m->eos_id = (int32_t) c.eos;
	m->pad_id = (int32_t) c.pad;
	m->max_new_default = (int) c.max_new;
	m->forced_bos = m->forced_eos = -1;
	if ((m->layers = sm_alloc0(sizeof(sm_tfm_dec_layer) * (size_t) m->n_layers)) == NULL)
		return sm_fail(err, SM_ERR_NOMEM, "out of memory");

	/* the positional table: the tutorial's buffer as stored ([max_len, 1, d] is [max_len, d]), or computed */
	if ((table = sm_model_weight(model, "%spos_embedding", c.pp)) != NULL)
		m->pos = table;
	else
	{
		sm_tfm		scratch = {.d = m->d, .max_len = m->max_target};

		if ((rc = sm_tfm_sinusoidal(&scratch, err)) != SM_OK)
			return rc;
		m->pos = m->pos_owned = scratch.pos_owned;
	}
	if ((rc = build_encoder(model, &c, m, err)) != SM_OK)
		return rc;

	m->emb = sm_model_weight(model, "%sweight", c.tep);
	for (int i = 0; i < m->n_layers; i++)
	{
		sm_tfm_dec_layer *L = &m->layers[i];
		sm_dense	cross;

#define SUB(fmt) (snprintf(name, sizeof(name), "%sdecoder.layers.%d." fmt, c.tp, i), name)
		attention(model, m->d, SUB("self_attn."), &L->sa_qkv, &L->sa_o);
		attention(model, m->d, SUB("multihead_attn."), &cross, &L->ca_o);
		/* the cross in_proj's rows: q [0, d) reads the decoder, k [d, 2d) and v [2d, 3d) the memory */
		for (int j = 0; j < 3; j++)
		{
			sm_dense   *p = j == 0 ? &L->ca_q : j == 1 ? &L->ca_k : &L->ca_v;

			*p = (sm_dense) {.w = cross.w + (size_t) j * m->d * m->d, .b = cross.b + j * m->d, .in = m->d, .out = m->d};
		}
		L->ff1 = sm_tfm_dense(model, m->ffn, m->d, false, SUB("linear1."));
		L->ff2 = sm_tfm_dense(model, m->d, m->ffn, false, SUB("linear2."));
		L->ln1_g = sm_model_weight(model, "%sweight", SUB("norm1."));
		L->ln1_b = sm_model_weight(model, "%sbias", SUB("norm1."));
		L->ln2_g = sm_model_weight(model, "%sweight", SUB("norm2."));
		L->ln2_b = sm_model_weight(model, "%sbias", SUB("norm2."));
		L->ln3_g = sm_model_weight(model, "%sweight", SUB("norm3."));
		L->ln3_b = sm_model_weight(model, "%sbias", SUB("norm3."));
#undef SUB
	}
	m->final_ln_g = sm_model_weight(model, "%sdecoder.norm.weight", c.tp);
	m->final_ln_b = sm_model_weight(model, "%sdecoder.norm.bias", c.tp);
	m->lm = (sm_dense) {.w = c.tie_gen ? m->emb : sm_model_weight(model, "%sweight", c.gp),
	.in = m->d, .out = m->V};
	m->lm_bias = sm_model_weight(model, "%sbias", c.gp);
	return sm_tfm_s2s_pack(m, err);
}

const sm_arch sm_arch_transformer_seq2seq = {
	.name = "transformer_seq2seq", .family = SM_FAMILY_TFM_SEQ2SEQ, .spec = ts_spec,
	.build = ts_build, .release = sm_tfm_s2s_release
};
