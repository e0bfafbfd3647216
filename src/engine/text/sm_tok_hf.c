/*
 * sm_tok_hf.c -- Hugging Face's generic tokenizer.json components
 * (tokenizers 0.23.2): the normalizers, pre-tokenizers and decoders that
 * SentencePiece-style files (T5, XLM-R, mBART, ALBERT, Llama...) use,
 * beside BERT's and GPT-2's own in sm_tok_wordpiece.c and sm_tok_bpe.c.
 *
 *   normalizers: Precompiled, Replace (String or Regex pattern), Strip,
 *     Lowercase, Prepend, and a Sequence of them;
 *   pre-tokenizers: Metaspace, WhitespaceSplit, and a Sequence of them;
 *   decoders: Metaspace, Replace, ByteFallback, Fuse, Strip, and a
 *     Sequence of them.
 *
 * Each follows HF's code where it is surprising, because real text meets
 * those corners:
 *   - Precompiled walks extended grapheme clusters: a cluster under 6 bytes
 *     with a key as its prefix becomes that key's replacement whole (the
 *     shortest key: "ａ" + U+0301 becomes "a", the accent is lost), any
 *     other cluster is replaced code point by code point;
 *   - Regex patterns are Oniguruma's (Ruby syntax: ^ and $ are line
 *     anchors), see sm_tok_regex.c;
 *   - Metaspace replaces U+0020 only, prepends its replacement unless the
 *     piece starts with it (prepend_scheme "first": only a piece that starts
 *     the text), and splits before each replacement; a legacy
 *     add_prefix_space false means "never";
 *   - the Metaspace decoder drops every replacement of the first token
 *     (not only a leading one) unless the scheme is "never";
 *   - ByteFallback turns a run of <0xXX> tokens into its UTF-8, or into one
 *     U+FFFD per byte when the run is not valid UTF-8.
 * HF's offsets are not kept; what of them decides a result (whether a
 * piece starts the original text, for "first") is tracked as one flag.
 */
#include "sm_tok_internal.h"

#include <stdio.h>
#include <string.h>

#include "sm_tok_regex.h"
#include "sm_unicode.h"

#define HF_MAX_NORM 16
#define HF_MAX_DEC 16

enum
{
	HF_PRECOMPILED,
	HF_REPLACE,
	HF_STRIP,
	HF_LOWERCASE,
	HF_PREPEND,
	HF_METASPACE,
	HF_WHITESPACE_SPLIT,
	HF_BYTE_FALLBACK,
	HF_FUSE
};

enum
{
	HF_PREPEND_ALWAYS,
	HF_PREPEND_FIRST,
	HF_PREPEND_NEVER
};

typedef struct hf_step
{
	int			kind;
	sm_tok_charsmap charsmap;	/* Precompiled */
	sm_tok_regex *re;			/* Replace with a Regex */
	char	   *pat;			/* Replace with a String */
	size_t		pat_len;
	char	   *str;			/* Replace's content, Prepend's prefix, Metaspace's and
								 * the Strip decoder's character */
	size_t		str_len;
	bool		left;			/* Strip normalizer */
	bool		right;
	int			start;			/* Strip decoder: characters to cut */
	int			stop;
	int			scheme;			/* Metaspace */
	bool		split;
} hf_step;

struct sm_tok_hf
{
	hf_step		norm[HF_MAX_NORM];
	int			nnorm;
	hf_step		pre[SM_TOK_HF_MAX_PRE];
	int			npre;
	hf_step		dec[HF_MAX_DEC];
	int			ndec;
};

/* ---------------------------------------------------------------- loading */

static sm_status
bad_member(sm_error *err, const char *where, const char *key, const char *want)
{
	return sm_fail(err, SM_ERR_INVALID, "tokenizer.json member \"%s.%s\" must be %s", where, key, want);
}

/* a string member (required), copied */
static sm_status
get_string(const sm_json *o, const char *where, const char *key, char **out, size_t *len, sm_error *err)
{
	const sm_json *v = sm_json_get(o, key);

	if (v == NULL || v->type != SM_JSON_STRING)
		return bad_member(err, where, key, "a string");
	if ((*out = sm_alloc(v->string_len + 1)) == NULL)
		return sm_tok_nomem_load(err);
	memcpy(*out, v->string, v->string_len + 1);
	*len = v->string_len;
	return SM_OK;
}

