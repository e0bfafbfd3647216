/*
 * sm_seq2seq.c -- arch "rnn_seq2seq" (see sm_seq2seq.h for the contract).
 *
 * How it runs.  start() embeds the B sources, sorts them by length
 * (longest first) and runs the encoder over them time-major: at step t the
 * sources still running are a prefix of the rows, so every recurrent
 * product covers exactly those rows and padding never enters a state (as
 * sm_rnn.c does, but left-aligned, so that each direction's final state is
 * the state after the source's own last step).  Each layer's input
 * projection is one product over all steps.  The keys (directions summed)
 * and, for additive / general attention, their projection Ua k (Wa k) are
 * kept per source for the whole decode.  The decoder then holds N = B x
 * beams rows: each step is one product per layer over all rows (input and
 * recurrent), the attention per run of rows sharing a source (its beams:
 * one product for the scores, one for the contexts), and one product for
 * the output layer.  Everything lives in one arena per decode.
 */
#include "sm_seq2seq.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sm_arena.h"
#include "sm_encdec.h"

/* ---------------------------------------------------------------- config */

static const char *const s2s_keys[] = {
	"source_vocab_size", "target_vocab_size", "hidden_size", "embedding_size", "cell",
	"num_layers", "bidirectional", "attention", "decoder_relu", "sos_token_id",
	"eos_token_id", "pad_token_id", "max_length", "encoder_prefix", "decoder_prefix",
	"rnn_prefix", "dropout", "dropout_p", "batch_first", NULL
};

typedef struct s2s_config
{
	const char *ep,
			   *dp,
			   *rp;
} s2s_config;

static sm_status
read_config(const sm_config *cfg, sm_s2s *m, s2s_config *c, sm_error *err)
{
	int64_t		Vs,
				V,
				H,
				E,
				L,
				sos,
				eos,
				pad,
				maxlen;
	bool		bidir,
				relu;
	const char *cell,
			   *attn;
	double		dropout;
	sm_status	rc;

	if ((rc = sm_config_check_keys(cfg, s2s_keys, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "source_vocab_size", true, 0, 1, INT32_MAX, &Vs, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "target_vocab_size", true, 0, 1, INT32_MAX, &V, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "hidden_size", true, 0, 1, 1 << 16, &H, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "embedding_size", false, H, 1, 1 << 16, &E, err)) != SM_OK ||
		(rc = sm_config_string(cfg, "cell", "gru", &cell, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "num_layers", false, 1, 1, 1024, &L, err)) != SM_OK ||
		(rc = sm_config_bool(cfg, "bidirectional", false, &bidir, err)) != SM_OK ||
		(rc = sm_config_string(cfg, "attention", "additive", &attn, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "max_length", false, 10, 1, SM_MAX_NEW_TOKENS, &maxlen, err)) != SM_OK ||
		(rc = sm_config_string(cfg, "encoder_prefix", "encoder.", &c->ep, err)) != SM_OK ||
		(rc = sm_config_string(cfg, "decoder_prefix", "decoder.", &c->dp, err)) != SM_OK ||
		(rc = sm_config_number(cfg, "dropout", 0, &dropout, err)) != SM_OK ||
		(rc = sm_config_number(cfg, "dropout_p", 0, &dropout, err)) != SM_OK ||
		(rc = sm_config_bool(cfg, "batch_first", true, &relu, err)) != SM_OK)
		return rc;
	if (strcmp(cell, "gru") != 0 && strcmp(cell, "lstm") != 0)
		return sm_fail(err, SM_ERR_INVALID, "config key \"cell\" must be \"gru\" or \"lstm\", not \"%s\"", cell);
	if (strcmp(attn, "none") == 0)
		m->attn = SM_S2S_ATTN_NONE;
	else if (strcmp(attn, "additive") == 0)
		m->attn = SM_S2S_ATTN_ADDITIVE;
	else if (strcmp(attn, "dot") == 0)
		m->attn = SM_S2S_ATTN_DOT;
	else if (strcmp(attn, "general") == 0)
		m->attn = SM_S2S_ATTN_GENERAL;
	else
	{
		sm_fail(err, SM_ERR_INVALID, "config key \"attention\" must be \"none\", \"additive\", \"dot\" or \"general\", not \"%s\"", attn);
		sm_detail(err, "\"additive\" is Bahdanau's attention (the tutorial's AttnDecoderRNN); \"dot\" and \"general\" are Luong's.");
		return err->code;
	}
	if ((rc = sm_config_string(cfg, "rnn_prefix", strcmp(cell, "gru") == 0 ? "gru." : "lstm.", &c->rp, err)) != SM_OK ||
		(rc = sm_config_bool(cfg, "decoder_relu", m->attn == SM_S2S_ATTN_NONE, &relu, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "sos_token_id", false, 0, 0, V - 1, &sos, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "eos_token_id", false, 1 < V ? 1 : 0, 0, V - 1, &eos, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "pad_token_id", false, -1, 0, V - 1, &pad, err)) != SM_OK)
		return rc;
	m->lstm = strcmp(cell, "lstm") == 0;
	m->G = m->lstm ? 4 : 3;
	m->Vs = (int) Vs;
	m->V = (int) V;
	m->H = (int) H;
	m->E = (int) E;
	m->L = (int) L;
	m->D = bidir ? 2 : 1;
	m->dec_relu = relu;
	m->sos = (int32_t) sos;
	m->eos = (int32_t) eos;
	m->pad = (int32_t) pad;
	m->max_length = (int) maxlen;
	return SM_OK;
}

