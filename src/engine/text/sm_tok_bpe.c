/*
 * sm_tok_bpe.c -- byte-level BPE as GPT-2 and RoBERTa use it: the ByteLevel
 * pre-tokenizer (GPT-2's regex, the byte-to-unicode map), the BPE model and
 * the ByteLevel decoder, matching Hugging Face's tokenizers exactly.
 *
 * The regex
 *     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * is a hand-written scanner over code points (bytes_scan): at each position
 * the alternatives are tried in order, as Oniguruma does (leftmost-first).
 * The only backtracking case is \s+(?!\S): a whitespace run followed by a
 * non-space gives back its last character, which then starts the next piece
 * (" word" keeps its space).
 *
 * BPE merges the pair of adjacent symbols with the lowest merge rank, the
 * leftmost first on ties, until no pair has a rank: the result Hugging Face's
 * priority queue gives.  Short words (nearly all) use a scan over a rank
 * array; long ones a binary heap, so a megabyte of "=====" stays n log n.
 * Words that are vocabulary tokens -- most words of real text -- skip the
 * merges: their result is computed once at load (t->words), which keeps the
 * loaded tokenizer read-only (no cache written during encode).
 */
#include "sm_tok_internal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "sm_unicode.h"

/* symbols up to this many are merged by scanning; longer ones with a heap */
#define BPE_SCAN_MAX 64

struct sm_tok_merge
{
	uint64_t	key;			/* (left + 1) << 32 | (right + 1); 0: empty slot */
	int32_t		rank;
	int32_t		new_id;
};

/* ---------------------------------------------------------------- byte <-> unicode */

/*
 * GPT-2's bytes_to_unicode: printable Latin-1 bytes ('!'..'~', 0xA1..0xAC,
 * 0xAE..0xFF) map to themselves, the other 68 to U+0100 onwards in byte
 * order.
 */
int
sm_tok_byte_to_unicode(int b)
{
	int			n = 0;

	if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))
		return b;
	for (int i = 0; i < b; i++)
		if (!((i >= '!' && i <= '~') || (i >= 0xA1 && i <= 0xAC) || (i >= 0xAE && i <= 0xFF)))
			n++;
	return 256 + n;
}

/* code point -> byte, -1 when the code point is not in the byte alphabet */
#define BYTE_ALPHABET_END 0x144
static int16_t unicode_to_byte[BYTE_ALPHABET_END];
static bool unicode_to_byte_ready;

static void
init_unicode_to_byte(void)
{
	int16_t		tmp[BYTE_ALPHABET_END];

	/* idempotent: concurrent first calls write the same values */
	if (__atomic_load_n(&unicode_to_byte_ready, __ATOMIC_ACQUIRE))
		return;
	for (int i = 0; i < BYTE_ALPHABET_END; i++)
		tmp[i] = -1;
	for (int b = 0; b < 256; b++)
		tmp[sm_tok_byte_to_unicode(b)] = (int16_t) b;
	memcpy(unicode_to_byte, tmp, sizeof(tmp));
	__atomic_store_n(&unicode_to_byte_ready, true, __ATOMIC_RELEASE);
}

/*
 * The raw bytes of a token in the byte alphabet into out (room for len
 * bytes: every character is at least one byte); -1 when a character is not
 * in the alphabet.
 */
static long
token_to_bytes(const char *s, size_t len, uint8_t *out)
{
	size_t		i = 0;
	long		n = 0;

	while (i < len)
	{
		uint32_t	cp;
		int			l = sm_utf8_decode((const uint8_t *) s + i, len - i, &cp);

		if (cp >= BYTE_ALPHABET_END || unicode_to_byte[cp] < 0)
			return -1;
		out[n++] = (uint8_t) unicode_to_byte[cp];
		i += (size_t) l;
	}
	return n;
}

/* ---------------------------------------------------------------- merges */

static inline uint64_t
merge_key(int32_t a, int32_t b)
{
	return ((uint64_t) (uint32_t) (a + 1) << 32) | (uint32_t) (b + 1);
}