/* a string of exactly one character (HF's char members) */
static sm_status
get_char(const sm_json *o, const char *where, const char *key, char **out, size_t *len, sm_error *err)
{
	sm_status	rc = get_string(o, where, key, out, len, err);
	uint32_t	cp;

	if (rc != SM_OK)
		return rc;
	if (*len == 0 || (size_t) sm_utf8_decode((const uint8_t *) *out, *len, &cp) != *len || cp >= SM_UNI_BAD_BYTE)
		return bad_member(err, where, key, "a string of one character");
	return SM_OK;
}

static sm_status
get_bool(const sm_json *o, const char *where, const char *key, bool dflt, bool *out, sm_error *err)
{
	const sm_json *v = sm_json_get(o, key);

	*out = dflt;
	if (v == NULL || v->type == SM_JSON_NULL)
		return SM_OK;
	if (v->type != SM_JSON_BOOL)
		return bad_member(err, where, key, "a boolean");
	*out = v->boolean;
	return SM_OK;
}

/* Replace's {"String": s} or {"Regex": r} and its content */
static sm_status
load_replace(hf_step *st, const sm_json *o, const char *where, sm_error *err)
{
	const sm_json *p = sm_json_get(o, "pattern");
	const sm_json *v;
	sm_status	rc;

	st->kind = HF_REPLACE;
	if (p == NULL || p->type != SM_JSON_OBJECT || p->count != 1 ||
		(strcmp(p->keys[0], "String") != 0 && strcmp(p->keys[0], "Regex") != 0) ||
		(v = p->items[0])->type != SM_JSON_STRING)
		return bad_member(err, where, "pattern", "{\"String\": text} or {\"Regex\": pattern}");
	if (strcmp(p->keys[0], "Regex") == 0)
	{
		if ((rc = sm_tok_regex_compile(v->string, v->string_len, &st->re, err)) != SM_OK)
		{
			sm_hint(err, "The pattern is in tokenizer.json member \"%s.pattern\".", where);
			return rc;
		}
	}
	else
	{
		if ((st->pat = sm_alloc(v->string_len + 1)) == NULL)
			return sm_tok_nomem_load(err);
		memcpy(st->pat, v->string, v->string_len + 1);
		st->pat_len = v->string_len;
	}
	return get_string(o, where, "content", &st->str, &st->str_len, err);
}

static sm_status
load_metaspace(hf_step *st, const sm_json *o, const char *where, sm_error *err)
{
	const sm_json *ps = sm_json_get(o, "prepend_scheme");
	const sm_json *aps = sm_json_get(o, "add_prefix_space");
	sm_status	rc;

	st->kind = HF_METASPACE;
	if ((rc = get_char(o, where, "replacement", &st->str, &st->str_len, err)) != SM_OK ||
		(rc = get_bool(o, where, "split", true, &st->split, err)) != SM_OK)
		return rc;
	st->scheme = HF_PREPEND_ALWAYS;
	if (ps != NULL && ps->type != SM_JSON_NULL)
	{
		if (ps->type != SM_JSON_STRING ||
			(strcmp(ps->string, "always") != 0 && strcmp(ps->string, "first") != 0 && strcmp(ps->string, "never") != 0))
			return bad_member(err, where, "prepend_scheme", "\"always\", \"first\" or \"never\"");
		st->scheme = ps->string[0] == 'a' ? HF_PREPEND_ALWAYS : ps->string[0] == 'f' ? HF_PREPEND_FIRST : HF_PREPEND_NEVER;
	}
	/* the legacy member: false means never, and must agree with prepend_scheme */
	if (aps != NULL && aps->type != SM_JSON_NULL)
	{
		if (aps->type != SM_JSON_BOOL)
			return bad_member(err, where, "add_prefix_space", "a boolean");
		if (!aps->boolean)
		{
			if (ps != NULL && ps->type == SM_JSON_STRING && st->scheme != HF_PREPEND_NEVER)
				return sm_fail(err, SM_ERR_INVALID, "tokenizer.json member \"%s\" has add_prefix_space false but prepend_scheme \"%s\"",
							   where, ps->string);
			st->scheme = HF_PREPEND_NEVER;
		}
	}
	return SM_OK;
}

static sm_status
component(const sm_json *o, const char *where, const char **type, sm_error *err)
{
	const sm_json *ty;

	if (o->type != SM_JSON_OBJECT)
		return sm_fail(err, SM_ERR_INVALID, "tokenizer.json member \"%s\" must be an object, not %s",
					   where, sm_json_type_name(o->type));
	if ((ty = sm_json_get(o, "type")) == NULL || ty->type != SM_JSON_STRING)
		return bad_member(err, where, "type", "a string");
	*type = ty->string;
	return SM_OK;
}

