/*
 * sm_tokenizer.h -- text to token ids and back, exactly as Hugging Face's
 * tokenizers library does it, for the two families the text SQL needs:
 *
 *   byte-level BPE (GPT-2, RoBERTa): added/special tokens matched in the raw
 *     text first; GPT-2's pre-tokenisation pattern
 *       's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *     over real Unicode categories (sm_unicode.h); the byte-to-unicode map;
 *     merges by rank; optional add_prefix_space; decoder back to bytes.
 *   WordPiece (BERT): BertNormalizer (clean_text: drop Cc/Cf and U+FFFD,
 *     whitespace to space; CJK ideographs split; lower-casing; accent
 *     stripping = NFD then drop every Mn mark), BertPreTokenizer (whitespace
 *     and punctuation split), greedy longest match with the "##" prefix,
 *     [UNK] for words longer than max_input_chars_per_word code points or
 *     with no match; [CLS] A [SEP] (B [SEP]) with token_type ids.
 *
 * The one stored form is Hugging Face's tokenizer.json; GPT-2's vocab.json +
 * merges.txt and BERT's vocab.txt are first turned into one
 * (sm_tokenizer_json_from_*), so every tokenizer in the database is a
 * tokenizer.json a user can read back.
 *
 * Input text is UTF-8 of any length.  The database never hands over invalid
 * UTF-8, but the tokenizer never reads outside [text, text + len) whatever
 * the bytes are: an invalid byte is taken as one code point U+FFFD-like unit
 * of one byte (byte-level BPE still encodes its byte; BertNormalizer treats
 * it as U+FFFD, which clean_text drops).
 *
 * Exactness: on the reference corpus (test/fixtures/tok) every line gives
 * Hugging Face's ids.  The Unicode tables follow the versions the reference
 * itself uses for each step (see gen_unicode_tables.py).
 *
 * A loaded sm_tokenizer is read-only: encode and decode may run on several
 * threads at once.  Everything is allocated through sm_alloc.
 */
#ifndef SM_TOKENIZER_H
#define SM_TOKENIZER_H

#include "core/sm_core.h"

typedef struct sm_tokenizer sm_tokenizer;

typedef enum sm_tok_kind
{
	SM_TOK_BPE,					/* byte-level BPE */
	SM_TOK_WORDPIECE,
	SM_TOK_UNIGRAM,				/* SentencePiece unigram */
	SM_TOK_SPM_BPE				/* SentencePiece BPE (score-ordered merges) */
} sm_tok_kind;

/*
 * Parse a tokenizer.json.  Supported components (anything else is
 * SM_ERR_UNSUPPORTED naming the component, e.g. "tokenizer.json normalizer
 * type \"NFKC\" is not supported"):
 *   model:          BPE (vocab, merges as "a b" strings or [a, b] pairs,
 *                   unk_token, no dropout) | WordPiece (vocab, unk_token,
 *                   continuing_subword_prefix, max_input_chars_per_word)
 *   normalizer:     null | BertNormalizer (clean_text, handle_chinese_chars,
 *                   strip_accents (null: follows lowercase), lowercase)
 *   pre_tokenizer:  null | ByteLevel (add_prefix_space, use_regex) |
 *                   BertPreTokenizer
 *   post_processor: null | ByteLevel | BertProcessing | RobertaProcessing |
 *                   TemplateProcessing (single and pair templates of
 *                   Sequence/SpecialToken items with type ids)
 *   decoder:        null | ByteLevel | WordPiece (prefix, cleanup)
 *   added_tokens:   id, content, special (single_word/lstrip/rstrip/
 *                   normalized as given)
 *   truncation/padding: ignored (the SQL side has its own policy)
 * Malformed JSON or members of the wrong type are SM_ERR_INVALID naming the
 * member ("tokenizer.json member \"model.vocab\" must be an object").
 */
sm_status	sm_tokenizer_load(const char *json, size_t len, sm_tokenizer **out, sm_error *err);
void		sm_tokenizer_free(sm_tokenizer *t);

/*
 * Build a tokenizer.json (appended to out) from GPT-2's vocab.json and
 * merges.txt (a "#version" first line is skipped): byte-level BPE,
 * add_prefix_space false, "<|endoftext|>" an added special token when the
 * vocabulary has it.
 */
sm_status	sm_tokenizer_json_from_bpe(const char *vocab_json, size_t vocab_len,
									   const char *merges, size_t merges_len,
									   sm_buf *out, sm_error *err);
/*
 * ... and from BERT's vocab.txt (one token per line, id = line number):
 * WordPiece with [UNK], BertNormalizer (lowercase and strip_accents as
 * `lowercase` says), BertPreTokenizer, BertProcessing with [CLS] and [SEP],
 * the WordPiece decoder; [PAD] [UNK] [CLS] [SEP] [MASK] added special tokens
 * when present.
 */