/* input width of decoder layer k */
static int
dec_in(const sm_s2s *m, int k)
{
	return k > 0 ? m->H : m->attn == SM_S2S_ATTN_ADDITIVE ? m->E + m->H : m->E;
}

static sm_status
add_rnn(sm_spec *spec, sm_error *err, const sm_s2s *m, const char *P, const char *R, int k,
		const char *sfx, int64_t in)
{
	int64_t		wih[2] = {(int64_t) m->G * m->H, in};
	int64_t		whh[2] = {(int64_t) m->G * m->H, m->H};
	int64_t		b[1] = {(int64_t) m->G * m->H};
	sm_status	rc;

	if ((rc = sm_spec_add(spec, err, 2, wih, "%s%sweight_ih_l%d%s", P, R, k, sfx)) != SM_OK ||
		(rc = sm_spec_add(spec, err, 2, whh, "%s%sweight_hh_l%d%s", P, R, k, sfx)) != SM_OK ||
		(rc = sm_spec_add(spec, err, 1, b, "%s%sbias_ih_l%d%s", P, R, k, sfx)) != SM_OK ||
		(rc = sm_spec_add(spec, err, 1, b, "%s%sbias_hh_l%d%s", P, R, k, sfx)) != SM_OK)
		return rc;
	return SM_OK;
}

static sm_status
s2s_spec(const sm_config *cfg, sm_spec *spec, sm_error *err)
{
	sm_s2s		m = {0};
	s2s_config	c;
	sm_status	rc = read_config(cfg, &m, &c, err);
	int64_t		H = m.H;
	int64_t		hh[2] = {H, H},
				h1[1] = {H},
				va[2] = {1, H},
				v1[1] = {1},
				wc[2] = {H, 2 * H},
				out[2] = {m.V, H},
				ob[1] = {m.V},
				ee[2] = {m.Vs, m.E},
				de[2] = {m.V, m.E};

	if (rc != SM_OK)
		return rc;
	if ((rc = sm_spec_add(spec, err, 2, ee, "%sembedding.weight", c.ep)) != SM_OK)
		return rc;
	for (int k = 0; k < m.L; k++)
		for (int d = 0; d < m.D; d++)
			if ((rc = add_rnn(spec, err, &m, c.ep, c.rp, k, d ? "_reverse" : "",
							  k ? (int64_t) m.D * H : m.E)) != SM_OK)
				return rc;
	if ((rc = sm_spec_add(spec, err, 2, de, "%sembedding.weight", c.dp)) != SM_OK)
		return rc;
	for (int k = 0; k < m.L; k++)
		if ((rc = add_rnn(spec, err, &m, c.dp, c.rp, k, "", dec_in(&m, k))) != SM_OK)
			return rc;
	if (m.attn == SM_S2S_ATTN_ADDITIVE || m.attn == SM_S2S_ATTN_GENERAL)
	{
		if ((rc = sm_spec_add(spec, err, 2, hh, "%sattention.Wa.weight", c.dp)) != SM_OK ||
			(rc = sm_spec_add(spec, err, 1, h1, "%sattention.Wa.bias", c.dp)) != SM_OK)
			return rc;
	}
	if (m.attn == SM_S2S_ATTN_ADDITIVE &&
		((rc = sm_spec_add(spec, err, 2, hh, "%sattention.Ua.weight", c.dp)) != SM_OK ||
		 (rc = sm_spec_add(spec, err, 1, h1, "%sattention.Ua.bias", c.dp)) != SM_OK ||
		 (rc = sm_spec_add(spec, err, 2, va, "%sattention.Va.weight", c.dp)) != SM_OK ||
		 (rc = sm_spec_add(spec, err, 1, v1, "%sattention.Va.bias", c.dp)) != SM_OK))
		return rc;
	if ((m.attn == SM_S2S_ATTN_DOT || m.attn == SM_S2S_ATTN_GENERAL) &&
		((rc = sm_spec_add(spec, err, 2, wc, "%sconcat.weight", c.dp)) != SM_OK ||
		 (rc = sm_spec_add(spec, err, 1, h1, "%sconcat.bias", c.dp)) != SM_OK))
		return rc;
	if ((rc = sm_spec_add(spec, err, 2, out, "%sout.weight", c.dp)) != SM_OK ||
		(rc = sm_spec_add(spec, err, 1, ob, "%sout.bias", c.dp)) != SM_OK)
		return rc;
	return SM_OK;
}