static sm_status
unsupported(sm_error *err, const char *what, const char *where, const char *type, const char *supported)
{
	sm_fail(err, SM_ERR_UNSUPPORTED, "tokenizer.json %s type \"%s\" is not supported", what, type);
	if (strchr(where, '.') != NULL || strchr(where, '[') != NULL)
		sm_detail(err, "It is at member \"%s\". Supported %s types are %s.", where, what, supported);
	else
		sm_detail(err, "Supported %s types are %s.", what, supported);
	return err->code;
}

typedef sm_status (*add_fn) (struct sm_tok_hf *h, const sm_json *o, const char *where, int depth,
							  sm_error *err);

/* a Sequence component: each of its list's items added in order (what: "normalizer", ...) */
static sm_status
add_sequence(struct sm_tok_hf *h, const sm_json *o, const char *where, const char *key,
			 const char *what, int depth, add_fn add, sm_error *err)
{
	const sm_json *list = sm_json_get(o, key);
	sm_status	rc;

	if (list == NULL || list->type != SM_JSON_ARRAY)
		return bad_member(err, where, key, "an array");
	if (depth >= 4)
		return sm_fail(err, SM_ERR_UNSUPPORTED, "tokenizer.json %s Sequences nested more than 4 deep are not supported", what);
	for (size_t i = 0; i < list->count; i++)
	{
		char		w[96];

		snprintf(w, sizeof(w), "%s.%s[%zu]", where, key, i);
		if ((rc = add(h, list->items[i], w, depth + 1, err)) != SM_OK)
			return rc;
	}
	return SM_OK;
}

#define NORMALIZERS "BertNormalizer, Precompiled, Replace, Strip, Lowercase, Prepend and Sequence (or null)"
#define PRE_TOKENIZERS "ByteLevel, BertPreTokenizer, Metaspace, WhitespaceSplit and Sequence (or null)"
#define DECODERS "ByteLevel, WordPiece, Metaspace, Replace, ByteFallback, Fuse, Strip and Sequence (or null)"

static sm_status
add_normalizer(struct sm_tok_hf *h, const sm_json *o, const char *where, int depth, sm_error *err)
{
	const char *type;
	hf_step    *st;
	sm_status	rc;

	if ((rc = component(o, where, &type, err)) != SM_OK)
		return rc;
	if (strcmp(type, "Sequence") == 0)
		return add_sequence(h, o, where, "normalizers", "normalizer", depth, add_normalizer, err);
	if (h->nnorm == HF_MAX_NORM)
		return sm_fail(err, SM_ERR_UNSUPPORTED, "tokenizer.json normalizers of more than %d steps are not supported", HF_MAX_NORM);
	st = &h->norm[h->nnorm++];
	if (strcmp(type, "Precompiled") == 0)
	{
		const sm_json *v = sm_json_get(o, "precompiled_charsmap");
		uint8_t    *blob;
		size_t		blen;
		bool		nomem;
		char		what[128];

		st->kind = HF_PRECOMPILED;
		/* HF accepts an empty charsmap: it normalizes nothing */
		if (v != NULL && v->type == SM_JSON_STRING && v->string_len == 0)
			return SM_OK;
		if (v == NULL || v->type != SM_JSON_STRING ||
			!sm_tok_base64_decode(v->string, v->string_len, &blob, &blen, &nomem))
		{
			if (v != NULL && v->type == SM_JSON_STRING && nomem)
				return sm_tok_nomem_load(err);
			return bad_member(err, where, "precompiled_charsmap", "a base64 string");
		}
		snprintf(what, sizeof(what), "tokenizer.json member \"%s\"", where);
		rc = sm_tok_charsmap_init(&st->charsmap, blob, blen, what, err);
		sm_free(blob);
		return rc;
	}
	if (strcmp(type, "Replace") == 0)
		return load_replace(st, o, where, err);
	if (strcmp(type, "Strip") == 0)
	{
		st->kind = HF_STRIP;
		if ((rc = get_bool(o, where, "strip_left", true, &st->left, err)) != SM_OK)
			return rc;
		return get_bool(o, where, "strip_right", true, &st->right, err);
	}
	if (strcmp(type, "Lowercase") == 0)
	{
		st->kind = HF_LOWERCASE;
		return SM_OK;
	}
	if (strcmp(type, "Prepend") == 0)
	{
		st->kind = HF_PREPEND;
		return get_string(o, where, "prepend", &st->str, &st->str_len, err);
	}
	h->nnorm--;
	return unsupported(err, "normalizer", where, type, NORMALIZERS);
}

