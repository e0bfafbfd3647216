/*
 * test_tokenizer.c -- the tokenizers (sm_tokenizer.h): small hand-built
 * tokenizer.json files for every supported component and every error, and
 * the reference fixtures of test/fixtures/tok (Hugging Face's tokenizers
 * 0.23.2 on a 2 MB multilingual corpus): every corpus line must give exactly
 * the reference's ids, with the tokenizer.json and with the tokenizer built
 * from vocab.json + merges.txt / vocab.txt; pairs with their type ids; and
 * decoding as the reference decodes.  The fixtures are required: a missing
 * file fails the suite.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "sm_test.h"
#include "sm_tests.h"

#include "core/sm_json.h"
#include "text/sm_tokenizer.h"

#define FIXTURES "test/fixtures/tok/"

/* ---------------------------------------------------------------- helpers */

static char *
read_all(FILE *f, size_t *len)
{
	size_t		cap = 1 << 16,
				n = 0;
	char	   *buf = malloc(cap + 1);

	while (buf != NULL)
	{
		size_t		r = fread(buf + n, 1, cap - n, f);

		n += r;
		if (n < cap)
			break;
		cap *= 2;
		buf = realloc(buf, cap + 1);
	}
	if (buf != NULL)
		buf[n] = '\0';
	*len = n;
	return buf;
}

static char *
read_file(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	char	   *s;

	if (f == NULL)
		return NULL;
	s = read_all(f, len);
	fclose(f);
	return s;
}

static sm_tokenizer *
load_at(int line, const char *json)
{
	sm_tokenizer *t = NULL;
	sm_error	err;
	sm_status	st;

	memset(&err, 0, sizeof(err));
	st = sm_tokenizer_load(json, strlen(json), &t, &err);
	CHECK_MSG(st == SM_OK && t != NULL, "line %d: status %d message \"%s\" detail \"%s\"", line, (int) st,
			  err.message, err.detail);
	return t;
}

#define LOAD(json) load_at(__LINE__, (json))

static void
reject_at(int line, const char *json, sm_status code, const char *substr)
{
	sm_tokenizer *t = (sm_tokenizer *) &t;
	sm_error	err;

	memset(&err, 0, sizeof(err));
	(void) sm_tokenizer_load(json, strlen(json), &t, &err);
	CHECK_MSG(err.code == code && strstr(err.message, substr) != NULL && t == NULL,
			  "line %d: got status %d message \"%s\", wanted %d \"%s\"", line, (int) err.code, err.message,
			  (int) code, substr);
	if (t != NULL && t != (sm_tokenizer *) &t)
		sm_tokenizer_free(t);
}

#define REJECT(json, code, substr) reject_at(__LINE__, (json), (code), (substr))

/* ids as "1 2 3" */
static void
ids_str(const int32_t *ids, int n, char *out, size_t cap)
{
	size_t		o = 0;

	out[0] = '\0';
	for (int i = 0; i < n && o + 16 < cap; i++)
		o += (size_t) snprintf(out + o, cap - o, "%s%d", i ? " " : "", ids[i]);
}

/* encode and compare with "ids" (and "type ids" when types is not NULL) */
static void
enc_at(int line, const sm_tokenizer *t, const char *text, size_t len, const char *pair,
	   bool add_special, int max_tokens, bool truncate, const char *want, const char *types)
{
	sm_tok_ids	e;
	sm_error	err;
	char		got[4096];
	sm_status	st;

	memset(&err, 0, sizeof(err));
	sm_tok_ids_init(&e);
	st = sm_tokenizer_encode(t, text, len, pair, pair ? strlen(pair) : 0, add_special, max_tokens,
							 truncate, &e, &err);
	ids_str(e.ids, e.n, got, sizeof(got));
	CHECK_MSG(st == SM_OK && strcmp(got, want) == 0, "line %d: status %d \"%s\": got [%s] want [%s]",
			  line, (int) st, err.message, got, want);
	if (types != NULL)
	{
		ids_str(e.type_ids, e.n, got, sizeof(got));
		CHECK_MSG(strcmp(got, types) == 0, "line %d: type ids [%s] want [%s]", line, got, types);
	}
	sm_tok_ids_free(&e);
}

#define ENC(t, text, want) enc_at(__LINE__, (t), (text), strlen(text), NULL, true, 0, false, (want), NULL)

static void
dec_at(int line, const sm_tokenizer *t, const int32_t *ids, int n, bool skip, const char *want)
{
	sm_buf		out;
	sm_error	err;
	sm_status	st;

	memset(&err, 0, sizeof(err));
	sm_buf_init(&out);
	st = sm_tokenizer_decode(t, ids, n, skip, &out, &err);
	CHECK_MSG(st == SM_OK && out.len == strlen(want) && memcmp(out.data ? out.data : "", want, out.len) == 0,
			  "line %d: status %d \"%s\": got \"%.*s\" want \"%s\"", line, (int) st, err.message,
			  (int) out.len, out.data ? out.data : "", want);
	sm_buf_free(&out);
}

#define DEC(t, skip, want, ...) \
	do { int32_t ids_[] = {__VA_ARGS__}; \
		dec_at(__LINE__, (t), ids_, (int) (sizeof(ids_) / sizeof(ids_[0])), (skip), (want)); } while (0)

/* GPT-2's byte-to-unicode map (the test's own copy) */
static int
b2u(int b)
{
	int			n = 0;

	if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))
		return b;
	for (int i = 0; i < b; i++)
		if (!((i >= '!' && i <= '~') || (i >= 0xA1 && i <= 0xAC) || (i >= 0xAE && i <= 0xFF)))
			n++;
	return 256 + n;
}

static void
append_cp(sm_buf *b, int cp)
{
	char		u[4];
	int			n;

	if (cp < 0x80)
	{
		u[0] = (char) cp;
		n = 1;
	}
	else
	{
		u[0] = (char) (0xC0 | (cp >> 6));
		u[1] = (char) (0x80 | (cp & 0x3F));
		n = 2;
	}
	if (cp == '"' || cp == '\\')
		sm_buf_append(b, "\\", 1);
	sm_buf_append(b, u, (size_t) n);
}

/*
 * A byte-level BPE tokenizer.json: ids 0..255 are the bytes (in the byte
 * alphabet), then the given extra tokens and merges; `rest` is appended
 * after the model (other members).
 */
