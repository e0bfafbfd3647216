/*
 * sm_tokenizer.c -- loading a tokenizer.json, and the steps every model
 * shares: added tokens, the normalizer/pre-tokenizer/model dispatch,
 * truncation, the post-processor's template and decoding (see
 * sm_tokenizer.h; BPE in sm_tok_bpe.c, BERT's parts in sm_tok_wordpiece.c).
 *
 * The encode pipeline is Hugging Face's (tokenizer/mod.rs,
 * added_vocabulary.rs):
 *   1. added tokens that are not `normalized` are found in the raw text
 *      (leftmost, then longest) and split it;
 *   2. each piece between them is normalized, and `normalized` added tokens
 *      (their content normalized the same way) are found in it;
 *   3. each remaining non-empty piece is pre-tokenized and each word goes
 *      through the model;
 *   4. truncation, then the post-processor's template.
 * Every post-processor is turned into a template at load: ids and type ids
 * of special tokens around sequence A (and B).
 */
#include "sm_tok_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sm_unicode.h"

/* ---------------------------------------------------------------- small helpers */

/* ---------------------------------------------------------------- JSON members */

/* member of obj that must have `type` (or be absent / null when allowed) */
static sm_status
member(const sm_json *obj, const char *where, const char *key, sm_json_type type,
	   bool required, const sm_json **out, sm_error *err)
{
	const sm_json *v = sm_json_get(obj, key);

	*out = NULL;
	if (v == NULL || v->type == SM_JSON_NULL)
	{
		if (required)
			return sm_fail(err, SM_ERR_INVALID, "tokenizer.json member \"%s%s%s\" is missing",
						   where, *where ? "." : "", key);
		return SM_OK;
	}
	if (v->type != type)
		return sm_fail(err, SM_ERR_INVALID, "tokenizer.json member \"%s%s%s\" must be %s %s, not %s",
					   where, *where ? "." : "", key, type == SM_JSON_ARRAY || type == SM_JSON_OBJECT ? "an" : "a",
					   sm_json_type_name(type), sm_json_type_name(v->type));
	*out = v;
	return SM_OK;
}

static sm_status
member_bool(const sm_json *obj, const char *where, const char *key, bool dflt, bool *out, sm_error *err)
{
	const sm_json *v;
	sm_status	rc = member(obj, where, key, SM_JSON_BOOL, false, &v, err);

	*out = v != NULL ? v->boolean : dflt;
	return rc;
}

/* the "type" of a component object, or NULL for null */
static sm_status
component_type(const sm_json *root, const char *key, const sm_json **comp, const char **type,
			   sm_error *err)
{
	const sm_json *t;
	sm_status	rc;

	*type = NULL;
	if ((rc = member(root, "", key, SM_JSON_OBJECT, false, comp, err)) != SM_OK || *comp == NULL)
		return rc;
	if ((rc = member(*comp, key, "type", SM_JSON_STRING, true, &t, err)) != SM_OK)
		return rc;
	*type = t->string;
	return SM_OK;
}

static sm_status
unsupported(sm_error *err, const char *what, const char *type, const char *supported)
{
	sm_fail(err, SM_ERR_UNSUPPORTED, "tokenizer.json %s type \"%s\" is not supported", what, type);
	sm_detail(err, "Supported %s types are %s.", what, supported);
	return err->code;
}

/* ---------------------------------------------------------------- loading */

static sm_status
load_vocab(sm_tokenizer *t, const sm_json *model, sm_error *err)
{
	const sm_json *vocab;
	int			dup;
	sm_status	rc;
	int32_t		maxid = -1;
	int32_t    *seen;

	if ((rc = member(model, "model", "vocab", SM_JSON_OBJECT, true, &vocab, err)) != SM_OK)
		return rc;
	if (vocab->count > SM_TOK_MAX_ID)
		return sm_fail(err, SM_ERR_LIMIT, "tokenizer.json vocabulary has %zu tokens, more than the %d supported",
					   vocab->count, SM_TOK_MAX_ID);
	t->nvocab = (int) vocab->count;
	t->vocab_ids = sm_alloc_array(vocab->count + 1, sizeof(int32_t));
	t->vocab_off = sm_alloc_array(vocab->count + 1, sizeof(uint32_t));
	t->vocab_len = sm_alloc_array(vocab->count + 1, sizeof(uint32_t));
	if (t->vocab_ids == NULL || t->vocab_off == NULL || t->vocab_len == NULL)
		return sm_tok_nomem_load(err);
	for (size_t k = 0; k < vocab->count; k++)
	{
		const sm_json *v = vocab->items[k];
		size_t		klen = strlen(vocab->keys[k]);
		uint32_t	off;

		if (v->type != SM_JSON_NUMBER || !v->is_integer || v->integer < 0 || v->integer > SM_TOK_MAX_ID)
		{
			sm_fail(err, SM_ERR_INVALID, "tokenizer.json member \"model.vocab\" must map tokens to ids from 0 to %d",
					SM_TOK_MAX_ID);
			sm_detail(err, "Token \"%.100s\" has %s.", vocab->keys[k],
					  v->type == SM_JSON_NUMBER ? "another number" : sm_json_type_name(v->type));
			return err->code;
		}
		if ((off = sm_tok_pool_add(t, vocab->keys[k], klen)) == UINT32_MAX)
			return sm_tok_nomem_load(err);
		t->vocab_off[k] = off;
		t->vocab_len[k] = (uint32_t) klen;
		t->vocab_ids[k] = (int32_t) v->integer;
		if (t->vocab_ids[k] > maxid)
			maxid = t->vocab_ids[k];
	}
	/* one token per id */
	seen = sm_alloc_array((size_t) maxid + 2, sizeof(int32_t));
	if (seen == NULL)
		return sm_tok_nomem_load(err);
	for (int32_t i = 0; i <= maxid; i++)
		seen[i] = -1;
	for (int k = 0; k < t->nvocab; k++)
	{
		if (seen[t->vocab_ids[k]] >= 0)
		{
			sm_fail(err, SM_ERR_INVALID, "tokenizer.json member \"model.vocab\" gives id %d to two tokens",
					t->vocab_ids[k]);
			sm_detail(err, "The tokens are \"%.100s\" and \"%.100s\".", vocab->keys[seen[t->vocab_ids[k]]],
					  vocab->keys[k]);
			sm_free(seen);
			return err->code;
		}
		seen[t->vocab_ids[k]] = k;
	}
	sm_free(seen);
	t->nids = maxid + 1;
	/* keys are unique (the JSON parser refuses duplicate keys) */
	return sm_tok_map_build(&t->vocab, t->pool, t->vocab_off, t->vocab_len, t->nvocab, false, &dup, err);
}