static sm_status
add_pre_tokenizer(struct sm_tok_hf *h, const sm_json *o, const char *where, int depth, sm_error *err)
{
	const char *type;
	hf_step    *st;
	sm_status	rc;

	if ((rc = component(o, where, &type, err)) != SM_OK)
		return rc;
	if (strcmp(type, "Sequence") == 0)
		return add_sequence(h, o, where, "pretokenizers", "pre_tokenizer", depth, add_pre_tokenizer, err);
	if (strcmp(type, "Metaspace") != 0 && strcmp(type, "WhitespaceSplit") != 0)
		return unsupported(err, "pre_tokenizer", where, type,
						   depth == 0 ? PRE_TOKENIZERS : "Metaspace and WhitespaceSplit inside a Sequence");
	if (h->npre == SM_TOK_HF_MAX_PRE)
		return sm_fail(err, SM_ERR_UNSUPPORTED, "tokenizer.json pre_tokenizers of more than %d steps are not supported",
					   SM_TOK_HF_MAX_PRE);
	st = &h->pre[h->npre++];
	if (strcmp(type, "WhitespaceSplit") == 0)
	{
		st->kind = HF_WHITESPACE_SPLIT;
		return SM_OK;
	}
	return load_metaspace(st, o, where, err);
}

static sm_status
add_decoder(struct sm_tok_hf *h, const sm_json *o, const char *where, int depth, sm_error *err)
{
	const char *type;
	hf_step    *st;
	sm_status	rc;

	if ((rc = component(o, where, &type, err)) != SM_OK)
		return rc;
	if (strcmp(type, "Sequence") == 0)
		return add_sequence(h, o, where, "decoders", "decoder", depth, add_decoder, err);
	if (h->ndec == HF_MAX_DEC)
		return sm_fail(err, SM_ERR_UNSUPPORTED, "tokenizer.json decoders of more than %d steps are not supported", HF_MAX_DEC);
	st = &h->dec[h->ndec++];
	if (strcmp(type, "Metaspace") == 0)
		return load_metaspace(st, o, where, err);
	if (strcmp(type, "Replace") == 0)
		return load_replace(st, o, where, err);
	if (strcmp(type, "ByteFallback") == 0)
	{
		st->kind = HF_BYTE_FALLBACK;
		return SM_OK;
	}
	if (strcmp(type, "Fuse") == 0)
	{
		st->kind = HF_FUSE;
		return SM_OK;
	}
	if (strcmp(type, "Strip") == 0)
	{
		const sm_json *a = sm_json_get(o, "start"),
				   *b = sm_json_get(o, "stop");

		st->kind = HF_STRIP;
		if ((rc = get_char(o, where, "content", &st->str, &st->str_len, err)) != SM_OK)
			return rc;
		if (a == NULL || a->type != SM_JSON_NUMBER || !a->is_integer || a->integer < 0 || a->integer > 1000000)
			return bad_member(err, where, "start", "a count of characters");
		if (b == NULL || b->type != SM_JSON_NUMBER || !b->is_integer || b->integer < 0 || b->integer > 1000000)
			return bad_member(err, where, "stop", "a count of characters");
		st->start = (int) a->integer;
		st->stop = (int) b->integer;
		return SM_OK;
	}
	h->ndec--;
	return unsupported(err, "decoder", where, type, depth == 0 ? DECODERS :
					   "Metaspace, Replace, ByteFallback, Fuse and Strip inside a Sequence");
}

sm_status
sm_tok_hf_load(sm_tokenizer *t, sm_tok_hf_part part, const sm_json *o, sm_error *err)
{
	static const add_fn add[] = {add_normalizer, add_pre_tokenizer, add_decoder};
	static const char *const member[] = {"normalizer", "pre_tokenizer", "decoder"};

	if (t->hf == NULL && (t->hf = sm_alloc0(sizeof(struct sm_tok_hf))) == NULL)
		return sm_tok_nomem_load(err);
	return add[part] (t->hf, o, member[part], 0, err);
}

static void
step_free(hf_step *st)
{
	sm_tok_charsmap_free(&st->charsmap);
	sm_tok_regex_free(st->re);
	sm_free(st->pat);
	sm_free(st->str);
}

