/*
 * test_tok_spm.c -- SentencePiece tokenizers (sm_tok_spm.c) against the
 * fixtures of test/fixtures/tok/spm (models trained by spm_train on the
 * reference corpus, references from python3-sentencepiece 0.1.97, made by
 * test/fixtures/gen_spm_fixtures.sh): for every model, every corpus line's
 * ids and decode, loaded from the .model and from the tokenizer.json
 * written from it; random id sequences decoded; edge-case texts; and
 * malformed .model bytes, which must fail with SM_ERR_INVALID, never crash.
 * The fixtures are required: a missing file fails the suite.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "sm_test.h"
#include "sm_tests.h"

#include "text/sm_tokenizer.h"

#define SPM_DIR "test/fixtures/tok/spm/"
#define CORPUS "test/fixtures/tok/corpus.txt"

static const char *const models[] = {
	"unigram_500", "unigram_4k", "bpe_1k", "unigram_bf", "bpe_bf", "unigram_ud", "unigram_cf"
};

static sm_tokenizer *
load_model(const char *name, bool via_json)
{
	char		path[256];
	size_t		len;
	char	   *data;
	sm_tokenizer *t = NULL;
	sm_error	err;
	sm_status	st;

	snprintf(path, sizeof(path), SPM_DIR "%s.model", name);
	data = sm_test_read_file(path, &len);
	CHECK_MSG(data != NULL, "cannot read %s: the SentencePiece fixtures are required", path);
	if (data == NULL)
		return NULL;
	memset(&err, 0, sizeof(err));
	if (!via_json)
		st = sm_tokenizer_load_sentencepiece(data, len, &t, &err);
	else
	{
		sm_buf		b;

		sm_buf_init(&b);
		st = sm_tokenizer_json_from_sentencepiece(data, len, &b, &err);
		if (st == SM_OK)
			st = sm_tokenizer_load(b.data, b.len, &t, &err);
		sm_buf_free(&b);
	}
	CHECK_MSG(st == SM_OK, "%s (%s): %s", name, via_json ? "tokenizer.json" : ".model", err.message);
	free(data);
	return t;
}

/* ---------------------------------------------------------------- the corpus */

static void
check_corpus(const char *name, bool via_json, const sm_tokenizer *t, char **lines, size_t *lens, int n)
{
	char		path[256];
	size_t		l1,
				l2;
	char	   *ids,
			   *dec,
			   *got;
	char	  **il,
			  **dl;
	size_t	   *ill,
			   *dll;
	char	  **want;
	size_t	   *wantl,
				wl;
	const char *w;
	int			ni,
				nd,
				bad = 0,
				baddec = 0;
	sm_tok_ids	e;
	sm_buf		b;
	const char *how = via_json ? "tokenizer.json" : ".model";

	snprintf(path, sizeof(path), SPM_DIR "%s.ids.gz", name);
	ids = sm_test_read_gz(path, &l1);
	snprintf(path, sizeof(path), SPM_DIR "%s.decode.gz", name);
	dec = sm_test_read_gz(path, &l2);
	CHECK_MSG(ids != NULL && dec != NULL, "cannot read the references of %s", name);
	if (ids == NULL || dec == NULL)
	{
		free(ids);
		free(dec);
		return;
	}
	ni = sm_test_split_lines(ids, l1, &il, &ill);
	nd = sm_test_split_lines(dec, l2, &dl, &dll);
	CHECK_MSG(ni == n, "%s: %d ids lines for %d corpus lines", name, ni, n);
	/* the decodes that differ from their line, by line number */
	want = calloc((size_t) n, sizeof(char *));
	wantl = calloc((size_t) n, sizeof(size_t));
	for (int k = 0; k < nd; k++)
	{
		char	   *tab = strchr(dl[k], '\t');
		long		ln = strtol(dl[k], NULL, 10);

		if (tab != NULL && ln >= 1 && ln <= n)
		{
			want[ln - 1] = tab + 1;
			wantl[ln - 1] = sm_test_unescape(tab + 1);
		}
	}
	sm_tok_ids_init(&e);
	got = malloc(1 << 20);
	for (int i = 0; i < n && i < ni; i++)
	{
		sm_error	err;
		sm_status	st;

		memset(&err, 0, sizeof(err));
		st = sm_tokenizer_encode(t, lines[i], lens[i], NULL, 0, false, 0, false, &e, &err);
		sm_test_ids_str(e.ids, e.n, got, 1 << 20);
		if (st != SM_OK || strcmp(got, il[i]) != 0)
		{
			if (bad < 3)
				fprintf(stderr, "%s %s: line %d \"%.80s\": status %d %s\n  got  [%.300s]\n  want [%.300s]\n",
						name, how, i + 1, lines[i], (int) st, err.message, got, il[i]);
			bad++;
			continue;
		}
		sm_buf_init(&b);
		st = sm_tokenizer_decode(t, e.ids, e.n, true, &b, &err);
		sm_buf_append(&b, "", 1);
		wl = want[i] ? wantl[i] : lens[i];
		w = want[i] ? want[i] : lines[i];
		if (st != SM_OK || b.len - 1 != wl || memcmp(b.data, w, wl) != 0)
		{
			if (baddec < 3)
				fprintf(stderr, "%s %s: decode of line %d\n  got  [%.300s]\n  want [%.300s]\n",
						name, how, i + 1, b.data, w);
			baddec++;
		}
		sm_buf_free(&b);
	}
	CHECK_MSG(bad == 0, "%s %s: %d of %d lines differ from spm's ids", name, how, bad, n);
	CHECK_MSG(baddec == 0, "%s %s: %d of %d decodes differ from spm's", name, how, baddec, n);
	fprintf(stderr, "spm %s (%s): %d lines, %d ids differ, %d decodes differ\n", name, how, n, bad, baddec);
	free(got);
	free(il);
	free(ill);
	free(dl);
	free(dll);
	free(want);
	free(wantl);
	free(ids);
	free(dec);
	sm_tok_ids_free(&e);
}