static sm_status
load_normalizer(sm_tokenizer *t, const sm_json *root, sm_error *err)
{
	const sm_json *n;
	const sm_json *sa;
	const char *type;
	sm_status	rc;

	if ((rc = component_type(root, "normalizer", &n, &type, err)) != SM_OK || type == NULL)
		return rc;
	if (strcmp(type, "BertNormalizer") != 0)
		return sm_tok_hf_load(t, SM_TOK_HF_NORMALIZER, n, err);
	t->bert_norm = true;
	if ((rc = member_bool(n, "normalizer", "clean_text", true, &t->clean_text, err)) != SM_OK ||
		(rc = member_bool(n, "normalizer", "handle_chinese_chars", true, &t->handle_chinese, err)) != SM_OK ||
		(rc = member_bool(n, "normalizer", "lowercase", true, &t->lowercase, err)) != SM_OK ||
		(rc = member(n, "normalizer", "strip_accents", SM_JSON_BOOL, false, &sa, err)) != SM_OK)
		return rc;
	/* strip_accents null follows lowercase */
	t->strip_accents = sa != NULL ? sa->boolean : t->lowercase;
	return SM_OK;
}

static sm_status
load_pre_tokenizer(sm_tokenizer *t, const sm_json *root, sm_error *err)
{
	const sm_json *p;
	const char *type;
	sm_status	rc;

	t->pre = SM_TOK_PRE_NONE;
	if ((rc = component_type(root, "pre_tokenizer", &p, &type, err)) != SM_OK || type == NULL)
		return rc;
	if (strcmp(type, "ByteLevel") == 0)
	{
		t->pre = SM_TOK_PRE_BYTELEVEL;
		if ((rc = member_bool(p, "pre_tokenizer", "add_prefix_space", true, &t->add_prefix_space, err)) != SM_OK ||
			(rc = member_bool(p, "pre_tokenizer", "use_regex", true, &t->use_regex, err)) != SM_OK)
			return rc;
		return SM_OK;
	}
	if (strcmp(type, "BertPreTokenizer") == 0)
	{
		t->pre = SM_TOK_PRE_BERT;
		return SM_OK;
	}
	t->pre = SM_TOK_PRE_HF;
	return sm_tok_hf_load(t, SM_TOK_HF_PRE_TOKENIZER, p, err);
}

static sm_status
load_added(sm_tokenizer *t, const sm_json *root, sm_error *err)
{
	const sm_json *list;
	sm_status	rc;
	sm_tok_scratch sc;

	if ((rc = member(root, "", "added_tokens", SM_JSON_ARRAY, false, &list, err)) != SM_OK || list == NULL)
		return rc;
	t->added = sm_alloc0((list->count + 1) * sizeof(sm_tok_added));
	if (t->added == NULL)
		return sm_tok_nomem_load(err);
	sm_tok_scratch_init(&sc);
	for (size_t k = 0; k < list->count; k++)
	{
		const sm_json *a = list->items[k];
		const sm_json *id,
				   *content;
		sm_tok_added *ad = &t->added[t->nadded];
		char		where[48];
		int32_t		vid;

		snprintf(where, sizeof(where), "added_tokens[%zu]", k);
		if (a->type != SM_JSON_OBJECT)
			return sm_fail(err, SM_ERR_INVALID, "tokenizer.json member \"%s\" must be an object, not %s",
						   where, sm_json_type_name(a->type));
		if ((rc = member(a, where, "id", SM_JSON_NUMBER, true, &id, err)) != SM_OK ||
			(rc = member(a, where, "content", SM_JSON_STRING, true, &content, err)) != SM_OK ||
			(rc = member_bool(a, where, "single_word", false, &ad->single_word, err)) != SM_OK ||
			(rc = member_bool(a, where, "lstrip", false, &ad->lstrip, err)) != SM_OK ||
			(rc = member_bool(a, where, "rstrip", false, &ad->rstrip, err)) != SM_OK ||
			(rc = member_bool(a, where, "normalized", true, &ad->normalized, err)) != SM_OK ||
			(rc = member_bool(a, where, "special", false, &ad->special, err)) != SM_OK)
			break;
		if (!id->is_integer || id->integer < 0 || id->integer > SM_TOK_MAX_ID)
		{
			rc = sm_fail(err, SM_ERR_INVALID, "tokenizer.json member \"%s.id\" must be an integer from 0 to %d",
						 where, SM_TOK_MAX_ID);
			break;
		}
		if (content->string_len == 0)
			continue;			/* HF ignores empty added tokens */
		/* an added token the model knows keeps the model's id, as in HF */
		vid = sm_tok_vocab_id(t, content->string, content->string_len);
		ad->id = vid >= 0 ? vid : (int32_t) id->integer;
		ad->len = (uint32_t) content->string_len;
		if ((ad->off = sm_tok_pool_add(t, content->string, content->string_len)) == UINT32_MAX)
		{
			rc = sm_tok_nomem_load(err);
			break;
		}
		ad->norm_off = ad->off;
		ad->norm_len = ad->len;
		if (ad->normalized && t->bert_norm)
		{
			long		nl = sm_tok_bert_normalize(t, (const uint8_t *) content->string, content->string_len, &sc);

			if (nl < 0 || (ad->norm_off = sm_tok_pool_add(t, (const char *) sc.norm, (size_t) nl)) == UINT32_MAX)
			{
				rc = sm_tok_nomem_load(err);
				break;
			}
			ad->norm_len = (uint32_t) nl;
		}
		else if (ad->normalized && sm_tok_hf_has_normalizer(t))
		{
			const uint8_t *ns;
			size_t		nl;
			bool		origin = true;

			if (!sm_tok_hf_normalize(t, (const uint8_t *) content->string, content->string_len, &sc, &ns, &nl, &origin) ||
				(ad->norm_off = sm_tok_pool_add(t, (const char *) ns, nl)) == UINT32_MAX)
			{
				rc = sm_tok_nomem_load(err);
				break;
			}
			ad->norm_len = (uint32_t) nl;
		}
		if (ad->id >= t->nids)
			t->nids = ad->id + 1;
		if (ad->normalized)
		{
			if (ad->norm_len > 0)
			{
				t->has_norm_added = true;
				t->norm_first[(uint8_t) t->pool[ad->norm_off]] = 1;
			}
		}
		else
		{
			t->has_raw_added = true;
			t->raw_first[(uint8_t) t->pool[ad->off]] = 1;
		}
		t->nadded++;
	}
	sm_tok_scratch_free(&sc);
	return rc;
}

static sm_status
build_ids(sm_tokenizer *t, sm_error *err)
{
	t->id_off = sm_alloc_array((size_t) t->nids + 1, sizeof(uint32_t));
	t->id_len = sm_alloc_array((size_t) t->nids + 1, sizeof(uint32_t));
	t->id_flags = sm_alloc0((size_t) t->nids + 1);
	if (t->id_off == NULL || t->id_len == NULL || t->id_flags == NULL)
		return sm_tok_nomem_load(err);
	for (int k = 0; k < t->nvocab; k++)
	{
		int32_t		id = t->vocab_ids[k];

		t->id_off[id] = t->vocab_off[k];
		t->id_len[id] = t->vocab_len[k];
		t->id_flags[id] = SM_TOK_ID_USED;
	}
	/* HF's id_to_token asks the added vocabulary first */
	for (int k = 0; k < t->nadded; k++)
	{
		const sm_tok_added *a = &t->added[k];

		t->id_off[a->id] = a->off;
		t->id_len[a->id] = a->len;
		t->id_flags[a->id] = SM_TOK_ID_USED | (a->special ? SM_TOK_ID_SPECIAL : 0);
	}
	/*
	 * decode skips a token whose string is special (HF compares strings):
	 * a vocabulary id with the string of a special added token too
	 */
	for (int k = 0; k < t->nadded; k++)
	{
		const sm_tok_added *a = &t->added[k];
		int32_t		id;

		if (a->special && (id = sm_tok_vocab_id(t, t->pool + a->off, a->len)) >= 0)
			t->id_flags[id] |= SM_TOK_ID_SPECIAL;
	}
	return SM_OK;
}