void
sm_tok_hf_free(sm_tokenizer *t)
{
	struct sm_tok_hf *h = t->hf;

	if (h == NULL)
		return;
	for (int i = 0; i < h->nnorm; i++)
		step_free(&h->norm[i]);
	for (int i = 0; i < h->npre; i++)
		step_free(&h->pre[i]);
	for (int i = 0; i < h->ndec; i++)
		step_free(&h->dec[i]);
	sm_free(h);
	t->hf = NULL;
}

bool
sm_tok_hf_has_normalizer(const sm_tokenizer *t)
{
	return t->hf != NULL && t->hf->nnorm > 0;
}

bool
sm_tok_hf_has_pre_tokenizer(const sm_tokenizer *t)
{
	return t->hf != NULL && t->hf->npre > 0;
}

bool
sm_tok_hf_has_decoder(const sm_tokenizer *t)
{
	return t->hf != NULL && t->hf->ndec > 0;
}

/* ---------------------------------------------------------------- normalizing */

static void
precompiled(const hf_step *st, const uint8_t *s, size_t n, sm_buf *out)
{
	const char *r;
	size_t		rl;

	if (st->charsmap.data == NULL)
	{
		sm_buf_append(out, s, n);
		return;
	}
	for (size_t i = 0; i < n;)
	{
		size_t		g = sm_uni_grapheme_end(s, n, i);

		if (g - i < 6 && sm_tok_charsmap_shortest(&st->charsmap, s + i, g - i, &r, &rl) > 0)
			sm_buf_append(out, r, rl);
		else
			for (size_t j = i; j < g;)
			{
				size_t		cl = sm_tok_char_len(s + j, g - j);

				if (sm_tok_charsmap_shortest(&st->charsmap, s + j, cl, &r, &rl) > 0)
					sm_buf_append(out, r, rl);
				else
					sm_buf_append(out, s + j, cl);
				j += cl;
			}
		i = g;
	}
}

/* the next occurrence of pat in s[from, n) (HF's &str pattern; an empty one matches nothing) */
static bool
find_string(const hf_step *st, const uint8_t *s, size_t n, size_t from, size_t *ms, size_t *me)
{
	if (st->pat_len == 0)
		return false;
	for (size_t i = from; i + st->pat_len <= n; i++)
		if (s[i] == (uint8_t) st->pat[0] && memcmp(s + i, st->pat, st->pat_len) == 0)
		{
			*ms = i;
			*me = i + st->pat_len;
			return true;
		}
	return false;
}

static size_t
count_chars(const uint8_t *s, size_t n)
{
	size_t		c = 0;

	for (size_t i = 0; i < n; c++)
		i += sm_tok_char_len(s + i, n - i);
	return c;
}

/*
 * Replace, normalizer or decoder.  Returns the characters the first match
 * removes when it starts at 0, else -1: HF gives the content of a match
 * the alignment of the last character it removes (of none: offset 0), so
 * this says whether the text still starts at the original's offset 0.
 */
static long
replace(const hf_step *st, const uint8_t *s, size_t n, sm_buf *out)
{
	size_t		pos = 0,
				ms,
				me;
	long		at0 = -1;

	if (st->re != NULL)
	{
		if (sm_tok_regex_search(st->re, s, n, 0, &ms, &me) && ms == 0)
			at0 = (long) count_chars(s, me);
		if (!sm_tok_regex_replace(st->re, s, n, st->str, st->str_len, out))
			out->failed = true;
		return at0;
	}
	while (find_string(st, s, n, pos, &ms, &me))
	{
		if (ms == 0)
			at0 = (long) count_chars(s, me);
		sm_buf_append(out, s + pos, ms - pos);
		sm_buf_append(out, st->str, st->str_len);
		pos = me;
	}
	sm_buf_append(out, s + pos, n - pos);
	return at0;
}

static size_t
ws_prefix(const uint8_t *s, size_t n)
{
	size_t		i = 0;

	while (i < n)
	{
		uint32_t	cp;
		int			l = sm_utf8_decode(s + i, n - i, &cp);

		if (!(sm_uni_flags(cp) & SM_UNI_WS))
			break;
		i += (size_t) l;
	}
	return i;
}