/* the stored tensor of that name (the spec guarantees it) */

static void
s2s_release(sm_model *model)
{
	sm_s2s	   *m = model->impl;

	if (m == NULL)
		return;
	for (int i = 0; m->enc && i < m->L * m->D; i++)
	{
		sm_free(m->enc[i].b_sum);
		sm_packed_free(&m->enc[i].p_ih);
		sm_packed_free(&m->enc[i].p_hh);
	}
	for (int i = 0; m->dec && i < m->L; i++)
	{
		sm_free(m->dec[i].b_sum);
		sm_packed_free(&m->dec[i].p_ih);
		sm_packed_free(&m->dec[i].p_hh);
	}
	sm_free(m->enc);
	sm_free(m->dec);
	sm_packed_free(&m->p_wa);
	sm_packed_free(&m->p_ua);
	sm_packed_free(&m->p_va);
	sm_packed_free(&m->p_wc);
	sm_packed_free(&m->p_out);
	sm_free(m);
	model->impl = NULL;
}

static sm_status
build_rnn(const sm_model *model, const sm_s2s *m, const char *P, const char *R, int k,
		  const char *sfx, int in, sm_s2s_rnn *r, sm_error *err)
{
	const int	GH = m->G * m->H;
	const float *w_ih = sm_model_weight(model, "%s%sweight_ih_l%d%s", P, R, k, sfx);
	const float *w_hh = sm_model_weight(model, "%s%sweight_hh_l%d%s", P, R, k, sfx);
	sm_status	rc;

	r->b_ih = sm_model_weight(model, "%s%sbias_ih_l%d%s", P, R, k, sfx);
	r->b_hh = sm_model_weight(model, "%s%sbias_hh_l%d%s", P, R, k, sfx);
	if ((r->b_sum = sm_alloc_array((size_t) GH, sizeof(float))) == NULL)
		return sm_fail(err, SM_ERR_NOMEM, "out of memory");
	for (int j = 0; j < GH; j++)
		r->b_sum[j] = r->b_ih[j] + r->b_hh[j];
	if ((rc = sm_packed_init(&r->p_ih, w_ih, GH, in, false, err)) != SM_OK ||
		(rc = sm_packed_init(&r->p_hh, w_hh, GH, m->H, false, err)) != SM_OK)
		return rc;
	return SM_OK;
}

static sm_status
s2s_build(sm_model *model, sm_error *err)
{
	sm_s2s	   *m = sm_alloc0(sizeof(sm_s2s));
	s2s_config	c;
	const char *dp;
	sm_status	rc;

	if (m == NULL)
		return sm_fail(err, SM_ERR_NOMEM, "out of memory");
	model->impl = m;
	if ((rc = read_config(&model->cfg, m, &c, err)) != SM_OK)
		return rc;
	dp = c.dp;
	m->enc = sm_alloc0(sizeof(sm_s2s_rnn) * (size_t) (m->L * m->D));
	m->dec = sm_alloc0(sizeof(sm_s2s_rnn) * (size_t) m->L);
	if (m->enc == NULL || m->dec == NULL)
		return sm_fail(err, SM_ERR_NOMEM, "out of memory");
	m->enc_emb = sm_model_weight(model, "%sembedding.weight", c.ep);
	m->dec_emb = sm_model_weight(model, "%sembedding.weight", dp);
	for (int k = 0; k < m->L; k++)
	{
		for (int d = 0; d < m->D; d++)
			if ((rc = build_rnn(model, m, c.ep, c.rp, k, d ? "_reverse" : "", k ? m->D * m->H : m->E,
								&m->enc[k * m->D + d], err)) != SM_OK)
				return rc;
		if ((rc = build_rnn(model, m, dp, c.rp, k, "", dec_in(m, k), &m->dec[k], err)) != SM_OK)
			return rc;
	}
	if (m->attn == SM_S2S_ATTN_ADDITIVE || m->attn == SM_S2S_ATTN_GENERAL)
	{
		m->wa_b = sm_model_weight(model, "%sattention.Wa.bias", dp);
		if ((rc = sm_packed_init(&m->p_wa, sm_model_weight(model, "%sattention.Wa.weight", dp),
								 m->H, m->H, false, err)) != SM_OK)
			return rc;
	}
	if (m->attn == SM_S2S_ATTN_ADDITIVE)
	{
		m->ua_b = sm_model_weight(model, "%sattention.Ua.bias", dp);
		m->va_b = sm_model_weight(model, "%sattention.Va.bias", dp);
		if ((rc = sm_packed_init(&m->p_ua, sm_model_weight(model, "%sattention.Ua.weight", dp),
								 m->H, m->H, false, err)) != SM_OK ||
			(rc = sm_packed_init(&m->p_va, sm_model_weight(model, "%sattention.Va.weight", dp),
								 1, m->H, false, err)) != SM_OK)
			return rc;
	}
	if (m->attn == SM_S2S_ATTN_DOT || m->attn == SM_S2S_ATTN_GENERAL)
	{
		m->wc_b = sm_model_weight(model, "%sconcat.bias", dp);
		if ((rc = sm_packed_init(&m->p_wc, sm_model_weight(model, "%sconcat.weight", dp),
								 m->H, 2 * m->H, false, err)) != SM_OK)
			return rc;
	}
	m->out_b = sm_model_weight(model, "%sout.bias", dp);
	return sm_packed_init(&m->p_out, sm_model_weight(model, "%sout.weight", dp), m->V, m->H,
						  false, err);
}

