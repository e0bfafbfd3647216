/*
 * sm_tok_common.c -- the helpers every part of the tokenizer shares
 * (declared in sm_tok_internal.h): growable scratch buffers, id lists, the
 * string pool and the open-addressing maps.  They live apart from the
 * driver (sm_tokenizer.c) so that the models (sm_tok_bpe.c,
 * sm_tok_wordpiece.c) depend on this file and the driver on them, with no
 * circle between the driver and the models.
 */
#include "sm_tok_internal.h"

#include <stdlib.h>
#include <string.h>

sm_status
sm_tok_nomem_load(sm_error *err)
{
	return sm_fail(err, SM_ERR_NOMEM, "out of memory loading a tokenizer");
}

/* grow a scratch buffer to n elements, keeping its contents; inline is its first buffer (never freed) */
static bool
grow(void **p, size_t *cap, size_t need, size_t elem, const void *inline_buf)
{
	size_t		c = *cap ? *cap : 64;
	void	   *q;

	if (need <= *cap)
		return true;
	while (c < need)
		c *= 2;
	q = sm_alloc_array(c, elem);
	if (q == NULL)
		return false;
	if (*p != NULL && *cap > 0)
		memcpy(q, *p, *cap * elem);
	if (*p != inline_buf)
		sm_free(*p);
	*p = q;
	*cap = c;
	return true;
}

void
sm_tok_scratch_init(sm_tok_scratch *s)
{
	s->norm = s->norm_inline;
	s->norm_cap = sizeof(s->norm_inline);
	s->cps = s->cps_inline;
	s->cps_cap = sizeof(s->cps_inline) / sizeof(uint32_t);
	s->sym = s->sym_inline;
	s->sym_cap = sizeof(s->sym_inline) / sizeof(int32_t);
	s->word = s->word_inline;
	s->word_cap = sizeof(s->word_inline);
	s->pre = s->pre_inline;
	s->pre_cap = sizeof(s->pre_inline);
	s->aux = s->aux2 = NULL;
	s->words_done = 0;
	for (size_t k = 0; k < sizeof(s->hf) / sizeof(s->hf[0]); k++)
		sm_buf_init(&s->hf[k]);
	sm_buf_init(&s->lattice);
}

bool
sm_tok_scratch_norm(sm_tok_scratch *s, size_t n)
{
	return grow((void **) &s->norm, &s->norm_cap, n, 1, s->norm_inline);
}

bool
sm_tok_scratch_cps(sm_tok_scratch *s, size_t n)
{
	return grow((void **) &s->cps, &s->cps_cap, n, sizeof(uint32_t), s->cps_inline);
}

bool
sm_tok_scratch_sym(sm_tok_scratch *s, size_t n)
{
	return grow((void **) &s->sym, &s->sym_cap, n, sizeof(int32_t), s->sym_inline);
}

bool
sm_tok_scratch_word(sm_tok_scratch *s, size_t n)
{
	return grow((void **) &s->word, &s->word_cap, n, 1, s->word_inline);
}

bool
sm_tok_scratch_pre(sm_tok_scratch *s, size_t n)
{
	return grow((void **) &s->pre, &s->pre_cap, n, 1, s->pre_inline);
}

void
sm_tok_scratch_free(sm_tok_scratch *s)
{
	if (s->norm != s->norm_inline)
		sm_free(s->norm);
	if (s->cps != s->cps_inline)
		sm_free(s->cps);
	if (s->sym != s->sym_inline)
		sm_free(s->sym);
	if (s->word != s->word_inline)
		sm_free(s->word);
	if (s->pre != s->pre_inline)
		sm_free(s->pre);
	sm_free(s->aux);
	sm_free(s->aux2);
	for (size_t k = 0; k < sizeof(s->hf) / sizeof(s->hf[0]); k++)
		sm_buf_free(&s->hf[k]);
	sm_buf_free(&s->lattice);
	sm_tok_scratch_init(s);
}

void
sm_tok_ids_init(sm_tok_ids *e)
{
	memset(e, 0, sizeof(*e));
}

void
sm_tok_ids_free(sm_tok_ids *e)
{
	sm_free(e->ids);
	sm_free(e->type_ids);
	memset(e, 0, sizeof(*e));
}