/* the start of the trailing whitespace of s[0, n) */
static size_t
ws_suffix_start(const uint8_t *s, size_t n)
{
	size_t		end = n;

	while (end > 0)
	{
		size_t		p = end - 1;
		uint32_t	cp;

		while (p > 0 && (s[p] & 0xC0) == 0x80 && end - p < 4)
			p--;
		if ((size_t) sm_utf8_decode(s + p, end - p, &cp) != end - p || !(sm_uni_flags(cp) & SM_UNI_WS))
			break;
		end = p;
	}
	return end;
}

static void
lowercase(const uint8_t *s, size_t n, sm_buf *out)
{
	for (size_t i = 0; i < n;)
	{
		uint32_t	cp,
					low[3];
		int			l = sm_utf8_decode(s + i, n - i, &cp);
		int			k;

		if (cp < 0x80)
		{
			char		c = (char) (cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);

			sm_buf_append(out, &c, 1);
		}
		else if (cp >= SM_UNI_BAD_BYTE || (k = sm_uni_lower(cp, low)) == 0)
			sm_buf_append(out, s + i, (size_t) l);
		else
			for (int j = 0; j < k; j++)
			{
				uint8_t		u[4];

				sm_buf_append(out, u, (size_t) sm_utf8_encode(low[j], u));
			}
		i += (size_t) l;
	}
}

bool
sm_tok_hf_normalize(const sm_tokenizer *t, const uint8_t *s, size_t len, sm_tok_scratch *sc,
					const uint8_t **out, size_t *out_len, bool *at_origin)
{
	const struct sm_tok_hf *h = t->hf;
	const uint8_t *cur = s;
	size_t		n = len;

	for (int i = 0; i < h->nnorm; i++)
	{
		const hf_step *st = &h->norm[i];
		sm_buf	   *dst = &sc->hf[i & 1];

		dst->len = 0;
		switch (st->kind)
		{
			case HF_PRECOMPILED:
				precompiled(st, cur, n, dst);
				break;
			case HF_REPLACE:
				{
					long		removed = replace(st, cur, n, dst);

					if (removed == 0 && st->str_len > 0)
						*at_origin = true;
					else if (removed > 1 || (removed == 1 && st->str_len == 0))
						*at_origin = false;
				}
				break;
			case HF_STRIP:
				{
					size_t		a = st->left ? ws_prefix(cur, n) : 0;
					size_t		b = st->right ? ws_suffix_start(cur, n) : n;

					if (b < a)
						b = a;
					if (a > 0)
						*at_origin = false;
					sm_buf_append(dst, cur + a, b - a);
				}
				break;
			case HF_LOWERCASE:
				lowercase(cur, n, dst);
				break;
			case HF_PREPEND:
				/* the prefix takes the first character's alignment */
				if (n > 0)
					sm_buf_append(dst, st->str, st->str_len);
				sm_buf_append(dst, cur, n);
				break;
		}
		/* a NUL after the text, so that an empty result has a buffer too */
		sm_buf_append(dst, "", 0);
		if (dst->failed)
			return false;
		cur = (const uint8_t *) dst->data;
		n = dst->len;
	}
	*out = cur;
	*out_len = n;
	return true;
}

/* ---------------------------------------------------------------- pre-tokenizing */

static sm_status pre_step(const sm_tokenizer *t, int k, const uint8_t *s, size_t len, bool at_origin,
						  sm_tok_scratch *sc, sm_tok_ids *e, int32_t type_id, sm_error *err);

static sm_status
metaspace(const sm_tokenizer *t, int k, const hf_step *st, const uint8_t *s, size_t len, bool at_origin,
		  sm_tok_scratch *sc, sm_tok_ids *e, int32_t type_id, sm_error *err)
{
	sm_buf	   *b = &sc->hf[2 + k];
	const uint8_t *p;
	size_t		n,
				from = 0;
	sm_status	rc;
	bool		starts;

	b->len = 0;
	starts = len >= st->str_len && memcmp(s, st->str, st->str_len) == 0;
	if (!starts && len > 0 && s[0] == ' ')
		starts = true;			/* the space becomes the replacement */
	if (!starts && (st->scheme == HF_PREPEND_ALWAYS || (st->scheme == HF_PREPEND_FIRST && at_origin)))
		sm_buf_append(b, st->str, st->str_len);
	for (size_t i = 0; i < len; i++)
		if (s[i] == ' ')
			sm_buf_append(b, st->str, st->str_len);
		else
			sm_buf_append(b, s + i, 1);
	if (b->failed)
		return sm_tok_nomem(err);
	p = (const uint8_t *) b->data;
	n = b->len;
	if (!st->split)
		return pre_step(t, k + 1, p, n, at_origin, sc, e, type_id, err);
	/* split before each replacement (HF's MergedWithNext) */
	for (size_t i = st->str_len; i + st->str_len <= n; i++)
		if (p[i] == (uint8_t) st->str[0] && memcmp(p + i, st->str, st->str_len) == 0)
		{
			if ((rc = pre_step(t, k + 1, p + from, i - from, at_origin && from == 0, sc, e, type_id, err)) != SM_OK)
				return rc;
			from = i;
			i += st->str_len - 1;
		}
	return pre_step(t, k + 1, p + from, n - from, at_origin && from == 0, sc, e, type_id, err);
}