static char *
bytelevel_json(const char *extra_vocab, const char *merges, const char *model_extra, const char *rest)
{
	sm_buf		b;

	sm_buf_init(&b);
	sm_buf_append(&b, "{\"model\":{\"type\":\"BPE\",\"vocab\":{", 32);
	for (int i = 0; i < 256; i++)
	{
		sm_buf_append(&b, i ? ",\"" : "\"", i ? 2 : 1);
		append_cp(&b, b2u(i));
		sm_buf_appendf(&b, "\":%d", i);
	}
	sm_buf_appendf(&b, "%s%s},\"merges\":[%s]%s},%s}", *extra_vocab ? "," : "", extra_vocab, merges,
				   model_extra, rest);
	return b.data;
}

/* ---------------------------------------------------------------- byte-level BPE */

static void
test_bpe_small(void)
{
	/* Ġ = U+0120 (space); "ab"=256, "Ġa"=257, "abc"=258 */
	char	   *json = bytelevel_json("\"ab\":256,\"\xC4\xA0" "a\":257,\"abc\":258,\"<eot>\":259",
									  "\"a b\",[\"\xC4\xA0\",\"a\"],\"ab c\"", "",
									  "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false},"
									  "\"decoder\":{\"type\":\"ByteLevel\"},"
									  "\"added_tokens\":[{\"id\":259,\"content\":\"<eot>\",\"special\":true,\"normalized\":false}]");
	sm_tokenizer *t = LOAD(json);
	char	   *json2;
	sm_tokenizer *t2;

	free(json);
	if (t == NULL)
		return;
	CHECK(sm_tokenizer_kind(t) == SM_TOK_BPE);
	CHECK(sm_tokenizer_vocab_size(t) == 260);
	CHECK(sm_tokenizer_token_id(t, "abc") == 258);
	CHECK(sm_tokenizer_token_id(t, "<eot>") == 259);
	CHECK(sm_tokenizer_token_id(t, "nope") == -1);
	CHECK(sm_tokenizer_token(t, 258) != NULL && strcmp(sm_tokenizer_token(t, 258), "abc") == 0);
	CHECK(sm_tokenizer_token(t, 260) == NULL && sm_tokenizer_token(t, -1) == NULL);
	CHECK(sm_tokenizer_num_special(t, false) == 0 && sm_tokenizer_num_special(t, true) == 0);
	/* merges by rank: "ab" first, then "abc"; " a" (string and pair forms) */
	ENC(t, "abc", "258");
	ENC(t, "abab", "256 256");
	ENC(t, "ab a", "256 257");
	ENC(t, "ba", "98 97");
	ENC(t, "", "");
	/* the added token splits the text, matched in the raw text */
	ENC(t, "ab<eot>ab", "256 259 256");
	ENC(t, "<eot><eot>", "259 259");
	ENC(t, "<eo", "60 101 111");
	/* the regex: contractions (lowercase only), spaces before a word, \s+(?!\S) */
	ENC(t, "'s'S", "39 115 39 83");
	ENC(t, "a  a", "97 32 257");
	ENC(t, "a \n", "97 32 10");
	/* decode: bytes back; specials skipped on request; a lone byte is U+FFFD */
	DEC(t, false, "abc a<eot>", 258, 257, 259);
	DEC(t, true, "abc a", 258, 257, 259);
	DEC(t, false, "\xEF\xBF\xBD" "a", 0xC3, 97);
	DEC(t, false, "\xC3\xA9", 0xC3, 0xA9);
	/* truncated and invalid sequences: one U+FFFD per maximal prefix (Rust's from_utf8_lossy) */
	DEC(t, false, "\xEF\xBF\xBD" "a", 0xE2, 0x82, 97);
	DEC(t, false, "\xEF\xBF\xBD\xEF\xBF\xBD", 0xED, 0xA0);
	DEC(t, false, "\xEF\xBF\xBD\xEF\xBF\xBD", 0xC0, 0x80);
	DEC(t, false, "\xEF\xBF\xBD", 0xF0, 0x90, 0x80);
	DEC(t, false, "\xF0\x9F\x98\x80", 0xF0, 0x9F, 0x98, 0x80);
	sm_tokenizer_free(t);

	/* add_prefix_space: each piece between added tokens gets a space in front */
	json2 = bytelevel_json("\"\xC4\xA0" "a\":256,\"<eot>\":257", "[\"\xC4\xA0\",\"a\"]", "",
						   "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":true},"
						   "\"added_tokens\":[{\"id\":257,\"content\":\"<eot>\",\"special\":true}]");
	t2 = LOAD(json2);
	free(json2);
	if (t2 != NULL)
	{
		ENC(t2, "a", "256");
		ENC(t2, " a", "256");
		ENC(t2, "a<eot>a", "256 257 256");
		/* no decoder: tokens joined by spaces */
		DEC(t2, false, "\xC4\xA0" "a <eot>", 256, 257);
		DEC(t2, true, "\xC4\xA0" "a", 256, 257);
		sm_tokenizer_free(t2);
	}

	/* use_regex false: the whole text is one word (the merge crosses the space) */
	json2 = bytelevel_json("\"a\xC4\xA0\":256", "\"a \xC4\xA0\"", "",
						   "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":false}");
	t2 = LOAD(json2);
	free(json2);
	if (t2 != NULL)
	{
		ENC(t2, "a a", "256 97");
		sm_tokenizer_free(t2);
	}
}

static void
test_bpe_plain(void)
{
	/* BPE without byte level: characters looked up, unknown ones [UNK] (fused or not) */
	sm_tokenizer *t = LOAD("{\"model\":{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"vocab\":{\"<unk>\":0,\"a\":1,\"b\":2,\"ab\":3,\"\xC3\xA9\":4},"
						   "\"merges\":[\"a b\"]}}");

	if (t != NULL)
	{
		ENC(t, "abxa", "3 0 1");
		ENC(t, "axyb", "1 0 0 2");
		ENC(t, "\xC3\xA9" "ab", "4 3");
		ENC(t, "\xC3", "0");		/* an invalid byte: one unknown unit */
		sm_tokenizer_free(t);
	}
	t = LOAD("{\"model\":{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"fuse_unk\":true,\"vocab\":{\"<unk>\":0,\"a\":1,\"b\":2,\"ab\":3},"
			 "\"merges\":[[\"a\",\"b\"]]}}");
	if (t != NULL)
	{
		ENC(t, "axyb", "1 0 2");
		sm_tokenizer_free(t);
	}
	/* no unk_token: unknown characters are dropped, as HF does */
	t = LOAD("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"a b\"]}}");
	if (t != NULL)
	{
		ENC(t, "axb", "2");
		sm_tokenizer_free(t);
	}
	/* ignore_merges: a word in the vocabulary is taken whole */
	t = LOAD("{\"model\":{\"type\":\"BPE\",\"ignore_merges\":true,\"vocab\":{\"a\":0,\"b\":1,\"c\":2,\"bc\":3,\"abc\":4},"
			 "\"merges\":[\"b c\"]}}");
	if (t != NULL)
	{
		ENC(t, "abc", "4");
		sm_tokenizer_free(t);
	}
	/* a long word goes through the heap merge; same result as the scan */
	t = LOAD("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"aa\":1,\"aaaa\":2},\"merges\":[\"a a\",\"aa aa\"]}}");
	if (t != NULL)
	{
		char		text[203];
		char		want[512];
		size_t		o = 0;

		memset(text, 'a', 202);
		text[202] = '\0';
		for (int i = 0; i < 50; i++)
			o += (size_t) snprintf(want + o, sizeof(want) - o, "%s2", i ? " " : "");
		snprintf(want + o, sizeof(want) - o, " 1");
		enc_at(__LINE__, t, text, 202, NULL, true, 0, false, want, NULL);
		enc_at(__LINE__, t, text, 7, NULL, true, 0, false, "2 1 0", NULL);
		sm_tokenizer_free(t);
	}
}