/* random id sequences (control, unknown and byte pieces included) */
static void
check_random_decode(const char *name, const sm_tokenizer *t)
{
	char		path[256];
	size_t		len;
	char	   *data;
	char	  **ll;
	size_t	   *lens;
	int			n,
				bad = 0;

	snprintf(path, sizeof(path), SPM_DIR "%s.rand.tsv", name);
	data = sm_test_read_file(path, &len);
	CHECK_MSG(data != NULL, "cannot read %s", path);
	if (data == NULL)
		return;
	n = sm_test_split_lines(data, len, &ll, &lens);
	for (int i = 0; i < n; i++)
	{
		char	   *tab = strchr(ll[i], '\t');
		int32_t		ids[64];
		int			k;
		sm_buf		b;
		sm_error	err;
		size_t		wl;

		if (tab == NULL)
			continue;
		*tab = '\0';
		k = sm_test_parse_ids(ll[i], ids, 64);
		wl = sm_test_unescape(tab + 1);
		sm_buf_init(&b);
		memset(&err, 0, sizeof(err));
		if (sm_tokenizer_decode(t, ids, k, false, &b, &err) != SM_OK || b.len != wl ||
			memcmp(b.data, tab + 1, wl) != 0)
		{
			if (bad < 3)
				fprintf(stderr, "%s: decode [%s]\n  got  [%.*s]\n  want [%s]\n", name, ll[i],
						(int) b.len, b.data ? b.data : "", tab + 1);
			bad++;
		}
		sm_buf_free(&b);
	}
	CHECK_MSG(bad == 0, "%s: %d of %d random id sequences decode differently from spm", name, bad, n);
	free(ll);
	free(lens);
	free(data);
}

/* the edge-case texts of gen_spm_reference.py */
static void
check_edge(const char *name, const sm_tokenizer *t)
{
	char		path[256];
	size_t		len;
	char	   *data;
	char	  **ll;
	size_t	   *lens;
	int			n,
				bad = 0;
	sm_tok_ids	e;
	char		got[65536];

	snprintf(path, sizeof(path), SPM_DIR "%s.edge.tsv", name);
	data = sm_test_read_file(path, &len);
	CHECK_MSG(data != NULL, "cannot read %s", path);
	if (data == NULL)
		return;
	n = sm_test_split_lines(data, len, &ll, &lens);
	sm_tok_ids_init(&e);
	for (int i = 0; i < n; i++)
	{
		char	   *tab = strchr(ll[i], '\t');
		size_t		tl;
		sm_error	err;

		if (tab == NULL)
			continue;
		*tab = '\0';
		tl = sm_test_unhex(ll[i]);
		memset(&err, 0, sizeof(err));
		if (sm_tokenizer_encode(t, ll[i], tl, NULL, 0, false, 0, false, &e, &err) != SM_OK)
			e.n = -1;
		sm_test_ids_str(e.ids, e.n, got, sizeof(got));
		if (strcmp(got, tab + 1) != 0)
		{
			if (bad < 3)
				fprintf(stderr, "%s: edge text \"%.60s\"\n  got  [%.300s]\n  want [%.300s]\n", name, ll[i], got, tab + 1);
			bad++;
		}
	}
	CHECK_MSG(bad == 0, "%s: %d of %d edge-case texts differ from spm", name, bad, n);
	sm_tok_ids_free(&e);
	free(ll);
	free(lens);
	free(data);
}