static inline const struct sm_tok_merge *
merge_find(const sm_tokenizer *t, int32_t a, int32_t b)
{
	uint64_t	key = merge_key(a, b);
	uint32_t	i = (uint32_t) ((key * 0x9E3779B97F4A7C15ull) >> 32) & t->merges_mask;

	for (;;)
	{
		const struct sm_tok_merge *m = &t->merges[i];

		if (m->key == key)
			return m;
		if (m->key == 0)
			return NULL;
		i = (i + 1) & t->merges_mask;
	}
}

/* rank of the pair (a, b), INT32_MAX when it does not merge */
static inline int32_t
pair_rank(const sm_tokenizer *t, int32_t a, int32_t b, int32_t *new_id)
{
	const struct sm_tok_merge *m;

	if (t->merges == NULL || a < 0 || b < 0)
		return INT32_MAX;
	m = merge_find(t, a, b);
	if (m == NULL)
		return INT32_MAX;
	*new_id = m->new_id;
	return m->rank;
}

/* Merge sym[0, n) in place by scanning (n <= BPE_SCAN_MAX); returns the new n. */
static int
merge_scan(const sm_tokenizer *t, int32_t *sym, int n)
{
	int32_t		rank[BPE_SCAN_MAX];
	int32_t		nid[BPE_SCAN_MAX];

	for (int i = 0; i + 1 < n; i++)
		rank[i] = pair_rank(t, sym[i], sym[i + 1], &nid[i]);
	while (n > 1)
	{
		int32_t		best = INT32_MAX;
		int			bi = -1;

		for (int i = 0; i + 1 < n; i++)
			if (rank[i] < best)
			{
				best = rank[i];
				bi = i;
			}
		if (bi < 0)
			break;
		sym[bi] = nid[bi];
		/* drop symbol bi + 1 and the pair (bi + 1, bi + 2) */
		memmove(sym + bi + 1, sym + bi + 2, (size_t) (n - bi - 2) * sizeof(int32_t));
		if (bi + 2 < n)
		{
			memmove(rank + bi + 1, rank + bi + 2, (size_t) (n - bi - 3) * sizeof(int32_t));
			memmove(nid + bi + 1, nid + bi + 2, (size_t) (n - bi - 3) * sizeof(int32_t));
		}
		n--;
		if (bi > 0)
			rank[bi - 1] = pair_rank(t, sym[bi - 1], sym[bi], &nid[bi - 1]);
		if (bi + 1 < n)
			rank[bi] = pair_rank(t, sym[bi], sym[bi + 1], &nid[bi]);
	}
	return n;
}

/* binary min-heap of (rank << 32 | position) */
static void
heap_push(uint64_t *h, int *n, uint64_t v)
{
	int			i = (*n)++;

	while (i > 0)
	{
		int			p = (i - 1) >> 1;

		if (h[p] <= v)
			break;
		h[i] = h[p];
		i = p;
	}
	h[i] = v;
}

static uint64_t
heap_pop(uint64_t *h, int *n)
{
	uint64_t	top = h[0];
	uint64_t	v = h[--(*n)];
	int			i = 0;

	for (;;)
	{
		int			c = 2 * i + 1;

		if (c >= *n)
			break;
		if (c + 1 < *n && h[c + 1] < h[c])
			c++;
		if (v <= h[c])
			break;
		h[i] = h[c];
		i = c;
	}
	if (*n > 0)
		h[i] = v;
	return top;
}

/*
 * Merge sym[0, n) with a heap, as Hugging Face's Word::merge_all does:
 * symbols form a linked list; a queue entry is stale when its left symbol
 * is gone or the pair no longer has that rank.  Returns the new n, or -1
 * when out of memory.
 */