const sm_arch sm_arch_rnn_seq2seq = {
	.name = "rnn_seq2seq", .family = SM_FAMILY_SEQ2SEQ, .spec = s2s_spec, .build = s2s_build,
	.release = s2s_release
};

const sm_s2s *
sm_s2s_of(const sm_model *model)
{
	return model->arch->family == SM_FAMILY_SEQ2SEQ ? model->impl : NULL;
}

/* ---------------------------------------------------------------- inputs */

sm_status
sm_s2s_check_source(const sm_s2s *m, const int32_t *const *src, const int *len, int B, sm_error *err)
{
	return sm_encdec_check_ids(src, len, B, m->Vs, INT32_MAX, "source", "source_vocab_size", err);
}

sm_status
sm_s2s_check_target(const sm_s2s *m, const int32_t *const *tgt, const int *len, int B, sm_error *err)
{
	return sm_encdec_check_ids(tgt, len, B, m->V, INT32_MAX, "target", "target_vocab_size", err);
}

/* ---------------------------------------------------------------- the decoding state */

typedef struct s2s_state
{
	const sm_s2s *m;
	sm_arena	arena;
	int			B,
				S,				/* longest source */
				cap,			/* rows at most: B x beams */
				rows;			/* rows now */
	int		   *len;			/* [B] source lengths */
	float	   *keys;			/* [B, S, H] encoder outputs, directions summed */
	float	   *kproj;			/* [B, S, H] Ua k + b (additive), Wa k + b (general), or NULL */
	int		   *src,
			   *src2;			/* [cap] each row's source (ping-pong for reorder) */
	float	   *h,
			   *h2;				/* [L, cap, H] */
	float	   *c,
			   *c2;				/* [L, cap, H] (lstm) */
	/* step buffers */
	float	   *x;				/* [cap, E + H] decoder input */
	float	   *g,
			   *gh;				/* [cap, G*H] */
	float	   *q;				/* [cap, H] attention query (additive) / context */
	float	   *ctx;			/* [cap, 2H]: [s; c] (dot, general), c (additive) */
	float	   *hc;				/* [cap, H] attentional state (dot, general) */
	float	   *sc;				/* [cap, S] attention scores */
	float	   *tmp;			/* [S, H] additive energies */
	float	   *scratch;		/* sm_op_gemm's */
	/* encoder buffers */
	int		   *order;			/* [B] sources by length, longest first */
	int		   *active;			/* [S] sources running at step t */
	float	   *ex;				/* [S, B, max(E, D*H)] layer input */
	float	   *ey;				/* [S, B, D*H] layer output */
	float	   *eg;				/* [S, B, G*H] input projections */
	float	   *egh;			/* [B, G*H] */
	float	   *eh,
			   *ec;				/* [B, H] a direction's running state */
} s2s_state;

