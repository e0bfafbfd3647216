/*
 * sm_tok_unigram.c -- Hugging Face's Unigram model (tokenizers 0.23.2,
 * models/unigram/model.rs), for a tokenizer.json that does not come from
 * seqmodel's SentencePiece import: T5, XLM-R, mBART, ALBERT and other
 * files converted by transformers' SpmConverter.  It differs from
 * sentencepiece's own unigram (sm_tok_spm.c) in ways real text meets,
 * so it is a model of its own, exact against HF:
 *   - every vocabulary entry is a candidate piece, control and byte pieces
 *     included (HF's trie holds them all); a string given twice keeps its
 *     last id;
 *   - scores are doubles as parsed from the JSON, path scores double sums,
 *     and a candidate replaces a path only when strictly better (the
 *     earlier start, then the shorter piece, wins a tie);
 *   - a character no piece of its own length covers is <unk> with
 *     min_score - 10 (min over all entries), runs of <unk> are fused into
 *     one piece, which byte_fallback then spells as <0xXX> pieces (when the
 *     vocabulary has all of them) or which becomes unk_id;
 *   - without unk_id a character the vocabulary lacks is an error, as in
 *     HF (even with byte_fallback).
 * The normalizer and pre-tokenizer (Precompiled, Metaspace, ...) are the
 * generic ones of sm_tok_hf.c.
 */
#include "sm_tok_internal.h"

#include <stdio.h>
#include <string.h>

#include "core/sm_utf8.h"

#define UNK_PENALTY 10.0		/* model.rs K_UNK_PENALTY */

struct sm_tok_unigram
{
	double	   *score;			/* [nvocab] */
	double		min_score;
	sm_tok_trie trie;			/* every entry; value: the last index of the string */
	bool		byte_fallback;
	bool		has_bytes;		/* all 256 <0xXX> pieces are in the vocabulary */
	int32_t		byte_id[256];
};

/* one lattice node: the best path ending at this byte offset */
typedef struct uni_node
{
	double		score;
	int32_t		start;			/* -1: no path yet */
	int32_t		id;
} uni_node;