static int
merge_heap(const sm_tokenizer *t, int32_t *sym, int n)
{
	int32_t    *next = sm_alloc_array((size_t) n, sizeof(int32_t));
	int32_t    *prev = sm_alloc_array((size_t) n, sizeof(int32_t));
	uint64_t   *heap = sm_alloc_array((size_t) n * 3, sizeof(uint64_t));
	int			nh = 0;
	int			out = 0;

	if (next == NULL || prev == NULL || heap == NULL)
	{
		sm_free(next);
		sm_free(prev);
		sm_free(heap);
		return -1;
	}
	for (int i = 0; i < n; i++)
	{
		next[i] = i + 1 < n ? i + 1 : -1;
		prev[i] = i - 1;
	}
	for (int i = 0; i + 1 < n; i++)
	{
		int32_t		nid = 0;
		int32_t		r = pair_rank(t, sym[i], sym[i + 1], &nid);

		if (r != INT32_MAX)
			heap_push(heap, &nh, ((uint64_t) r << 32) | (uint32_t) i);
	}
	while (nh > 0)
	{
		uint64_t	top = heap_pop(heap, &nh);
		int32_t		r = (int32_t) (top >> 32);
		int			pos = (int) (uint32_t) top;
		int			nx;
		int32_t		nid = 0;

		if (sym[pos] < -1 || (nx = next[pos]) < 0)
			continue;			/* removed, or the last symbol */
		if (pair_rank(t, sym[pos], sym[nx], &nid) != r)
			continue;			/* stale */
		sym[pos] = nid;
		sym[nx] = -2;			/* removed */
		next[pos] = next[nx];
		if (next[nx] >= 0)
			prev[next[nx]] = pos;
		if (prev[pos] >= 0)
		{
			int32_t		r2 = pair_rank(t, sym[prev[pos]], sym[pos], &nid);

			if (r2 != INT32_MAX)
				heap_push(heap, &nh, ((uint64_t) r2 << 32) | (uint32_t) prev[pos]);
		}
		if (next[pos] >= 0)
		{
			int32_t		r2 = pair_rank(t, sym[pos], sym[next[pos]], &nid);

			if (r2 != INT32_MAX)
				heap_push(heap, &nh, ((uint64_t) r2 << 32) | (uint32_t) pos);
		}
	}
	for (int i = 0; i < n; i++)
		if (sym[i] >= -1)
			sym[out++] = sym[i];
	sm_free(next);
	sm_free(prev);
	sm_free(heap);
	return out;
}

/*
 * The initial symbols of a word (HF's merge_word): one per byte (byte
 * level) or per character, looked up in the vocabulary; characters that are
 * not in it become the unknown token (consecutive ones fused with
 * fuse_unk) or are dropped when there is none.  sym needs room for len.
 */
static int
word_symbols(const sm_tokenizer *t, const uint8_t *s, size_t len, int32_t *sym)
{
	int			n = 0;
	bool		pending_unk = false;
	size_t		i = 0;

	while (i < len)
	{
		int32_t		id;
		int			l = 1;

		if (t->byte_level)
			id = t->byte_ids[s[i]];
		else
		{
			uint32_t	cp;

			l = sm_utf8_decode(s + i, len - i, &cp);
			id = sm_tok_vocab_id(t, s + i, (size_t) l);
		}
		i += (size_t) l;
		if (id >= 0)
		{
			if (pending_unk)
				sym[n++] = t->unk_id;
			pending_unk = false;
			sym[n++] = id;
		}
		else if (t->unk_id >= 0)
		{
			if (pending_unk && !t->fuse_unk)
				sym[n++] = t->unk_id;
			pending_unk = true;
		}
	}
	if (pending_unk)
		sym[n++] = t->unk_id;
	return n;
}

/* BPE of s[0, len) into sym (room for len); returns the count or -1 (no memory) */
static int
bpe_merge_word(const sm_tokenizer *t, const uint8_t *s, size_t len, int32_t *sym)
{
	int			n;

	if (t->ignore_merges && !t->byte_level)
	{
		int32_t		id = sm_tok_vocab_id(t, s, len);

		if (id >= 0)
		{
			sym[0] = id;
			return 1;
		}
	}
	n = word_symbols(t, s, len, sym);
	if (n <= 1)
		return n;
	if (n <= BPE_SCAN_MAX)
		return merge_scan(t, sym, n);
	return merge_heap(t, sym, n);
}

