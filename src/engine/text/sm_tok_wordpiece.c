/*
 * sm_tok_wordpiece.c -- BERT's tokenizer as Hugging Face's tokenizers runs
 * it: BertNormalizer, BertPreTokenizer, the WordPiece model and the
 * WordPiece decoder.
 *
 * BertNormalizer, in HF's order (normalizers/bert.rs):
 *   1. clean_text: drop NUL, U+FFFD and control/format/private-use
 *      characters (but \t \n \r), every whitespace character becomes ' ';
 *   2. handle_chinese_chars: ' ' c ' ' around each CJK ideograph;
 *   3. strip_accents (null: as lowercase): NFD of the whole text, then every
 *      nonspacing mark (Mn) dropped;
 *   4. lowercase: Rust's char::to_lowercase, one character at a time (so no
 *      final sigma rule).
 * Which Unicode version each step follows is in gen_unicode_tables.py.  An
 * invalid UTF-8 byte counts as U+FFFD (dropped by clean_text).
 *
 * BertPreTokenizer splits on whitespace (dropped) and punctuation (each
 * character its own word).  WordPiece takes the longest vocabulary prefix of
 * the word, then of the rest with "##" in front, and so on; a word longer
 * than max_input_chars_per_word code points, or with a rest nothing
 * matches, is [UNK] as a whole.
 */
#include "sm_tok_internal.h"

#include <string.h>

#include "sm_unicode.h"

/* ---------------------------------------------------------------- loading */

sm_status
sm_tok_wordpiece_load(sm_tokenizer *t, const sm_json *model, sm_error *err)
{
	const sm_json *v;
	const char *prefix = "##";
	size_t		prefix_len = 2;
	uint32_t	off;

	t->unk_id = -1;
	t->wp_max_chars = 100;
	v = sm_json_get(model, "unk_token");
	if (v != NULL && v->type != SM_JSON_STRING)
		return sm_fail(err, SM_ERR_INVALID, "tokenizer.json member \"model.unk_token\" must be a string, not %s",
					   sm_json_type_name(v->type));
	t->unk_id = sm_tok_vocab_id(t, v != NULL ? v->string : "[UNK]", v != NULL ? v->string_len : 5);
	if (t->unk_id < 0)
		return sm_fail(err, SM_ERR_INVALID, "tokenizer.json unk_token \"%s\" is not in the vocabulary",
					   v != NULL ? v->string : "[UNK]");
	if ((v = sm_json_get(model, "continuing_subword_prefix")) != NULL)
	{
		if (v->type != SM_JSON_STRING)
			return sm_fail(err, SM_ERR_INVALID, "tokenizer.json member \"model.continuing_subword_prefix\" must be a string, not %s",
						   sm_json_type_name(v->type));
		prefix = v->string;
		prefix_len = v->string_len;
	}
	if ((v = sm_json_get(model, "max_input_chars_per_word")) != NULL)
	{
		if (v->type != SM_JSON_NUMBER || !v->is_integer || v->integer < 0)
			return sm_fail(err, SM_ERR_INVALID, "tokenizer.json member \"model.max_input_chars_per_word\" must be an integer >= 0");
		t->wp_max_chars = v->integer > INT32_MAX ? INT32_MAX : (int) v->integer;
	}
	if (prefix_len > 64)
		return sm_fail(err, SM_ERR_UNSUPPORTED, "tokenizer.json continuing_subword_prefix longer than 64 bytes is not supported");
	if ((off = sm_tok_pool_add(t, prefix, prefix_len)) == UINT32_MAX)
		return sm_fail(err, SM_ERR_NOMEM, "out of memory loading a tokenizer");
	t->wp_prefix_off = off;
	t->wp_prefix_len = (int) prefix_len;
	return SM_OK;
}

/* ---------------------------------------------------------------- BertNormalizer */

