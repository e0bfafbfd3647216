/*
 * sm_tok_internal.h -- what the tokenizer's files share (sm_tokenizer.c:
 * loading, added tokens, templates, encode/decode dispatch; sm_tok_bpe.c:
 * byte-level BPE; sm_tok_wordpiece.c: BERT's normaliser, pre-tokeniser and
 * WordPiece).  Not part of the engine's interface.
 *
 * The loaded tokenizer is read-only.  Everything an encode call writes lives
 * in an sm_tok_scratch owned by that call, so several threads may encode
 * with one tokenizer at once.
 */
#ifndef SM_TOK_INTERNAL_H
#define SM_TOK_INTERNAL_H

#include <string.h>

#include "sm_tokenizer.h"
#include "core/sm_json.h"
#include "core/sm_utf8.h"

/* ids above this are refused at load (the tables are sized by the highest id) */
#define SM_TOK_MAX_ID ((1 << 22) - 1)

/* ---------------------------------------------------------------- hashing */

static inline uint64_t
sm_tok_hash(const void *p, size_t len)
{
	const uint8_t *s = (const uint8_t *) p;
	uint64_t	h = 0x9E3779B97F4A7C15ull ^ (len * 0xC2B2AE3D27D4EB4Full);

	while (len >= 8)
	{
		uint64_t	w;

		__builtin_memcpy(&w, s, 8);
		h = (h ^ w) * 0xFF51AFD7ED558CCDull;
		h ^= h >> 32;
		s += 8;
		len -= 8;
	}
	if (len > 0)
	{
		uint64_t	w = 0;

		__builtin_memcpy(&w, s, len);
		h = (h ^ w) * 0xFF51AFD7ED558CCDull;
	}
	h ^= h >> 29;
	h *= 0xC4CEB9FE1A85EC53ull;
	h ^= h >> 32;
	return h;
}

/*
 * A string -> int32 map over strings kept elsewhere (open addressing,
 * linear probing, load factor <= 1/2).  A slot holds the value's index + 1
 * (0: empty) and the hash's high bits; the caller's key(i) gives the string
 * of index i.
 */
typedef struct sm_tok_map
{
	uint32_t   *slots;			/* [cap]: index + 1, or 0 */
	uint32_t   *tags;			/* [cap]: high 32 bits of the hash */
	uint32_t	mask;			/* cap - 1 */
} sm_tok_map;

/* ---------------------------------------------------------------- SentencePiece's charsmap */

/* precompiled_charsmap (sm_tok_charsmap.c): a darts-clone double array of
 * keys whose values are offsets of NUL-terminated replacements */
typedef struct sm_tok_charsmap
{
	uint8_t    *data;			/* owned copy of the blob, or NULL: none */
	size_t		len;
	const uint8_t *darts;
	size_t		ndarts;			/* units of 4 bytes */
	const char *repl;
	size_t		repl_len;
} sm_tok_charsmap;

/* ---------------------------------------------------------------- a byte trie */

/* sm_tok_trie.c: prefix lookups over a vocabulary; node 0 is the root */
typedef struct sm_tok_trie
{
	int32_t    *val;			/* [nnodes]: index of the piece ending here, or -1 */
	uint32_t	nnodes;
	uint64_t   *keys;			/* [mask + 1]: (node << 8 | byte) + 1, 0 empty */
	uint32_t   *child;
	uint32_t	mask;
} sm_tok_trie;

static inline uint32_t
sm_tok_trie_slot(uint64_t k, uint32_t mask)
{
	k *= 0x9E3779B97F4A7C15ull;
	return (uint32_t) (k >> 32) & mask;
}

/* the child of node by byte b, or -1 */
static inline int64_t
sm_tok_trie_next(const sm_tok_trie *tr, uint32_t node, uint8_t b)
{
	uint64_t	k = ((uint64_t) node << 8 | b) + 1;
	uint32_t	i;

	if (tr->keys == NULL)
		return -1;
	for (i = sm_tok_trie_slot(k, tr->mask);; i = (i + 1) & tr->mask)
	{
		if (tr->keys[i] == k)
			return tr->child[i];
		if (tr->keys[i] == 0)
			return -1;
	}
}