static sm_status
whitespace_split(const sm_tokenizer *t, int k, const uint8_t *s, size_t len, bool at_origin,
				 sm_tok_scratch *sc, sm_tok_ids *e, int32_t type_id, sm_error *err)
{
	size_t		i = 0;
	sm_status	rc;

	while (i < len)
	{
		size_t		w = i + ws_prefix(s + i, len - i);
		size_t		end = w;

		while (end < len)
		{
			uint32_t	cp;
			int			l = sm_utf8_decode(s + end, len - end, &cp);

			if (sm_uni_flags(cp) & SM_UNI_WS)
				break;
			end += (size_t) l;
		}
		if (end > w && (rc = pre_step(t, k + 1, s + w, end - w, at_origin && w == 0, sc, e, type_id, err)) != SM_OK)
			return rc;
		i = end;
	}
	return SM_OK;
}

static sm_status
pre_step(const sm_tokenizer *t, int k, const uint8_t *s, size_t len, bool at_origin,
		 sm_tok_scratch *sc, sm_tok_ids *e, int32_t type_id, sm_error *err)
{
	const hf_step *st;

	if (len == 0)				/* HF drops empty splits */
		return SM_OK;
	if (t->hf == NULL || k == t->hf->npre)
		return sm_tok_model_word(t, s, len, sc, e, type_id, err);
	st = &t->hf->pre[k];
	if (st->kind == HF_WHITESPACE_SPLIT)
		return whitespace_split(t, k, s, len, at_origin, sc, e, type_id, err);
	return metaspace(t, k, st, s, len, at_origin, sc, e, type_id, err);
}

sm_status
sm_tok_hf_segment(const sm_tokenizer *t, const uint8_t *s, size_t len, bool at_origin,
				  sm_tok_scratch *sc, sm_tok_ids *e, int32_t type_id, sm_error *err)
{
	return pre_step(t, 0, s, len, at_origin, sc, e, type_id, err);
}

/* ---------------------------------------------------------------- decoding */

/* a list of tokens: token i is buf[off[i], off[i] + len[i]) */
typedef struct tok_list
{
	sm_buf		buf;
	size_t	   *off;
	size_t	   *len;
	int			n;
} tok_list;

static void
list_push(tok_list *l, const void *s, size_t n)
{
	l->off[l->n] = l->buf.len;
	sm_buf_append(&l->buf, s, n);
	l->len[l->n++] = n;
}

static int
hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
		return (c | 0x20) - 'a' + 10;
	return -1;
}

/* the byte of a "<0xXX>" token, or -1: HF's u8::from_str_radix(XX, 16), which takes either
 * case and a '+' sign */
static int
fallback_byte(const char *s, size_t n)
{
	int			a,
				b;

	if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>')
		return -1;
	b = hex_digit(s[4]);
	if (s[3] == '+')
		return b;
	a = hex_digit(s[3]);
	return a < 0 || b < 0 ? -1 : a * 16 + b;
}

static bool
valid_utf8(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n;)
	{
		uint32_t	cp;
		int			l = sm_utf8_decode(s + i, n - i, &cp);

		if (cp >= SM_UNI_BAD_BYTE)
			return false;
		i += (size_t) l;
	}
	return true;
}