/* canonical ordering: stable sort of each run of non-starters by class */
static void
canonical_order(uint32_t *cps, size_t n)
{
	size_t		i = 0;

	while (i < n)
	{
		size_t		j;

		if (sm_uni_ccc(cps[i]) == 0)
		{
			i++;
			continue;
		}
		j = i;
		while (j < n && sm_uni_ccc(cps[j]) != 0)
			j++;
		/* insertion sort of [i, j): runs are short */
		for (size_t a = i + 1; a < j; a++)
		{
			uint32_t	c = cps[a];
			uint8_t		cc = sm_uni_ccc(c);
			size_t		b = a;

			while (b > i && sm_uni_ccc(cps[b - 1]) > cc)
			{
				cps[b] = cps[b - 1];
				b--;
			}
			cps[b] = c;
		}
		i = j;
	}
}

long
sm_tok_bert_normalize(const sm_tokenizer *t, const uint8_t *s, size_t len, sm_tok_scratch *sc)
{
	size_t		n = 0;
	size_t		o = 0;
	bool		reorder = false;
	size_t		i = 0;

	/* ASCII text (the common case) in one pass: nothing decomposes or is CJK */
	while (i < len && s[i] < 0x80)
		i++;
	if (i == len)
	{
		if (!sm_tok_scratch_norm(sc, len + 1))
			return -1;
		for (i = 0; i < len; i++)
		{
			uint8_t		c = s[i];
			uint8_t		f = sm_uni_block[0][c];

			if (t->clean_text)
			{
				if (f & SM_UNI_CTRL)
					continue;
				if (f & SM_UNI_WS)
					c = ' ';
			}
			sc->norm[o++] = (t->lowercase && c >= 'A' && c <= 'Z') ? c + 32 : c;
		}
		return (long) o;
	}
	i = 0;

	/* 1-3: clean, CJK, decompose, into code points (at most 4 per byte) */
	if (!sm_tok_scratch_cps(sc, 4 * len + 8))
		return -1;
	while (i < len)
	{
		uint32_t	cp;
		uint8_t		f;

		if (s[i] < 0x80)
		{
			cp = s[i++];
			f = sm_uni_block[0][cp];
		}
		else
		{
			i += (size_t) sm_utf8_decode(s + i, len - i, &cp);
			if (cp >= SM_UNI_BAD_BYTE)
				cp = 0xFFFD;
			f = sm_uni_flags(cp);
		}
		if (t->clean_text)
		{
			if (f & SM_UNI_CTRL)
				continue;
			if (f & SM_UNI_WS)
			{
				cp = ' ';
				f = 0;
			}
		}
		if (t->handle_chinese && (f & SM_UNI_CJK))
		{
			sc->cps[n++] = ' ';
			/* compatibility ideographs (U+F900...) decompose */
			if (t->strip_accents && (f & SM_UNI_MAP))
				n += (size_t) sm_uni_decompose(cp, sc->cps + n);
			else
				sc->cps[n++] = cp;
			sc->cps[n++] = ' ';
			continue;
		}
		if (t->strip_accents && ((f & SM_UNI_MAP) || (cp >= 0xAC00 && cp <= 0xD7A3)))
		{
			int			k = sm_uni_decompose(cp, sc->cps + n);

			for (int j = 0; j < k; j++)
				if (!reorder && sm_uni_ccc(sc->cps[n + j]) != 0)
					reorder = true;
			n += (size_t) k;
			continue;
		}
		sc->cps[n++] = cp;
	}
	if (reorder)
		canonical_order(sc->cps, n);

	/* 3-4: drop marks, lower-case, to UTF-8 (a code point: at most 3 x 4 bytes) */
	if (!sm_tok_scratch_norm(sc, 4 * n + 16))
		return -1;
	for (size_t k = 0; k < n; k++)
	{
		uint32_t	cp = sc->cps[k];
		uint32_t	lo[3];
		int			nl;

		if (cp < 0x80)
		{
			sc->norm[o++] = (uint8_t) ((t->lowercase && cp >= 'A' && cp <= 'Z') ? cp + 32 : cp);
			continue;
		}
		if (t->strip_accents && (sm_uni_flags(cp) & SM_UNI_MN))
			continue;
		if (t->lowercase)
			nl = sm_uni_lower(cp, lo);
		else
		{
			lo[0] = cp;
			nl = 1;
		}
		if (o + 12 + 4 * (n - k) > sc->norm_cap && !sm_tok_scratch_norm(sc, o + 12 + 4 * (n - k)))
			return -1;
		for (int j = 0; j < nl; j++)
			o += (size_t) sm_utf8_encode(lo[j], sc->norm + o);
	}
	return (long) o;
}