/* over piece[k][0, len[k]) for the k with take[k] (take NULL: all); equal pieces keep the
 * first index, or the last with keep_last; false: no memory */
bool		sm_tok_trie_build(sm_tok_trie *tr, const char *const *piece, const uint32_t *len, int n,
							  const bool *take, bool keep_last);
void		sm_tok_trie_free(sm_tok_trie *tr);
/* the index of the piece s[0, len), or -1 */
int32_t		sm_tok_trie_find(const sm_tok_trie *tr, const uint8_t *s, size_t len);

/* ---------------------------------------------------------------- the tokenizer */

enum
{
	SM_TOK_PRE_NONE,
	SM_TOK_PRE_BYTELEVEL,
	SM_TOK_PRE_BERT,
	SM_TOK_PRE_HF				/* the steps of sm_tok_hf.c */
};

enum
{
	SM_TOK_DEC_NONE,
	SM_TOK_DEC_BYTELEVEL,
	SM_TOK_DEC_WORDPIECE,
	SM_TOK_DEC_HF				/* the chain of sm_tok_hf.c */
};

/* pre-tokenizer steps of sm_tok_hf.c (each has its own scratch buffer) */
#define SM_TOK_HF_MAX_PRE 4

/* id flags */
#define SM_TOK_ID_USED		0x01
#define SM_TOK_ID_SPECIAL	0x02	/* a special added token: skipped by decode */

typedef struct sm_tok_added
{
	uint32_t	off;			/* content: pool[off, off + len) */
	uint32_t	len;
	uint32_t	norm_off;		/* normalized content (normalized tokens) */
	uint32_t	norm_len;
	int32_t		id;
	bool		single_word;
	bool		lstrip;
	bool		rstrip;
	bool		normalized;
	bool		special;
} sm_tok_added;

/* one piece of a post-processing template */
typedef struct sm_tok_piece
{
	int8_t		seq;			/* 0: sequence A, 1: sequence B, -1: special tokens */
	int32_t		type_id;
	int			nids;			/* special: ids[off .. off + nids) of tmpl_ids */
	int			off;
} sm_tok_piece;

typedef struct sm_tok_template
{
	sm_tok_piece *pieces;
	int			npieces;
	int			nspecial;		/* ids the template adds */
} sm_tok_template;

struct sm_tokenizer
{
	sm_tok_kind kind;
	struct sm_tok_spm *spm;		/* SentencePiece (sm_tok_spm.c), or NULL */
	struct sm_tok_unigram *uni; /* HF's Unigram model (sm_tok_unigram.c), or NULL */
	struct sm_tok_hf *hf;		/* HF's generic normalizer, pre-tokenizer and decoder
								 * steps (sm_tok_hf.c), or NULL */

	/* every string (vocabulary, added tokens, prefixes) lives in one pool */
	char	   *pool;
	size_t		pool_len;
	size_t		pool_cap;

	/* ids: [0, nids); id -> string (the added token's when both exist) */
	int			nids;
	uint32_t   *id_off;
	uint32_t   *id_len;
	uint8_t    *id_flags;

	/* the model's vocabulary: string -> id */
	sm_tok_map	vocab;
	int32_t    *vocab_ids;		/* map index -> id */
	uint32_t   *vocab_off;		/* map index -> string */
	uint32_t   *vocab_len;
	int			nvocab;

	/* added tokens, in file order; matched in the raw text (not normalized)
	 * or in the normalized text */
	sm_tok_added *added;
	int			nadded;
	bool		has_raw_added;
	bool		has_norm_added;
	uint8_t		raw_first[256];	/* a token not normalized starts with this byte */
	uint8_t		norm_first[256];

	/* normalizer: BertNormalizer when bert_norm */
	bool		bert_norm;
	bool		clean_text;
	bool		handle_chinese;
	bool		strip_accents;
	bool		lowercase;

	/* pre-tokenizer */
	int			pre;
	bool		add_prefix_space;
	bool		use_regex;