/* ---------------------------------------------------------------- WordPiece */

#define WP_VOCAB "\"[PAD]\":0,\"[UNK]\":1,\"[CLS]\":2,\"[SEP]\":3,\"[MASK]\":4,\"un\":5,\"##aff\":6,\"##able\":7," \
	"\"hello\":8,\",\":9,\"!\":10,\"cafe\":11,\"\xE4\xB8\xAD\":12,\"a\":13,\"##a\":14,\"##b\":15,\".\":16,\"'\":17,\"s\":18," \
	"\"\xC3\xA9t\xC3\xA9\":19,\"i\xCC\x87\":20,\"\xE1\x84\x92\":21,\"##\xE1\x85\xA1\":22,\"##\xE1\x86\xAB\":23"
#define WP_ADDED "\"added_tokens\":[{\"id\":0,\"content\":\"[PAD]\",\"special\":true,\"normalized\":false}," \
	"{\"id\":1,\"content\":\"[UNK]\",\"special\":true,\"normalized\":false}," \
	"{\"id\":2,\"content\":\"[CLS]\",\"special\":true,\"normalized\":false}," \
	"{\"id\":3,\"content\":\"[SEP]\",\"special\":true,\"normalized\":false}," \
	"{\"id\":4,\"content\":\"[MASK]\",\"special\":true,\"normalized\":false}]"

static sm_tokenizer *
wp_load(int line, const char *normalizer, const char *post, const char *model_extra)
{
	char		json[4096];

	snprintf(json, sizeof(json),
			 "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null," WP_ADDED ","
			 "\"normalizer\":%s,\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},\"post_processor\":%s,"
			 "\"decoder\":{\"type\":\"WordPiece\",\"prefix\":\"##\",\"cleanup\":true},"
			 "\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"continuing_subword_prefix\":\"##\"%s,"
			 "\"vocab\":{" WP_VOCAB "}}}", normalizer, post, model_extra);
	return load_at(line, json);
}

#define BERT_NORM "{\"type\":\"BertNormalizer\",\"clean_text\":true,\"handle_chinese_chars\":true,\"strip_accents\":null,\"lowercase\":true}"
#define BERT_POST "{\"type\":\"BertProcessing\",\"sep\":[\"[SEP]\",3],\"cls\":[\"[CLS]\",2]}"

static void
test_wordpiece(void)
{
	sm_tokenizer *t = wp_load(__LINE__, BERT_NORM, BERT_POST, ",\"max_input_chars_per_word\":9");

	if (t == NULL)
		return;
	CHECK(sm_tokenizer_kind(t) == SM_TOK_WORDPIECE);
	CHECK(sm_tokenizer_num_special(t, false) == 2 && sm_tokenizer_num_special(t, true) == 3);
	/* greedy longest match with ##, punctuation split, lowercase */
	ENC(t, "Unaffable, hello!", "2 5 6 7 9 8 10 3");
	/* a word with no match, and one longer than 9 code points, are [UNK] */
	ENC(t, "unxyz hellohello", "2 1 1 3");
	/* accents: NFD then Mn dropped; CJK split; control characters dropped */
	ENC(t, "Caf\xC3\xA9\xE4\xB8\xAD" "a\xE2\x80\x8B" "ab", "2 11 12 13 14 15 3");
	/* lowercase after stripping: I with dot above -> i + U+0307 -> i (the mark is Mn) */
	ENC(t, "\xC4\xB0", "2 1 3");
	/* Hangul syllables end as jamo */
	ENC(t, "\xED\x95\x9C", "2 21 22 23 3");
	/* whitespace of every kind separates; NUL and U+FFFD vanish */
	ENC(t, "a\xC2\xA0" "a\xE3\x80\x80" "a\t" "a", "2 13 13 13 13 3");
	enc_at(__LINE__, t, "a\0a\xEF\xBF\xBD" "a", 7, NULL, true, 0, false, "2 13 14 14 3", NULL);
	/* invalid UTF-8 counts as U+FFFD: dropped */
	ENC(t, "a\xFF" "a", "2 13 14 3");
	/* special tokens in the text */
	ENC(t, "[CLS]a[MASK]", "2 2 13 4 3");
	ENC(t, "", "2 3");
	enc_at(__LINE__, t, "", 0, NULL, false, 0, false, "", NULL);
	/* pairs: [CLS] A [SEP] B [SEP], type ids 0 then 1 */
	enc_at(__LINE__, t, "hello", 5, "a", true, 0, false, "2 8 3 13 3", "0 0 0 1 1");
	enc_at(__LINE__, t, "hello", 5, "a", false, 0, false, "8 13", "0 1");
	/* decode: ## joined, cleanup of " ." etc., specials skipped or not */
	DEC(t, true, "unaffable, hello!", 2, 5, 6, 7, 9, 8, 10, 3);
	DEC(t, false, "[CLS] unaffable, hello! [SEP]", 2, 5, 6, 7, 9, 8, 10, 3);
	DEC(t, false, "a. ' s", 13, 16, 17, 18);
	DEC(t, false, "##a", 14);
	sm_tokenizer_free(t);

	/* no lowercase, strip_accents false: accents and case kept */
	t = wp_load(__LINE__, "{\"type\":\"BertNormalizer\",\"lowercase\":false,\"strip_accents\":false}", "null", "");
	if (t != NULL)
	{
		ENC(t, "\xC3\xA9t\xC3\xA9", "19");
		ENC(t, "Hello", "1");
		sm_tokenizer_free(t);
	}
	/* lowercase without stripping accents: U+0130 -> i + U+0307 kept */
	t = wp_load(__LINE__, "{\"type\":\"BertNormalizer\",\"lowercase\":true,\"strip_accents\":false}", "null", "");
	if (t != NULL)
	{
		ENC(t, "\xC4\xB0", "20");
		sm_tokenizer_free(t);
	}
	/* no normalizer */
	t = wp_load(__LINE__, "null", "null", "");
	if (t != NULL)
	{
		ENC(t, "Hello hello", "1 8");
		sm_tokenizer_free(t);
	}
}