/* ---------------------------------------------------------------- BertPreTokenizer */

sm_status
sm_tok_bert_segment(const sm_tokenizer *t, const uint8_t *s, size_t len, sm_tok_scratch *sc,
					sm_tok_ids *e, int32_t type_id, sm_error *err)
{
	size_t		i = 0;
	size_t		start = 0;
	sm_status	rc;

	while (i < len)
	{
		uint32_t	cp;
		int			l;
		uint8_t		f;

		if (s[i] < 0x80)
		{
			l = 1;
			f = sm_uni_block[0][s[i]];
		}
		else
		{
			l = sm_utf8_decode(s + i, len - i, &cp);
			f = sm_uni_flags(cp);
		}
		if (f & (SM_UNI_WS | SM_UNI_PUNCT))
		{
			if (i > start && (rc = sm_tok_model_word(t, s + start, i - start, sc, e, type_id, err)) != SM_OK)
				return rc;
			if ((f & SM_UNI_PUNCT) &&
				(rc = sm_tok_model_word(t, s + i, (size_t) l, sc, e, type_id, err)) != SM_OK)
				return rc;
			start = i + (size_t) l;
		}
		i += (size_t) l;
	}
	if (len > start)
		return sm_tok_model_word(t, s + start, len - start, sc, e, type_id, err);
	return SM_OK;
}

/* ---------------------------------------------------------------- WordPiece */

/* code points of s[0, len), an invalid byte counting as one */
static int
count_chars(const uint8_t *s, size_t len)
{
	int			n = 0;

	for (size_t k = 0; k < len; n++)
		k += (s[k] < 0x80) ? 1 : (size_t) sm_utf8_decode(s + k, len - k, &(uint32_t) {0});
	return n;
}

sm_status
sm_tok_wordpiece_word(const sm_tokenizer *t, const uint8_t *s, size_t len, sm_tok_scratch *sc,
					  sm_tok_ids *e, int32_t type_id, sm_error *err)
{
	int32_t    *pos;
	int			nchars = 0;
	size_t		plen = (size_t) t->wp_prefix_len;
	uint8_t    *buf;
	int			start = 0;
	int			first = e->n;
	sm_status	rc;

	if ((rc = sm_tok_poll(sc, err)) != SM_OK)
		return rc;
	if (len == 0)
		return SM_OK;
	/* the whole word first: most words of real text are one token */
	if (len <= (size_t) t->wp_max_chars || count_chars(s, len) <= t->wp_max_chars)
	{
		int32_t		id = sm_tok_vocab_id(t, s, len);

		if (id >= 0)
			return sm_tok_ids_push(e, id, type_id) ? SM_OK : sm_tok_nomem(err);
	}
	/* character boundaries: pos[0..nchars] */
	if (!sm_tok_scratch_sym(sc, len + 1) || !sm_tok_scratch_word(sc, plen + len))
		return sm_tok_nomem(err);
	pos = sc->sym;
	for (size_t k = 0; k < len;)
	{
		pos[nchars++] = (int32_t) k;
		k += (s[k] < 0x80) ? 1 : (size_t) sm_utf8_decode(s + k, len - k, &(uint32_t) {0});
	}
	pos[nchars] = (int32_t) len;
	if (nchars > t->wp_max_chars)
		return sm_tok_ids_push(e, t->unk_id, type_id) ? SM_OK : sm_tok_nomem(err);

	/*
	 * Greedy longest match; the first try is the whole word, the usual hit.
	 * buf = prefix + word; the piece [a, b) of the word with the prefix in
	 * front is buf[pos[a], plen + pos[b]) once the prefix is copied to
	 * buf + pos[a] (over bytes already consumed).
	 */
	buf = sc->word;
	memcpy(buf + plen, s, len);
	while (start < nchars)
	{
		/* the whole word was tried above (when not too long) */
		int			end = start == 0 ? nchars - 1 : nchars;
		int32_t		id = -1;

		if (start > 0)
			memcpy(buf + pos[start], t->pool + t->wp_prefix_off, plen);
		while (end > start)
		{
			const uint8_t *p = start > 0 ? buf + pos[start] : s;
			size_t		plen_here = start > 0 ? plen : 0;

			id = sm_tok_vocab_id(t, p, plen_here + (size_t) (pos[end] - pos[start]));
			if (id >= 0)
				break;
			end--;
		}
		if (id < 0)
		{
			/* no piece matches: the whole word is [UNK] */
			e->n = first;
			return sm_tok_ids_push(e, t->unk_id, type_id) ? SM_OK : sm_tok_nomem(err);
		}
		if (!sm_tok_ids_push(e, id, type_id))
			return sm_tok_nomem(err);
		start = end;
	}
	return SM_OK;
}