	/* BPE */
	struct sm_tok_merge *merges;	/* open addressing on (left, right) */
	uint32_t	merges_mask;
	int32_t		unk_id;			/* -1: none */
	bool		fuse_unk;
	bool		ignore_merges;
	bool		byte_level;		/* symbols are bytes through the byte-to-unicode map */
	int32_t		byte_ids[256];	/* byte-level: id of each byte's character, or -1 */
	/* byte-level: the BPE result of every vocabulary token's bytes, so that
	 * a word that is a token costs one lookup (computed at load) */
	sm_tok_map	words;
	uint32_t   *word_off;		/* map index -> raw bytes in the pool */
	uint32_t   *word_len;
	uint32_t   *word_ids_off;	/* map index -> ids in word_ids */
	uint16_t   *word_nids;
	int32_t    *word_ids;
	int			nwords;

	/* WordPiece */
	uint32_t	wp_prefix_off;	/* continuing_subword_prefix: pool[off, off + len) */
	int			wp_prefix_len;
	int			wp_max_chars;

	/* post-processor, as templates for one sequence and for a pair */
	sm_tok_template single;
	sm_tok_template pair;
	int32_t    *tmpl_ids;

	/* decoder */
	int			decoder;
	uint32_t	dec_prefix_off;	/* WordPiece's prefix */
	int			dec_prefix_len;
	bool		dec_cleanup;
};

/* per-call work space, grown as needed */
typedef struct sm_tok_scratch
{
	uint8_t    *norm;			/* normalized text (UTF-8) */
	size_t		norm_cap;
	uint32_t   *cps;			/* code points while normalizing */
	size_t		cps_cap;
	int32_t    *sym;			/* BPE symbols / WordPiece char offsets */
	int32_t    *aux;			/* BPE ranks / heap */
	int32_t    *aux2;
	size_t		sym_cap;
	uint8_t    *word;			/* WordPiece: prefix + word */
	size_t		word_cap;
	uint8_t    *pre;			/* ByteLevel: the segment with a space in front */
	size_t		pre_cap;
	long		words_done;		/* for polling sm_should_abort */
	sm_buf		hf[2 + SM_TOK_HF_MAX_PRE];	/* sm_tok_hf.c: two for the normalizer steps,
											 * one per pre-tokenizer step */
	sm_buf		lattice;		/* sm_tok_unigram.c */
	/* first buffers, in the struct (on the caller's stack): short texts
	 * need no allocation */
	uint8_t		norm_inline[1024];
	uint32_t	cps_inline[512];
	int32_t		sym_inline[256];
	uint8_t		word_inline[256];
	uint8_t		pre_inline[1024];
} sm_tok_scratch;

/* ---------------------------------------------------------------- shared helpers */

/* find key in map; key_of gives the string of an index */
static inline int32_t
sm_tok_map_find(const sm_tokenizer *t, const sm_tok_map *m, const uint32_t *offs,
				const uint32_t *lens, const void *key, size_t len)
{
	uint64_t	h = sm_tok_hash(key, len);
	uint32_t	tag = (uint32_t) (h >> 32);
	uint32_t	i = (uint32_t) h & m->mask;

	if (m->slots == NULL)
		return -1;
	for (;;)
	{
		uint32_t	s = m->slots[i];

		if (s == 0)
			return -1;
		if (m->tags[i] == tag && lens[s - 1] == len &&
			memcmp(t->pool + offs[s - 1], key, len) == 0)
			return (int32_t) (s - 1);
		i = (i + 1) & m->mask;
	}
}

/* id of a model vocabulary string, or -1 */
static inline int32_t
sm_tok_vocab_id(const sm_tokenizer *t, const void *s, size_t len)
{
	int32_t		i = sm_tok_map_find(t, &t->vocab, t->vocab_off, t->vocab_len, s, len);

	return i < 0 ? -1 : t->vocab_ids[i];
}

/* a map over the n strings; a string given twice: with last_wins the last index keeps it,
 * otherwise the build stops and *dup is the second index (-1: none) */
sm_status	sm_tok_map_build(sm_tok_map *m, const char *pool, const uint32_t *offs,
							 const uint32_t *lens, int n, bool last_wins, int *dup, sm_error *err);
void		sm_tok_map_free(sm_tok_map *m);

