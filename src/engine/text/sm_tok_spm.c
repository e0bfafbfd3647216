/*
 * sm_tok_spm.c -- SentencePiece tokenizers, id-exact against
 * sentencepiece 0.1.97 (SentencePieceProcessor.encode / decode).
 *
 * Two ways in, one model:
 *   - a SentencePiece .model file: a serialized protobuf ModelProto
 *     (google/sentencepiece src/sentencepiece_model.proto), read by the small
 *     protobuf reader below, which checks every length against the end of
 *     the data;
 *   - the tokenizer.json that sm_tokenizer_json_from_sentencepiece writes
 *     from a .model (Hugging Face's SpmConverter shape plus one member of
 *     ours, "seqmodel_sentencepiece", holding what HF's schema cannot say:
 *     piece types, spm's BPE scores, the normalizer flags, unk_surface).
 * Both fill an spm_src (the pieces and options) and spm_build turns that
 * into the tokenizer, so the two paths cannot drift apart.
 *
 * What spm does, and so what we do (normalizer.cc, unigram_model.cc,
 * bpe_model.cc, sentencepiece_processor.cc of 0.1.97):
 *   normalize: user-defined pieces are matched first and copied unchanged;
 *     otherwise the longest prefix in precompiled_charsmap (a darts-clone
 *     double array whose values are offsets of NUL-terminated replacements)
 *     replaces it; otherwise one UTF-8 character is copied (an invalid byte
 *     becomes U+FFFD).  remove_extra_whitespaces drops leading spaces,
 *     collapses runs and drops trailing ones; add_dummy_prefix puts one
 *     space in front; escape_whitespaces writes spaces as U+2581.
 *   unigram: Viterbi over the normalized bytes with the piece scores;
 *     user-defined pieces score length * max_score - 0.1 (always win);
 *     a character no piece covers is <unk> with min_score - 10.  The
 *     arithmetic mixes float and double exactly as spm's does, so ties
 *     break the same way.
 *   bpe: characters (user-defined pieces frozen), then repeatedly merge the
 *     adjacent pair whose concatenation is the best-scoring piece (ties: the
 *     leftmost); unused pieces are split back.
 *   then: runs of <unk> are fused into one; with byte_fallback an unknown
 *     piece becomes its UTF-8 bytes as <0xXX> pieces.
 *   decode: control pieces are empty, <unk> is unk_surface (" \u2047 "),
 *     U+2581 becomes a space, the first surface loses one leading U+2581
 *     (with add_dummy_prefix only),
 *     runs of byte pieces become UTF-8 with each invalid byte as U+FFFD.
 */
#include "sm_tok_internal.h"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* piece types (ModelProto.SentencePiece.Type) */
enum
{
	SPM_NORMAL = 1,
	SPM_UNKNOWN = 2,
	SPM_CONTROL = 3,
	SPM_USER_DEFINED = 4,
	SPM_UNUSED = 5,
	SPM_BYTE = 6
};

/* model types (TrainerSpec.ModelType) */
enum
{
	SPM_UNIGRAM = 1,
	SPM_BPE = 2,
	SPM_WORD = 3,
	SPM_CHAR = 4
};

#define SPM_MAX_PIECE_LEN 65536 /* bytes; spm's own are at most 16 characters */
#define SPM_UNK_PENALTY 10.0f	/* unigram_model.h kUnkPenalty */
#define SPM_SPACE "\xE2\x96\x81" /* U+2581 */

/* ---------------------------------------------------------------- the model, as read */

typedef struct spm_src
{
	int			model_type;
	int			npieces;
	const char **piece;			/* [npieces]: into the caller's data */
	uint32_t   *piece_len;
	float	   *score;
	uint8_t    *type;
	const uint8_t *charsmap;	/* precompiled_charsmap, or NULL */
	size_t		charsmap_len;
	bool		add_dummy_prefix;
	bool		remove_extra_ws;
	bool		escape_ws;
	bool		byte_fallback;
	bool		ws_suffix;		/* treat_whitespace_as_suffix */
	const char *unk_surface;
	size_t		unk_surface_len;
	const char *eos_piece;
	size_t		eos_len;
	const char *name;			/* normalizer name, for the tokenizer.json */
	size_t		name_len;
} spm_src;

static void
src_init(spm_src *s)
{
	memset(s, 0, sizeof(*s));
	s->model_type = SPM_UNIGRAM;
	s->add_dummy_prefix = s->remove_extra_ws = s->escape_ws = true;
	s->unk_surface = " \xE2\x81\x87 ";
	s->unk_surface_len = 5;
	s->eos_piece = "</s>";
	s->eos_len = 4;
	s->name = "";
}

static void
src_free(spm_src *s)
{
	sm_free(s->piece);
	sm_free(s->piece_len);
	sm_free(s->score);
	sm_free(s->type);
}

static bool
src_grow(spm_src *s, int *cap)
{
	int			c = *cap ? *cap * 2 : 256;
	const char **p;
	uint32_t   *l;
	float	   *f;
	uint8_t    *t;

	p = sm_alloc_array((size_t) c, sizeof(*p));
	l = sm_alloc_array((size_t) c, sizeof(*l));
	f = sm_alloc_array((size_t) c, sizeof(*f));
	t = sm_alloc((size_t) c);
	if (p == NULL || l == NULL || f == NULL || t == NULL)
	{
		sm_free(p);
		sm_free(l);
		sm_free(f);
		sm_free(t);
		return false;
	}
	if (s->npieces > 0)
	{
		memcpy(p, s->piece, (size_t) s->npieces * sizeof(*p));
		memcpy(l, s->piece_len, (size_t) s->npieces * sizeof(*l));
		memcpy(f, s->score, (size_t) s->npieces * sizeof(*f));
		memcpy(t, s->type, (size_t) s->npieces);
	}
	src_free(s);
	s->piece = p;
	s->piece_len = l;
	s->score = f;
	s->type = t;
	*cap = c;
	return true;
}

/* ---------------------------------------------------------------- a minimal protobuf reader */

/*
 * Only what ModelProto uses: varints (wire type 0), fixed32 (5), fixed64 (1,
 * skipped) and length-delimited fields (2).  Groups (3, 4) are refused.
 * Every read checks the end first, so no byte outside [start, end) is read.
 */
typedef struct pb_reader
{
	const uint8_t *p;
	const uint8_t *end;
	const uint8_t *start;		/* of the whole file, for offsets in messages */
} pb_reader;

typedef struct pb_field
{
	uint32_t	num;
	int			wire;
	uint64_t	v;				/* varint or fixed32 value */
	const uint8_t *data;		/* length-delimited: its bytes */
	size_t		len;
	size_t		at;				/* byte offset of the field's tag */
} pb_field;

static sm_status
pb_bad(sm_error *err, const char *msg, const char *where, size_t at)
{
	sm_fail(err, SM_ERR_INVALID, "invalid SentencePiece model: %s in %s at byte %zu", msg, where, at);
	sm_detail(err, "A SentencePiece .model file is a serialized ModelProto protocol buffer.");
	return SM_ERR_INVALID;
}

static bool
pb_varint(pb_reader *r, uint64_t *out)
{
	uint64_t	v = 0;

	for (int shift = 0; shift < 64; shift += 7)
	{
		uint8_t		b;

		if (r->p >= r->end)
			return false;
		b = *r->p++;
		v |= (uint64_t) (b & 0x7F) << shift;
		if (!(b & 0x80))
		{
			*out = v;
			return true;
		}
	}
	return false;				/* more than 10 bytes */
}

/* the next field, or false at the end (*rc says whether that was an error) */
static bool
pb_next(pb_reader *r, pb_field *f, const char *where, sm_status *rc, sm_error *err)
{
	uint64_t	tag;

	*rc = SM_OK;
	if (r->p >= r->end)
		return false;
	f->at = (size_t) (r->p - r->start);
	if (!pb_varint(r, &tag))
	{
		*rc = pb_bad(err, "truncated or overlong field tag", where, f->at);
		return false;
	}
	f->num = (uint32_t) (tag >> 3);
	f->wire = (int) (tag & 7);
	if ((tag >> 3) == 0 || (tag >> 3) > 0x1FFFFFFF)
	{
		*rc = pb_bad(err, "field number out of range", where, f->at);
		return false;
	}
	switch (f->wire)
	{
		case 0:
			if (!pb_varint(r, &f->v))
			{
				*rc = pb_bad(err, "truncated varint", where, f->at);
				return false;
			}
			return true;
		case 1:
			if (r->end - r->p < 8)
			{
				*rc = pb_bad(err, "truncated fixed64 field", where, f->at);
				return false;
			}
			r->p += 8;
			return true;
		case 5:
			if (r->end - r->p < 4)
			{
				*rc = pb_bad(err, "truncated fixed32 field", where, f->at);
				return false;
			}
			f->v = (uint64_t) r->p[0] | (uint64_t) r->p[1] << 8 |
				(uint64_t) r->p[2] << 16 | (uint64_t) r->p[3] << 24;
			r->p += 4;
			return true;
		case 2:
			{
				uint64_t	len;

				if (!pb_varint(r, &len))
				{
					*rc = pb_bad(err, "truncated length", where, f->at);
					return false;
				}
				if (len > (uint64_t) (r->end - r->p))
				{
					*rc = pb_bad(err, "length runs past the end of the data", where, f->at);
					return false;
				}
				f->data = r->p;
				f->len = (size_t) len;
				r->p += len;
				return true;
			}
		default:
			*rc = pb_bad(err, f->wire == 3 || f->wire == 4 ? "groups are not supported" : "invalid wire type",
						 where, f->at);
			return false;
	}
}