/* ---------------------------------------------------------------- post-processors and truncation */

static void
test_templates(void)
{
	sm_tokenizer *t;

	t = wp_load(__LINE__, BERT_NORM,
				"{\"type\":\"TemplateProcessing\","
				"\"single\":[{\"SpecialToken\":{\"id\":\"[CLS]\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},{\"SpecialToken\":{\"id\":\"[SEP]\",\"type_id\":0}}],"
				"\"pair\":[{\"SpecialToken\":{\"id\":\"[CLS]\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},{\"SpecialToken\":{\"id\":\"[SEP]\",\"type_id\":0}},"
				"{\"Sequence\":{\"id\":\"B\",\"type_id\":1}},{\"SpecialToken\":{\"id\":\"[SEP]\",\"type_id\":1}}],"
				"\"special_tokens\":{\"[CLS]\":{\"id\":\"[CLS]\",\"ids\":[2],\"tokens\":[\"[CLS]\"]},\"[SEP]\":{\"id\":\"[SEP]\",\"ids\":[3],\"tokens\":[\"[SEP]\"]}}}", "");
	if (t != NULL)
	{
		enc_at(__LINE__, t, "a a", 3, NULL, true, 0, false, "2 13 13 3", "0 0 0 0");
		enc_at(__LINE__, t, "a", 1, "hello a", true, 0, false, "2 13 3 8 13 3", "0 0 0 1 1 1");
		/* truncation: the texts are cut before the template, [SEP] stays last */
		enc_at(__LINE__, t, "a a a a a", 9, NULL, true, 4, true, "2 13 13 3", "0 0 0 0");
		enc_at(__LINE__, t, "a a a a a", 9, NULL, true, 7, true, "2 13 13 13 13 13 3", NULL);
		enc_at(__LINE__, t, "a a a a a", 9, NULL, false, 3, true, "13 13 13", NULL);
		/* longest_first: the longer loses tokens first; both halved when needed */
		enc_at(__LINE__, t, "a a a a a", 9, "hello", true, 6, true, "2 13 13 3 8 3", "0 0 0 0 1 1");
		enc_at(__LINE__, t, "hello", 5, "a a a a a", true, 6, true, "2 8 3 13 13 3", "0 0 0 1 1 1");
		enc_at(__LINE__, t, "a a a a", 7, "a a a a a", true, 8, true, "2 13 13 3 13 13 13 3", NULL);
		enc_at(__LINE__, t, "a a a a a", 9, "a a a a", true, 7, true, "2 13 13 3 13 13 3", NULL);
		enc_at(__LINE__, t, "a a", 3, "a a", true, 3, true, "2 3 3", NULL);
		/* too long without truncation, or no room for the specials */
		{
			sm_tok_ids	e;
			sm_error	err;

			sm_tok_ids_init(&e);
			memset(&err, 0, sizeof(err));
			CHECK(sm_tokenizer_encode(t, "a a a a a", 9, NULL, 0, true, 4, false, &e, &err) == SM_ERR_LIMIT);
			CHECK_ERR(err, SM_ERR_LIMIT, "input is 7 tokens long but the model takes at most 4");
			CHECK(strstr(err.detail, "2 special tokens") != NULL && e.n == 0);
			memset(&err, 0, sizeof(err));
			CHECK(sm_tokenizer_encode(t, "a", 1, "a", 1, true, 2, true, &e, &err) == SM_ERR_LIMIT);
			CHECK_ERR(err, SM_ERR_LIMIT, "a limit of 2 tokens leaves no room for the text");
			sm_tok_ids_free(&e);
		}
		sm_tokenizer_free(t);
	}
	/* RoBERTa: <s> A </s> </s> B </s>, type ids all 0 */
	t = wp_load(__LINE__, BERT_NORM, "{\"type\":\"RobertaProcessing\",\"sep\":[\"[SEP]\",3],\"cls\":[\"[CLS]\",2]}", "");
	if (t != NULL)
	{
		CHECK(sm_tokenizer_num_special(t, true) == 4);
		enc_at(__LINE__, t, "a", 1, "hello", true, 0, false, "2 13 3 3 8 3", "0 0 0 0 0 0");
		sm_tokenizer_free(t);
	}
	/* no post-processor: nothing added, the pair's type ids are 1 */
	t = wp_load(__LINE__, BERT_NORM, "null", "");
	if (t != NULL)
	{
		enc_at(__LINE__, t, "a", 1, "hello", true, 0, false, "13 8", "0 1");
		sm_tokenizer_free(t);
	}
}

/* ---------------------------------------------------------------- errors */

#define MODEL_OK "\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"[UNK]\":0,\"a\":1}}"