static void
test_spm_fixtures(void)
{
	size_t		clen;
	char	   *corpus = sm_test_read_file(CORPUS, &clen);
	char	  **lines;
	size_t	   *lens;
	int			n;

	CHECK_MSG(corpus != NULL, "cannot read " CORPUS);
	if (corpus == NULL)
		return;
	n = sm_test_split_lines(corpus, clen, &lines, &lens);
	for (size_t m = 0; m < sizeof(models) / sizeof(models[0]); m++)
		for (int via_json = 0; via_json < 2; via_json++)
		{
			sm_tokenizer *t = load_model(models[m], via_json);

			if (t == NULL)
				continue;
			check_corpus(models[m], via_json, t, lines, lens, n);
			check_random_decode(models[m], t);
			check_edge(models[m], t);
			sm_tokenizer_free(t);
		}
	free(lines);
	free(lens);
	free(corpus);
}

/* ---------------------------------------------------------------- hand-built .model bytes */

typedef struct pbuf
{
	unsigned char d[4096];
	size_t		n;
} pbuf;

static void
pb_varint(pbuf *b, uint64_t v)
{
	do
	{
		b->d[b->n++] = (unsigned char) ((v & 0x7F) | (v > 0x7F ? 0x80 : 0));
		v >>= 7;
	} while (v);
}

static void
pb_bytes(pbuf *b, int field, const void *p, size_t len)
{
	pb_varint(b, (uint64_t) field << 3 | 2);
	pb_varint(b, len);
	memcpy(b->d + b->n, p, len);
	b->n += len;
}

static void
pb_uint(pbuf *b, int field, uint64_t v)
{
	pb_varint(b, (uint64_t) field << 3);
	pb_varint(b, v);
}

static void
pb_piece(pbuf *b, const char *piece, float score, int type)
{
	pbuf		p = {.n = 0};
	uint32_t	u;

	pb_bytes(&p, 1, piece, strlen(piece));
	memcpy(&u, &score, 4);
	pb_varint(&p, 2 << 3 | 5);
	for (int i = 0; i < 4; i++)
		p.d[p.n++] = (unsigned char) (u >> (8 * i));
	if (type != 1)
		pb_uint(&p, 3, (uint64_t) type);
	pb_bytes(b, 1, p.d, p.n);
}

/* a small unigram model; model_type 0: no trainer_spec */
static void
small_model(pbuf *b, int model_type, const pbuf *trainer_extra, const pbuf *normalizer)
{
	pbuf		t = {.n = 0};

	b->n = 0;
	pb_piece(b, "<unk>", 0, 2);
	pb_piece(b, "<s>", 0, 3);
	pb_piece(b, "</s>", 0, 3);
	pb_piece(b, "\xE2\x96\x81" "a", -1, 1);
	pb_piece(b, "a", -2, 1);
	pb_piece(b, "b", -3, 1);
	pb_piece(b, "\xE2\x96\x81", -4, 1);
	pb_piece(b, "ab", -1.5f, 1);
	if (model_type)
		pb_uint(&t, 3, (uint64_t) model_type);
	if (trainer_extra)
	{
		memcpy(t.d + t.n, trainer_extra->d, trainer_extra->n);
		t.n += trainer_extra->n;
	}
	pb_bytes(b, 2, t.d, t.n);
	if (normalizer)
		pb_bytes(b, 3, normalizer->d, normalizer->n);
}

static sm_status
try_load(const void *d, size_t n, sm_error *err)
{
	sm_tokenizer *t = NULL;
	sm_status	st;

	memset(err, 0, sizeof(*err));
	st = sm_tokenizer_load_sentencepiece(d, n, &t, err);
	CHECK((st == SM_OK) == (t != NULL));
	sm_tokenizer_free(t);
	return st;
}