static sm_status
pb_want(const pb_field *f, int wire, const char *where, sm_error *err)
{
	if (f->wire == wire)
		return SM_OK;
	sm_fail(err, SM_ERR_INVALID, "invalid SentencePiece model: field %u of %s has wire type %d, expected %d",
			f->num, where, f->wire, wire);
	sm_detail(err, "The field's tag is at byte %zu.", f->at);
	return SM_ERR_INVALID;
}

static pb_reader
pb_sub(const pb_reader *r, const pb_field *f)
{
	pb_reader	s = {f->data, f->data + f->len, r->start};

	return s;
}

static int	utf8_valid_len(const uint8_t *s, size_t n);

/* a string the tokenizer.json can hold: valid UTF-8 without NUL bytes */
static bool
json_safe(const char *s, size_t n)
{
	for (size_t i = 0; i < n;)
	{
		int			l = utf8_valid_len((const uint8_t *) s + i, n - i);

		if (l == 0 || s[i] == '\0')
			return false;
		i += (size_t) l;
	}
	return true;
}

static sm_status
parse_piece(const pb_reader *outer, const pb_field *fld, spm_src *s, sm_error *err)
{
	pb_reader	r = pb_sub(outer, fld);
	pb_field	f;
	sm_status	rc;
	int			k = s->npieces;
	bool		have_piece = false;

	s->piece[k] = "";
	s->piece_len[k] = 0;
	s->score[k] = 0.0f;
	s->type[k] = SPM_NORMAL;
	while (pb_next(&r, &f, "ModelProto.pieces", &rc, err))
	{
		if (f.num == 1)
		{
			if ((rc = pb_want(&f, 2, "ModelProto.pieces", err)) != SM_OK)
				return rc;
			s->piece[k] = (const char *) f.data;
			s->piece_len[k] = (uint32_t) (f.len < UINT32_MAX ? f.len : UINT32_MAX);
			have_piece = true;
		}
		else if (f.num == 2)
		{
			uint32_t	u = (uint32_t) f.v;

			if ((rc = pb_want(&f, 5, "ModelProto.pieces", err)) != SM_OK)
				return rc;
			memcpy(&s->score[k], &u, 4);
		}
		else if (f.num == 3)
		{
			if ((rc = pb_want(&f, 0, "ModelProto.pieces", err)) != SM_OK)
				return rc;
			if (f.v < SPM_NORMAL || f.v > SPM_BYTE)
			{
				sm_fail(err, SM_ERR_INVALID, "invalid SentencePiece model: piece %d has type %llu",
						k, (unsigned long long) f.v);
				sm_detail(err, "Piece types run from 1 (NORMAL) to 6 (BYTE).");
				return SM_ERR_INVALID;
			}
			s->type[k] = (uint8_t) f.v;
		}
	}
	if (rc != SM_OK)
		return rc;
	if (!have_piece || s->piece_len[k] == 0)
		return sm_fail(err, SM_ERR_INVALID, "invalid SentencePiece model: piece %d is empty", k);
	if (s->piece_len[k] > SPM_MAX_PIECE_LEN)
		return sm_fail(err, SM_ERR_INVALID, "invalid SentencePiece model: piece %d is %u bytes long, more than %d",
					   k, s->piece_len[k], SPM_MAX_PIECE_LEN);
	if (!json_safe(s->piece[k], s->piece_len[k]))
		return sm_fail(err, SM_ERR_INVALID, "invalid SentencePiece model: piece %d is not valid UTF-8 or contains a NUL byte", k);
	if (!(s->score[k] == s->score[k]) || s->score[k] > FLT_MAX || s->score[k] < -FLT_MAX)
		return sm_fail(err, SM_ERR_INVALID, "invalid SentencePiece model: piece %d has a score that is not finite", k);
	s->npieces++;
	return SM_OK;
}

static sm_status
parse_trainer(const pb_reader *outer, const pb_field *fld, spm_src *s, sm_error *err)
{
	pb_reader	r = pb_sub(outer, fld);
	pb_field	f;
	sm_status	rc;
	const char *w = "TrainerSpec";

	while (pb_next(&r, &f, w, &rc, err))
	{
		/* the strings that go into the tokenizer.json */
		if (f.wire == 2 && (f.num == 44 || f.num == 47) && !json_safe((const char *) f.data, f.len))
			return sm_fail(err, SM_ERR_INVALID, "invalid SentencePiece model: TrainerSpec.%s is not valid UTF-8 or contains a NUL byte",
						   f.num == 44 ? "unk_surface" : "eos_piece");
		switch (f.num)
		{
			case 3:				/* model_type */
				if ((rc = pb_want(&f, 0, w, err)) != SM_OK)
					return rc;
				s->model_type = (int) (f.v > 100 ? 100 : f.v);
				break;
			case 24:			/* treat_whitespace_as_suffix */
				if ((rc = pb_want(&f, 0, w, err)) != SM_OK)
					return rc;
				s->ws_suffix = f.v != 0;
				break;
			case 35:			/* byte_fallback */
				if ((rc = pb_want(&f, 0, w, err)) != SM_OK)
					return rc;
				s->byte_fallback = f.v != 0;
				break;
			case 44:			/* unk_surface */
				if ((rc = pb_want(&f, 2, w, err)) != SM_OK)
					return rc;
				s->unk_surface = (const char *) f.data;
				s->unk_surface_len = f.len;
				break;
			case 47:			/* eos_piece */
				if ((rc = pb_want(&f, 2, w, err)) != SM_OK)
					return rc;
				s->eos_piece = (const char *) f.data;
				s->eos_len = f.len;
				break;
			default:			/* training-only settings */
				break;
		}
	}
	return rc;
}

static sm_status
parse_normalizer(const pb_reader *outer, const pb_field *fld, spm_src *s, bool denorm, sm_error *err)
{
	pb_reader	r = pb_sub(outer, fld);
	pb_field	f;
	sm_status	rc;
	const char *w = denorm ? "ModelProto.denormalizer_spec" : "NormalizerSpec";

	while (pb_next(&r, &f, w, &rc, err))
	{
		switch (f.num)
		{
			case 1:				/* name */
				if ((rc = pb_want(&f, 2, w, err)) != SM_OK)
					return rc;
				if (!denorm && !json_safe((const char *) f.data, f.len))
					return sm_fail(err, SM_ERR_INVALID, "invalid SentencePiece model: NormalizerSpec.name is not valid UTF-8 or contains a NUL byte");
				if (!denorm)
				{
					s->name = (const char *) f.data;
					s->name_len = f.len;
				}
				break;
			case 2:				/* precompiled_charsmap */
				if ((rc = pb_want(&f, 2, w, err)) != SM_OK)
					return rc;
				if (denorm && f.len > 0)
				{
					sm_fail(err, SM_ERR_UNSUPPORTED, "SentencePiece denormalization rules are not supported");
					sm_detail(err, "The model's denormalizer_spec has a precompiled_charsmap of %zu bytes.", f.len);
					return SM_ERR_UNSUPPORTED;
				}
				s->charsmap = f.len > 0 ? f.data : NULL;
				s->charsmap_len = f.len;
				break;
			case 3:
			case 4:
			case 5:
				if ((rc = pb_want(&f, 0, w, err)) != SM_OK)
					return rc;
				if (denorm)
					break;
				if (f.num == 3)
					s->add_dummy_prefix = f.v != 0;
				else if (f.num == 4)
					s->remove_extra_ws = f.v != 0;
				else
					s->escape_ws = f.v != 0;
				break;
			default:			/* normalization_rule_tsv: compiled into the charsmap */
				break;
		}
	}
	return rc;
}

static sm_status
parse_model_proto(const uint8_t *data, size_t len, spm_src *s, sm_error *err)
{
	pb_reader	r = {data, data + len, data};
	pb_field	f;
	sm_status	rc;
	int			cap = 0;

	if (len == 0)
		return sm_fail(err, SM_ERR_INVALID, "invalid SentencePiece model: the data is empty");
	while (pb_next(&r, &f, "ModelProto", &rc, err))
	{
		if (f.num == 1)
		{
			if ((rc = pb_want(&f, 2, "ModelProto", err)) != SM_OK)
				return rc;
			if (s->npieces > SM_TOK_MAX_ID)
			{
				sm_fail(err, SM_ERR_LIMIT, "SentencePiece model has more than %d pieces", SM_TOK_MAX_ID + 1);
				return SM_ERR_LIMIT;
			}
			if (s->npieces == cap && !src_grow(s, &cap))
				return sm_tok_nomem_load(err);
			if ((rc = parse_piece(&r, &f, s, err)) != SM_OK)
				return rc;
		}
		else if (f.num == 2 || f.num == 3 || f.num == 5)
		{
			if ((rc = pb_want(&f, 2, "ModelProto", err)) != SM_OK)
				return rc;
			rc = f.num == 2 ? parse_trainer(&r, &f, s, err) :
				parse_normalizer(&r, &f, s, f.num == 5, err);
			if (rc != SM_OK)
				return rc;
		}
	}
	return rc;
}