sm_status
sm_tok_bpe_word(const sm_tokenizer *t, const uint8_t *s, size_t len, sm_tok_scratch *sc,
				sm_tok_ids *e, int32_t type_id, sm_error *err)
{
	int			n;
	sm_status	rc;

	if ((rc = sm_tok_poll(sc, err)) != SM_OK)
		return rc;
	if (len == 0)
		return SM_OK;
	if (t->nwords > 0)
	{
		int32_t		w = sm_tok_map_find(t, &t->words, t->word_off, t->word_len, s, len);

		if (w >= 0)
		{
			const int32_t *ids = t->word_ids + t->word_ids_off[w];

			for (int i = 0; i < t->word_nids[w]; i++)
				if (!sm_tok_ids_push(e, ids[i], type_id))
					return sm_tok_nomem(err);
			return SM_OK;
		}
	}
	if (!sm_tok_scratch_sym(sc, len))
		return sm_tok_nomem(err);
	n = bpe_merge_word(t, s, len, sc->sym);
	if (n < 0)
		return sm_tok_nomem(err);
	for (int i = 0; i < n; i++)
		if (!sm_tok_ids_push(e, sc->sym[i], type_id))
			return sm_tok_nomem(err);
	return SM_OK;
}

/* ---------------------------------------------------------------- the regex */

enum
{
	C_L, C_N, C_WS, C_O
};

static uint8_t ascii_class[128];
static bool ascii_class_ready;

static void
init_ascii_class(void)
{
	uint8_t		tmp[128];

	if (__atomic_load_n(&ascii_class_ready, __ATOMIC_ACQUIRE))
		return;
	for (int c = 0; c < 128; c++)
	{
		uint8_t		f = sm_uni_flags((uint32_t) c);

		tmp[c] = (f & SM_UNI_L) ? C_L : (f & SM_UNI_N) ? C_N : (f & SM_UNI_WS) ? C_WS : C_O;
	}
	memcpy(ascii_class, tmp, sizeof(tmp));
	__atomic_store_n(&ascii_class_ready, true, __ATOMIC_RELEASE);
}

/* class of the character at s[i] (i < len) and its length */
static inline int
class_at(const uint8_t *s, size_t len, size_t i, int *clen)
{
	uint32_t	cp;
	uint8_t		f;

	if (s[i] < 0x80)
	{
		*clen = 1;
		return ascii_class[s[i]];
	}
	*clen = sm_utf8_decode(s + i, len - i, &cp);
	f = sm_uni_flags(cp);
	return (f & SM_UNI_L) ? C_L : (f & SM_UNI_N) ? C_N : (f & SM_UNI_WS) ? C_WS : C_O;
}

/* end of the run of class `want` starting at j */
static inline size_t
run_end(const uint8_t *s, size_t len, size_t j, int want)
{
	while (j < len)
	{
		int			l;

		if (class_at(s, len, j, &l) != want)
			break;
		j += (size_t) l;
	}
	return j;
}

/* length of GPT-2's regex match at s[i] (i < len) */
static inline size_t
regex_match(const uint8_t *s, size_t len, size_t i)
{
	int			l0;
	int			c0;
	size_t		j;
	size_t		last;

	/* 's|'t|'re|'ve|'m|'ll|'d (case-sensitive) */
	if (s[i] == '\'' && i + 1 < len)
	{
		uint8_t		a = s[i + 1];

		if (a == 's' || a == 't' || a == 'm' || a == 'd')
			return 2;
		if (i + 2 < len)
		{
			uint8_t		b = s[i + 2];

			if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
				return 3;
		}
	}
	/* ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+': the optional space */
	if (s[i] == ' ' && i + 1 < len)
	{
		int			l1;
		int			c1 = class_at(s, len, i + 1, &l1);

		if (c1 != C_WS)
			return run_end(s, len, i + 1 + (size_t) l1, c1) - i;
	}
	c0 = class_at(s, len, i, &l0);
	if (c0 != C_WS)
		return run_end(s, len, i + (size_t) l0, c0) - i;
	/* \s+(?!\S) gives back the last space before a non-space; else \s+ */
	j = i;
	last = i;
	while (j < len)
	{
		int			l;

		if (class_at(s, len, j, &l) != C_WS)
			break;
		last = j;
		j += (size_t) l;
	}
	if (j < len && last > i)
		return last - i;
	return j - i;
}