sm_status
sm_tok_unigram_load(sm_tokenizer *t, const sm_json *model, sm_error *err)
{
	const sm_json *vocab = sm_json_get(model, "vocab"),
			   *unk = sm_json_get(model, "unk_id"),
			   *bf = sm_json_get(model, "byte_fallback");
	struct sm_tok_unigram *u;
	const char **pieces;
	int			n,
				dup;
	sm_status	rc;

	if (vocab == NULL || vocab->type != SM_JSON_ARRAY)
		return sm_fail(err, SM_ERR_INVALID, "tokenizer.json member \"model.vocab\" of a Unigram model must be an array of [piece, score] pairs%s%s",
					   vocab == NULL ? "" : ", not ", vocab == NULL ? "" : sm_json_type_name(vocab->type));
	if (vocab->count == 0)
		return sm_fail(err, SM_ERR_INVALID, "tokenizer.json Unigram vocabulary is empty");
	if (vocab->count > (size_t) SM_TOK_MAX_ID + 1)
		return sm_fail(err, SM_ERR_LIMIT, "tokenizer.json vocabulary has %zu tokens, more than the %d supported",
					   vocab->count, SM_TOK_MAX_ID + 1);
	if (bf != NULL && bf->type != SM_JSON_NULL && bf->type != SM_JSON_BOOL)
		return sm_fail(err, SM_ERR_INVALID, "tokenizer.json member \"model.byte_fallback\" must be a boolean, not %s",
					   sm_json_type_name(bf->type));
	n = (int) vocab->count;
	if ((u = sm_alloc0(sizeof(*u))) == NULL)
		return sm_tok_nomem_load(err);
	t->uni = u;
	t->kind = SM_TOK_UNIGRAM;
	u->byte_fallback = bf != NULL && bf->type == SM_JSON_BOOL && bf->boolean;
	u->score = sm_alloc_array((size_t) n, sizeof(double));
	t->vocab_ids = sm_alloc_array((size_t) n, sizeof(int32_t));
	t->vocab_off = sm_alloc_array((size_t) n, sizeof(uint32_t));
	t->vocab_len = sm_alloc_array((size_t) n, sizeof(uint32_t));
	pieces = sm_alloc_array((size_t) n, sizeof(char *));
	if (u->score == NULL || t->vocab_ids == NULL || t->vocab_off == NULL || t->vocab_len == NULL || pieces == NULL)
	{
		sm_free(pieces);
		return sm_tok_nomem_load(err);
	}
	u->min_score = 0;
	for (int k = 0; k < n; k++)
	{
		const sm_json *e = vocab->items[k];

		if (e->type != SM_JSON_ARRAY || e->count != 2 || e->items[0]->type != SM_JSON_STRING ||
			e->items[1]->type != SM_JSON_NUMBER)
		{
			sm_free(pieces);
			sm_fail(err, SM_ERR_INVALID, "tokenizer.json member \"model.vocab[%d]\" must be a [piece, score] pair", k);
			sm_detail(err, "It is %s%s.", e->type == SM_JSON_ARRAY ? "an array of " : sm_json_type_name(e->type),
					  e->type == SM_JSON_ARRAY ? (e->count == 2 ? "other types" : "another length") : "");
			return err->code;
		}
		if ((t->vocab_off[k] = sm_tok_pool_add(t, e->items[0]->string, e->items[0]->string_len)) == UINT32_MAX)
		{
			sm_free(pieces);
			return sm_tok_nomem_load(err);
		}
		t->vocab_len[k] = (uint32_t) e->items[0]->string_len;
		t->vocab_ids[k] = k;
		u->score[k] = e->items[1]->number;
		/* HF starts from f64::MAX: the minimum over all entries */
		if (k == 0 || u->score[k] < u->min_score)
			u->min_score = u->score[k];
	}
	t->nvocab = n;
	t->nids = n;
	/* the trie copies the bytes: the pool may move later */
	for (int k = 0; k < n; k++)
		pieces[k] = t->pool + t->vocab_off[k];
	rc = sm_tok_map_build(&t->vocab, t->pool, t->vocab_off, t->vocab_len, n, true, &dup, err);
	if (rc == SM_OK && !sm_tok_trie_build(&u->trie, pieces, t->vocab_len, n, NULL, true))
		rc = sm_tok_nomem_load(err);
	sm_free(pieces);
	if (rc != SM_OK)
		return rc;
	t->unk_id = -1;
	if (unk != NULL && unk->type != SM_JSON_NULL)
	{
		if (unk->type != SM_JSON_NUMBER || !unk->is_integer || unk->integer < 0 || unk->integer >= n)
		{
			sm_fail(err, SM_ERR_INVALID, "tokenizer.json member \"model.unk_id\" must be an id of the vocabulary (0 to %d) or null",
					n - 1);
			if (unk->type == SM_JSON_NUMBER)
				sm_detail(err, "It is %g.", unk->number);
			return err->code;
		}
		t->unk_id = (int32_t) unk->integer;
	}
	u->has_bytes = true;
	for (int b = 0; b < 256; b++)
	{
		char		name[8];

		snprintf(name, sizeof(name), "<0x%02X>", b);
		if ((u->byte_id[b] = sm_tok_vocab_id(t, name, 6)) < 0)
			u->has_bytes = false;
	}
	return SM_OK;
}

void
sm_tok_unigram_free(sm_tokenizer *t)
{
	struct sm_tok_unigram *u = t->uni;

	if (u == NULL)
		return;
	sm_free(u->score);
	sm_tok_trie_free(&u->trie);
	sm_free(u);
	t->uni = NULL;
}