/* ---------------------------------------------------------------- the loaded model */

/*
 * Two byte tries (sm_tok_trie.c): over the pieces spm looks up by prefix
 * (normal, user-defined and unused ones: spm's pieces_), and over the
 * user-defined pieces (spm's PrefixMatcher).
 */
struct sm_tok_spm
{
	int			model_type;
	int			npieces;
	float	   *score;
	uint8_t    *type;
	float		min_score;		/* over NORMAL pieces, as spm */
	float		max_score;
	sm_tok_trie pieces;
	sm_tok_trie user;
	bool		has_user;
	sm_tok_charsmap charsmap;	/* precompiled_charsmap (data NULL: none) */
	bool		add_dummy_prefix;
	bool		remove_extra_ws;
	bool		escape_ws;
	bool		byte_fallback;
	int32_t		unk_id;
	int32_t		eos_id;
	int32_t		byte_id[256];
	char	   *unk_surface;
	size_t		unk_surface_len;
	char	   *name;
};

/* spm's OneCharLen: the length a lead byte announces (1 for a stray continuation byte) */
static inline int
one_char_len(uint8_t b)
{
	static const uint8_t len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};

	return len[b >> 4];
}

/*
 * spm's DecodeUTF8 + IsValidDecodeUTF8: the length of the valid UTF-8
 * character at s (no overlong forms, no surrogates, at most U+10FFFF), or 0
 * for an invalid byte.
 */
