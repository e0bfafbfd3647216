/*
 * sm_tok_charsmap.c -- SentencePiece's precompiled_charsmap, which both the
 * SentencePiece tokenizer (sm_tok_spm.c) and Hugging Face's Precompiled
 * normalizer (sm_tok_hf.c) read, and the base64 that carries it in a
 * tokenizer.json.
 *
 * The blob: a little-endian uint32 trie size, a darts-clone double array of
 * that many bytes whose values are offsets into the rest, and the rest:
 * NUL-terminated replacement strings.  Every offset read from the array is
 * checked against the sizes, so a broken blob matches less, never reads
 * outside.
 */
#include "sm_tok_internal.h"

#include <string.h>

sm_status
sm_tok_charsmap_init(sm_tok_charsmap *c, const uint8_t *blob, size_t len, const char *what,
					 sm_error *err)
{
	uint32_t	tsize;

	memset(c, 0, sizeof(*c));
	if (len <= 4)
		return sm_fail(err, SM_ERR_INVALID, "%s: precompiled_charsmap is %zu bytes, too short", what, len);
	tsize = (uint32_t) blob[0] | (uint32_t) blob[1] << 8 | (uint32_t) blob[2] << 16 | (uint32_t) blob[3] << 24;
	if ((uint64_t) tsize + 4 > len || tsize % 4 != 0)
		return sm_fail(err, SM_ERR_INVALID, "%s: precompiled_charsmap's trie size %u does not fit its %zu bytes",
					   what, tsize, len);
	if (len - 4 - tsize > 0 && blob[len - 1] != '\0')
		return sm_fail(err, SM_ERR_INVALID, "%s: precompiled_charsmap's replacements do not end with a NUL byte", what);
	if ((c->data = sm_alloc(len)) == NULL)
		return sm_tok_nomem_load(err);
	memcpy(c->data, blob, len);
	c->len = len;
	c->darts = c->data + 4;
	c->ndarts = tsize / 4;
	c->repl = (const char *) c->data + 4 + tsize;
	c->repl_len = len - 4 - tsize;
	return SM_OK;
}

void
sm_tok_charsmap_free(sm_tok_charsmap *c)
{
	sm_free(c->data);
	memset(c, 0, sizeof(*c));
}

static inline uint32_t
darts_unit(const sm_tok_charsmap *c, size_t i)
{
	const uint8_t *p = c->darts + 4 * i;

	return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

/*
 * darts-clone's commonPrefixSearch over s[0, n): the prefixes of s that are
 * keys, shortest first.  Stops at the first (first) or after spm's 32
 * results (the last of them is the longest spm sees).  Returns the chosen
 * prefix's length and its replacement, or 0.
 */
static size_t
prefix_search(const sm_tok_charsmap *c, const uint8_t *s, size_t n, bool first,
			  const char **repl, size_t *repl_len)
{
	size_t		pos,
				best = 0;
	uint32_t	unit,
				best_val = 0;
	int			nres = 0;

	if (c->ndarts == 0)
		return 0;
	unit = darts_unit(c, 0);
	pos = (size_t) ((unit >> 10) << ((unit & (1u << 9)) >> 6));
	for (size_t i = 0; i < n; i++)
	{
		pos ^= s[i];
		if (pos >= c->ndarts)
			break;
		unit = darts_unit(c, pos);
		if ((unit & ((1u << 31) | 0xFF)) != s[i])
			break;
		pos ^= (size_t) ((unit >> 10) << ((unit & (1u << 9)) >> 6));
		if (pos >= c->ndarts)
			break;
		if ((unit >> 8) & 1)
		{
			if (nres < 32)
			{
				best = i + 1;
				best_val = darts_unit(c, pos) & 0x7FFFFFFFu;
			}
			nres++;
			if (first)
				break;
		}
	}
	if (best == 0 || best_val >= c->repl_len)
		return 0;
	*repl = c->repl + best_val;
	*repl_len = strlen(*repl);	/* the blob ends with a NUL (checked at load) */
	return best;
}

size_t
sm_tok_charsmap_longest(const sm_tok_charsmap *c, const uint8_t *s, size_t n, const char **repl,
						size_t *repl_len)
{
	return prefix_search(c, s, n, false, repl, repl_len);
}

size_t
sm_tok_charsmap_shortest(const sm_tok_charsmap *c, const uint8_t *s, size_t n, const char **repl,
						 size_t *repl_len)
{
	return prefix_search(c, s, n, true, repl, repl_len);
}

/* ---------------------------------------------------------------- base64 */

void
sm_tok_base64_encode(sm_buf *out, const uint8_t *p, size_t n)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	for (size_t i = 0; i < n; i += 3)
	{
		uint32_t	v = (uint32_t) p[i] << 16;
		char		q[4];

		if (i + 1 < n)
			v |= (uint32_t) p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		q[0] = tab[v >> 18];
		q[1] = tab[(v >> 12) & 63];
		q[2] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		q[3] = i + 2 < n ? tab[v & 63] : '=';
		sm_buf_append(out, q, 4);
	}
}

static int
b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* decode s into a new buffer; false on a bad character or length (out NULL) or no memory */
bool
sm_tok_base64_decode(const char *s, size_t n, uint8_t **out, size_t *outlen, bool *nomem)
{
	uint8_t    *o;
	size_t		k = 0;

	*out = NULL;
	*nomem = false;
	if (n % 4 != 0)
		return false;
	if ((o = sm_alloc(n / 4 * 3 + 1)) == NULL)
	{
		*nomem = true;
		return false;
	}
	for (size_t i = 0; i < n; i += 4)
	{
		int			a = b64val(s[i]),
					b = b64val(s[i + 1]),
					c = s[i + 2] == '=' && i + 4 == n ? -2 : b64val(s[i + 2]),
					d = s[i + 3] == '=' && i + 4 == n ? -2 : b64val(s[i + 3]);

		if (a < 0 || b < 0 || c == -1 || d == -1 || (c == -2 && d != -2))
		{
			sm_free(o);
			return false;
		}
		o[k++] = (uint8_t) (a << 2 | b >> 4);
		if (c >= 0)
			o[k++] = (uint8_t) ((b & 15) << 4 | c >> 2);
		if (d >= 0)
			o[k++] = (uint8_t) ((c & 3) << 6 | d);
	}
	*out = o;
	*outlen = k;
	return true;
}