static void
test_spm_small(void)
{
	pbuf		b;
	sm_tokenizer *t = NULL;
	sm_error	err;
	sm_tok_ids	e;
	sm_buf		out;

	small_model(&b, 1, NULL, NULL);
	memset(&err, 0, sizeof(err));
	CHECK(sm_tokenizer_load_sentencepiece(b.d, b.n, &t, &err) == SM_OK);
	if (t == NULL)
		return;
	CHECK(sm_tokenizer_kind(t) == SM_TOK_UNIGRAM);
	CHECK(sm_tokenizer_vocab_size(t) == 8);
	CHECK(sm_tokenizer_token_id(t, "</s>") == 2);
	CHECK(sm_tokenizer_num_special(t, false) == 1);
	sm_tok_ids_init(&e);
	/* "a b ab": ▁a ▁ b ▁a b?  Viterbi: ▁a(-1) ▁(-4) b(-3) ▁a(-1) b(-3) */
	CHECK(sm_tokenizer_encode(t, " a  b ab ", 9, NULL, 0, false, 0, false, &e, &err) == SM_OK);
	CHECK(e.n == 5 && e.ids[0] == 3 && e.ids[1] == 6 && e.ids[2] == 5 && e.ids[3] == 3 && e.ids[4] == 5);
	/* add_special: </s> appended; unknown characters fused into one <unk> */
	CHECK(sm_tokenizer_encode(t, "axyz", 4, NULL, 0, true, 0, false, &e, &err) == SM_OK);
	CHECK(e.n == 3 && e.ids[0] == 3 && e.ids[1] == 0 && e.ids[2] == 2);
	/* the limit counts the </s> */
	CHECK(sm_tokenizer_encode(t, "a a a", 5, NULL, 0, true, 3, false, &e, &err) == SM_ERR_LIMIT);
	CHECK(sm_tokenizer_encode(t, "a a a", 5, NULL, 0, true, 3, true, &e, &err) == SM_OK && e.n == 3 && e.ids[2] == 2);
	/* empty and blank texts: no pieces (only </s> with add_special) */
	CHECK(sm_tokenizer_encode(t, "", 0, NULL, 0, false, 0, false, &e, &err) == SM_OK && e.n == 0);
	CHECK(sm_tokenizer_encode(t, "   ", 3, NULL, 0, true, 0, false, &e, &err) == SM_OK && e.n == 1 && e.ids[0] == 2);
	/* decode: control pieces vanish, <unk> is " \u2047 ", the first ▁ dropped */
	{
		int32_t		ids[] = {1, 3, 0, 7, 2};

		sm_buf_init(&out);
		CHECK(sm_tokenizer_decode(t, ids, 5, true, &out, &err) == SM_OK);
		CHECK(out.len == 8 && memcmp(out.data, "a \xE2\x81\x87 " "ab", 8) == 0);
		sm_buf_free(&out);
	}
	{
		int32_t		ids[] = {3, 8};

		sm_buf_init(&out);
		CHECK(sm_tokenizer_decode(t, ids, 2, false, &out, &err) == SM_ERR_INVALID);
		CHECK(strstr(err.message, "token id 8 at position 2") != NULL);
		sm_buf_free(&out);
	}
	/* a very long word: linear work, one piece per character at worst */
	{
		size_t		n = 200000;
		char	   *s = malloc(n);

		memset(s, 'b', n);
		CHECK(sm_tokenizer_encode(t, s, n, NULL, 0, false, 0, false, &e, &err) == SM_OK && e.n == (int) n + 1);	/* ▁ then b, b, ... */
		free(s);
	}
	sm_tok_ids_free(&e);
	sm_tokenizer_free(t);

	/* BPE: merges by score */
	small_model(&b, 2, NULL, NULL);
	CHECK(sm_tokenizer_load_sentencepiece(b.d, b.n, &t, &err) == SM_OK);
	if (t != NULL)
	{
		CHECK(sm_tokenizer_kind(t) == SM_TOK_SPM_BPE);
		sm_tok_ids_init(&e);
		CHECK(sm_tokenizer_encode(t, "ab", 2, NULL, 0, false, 0, false, &e, &err) == SM_OK);
		CHECK(e.n == 2 && e.ids[0] == 3 && e.ids[1] == 5);
		sm_tok_ids_free(&e);
		sm_tokenizer_free(t);
	}
}