sm_status
sm_tok_bytelevel_segment(const sm_tokenizer *t, const uint8_t *s, size_t len,
						 sm_tok_scratch *sc, sm_tok_ids *e, int32_t type_id, sm_error *err)
{
	sm_status	rc;
	size_t		i = 0;

	if (len == 0)
		return SM_OK;
	if (t->add_prefix_space && s[0] != ' ')
	{
		/* the piece with a space in front: into the word buffer */
		if (!sm_tok_scratch_pre(sc, len + 1))
			return sm_tok_nomem(err);
		sc->pre[0] = ' ';
		memcpy(sc->pre + 1, s, len);
		s = sc->pre;
		len++;
	}
	if (!t->use_regex)
		return sm_tok_model_word(t, s, len, sc, e, type_id, err);
	while (i < len)
	{
		size_t		m = regex_match(s, len, i);

		if ((rc = sm_tok_model_word(t, s + i, m, sc, e, type_id, err)) != SM_OK)
			return rc;
		i += m;
	}
	return SM_OK;
}

/* ---------------------------------------------------------------- loading */

static sm_status
merge_part(const sm_tokenizer *t, const char *s, size_t len, size_t k, int32_t *id, sm_error *err)
{
	*id = sm_tok_vocab_id(t, s, len);
	if (*id < 0)
	{
		sm_fail(err, SM_ERR_INVALID, "tokenizer.json merge %zu names a token that is not in the vocabulary", k + 1);
		sm_detail(err, "The token is \"%.*s\".", (int) (len > 100 ? 100 : len), s);
		return err->code;
	}
	return SM_OK;
}