/* sm_tok_common.c: the shared helpers */
sm_status	sm_tok_nomem_load(sm_error *err);
bool		sm_tok_ids_reserve(sm_tok_ids *e, int n);
bool		sm_tok_ids_push(sm_tok_ids *e, int32_t id, int32_t type_id);
bool		sm_tok_scratch_norm(sm_tok_scratch *s, size_t n);
bool		sm_tok_scratch_cps(sm_tok_scratch *s, size_t n);
bool		sm_tok_scratch_sym(sm_tok_scratch *s, size_t n);
bool		sm_tok_scratch_word(sm_tok_scratch *s, size_t n);
bool		sm_tok_scratch_pre(sm_tok_scratch *s, size_t n);
void		sm_tok_scratch_init(sm_tok_scratch *s);
void		sm_tok_scratch_free(sm_tok_scratch *s);

/* append a string to the pool; returns its offset, or UINT32_MAX on failure */
uint32_t	sm_tok_pool_add(sm_tokenizer *t, const char *s, size_t len);

/* sm_tok_charsmap.c: what (e.g. "invalid SentencePiece model") prefixes the errors */
sm_status	sm_tok_charsmap_init(sm_tok_charsmap *c, const uint8_t *blob, size_t len, const char *what,
								 sm_error *err);
void		sm_tok_charsmap_free(sm_tok_charsmap *c);
/* the longest (spm) or the shortest (Hugging Face's Precompiled) prefix of s[0, n) that is a
 * key: its length (0: none) and its replacement */
size_t		sm_tok_charsmap_longest(const sm_tok_charsmap *c, const uint8_t *s, size_t n,
									const char **repl, size_t *repl_len);
size_t		sm_tok_charsmap_shortest(const sm_tok_charsmap *c, const uint8_t *s, size_t n,
									 const char **repl, size_t *repl_len);
void		sm_tok_base64_encode(sm_buf *out, const uint8_t *p, size_t n);
/* decode s into a new buffer; false on a bad character or length (out NULL) or no memory */
bool		sm_tok_base64_decode(const char *s, size_t n, uint8_t **out, size_t *outlen, bool *nomem);

/* sm_tok_bpe.c */
sm_status	sm_tok_bpe_load(sm_tokenizer *t, const sm_json *model, sm_error *err);
sm_status	sm_tok_bpe_prepare(sm_tokenizer *t, sm_error *err);	/* after the pre-tokenizer is known */
void		sm_tok_bpe_free(sm_tokenizer *t);
/* pre-tokenize (ByteLevel) and apply the model to one normalized segment */
sm_status	sm_tok_bytelevel_segment(const sm_tokenizer *t, const uint8_t *s, size_t len,
									 sm_tok_scratch *sc, sm_tok_ids *e, int32_t type_id, sm_error *err);
/* the model on one pre-tokenized word */
sm_status	sm_tok_bpe_word(const sm_tokenizer *t, const uint8_t *s, size_t len,
							sm_tok_scratch *sc, sm_tok_ids *e, int32_t type_id, sm_error *err);
void		sm_tok_bytelevel_decode(const sm_tokenizer *t, const int32_t *ids, int n,
									bool skip_special, sm_buf *out);
int			sm_tok_byte_to_unicode(int b);

/* sm_tok_wordpiece.c */
sm_status	sm_tok_wordpiece_load(sm_tokenizer *t, const sm_json *model, sm_error *err);
/* BertNormalizer of s[0, len) into sc->norm; returns the length or -1 (no memory) */
long		sm_tok_bert_normalize(const sm_tokenizer *t, const uint8_t *s, size_t len, sm_tok_scratch *sc);
sm_status	sm_tok_bert_segment(const sm_tokenizer *t, const uint8_t *s, size_t len,
								sm_tok_scratch *sc, sm_tok_ids *e, int32_t type_id, sm_error *err);
sm_status	sm_tok_wordpiece_word(const sm_tokenizer *t, const uint8_t *s, size_t len,
								  sm_tok_scratch *sc, sm_tok_ids *e, int32_t type_id, sm_error *err);
void		sm_tok_wordpiece_decode(const sm_tokenizer *t, const int32_t *ids, int n,
									bool skip_special, sm_buf *out);