/* malformed and unsupported .model bytes: errors, never a crash or a read outside */
static void
test_spm_malformed(void)
{
	pbuf		b,
				x;
	sm_error	err;
	int			invalid = 0;
	unsigned	seed = 7;

	CHECK(try_load("", 0, &err) == SM_ERR_INVALID);
	CHECK(strstr(err.message, "empty") != NULL);
	/* every truncation of a small model */
	small_model(&b, 1, NULL, NULL);
	for (size_t n = 1; n < b.n; n++)
	{
		sm_status	st = try_load(b.d, n, &err);

		CHECK_MSG(st == SM_OK || st == SM_ERR_INVALID, "cut at %zu: status %d", n, (int) st);
		invalid += st == SM_ERR_INVALID;
	}
	CHECK(invalid > 0);
	/* random byte flips */
	for (int k = 0; k < 3000; k++)
	{
		pbuf		c = b;
		sm_status	st;

		for (int j = 0; j < 3; j++)
		{
			seed = seed * 1103515245u + 12345u;
			c.d[(seed >> 8) % c.n] ^= (unsigned char) (1u << ((seed >> 4) & 7));
		}
		st = try_load(c.d, c.n, &err);
		CHECK_MSG(st == SM_OK || st == SM_ERR_INVALID || st == SM_ERR_UNSUPPORTED || st == SM_ERR_LIMIT,
				  "flip %d: status %d", k, (int) st);
	}
	/* a length past the end */
	x.n = 0;
	pb_varint(&x, 1 << 3 | 2);
	pb_varint(&x, 1000);
	x.d[x.n++] = 'a';
	CHECK(try_load(x.d, x.n, &err) == SM_ERR_INVALID);
	CHECK(strstr(err.message, "length runs past the end") != NULL);
	/* an absurd length (2^63) */
	x.n = 0;
	pb_varint(&x, 1 << 3 | 2);
	pb_varint(&x, (uint64_t) 1 << 63);
	CHECK(try_load(x.d, x.n, &err) == SM_ERR_INVALID);
	/* an endless varint */
	memset(x.d, 0xFF, 20);
	CHECK(try_load(x.d, 20, &err) == SM_ERR_INVALID);
	CHECK(strstr(err.message, "field tag") != NULL);
	/* wrong wire types: pieces as a varint, a piece's string as fixed32, groups */
	x.n = 0;
	pb_uint(&x, 1, 5);
	CHECK(try_load(x.d, x.n, &err) == SM_ERR_INVALID);
	CHECK(strstr(err.message, "wire type 0, expected 2") != NULL);
	x.n = 0;
	pb_bytes(&x, 1, "\x0d\x01\x02\x03\x04", 5);
	CHECK(try_load(x.d, x.n, &err) == SM_ERR_INVALID);
	CHECK(strstr(err.message, "ModelProto.pieces") != NULL);
	x.n = 0;
	pb_varint(&x, 1 << 3 | 3);
	CHECK(try_load(x.d, x.n, &err) == SM_ERR_INVALID);
	CHECK(strstr(err.message, "groups") != NULL);
	x.n = 0;
	pb_varint(&x, 1 << 3 | 7);
	CHECK(try_load(x.d, x.n, &err) == SM_ERR_INVALID);
	CHECK(strstr(err.message, "invalid wire type") != NULL);
	/* a piece type out of range, an empty piece, no pieces, no <unk>, two <unk> */
	x.n = 0;
	pb_piece(&x, "a", 0, 9);
	CHECK(try_load(x.d, x.n, &err) == SM_ERR_INVALID);
	CHECK(strstr(err.message, "type 9") != NULL);
	x.n = 0;
	pb_piece(&x, "", 0, 2);
	CHECK(try_load(x.d, x.n, &err) == SM_ERR_INVALID);
	CHECK(strstr(err.message, "empty") != NULL);
	x.n = 0;
	pb_bytes(&x, 2, "", 0);
	CHECK(try_load(x.d, x.n, &err) == SM_ERR_INVALID);
	CHECK(strstr(err.message, "no pieces") != NULL);
	x.n = 0;
	pb_piece(&x, "a", 0, 1);
	CHECK(try_load(x.d, x.n, &err) == SM_ERR_INVALID);
	CHECK(strstr(err.message, "no unknown piece") != NULL);
	x.n = 0;
	pb_piece(&x, "<unk>", 0, 2);
	pb_piece(&x, "<unk2>", 0, 2);
	CHECK(try_load(x.d, x.n, &err) == SM_ERR_INVALID);
	CHECK(strstr(err.message, "more than one unknown") != NULL);
	x.n = 0;
	pb_piece(&x, "<unk>", 0, 2);
	pb_piece(&x, "a", 0, 1);
	pb_piece(&x, "a", 0, 1);
	CHECK(try_load(x.d, x.n, &err) == SM_ERR_INVALID);
	CHECK(strstr(err.message, "defined twice") != NULL);
	/* byte pieces: without byte_fallback, malformed, missing */
	x.n = 0;
	pb_piece(&x, "<unk>", 0, 2);
	pb_piece(&x, "<0x41>", 0, 6);
	CHECK(try_load(x.d, x.n, &err) == SM_ERR_INVALID);
	CHECK(strstr(err.message, "byte_fallback is false") != NULL);
	{
		pbuf		tr = {.n = 0};

		pb_uint(&tr, 35, 1);
		x.n = 0;
		pb_piece(&x, "<unk>", 0, 2);
		pb_piece(&x, "<0x4g>", 0, 6);
		pb_bytes(&x, 2, tr.d, tr.n);
		CHECK(try_load(x.d, x.n, &err) == SM_ERR_INVALID);
		CHECK(strstr(err.message, "<0xXX>") != NULL);
		x.n = 0;
		pb_piece(&x, "<unk>", 0, 2);
		pb_piece(&x, "<0x41>", 0, 6);
		pb_bytes(&x, 2, tr.d, tr.n);
		CHECK(try_load(x.d, x.n, &err) == SM_ERR_INVALID);
		CHECK(strstr(err.message, "<0x00> is missing") != NULL);
	}
	/* model types WORD and CHAR, and a bad one */
	small_model(&b, 3, NULL, NULL);
	CHECK(try_load(b.d, b.n, &err) == SM_ERR_UNSUPPORTED);
	CHECK(strcmp(err.message, "SentencePiece model type WORD is not supported") == 0);
	small_model(&b, 4, NULL, NULL);
	CHECK(try_load(b.d, b.n, &err) == SM_ERR_UNSUPPORTED);
	CHECK(strstr(err.message, "CHAR") != NULL);
	small_model(&b, 9, NULL, NULL);
	CHECK(try_load(b.d, b.n, &err) == SM_ERR_INVALID);
	CHECK(strstr(err.message, "model type 9") != NULL);
	/* treat_whitespace_as_suffix; denormalization rules */
	{
		pbuf		tr = {.n = 0},
					no = {.n = 0};

		pb_uint(&tr, 24, 1);
		small_model(&b, 1, &tr, NULL);
		CHECK(try_load(b.d, b.n, &err) == SM_ERR_UNSUPPORTED);
		CHECK(strstr(err.message, "treat_whitespace_as_suffix") != NULL);
		pb_bytes(&no, 2, "\x04\0\0\0abcd", 8);
		small_model(&b, 1, NULL, NULL);
		pb_bytes(&b, 5, no.d, no.n);
		CHECK(try_load(b.d, b.n, &err) == SM_ERR_UNSUPPORTED);
		CHECK(strstr(err.message, "denormalization") != NULL);
		/* broken charsmaps: too short, trie size past the end, no final NUL */
		no.n = 0;
		pb_bytes(&no, 2, "\x04\0\0", 3);
		small_model(&b, 1, NULL, &no);
		CHECK(try_load(b.d, b.n, &err) == SM_ERR_INVALID);
		CHECK(strstr(err.message, "too short") != NULL);
		no.n = 0;
		pb_bytes(&no, 2, "\xff\0\0\0abcd", 8);
		small_model(&b, 1, NULL, &no);
		CHECK(try_load(b.d, b.n, &err) == SM_ERR_INVALID);
		CHECK(strstr(err.message, "does not fit") != NULL);
		no.n = 0;
		pb_bytes(&no, 2, "\x04\0\0\0abcdxy", 10);
		small_model(&b, 1, NULL, &no);
		CHECK(try_load(b.d, b.n, &err) == SM_ERR_INVALID);
		CHECK(strstr(err.message, "NUL") != NULL);
	}
	/* a charsmap of garbage offsets: matches less, never reads outside */
	{
		pbuf		no = {.n = 0};
		unsigned char cm[4 + 64 + 4];
		sm_tokenizer *t = NULL;

		cm[0] = 64;
		cm[1] = cm[2] = cm[3] = 0;
		for (int i = 4; i < 68; i++)
		{
			seed = seed * 1103515245u + 12345u;
			cm[i] = (unsigned char) (seed >> 16);
		}
		memcpy(cm + 68, "xy\0\0", 4);
		pb_bytes(&no, 2, cm, sizeof(cm));
		small_model(&b, 1, NULL, &no);
		memset(&err, 0, sizeof(err));
		CHECK(sm_tokenizer_load_sentencepiece(b.d, b.n, &t, &err) == SM_OK);
		if (t != NULL)
		{
			sm_tok_ids	e;
			char		txt[256];

			sm_tok_ids_init(&e);
			for (int i = 0; i < 256; i++)
				txt[i] = (char) i;
			CHECK(sm_tokenizer_encode(t, txt, 256, NULL, 0, false, 0, false, &e, &err) == SM_OK);
			sm_tok_ids_free(&e);
			sm_tokenizer_free(t);
		}
	}
}