static void
carve(s2s_state *st, const sm_s2s *m, int B, int S, int cap)
{
	sm_arena   *a = &st->arena;
	const size_t H = (size_t) m->H,
				GH = (size_t) m->G * m->H,
				DH = (size_t) m->D * m->H,
				L = (size_t) m->L,
				X = (size_t) m->E > DH ? (size_t) m->E : DH;
	size_t		scr = sm_op_gemm_scratch(S, m->H);

	if (sm_op_gemm_scratch(m->H, S) > scr)
		scr = sm_op_gemm_scratch(m->H, S);
	st->len = sm_arena_take(a, (size_t) B, sizeof(int));
	st->keys = sm_arena_take(a, (size_t) B * S, sizeof(float) * H);
	st->kproj = m->attn == SM_S2S_ATTN_ADDITIVE || m->attn == SM_S2S_ATTN_GENERAL ?
		sm_arena_take(a, (size_t) B * S, sizeof(float) * H) : NULL;
	st->src = sm_arena_take(a, (size_t) cap, sizeof(int));
	st->src2 = sm_arena_take(a, (size_t) cap, sizeof(int));
	st->h = sm_arena_take(a, L * cap, sizeof(float) * H);
	st->h2 = sm_arena_take(a, L * cap, sizeof(float) * H);
	st->c = m->lstm ? sm_arena_take(a, L * cap, sizeof(float) * H) : NULL;
	st->c2 = m->lstm ? sm_arena_take(a, L * cap, sizeof(float) * H) : NULL;
	st->x = sm_arena_take(a, (size_t) cap, sizeof(float) * ((size_t) m->E + H));
	st->g = sm_arena_take(a, (size_t) cap, sizeof(float) * GH);
	st->gh = sm_arena_take(a, (size_t) cap, sizeof(float) * GH);
	st->q = sm_arena_take(a, (size_t) cap, sizeof(float) * H);
	st->ctx = sm_arena_take(a, (size_t) cap, sizeof(float) * 2 * H);
	st->hc = sm_arena_take(a, (size_t) cap, sizeof(float) * H);
	st->sc = sm_arena_take(a, (size_t) cap * S, sizeof(float));
	st->tmp = sm_arena_take(a, (size_t) S, sizeof(float) * H);
	st->scratch = sm_arena_take(a, scr, sizeof(float));
	st->order = sm_arena_take(a, (size_t) B, sizeof(int));
	st->active = sm_arena_take(a, (size_t) S, sizeof(int));
	st->ex = sm_arena_take(a, (size_t) S * B, sizeof(float) * X);
	st->ey = sm_arena_take(a, (size_t) S * B, sizeof(float) * DH);
	st->eg = sm_arena_take(a, (size_t) S * B, sizeof(float) * GH);
	st->egh = sm_arena_take(a, (size_t) B, sizeof(float) * GH);
	st->eh = sm_arena_take(a, (size_t) B, sizeof(float) * H);
	st->ec = sm_arena_take(a, (size_t) B, sizeof(float) * H);
}

static void
s2s_end(void *state)
{
	s2s_state  *st = state;

	if (st == NULL)
		return;
	sm_arena_free(&st->arena);
	sm_free(st);
}

/* y[n, W->N] (+)= x[n, W->K] W^T */
static inline void
matmul_t(int n, const sm_packed *W, const float *x, int ldx, float beta, float *y, int ldy)
{
	if (n > 0)
		sm_op_matmul(W, x, ldx, n, beta, y, ldy);
}

/*
 * One direction of one encoder layer over the sorted sources.
 *   in: [S, B, in_w] (row r = source order[r]), out: [S, B, D*H] columns d*H..
 *   eh, ec: [B, H] the final states (each source's after its own last step)
 */
static sm_status
encode_direction(const sm_s2s *m, s2s_state *st, const sm_s2s_rnn *w, int d, const float *in,
				 int in_w, sm_error *err)
{
	/* in: [S, B, in_w] -> out: [S, B, D*H]; eh, ec: [B, H] */
	const int	B = st->B,
				S = st->S,
				H = m->H,
				GH = m->G * m->H,
				DH = m->D * m->H;

	matmul_t(S * B, &w->p_ih, in, in_w, 0.0f, st->eg, GH);
	memset(st->eh, 0, sizeof(float) * (size_t) B * H);
	if (m->lstm)
		memset(st->ec, 0, sizeof(float) * (size_t) B * H);
	for (int k = 0; k < S; k++)
	{
		int			t = d ? S - 1 - k : k;
		int			n = st->active[t];
		float	   *g = st->eg + (size_t) t * B * GH;
		float	   *y = st->ey + (size_t) t * B * DH + (size_t) d * H;

		if (sm_should_abort())
			return sm_fail(err, SM_ERR_ABORTED, "canceled");
		if (m->lstm)
		{
			matmul_t(n, &w->p_hh, st->eh, H, 1.0f, g, GH);
			for (int r = 0; r < n; r++)
				sm_op_lstm_cell(g + (size_t) r * GH, w->b_sum, st->ec + (size_t) r * H,
								st->eh + (size_t) r * H, H);
		}
		else
		{
			matmul_t(n, &w->p_hh, st->eh, H, 0.0f, st->egh, GH);
			for (int r = 0; r < n; r++)
				sm_op_gru_cell(g + (size_t) r * GH, w->b_ih, st->egh + (size_t) r * GH, w->b_hh,
							   st->eh + (size_t) r * H, H);
		}
		for (int r = 0; r < n; r++)
			memcpy(y + (size_t) r * DH, st->eh + (size_t) r * H, sizeof(float) * H);
	}
	return SM_OK;
}

typedef struct len_item
{
	int			index,
				len;
} len_item;

static int
cmp_len_desc(const void *a, const void *b)
{
	const len_item *x = a,
			   *y = b;

	if (x->len != y->len)
		return x->len > y->len ? -1 : 1;
	return x->index - y->index;
}

/*
 * The encoder over st's sources: keys, kproj, and the initial states of
 * rows 0..B-1 (h, c [L, cap, H], row b = source b).
 */