static void
test_errors(void)
{
	sm_tokenizer *t;
	sm_error	err;
	sm_buf		out;

	REJECT("{", SM_ERR_INVALID, "invalid JSON");
	REJECT("[]", SM_ERR_INVALID, "tokenizer.json must be a JSON object, not array");
	REJECT("{}", SM_ERR_INVALID, "tokenizer.json member \"model\" is missing");
	REJECT("{\"version\":\"2.0\"," MODEL_OK "}", SM_ERR_UNSUPPORTED, "tokenizer.json version \"2.0\" is not supported");
	REJECT("{\"model\":{\"type\":\"WordLevel\",\"vocab\":{}}}", SM_ERR_UNSUPPORTED, "tokenizer.json model type \"WordLevel\" is not supported");
	REJECT("{\"model\":{\"vocab\":{}}}", SM_ERR_INVALID, "tokenizer.json member \"model.type\" is missing");
	REJECT("{\"model\":{\"type\":\"WordPiece\",\"vocab\":[]}}", SM_ERR_INVALID, "tokenizer.json member \"model.vocab\" must be an object, not array");
	REJECT("{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":-1}}}", SM_ERR_INVALID, "must map tokens to ids from 0 to");
	REJECT("{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":1.5}}}", SM_ERR_INVALID, "must map tokens to ids from 0 to");
	REJECT("{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0,\"b\":0}}}", SM_ERR_INVALID, "gives id 0 to two tokens");
	REJECT("{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0}}}", SM_ERR_INVALID, "unk_token \"[UNK]\" is not in the vocabulary");
	REJECT("{\"model\":{\"type\":\"WordPiece\",\"unk_token\":3,\"vocab\":{\"a\":0}}}", SM_ERR_INVALID, "\"model.unk_token\" must be a string");
	REJECT("{\"model\":{\"type\":\"WordPiece\",\"max_input_chars_per_word\":-1,\"vocab\":{\"[UNK]\":0}}}", SM_ERR_INVALID, "max_input_chars_per_word");
	REJECT("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0}}}", SM_ERR_INVALID, "\"model.merges\" is missing");
	REJECT("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":{}}}", SM_ERR_INVALID, "\"model.merges\" must be an array, not object");
	REJECT("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"aa\":1},\"merges\":[\"a  a\"]}}", SM_ERR_INVALID, "merge 1 must be two tokens separated by one space");
	REJECT("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"aa\":1},\"merges\":[\"aa\"]}}", SM_ERR_INVALID, "merge 1 must be two tokens separated by one space");
	REJECT("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[[\"a\"]]}}", SM_ERR_INVALID, "merge 1 must be a string \"a b\" or an array of two strings");
	REJECT("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[3]}}", SM_ERR_INVALID, "merge 1 must be a string \"a b\" or an array of two strings, not number");
	REJECT("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"aa\":1},\"merges\":[\"a a\",\"a b\"]}}", SM_ERR_INVALID, "merge 2 names a token that is not in the vocabulary");
	REJECT("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a a\"]}}", SM_ERR_INVALID, "merge 1 names a token that is not in the vocabulary");
	REJECT("{\"model\":{\"type\":\"BPE\",\"dropout\":0.1,\"vocab\":{\"a\":0},\"merges\":[]}}", SM_ERR_UNSUPPORTED, "dropout is not supported");
	REJECT("{\"model\":{\"type\":\"BPE\",\"byte_fallback\":true,\"vocab\":{\"a\":0},\"merges\":[]}}", SM_ERR_UNSUPPORTED, "byte_fallback is not supported");
	REJECT("{\"model\":{\"type\":\"BPE\",\"continuing_subword_prefix\":\"##\",\"vocab\":{\"a\":0},\"merges\":[]}}", SM_ERR_UNSUPPORTED, "continuing_subword_prefix \"##\" is not supported");
	REJECT("{\"model\":{\"type\":\"BPE\",\"end_of_word_suffix\":\"</w>\",\"vocab\":{\"a\":0},\"merges\":[]}}", SM_ERR_UNSUPPORTED, "end_of_word_suffix \"</w>\" is not supported");
	REJECT("{\"model\":{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"vocab\":{\"a\":0},\"merges\":[]}}", SM_ERR_INVALID, "unk_token \"<unk>\" is not in the vocabulary");
	REJECT("{\"model\":{\"type\":\"BPE\",\"fuse_unk\":1,\"vocab\":{\"a\":0},\"merges\":[]}}", SM_ERR_INVALID, "\"model.fuse_unk\" must be a boolean");
	REJECT("{\"normalizer\":{\"type\":\"NFKC\"}," MODEL_OK "}", SM_ERR_UNSUPPORTED, "tokenizer.json normalizer type \"NFKC\" is not supported");
	REJECT("{\"normalizer\":{\"lowercase\":true}," MODEL_OK "}", SM_ERR_INVALID, "\"normalizer.type\" is missing");
	REJECT("{\"normalizer\":{\"type\":\"BertNormalizer\",\"lowercase\":1}," MODEL_OK "}", SM_ERR_INVALID, "\"normalizer.lowercase\" must be a boolean, not number");
	REJECT("{\"normalizer\":[]," MODEL_OK "}", SM_ERR_INVALID, "\"normalizer\" must be an object, not array");
	REJECT("{\"pre_tokenizer\":{\"type\":\"Punctuation\"}," MODEL_OK "}", SM_ERR_UNSUPPORTED, "tokenizer.json pre_tokenizer type \"Punctuation\" is not supported");
	REJECT("{\"post_processor\":{\"type\":\"Sequence\"}," MODEL_OK "}", SM_ERR_UNSUPPORTED, "tokenizer.json post_processor type \"Sequence\" is not supported");
	REJECT("{\"decoder\":{\"type\":\"CTC\"}," MODEL_OK "}", SM_ERR_UNSUPPORTED, "tokenizer.json decoder type \"CTC\" is not supported");
	REJECT("{\"decoder\":{\"type\":\"WordPiece\",\"prefix\":1}," MODEL_OK "}", SM_ERR_INVALID, "\"decoder.prefix\" must be a string");
	REJECT("{\"added_tokens\":{}," MODEL_OK "}", SM_ERR_INVALID, "\"added_tokens\" must be an array, not object");
	REJECT("{\"added_tokens\":[1]," MODEL_OK "}", SM_ERR_INVALID, "\"added_tokens[0]\" must be an object, not number");
	REJECT("{\"added_tokens\":[{\"id\":5}]," MODEL_OK "}", SM_ERR_INVALID, "\"added_tokens[0].content\" is missing");
	REJECT("{\"added_tokens\":[{\"id\":-5,\"content\":\"x\"}]," MODEL_OK "}", SM_ERR_INVALID, "\"added_tokens[0].id\" must be an integer");
	REJECT("{\"added_tokens\":[{\"id\":5,\"content\":\"x\",\"special\":\"yes\"}]," MODEL_OK "}", SM_ERR_INVALID, "\"added_tokens[0].special\" must be a boolean");
	REJECT("{\"post_processor\":{\"type\":\"BertProcessing\",\"sep\":[\"[SEP]\",1]}," MODEL_OK "}", SM_ERR_INVALID, "\"post_processor.cls\" is missing");
	REJECT("{\"post_processor\":{\"type\":\"BertProcessing\",\"sep\":[\"[SEP]\",1],\"cls\":[\"[CLS]\"]}," MODEL_OK "}", SM_ERR_INVALID, "\"post_processor.cls\" must be a [token, id] pair");
	REJECT("{\"post_processor\":{\"type\":\"BertProcessing\",\"sep\":[\"[SEP]\",1],\"cls\":[\"[CLS]\",99]}," MODEL_OK "}", SM_ERR_INVALID, "has id 99, outside the vocabulary");
	REJECT("{\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"Sequence\":{\"id\":\"A\"}}]}," MODEL_OK "}", SM_ERR_INVALID, "\"post_processor.pair\" is missing");
	REJECT("{\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"[X]\"}},{\"Sequence\":{\"id\":\"A\"}}],\"pair\":[],\"special_tokens\":{}}," MODEL_OK "}",
		   SM_ERR_INVALID, "special token \"[X]\" is not in \"special_tokens\"");
	REJECT("{\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"Sequence\":{\"id\":\"B\"}}],\"pair\":[]}," MODEL_OK "}", SM_ERR_INVALID, "single template names sequence \"B\"");
	REJECT("{\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[\"$A\"],\"pair\":[]}," MODEL_OK "}", SM_ERR_INVALID, "must hold {\"Sequence\": ...}");
	REJECT("{\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"Sequence\":{\"id\":\"A\"}}],\"pair\":[{\"Sequence\":{\"id\":\"A\"}}]}," MODEL_OK "}", SM_ERR_INVALID, "pair template must name sequence A and sequence B");
	REJECT("{\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"Sequence\":{\"id\":\"A\",\"type_id\":-1}}],\"pair\":[]}," MODEL_OK "}", SM_ERR_INVALID, "type_id that is not a non-negative integer");

	/* decode: an id outside the vocabulary */
	t = LOAD("{" MODEL_OK "}");
	if (t != NULL)
	{
		int32_t		bad[] = {1, 7};

		memset(&err, 0, sizeof(err));
		sm_buf_init(&out);
		CHECK(sm_tokenizer_decode(t, bad, 2, false, &out, &err) == SM_ERR_INVALID);
		CHECK_ERR(err, SM_ERR_INVALID, "token id 7 at position 2 is not in the vocabulary");
		bad[1] = -1;
		CHECK(sm_tokenizer_decode(t, bad, 2, false, &out, &err) == SM_ERR_INVALID);
		CHECK_ERR(err, SM_ERR_INVALID, "token id -1 at position 2");
		sm_buf_free(&out);
		/* no decoder: joined by spaces */
		DEC(t, false, "a [UNK] a", 1, 0, 1);
		sm_tokenizer_free(t);
	}
}