/* ---------------------------------------------------------------- post-processor */

typedef struct tmpl_builder
{
	sm_tok_piece pieces[2][16];
	int			npieces[2];
	int32_t		ids[64];
	int			nids;
} tmpl_builder;

static void
tb_seq(tmpl_builder *b, int which, int seq, int32_t type_id)
{
	sm_tok_piece *p = &b->pieces[which][b->npieces[which]++];

	p->seq = (int8_t) seq;
	p->type_id = type_id;
	p->nids = 0;
	p->off = 0;
}

static void
tb_special(tmpl_builder *b, int which, int32_t id, int32_t type_id)
{
	sm_tok_piece *p = &b->pieces[which][b->npieces[which]++];

	p->seq = -1;
	p->type_id = type_id;
	p->nids = 1;
	p->off = b->nids;
	b->ids[b->nids++] = id;
}

/* ["[SEP]", 102] of BertProcessing / RobertaProcessing */
static sm_status
processing_token(const sm_tokenizer *t, const sm_json *pp, const char *key, int32_t *id, sm_error *err)
{
	const sm_json *v;
	sm_status	rc;

	if ((rc = member(pp, "post_processor", key, SM_JSON_ARRAY, true, &v, err)) != SM_OK)
		return rc;
	if (v->count != 2 || v->items[0]->type != SM_JSON_STRING || v->items[1]->type != SM_JSON_NUMBER ||
		!v->items[1]->is_integer)
		return sm_fail(err, SM_ERR_INVALID, "tokenizer.json member \"post_processor.%s\" must be a [token, id] pair", key);
	if (v->items[1]->integer < 0 || v->items[1]->integer >= t->nids)
		return sm_fail(err, SM_ERR_INVALID, "tokenizer.json post_processor token \"%s\" has id %lld, outside the vocabulary",
					   v->items[0]->string, (long long) v->items[1]->integer);
	*id = (int32_t) v->items[1]->integer;
	return SM_OK;
}

static sm_status
template_pieces(const sm_tokenizer *t, const sm_json *pp, const sm_json *specials, const char *key,
				int which, tmpl_builder *b, sm_error *err)
{
	const sm_json *list;
	sm_status	rc;
	int			seen[2] = {0, 0};

	if ((rc = member(pp, "post_processor", key, SM_JSON_ARRAY, true, &list, err)) != SM_OK)
		return rc;
	for (size_t k = 0; k < list->count; k++)
	{
		const sm_json *it = list->items[k];
		const sm_json *body,
				   *idv,
				   *tv;
		bool		is_seq;
		int32_t		type_id = 0;

		if (it->type != SM_JSON_OBJECT || it->count != 1 ||
			(strcmp(it->keys[0], "Sequence") != 0 && strcmp(it->keys[0], "SpecialToken") != 0) ||
			it->items[0]->type != SM_JSON_OBJECT)
			return sm_fail(err, SM_ERR_INVALID, "tokenizer.json member \"post_processor.%s\" must hold {\"Sequence\": ...} or {\"SpecialToken\": ...} objects", key);
		is_seq = strcmp(it->keys[0], "Sequence") == 0;
		body = it->items[0];
		idv = sm_json_get(body, "id");
		tv = sm_json_get(body, "type_id");
		if (idv == NULL || idv->type != SM_JSON_STRING)
			return sm_fail(err, SM_ERR_INVALID, "tokenizer.json member \"post_processor.%s\" has a piece without a string \"id\"", key);
		if (tv != NULL)
		{
			if (tv->type != SM_JSON_NUMBER || !tv->is_integer || tv->integer < 0 || tv->integer > INT32_MAX)
				return sm_fail(err, SM_ERR_INVALID, "tokenizer.json member \"post_processor.%s\" has a type_id that is not a non-negative integer", key);
			type_id = (int32_t) tv->integer;
		}
		if (b->npieces[which] >= 16)
			return sm_fail(err, SM_ERR_UNSUPPORTED, "tokenizer.json post_processor templates of more than 16 pieces are not supported");
		if (is_seq)
		{
			int			seq = strcmp(idv->string, "A") == 0 ? 0 : strcmp(idv->string, "B") == 0 ? 1 : -1;

			if (seq < 0 || (which == 0 && seq == 1))
				return sm_fail(err, SM_ERR_INVALID, "tokenizer.json post_processor %s template names sequence \"%s\"",
							   key, idv->string);
			if (seen[seq]++)
				return sm_fail(err, SM_ERR_UNSUPPORTED, "tokenizer.json post_processor %s template repeats sequence %s",
							   key, idv->string);
			tb_seq(b, which, seq, type_id);
		}
		else
		{
			const sm_json *sp = sm_json_get(specials, idv->string);
			const sm_json *ids;
			sm_tok_piece *p;

			if (sp == NULL || sp->type != SM_JSON_OBJECT || (ids = sm_json_get(sp, "ids")) == NULL ||
				ids->type != SM_JSON_ARRAY)
				return sm_fail(err, SM_ERR_INVALID, "tokenizer.json post_processor special token \"%s\" is not in \"special_tokens\" with its \"ids\"",
							   idv->string);
			p = &b->pieces[which][b->npieces[which]++];
			p->seq = -1;
			p->type_id = type_id;
			p->off = b->nids;
			p->nids = 0;
			for (size_t j = 0; j < ids->count; j++)
			{
				const sm_json *x = ids->items[j];

				if (x->type != SM_JSON_NUMBER || !x->is_integer || x->integer < 0 || x->integer >= t->nids)
					return sm_fail(err, SM_ERR_INVALID, "tokenizer.json post_processor special token \"%s\" has an id outside the vocabulary",
								   idv->string);
				if (b->nids >= 64)
					return sm_fail(err, SM_ERR_UNSUPPORTED, "tokenizer.json post_processor templates with more than 64 special ids are not supported");
				b->ids[b->nids++] = (int32_t) x->integer;
				p->nids++;
			}
		}
	}
	if (!seen[0] || (which == 1 && !seen[1]))
		return sm_fail(err, SM_ERR_INVALID, "tokenizer.json post_processor %s template must name sequence A%s",
					   key, which == 1 ? " and sequence B" : "");
	return SM_OK;
}