static sm_status
run_encoder(const sm_s2s *m, s2s_state *st, const int32_t *const *src, sm_error *err)
{
	const int	B = st->B,
				S = st->S,
				H = m->H,
				E = m->E,
				DH = m->D * m->H;
	len_item   *o = sm_alloc_array((size_t) B, sizeof(len_item));
	const float *in = st->ex;
	int			in_w = E;
	sm_status	rc = SM_OK;

	if (o == NULL)
		return sm_fail(err, SM_ERR_NOMEM, "out of memory");
	for (int b = 0; b < B; b++)
	{
		o[b].index = b;
		o[b].len = st->len[b];
	}
	qsort(o, (size_t) B, sizeof(len_item), cmp_len_desc);
	for (int r = 0; r < B; r++)
		st->order[r] = o[r].index;
	for (int t = 0, n = B; t < S; t++)
	{
		while (n > 0 && o[n - 1].len <= t)
			n--;
		st->active[t] = n;
	}
	sm_free(o);

	/* x: [S, B, E] embeddings, time-major in sorted order, zeros past the end */
	memset(st->ex, 0, sizeof(float) * (size_t) S * B * E);
	memset(st->ey, 0, sizeof(float) * (size_t) S * B * DH);
	for (int r = 0; r < B; r++)
	{
		int			b = st->order[r];

		for (int t = 0; t < st->len[b]; t++)
			memcpy(st->ex + ((size_t) t * B + r) * E, m->enc_emb + (size_t) src[b][t] * E,
				   sizeof(float) * E);
	}
	for (int k = 0; k < m->L; k++)
	{
		for (int d = 0; d < m->D; d++)
		{
			if ((rc = encode_direction(m, st, &m->enc[k * m->D + d], d, in, in_w, err)) != SM_OK)
				return rc;
			/* the final states of source order[r]: summed over directions into row order[r] */
			for (int r = 0; r < B; r++)
			{
				size_t		to = ((size_t) k * st->cap + st->order[r]) * H;

				for (int j = 0; j < H; j++)
				{
					st->h[to + j] = (d ? st->h[to + j] : 0.0f) + st->eh[(size_t) r * H + j];
					if (m->lstm)
						st->c[to + j] = (d ? st->c[to + j] : 0.0f) + st->ec[(size_t) r * H + j];
				}
			}
		}
		if (k + 1 < m->L)
		{
			/* the next layer reads this one's output */
			memcpy(st->ex, st->ey, sizeof(float) * (size_t) S * B * DH);
			in = st->ex;
			in_w = DH;
		}
	}
	/* keys [B, S, H]: the top layer's output, directions summed, zeros past the end */
	memset(st->keys, 0, sizeof(float) * (size_t) B * S * H);
	for (int r = 0; r < B; r++)
	{
		int			b = st->order[r];

		for (int t = 0; t < st->len[b]; t++)
		{
			const float *y = st->ey + ((size_t) t * B + r) * DH;
			float	   *kt = st->keys + ((size_t) b * S + t) * H;

			for (int j = 0; j < H; j++)
				kt[j] = m->D == 2 ? y[j] + y[H + j] : y[j];
		}
	}
	/* the keys' projection, once per source */
	if (st->kproj)
	{
		const sm_packed *P = m->attn == SM_S2S_ATTN_ADDITIVE ? &m->p_ua : &m->p_wa;
		const float *pb = m->attn == SM_S2S_ATTN_ADDITIVE ? m->ua_b : m->wa_b;

		for (size_t i = 0; i < (size_t) B * S; i++)
			memcpy(st->kproj + i * H, pb, sizeof(float) * H);
		matmul_t(B * S, P, st->keys, H, 1.0f, st->kproj, H);
	}
	return SM_OK;
}

static sm_status
s2s_start(const void *model, const int32_t *const *src, const int *len, int B, int beams,
		  int steps, void **state, sm_error *err)
{
	const sm_s2s *m = model;
	s2s_state  *st;
	int			S = 0;
	sm_status	rc;

	(void) steps;				/* the recurrent state keeps nothing per step */
	*state = NULL;
	for (int b = 0; b < B; b++)
		S = len[b] > S ? len[b] : S;
	if (B < 1 || beams < 1 || S < 1)
		return sm_fail(err, SM_ERR_INTERNAL, "decoder started without rows");
	if ((uint64_t) B * beams > INT32_MAX / 4)
		return sm_fail(err, SM_ERR_LIMIT, "too many decoder rows: %d sources x %d beams", B, beams);
	if ((st = sm_alloc0(sizeof(s2s_state))) == NULL)
		return sm_fail(err, SM_ERR_NOMEM, "out of memory");
	st->m = m;
	st->B = B;
	st->S = S;
	st->cap = B * beams;
	carve(st, m, B, S, st->cap);
	if ((rc = sm_arena_alloc(&st->arena, "an encoder-decoder", err)) != SM_OK)
	{
		sm_free(st);
		return rc;
	}
	carve(st, m, B, S, st->cap);
	memcpy(st->len, len, sizeof(int) * B);
	if ((rc = run_encoder(m, st, src, err)) != SM_OK)
	{
		s2s_end(st);
		return rc;
	}
	/* rows b * beams + k = source b: spread rows 0..B-1 from the end so no source is overwritten */
	for (int k = 0; k < m->L; k++)
		for (int b = B - 1; b >= 0; b--)
			for (int j = beams - 1; j >= 0; j--)
			{
				size_t		from = ((size_t) k * st->cap + b) * m->H;
				size_t		to = ((size_t) k * st->cap + (size_t) b * beams + j) * m->H;

				memmove(st->h + to, st->h + from, sizeof(float) * m->H);
				if (m->lstm)
					memmove(st->c + to, st->c + from, sizeof(float) * m->H);
			}
	for (int i = 0; i < st->cap; i++)
		st->src[i] = i / beams;
	st->rows = st->cap;
	*state = st;
	return SM_OK;
}