/* ---------------------------------------------------------------- tokenizer.json from vocabulary files */

static void
test_from_files(void)
{
	sm_buf		out;
	sm_error	err;
	sm_tokenizer *t;
	const char *vocab = "{\"a\":0,\"b\":1,\"ab\":2,\"<|endoftext|>\":3,\"\xC4\xA0\":4}";
	const char *merges = "#version: 0.2\na b\r\n";

	sm_buf_init(&out);
	memset(&err, 0, sizeof(err));
	CHECK(sm_tokenizer_json_from_bpe(vocab, strlen(vocab), merges, strlen(merges), &out, &err) == SM_OK);
	t = out.data ? LOAD(out.data) : NULL;
	if (t != NULL)
	{
		ENC(t, "ab<|endoftext|>", "2 3");
		DEC(t, true, "ab", 2, 3);
		sm_tokenizer_free(t);
	}
	sm_buf_free(&out);
	CHECK(sm_tokenizer_json_from_bpe("[]", 2, "", 0, &out, &err) == SM_ERR_INVALID);
	CHECK_ERR(err, SM_ERR_INVALID, "vocab.json must be a JSON object, not array");
	sm_buf_free(&out);
	CHECK(sm_tokenizer_json_from_bpe("{\"a\":\"x\"}", 9, "", 0, &out, &err) == SM_ERR_INVALID);
	CHECK_ERR(err, SM_ERR_INVALID, "vocab.json must map tokens to ids");
	sm_buf_free(&out);
	CHECK(sm_tokenizer_json_from_bpe("{\"a\":1,\"b\":1}", 13, "", 0, &out, &err) == SM_ERR_INVALID);
	CHECK_ERR(err, SM_ERR_INVALID, "vocab.json gives id 1 to two tokens");
	sm_buf_free(&out);
	CHECK(sm_tokenizer_json_from_bpe(vocab, strlen(vocab), "a b\n\nb a\n", 9, &out, &err) == SM_ERR_INVALID);
	CHECK_ERR(err, SM_ERR_INVALID, "merges.txt line 2 must be two tokens separated by one space");
	sm_buf_free(&out);
	CHECK(sm_tokenizer_json_from_bpe("{", 1, "", 0, &out, &err) == SM_ERR_INVALID);
	sm_buf_free(&out);

	/* vocab.txt: id = line; trailing whitespace trimmed; a repeated token keeps its last line */
	{
		const char *txt = "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello \nx\n##s\nx\n";

		CHECK(sm_tokenizer_json_from_wordpiece(txt, strlen(txt), true, &out, &err) == SM_OK);
		t = out.data ? LOAD(out.data) : NULL;
		if (t != NULL)
		{
			ENC(t, "Hello hellos x", "2 4 4 6 7 3");
			CHECK(sm_tokenizer_token(t, 5) == NULL);
			CHECK(sm_tokenizer_token_id(t, "[PAD]") == 0);
			DEC(t, true, "hello hellos", 2, 4, 4, 6, 3);
			sm_tokenizer_free(t);
		}
		sm_buf_free(&out);
		CHECK(sm_tokenizer_json_from_wordpiece(txt, strlen(txt), false, &out, &err) == SM_OK);
		t = out.data ? LOAD(out.data) : NULL;
		if (t != NULL)
		{
			ENC(t, "Hello", "2 1 3");
			sm_tokenizer_free(t);
		}
		sm_buf_free(&out);
		/* no [CLS]/[SEP]: no post-processor */
		CHECK(sm_tokenizer_json_from_wordpiece("[UNK]\na", 7, true, &out, &err) == SM_OK);
		t = out.data ? LOAD(out.data) : NULL;
		if (t != NULL)
		{
			ENC(t, "A", "1");
			sm_tokenizer_free(t);
		}
		sm_buf_free(&out);
		CHECK(sm_tokenizer_json_from_wordpiece("a\nb\n", 4, true, &out, &err) == SM_ERR_INVALID);
		CHECK_ERR(err, SM_ERR_INVALID, "vocab.txt has no [UNK] token");
		sm_buf_free(&out);
	}
}

/* ---------------------------------------------------------------- the reference fixtures */

static sm_tokenizer *
load_fixture(const char *name)
{
	char		path[256];
	size_t		len;
	char	   *json;
	sm_tokenizer *t;

	snprintf(path, sizeof(path), FIXTURES "%s/tokenizer.json", name);
	json = read_file(path, &len);
	CHECK_MSG(json != NULL, "cannot read %s (run from the repository root)", path);
	if (json == NULL)
		return NULL;
	t = load_at(__LINE__, json);
	free(json);
	return t;
}