sm_status
sm_tok_bpe_load(sm_tokenizer *t, const sm_json *model, sm_error *err)
{
	const sm_json *merges = sm_json_get(model, "merges");
	const sm_json *v;
	size_t		cap = 16;
	char	   *joined = NULL;
	size_t		joined_cap = 0;
	sm_status	rc = SM_OK;

	t->unk_id = -1;
	if ((v = sm_json_get(model, "dropout")) != NULL && v->type != SM_JSON_NULL &&
		!(v->type == SM_JSON_NUMBER && v->number == 0.0))
		return sm_fail(err, SM_ERR_UNSUPPORTED, "tokenizer.json BPE dropout is not supported");
	if ((v = sm_json_get(model, "byte_fallback")) != NULL && v->type == SM_JSON_BOOL && v->boolean)
		return sm_fail(err, SM_ERR_UNSUPPORTED, "tokenizer.json BPE byte_fallback is not supported");
	if ((v = sm_json_get(model, "continuing_subword_prefix")) != NULL && v->type == SM_JSON_STRING && v->string_len > 0)
		return sm_fail(err, SM_ERR_UNSUPPORTED, "tokenizer.json BPE continuing_subword_prefix \"%s\" is not supported", v->string);
	if ((v = sm_json_get(model, "end_of_word_suffix")) != NULL && v->type == SM_JSON_STRING && v->string_len > 0)
		return sm_fail(err, SM_ERR_UNSUPPORTED, "tokenizer.json BPE end_of_word_suffix \"%s\" is not supported", v->string);
	if ((v = sm_json_get(model, "fuse_unk")) != NULL)
	{
		if (v->type != SM_JSON_BOOL)
			return sm_fail(err, SM_ERR_INVALID, "tokenizer.json member \"model.fuse_unk\" must be a boolean, not %s",
						   sm_json_type_name(v->type));
		t->fuse_unk = v->boolean;
	}
	if ((v = sm_json_get(model, "ignore_merges")) != NULL)
	{
		if (v->type != SM_JSON_BOOL)
			return sm_fail(err, SM_ERR_INVALID, "tokenizer.json member \"model.ignore_merges\" must be a boolean, not %s",
						   sm_json_type_name(v->type));
		t->ignore_merges = v->boolean;
	}
	if ((v = sm_json_get(model, "unk_token")) != NULL && v->type != SM_JSON_NULL)
	{
		if (v->type != SM_JSON_STRING)
			return sm_fail(err, SM_ERR_INVALID, "tokenizer.json member \"model.unk_token\" must be a string or null, not %s",
						   sm_json_type_name(v->type));
		t->unk_id = sm_tok_vocab_id(t, v->string, v->string_len);
		if (t->unk_id < 0)
			return sm_fail(err, SM_ERR_INVALID, "tokenizer.json unk_token \"%s\" is not in the vocabulary", v->string);
	}
	if (merges == NULL)
		return sm_fail(err, SM_ERR_INVALID, "tokenizer.json member \"model.merges\" is missing");
	if (merges->type != SM_JSON_ARRAY)
		return sm_fail(err, SM_ERR_INVALID, "tokenizer.json member \"model.merges\" must be an array, not %s",
					   sm_json_type_name(merges->type));
	while (cap < 2 * merges->count + 2)
		cap <<= 1;
	t->merges = sm_alloc0(cap * sizeof(struct sm_tok_merge));
	if (t->merges == NULL)
		return sm_fail(err, SM_ERR_NOMEM, "out of memory loading a tokenizer");
	t->merges_mask = (uint32_t) (cap - 1);
	for (size_t k = 0; k < merges->count; k++)
	{
		const sm_json *m = merges->items[k];
		const char *a,
				   *b;
		size_t		alen,
					blen;
		int32_t		ida,
					idb,
					idn;
		uint64_t	key;
		uint32_t	i;

		if (m->type == SM_JSON_STRING)
		{
			const char *sp = memchr(m->string, ' ', m->string_len);

			/* "a b": exactly one space (HF splits on ' ' and wants two parts) */
			if (sp == NULL || memchr(sp + 1, ' ', m->string_len - (size_t) (sp + 1 - m->string)) != NULL)
			{
				rc = sm_fail(err, SM_ERR_INVALID, "tokenizer.json merge %zu must be two tokens separated by one space", k + 1);
				sm_detail(err, "It is \"%.*s\".", (int) (m->string_len > 100 ? 100 : m->string_len), m->string);
				goto done;
			}
			a = m->string;
			alen = (size_t) (sp - m->string);
			b = sp + 1;
			blen = m->string_len - alen - 1;
		}
		else if (m->type == SM_JSON_ARRAY && m->count == 2 &&
				 m->items[0]->type == SM_JSON_STRING && m->items[1]->type == SM_JSON_STRING)
		{
			a = m->items[0]->string;
			alen = m->items[0]->string_len;
			b = m->items[1]->string;
			blen = m->items[1]->string_len;
		}
		else
		{
			rc = sm_fail(err, SM_ERR_INVALID, "tokenizer.json merge %zu must be a string \"a b\" or an array of two strings, not %s",
						 k + 1, m->type == SM_JSON_ARRAY ? "another array" : sm_json_type_name(m->type));
			goto done;
		}
		if ((rc = merge_part(t, a, alen, k, &ida, err)) != SM_OK ||
			(rc = merge_part(t, b, blen, k, &idb, err)) != SM_OK)
			goto done;
		if (alen + blen > joined_cap)
		{
			sm_free(joined);
			joined_cap = 2 * (alen + blen) + 16;
			if ((joined = sm_alloc(joined_cap)) == NULL)
			{
				rc = sm_fail(err, SM_ERR_NOMEM, "out of memory loading a tokenizer");
				goto done;
			}
		}
		memcpy(joined, a, alen);
		memcpy(joined + alen, b, blen);
		if ((rc = merge_part(t, joined, alen + blen, k, &idn, err)) != SM_OK)
			goto done;
		/* a repeated pair takes its last rank, as HF's map does */
		key = merge_key(ida, idb);
		i = (uint32_t) ((key * 0x9E3779B97F4A7C15ull) >> 32) & t->merges_mask;
		while (t->merges[i].key != 0 && t->merges[i].key != key)
			i = (i + 1) & t->merges_mask;
		t->merges[i].key = key;
		t->merges[i].rank = (int32_t) k;
		t->merges[i].new_id = idn;
	}
done:
	sm_free(joined);
	return rc;
}