/* ---------------------------------------------------------------- decoder */

/* HF's decoders/wordpiece.rs cleanup, applied to each token in this order */
static const struct
{
	const char *from;
	const char *to;
}			cleanup_rules[] =
{
	{" .", "."},
	{" ?", "?"},
	{" !", "!"},
	{" ,", ","},
	{" ' ", "'"},
	{" n't", "n't"},
	{" 'm", "'m"},
	{" do not", " don't"},
	{" 's", "'s"},
	{" 've", "'ve"},
	{" 're", "'re"},
};

/* replace every `from` in buf by `to`, left to right (Rust's str::replace) */
static void
replace_all(sm_buf *buf, const char *from, const char *to, sm_buf *tmp)
{
	size_t		fl = strlen(from);
	size_t		tl = strlen(to);
	size_t		i = 0;
	size_t		run = 0;

	if (buf->len < fl)
		return;
	while (i + fl <= buf->len && memcmp(buf->data + i, from, fl) != 0)
		i++;
	if (i + fl > buf->len)
		return;
	run = 0;
	tmp->len = 0;
	while (i + fl <= buf->len)
	{
		if (memcmp(buf->data + i, from, fl) == 0)
		{
			sm_buf_append(tmp, buf->data + run, i - run);
			sm_buf_append(tmp, to, tl);
			i += fl;
			run = i;
		}
		else
			i++;
	}
	sm_buf_append(tmp, buf->data + run, buf->len - run);
	buf->len = 0;
	sm_buf_append(buf, tmp->data, tmp->len);
}

void
sm_tok_wordpiece_decode(const sm_tokenizer *t, const int32_t *ids, int n, bool skip_special,
						sm_buf *out)
{
	sm_buf		tok,
				tmp;
	int			emitted = 0;
	size_t		plen = (size_t) t->dec_prefix_len;

	sm_buf_init(&tok);
	sm_buf_init(&tmp);
	for (int k = 0; k < n; k++)
	{
		int32_t		id = ids[k];
		const char *s = t->pool + t->id_off[id];
		size_t		len = t->id_len[id];

		if (skip_special && (t->id_flags[id] & SM_TOK_ID_SPECIAL))
			continue;
		tok.len = 0;
		if (emitted > 0)
		{
			if (len >= plen && memcmp(s, t->pool + t->dec_prefix_off, plen) == 0)
			{
				s += plen;
				len -= plen;
			}
			else
				sm_buf_append(&tok, " ", 1);
		}
		sm_buf_append(&tok, s, len);
		if (t->dec_cleanup && !tok.failed)
			for (size_t r = 0; r < sizeof(cleanup_rules) / sizeof(cleanup_rules[0]); r++)
				replace_all(&tok, cleanup_rules[r].from, cleanup_rules[r].to, &tmp);
		if (tok.failed || tmp.failed)
			out->failed = true;
		else
			sm_buf_append(out, tok.data, tok.len);
		emitted++;
	}
	sm_buf_free(&tok);
	sm_buf_free(&tmp);
}