static void
s2s_reorder(void *state, const int *from, int rows)
{
	s2s_state  *st = state;
	const sm_s2s *m = st->m;
	const size_t H = (size_t) m->H;
	void	   *t;

	for (int k = 0; k < m->L; k++)
		for (int i = 0; i < rows; i++)
		{
			size_t		to = ((size_t) k * st->cap + i) * H;
			size_t		fr = ((size_t) k * st->cap + from[i]) * H;

			memcpy(st->h2 + to, st->h + fr, sizeof(float) * H);
			if (m->lstm)
				memcpy(st->c2 + to, st->c + fr, sizeof(float) * H);
		}
	for (int i = 0; i < rows; i++)
		st->src2[i] = st->src[from[i]];
	t = st->h, st->h = st->h2, st->h2 = t;
	t = st->c, st->c = st->c2, st->c2 = t;
	t = st->src, st->src = st->src2, st->src2 = t;
	st->rows = rows;
}

/*
 * Luong attention over the runs of rows sharing a source.
 *   s: [N, H] the new top states -> ctx: [N, 2H] = [s; c]
 */
static void
attend_luong(const sm_s2s *m, s2s_state *st, const float *s)
{
	/* s: [N, H], keys: [B, S, H] -> ctx: [N, 2H] */
	const int	H = m->H,
				S = st->S,
				N = st->rows;
	const float *kk = m->attn == SM_S2S_ATTN_GENERAL ? st->kproj : st->keys;

	for (int r0 = 0, r1; r0 < N; r0 = r1)
	{
		int			b = st->src[r0],
					ls = st->len[b],
					g;

		for (r1 = r0 + 1; r1 < N && st->src[r1] == b; r1++)
			;
		g = r1 - r0;
		/* sc[g, ls] = s[g, H] K[ls, H]^T */
		sm_op_gemm(true, g, ls, H, 1.0f, s + (size_t) r0 * H, H, kk + (size_t) b * S * H, H,
				   0.0f, st->sc, ls, st->scratch);
		for (int r = 0; r < g; r++)
			sm_op_softmax(st->sc + (size_t) r * ls, ls);
		/* c[g, H] = a[g, ls] keys[ls, H] */
		sm_op_gemm(false, g, H, ls, 1.0f, st->sc, ls, st->keys + (size_t) b * S * H, H, 0.0f,
				   st->ctx + (size_t) r0 * 2 * H + H, 2 * H, st->scratch);
		for (int r = r0; r < r1; r++)
			memcpy(st->ctx + (size_t) r * 2 * H, s + (size_t) r * H, sizeof(float) * H);
	}
}

/*
 * Bahdanau attention with the states before the step.
 *   q: [N, H] top-layer h -> x[:, E:E+H] the contexts
 */
static void
attend_additive(const sm_s2s *m, s2s_state *st, const float *htop)
{
	/* htop: [N, H], kproj: [B, S, H] -> x[r][E..E+H) */
	const int	H = m->H,
				S = st->S,
				N = st->rows,
				XW = m->E + m->H;

	for (int r = 0; r < N; r++)
		memcpy(st->q + (size_t) r * H, m->wa_b, sizeof(float) * H);
	matmul_t(N, &m->p_wa, htop, H, 1.0f, st->q, H);
	for (int r = 0; r < N; r++)
	{
		int			b = st->src[r],
					ls = st->len[b];
		float	   *sc = st->sc + (size_t) r * S;

		/* tmp[ls, H] = tanh(Ua k + Wa s_prev); e = tmp Va^T + b */
		memcpy(st->tmp, st->kproj + (size_t) b * S * H, sizeof(float) * (size_t) ls * H);
		sm_op_bias_act(st->tmp, st->q + (size_t) r * H, (size_t) ls, H, SM_ACT_TANH);
		matmul_t(ls, &m->p_va, st->tmp, H, 0.0f, sc, 1);
		for (int j = 0; j < ls; j++)
			sc[j] += m->va_b[0];
		sm_op_softmax(sc, ls);
		sm_op_gemm(false, 1, H, ls, 1.0f, sc, ls, st->keys + (size_t) b * S * H, H, 0.0f,
				   st->x + (size_t) r * XW + m->E, XW, st->scratch);
	}
}