static sm_status
load_post_processor(sm_tokenizer *t, const sm_json *root, sm_error *err)
{
	const sm_json *pp;
	const char *type;
	sm_status	rc;
	tmpl_builder b;

	memset(&b, 0, sizeof(b));
	if ((rc = component_type(root, "post_processor", &pp, &type, err)) != SM_OK)
		return rc;
	if (type == NULL || strcmp(type, "ByteLevel") == 0)
	{
		/* nothing added; a pair's second sequence has type id 1 */
		tb_seq(&b, 0, 0, 0);
		tb_seq(&b, 1, 0, 0);
		tb_seq(&b, 1, 1, 1);
	}
	else if (strcmp(type, "BertProcessing") == 0 || strcmp(type, "RobertaProcessing") == 0)
	{
		int32_t		cls,
					sep;
		bool		roberta = type[0] == 'R';

		if ((rc = processing_token(t, pp, "cls", &cls, err)) != SM_OK ||
			(rc = processing_token(t, pp, "sep", &sep, err)) != SM_OK)
			return rc;
		tb_special(&b, 0, cls, 0);
		tb_seq(&b, 0, 0, 0);
		tb_special(&b, 0, sep, 0);
		tb_special(&b, 1, cls, 0);
		tb_seq(&b, 1, 0, 0);
		tb_special(&b, 1, sep, 0);
		/* RoBERTa: <s> A </s> </s> B </s>, every type id 0 */
		if (roberta)
			tb_special(&b, 1, sep, 0);
		tb_seq(&b, 1, 1, roberta ? 0 : 1);
		tb_special(&b, 1, sep, roberta ? 0 : 1);
	}
	else if (strcmp(type, "TemplateProcessing") == 0)
	{
		const sm_json *specials;

		if ((rc = member(pp, "post_processor", "special_tokens", SM_JSON_OBJECT, false, &specials, err)) != SM_OK ||
			(rc = template_pieces(t, pp, specials, "single", 0, &b, err)) != SM_OK ||
			(rc = template_pieces(t, pp, specials, "pair", 1, &b, err)) != SM_OK)
			return rc;
	}
	else
		return unsupported(err, "post_processor", type,
						   "ByteLevel, BertProcessing, RobertaProcessing and TemplateProcessing (or null)");

	t->tmpl_ids = sm_alloc_array((size_t) b.nids + 1, sizeof(int32_t));
	t->single.pieces = sm_alloc_array((size_t) b.npieces[0], sizeof(sm_tok_piece));
	t->pair.pieces = sm_alloc_array((size_t) b.npieces[1], sizeof(sm_tok_piece));
	if (t->tmpl_ids == NULL || t->single.pieces == NULL || t->pair.pieces == NULL)
		return sm_tok_nomem_load(err);
	memcpy(t->tmpl_ids, b.ids, (size_t) b.nids * sizeof(int32_t));
	for (int w = 0; w < 2; w++)
	{
		sm_tok_template *tp = w == 0 ? &t->single : &t->pair;

		memcpy(tp->pieces, b.pieces[w], (size_t) b.npieces[w] * sizeof(sm_tok_piece));
		tp->npieces = b.npieces[w];
		tp->nspecial = 0;
		for (int i = 0; i < tp->npieces; i++)
			tp->nspecial += tp->pieces[i].nids;
	}
	return SM_OK;
}

static sm_status
load_decoder(sm_tokenizer *t, const sm_json *root, sm_error *err)
{
	const sm_json *d;
	const char *type;
	sm_status	rc;

	t->decoder = SM_TOK_DEC_NONE;
	if ((rc = component_type(root, "decoder", &d, &type, err)) != SM_OK || type == NULL)
		return rc;
	if (strcmp(type, "ByteLevel") == 0)
	{
		t->decoder = SM_TOK_DEC_BYTELEVEL;
		return SM_OK;
	}
	if (strcmp(type, "WordPiece") == 0)
	{
		const sm_json *p;

		t->decoder = SM_TOK_DEC_WORDPIECE;
		if ((rc = member(d, "decoder", "prefix", SM_JSON_STRING, false, &p, err)) != SM_OK ||
			(rc = member_bool(d, "decoder", "cleanup", true, &t->dec_cleanup, err)) != SM_OK)
			return rc;
		if ((t->dec_prefix_off = sm_tok_pool_add(t, p ? p->string : "##", p ? p->string_len : 2)) == UINT32_MAX)
			return sm_tok_nomem_load(err);
		t->dec_prefix_len = p ? (int) p->string_len : 2;
		return SM_OK;
	}
	t->decoder = SM_TOK_DEC_HF;
	return sm_tok_hf_load(t, SM_TOK_HF_DECODER, d, err);
}

sm_status
sm_tokenizer_load(const char *json, size_t len, sm_tokenizer **out, sm_error *err)
{
	sm_json    *root = NULL;
	sm_tokenizer *t;
	const sm_json *model,
			   *v;
	const char *mtype;
	sm_status	rc;

	*out = NULL;
	if ((rc = sm_json_parse(json, len, &root, err)) != SM_OK)
		return rc;
	if (root->type != SM_JSON_OBJECT)
	{
		rc = sm_fail(err, SM_ERR_INVALID, "tokenizer.json must be a JSON object, not %s",
					 sm_json_type_name(root->type));
		sm_json_free(root);
		return rc;
	}
	if ((t = sm_alloc0(sizeof(sm_tokenizer))) == NULL)
	{
		sm_json_free(root);
		return sm_tok_nomem_load(err);
	}
	t->unk_id = -1;
	if ((v = sm_json_get(root, "version")) != NULL &&
		(v->type != SM_JSON_STRING || strcmp(v->string, "1.0") != 0))
	{
		rc = sm_fail(err, SM_ERR_UNSUPPORTED, "tokenizer.json version %s%s%s is not supported",
					 v->type == SM_JSON_STRING ? "\"" : "", v->type == SM_JSON_STRING ? v->string : sm_json_type_name(v->type),
					 v->type == SM_JSON_STRING ? "\"" : "");
		sm_detail(err, "Supported is version \"1.0\".");
		goto fail;
	}
	/* ours, written from a SentencePiece .model: spm's semantics (sm_tok_spm.c) */
	if ((v = sm_json_get(sm_json_get(root, "model"), "seqmodel_sentencepiece")) != NULL)
	{
		if ((rc = sm_tok_spm_load_json(t, root, v, err)) != SM_OK)
			goto fail;
		sm_json_free(root);
		*out = t;
		return SM_OK;
	}
	if ((rc = component_type(root, "model", &model, &mtype, err)) != SM_OK)
		goto fail;
	if (model == NULL)
	{
		rc = sm_fail(err, SM_ERR_INVALID, "tokenizer.json member \"model\" is missing");
		goto fail;
	}
	if (strcmp(mtype, "BPE") == 0)
		t->kind = SM_TOK_BPE;
	else if (strcmp(mtype, "WordPiece") == 0)
		t->kind = SM_TOK_WORDPIECE;
	else if (strcmp(mtype, "Unigram") == 0)
		t->kind = SM_TOK_UNIGRAM;
	else
	{
		rc = unsupported(err, "model", mtype, "BPE, WordPiece and Unigram");
		goto fail;
	}
	if (t->kind == SM_TOK_UNIGRAM)
		rc = sm_tok_unigram_load(t, model, err);
	else if ((rc = load_vocab(t, model, err)) == SM_OK)
		rc = t->kind == SM_TOK_BPE ? sm_tok_bpe_load(t, model, err) : sm_tok_wordpiece_load(t, model, err);
	if (rc != SM_OK ||
		(rc = load_normalizer(t, root, err)) != SM_OK ||
		(rc = load_pre_tokenizer(t, root, err)) != SM_OK ||
		(rc = load_added(t, root, err)) != SM_OK ||
		(rc = build_ids(t, err)) != SM_OK ||
		(rc = load_post_processor(t, root, err)) != SM_OK ||
		(rc = load_decoder(t, root, err)) != SM_OK)
		goto fail;
	if (t->kind == SM_TOK_BPE && (rc = sm_tok_bpe_prepare(t, err)) != SM_OK)
		goto fail;
	sm_json_free(root);
	*out = t;
	return SM_OK;

fail:
	sm_json_free(root);
	sm_tokenizer_free(t);
	return rc;
}