/* sm_tok_spm.c: SentencePiece; the whole raw text at once (spm has no added tokens) */
sm_status	sm_tok_spm_load_json(sm_tokenizer *t, const sm_json *root, const sm_json *ext, sm_error *err);
void		sm_tok_spm_free(sm_tokenizer *t);
sm_status	sm_tok_spm_encode(const sm_tokenizer *t, const uint8_t *text, size_t len, sm_tok_ids *e,
							  int32_t type_id, sm_error *err);
void		sm_tok_spm_decode(const sm_tokenizer *t, const int32_t *ids, int n, bool skip_special,
							  sm_buf *out);

/* sm_tok_unigram.c: Hugging Face's Unigram */
sm_status	sm_tok_unigram_load(sm_tokenizer *t, const sm_json *model, sm_error *err);
void		sm_tok_unigram_free(sm_tokenizer *t);
sm_status	sm_tok_unigram_word(const sm_tokenizer *t, const uint8_t *s, size_t len,
								sm_tok_scratch *sc, sm_tok_ids *e, int32_t type_id, sm_error *err);

/* sm_tok_hf.c: Hugging Face's normalizers, pre-tokenizers and decoders other than BERT's and
 * ByteLevel (each load adds the component's steps) */
typedef enum sm_tok_hf_part
{
	SM_TOK_HF_NORMALIZER,
	SM_TOK_HF_PRE_TOKENIZER,
	SM_TOK_HF_DECODER
} sm_tok_hf_part;
sm_status	sm_tok_hf_load(sm_tokenizer *t, sm_tok_hf_part part, const sm_json *o, sm_error *err);
void		sm_tok_hf_free(sm_tokenizer *t);
bool		sm_tok_hf_has_normalizer(const sm_tokenizer *t);
bool		sm_tok_hf_has_pre_tokenizer(const sm_tokenizer *t);
bool		sm_tok_hf_has_decoder(const sm_tokenizer *t);
/*
 * The normalizer steps on s[0, len): the result in *out / *out_len (in sc,
 * or s itself); *at_origin (does the text's first character still map to
 * offset 0 of the original?) as HF's alignments would say.  false: no memory.
 */
bool		sm_tok_hf_normalize(const sm_tokenizer *t, const uint8_t *s, size_t len, sm_tok_scratch *sc,
								const uint8_t **out, size_t *out_len, bool *at_origin);
/* the pre-tokenizer steps on one normalized segment, then the model on each word */
sm_status	sm_tok_hf_segment(const sm_tokenizer *t, const uint8_t *s, size_t len, bool at_origin,
							  sm_tok_scratch *sc, sm_tok_ids *e, int32_t type_id, sm_error *err);
void		sm_tok_hf_decode(const sm_tokenizer *t, const int32_t *ids, int n, bool skip_special,
							 sm_buf *out);

/* the model (BPE, WordPiece or Unigram) on one word */
static inline sm_status
sm_tok_model_word(const sm_tokenizer *t, const uint8_t *s, size_t len, sm_tok_scratch *sc,
				  sm_tok_ids *e, int32_t type_id, sm_error *err)
{
	if (t->kind == SM_TOK_BPE)
		return sm_tok_bpe_word(t, s, len, sc, e, type_id, err);
	if (t->uni != NULL)
		return sm_tok_unigram_word(t, s, len, sc, e, type_id, err);
	return sm_tok_wordpiece_word(t, s, len, sc, e, type_id, err);
}

/* poll for cancellation every 4096 words */
static inline sm_status
sm_tok_poll(sm_tok_scratch *sc, sm_error *err)
{
	if ((++sc->words_done & 4095) == 0 && sm_should_abort())
		return sm_fail(err, SM_ERR_ABORTED, "tokenization canceled");
	return SM_OK;
}

static inline sm_status
sm_tok_nomem(sm_error *err)
{
	return sm_fail(err, SM_ERR_NOMEM, "out of memory while tokenizing");
}

/* the length of the UTF-8 character at s (1 for a byte that starts none) */
static inline size_t
sm_tok_char_len(const uint8_t *s, size_t n)
{
	uint32_t	cp;

	return (size_t) sm_utf8_decode(s, n, &cp);
}

#endif							/* SM_TOK_INTERNAL_H */