/*
 * Once the pre-tokenizer is known: byte-level symbols, and the results of
 * every vocabulary token's bytes (byte level only).
 */
sm_status
sm_tok_bpe_prepare(sm_tokenizer *t, sm_error *err)
{
	uint8_t    *raw = NULL;
	int32_t    *sym = NULL;
	size_t		maxlen = 0;
	size_t		nids_total = 0;
	int			n = 0;
	int			dup;
	sm_status	rc;

	init_unicode_to_byte();
	init_ascii_class();
	t->byte_level = t->pre == SM_TOK_PRE_BYTELEVEL;
	if (!t->byte_level)
		return SM_OK;
	for (int b = 0; b < 256; b++)
	{
		uint8_t		u[4];
		int			l = sm_utf8_encode((uint32_t) sm_tok_byte_to_unicode(b), u);

		t->byte_ids[b] = sm_tok_vocab_id(t, u, (size_t) l);
	}
	for (int i = 0; i < t->nvocab; i++)
		if (t->vocab_len[i] > maxlen)
			maxlen = t->vocab_len[i];
	raw = sm_alloc(maxlen + 1);
	sym = sm_alloc_array(maxlen + 1, sizeof(int32_t));
	t->word_off = sm_alloc_array((size_t) t->nvocab + 1, sizeof(uint32_t));
	t->word_len = sm_alloc_array((size_t) t->nvocab + 1, sizeof(uint32_t));
	t->word_ids_off = sm_alloc_array((size_t) t->nvocab + 1, sizeof(uint32_t));
	t->word_nids = sm_alloc_array((size_t) t->nvocab + 1, sizeof(uint16_t));
	if (raw == NULL || sym == NULL || t->word_off == NULL || t->word_len == NULL ||
		t->word_ids_off == NULL || t->word_nids == NULL)
		goto nomem;
	/* first pass: the words and their ids' count */
	for (int i = 0; i < t->nvocab; i++)
	{
		long		len = token_to_bytes(t->pool + t->vocab_off[i], t->vocab_len[i], raw);
		int			k;
		uint32_t	off;

		if (len <= 0 || len > 65535)
			continue;
		k = bpe_merge_word(t, raw, (size_t) len, sym);
		if (k < 0)
			goto nomem;
		if ((off = sm_tok_pool_add(t, (const char *) raw, (size_t) len)) == UINT32_MAX)
			goto nomem;
		t->word_off[n] = off;
		t->word_len[n] = (uint32_t) len;
		t->word_ids_off[n] = (uint32_t) nids_total;
		t->word_nids[n] = (uint16_t) k;
		nids_total += (size_t) k;
		n++;
	}
	t->word_ids = sm_alloc_array(nids_total + 1, sizeof(int32_t));
	if (t->word_ids == NULL)
		goto nomem;
	/* second pass: the ids */
	for (int w = 0; w < n; w++)
	{
		int			k = bpe_merge_word(t, (const uint8_t *) t->pool + t->word_off[w], t->word_len[w], sym);

		if (k != t->word_nids[w])
			goto nomem;			/* can only be an allocation failure */
		memcpy(t->word_ids + t->word_ids_off[w], sym, (size_t) k * sizeof(int32_t));
	}
	t->nwords = n;
	sm_free(raw);
	sm_free(sym);
	if ((rc = sm_tok_map_build(&t->words, t->pool, t->word_off, t->word_len, n, false, &dup, err)) != SM_OK)
	{
		t->nwords = 0;
		return rc;
	}
	if (dup >= 0)
	{
		/* two tokens with the same bytes cannot happen (the map is one-to-one) */
		t->nwords = 0;
		return sm_fail(err, SM_ERR_INTERNAL, "byte-level vocabulary has two tokens with the same bytes");
	}
	return SM_OK;

nomem:
	sm_free(raw);
	sm_free(sym);
	return sm_fail(err, SM_ERR_NOMEM, "out of memory loading a tokenizer");
}