/* malformed seqmodel_sentencepiece members in a tokenizer.json */
static void
test_spm_json_errors(void)
{
	static const struct
	{
		const char *json;
		const char *msg;
	}			cases[] = {
		{"{\"model\":{\"seqmodel_sentencepiece\":1}}", "\"model.seqmodel_sentencepiece\" must be an object"},
		{"{\"model\":{\"seqmodel_sentencepiece\":{\"model_type\":\"word\"}}}", "\"model.seqmodel_sentencepiece.model_type\" must be"},
		{"{\"model\":{\"vocab\":{},\"seqmodel_sentencepiece\":{\"model_type\":\"unigram\"}}}", "\"model.vocab\" must be an array"},
		{"{\"model\":{\"vocab\":[[\"a\"]],\"seqmodel_sentencepiece\":{\"model_type\":\"unigram\"}}}", "\"model.vocab\" must be an array"},
		{"{\"model\":{\"vocab\":[[\"a\",0]],\"seqmodel_sentencepiece\":{\"model_type\":\"unigram\"}}}", "\"model.seqmodel_sentencepiece.piece_types\" must be an object"},
		{"{\"model\":{\"vocab\":[[\"a\",0]],\"seqmodel_sentencepiece\":{\"model_type\":\"unigram\",\"piece_types\":{\"unknown\":[5]}}}}", "must hold piece ids from 0 to 0"},
		{"{\"model\":{\"vocab\":[[\"a\",0]],\"seqmodel_sentencepiece\":{\"model_type\":\"unigram\",\"piece_types\":{\"unknown\":[0]},\"add_dummy_prefix\":1}}}", "\"model.seqmodel_sentencepiece.add_dummy_prefix\" must be a boolean"},
		{"{\"model\":{\"vocab\":[[\"a\",0]],\"seqmodel_sentencepiece\":{\"model_type\":\"unigram\",\"piece_types\":{\"unknown\":[0]}}},\"normalizer\":{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"a!==\"}}", "\"normalizer.precompiled_charsmap\" must be a base64 string"},
		{"{\"model\":{\"vocab\":{\"a\":0},\"seqmodel_sentencepiece\":{\"model_type\":\"bpe\",\"piece_types\":{\"unknown\":[0]}}}}", "\"model.seqmodel_sentencepiece.scores\" must be"},
		{"{\"model\":{\"vocab\":{\"a\":3},\"seqmodel_sentencepiece\":{\"model_type\":\"bpe\"}}}", "must map the pieces to the ids 0 to 0"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		sm_tokenizer *t = NULL;
		sm_error	err;
		sm_status	st;

		memset(&err, 0, sizeof(err));
		st = sm_tokenizer_load(cases[i].json, strlen(cases[i].json), &t, &err);
		CHECK_MSG(st == SM_ERR_INVALID && strstr(err.message, cases[i].msg) != NULL,
				  "case %zu: status %d, message \"%s\"", i, (int) st, err.message);
		sm_tokenizer_free(t);
	}
	/* a good one, hand-written: loads and encodes */
	{
		const char *j = "{\"model\":{\"seqmodel_sentencepiece\":{\"model_type\":\"unigram\",\"piece_types\":{\"unknown\":[0]}},"
			"\"vocab\":[[\"<unk>\",0],[\"\\u2581a\",-1]]}}";
		sm_tokenizer *t = NULL;
		sm_error	err;
		sm_tok_ids	e;

		memset(&err, 0, sizeof(err));
		CHECK(sm_tokenizer_load(j, strlen(j), &t, &err) == SM_OK);
		sm_tok_ids_init(&e);
		if (t != NULL)
			CHECK(sm_tokenizer_encode(t, "a", 1, NULL, 0, true, 0, false, &e, &err) == SM_OK &&
				  e.n == 1 && e.ids[0] == 1);
		sm_tok_ids_free(&e);
		sm_tokenizer_free(t);
	}
}

/* ---------------------------------------------------------------- hooks: cancellation, no memory */

static long spm_budget;
static long spm_live;

static void *
spm_alloc(size_t n)
{
	if (spm_budget-- <= 0)
		return NULL;
	spm_live++;
	return malloc(n);
}

static void
spm_free_hook(void *p)
{
	if (p != NULL)
		spm_live--;
	free(p);
}

static bool
spm_abort_yes(void)
{
	return true;
}

static bool
spm_abort_no(void)
{
	return false;
}

static void
test_spm_hooks(void)
{
	char	   *data;
	size_t		len;
	sm_tokenizer *t = NULL;
	sm_error	err;
	sm_hooks	h = {spm_alloc, spm_free_hook, spm_abort_no, NULL};
	int			nomem = 0,
				bad = 0,
				leaks = 0;
	bool		loaded = false;

	data = sm_test_read_file(SPM_DIR "bpe_bf.model", &len);
	CHECK(data != NULL);
	if (data == NULL)
		return;
	/* a long text is canceled when should_abort says so (unigram and BPE) */
	for (int k = 0; k < 2; k++)
	{
		sm_tokenizer *m = NULL;
		char		path[256];
		size_t		ml;
		char	   *md;
		size_t		n = 300000;
		char	   *txt = malloc(n);
		sm_tok_ids	e;
		sm_hooks	a = {NULL, NULL, spm_abort_yes, NULL};

		snprintf(path, sizeof(path), SPM_DIR "%s.model", k ? "bpe_1k" : "unigram_4k");
		md = sm_test_read_file(path, &ml);
		memset(err.message, 0, sizeof(err.message));
		CHECK(md != NULL && sm_tokenizer_load_sentencepiece(md, ml, &m, &err) == SM_OK);
		for (size_t i = 0; i < n; i++)
			txt[i] = "abc de"[i % 6];
		sm_tok_ids_init(&e);
		a.alloc = malloc;
		a.free = free;
		sm_set_hooks(&a);
		if (m != NULL)
			CHECK(sm_tokenizer_encode(m, txt, n, NULL, 0, false, 0, false, &e, &err) == SM_ERR_ABORTED);
		sm_set_hooks(NULL);
		sm_tok_ids_free(&e);
		sm_tokenizer_free(m);
		free(md);
		free(txt);
	}
	/* every allocation failure while loading: SM_ERR_NOMEM, nothing leaked */
	sm_set_hooks(&h);
	for (long budget = 0; budget < 100000 && !loaded; budget++)
	{
		sm_status	st;

		spm_budget = budget;
		spm_live = 0;
		t = NULL;
		st = sm_tokenizer_load_sentencepiece(data, len, &t, &err);
		if (st == SM_OK)
			loaded = true;
		else if (st == SM_ERR_NOMEM && t == NULL)
			nomem++;
		else
			bad++;
		sm_tokenizer_free(t);
		if (spm_live != 0)
			leaks++;
	}
	sm_set_hooks(NULL);
	CHECK_MSG(loaded && nomem > 10, "loaded %d after %d allocation failures", (int) loaded, nomem);
	CHECK_MSG(bad == 0, "%d allocation failures gave another status", bad);
	CHECK_MSG(leaks == 0, "%d allocation failures leaked", leaks);
	free(data);
}

void
test_tok_spm(void)
{
	test_spm_small();
	test_spm_malformed();
	test_spm_json_errors();
	test_spm_hooks();
	test_spm_fixtures();
}