static void
dec_step(const hf_step *st, const tok_list *in, tok_list *out)
{
	switch (st->kind)
	{
		case HF_METASPACE:
			for (int i = 0; i < in->n; i++)
			{
				const char *s = in->buf.data + in->off[i];
				size_t		n = in->len[i],
							from = 0;

				out->off[out->n] = out->buf.len;
				for (size_t j = 0; j + st->str_len <= n;)
					if (memcmp(s + j, st->str, st->str_len) == 0)
					{
						sm_buf_append(&out->buf, s + from, j - from);
						if (i > 0 || st->scheme == HF_PREPEND_NEVER)
							sm_buf_append(&out->buf, " ", 1);
						j += st->str_len;
						from = j;
					}
					else
						j++;
				sm_buf_append(&out->buf, s + from, n - from);
				out->len[out->n] = out->buf.len - out->off[out->n];
				out->n++;
			}
			break;
		case HF_REPLACE:
			for (int i = 0; i < in->n; i++)
			{
				out->off[out->n] = out->buf.len;
				replace(st, (const uint8_t *) in->buf.data + in->off[i], in->len[i], &out->buf);
				out->len[out->n] = out->buf.len - out->off[out->n];
				out->n++;
			}
			break;
		case HF_BYTE_FALLBACK:
			for (int i = 0; i < in->n;)
			{
				int			j = i;
				size_t		start = out->buf.len;

				while (j < in->n && fallback_byte(in->buf.data + in->off[j], in->len[j]) >= 0)
					j++;
				if (j == i)
				{
					list_push(out, in->buf.data + in->off[i], in->len[i]);
					i++;
					continue;
				}
				/* the run's bytes, as one token when they are UTF-8, else one U+FFFD each */
				for (int k = i; k < j; k++)
				{
					uint8_t		b = (uint8_t) fallback_byte(in->buf.data + in->off[k], in->len[k]);

					sm_buf_append(&out->buf, &b, 1);
				}
				if (!out->buf.failed && valid_utf8((const uint8_t *) out->buf.data + start, out->buf.len - start))
				{
					out->off[out->n] = start;
					out->len[out->n++] = out->buf.len - start;
				}
				else
				{
					out->buf.len = start;
					for (int k = i; k < j; k++)
						list_push(out, "\xEF\xBF\xBD", 3);
				}
				i = j;
			}
			break;
		case HF_FUSE:
			out->off[0] = 0;
			for (int i = 0; i < in->n; i++)
				sm_buf_append(&out->buf, in->buf.data + in->off[i], in->len[i]);
			out->len[0] = out->buf.len;
			out->n = 1;
			break;
		case HF_STRIP:
			for (int i = 0; i < in->n; i++)
			{
				const char *s = in->buf.data + in->off[i];
				size_t		a = 0,
							b = in->len[i];

				for (int k = 0; k < st->start && a + st->str_len <= b && memcmp(s + a, st->str, st->str_len) == 0; k++)
					a += st->str_len;
				for (int k = 0; k < st->stop && b >= a + st->str_len &&
					 memcmp(s + b - st->str_len, st->str, st->str_len) == 0; k++)
					b -= st->str_len;
				list_push(out, s + a, b - a);
			}
			break;
	}
}

void
sm_tok_hf_decode(const sm_tokenizer *t, const int32_t *ids, int n, bool skip_special, sm_buf *out)
{
	const struct sm_tok_hf *h = t->hf;
	tok_list	l[2];
	int			cur = 0;

	for (int k = 0; k < 2; k++)
	{
		sm_buf_init(&l[k].buf);
		l[k].off = sm_alloc_array((size_t) n + 1, sizeof(size_t));
		l[k].len = sm_alloc_array((size_t) n + 1, sizeof(size_t));
		l[k].n = 0;
	}
	if (l[0].off == NULL || l[0].len == NULL || l[1].off == NULL || l[1].len == NULL)
	{
		out->failed = true;
		goto done;
	}
	for (int k = 0; k < n; k++)
	{
		if (skip_special && (t->id_flags[ids[k]] & SM_TOK_ID_SPECIAL))
			continue;
		list_push(&l[0], t->pool + t->id_off[ids[k]], t->id_len[ids[k]]);
	}
	for (int i = 0; i < h->ndec; i++)
	{
		tok_list   *in = &l[cur],
				   *o = &l[1 - cur];

		o->buf.len = 0;
		o->n = 0;
		if (in->n == 0)
			break;
		dec_step(&h->dec[i], in, o);
		if (o->buf.failed)
		{
			out->failed = true;
			goto done;
		}
		cur = 1 - cur;
	}
	for (int i = 0; i < l[cur].n; i++)
		sm_buf_append(out, l[cur].buf.data + l[cur].off[i], l[cur].len[i]);
done:
	for (int k = 0; k < 2; k++)
	{
		sm_buf_free(&l[k].buf);
		sm_free(l[k].off);
		sm_free(l[k].len);
	}
}