static sm_tokenizer *
load_from_files(const char *name)
{
	char		p1[256],
				p2[256];
	size_t		l1,
				l2 = 0;
	char	   *a,
			   *b = NULL;
	sm_buf		out;
	sm_error	err;
	sm_status	st;
	sm_tokenizer *t = NULL;

	memset(&err, 0, sizeof(err));
	sm_buf_init(&out);
	if (strcmp(name, "gpt2") == 0)
	{
		snprintf(p1, sizeof(p1), FIXTURES "gpt2/vocab.json");
		snprintf(p2, sizeof(p2), FIXTURES "gpt2/merges.txt");
		a = read_file(p1, &l1);
		b = read_file(p2, &l2);
		CHECK_MSG(a != NULL && b != NULL, "cannot read %s or %s", p1, p2);
		st = (a && b) ? sm_tokenizer_json_from_bpe(a, l1, b, l2, &out, &err) : SM_ERR_INVALID;
	}
	else
	{
		snprintf(p1, sizeof(p1), FIXTURES "bert/vocab.txt");
		a = read_file(p1, &l1);
		CHECK_MSG(a != NULL, "cannot read %s", p1);
		st = a ? sm_tokenizer_json_from_wordpiece(a, l1, true, &out, &err) : SM_ERR_INVALID;
	}
	CHECK_MSG(st == SM_OK, "%s from files: %s", name, err.message);
	if (st == SM_OK)
		t = load_at(__LINE__, out.data);
	free(a);
	free(b);
	sm_buf_free(&out);
	return t;
}

/* every corpus line against the reference's ids */
static void
check_corpus(const char *what, const sm_tokenizer *t, char **lines, size_t *lens, int n,
			 const char *ids_gz)
{
	size_t		elen;
	char	   *exp = sm_test_read_gz(ids_gz, &elen);
	char	  **el;
	size_t	   *ell;
	int			ne,
				bad = 0;
	sm_tok_ids	e;
	char	   *got;

	CHECK_MSG(exp != NULL, "cannot read %s", ids_gz);
	if (exp == NULL)
		return;
	ne = sm_test_split_lines(exp, elen, &el, &ell);
	CHECK_MSG(ne == n, "%s: %d expected lines for %d corpus lines", ids_gz, ne, n);
	sm_tok_ids_init(&e);
	got = malloc(1 << 20);
	for (int i = 0; i < n && i < ne; i++)
	{
		sm_error	err;
		sm_status	st;

		memset(&err, 0, sizeof(err));
		st = sm_tokenizer_encode(t, lines[i], lens[i], NULL, 0, true, 0, false, &e, &err);
		ids_str(e.ids, e.n, got, 1 << 20);
		if (st != SM_OK || strcmp(got, el[i]) != 0)
		{
			if (bad < 5)
				fprintf(stderr, "%s: line %d \"%.80s\": status %d\n  got  [%.300s]\n  want [%.300s]\n",
						what, i + 1, lines[i], (int) st, got, el[i]);
			bad++;
		}
	}
	CHECK_MSG(bad == 0, "%s: %d of %d lines differ from the reference", what, bad, n);
	fprintf(stderr, "%s: %d lines, %d differ\n", what, n, bad);
	free(got);
	free(el);
	free(ell);
	free(exp);
	sm_tok_ids_free(&e);
}

static void
check_pairs(const sm_tokenizer *t, char **lines, size_t *lens, int n)
{
	size_t		elen;
	char	   *exp = sm_test_read_gz(FIXTURES "bert.pairs.ids.gz", &elen);
	char	  **el;
	size_t	   *ell;
	int			ne,
				bad = 0;
	sm_tok_ids	e;
	char	   *got = malloc(1 << 20);

	CHECK_MSG(exp != NULL, "cannot read " FIXTURES "bert.pairs.ids.gz");
	if (exp == NULL)
	{
		free(got);
		return;
	}
	ne = sm_test_split_lines(exp, elen, &el, &ell);
	CHECK(ne == 2000 && n > 2000);
	sm_tok_ids_init(&e);
	for (int i = 0; i < ne && i + 1 < n; i++)
	{
		sm_error	err;
		sm_status	st;
		size_t		o;

		memset(&err, 0, sizeof(err));
		st = sm_tokenizer_encode(t, lines[i], lens[i], lines[i + 1], lens[i + 1], true, 0, false, &e, &err);
		ids_str(e.ids, e.n, got, 1 << 20);
		o = strlen(got);
		got[o++] = '\t';
		ids_str(e.type_ids, e.n, got + o, (1 << 20) - o);
		if (st != SM_OK || strcmp(got, el[i]) != 0)
		{
			if (bad < 5)
				fprintf(stderr, "bert pairs: line %d:\n  got  [%.300s]\n  want [%.300s]\n", i + 1, got, el[i]);
			bad++;
		}
	}
	CHECK_MSG(bad == 0, "bert pairs: %d of %d differ from the reference", bad, ne);
	free(got);
	free(el);
	free(ell);
	free(exp);
	sm_tok_ids_free(&e);
}

/* ids of a line "1 2 3" */
static int
parse_ids(const char *s, int32_t *out, int cap)
{
	int			n = 0;

	while (*s && n < cap)
	{
		char	   *end;
		long		v = strtol(s, &end, 10);

		if (end == s)
			break;
		out[n++] = (int32_t) v;
		s = end;
		while (*s == ' ')
			s++;
	}
	return n;
}