/* a piece the Viterbi chose, s[start, end), as ids */
static sm_status
push_piece(const sm_tokenizer *t, const uint8_t *s, size_t start, size_t end, sm_tok_ids *e,
		   int32_t type_id, sm_error *err)
{
	const struct sm_tok_unigram *u = t->uni;
	int32_t		id = sm_tok_vocab_id(t, s + start, end - start);

	if (id < 0 && u->byte_fallback && u->has_bytes)
	{
		for (size_t i = start; i < end; i++)
			if (!sm_tok_ids_push(e, u->byte_id[s[i]], type_id))
				return sm_tok_nomem(err);
		return SM_OK;
	}
	if (id < 0)
		id = t->unk_id;
	if (!sm_tok_ids_push(e, id, type_id))
		return sm_tok_nomem(err);
	return SM_OK;
}

sm_status
sm_tok_unigram_word(const sm_tokenizer *t, const uint8_t *s, size_t len, sm_tok_scratch *sc,
					sm_tok_ids *e, int32_t type_id, sm_error *err)
{
	const struct sm_tok_unigram *u = t->uni;
	double		unk_score = u->min_score - UNK_PENALTY;
	uni_node   *best;
	int32_t    *ends;
	int			nends = 0;
	size_t		at;
	sm_status	rc;

	if (len == 0)
		return SM_OK;
	if ((rc = sm_tok_poll(sc, err)) != SM_OK)
		return rc;
	if (len > (size_t) INT32_MAX - 1)
		return sm_fail(err, SM_ERR_LIMIT, "a word of %zu bytes is too long to tokenize", len);
	/* the nodes, then two offsets per piece of the best path */
	sc->lattice.len = 0;
	if (!sm_buf_reserve(&sc->lattice, (len + 1) * (sizeof(uni_node) + 2 * sizeof(int32_t))))
		return sm_tok_nomem(err);
	best = (uni_node *) sc->lattice.data;
	ends = (int32_t *) (best + len + 1);
	for (size_t i = 0; i <= len; i++)
	{
		best[i].score = 0;
		best[i].start = -1;
		best[i].id = -1;
	}
	for (at = 0; at < len;)
	{
		double		here = best[at].score;
		size_t		mblen = sm_tok_char_len(s + at, len - at);
		bool		single = false;
		int64_t		node = 0;

		for (size_t j = at; j < len && (node = sm_tok_trie_next(&u->trie, (uint32_t) node, s[j])) >= 0; j++)
		{
			int32_t		k = u->trie.val[node];
			uni_node   *to = &best[j + 1];
			double		cand;

			if (k < 0)
				continue;
			cand = u->score[k] + here;
			if (to->start < 0 || cand > to->score)
			{
				to->score = cand;
				to->start = (int32_t) at;
				to->id = k;
			}
			if (j + 1 - at == mblen)
				single = true;
		}
		if (!single)
		{
			uni_node   *to = &best[at + mblen];
			double		cand = unk_score + here;

			if (to->start < 0 || cand > to->score)
			{
				if (t->unk_id < 0)
				{
					sm_fail(err, SM_ERR_INVALID, "the tokenizer has no unknown token for the character \"%.*s\"",
							(int) mblen, (const char *) s + at);
					sm_detail(err, "Its Unigram model has unk_id null, and no piece covers the character.");
					return err->code;
				}
				to->score = cand;
				to->start = (int32_t) at;
				to->id = t->unk_id;
			}
		}
		at += mblen;
	}
	/* back from the end; a run of <unk> becomes one piece */
	for (size_t end = len; end > 0;)
	{
		size_t		start = (size_t) best[end].start;

		if (best[end].id == t->unk_id && t->unk_id >= 0)
		{
			while (start > 0 && best[start].id == t->unk_id)
				start = (size_t) best[start].start;
		}
		ends[nends++] = (int32_t) end;
		ends[nends++] = (int32_t) start;
		end = start;
	}
	for (int k = nends - 2; k >= 0; k -= 2)
		if ((rc = push_piece(t, s, (size_t) ends[k + 1], (size_t) ends[k], e, type_id, err)) != SM_OK)
			return rc;
	return SM_OK;
}