void
sm_tokenizer_free(sm_tokenizer *t)
{
	if (t == NULL)
		return;
	sm_tok_spm_free(t);			/* first: its vocab_off aliases id_off */
	sm_tok_bpe_free(t);
	sm_tok_unigram_free(t);
	sm_tok_hf_free(t);
	sm_tok_map_free(&t->vocab);
	sm_free(t->pool);
	sm_free(t->id_off);
	sm_free(t->id_len);
	sm_free(t->id_flags);
	sm_free(t->vocab_ids);
	sm_free(t->vocab_off);
	sm_free(t->vocab_len);
	sm_free(t->added);
	sm_free(t->single.pieces);
	sm_free(t->pair.pieces);
	sm_free(t->tmpl_ids);
	sm_free(t);
}

/* ---------------------------------------------------------------- accessors */

sm_tok_kind
sm_tokenizer_kind(const sm_tokenizer *t)
{
	return t->kind;
}

int
sm_tokenizer_vocab_size(const sm_tokenizer *t)
{
	return t->nids;
}

int32_t
sm_tokenizer_token_id(const sm_tokenizer *t, const char *token)
{
	size_t		len = strlen(token);

	for (int k = 0; k < t->nadded; k++)
		if (t->added[k].len == len && memcmp(t->pool + t->added[k].off, token, len) == 0)
			return t->added[k].id;
	return sm_tok_vocab_id(t, token, len);
}

const char *
sm_tokenizer_token(const sm_tokenizer *t, int32_t id)
{
	if (id < 0 || id >= t->nids || !(t->id_flags[id] & SM_TOK_ID_USED))
		return NULL;
	return t->pool + t->id_off[id];
}

int
sm_tokenizer_num_special(const sm_tokenizer *t, bool pair)
{
	return pair ? t->pair.nspecial : t->single.nspecial;
}

/* ---------------------------------------------------------------- encoding */

/* a piece left after the added tokens: pre-tokenizer and model */
static sm_status
encode_normalized(const sm_tokenizer *t, const uint8_t *s, size_t len, bool at_origin,
				  sm_tok_scratch *sc, sm_tok_ids *e, int32_t type_id, sm_error *err)
{
	if (len == 0)
		return SM_OK;
	switch (t->pre)
	{
		case SM_TOK_PRE_HF:
			return sm_tok_hf_segment(t, s, len, at_origin, sc, e, type_id, err);
		case SM_TOK_PRE_BYTELEVEL:
			return sm_tok_bytelevel_segment(t, s, len, sc, e, type_id, err);
		case SM_TOK_PRE_BERT:
			return sm_tok_bert_segment(t, s, len, sc, e, type_id, err);
		default:
			return sm_tok_model_word(t, s, len, sc, e, type_id, err);
	}
}

/* \w of Rust's regex crate, near enough: letters, digits, marks, '_' */
static bool
is_word_char(uint32_t cp)
{
	return cp == '_' || (sm_uni_flags(cp) & (SM_UNI_L | SM_UNI_N | SM_UNI_MN)) != 0;
}

static bool
is_space_at(const uint8_t *s, size_t len, size_t i, int *l)
{
	uint32_t	cp;

	*l = sm_utf8_decode(s + i, len - i, &cp);
	return (sm_uni_flags(cp) & SM_UNI_WS) != 0;
}

/*
 * Next added-token match in s[from, len): leftmost, then longest, then the
 * first in file order; normalized selects which tokens and which form.
 * single_word, lstrip and rstrip as HF's find_matches: a match that is not
 * a single word is skipped (the search goes on after it).  Returns false
 * when there is none.
 */
static bool
next_added(const sm_tokenizer *t, const uint8_t *s, size_t len, size_t from, size_t floor_,
		   bool normalized, size_t *ms, size_t *me, int32_t *id)
{
	const uint8_t *first = normalized ? t->norm_first : t->raw_first;

	for (size_t i = from; i < len; i++)
	{
		const sm_tok_added *best = NULL;
		size_t		blen = 0;

		if (!first[s[i]])
			continue;
		for (int k = 0; k < t->nadded; k++)
		{
			const sm_tok_added *a = &t->added[k];
			uint32_t	off = normalized ? a->norm_off : a->off;
			uint32_t	alen = normalized ? a->norm_len : a->len;

			if (a->normalized != normalized || alen == 0 || alen <= blen || alen > len - i ||
				memcmp(s + i, t->pool + off, alen) != 0)
				continue;
			best = a;
			blen = alen;
		}
		if (best == NULL)
			continue;
		if (best->single_word)
		{
			bool		ok = true;

			if (i > 0)
			{
				/* the character before the match */
				size_t		p = i - 1;
				uint32_t	cp;

				while (p > 0 && (s[p] & 0xC0) == 0x80 && i - p < 4)
					p--;
				sm_utf8_decode(s + p, i - p, &cp);
				if (is_word_char(cp))
					ok = false;
			}
			if (ok && i + blen < len)
			{
				uint32_t	cp;

				sm_utf8_decode(s + i + blen, len - i - blen, &cp);
				if (is_word_char(cp))
					ok = false;
			}
			if (!ok)
			{
				i += blen - 1;
				continue;
			}
		}
		*ms = i;
		*me = i + blen;
		if (best->lstrip)
		{
			/* back over whitespace, not before the previous match's end */
			size_t		p = i;

			while (p > floor_)
			{
				size_t		q = p - 1;
				int			l;

				while (q > floor_ && (s[q] & 0xC0) == 0x80 && p - q < 4)
					q--;
				if (!is_space_at(s, p, q, &l) || q + (size_t) l != p)
					break;
				p = q;
			}
			*ms = p;
		}
		if (best->rstrip)
		{
			size_t		p = *me;
			int			l;

			while (p < len && is_space_at(s, len, p, &l))
				p += (size_t) l;
			*me = p;
		}
		*id = best->id;
		return true;
	}
	return false;
}

/*
 * A piece of raw text between added tokens: normalize, split on normalized
 * added tokens.  at_origin: the piece starts the text (HF's "first"
 * prepend scheme asks).
 */
static sm_status
encode_raw_piece(const sm_tokenizer *t, const uint8_t *s, size_t len, bool at_origin,
				 sm_tok_scratch *sc, sm_tok_ids *e, int32_t type_id, sm_error *err)
{
	const uint8_t *ns = s;
	size_t		nlen = len;
	size_t		pos = 0,
				ms,
				me;
	int32_t		id;
	sm_status	rc;

	if (len == 0)
		return SM_OK;
	if (t->bert_norm)
	{
		long		n = sm_tok_bert_normalize(t, s, len, sc);

		if (n < 0)
			return sm_tok_nomem(err);
		ns = sc->norm;
		nlen = (size_t) n;
	}
	else if (sm_tok_hf_has_normalizer(t) && !sm_tok_hf_normalize(t, s, len, sc, &ns, &nlen, &at_origin))
		return sm_tok_nomem(err);
	if (!t->has_norm_added)
		return encode_normalized(t, ns, nlen, at_origin, sc, e, type_id, err);
	while (next_added(t, ns, nlen, pos, pos, true, &ms, &me, &id))
	{
		if ((rc = encode_normalized(t, ns + pos, ms - pos, at_origin && pos == 0, sc, e, type_id, err)) != SM_OK)
			return rc;
		if (!sm_tok_ids_push(e, id, type_id))
			return sm_tok_nomem(err);
		pos = me;
	}
	return encode_normalized(t, ns + pos, nlen - pos, at_origin && pos == 0, sc, e, type_id, err);
}