static void
check_decode(const char *what, const sm_tokenizer *t, const char *ids_gz, const char *dec_gz)
{
	size_t		l1,
				l2;
	char	   *ids = sm_test_read_gz(ids_gz, &l1);
	char	   *dec = sm_test_read_gz(dec_gz, &l2);
	char	  **il,
			  **dl;
	size_t	   *ill,
			   *dll;
	int			ni,
				nd,
				bad = 0;
	int32_t    *buf = malloc(sizeof(int32_t) << 18);

	CHECK_MSG(ids != NULL && dec != NULL, "cannot read %s or %s", ids_gz, dec_gz);
	if (ids == NULL || dec == NULL)
	{
		free(ids);
		free(dec);
		free(buf);
		return;
	}
	ni = sm_test_split_lines(ids, l1, &il, &ill);
	nd = sm_test_split_lines(dec, l2, &dl, &dll);
	CHECK(nd == 2000 && ni >= nd);
	for (int i = 0; i < nd && i < ni; i++)
	{
		int			n = parse_ids(il[i], buf, 1 << 18);
		sm_buf		out;
		sm_error	err;
		sm_status	st;

		memset(&err, 0, sizeof(err));
		sm_buf_init(&out);
		st = sm_tokenizer_decode(t, buf, n, true, &out, &err);
		if (st != SM_OK || out.len != dll[i] || memcmp(out.data ? out.data : "", dl[i], dll[i]) != 0)
		{
			if (bad < 5)
				fprintf(stderr, "%s decode: line %d:\n  got  \"%.*s\"\n  want \"%s\"\n", what, i + 1,
						(int) out.len, out.data ? out.data : "", dl[i]);
			bad++;
		}
		sm_buf_free(&out);
	}
	CHECK_MSG(bad == 0, "%s decode: %d of %d differ from the reference", what, bad, nd);
	free(il);
	free(ill);
	free(dl);
	free(dll);
	free(ids);
	free(dec);
	free(buf);
}

/* no byte sequence crashes or reads out of bounds; byte level round-trips lossily */
static void
check_bytes(const sm_tokenizer *gpt2, const sm_tokenizer *bert)
{
	unsigned	seed = 12345;
	sm_tok_ids	e;
	int			bad = 0;

	sm_tok_ids_init(&e);
	for (int round = 0; round < 256 + 2000; round++)
	{
		size_t		len = round < 256 ? 1 : (size_t) (rand_r(&seed) % 40);
		char	   *s = malloc(len ? len : 1);	/* exact size: valgrind sees over-reads */
		sm_error	err;
		sm_buf		out,
					want;

		for (size_t i = 0; i < len; i++)
		{
			int			r = rand_r(&seed);

			/* mostly bytes that make UTF-8 lead / continuation / ASCII */
			s[i] = round < 256 ? (char) round : (char) ((r % 4 == 0) ? ' ' + r % 90 : 0x80 + r % 128);
		}
		memset(&err, 0, sizeof(err));
		if (sm_tokenizer_encode(bert, s, len, s, len, true, 0, false, &e, &err) != SM_OK)
			bad++;
		if (sm_tokenizer_encode(gpt2, s, len, NULL, 0, false, 0, false, &e, &err) != SM_OK)
			bad++;
		sm_buf_init(&out);
		sm_buf_init(&want);
		if (sm_tokenizer_decode(gpt2, e.ids, e.n, false, &out, &err) != SM_OK)
			bad++;
		/* the expected: the bytes with each invalid sequence as U+FFFD; the
		 * decoder does this on its own, so compare with a decode of the bytes
		 * themselves (ids 0..255 of GPT-2 are not the bytes; use the round trip
		 * on valid text only) */
		{
			bool		valid = true;
			size_t		i = 0;

			while (i < len)
			{
				unsigned char c = (unsigned char) s[i];
				size_t		need = c < 0x80 ? 0 : (c >= 0xC2 && c <= 0xDF) ? 1 : (c >= 0xE0 && c <= 0xEF) ? 2 : (c >= 0xF0 && c <= 0xF4) ? 3 : 99;

				if (need == 99 || i + need >= len + (need == 0))
				{
					valid = need == 0;
					if (!valid)
						break;
				}
				for (size_t k = 1; k <= need && valid; k++)
					if (i + k >= len || ((unsigned char) s[i + k] & 0xC0) != 0x80)
						valid = false;
				/* overlong / surrogate / > U+10FFFF */
				if (valid && need == 2 && ((c == 0xE0 && (unsigned char) s[i + 1] < 0xA0) || (c == 0xED && (unsigned char) s[i + 1] > 0x9F)))
					valid = false;
				if (valid && need == 3 && ((c == 0xF0 && (unsigned char) s[i + 1] < 0x90) || (c == 0xF4 && (unsigned char) s[i + 1] > 0x8F)))
					valid = false;
				if (!valid)
					break;
				i += need + 1;
			}
			if (valid && (out.len != len || memcmp(out.data ? out.data : "", s, len) != 0))
				bad++;
		}
		sm_buf_free(&out);
		sm_buf_free(&want);
		free(s);
	}
	CHECK_MSG(bad == 0, "%d byte strings failed to encode or round-trip", bad);
	sm_tok_ids_free(&e);
}

static void
test_fixtures(void)
{
	size_t		clen;
	char	   *corpus = read_file(FIXTURES "corpus.txt", &clen);
	char	  **lines;
	size_t	   *lens;
	int			n;
	sm_tokenizer *gpt2,
			   *bert,
			   *gpt2f,
			   *bertf;

	CHECK_MSG(corpus != NULL, "cannot read " FIXTURES "corpus.txt: the reference fixtures are required");
	if (corpus == NULL)
		return;
	n = sm_test_split_lines(corpus, clen, &lines, &lens);
	gpt2 = load_fixture("gpt2");
	bert = load_fixture("bert");
	gpt2f = load_from_files("gpt2");
	bertf = load_from_files("bert");
	if (gpt2)
	{
		check_corpus("gpt2 tokenizer.json", gpt2, lines, lens, n, FIXTURES "gpt2.ids.gz");
		check_decode("gpt2", gpt2, FIXTURES "gpt2.ids.gz", FIXTURES "gpt2.decode.gz");
	}
	if (gpt2f)
		check_corpus("gpt2 vocab.json+merges.txt", gpt2f, lines, lens, n, FIXTURES "gpt2.ids.gz");
	if (bert)
	{
		check_corpus("bert tokenizer.json", bert, lines, lens, n, FIXTURES "bert.ids.gz");
		check_pairs(bert, lines, lens, n);
		check_decode("bert", bert, FIXTURES "bert.ids.gz", FIXTURES "bert.decode.gz");
	}
	if (bertf)
	{
		check_corpus("bert vocab.txt", bertf, lines, lens, n, FIXTURES "bert.ids.gz");
		check_pairs(bertf, lines, lens, n);
		check_decode("bert vocab.txt", bertf, FIXTURES "bert.ids.gz", FIXTURES "bert.decode.gz");
	}
	if (gpt2 && bert)
		check_bytes(gpt2, bert);
	sm_tokenizer_free(gpt2);
	sm_tokenizer_free(bert);
	sm_tokenizer_free(gpt2f);
	sm_tokenizer_free(bertf);
	free(lines);
	free(lens);
	free(corpus);
}

void
test_tokenizer(void)
{
	test_bpe_small();
	test_bpe_plain();
	test_wordpiece();
	test_templates();
	test_errors();
	test_from_files();
	test_fixtures();
}