static sm_status
s2s_step(void *state, const int32_t *tokens, float *lp, sm_error *err)
{
	/* tokens: [N] -> lp: [N, V] */
	s2s_state  *st = state;
	const sm_s2s *m = st->m;
	const int	N = st->rows,
				H = m->H,
				E = m->E,
				V = m->V,
				GH = m->G * m->H;
	const int	XW = m->attn == SM_S2S_ATTN_ADDITIVE ? E + H : E;
	float	   *top = st->h + (size_t) (m->L - 1) * st->cap * H;
	const float *in;
	int			in_w;

	if (sm_should_abort())
		return sm_fail(err, SM_ERR_ABORTED, "canceled");
	for (int r = 0; r < N; r++)
	{
		float	   *x = st->x + (size_t) r * XW;

		if (tokens[r] < 0 || tokens[r] >= V)
			return sm_fail(err, SM_ERR_INTERNAL, "decoder token %d outside the vocabulary", (int) tokens[r]);
		memcpy(x, m->dec_emb + (size_t) tokens[r] * E, sizeof(float) * E);
		if (m->dec_relu)
			for (int j = 0; j < E; j++)
				x[j] = x[j] > 0.0f ? x[j] : 0.0f;
	}
	if (m->attn == SM_S2S_ATTN_ADDITIVE)
		attend_additive(m, st, top);
	in = st->x;
	in_w = XW;
	for (int k = 0; k < m->L; k++)
	{
		const sm_s2s_rnn *w = &m->dec[k];
		float	   *h = st->h + (size_t) k * st->cap * H;

		matmul_t(N, &w->p_ih, in, in_w, 0.0f, st->g, GH);
		if (m->lstm)
		{
			float	   *c = st->c + (size_t) k * st->cap * H;

			matmul_t(N, &w->p_hh, h, H, 1.0f, st->g, GH);
			for (int r = 0; r < N; r++)
				sm_op_lstm_cell(st->g + (size_t) r * GH, w->b_sum, c + (size_t) r * H,
								h + (size_t) r * H, H);
		}
		else
		{
			matmul_t(N, &w->p_hh, h, H, 0.0f, st->gh, GH);
			for (int r = 0; r < N; r++)
				sm_op_gru_cell(st->g + (size_t) r * GH, w->b_ih, st->gh + (size_t) r * GH, w->b_hh,
							   h + (size_t) r * H, H);
		}
		in = h;
		in_w = H;
	}
	/* in: the new top states [N, H] */
	if (m->attn == SM_S2S_ATTN_DOT || m->attn == SM_S2S_ATTN_GENERAL)
	{
		attend_luong(m, st, in);
		matmul_t(N, &m->p_wc, st->ctx, 2 * H, 0.0f, st->hc, H);
		sm_op_bias_act(st->hc, m->wc_b, (size_t) N, H, SM_ACT_TANH);
		in = st->hc;
	}
	for (int r = 0; r < N; r++)
		memcpy(lp + (size_t) r * V, m->out_b, sizeof(float) * V);
	matmul_t(N, &m->p_out, in, H, 1.0f, lp, V);
	for (int r = 0; r < N; r++)
	{
		float	   *row = lp + (size_t) r * V;
		float		lse = (float) sm_op_logsumexp(row, V);

		for (int j = 0; j < V; j++)
			row[j] -= lse;
	}
	return SM_OK;
}

void
sm_s2s_decoder(const sm_s2s *m, sm_decoder *d)
{
	d->vocab = m->V;
	d->start_id = m->sos;
	d->eos_id = m->eos;
	d->banned = NULL;
	d->n_banned = 0;
	d->forced_bos = d->forced_eos = -1;
	d->prompt = false;
	d->model = m;
	d->start = s2s_start;
	d->step = s2s_step;
	d->reorder = s2s_reorder;
	d->end = s2s_end;
}

sm_status
sm_s2s_encode(const sm_s2s *m, const int32_t *const *src, const int *len, int B, float *outputs,
			  float *h, float *c, sm_error *err)
{
	s2s_state  *st;
	sm_status	rc;

	if ((rc = sm_s2s_check_source(m, src, len, B, err)) != SM_OK ||
		(rc = s2s_start(m, src, len, B, 1, 1, (void **) &st, err)) != SM_OK)
		return rc;
	memcpy(outputs, st->keys, sizeof(float) * (size_t) B * st->S * m->H);
	memcpy(h, st->h, sizeof(float) * (size_t) m->L * B * m->H);
	if (c && m->lstm)
		memcpy(c, st->c, sizeof(float) * (size_t) m->L * B * m->H);
	s2s_end(st);
	return SM_OK;
}