/* one text, without the template, appended to e */
static sm_status
encode_text(const sm_tokenizer *t, const uint8_t *s, size_t len, sm_tok_scratch *sc,
			sm_tok_ids *e, int32_t type_id, sm_error *err)
{
	size_t		pos = 0,
				ms,
				me;
	int32_t		id;
	sm_status	rc;

	if (t->spm != NULL)
		return sm_tok_spm_encode(t, s, len, e, type_id, err);
	if (!t->has_raw_added)
		return encode_raw_piece(t, s, len, true, sc, e, type_id, err);
	while (next_added(t, s, len, pos, pos, false, &ms, &me, &id))
	{
		if ((rc = encode_raw_piece(t, s + pos, ms - pos, pos == 0, sc, e, type_id, err)) != SM_OK)
			return rc;
		if (!sm_tok_ids_push(e, id, type_id))
			return sm_tok_nomem(err);
		pos = me;
	}
	return encode_raw_piece(t, s + pos, len - pos, pos == 0, sc, e, type_id, err);
}

sm_status
sm_tokenizer_encode(const sm_tokenizer *t, const char *text, size_t len,
					const char *pair, size_t pair_len, bool add_special,
					int max_tokens, bool truncate, sm_tok_ids *e, sm_error *err)
{
	sm_tok_scratch sc;
	sm_tok_ids	b;
	const sm_tok_template *tp = pair != NULL ? &t->pair : &t->single;
	int			na,
				nb = 0,
				nadd = add_special ? tp->nspecial : 0;
	int			total,
				pos;
	int64_t		want;
	sm_status	rc;

	sm_tok_scratch_init(&sc);
	sm_tok_ids_init(&b);
	e->n = 0;
	if ((rc = encode_text(t, (const uint8_t *) text, len, &sc, e, 0, err)) != SM_OK)
		goto done;
	if (pair != NULL && (rc = encode_text(t, (const uint8_t *) pair, pair_len, &sc, &b, 1, err)) != SM_OK)
		goto done;
	na = e->n;
	nb = b.n;

	/* truncation: the texts' tokens, before the template */
	want = (int64_t) na + nb + nadd;
	if (max_tokens > 0 && want > max_tokens)
	{
		int			budget = max_tokens - nadd;

		if (!truncate)
		{
			rc = sm_fail(err, SM_ERR_LIMIT, "input is %lld tokens long but the model takes at most %d",
						 (long long) want, max_tokens);
			if (nadd > 0)
				sm_detail(err, "The count includes the %d special tokens the tokenizer adds. Truncation is off.", nadd);
			else
				sm_detail(err, "Truncation is off.");
			goto done;
		}
		if (budget < 0)
		{
			rc = sm_fail(err, SM_ERR_LIMIT, "a limit of %d tokens leaves no room for the text", max_tokens);
			sm_detail(err, "The tokenizer adds %d special tokens.", nadd);
			goto done;
		}
		if (pair == NULL)
			na = budget;
		else
		{
			/* HF's longest_first: the shorter keeps its length if it can */
			int			n1 = na < nb ? na : nb;
			int			n2;

			if (n1 > budget)
				n2 = n1;
			else
				n2 = budget - n1 > n1 ? budget - n1 : n1;
			if ((int64_t) n1 + n2 > budget)
			{
				n1 = budget / 2;
				n2 = n1 + budget % 2;
			}
			if (na <= nb)
			{
				na = na < n1 ? na : n1;
				nb = nb < n2 ? nb : n2;
			}
			else
			{
				na = na < n2 ? na : n2;
				nb = nb < n1 ? nb : n1;
			}
		}
	}

	/* the template: A is in e[0, na); move it to its place, then fill around */
	total = na + nb + nadd;
	if (!sm_tok_ids_reserve(e, total))
	{
		rc = sm_tok_nomem(err);
		goto done;
	}
	pos = 0;
	for (int i = 0; i < tp->npieces; i++)
	{
		const sm_tok_piece *p = &tp->pieces[i];

		if (p->seq == 0)
		{
			if (na > 0)			/* e->ids may be NULL when nothing is encoded */
				memmove(e->ids + pos, e->ids, (size_t) na * sizeof(int32_t));
			for (int k = 0; k < na; k++)
				e->type_ids[pos + k] = p->type_id;
			break;
		}
		if (p->seq == 1)
			pos += nb;
		else if (add_special)
			pos += p->nids;
	}
	pos = 0;
	for (int i = 0; i < tp->npieces; i++)
	{
		const sm_tok_piece *p = &tp->pieces[i];

		if (p->seq == 0)
			pos += na;
		else if (p->seq == 1)
		{
			if (nb > 0)			/* b.ids is NULL for an empty second text */
				memcpy(e->ids + pos, b.ids, (size_t) nb * sizeof(int32_t));
			for (int k = 0; k < nb; k++)
				e->type_ids[pos + k] = p->type_id;
			pos += nb;
		}
		else if (add_special)
		{
			for (int k = 0; k < p->nids; k++)
			{
				e->ids[pos + k] = t->tmpl_ids[p->off + k];
				e->type_ids[pos + k] = p->type_id;
			}
			pos += p->nids;
		}
	}
	e->n = total;
	rc = SM_OK;

done:
	if (rc != SM_OK)
		e->n = 0;
	sm_tok_ids_free(&b);
	sm_tok_scratch_free(&sc);
	return rc;
}

/* ---------------------------------------------------------------- decoding */

sm_status
sm_tokenizer_decode(const sm_tokenizer *t, const int32_t *ids, int n, bool skip_special,
					sm_buf *out, sm_error *err)
{
	for (int k = 0; k < n; k++)
		if (ids[k] < 0 || ids[k] >= t->nids || !(t->id_flags[ids[k]] & SM_TOK_ID_USED))
		{
			sm_fail(err, SM_ERR_INVALID, "token id %d at position %d is not in the vocabulary", ids[k], k + 1);
			sm_detail(err, "The tokenizer's ids run from 0 to %d.", t->nids - 1);
			return err->code;
		}
	if (t->spm != NULL)
		sm_tok_spm_decode(t, ids, n, skip_special, out);
	else switch (t->decoder)
	{
		case SM_TOK_DEC_BYTELEVEL:
			sm_tok_bytelevel_decode(t, ids, n, skip_special, out);
			break;
		case SM_TOK_DEC_WORDPIECE:
			sm_tok_wordpiece_decode(t, ids, n, skip_special, out);
			break;
		case SM_TOK_DEC_HF:
			sm_tok_hf_decode(t, ids, n, skip_special, out);
			break;
		default:
			{
				bool		any = false;

				/* HF without a decoder: the tokens joined by spaces */
				for (int k = 0; k < n; k++)
				{
					if (skip_special && (t->id_flags[ids[k]] & SM_TOK_ID_SPECIAL))
						continue;
					if (any)
						sm_buf_append(out, " ", 1);
					sm_buf_append(out, t->pool + t->id_off[ids[k]], t->id_len[ids[k]]);
					any = true;
				}
			}
	}
	if (out->failed)
		return sm_fail(err, SM_ERR_NOMEM, "out of memory while decoding tokens");
	return SM_OK;
}