sm_status	sm_tokenizer_json_from_wordpiece(const char *vocab_txt, size_t len, bool lowercase,
											 sm_buf *out, sm_error *err);

/*
 * SentencePiece (sm_tok_spm.c): a .model file (a serialized protobuf
 * ModelProto; any bytes: malformed input is SM_ERR_INVALID naming what is
 * wrong) of type UNIGRAM or BPE (WORD, CHAR: SM_ERR_UNSUPPORTED), with its
 * pieces (NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE), byte
 * fallback and normalizer (precompiled_charsmap, add_dummy_prefix,
 * remove_extra_whitespaces, escape_whitespaces; treat_whitespace_as_suffix
 * and denormalization rules: SM_ERR_UNSUPPORTED).  Encoding gives exactly
 * sentencepiece 0.1.97's encode(text) and decoding its decode(ids); with
 * add_special the eos piece (a CONTROL piece named by trainer_spec.eos_piece,
 * "</s>") is appended, as Marian's and T5's tokenizers do.
 *
 * sm_tokenizer_json_from_sentencepiece writes the tokenizer.json the
 * database stores (Hugging Face's SpmConverter shape: Unigram or BPE model,
 * Precompiled/Replace normalizer, Metaspace pre-tokenizer and decoder,
 * TemplateProcessing "$A </s>"), plus a member "seqmodel_sentencepiece" in
 * the model (HF ignores it there) with what that schema cannot say (piece types, the BPE scores, the
 * normalizer flags, unk_surface); sm_tokenizer_load of that file gives the
 * same tokenizer as sm_tokenizer_load_sentencepiece of the .model.
 */
sm_status	sm_tokenizer_load_sentencepiece(const void *data, size_t len, sm_tokenizer **out,
											sm_error *err);
sm_status	sm_tokenizer_json_from_sentencepiece(const void *data, size_t len, sm_buf *out,
												 sm_error *err);

sm_tok_kind sm_tokenizer_kind(const sm_tokenizer *t);
/* highest id of the vocabulary and the added tokens, plus one */
int			sm_tokenizer_vocab_size(const sm_tokenizer *t);
/* id of a token (vocabulary or added), or -1 */
int32_t		sm_tokenizer_token_id(const sm_tokenizer *t, const char *token);
/* the token's string as stored (byte-level BPE: in the byte-to-unicode
 * alphabet), or NULL when id is out of range or unused */
const char *sm_tokenizer_token(const sm_tokenizer *t, int32_t id);
/* the number of special tokens the post-processor adds to one sequence
 * (BERT: 2, GPT-2: 0) and to a pair (BERT: 3) */
int			sm_tokenizer_num_special(const sm_tokenizer *t, bool pair);

/* Ids of an encoding (allocated and grown by sm_tokenizer_encode). */
typedef struct sm_tok_ids
{
	int32_t    *ids;
	int32_t    *type_ids;		/* token type (segment) ids, 0 for single texts */
	int			n;
	int			cap;
} sm_tok_ids;

void		sm_tok_ids_init(sm_tok_ids *e);
void		sm_tok_ids_free(sm_tok_ids *e);

/*
 * Encode text [0, len) -- and, when pair is not NULL, a second text as a
 * pair -- into e (reset first).  With add_special the post-processor's
 * template is applied (BERT: [CLS] a [SEP] b [SEP], type ids 0 then 1).
 *
 * max_tokens > 0 limits the result, special tokens included.  Longer
 * results are SM_ERR_LIMIT ("input is 700 tokens long but model takes at
 * most 512", detail naming the policy) unless truncate, in which case the
 * text's tokens are cut at the end (a pair: the longer of the two first,
 * token by token, as HF's longest_first) before the template is applied, so
 * [SEP] stays last.  Polls sm_should_abort() every few thousand words.
 */
sm_status	sm_tokenizer_encode(const sm_tokenizer *t, const char *text, size_t len,
								const char *pair, size_t pair_len, bool add_special,
								int max_tokens, bool truncate, sm_tok_ids *e, sm_error *err);

/*
 * Ids back to text, appended to out as valid UTF-8 (byte-level BPE: bytes
 * that do not form UTF-8 become U+FFFD, as HF's lossy decoding).  With
 * skip_special, special added tokens are left out.  An id outside the
 * vocabulary is SM_ERR_INVALID naming the id and its position (1-based).
 */
sm_status	sm_tokenizer_decode(const sm_tokenizer *t, const int32_t *ids, int n,
								bool skip_special, sm_buf *out, sm_error *err);

#endif							/* SM_TOKENIZER_H */