bool
sm_tok_ids_reserve(sm_tok_ids *e, int n)
{
	int			c;
	int32_t    *a,
			   *b;

	if (n <= e->cap)
		return true;
	c = e->cap ? e->cap : 64;
	while (c < n)
	{
		if (c > INT32_MAX / 2)
			return false;
		c *= 2;
	}
	a = sm_alloc_array((size_t) c, sizeof(int32_t));
	b = sm_alloc_array((size_t) c, sizeof(int32_t));
	if (a == NULL || b == NULL)
	{
		sm_free(a);
		sm_free(b);
		return false;
	}
	if (e->n > 0)
	{
		memcpy(a, e->ids, (size_t) e->n * sizeof(int32_t));
		memcpy(b, e->type_ids, (size_t) e->n * sizeof(int32_t));
	}
	sm_free(e->ids);
	sm_free(e->type_ids);
	e->ids = a;
	e->type_ids = b;
	e->cap = c;
	return true;
}

bool
sm_tok_ids_push(sm_tok_ids *e, int32_t id, int32_t type_id)
{
	if (e->n >= e->cap && (e->n == INT32_MAX || !sm_tok_ids_reserve(e, e->n + 1)))
		return false;
	e->ids[e->n] = id;
	e->type_ids[e->n] = type_id;
	e->n++;
	return true;
}

uint32_t
sm_tok_pool_add(sm_tokenizer *t, const char *s, size_t len)
{
	uint32_t	off;

	if (t->pool_len + len + 1 > UINT32_MAX - 1)
		return UINT32_MAX;
	if (t->pool_len + len + 1 > t->pool_cap)
	{
		size_t		c = t->pool_cap ? t->pool_cap : 4096;
		char	   *q;

		while (c < t->pool_len + len + 1)
			c *= 2;
		if ((q = sm_alloc(c)) == NULL)
			return UINT32_MAX;
		if (t->pool_len > 0)
			memcpy(q, t->pool, t->pool_len);
		sm_free(t->pool);
		t->pool = q;
		t->pool_cap = c;
	}
	off = (uint32_t) t->pool_len;
	if (len > 0)
		memcpy(t->pool + off, s, len);
	t->pool[off + len] = '\0';
	t->pool_len += len + 1;
	return off;
}

sm_status
sm_tok_map_build(sm_tok_map *m, const char *pool, const uint32_t *offs, const uint32_t *lens,
				 int n, bool last_wins, int *dup, sm_error *err)
{
	uint32_t	cap = 16;

	*dup = -1;
	while (cap < 2 * (uint32_t) n + 2)
		cap <<= 1;
	m->slots = sm_alloc0((size_t) cap * sizeof(uint32_t));
	m->tags = sm_alloc((size_t) cap * sizeof(uint32_t));
	if (m->slots == NULL || m->tags == NULL)
	{
		sm_tok_map_free(m);
		return sm_tok_nomem_load(err);
	}
	m->mask = cap - 1;
	for (int j = 0; j < n; j++)
	{
		int			k = last_wins ? n - 1 - j : j;
		uint64_t	h = sm_tok_hash(pool + offs[k], lens[k]);
		uint32_t	tag = (uint32_t) (h >> 32);
		uint32_t	i = (uint32_t) h & m->mask;
		bool		seen = false;

		while (m->slots[i] != 0)
		{
			uint32_t	o = m->slots[i] - 1;

			if (m->tags[i] == tag && lens[o] == lens[k] &&
				memcmp(pool + offs[o], pool + offs[k], lens[k]) == 0)
			{
				if (!last_wins)
				{
					*dup = k;
					return SM_OK;
				}
				seen = true;	/* a later index has it */
				break;
			}
			i = (i + 1) & m->mask;
		}
		if (seen)
			continue;
		m->slots[i] = (uint32_t) k + 1;
		m->tags[i] = tag;
	}
	return SM_OK;
}

void
sm_tok_map_free(sm_tok_map *m)
{
	sm_free(m->slots);
	sm_free(m->tags);
	memset(m, 0, sizeof(*m));
}