/* ---------------------------------------------------------------- tokenizer.json from vocabulary files */

static void
append_str(sm_buf *out, const char *s)
{
	sm_buf_append(out, s, strlen(s));
}

static void
write_added(sm_buf *out, const char *content, int32_t id, bool normalized, bool *first)
{
	sm_buf_appendf(out, "%s{\"id\":%d,\"content\":", *first ? "" : ",", id);
	sm_json_write_string(out, content, strlen(content));
	sm_buf_appendf(out, ",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":%s,\"special\":true}",
				   normalized ? "true" : "false");
	*first = false;
}

sm_status
sm_tokenizer_json_from_bpe(const char *vocab_json, size_t vocab_len, const char *merges,
						   size_t merges_len, sm_buf *out, sm_error *err)
{
	sm_json    *vocab = NULL;
	const sm_json *eot;
	sm_status	rc;
	size_t		i = 0;
	int			line = 0;
	bool		first = true;
	int32_t    *order = NULL;
	int64_t		maxid = -1;

	if ((rc = sm_json_parse(vocab_json, vocab_len, &vocab, err)) != SM_OK)
	{
		sm_hint(err, "vocab.json must be GPT-2's token-to-id JSON object.");
		return rc;
	}
	if (vocab->type != SM_JSON_OBJECT)
	{
		rc = sm_fail(err, SM_ERR_INVALID, "vocab.json must be a JSON object, not %s", sm_json_type_name(vocab->type));
		goto done;
	}
	for (size_t k = 0; k < vocab->count; k++)
	{
		const sm_json *v = vocab->items[k];

		if (v->type != SM_JSON_NUMBER || !v->is_integer || v->integer < 0 || v->integer > SM_TOK_MAX_ID)
		{
			rc = sm_fail(err, SM_ERR_INVALID, "vocab.json must map tokens to ids from 0 to %d", SM_TOK_MAX_ID);
			sm_detail(err, "Token \"%.100s\" has %s.", vocab->keys[k],
					  v->type == SM_JSON_NUMBER ? "another number" : sm_json_type_name(v->type));
			goto done;
		}
		if (v->integer > maxid)
			maxid = v->integer;
	}
	/* the vocabulary in id order, as HF writes it */
	if ((order = sm_alloc_array((size_t) maxid + 2, sizeof(int32_t))) == NULL)
	{
		rc = sm_fail(err, SM_ERR_NOMEM, "out of memory building a tokenizer");
		goto done;
	}
	for (int64_t k = 0; k <= maxid; k++)
		order[k] = -1;
	for (size_t k = 0; k < vocab->count; k++)
	{
		if (order[vocab->items[k]->integer] >= 0)
		{
			rc = sm_fail(err, SM_ERR_INVALID, "vocab.json gives id %lld to two tokens", (long long) vocab->items[k]->integer);
			sm_detail(err, "The tokens are \"%.100s\" and \"%.100s\".", vocab->keys[order[vocab->items[k]->integer]],
					  vocab->keys[k]);
			goto done;
		}
		order[vocab->items[k]->integer] = (int32_t) k;
	}
	append_str(out, "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":[");
	eot = sm_json_get(vocab, "<|endoftext|>");
	if (eot != NULL)
		write_added(out, "<|endoftext|>", (int32_t) eot->integer, true, &first);
	sm_buf_appendf(out, "],\"normalizer\":null,"
				   "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true},"
				   "\"post_processor\":{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":false,\"use_regex\":true},"
				   "\"decoder\":{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true,\"use_regex\":true},"
				   "\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,\"continuing_subword_prefix\":null,"
				   "\"end_of_word_suffix\":null,\"fuse_unk\":false,\"byte_fallback\":false,\"vocab\":{");
	first = true;
	for (int64_t k = 0; k <= maxid; k++)
	{
		if (order[k] < 0)
			continue;
		if (!first)
			append_str(out, ",");
		sm_json_write_string(out, vocab->keys[order[k]], strlen(vocab->keys[order[k]]));
		sm_buf_appendf(out, ":%lld", (long long) k);
		first = false;
	}
	append_str(out, "},\"merges\":[");
	first = true;
	/* merges.txt: one "a b" per line; "#version" lines skipped (HF) */
	while (i < merges_len)
	{
		const char *s = merges + i;
		const char *nl = memchr(s, '\n', merges_len - i);
		size_t		l = nl ? (size_t) (nl - s) : merges_len - i;
		const char *sp;

		i += l + (nl ? 1 : 0);
		line++;
		if (l > 0 && s[l - 1] == '\r')
			l--;
		if (l >= 8 && memcmp(s, "#version", 8) == 0)
			continue;
		sp = memchr(s, ' ', l);
		if (sp == NULL || sp == s || sp == s + l - 1 || memchr(sp + 1, ' ', l - (size_t) (sp + 1 - s)) != NULL)
		{
			rc = sm_fail(err, SM_ERR_INVALID, "merges.txt line %d must be two tokens separated by one space", line);
			sm_detail(err, "It is \"%.*s\".", (int) (l > 100 ? 100 : l), s);
			goto done;
		}
		if (!first)
			append_str(out, ",");
		sm_json_write_string(out, s, l);
		first = false;
	}
	append_str(out, "]}}");
	if (out->failed)
		rc = sm_fail(err, SM_ERR_NOMEM, "out of memory building a tokenizer");
done:
	sm_free(order);
	sm_json_free(vocab);
	return rc;
}

sm_status
sm_tokenizer_json_from_wordpiece(const char *vocab_txt, size_t len, bool lowercase,
								 sm_buf *out, sm_error *err)
{
	/* lines as HF's WordPiece::read_file: trailing whitespace trimmed, id = line index */
	size_t		nlines = 0;
	size_t		i = 0;
	const char **starts = NULL;
	size_t	   *lens = NULL;
	sm_tokenizer tmp;			/* only for its map: token -> last line */
	uint32_t   *offs = NULL;
	uint32_t   *ls = NULL;
	bool		first = true;
	static const char *const specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
	int32_t		sid[5];
	sm_status	rc = SM_OK;

	memset(&tmp, 0, sizeof(tmp));
	for (size_t k = 0; k < len; k++)
		if (vocab_txt[k] == '\n')
			nlines++;
	if (len > 0 && vocab_txt[len - 1] != '\n')
		nlines++;
	if (nlines > SM_TOK_MAX_ID)
		return sm_fail(err, SM_ERR_LIMIT, "vocab.txt has %zu lines, more than the %d supported", nlines, SM_TOK_MAX_ID);
	starts = sm_alloc_array(nlines + 1, sizeof(char *));
	lens = sm_alloc_array(nlines + 1, sizeof(size_t));
	offs = sm_alloc_array(nlines + 1, sizeof(uint32_t));
	ls = sm_alloc_array(nlines + 1, sizeof(uint32_t));
	if (starts == NULL || lens == NULL || offs == NULL || ls == NULL)
	{
		rc = sm_fail(err, SM_ERR_NOMEM, "out of memory building a tokenizer");
		goto done;
	}
	for (size_t n = 0; n < nlines; n++)
	{
		const char *s = vocab_txt + i;
		const char *nl = memchr(s, '\n', len - i);
		size_t		l = nl ? (size_t) (nl - s) : len - i;

		i += l + (nl ? 1 : 0);
		/* trim_end: trailing Unicode whitespace (ASCII suffices in practice; the rest below) */
		for (;;)
		{
			if (l > 0 && (s[l - 1] == ' ' || (s[l - 1] >= '\t' && s[l - 1] <= '\r')))
				l--;
			else if (l >= 2 && (uint8_t) s[l - 2] == 0xC2 && ((uint8_t) s[l - 1] == 0x85 || (uint8_t) s[l - 1] == 0xA0))
				l -= 2;
			else if (l >= 3 && (uint8_t) s[l - 3] >= 0xE1)
			{
				uint32_t	cp;

				if (sm_utf8_decode((const uint8_t *) s + l - 3, 3, &cp) == 3 && (sm_uni_flags(cp) & SM_UNI_WS))
					l -= 3;
				else
					break;
			}
			else
				break;
		}
		starts[n] = s;
		lens[n] = l;
	}
	/* a token on several lines keeps its last line's id (HF's map insert) */
	for (size_t n = 0; n < nlines; n++)
		if ((offs[n] = sm_tok_pool_add(&tmp, starts[n], lens[n])) == UINT32_MAX)
		{
			rc = sm_fail(err, SM_ERR_NOMEM, "out of memory building a tokenizer");
			goto done;
		}
	for (size_t n = 0; n < nlines; n++)
		ls[n] = (uint32_t) lens[n];
	{
		/* reversed order so that the map keeps the last line */
		uint32_t   *roffs = sm_alloc_array(nlines + 1, sizeof(uint32_t));
		uint32_t   *rls = sm_alloc_array(nlines + 1, sizeof(uint32_t));
		int			dup;

		if (roffs == NULL || rls == NULL)
		{
			sm_free(roffs);
			sm_free(rls);
			rc = sm_fail(err, SM_ERR_NOMEM, "out of memory building a tokenizer");
			goto done;
		}
		tmp.vocab_off = roffs;
		tmp.vocab_len = rls;
		tmp.vocab_ids = NULL;
		/* build the map incrementally, skipping duplicates: map index n' = nlines-1-n */
		for (size_t n = 0; n < nlines; n++)
		{
			roffs[n] = offs[nlines - 1 - n];
			rls[n] = ls[nlines - 1 - n];
		}
		memset(&tmp.vocab, 0, sizeof(tmp.vocab));
		{
			/* a map that tolerates duplicates: insert one by one */
			uint32_t	cap = 16;

			while (cap < 2 * (uint32_t) nlines + 2)
				cap <<= 1;
			tmp.vocab.slots = sm_alloc0((size_t) cap * sizeof(uint32_t));
			tmp.vocab.tags = sm_alloc((size_t) cap * sizeof(uint32_t));
			tmp.vocab.mask = cap - 1;
			if (tmp.vocab.slots == NULL || tmp.vocab.tags == NULL)
			{
				rc = sm_fail(err, SM_ERR_NOMEM, "out of memory building a tokenizer");
				goto done;
			}
			for (size_t n = 0; n < nlines; n++)
			{
				uint64_t	h = sm_tok_hash(tmp.pool + roffs[n], rls[n]);
				uint32_t	tag = (uint32_t) (h >> 32);
				uint32_t	s = (uint32_t) h & tmp.vocab.mask;
				bool		found = false;

				while (tmp.vocab.slots[s] != 0)
				{
					uint32_t	o = tmp.vocab.slots[s] - 1;

					if (tmp.vocab.tags[s] == tag && rls[o] == rls[n] &&
						memcmp(tmp.pool + roffs[o], tmp.pool + roffs[n], rls[n]) == 0)
					{
						found = true;
						break;
					}
					s = (s + 1) & tmp.vocab.mask;
				}
				if (!found)
				{
					tmp.vocab.slots[s] = (uint32_t) n + 1;
					tmp.vocab.tags[s] = tag;
				}
			}
		}
		(void) dup;
	}
	for (int k = 0; k < 5; k++)
	{
		int32_t		r = sm_tok_map_find(&tmp, &tmp.vocab, tmp.vocab_off, tmp.vocab_len,
										specials[k], strlen(specials[k]));

		sid[k] = r < 0 ? -1 : (int32_t) (nlines - 1 - (size_t) r);
	}
	if (sid[1] < 0)
	{
		rc = sm_fail(err, SM_ERR_INVALID, "vocab.txt has no [UNK] token");
		sm_detail(err, "WordPiece needs [UNK] for words it cannot split.");
		goto done;
	}
	append_str(out, "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":[");
	for (int k = 0; k < 5; k++)
		if (sid[k] >= 0)
			write_added(out, specials[k], sid[k], false, &first);
	sm_buf_appendf(out, "],\"normalizer\":{\"type\":\"BertNormalizer\",\"clean_text\":true,\"handle_chinese_chars\":true,"
				   "\"strip_accents\":null,\"lowercase\":%s},"
				   "\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},", lowercase ? "true" : "false");
	if (sid[2] >= 0 && sid[3] >= 0)
		sm_buf_appendf(out, "\"post_processor\":{\"type\":\"BertProcessing\",\"sep\":[\"[SEP]\",%d],\"cls\":[\"[CLS]\",%d]},",
					   sid[3], sid[2]);
	else
		append_str(out, "\"post_processor\":null,");
	append_str(out, "\"decoder\":{\"type\":\"WordPiece\",\"prefix\":\"##\",\"cleanup\":true},"
				  "\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"continuing_subword_prefix\":\"##\","
				  "\"max_input_chars_per_word\":100,\"vocab\":{");
	first = true;
	for (size_t n = 0; n < nlines; n++)
	{
		int32_t		r = sm_tok_map_find(&tmp, &tmp.vocab, tmp.vocab_off, tmp.vocab_len,
										starts[n], lens[n]);

		/* only the line that owns the token (its last occurrence) */
		if (r < 0 || nlines - 1 - (size_t) r != n)
			continue;
		if (!first)
			append_str(out, ",");
		sm_json_write_string(out, starts[n], lens[n]);
		sm_buf_appendf(out, ":%zu", n);
		first = false;
	}
	append_str(out, "}}}");
	if (out->failed)
		rc = sm_fail(err, SM_ERR_NOMEM, "out of memory building a tokenizer");
done:
	sm_free(starts);
	sm_free(lens);
	sm_free(offs);
	sm_free(ls);
	sm_free(tmp.vocab_off);
	sm_free(tmp.vocab_len);
	sm_tok_map_free(&tmp.vocab);
	sm_free(tmp.pool);
	return rc;
}