void
sm_tok_bpe_free(sm_tokenizer *t)
{
	sm_free(t->merges);
	sm_free(t->word_off);
	sm_free(t->word_len);
	sm_free(t->word_ids_off);
	sm_free(t->word_nids);
	sm_free(t->word_ids);
	sm_tok_map_free(&t->words);
}

/* ---------------------------------------------------------------- decoding */

/*
 * Bytes to UTF-8 as Rust's String::from_utf8_lossy: each maximal prefix of
 * a valid sequence that cannot be completed becomes one U+FFFD.
 */
static void
append_lossy(sm_buf *out, const uint8_t *s, size_t len)
{
	static const char fffd[] = "\xEF\xBF\xBD";
	size_t		i = 0;
	size_t		run = 0;

	while (i < len)
	{
		uint8_t		c = s[i];
		size_t		need;
		uint8_t		lo = 0x80,
					hi = 0xBF;
		size_t		k;

		if (c < 0x80)
		{
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
			need = 1;
		else if (c >= 0xE0 && c <= 0xEF)
		{
			need = 2;
			if (c == 0xE0)
				lo = 0xA0;
			else if (c == 0xED)
				hi = 0x9F;
		}
		else if (c >= 0xF0 && c <= 0xF4)
		{
			need = 3;
			if (c == 0xF0)
				lo = 0x90;
			else if (c == 0xF4)
				hi = 0x8F;
		}
		else
			need = 0;			/* never valid as a first byte */
		/* how many bytes after c continue a valid sequence */
		for (k = 0; k < need && i + 1 + k < len; k++)
		{
			uint8_t		d = s[i + 1 + k];

			if (k == 0 ? (d < lo || d > hi) : (d < 0x80 || d > 0xBF))
				break;
		}
		if (need > 0 && k == need)
		{
			i += 1 + need;
			continue;
		}
		sm_buf_append(out, s + run, i - run);
		sm_buf_append(out, fffd, 3);
		i += 1 + k;
		run = i;
	}
	sm_buf_append(out, s + run, len - run);
}

void
sm_tok_bytelevel_decode(const sm_tokenizer *t, const int32_t *ids, int n, bool skip_special,
						sm_buf *out)
{
	sm_buf		bytes;

	init_unicode_to_byte();
	sm_buf_init(&bytes);
	for (int k = 0; k < n; k++)
	{
		int32_t		id = ids[k];
		const char *s = t->pool + t->id_off[id];
		size_t		len = t->id_len[id];
		size_t		start = bytes.len;
		size_t		i = 0;

		if (skip_special && (t->id_flags[id] & SM_TOK_ID_SPECIAL))
			continue;
		/* every character in the byte alphabet: its bytes; else the token as is */
		while (i < len)
		{
			uint32_t	cp;
			int			l = sm_utf8_decode((const uint8_t *) s + i, len - i, &cp);
			uint8_t		b;

			if (cp >= BYTE_ALPHABET_END || unicode_to_byte[cp] < 0)
				break;
			b = (uint8_t) unicode_to_byte[cp];
			sm_buf_append(&bytes, &b, 1);
			i += (size_t) l;
		}
		if (i < len)
		{
			bytes.len = start;
			sm_buf_append(&bytes, s, len);
		}
	}
	if (bytes.failed)
		out->failed = true;
	else
		append_lossy(out, (const uint8_t *) bytes.data, bytes.len);
	sm_buf_free(&bytes);
}