static int
utf8_valid_len(const uint8_t *s, size_t n)
{
	uint32_t	cp;

	if (n == 0)
		return 0;
	if (s[0] < 0x80)
		return 1;
	if (n >= 2 && (s[0] & 0xE0) == 0xC0 && (s[1] & 0xC0) == 0x80)
	{
		cp = (uint32_t) (s[0] & 0x1F) << 6 | (s[1] & 0x3F);
		return cp >= 0x80 ? 2 : 0;
	}
	if (n >= 3 && (s[0] & 0xF0) == 0xE0 && (s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80)
	{
		cp = (uint32_t) (s[0] & 0x0F) << 12 | (uint32_t) (s[1] & 0x3F) << 6 | (s[2] & 0x3F);
		return cp >= 0x800 && (cp < 0xD800 || cp >= 0xE000) ? 3 : 0;
	}
	if (n >= 4 && (s[0] & 0xF8) == 0xF0 && (s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80 &&
		(s[3] & 0xC0) == 0x80)
	{
		cp = (uint32_t) (s[0] & 0x07) << 18 | (uint32_t) (s[1] & 0x3F) << 12 |
			(uint32_t) (s[2] & 0x3F) << 6 | (s[3] & 0x3F);
		return cp >= 0x10000 && cp <= 0x10FFFF ? 4 : 0;
	}
	return 0;
}

/* a trie over the pieces whose type bit is in types (bit t: type t); spm keeps the first of
 * equal pieces; false: no memory */
static bool
build_trie(sm_tok_trie *tr, const spm_src *s, unsigned types)
{
	bool	   *take = sm_alloc_array((size_t) s->npieces + 1, sizeof(bool));
	bool		ok;

	if (take == NULL)
		return false;
	for (int k = 0; k < s->npieces; k++)
		take[k] = (types & (1u << s->type[k])) != 0;
	ok = sm_tok_trie_build(tr, s->piece, s->piece_len, s->npieces, take, false);
	sm_free(take);
	return ok;
}

/* ---------------------------------------------------------------- building the tokenizer */

/* the byte of a "<0xXX>" piece (spm's PieceToByte: upper-case hex), or -1 */
static int
piece_byte(const char *p, uint32_t len)
{
	int			v = 0;

	if (len != 6 || memcmp(p, "<0x", 3) != 0 || p[5] != '>')
		return -1;
	for (int i = 3; i < 5; i++)
	{
		char		c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

static sm_status
spm_build(sm_tokenizer *t, const spm_src *s, sm_error *err)
{
	struct sm_tok_spm *m;
	int			dup;
	sm_status	rc;

	if (s->model_type == SPM_WORD || s->model_type == SPM_CHAR)
	{
		sm_fail(err, SM_ERR_UNSUPPORTED, "SentencePiece model type %s is not supported",
				s->model_type == SPM_WORD ? "WORD" : "CHAR");
		sm_detail(err, "Supported are UNIGRAM and BPE.");
		return SM_ERR_UNSUPPORTED;
	}
	if (s->model_type != SPM_UNIGRAM && s->model_type != SPM_BPE)
	{
		sm_fail(err, SM_ERR_INVALID, "invalid SentencePiece model: model type %d", s->model_type);
		sm_detail(err, "Model types run from 1 (UNIGRAM) to 4 (CHAR).");
		return SM_ERR_INVALID;
	}
	if (s->ws_suffix)
	{
		sm_fail(err, SM_ERR_UNSUPPORTED, "SentencePiece option treat_whitespace_as_suffix is not supported");
		sm_detail(err, "The model sets treat_whitespace_as_suffix to true.");
		return SM_ERR_UNSUPPORTED;
	}
	if (s->npieces == 0)
		return sm_fail(err, SM_ERR_INVALID, "invalid SentencePiece model: it has no pieces");

	if ((m = sm_alloc0(sizeof(*m))) == NULL)
		return sm_tok_nomem_load(err);
	t->spm = m;
	t->kind = s->model_type == SPM_BPE ? SM_TOK_SPM_BPE : SM_TOK_UNIGRAM;
	m->model_type = s->model_type;
	m->npieces = s->npieces;
	m->add_dummy_prefix = s->add_dummy_prefix;
	m->remove_extra_ws = s->remove_extra_ws;
	m->escape_ws = s->escape_ws;
	m->byte_fallback = s->byte_fallback;
	m->unk_id = -1;
	m->eos_id = -1;
	m->min_score = FLT_MAX;
	m->max_score = FLT_MIN;		/* spm's initial value: a tiny positive number */
	for (int b = 0; b < 256; b++)
		m->byte_id[b] = -1;
	m->score = sm_alloc_array((size_t) s->npieces, sizeof(float));
	m->type = sm_alloc((size_t) s->npieces);
	m->unk_surface = sm_strndup(s->unk_surface, s->unk_surface_len);
	m->name = sm_strndup(s->name, s->name_len);
	if (m->score == NULL || m->type == NULL || m->unk_surface == NULL || m->name == NULL)
		return sm_tok_nomem_load(err);
	m->unk_surface_len = s->unk_surface_len;
	memcpy(m->score, s->score, (size_t) s->npieces * sizeof(float));
	memcpy(m->type, s->type, (size_t) s->npieces);

	/* the checks of spm's ModelInterface::InitializePieces */
	for (int k = 0; k < s->npieces; k++)
	{
		if (s->type[k] == SPM_NORMAL)
		{
			m->min_score = s->score[k] < m->min_score ? s->score[k] : m->min_score;
			m->max_score = s->score[k] > m->max_score ? s->score[k] : m->max_score;
		}
		else if (s->type[k] == SPM_UNKNOWN)
		{
			if (m->unk_id >= 0)
			{
				sm_fail(err, SM_ERR_INVALID, "invalid SentencePiece model: more than one unknown piece");
				sm_detail(err, "Pieces %d and %d both have type UNKNOWN.", m->unk_id, k);
				return SM_ERR_INVALID;
			}
			m->unk_id = k;
		}
		else if (s->type[k] == SPM_USER_DEFINED)
			m->has_user = true;
		else if (s->type[k] == SPM_BYTE)
		{
			int			b = piece_byte(s->piece[k], s->piece_len[k]);

			if (!s->byte_fallback)
			{
				sm_fail(err, SM_ERR_INVALID, "invalid SentencePiece model: byte piece %d although byte_fallback is false", k);
				return SM_ERR_INVALID;
			}
			if (b < 0)
			{
				sm_fail(err, SM_ERR_INVALID, "invalid SentencePiece model: byte piece %d is not of the form <0xXX>", k);
				return SM_ERR_INVALID;
			}
			m->byte_id[b] = k;
		}
	}
	if (m->unk_id < 0)
	{
		sm_fail(err, SM_ERR_INVALID, "invalid SentencePiece model: it has no unknown piece");
		sm_detail(err, "Exactly one piece must have type UNKNOWN.");
		return SM_ERR_INVALID;
	}
	if (s->byte_fallback)
		for (int b = 0; b < 256; b++)
			if (m->byte_id[b] < 0)
			{
				sm_fail(err, SM_ERR_INVALID, "invalid SentencePiece model: byte_fallback is set but byte piece <0x%02X> is missing", b);
				return SM_ERR_INVALID;
			}

	/* the charsmap: uint32 trie size, the double array, the replacements */
	if (s->charsmap != NULL &&
		(rc = sm_tok_charsmap_init(&m->charsmap, s->charsmap, s->charsmap_len, "invalid SentencePiece model", err)) != SM_OK)
		return rc;

	/* ids, strings and the string -> id map the driver uses */
	t->nids = s->npieces;
	t->id_off = sm_alloc_array((size_t) t->nids, sizeof(uint32_t));
	t->id_len = sm_alloc_array((size_t) t->nids, sizeof(uint32_t));
	t->id_flags = sm_alloc0((size_t) t->nids);
	t->vocab_ids = sm_alloc_array((size_t) t->nids, sizeof(int32_t));
	t->vocab_off = t->id_off;	/* the same strings: freed once (see sm_tok_spm_free) */
	t->vocab_len = t->id_len;
	if (t->id_off == NULL || t->id_len == NULL || t->id_flags == NULL || t->vocab_ids == NULL)
		return sm_tok_nomem_load(err);
	for (int k = 0; k < s->npieces; k++)
	{
		if ((t->id_off[k] = sm_tok_pool_add(t, s->piece[k], s->piece_len[k])) == UINT32_MAX)
			return sm_tok_nomem_load(err);
		t->id_len[k] = s->piece_len[k];
		t->id_flags[k] = SM_TOK_ID_USED | (s->type[k] == SPM_CONTROL ? SM_TOK_ID_SPECIAL : 0);
		t->vocab_ids[k] = k;
	}
	t->nvocab = s->npieces;
	if ((rc = sm_tok_map_build(&t->vocab, t->pool, t->id_off, t->id_len, t->nids, false, &dup, err)) != SM_OK)
		return rc;
	if (dup >= 0)
	{
		sm_fail(err, SM_ERR_INVALID, "invalid SentencePiece model: piece \"%.*s\" is defined twice",
				(int) (t->id_len[dup] < 64 ? t->id_len[dup] : 64), t->pool + t->id_off[dup]);
		sm_detail(err, "The second definition is piece %d.", dup);
		return SM_ERR_INVALID;
	}
	t->unk_id = m->unk_id;
	if (!build_trie(&m->pieces, s, 1u << SPM_NORMAL | 1u << SPM_USER_DEFINED | 1u << SPM_UNUSED) ||
		(m->has_user && !build_trie(&m->user, s, 1u << SPM_USER_DEFINED)))
		return sm_tok_nomem_load(err);

	/* post-processor: "$A </s>" (and "$A $B </s>") when there is an eos control piece, as Marian and T5 */
	{
		int32_t		eos = sm_tok_vocab_id(t, s->eos_piece, s->eos_len);

		if (eos >= 0 && s->type[eos] == SPM_CONTROL)
			m->eos_id = eos;
	}
	t->single.pieces = sm_alloc0(2 * sizeof(sm_tok_piece));
	t->pair.pieces = sm_alloc0(3 * sizeof(sm_tok_piece));
	t->tmpl_ids = sm_alloc(sizeof(int32_t));
	if (t->single.pieces == NULL || t->pair.pieces == NULL || t->tmpl_ids == NULL)
		return sm_tok_nomem_load(err);
	t->single.pieces[0].seq = 0;
	t->pair.pieces[0].seq = 0;
	t->pair.pieces[1].seq = 1;
	t->single.npieces = 1;
	t->pair.npieces = 2;
	if (m->eos_id >= 0)
	{
		t->tmpl_ids[0] = m->eos_id;
		t->single.pieces[1] = (sm_tok_piece) {-1, 0, 1, 0};
		t->pair.pieces[2] = (sm_tok_piece) {-1, 0, 1, 0};
		t->single.npieces = 2;
		t->pair.npieces = 3;
		t->single.nspecial = t->pair.nspecial = 1;
	}
	return SM_OK;
}

void
sm_tok_spm_free(sm_tokenizer *t)
{
	struct sm_tok_spm *m = t->spm;

	if (m == NULL)
		return;
	sm_tok_trie_free(&m->pieces);
	sm_tok_trie_free(&m->user);
	sm_free(m->score);
	sm_free(m->type);
	sm_tok_charsmap_free(&m->charsmap);
	sm_free(m->unk_surface);
	sm_free(m->name);
	sm_free(m);
	t->spm = NULL;
	t->vocab_off = NULL;		/* shared with id_off / id_len */
	t->vocab_len = NULL;
}

/* ---------------------------------------------------------------- normalizing */

typedef struct spm_out
{
	uint8_t    *p;
	size_t		len;
	size_t		cap;
	bool		failed;
} spm_out;

static void
out_put(spm_out *o, const void *s, size_t n)
{
	if (o->failed)
		return;
	if (o->len + n > o->cap)
	{
		size_t		c = o->cap ? o->cap : 256;
		uint8_t    *q;

		while (c < o->len + n)
			c *= 2;
		if ((q = sm_alloc(c)) == NULL)
		{
			o->failed = true;
			return;
		}
		if (o->len > 0)
			memcpy(q, o->p, o->len);
		sm_free(o->p);
		o->p = q;
		o->cap = c;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

/* spm's NormalizePrefix: what s[0, n) (n > 0) starts with, normalized, and how many bytes that took */
static size_t
normalize_prefix(const struct sm_tok_spm *m, const uint8_t *s, size_t n, const char **r, size_t *rlen)
{
	size_t		l;

	if (m->has_user)
	{
		int64_t		node = 0;
		size_t		best = 0;

		for (size_t j = 0; j < n && (node = sm_tok_trie_next(&m->user, (uint32_t) node, s[j])) >= 0; j++)
			if (m->user.val[node] >= 0)
				best = j + 1;
		if (best > 0)
		{
			*r = (const char *) s;
			*rlen = best;
			return best;
		}
	}
	if (m->charsmap.data != NULL && (l = sm_tok_charsmap_longest(&m->charsmap, s, n, r, rlen)) > 0)
		return l;
	if ((l = (size_t) utf8_valid_len(s, n)) == 0)
	{
		/* spm keeps a literal U+FFFD (3 bytes) and turns a bad byte into one */
		*r = "\xEF\xBF\xBD";
		*rlen = 3;
		return 1;
	}
	*r = (const char *) s;
	*rlen = l;
	return l;
}

static void
add_ws(const struct sm_tok_spm *m, spm_out *o)
{
	if (m->escape_ws)
		out_put(o, SPM_SPACE, 3);
	else
		out_put(o, " ", 1);
}

/* spm's Normalizer::Normalize */
static void
spm_normalize(const struct sm_tok_spm *m, const uint8_t *s, size_t n, spm_out *o)
{
	const char *r;
	size_t		rlen,
				used;
	bool		prev_space;

	o->len = 0;
	if (m->remove_extra_ws)
		while (n > 0)
		{
			used = normalize_prefix(m, s, n, &r, &rlen);
			if (rlen != 1 || r[0] != ' ')
				break;
			s += used;
			n -= used;
		}
	if (n == 0)
		return;
	if (m->add_dummy_prefix)
		add_ws(m, o);
	prev_space = m->remove_extra_ws;
	while (n > 0)
	{
		used = normalize_prefix(m, s, n, &r, &rlen);
		while (prev_space && rlen > 0 && r[0] == ' ')
		{
			r++;
			rlen--;
		}
		if (rlen > 0)
		{
			for (size_t k = 0; k < rlen; k++)
			{
				if (m->escape_ws && r[k] == ' ')
					out_put(o, SPM_SPACE, 3);
				else
					out_put(o, r + k, 1);
			}
			prev_space = r[rlen - 1] == ' ';
		}
		s += used;
		n -= used;
		if (!m->remove_extra_ws)
			prev_space = false;
	}
	if (m->remove_extra_ws)
	{
		const char *sp = m->escape_ws ? SPM_SPACE : " ";
		size_t		sl = m->escape_ws ? 3 : 1;

		while (o->len >= sl && memcmp(o->p + o->len - sl, sp, sl) == 0)
			o->len -= sl;
	}
}

/* ---------------------------------------------------------------- the models */

/* a segment of the normalized text with its piece */
typedef struct spm_seg
{
	uint32_t	start;
	uint32_t	end;
	int32_t		id;
} spm_seg;

typedef struct spm_segs
{
	spm_seg    *v;
	size_t		n;
	size_t		cap;
} spm_segs;

static bool
segs_push(spm_segs *g, uint32_t start, uint32_t end, int32_t id)
{
	if (g->n == g->cap)
	{
		size_t		c = g->cap ? g->cap * 2 : 64;
		spm_seg    *q = sm_alloc_array(c, sizeof(spm_seg));

		if (q == NULL)
			return false;
		if (g->n > 0)
			memcpy(q, g->v, g->n * sizeof(spm_seg));
		sm_free(g->v);
		g->v = q;
		g->cap = c;
	}
	g->v[g->n++] = (spm_seg) {start, end, id};
	return true;
}

/* unigram_model.cc EncodeOptimized */
static sm_status
unigram_encode(const struct sm_tok_spm *m, const uint8_t *s, size_t size, spm_segs *out, sm_error *err)
{
	float	   *best;
	int32_t    *from,
			   *ids;
	const float unk_score = m->min_score - SPM_UNK_PENALTY;
	size_t		at = 0;
	size_t		nseg = 0;

	best = sm_alloc_array(size + 1, sizeof(float));
	from = sm_alloc_array(size + 1, sizeof(int32_t));
	ids = sm_alloc_array(size + 1, sizeof(int32_t));
	if (best == NULL || from == NULL || ids == NULL)
	{
		sm_free(best);
		sm_free(from);
		sm_free(ids);
		return sm_tok_nomem(err);
	}
	for (size_t i = 0; i <= size; i++)
	{
		best[i] = 0.0f;
		from[i] = -1;
		ids[i] = -1;
	}
	while (at < size)
	{
		const float till = best[at];

		/* a long text: poll for cancellation every 64 KiB */
		if ((at & 0xFFFF) < 4 && at >= 4 && sm_should_abort())
		{
			sm_free(best);
			sm_free(from);
			sm_free(ids);
			return sm_fail(err, SM_ERR_ABORTED, "tokenization canceled");
		}
		bool		single = false;
		size_t		mblen = (size_t) one_char_len(s[at]);
		int64_t		node = 0;

		if (mblen > size - at)
			mblen = size - at;
		for (size_t kp = at; kp < size;)
		{
			int32_t		id;

			node = sm_tok_trie_next(&m->pieces, (uint32_t) node, s[kp]);
			if (node < 0)
				break;
			kp++;
			if ((id = m->pieces.val[node]) < 0 || m->type[id] == SPM_UNUSED)
				continue;
			{
				size_t		length = kp - at;
				/* spm: the conditional is double (user-defined: float product minus 0.1) */
				double		score = m->type[id] == SPM_USER_DEFINED ?
					(double) ((float) length * m->max_score) - 0.1 : (double) m->score[id];
				double		cand = score + (double) till;

				if (from[kp] == -1 || cand > (double) best[kp])
				{
					best[kp] = (float) cand;
					from[kp] = (int32_t) at;
					ids[kp] = id;
				}
				if (!single && length == mblen)
					single = true;
			}
		}
		if (!single)
		{
			float		cand = unk_score + till;
			size_t		e = at + mblen;

			if (from[e] == -1 || cand > best[e])
			{
				best[e] = cand;
				from[e] = (int32_t) at;
				ids[e] = m->unk_id;
			}
		}
		at += mblen;
	}
	/* backtrack: count, then fill from the end */
	for (size_t e = size; e > 0; e = (size_t) from[e])
		nseg++;
	out->n = 0;
	if (nseg > out->cap)
	{
		sm_free(out->v);
		out->cap = 0;
		if ((out->v = sm_alloc_array(nseg, sizeof(spm_seg))) == NULL)
		{
			sm_free(best);
			sm_free(from);
			sm_free(ids);
			return sm_tok_nomem(err);
		}
		out->cap = nseg;
	}
	out->n = nseg;
	for (size_t e = size, k = nseg; e > 0; e = (size_t) from[e])
		out->v[--k] = (spm_seg) {(uint32_t) from[e], (uint32_t) e, ids[e]};
	sm_free(best);
	sm_free(from);
	sm_free(ids);
	return SM_OK;
}

/* bpe_model.cc Encode */
typedef struct bpe_sym
{
	uint32_t	start;
	uint32_t	len;
	int32_t		prev;
	int32_t		next;
	bool		freeze;
} bpe_sym;

typedef struct bpe_pair
{
	int32_t		left;
	int32_t		right;
	float		score;
	uint32_t	size;
} bpe_pair;

typedef struct bpe_rev
{
	uint32_t	start;			/* the merged piece in the text */
	uint32_t	len;
	uint32_t	left_len;
} bpe_rev;

typedef struct bpe_state
{
	const struct sm_tok_spm *m;
	const uint8_t *s;
	bpe_sym    *sym;
	bpe_pair   *pairs;
	int32_t    *heap;
	size_t		npairs;
	size_t		nheap;
	bpe_rev    *rev;			/* rev_merge, for unused pieces */
	size_t		nrev;
	size_t		caprev;
	bool		nomem;
} bpe_state;

/* spm's SymbolPairComparator: a is below b */
static inline bool
pair_less(const bpe_pair *a, const bpe_pair *b)
{
	return a->score < b->score || (a->score == b->score && a->left > b->left);
}

static void
heap_push(bpe_state *st, int32_t p)
{
	size_t		i = st->nheap++;

	st->heap[i] = p;
	while (i > 0)
	{
		size_t		up = (i - 1) / 2;

		if (!pair_less(&st->pairs[st->heap[up]], &st->pairs[st->heap[i]]))
			break;
		st->heap[up] ^= st->heap[i];
		st->heap[i] ^= st->heap[up];
		st->heap[up] ^= st->heap[i];
		i = up;
	}
}

static int32_t
heap_pop(bpe_state *st)
{
	int32_t		top = st->heap[0];
	size_t		i = 0;

	st->heap[0] = st->heap[--st->nheap];
	for (;;)
	{
		size_t		l = 2 * i + 1,
					r = l + 1,
					b = i;

		if (l < st->nheap && pair_less(&st->pairs[st->heap[b]], &st->pairs[st->heap[l]]))
			b = l;
		if (r < st->nheap && pair_less(&st->pairs[st->heap[b]], &st->pairs[st->heap[r]]))
			b = r;
		if (b == i)
			break;
		{
			int32_t		x = st->heap[b];

			st->heap[b] = st->heap[i];
			st->heap[i] = x;
		}
		i = b;
	}
	return top;
}

static void
bpe_maybe_add(bpe_state *st, int32_t left, int32_t right)
{
	const bpe_sym *l,
			   *r;
	int32_t		id;
	bpe_pair   *p;

	if (left == -1 || right == -1 || st->sym[left].freeze || st->sym[right].freeze)
		return;
	l = &st->sym[left];
	r = &st->sym[right];
	if ((id = sm_tok_trie_find(&st->m->pieces, st->s + l->start, l->len + r->len)) < 0)
		return;
	p = &st->pairs[st->npairs];
	p->left = left;
	p->right = right;
	p->score = st->m->score[id];
	p->size = l->len + r->len;
	heap_push(st, (int32_t) st->npairs++);
	if (st->m->type[id] == SPM_UNUSED)
	{
		if (st->nrev == st->caprev)
		{
			size_t		c = st->caprev ? st->caprev * 2 : 16;
			bpe_rev    *q = sm_alloc_array(c, sizeof(bpe_rev));

			if (q == NULL)
			{
				st->nomem = true;
				return;
			}
			if (st->nrev > 0)
				memcpy(q, st->rev, st->nrev * sizeof(bpe_rev));
			sm_free(st->rev);
			st->rev = q;
			st->caprev = c;
		}
		st->rev[st->nrev++] = (bpe_rev) {l->start, l->len + r->len, l->len};
	}
}

/* spm's PieceToId: any piece, else <unk> */
static int32_t
piece_to_id(const sm_tokenizer *t, const uint8_t *p, size_t len)
{
	int32_t		id = sm_tok_vocab_id(t, p, len);

	return id < 0 ? t->spm->unk_id : id;
}

/* split an unused piece back, as rev_merge says (the latest entry for that string) */
static bool
bpe_resegment(const sm_tokenizer *t, bpe_state *st, uint32_t start, uint32_t len, spm_segs *out, int depth)
{
	int32_t		id = piece_to_id(t, st->s + start, len);

	if (t->spm->type[id] == SPM_UNUSED && depth < 64)
		for (size_t k = st->nrev; k-- > 0;)
		{
			const bpe_rev *r = &st->rev[k];

			if (r->len == len && memcmp(st->s + r->start, st->s + start, len) == 0)
				return bpe_resegment(t, st, start, r->left_len, out, depth + 1) &&
					bpe_resegment(t, st, start + r->left_len, len - r->left_len, out, depth + 1);
		}
	return segs_push(out, start, start + len, id);
}

static sm_status
bpe_encode(const sm_tokenizer *t, const uint8_t *s, size_t size, spm_segs *out, sm_error *err)
{
	const struct sm_tok_spm *m = t->spm;
	bpe_state	st = {0};
	size_t		n = 0,
				polls = 0;
	sm_status	rc = SM_OK;

	st.m = m;
	st.s = s;
	st.sym = sm_alloc_array(size + 1, sizeof(bpe_sym));
	st.pairs = sm_alloc_array(3 * size + 1, sizeof(bpe_pair));
	st.heap = sm_alloc_array(3 * size + 1, sizeof(int32_t));
	out->n = 0;
	if (st.sym == NULL || st.pairs == NULL || st.heap == NULL)
	{
		rc = sm_tok_nomem(err);
		goto done;
	}
	/* characters, a user-defined piece as one frozen symbol (PrefixMatcher) */
	for (size_t at = 0; at < size; n++)
	{
		size_t		l = 0;
		bool		freeze = false;

		if (m->has_user)
		{
			int64_t		node = 0;

			for (size_t j = at; j < size && (node = sm_tok_trie_next(&m->user, (uint32_t) node, s[j])) >= 0; j++)
				if (m->user.val[node] >= 0)
					l = j + 1 - at;
			freeze = l > 0;
		}
		if (l == 0)
		{
			l = (size_t) one_char_len(s[at]);
			if (l > size - at)
				l = size - at;
		}
		st.sym[n] = (bpe_sym) {(uint32_t) at, (uint32_t) l, (int32_t) n - 1, -1, freeze};
		at += l;
		if (at < size)
			st.sym[n].next = (int32_t) n + 1;
	}
	for (size_t i = 1; i < n; i++)
		bpe_maybe_add(&st, (int32_t) i - 1, (int32_t) i);
	while (st.nheap > 0 && !st.nomem)
	{
		const bpe_pair *top;

		if ((++polls & 0xFFFF) == 0 && sm_should_abort())
		{
			rc = sm_fail(err, SM_ERR_ABORTED, "tokenization canceled");
			goto done;
		}
		top = &st.pairs[heap_pop(&st)];
		bpe_sym    *l = &st.sym[top->left],
				   *r = &st.sym[top->right];

		if (l->len == 0 || r->len == 0 || l->len + r->len != top->size)
			continue;
		l->len += r->len;
		l->next = r->next;
		if (r->next >= 0)
			st.sym[r->next].prev = top->left;
		r->len = 0;
		{
			int32_t		left = top->left;

			bpe_maybe_add(&st, st.sym[left].prev, left);
			bpe_maybe_add(&st, left, st.sym[left].next);
		}
	}
	if (st.nomem)
	{
		rc = sm_tok_nomem(err);
		goto done;
	}
	for (int32_t i = n > 0 ? 0 : -1; i != -1; i = st.sym[i].next)
		if (!bpe_resegment(t, &st, st.sym[i].start, st.sym[i].len, out, 0))
		{
			rc = sm_tok_nomem(err);
			goto done;
		}
done:
	sm_free(st.sym);
	sm_free(st.pairs);
	sm_free(st.heap);
	sm_free(st.rev);
	return rc;
}

/* ---------------------------------------------------------------- encode and decode */

sm_status
sm_tok_spm_encode(const sm_tokenizer *t, const uint8_t *text, size_t len, sm_tok_ids *e,
				  int32_t type_id, sm_error *err)
{
	const struct sm_tok_spm *m = t->spm;
	spm_out		norm = {0};
	spm_segs	segs = {0};
	sm_status	rc;
	bool		prev_unk = false;

	spm_normalize(m, text, len, &norm);
	if (norm.failed)
	{
		sm_free(norm.p);
		return sm_tok_nomem(err);
	}
	if (norm.len > INT32_MAX - 1)
	{
		sm_free(norm.p);
		return sm_fail(err, SM_ERR_LIMIT, "text of %zu bytes is too long to tokenize", len);
	}
	if (sm_should_abort())
	{
		sm_free(norm.p);
		return sm_fail(err, SM_ERR_ABORTED, "tokenization canceled");
	}
	if (norm.len == 0)
		rc = SM_OK;
	else if (m->model_type == SPM_UNIGRAM)
		rc = unigram_encode(m, norm.p, norm.len, &segs, err);
	else
		rc = bpe_encode(t, norm.p, norm.len, &segs, err);
	/* SentencePieceProcessor::Encode: byte fallback, runs of <unk> fused */
	for (size_t k = 0; rc == SM_OK && k < segs.n; k++)
	{
		const spm_seg *g = &segs.v[k];
		bool		unk = m->type[g->id] == SPM_UNKNOWN;

		if (unk && m->byte_fallback)
		{
			for (uint32_t b = g->start; b < g->end; b++)
				if (!sm_tok_ids_push(e, m->byte_id[norm.p[b]], type_id))
					rc = sm_tok_nomem(err);
		}
		else if (!(unk && prev_unk) && !sm_tok_ids_push(e, g->id, type_id))
			rc = sm_tok_nomem(err);
		prev_unk = unk;
	}
	sm_free(norm.p);
	sm_free(segs.v);
	return rc;
}

/* a run of byte pieces ids[from, to) as UTF-8, each invalid byte as U+FFFD */
static void
flush_bytes(const sm_tokenizer *t, const int32_t *ids, int from, int to, sm_buf *out)
{
	uint8_t		buf[256];
	int			k = from;

	while (k < to)
	{
		int			n = 0,
					off = 0;

		/* a chunk; a character split at its end is carried to the next */
		for (; k < to && n < (int) sizeof(buf); k++)
			buf[n++] = (uint8_t) piece_byte(t->pool + t->id_off[ids[k]], t->id_len[ids[k]]);
		while (off < n)
		{
			int			l = utf8_valid_len(buf + off, (size_t) (n - off));

			if (l == 0 && k < to && n - off < 4 && one_char_len(buf[off]) > n - off)
			{
				/* maybe valid with the bytes still to come: step back */
				k -= n - off;
				break;
			}
			if (l == 0)
			{
				sm_buf_append(out, "\xEF\xBF\xBD", 3);
				off++;
			}
			else
			{
				sm_buf_append(out, buf + off, (size_t) l);
				off += l;
			}
		}
	}
}

void
sm_tok_spm_decode(const sm_tokenizer *t, const int32_t *ids, int n, bool skip_special, sm_buf *out)
{
	const struct sm_tok_spm *m = t->spm;
	size_t		base = out->len;
	int			bytes_from = 0;

	(void) skip_special;		/* control pieces are invisible in spm's decode either way */
	for (int k = 0; k <= n; k++)
	{
		const char *p;
		size_t		len;
		int			type;

		if (k < n && m->type[ids[k]] == SPM_BYTE)
			continue;
		if (bytes_from < k)
			flush_bytes(t, ids, bytes_from, k, out);
		bytes_from = k + 1;
		if (k == n)
			break;
		type = m->type[ids[k]];
		p = t->pool + t->id_off[ids[k]];
		len = t->id_len[ids[k]];
		if (type == SPM_CONTROL)
			continue;
		if (type == SPM_UNKNOWN)
		{
			sm_buf_append(out, m->unk_surface, m->unk_surface_len);
			continue;
		}
		/* spm 0.1.97 drops the dummy prefix's space only when it adds one */
		if (m->add_dummy_prefix && out->len == base && len >= 3 && memcmp(p, SPM_SPACE, 3) == 0)
		{
			p += 3;
			len -= 3;
		}
		for (size_t i = 0; i < len;)
		{
			if (len - i >= 3 && memcmp(p + i, SPM_SPACE, 3) == 0)
			{
				sm_buf_append(out, " ", 1);
				i += 3;
			}
			else
			{
				size_t		j = i + 1;

				while (j < len && !(len - j >= 3 && memcmp(p + j, SPM_SPACE, 3) == 0))
					j++;
				sm_buf_append(out, p + i, j - i);
				i = j;
			}
		}
	}
}

/* ---------------------------------------------------------------- loading */

static sm_status
load_src(sm_tokenizer **out, const spm_src *s, sm_error *err)
{
	sm_tokenizer *t;
	sm_status	rc;

	*out = NULL;
	if ((t = sm_alloc0(sizeof(sm_tokenizer))) == NULL)
		return sm_tok_nomem_load(err);
	t->unk_id = -1;
	if ((rc = spm_build(t, s, err)) != SM_OK)
	{
		sm_tokenizer_free(t);
		return rc;
	}
	*out = t;
	return SM_OK;
}

sm_status
sm_tokenizer_load_sentencepiece(const void *data, size_t len, sm_tokenizer **out, sm_error *err)
{
	spm_src		s;
	sm_status	rc;

	*out = NULL;
	src_init(&s);
	if ((rc = parse_model_proto(data, len, &s, err)) == SM_OK)
		rc = load_src(out, &s, err);
	src_free(&s);
	return rc;
}

/* ---------------------------------------------------------------- tokenizer.json */

static void
json_str(sm_buf *b, const char *s, size_t n)
{
	sm_json_write_string(b, s, n);
}

static void
json_ids_of(sm_buf *b, const char *key, const spm_src *s, int type)
{
	bool		first = true;

	sm_buf_appendf(b, "\"%s\":[", key);
	for (int k = 0; k < s->npieces; k++)
		if (s->type[k] == type)
		{
			sm_buf_appendf(b, first ? "%d" : ",%d", k);
			first = false;
		}
	sm_buf_append(b, "]", 1);
}

/*
 * HF's SpmConverter writes byte-level-free BPE merges from the vocabulary:
 * every split of a piece into two pieces, ordered by the piece's id, then
 * the ids of the two parts.  spm itself merges by the piece scores (kept in
 * seqmodel_sentencepiece.scores); the merges are for readers and for HF.
 */
static void
json_bpe_merges(sm_buf *b, const sm_tokenizer *t, const spm_src *s)
{
	bool		first = true;

	for (int k = 0; k < s->npieces; k++)
	{
		if (s->type[k] != SPM_NORMAL && s->type[k] != SPM_USER_DEFINED)
			continue;
		for (uint32_t cut = 1; cut < s->piece_len[k]; cut++)
		{
			int32_t		a = sm_tok_vocab_id(t, s->piece[k], cut),
						c = sm_tok_vocab_id(t, s->piece[k] + cut, s->piece_len[k] - cut);

			if ((s->piece[k][cut] & 0xC0) == 0x80 || a < 0 || c < 0)
				continue;
			if (!first)
				sm_buf_append(b, ",", 1);
			sm_buf_append(b, "[", 1);
			json_str(b, s->piece[k], cut);
			sm_buf_append(b, ",", 1);
			json_str(b, s->piece[k] + cut, s->piece_len[k] - cut);
			sm_buf_append(b, "]", 1);
			first = false;
		}
	}
}

static void
write_json(sm_buf *b, const sm_tokenizer *t, const spm_src *s)
{
	const struct sm_tok_spm *m = t->spm;
	bool		first = true;
	bool		strip = s->remove_extra_ws;

	sm_buf_appendf(b, "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":[");
	for (int k = 0; k < s->npieces; k++)
	{
		int			ty = s->type[k];

		if (ty != SPM_CONTROL && ty != SPM_UNKNOWN && ty != SPM_USER_DEFINED)
			continue;
		sm_buf_appendf(b, "%s{\"id\":%d,\"content\":", first ? "" : ",", k);
		json_str(b, s->piece[k], s->piece_len[k]);
		sm_buf_appendf(b, ",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":%s}",
					   ty == SPM_USER_DEFINED ? "false" : "true");
		first = false;
	}
	sm_buf_append(b, "],\"normalizer\":", 15);
	/* SpmConverter: Precompiled, then spaces collapsed and stripped when spm does */
	{
		int			nn = (s->charsmap ? 1 : 0) + (strip ? 3 : 0);

		if (nn == 0)
			sm_buf_appendf(b, "null");
		else
		{
			bool		f2 = true;

			sm_buf_appendf(b, "{\"type\":\"Sequence\",\"normalizers\":[");
			if (s->charsmap)
			{
				sm_buf_appendf(b, "{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"");
				sm_tok_base64_encode(b, s->charsmap, s->charsmap_len);
				sm_buf_appendf(b, "\"}");
				f2 = false;
			}
			/* spm's remove_extra_whitespaces strips and collapses spaces only (HF's Strip would take every whitespace) */
			if (strip)
				sm_buf_appendf(b, "%s{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"^ +\"},\"content\":\"\"},"
							   "{\"type\":\"Replace\",\"pattern\":{\"Regex\":\" +$\"},\"content\":\"\"},"
							   "{\"type\":\"Replace\",\"pattern\":{\"Regex\":\" {2,}\"},\"content\":\" \"}",
							   f2 ? "" : ",");
			sm_buf_appendf(b, "]}");
		}
	}
	sm_buf_appendf(b, ",\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"\xE2\x96\x81\",\"prepend_scheme\":\"%s\",\"split\":true}",
				   s->add_dummy_prefix ? "always" : "never");
	sm_buf_appendf(b, ",\"post_processor\":");
	if (m->eos_id >= 0)
	{
		sm_buf_appendf(b, "{\"type\":\"TemplateProcessing\",\"single\":[{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},{\"SpecialToken\":{\"id\":");
		json_str(b, s->piece[m->eos_id], s->piece_len[m->eos_id]);
		sm_buf_appendf(b, ",\"type_id\":0}}],\"pair\":[{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},{\"Sequence\":{\"id\":\"B\",\"type_id\":0}},{\"SpecialToken\":{\"id\":");
		json_str(b, s->piece[m->eos_id], s->piece_len[m->eos_id]);
		sm_buf_appendf(b, ",\"type_id\":0}}],\"special_tokens\":{");
		json_str(b, s->piece[m->eos_id], s->piece_len[m->eos_id]);
		sm_buf_appendf(b, ":{\"id\":");
		json_str(b, s->piece[m->eos_id], s->piece_len[m->eos_id]);
		sm_buf_appendf(b, ",\"ids\":[%d],\"tokens\":[", m->eos_id);
		json_str(b, s->piece[m->eos_id], s->piece_len[m->eos_id]);
		sm_buf_appendf(b, "]}}}");
	}
	else
		sm_buf_appendf(b, "null");
	if (s->byte_fallback)
		sm_buf_appendf(b, ",\"decoder\":{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":{\"String\":\"\xE2\x96\x81\"},\"content\":\" \"},"
					   "{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"},{\"type\":\"Strip\",\"content\":\" \",\"start\":%d,\"stop\":0}]}",
					   s->add_dummy_prefix ? 1 : 0);
	else
		sm_buf_appendf(b, ",\"decoder\":{\"type\":\"Metaspace\",\"replacement\":\"\xE2\x96\x81\",\"prepend_scheme\":\"%s\",\"split\":true}",
					   s->add_dummy_prefix ? "always" : "never");
	if (s->model_type == SPM_UNIGRAM)
	{
		sm_buf_appendf(b, ",\"model\":{\"type\":\"Unigram\",\"unk_id\":%d,\"vocab\":[", m->unk_id);
		for (int k = 0; k < s->npieces; k++)
		{
			sm_buf_append(b, k ? ",[" : "[", k ? 2 : 1);
			json_str(b, s->piece[k], s->piece_len[k]);
			sm_buf_appendf(b, ",%.9g]", (double) s->score[k]);
		}
		sm_buf_appendf(b, "],\"byte_fallback\":%s", s->byte_fallback ? "true" : "false");
	}
	else
	{
		sm_buf_appendf(b, ",\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":");
		json_str(b, s->piece[m->unk_id], s->piece_len[m->unk_id]);
		sm_buf_appendf(b, ",\"continuing_subword_prefix\":null,\"end_of_word_suffix\":null,\"fuse_unk\":true,\"byte_fallback\":%s,\"vocab\":{",
					   s->byte_fallback ? "true" : "false");
		for (int k = 0; k < s->npieces; k++)
		{
			if (k)
				sm_buf_append(b, ",", 1);
			json_str(b, s->piece[k], s->piece_len[k]);
			sm_buf_appendf(b, ":%d", k);
		}
		sm_buf_appendf(b, "},\"merges\":[");
		json_bpe_merges(b, t, s);
		sm_buf_appendf(b, "]");
	}
	/*
	 * Ours, inside the model (Hugging Face's loader ignores unknown members
	 * there, not at the top): what spm needs and HF's schema has no place for.
	 */
	sm_buf_appendf(b, ",\"seqmodel_sentencepiece\":{\"model_type\":\"%s\",\"normalizer_name\":",
				   s->model_type == SPM_UNIGRAM ? "unigram" : "bpe");
	json_str(b, s->name, s->name_len);
	sm_buf_appendf(b, ",\"add_dummy_prefix\":%s,\"remove_extra_whitespaces\":%s,\"escape_whitespaces\":%s,\"byte_fallback\":%s,\"unk_surface\":",
				   s->add_dummy_prefix ? "true" : "false", s->remove_extra_ws ? "true" : "false",
				   s->escape_ws ? "true" : "false", s->byte_fallback ? "true" : "false");
	json_str(b, s->unk_surface, s->unk_surface_len);
	sm_buf_appendf(b, ",\"eos_piece\":");
	json_str(b, s->eos_piece, s->eos_len);
	sm_buf_appendf(b, ",\"piece_types\":{");
	json_ids_of(b, "unknown", s, SPM_UNKNOWN);
	sm_buf_append(b, ",", 1);
	json_ids_of(b, "control", s, SPM_CONTROL);
	sm_buf_append(b, ",", 1);
	json_ids_of(b, "user_defined", s, SPM_USER_DEFINED);
	sm_buf_append(b, ",", 1);
	json_ids_of(b, "unused", s, SPM_UNUSED);
	sm_buf_append(b, ",", 1);
	json_ids_of(b, "byte", s, SPM_BYTE);
	sm_buf_append(b, "}", 1);
	if (s->model_type == SPM_BPE)
	{
		sm_buf_appendf(b, ",\"scores\":[");
		for (int k = 0; k < s->npieces; k++)
			sm_buf_appendf(b, k ? ",%.9g" : "%.9g", (double) s->score[k]);
		sm_buf_append(b, "]", 1);
	}
	sm_buf_append(b, "}}}", 3);
}

sm_status
sm_tokenizer_json_from_sentencepiece(const void *data, size_t len, sm_buf *out, sm_error *err)
{
	spm_src		s;
	sm_tokenizer *t = NULL;
	sm_status	rc;

	src_init(&s);
	if ((rc = parse_model_proto(data, len, &s, err)) == SM_OK &&
		(rc = load_src(&t, &s, err)) == SM_OK)
	{
		write_json(out, t, &s);
		if (out->failed)
			rc = sm_fail(err, SM_ERR_NOMEM, "out of memory writing a tokenizer.json");
	}
	sm_tokenizer_free(t);
	src_free(&s);
	return rc;
}

/* -------- reading it back */

static sm_status
jbad(sm_error *err, const char *member, const char *what)
{
	return sm_fail(err, SM_ERR_INVALID, "tokenizer.json member \"%s\" must be %s", member, what);
}

static sm_status
jbool(const sm_json *o, const char *key, bool dflt, bool *out, sm_error *err)
{
	const sm_json *v = sm_json_get(o, key);
	char		name[96];

	if (v == NULL)
	{
		*out = dflt;
		return SM_OK;
	}
	if (v->type != SM_JSON_BOOL)
	{
		snprintf(name, sizeof(name), "model.seqmodel_sentencepiece.%s", key);
		return jbad(err, name, "a boolean");
	}
	*out = v->boolean;
	return SM_OK;
}

/* the Precompiled normalizer's charsmap, in normalizer or a Sequence of them */
static const sm_json *
find_precompiled(const sm_json *n)
{
	const sm_json *ty,
			   *list;

	if (n == NULL || n->type != SM_JSON_OBJECT || (ty = sm_json_get(n, "type")) == NULL ||
		ty->type != SM_JSON_STRING)
		return NULL;
	if (strcmp(ty->string, "Precompiled") == 0)
		return sm_json_get(n, "precompiled_charsmap");
	if (strcmp(ty->string, "Sequence") == 0 && (list = sm_json_get(n, "normalizers")) != NULL &&
		list->type == SM_JSON_ARRAY)
		for (size_t i = 0; i < list->count; i++)
		{
			const sm_json *c = find_precompiled(list->items[i]);

			if (c != NULL)
				return c;
		}
	return NULL;
}

static sm_status
types_from_json(const sm_json *pt, const char *key, int type, spm_src *s, sm_error *err)
{
	const sm_json *a = sm_json_get(pt, key);
	char		name[96];

	snprintf(name, sizeof(name), "model.seqmodel_sentencepiece.piece_types.%s", key);
	if (a == NULL)
		return SM_OK;
	if (a->type != SM_JSON_ARRAY)
		return jbad(err, name, "an array of piece ids");
	for (size_t i = 0; i < a->count; i++)
	{
		const sm_json *v = a->items[i];

		if (v->type != SM_JSON_NUMBER || !v->is_integer || v->integer < 0 || v->integer >= s->npieces)
		{
			sm_fail(err, SM_ERR_INVALID, "tokenizer.json member \"%s\" must hold piece ids from 0 to %d", name, s->npieces - 1);
			return SM_ERR_INVALID;
		}
		s->type[v->integer] = (uint8_t) type;
	}
	return SM_OK;
}

/*
 * A tokenizer.json whose model has "seqmodel_sentencepiece" (what
 * sm_tokenizer_json_from_sentencepiece writes): spm's semantics from its
 * model vocabulary, its Precompiled charsmap and our member.
 */
sm_status
sm_tok_spm_load_json(sm_tokenizer *t, const sm_json *root, const sm_json *ext, sm_error *err)
{
	spm_src		s;
	const sm_json *model = sm_json_get(root, "model"),
			   *v,
			   *vocab,
			   *pt;
	uint8_t    *cmap = NULL;
	int			cap = 0;
	sm_status	rc = SM_OK;

	src_init(&s);
	if (ext->type != SM_JSON_OBJECT)
		return jbad(err, "model.seqmodel_sentencepiece", "an object");
	if ((v = sm_json_get(ext, "model_type")) == NULL || v->type != SM_JSON_STRING ||
		(strcmp(v->string, "unigram") != 0 && strcmp(v->string, "bpe") != 0))
		return jbad(err, "model.seqmodel_sentencepiece.model_type", "\"unigram\" or \"bpe\"");
	s.model_type = strcmp(v->string, "bpe") == 0 ? SPM_BPE : SPM_UNIGRAM;
	if (model == NULL || model->type != SM_JSON_OBJECT ||
		(vocab = sm_json_get(model, "vocab")) == NULL ||
		vocab->type != (s.model_type == SPM_UNIGRAM ? SM_JSON_ARRAY : SM_JSON_OBJECT))
		return jbad(err, "model.vocab", s.model_type == SPM_UNIGRAM ? "an array of [piece, score] pairs" :
					"an object of piece ids");
	if (vocab->count > (size_t) SM_TOK_MAX_ID + 1)
		return sm_fail(err, SM_ERR_LIMIT, "tokenizer.json has more than %d pieces", SM_TOK_MAX_ID + 1);
	while ((size_t) cap < vocab->count + 1)
		if (!src_grow(&s, &cap))
		{
			rc = sm_tok_nomem_load(err);
			goto done;
		}
	for (size_t k = 0; k < vocab->count; k++)
	{
		s.piece[k] = NULL;
		s.type[k] = SPM_NORMAL;
		s.score[k] = 0.0f;
	}
	s.npieces = (int) vocab->count;
	for (size_t k = 0; k < vocab->count; k++)
	{
		const sm_json *it = vocab->items[k];
		size_t		id = k;

		if (s.model_type == SPM_UNIGRAM)
		{
			if (it->type != SM_JSON_ARRAY || it->count != 2 || it->items[0]->type != SM_JSON_STRING ||
				it->items[1]->type != SM_JSON_NUMBER)
			{
				rc = jbad(err, "model.vocab", "an array of [piece, score] pairs");
				goto done;
			}
			s.piece[k] = it->items[0]->string;
			s.piece_len[k] = (uint32_t) it->items[0]->string_len;
			s.score[k] = (float) it->items[1]->number;
		}
		else
		{
			if (it->type != SM_JSON_NUMBER || !it->is_integer || it->integer < 0 ||
				(size_t) it->integer >= vocab->count || s.piece[it->integer] != NULL)
			{
				rc = sm_fail(err, SM_ERR_INVALID, "tokenizer.json member \"model.vocab\" must map the pieces to the ids 0 to %zu, each once",
							 vocab->count - 1);
				goto done;
			}
			id = (size_t) it->integer;
			s.piece[id] = vocab->keys[k];
			s.piece_len[id] = (uint32_t) strlen(vocab->keys[k]);
		}
		if (s.piece_len[id] == 0 || s.piece_len[id] > SPM_MAX_PIECE_LEN)
		{
			rc = sm_fail(err, SM_ERR_INVALID, "tokenizer.json piece %zu is empty or longer than %d bytes", id, SPM_MAX_PIECE_LEN);
			goto done;
		}
	}
	if (s.model_type == SPM_BPE)
	{
		const sm_json *sc = sm_json_get(ext, "scores");

		if (sc == NULL || sc->type != SM_JSON_ARRAY || sc->count != vocab->count)
		{
			rc = jbad(err, "model.seqmodel_sentencepiece.scores", "an array of one score per piece");
			goto done;
		}
		for (size_t k = 0; k < sc->count; k++)
		{
			if (sc->items[k]->type != SM_JSON_NUMBER)
			{
				rc = jbad(err, "model.seqmodel_sentencepiece.scores", "an array of one score per piece");
				goto done;
			}
			s.score[k] = (float) sc->items[k]->number;
		}
	}
	if ((pt = sm_json_get(ext, "piece_types")) == NULL || pt->type != SM_JSON_OBJECT)
	{
		rc = jbad(err, "model.seqmodel_sentencepiece.piece_types", "an object");
		goto done;
	}
	if ((rc = types_from_json(pt, "unknown", SPM_UNKNOWN, &s, err)) != SM_OK ||
		(rc = types_from_json(pt, "control", SPM_CONTROL, &s, err)) != SM_OK ||
		(rc = types_from_json(pt, "user_defined", SPM_USER_DEFINED, &s, err)) != SM_OK ||
		(rc = types_from_json(pt, "unused", SPM_UNUSED, &s, err)) != SM_OK ||
		(rc = types_from_json(pt, "byte", SPM_BYTE, &s, err)) != SM_OK ||
		(rc = jbool(ext, "add_dummy_prefix", true, &s.add_dummy_prefix, err)) != SM_OK ||
		(rc = jbool(ext, "remove_extra_whitespaces", true, &s.remove_extra_ws, err)) != SM_OK ||
		(rc = jbool(ext, "escape_whitespaces", true, &s.escape_ws, err)) != SM_OK ||
		(rc = jbool(ext, "byte_fallback", false, &s.byte_fallback, err)) != SM_OK)
		goto done;
	if ((v = sm_json_get(ext, "unk_surface")) != NULL)
	{
		if (v->type != SM_JSON_STRING)
		{
			rc = jbad(err, "model.seqmodel_sentencepiece.unk_surface", "a string");
			goto done;
		}
		s.unk_surface = v->string;
		s.unk_surface_len = v->string_len;
	}
	if ((v = sm_json_get(ext, "eos_piece")) != NULL)
	{
		if (v->type != SM_JSON_STRING)
		{
			rc = jbad(err, "model.seqmodel_sentencepiece.eos_piece", "a string");
			goto done;
		}
		s.eos_piece = v->string;
		s.eos_len = v->string_len;
	}
	if ((v = sm_json_get(ext, "normalizer_name")) != NULL && v->type == SM_JSON_STRING)
	{
		s.name = v->string;
		s.name_len = v->string_len;
	}
	if ((v = find_precompiled(sm_json_get(root, "normalizer"))) != NULL)
	{
		bool		nomem;

		if (v->type != SM_JSON_STRING ||
			!sm_tok_base64_decode(v->string, v->string_len, &cmap, &s.charsmap_len, &nomem))
		{
			rc = nomem ? sm_tok_nomem_load(err) :
				jbad(err, "normalizer.precompiled_charsmap", "a base64 string");
			goto done;
		}
		s.charsmap = s.charsmap_len > 0 ? cmap : NULL;
	}
	rc = spm_build(t, &s, err);
done:
	sm_free(cmap);
	src_free(&s);
	return rc;
}
