/*
 * test_tok_hf.c -- Hugging Face tokenizer.json Unigram files (sm_tok_unigram.c
 * and the generic components of sm_tok_hf.c, also under one BPE model of the
 * same shape) against the reference ids and
 * decodes of Hugging Face's tokenizers (npm tokenizers@0.23.2), made by
 * test/fixtures/gen_hf_unigram_fixtures.sh for the variants of
 * test/fixtures/tok/hf_unigram/variants.json.
 *
 * Each variant's tokenizer.json is built here as the generator builds it:
 * seqmodel's tokenizer.json of a SentencePiece fixture model, without its
 * member model.seqmodel_sentencepiece (so that HF's semantics apply, not
 * sentencepiece's), with the variant's top-level members set and its added
 * tokens appended.  Then: every corpus line (mode diff, where the lines
 * not listed must equal sentencepiece's ids) or every 8th (mode sample),
 * the decode of every 8th, edge-case texts with and without the template's
 * special tokens, and random id sequences decoded.  Also the load errors.
 * The fixtures are required: a missing file fails the suite.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "sm_test.h"
#include "sm_tests.h"

#include "core/sm_json.h"
#include "text/sm_tokenizer.h"

#define HF_DIR "test/fixtures/tok/hf_unigram/"
#define SPM_DIR "test/fixtures/tok/spm/"
#define CORPUS "test/fixtures/tok/corpus.txt"

/* ---------------------------------------------------------------- building a variant */

/* the Precompiled charsmap of a normalizer (or a Sequence), or NULL */
static const char *
find_charsmap(const sm_json *n)
{
	const sm_json *ty,
			   *list;

	if (n == NULL || n->type != SM_JSON_OBJECT || (ty = sm_json_get(n, "type")) == NULL)
		return NULL;
	if (strcmp(ty->string, "Precompiled") == 0)
		return sm_json_get(n, "precompiled_charsmap")->string;
	if ((list = sm_json_get(n, "normalizers")) != NULL)
		for (size_t i = 0; i < list->count; i++)
			if (find_charsmap(list->items[i]) != NULL)
				return find_charsmap(list->items[i]);
	return NULL;
}

/* the variant's tokenizer.json, as gen_hf_unigram_fixtures.js builds it */
static bool
variant_json(const sm_json *var, sm_buf *out)
{
	const sm_json *base = sm_json_get(var, "base"),
			   *set = sm_json_get(var, "set"),
			   *add = sm_json_get(var, "add");
	char		path[256];
	size_t		len;
	char	   *data;
	sm_buf		j;
	sm_json    *doc = NULL;
	sm_error	err;
	const char *cm;
	int64_t		next = 0;

	snprintf(path, sizeof(path), SPM_DIR "%s.model", base->string);
	data = sm_test_read_file(path, &len);
	CHECK_MSG(data != NULL, "cannot read %s: the SentencePiece fixtures are required", path);
	if (data == NULL)
		return false;
	memset(&err, 0, sizeof(err));
	sm_buf_init(&j);
	if (sm_tokenizer_json_from_sentencepiece(data, len, &j, &err) != SM_OK ||
		sm_json_parse(j.data, j.len, &doc, &err) != SM_OK)
	{
		CHECK_MSG(false, "%s: %s", path, err.message);
		free(data);
		sm_buf_free(&j);
		return false;
	}
	free(data);
	cm = find_charsmap(sm_json_get(doc, "normalizer"));
	next = (int64_t) sm_json_get(sm_json_get(doc, "model"), "vocab")->count;
	{
		const sm_json *at = sm_json_get(doc, "added_tokens");

		for (size_t i = 0; i < at->count; i++)
			if (sm_json_get(at->items[i], "id")->integer + 1 > next)
				next = sm_json_get(at->items[i], "id")->integer + 1;
	}
	sm_buf_append(out, "{", 1);
	for (size_t i = 0; i < doc->count; i++)
	{
		const char *k = doc->keys[i];
		const sm_json *v = doc->items[i];

		if (i > 0)
			sm_buf_append(out, ",", 1);
		sm_json_write_string(out, k, strlen(k));
		sm_buf_append(out, ":", 1);
		if (set != NULL && sm_json_get(set, k) != NULL)
			sm_test_json_write(out, sm_json_get(set, k), cm);
		else if (strcmp(k, "model") == 0)
			sm_test_json_write_without(out, v, "seqmodel_sentencepiece", cm);
		else if (strcmp(k, "added_tokens") == 0 && add != NULL)
		{
			sm_buf_append(out, "[", 1);
			for (size_t m = 0; m < v->count; m++)
			{
				sm_test_json_write(out, v->items[m], cm);
				sm_buf_append(out, ",", 1);
			}
			for (size_t m = 0; m < add->count; m++)
			{
				const sm_json *a = add->items[m];

				if (m > 0)
					sm_buf_append(out, ",", 1);
				sm_buf_append(out, "{", 1);
				for (size_t f = 0; f < a->count; f++)
				{
					if (f > 0)
						sm_buf_append(out, ",", 1);
					sm_json_write_string(out, a->keys[f], strlen(a->keys[f]));
					sm_buf_append(out, ":", 1);
					if (strcmp(a->keys[f], "id") == 0 && a->items[f]->integer < 0)
						sm_buf_appendf(out, "%lld", (long long) next++);
					else
						sm_test_json_write(out, a->items[f], cm);
				}
				sm_buf_append(out, "}", 1);
			}
			sm_buf_append(out, "]", 1);
		}
		else
			sm_test_json_write(out, v, cm);
	}
	/* members the base lacks */
	for (size_t i = 0; set != NULL && i < set->count; i++)
		if (sm_json_get(doc, set->keys[i]) == NULL)
		{
			sm_buf_append(out, ",", 1);
			sm_json_write_string(out, set->keys[i], strlen(set->keys[i]));
			sm_buf_append(out, ":", 1);
			sm_test_json_write(out, set->items[i], cm);
		}
	sm_buf_append(out, "}", 1);
	sm_json_free(doc);
	sm_buf_free(&j);
	return !out->failed;
}

/* ---------------------------------------------------------------- checks */

static bool
encode(const sm_tokenizer *t, const char *s, size_t len, bool special, sm_tok_ids *e, char *got, size_t cap)
{
	sm_error	err;

	memset(&err, 0, sizeof(err));
	if (sm_tokenizer_encode(t, s, len, NULL, 0, special, 0, false, e, &err) != SM_OK)
	{
		snprintf(got, cap, "ERROR %s", err.message);
		return false;
	}
	sm_test_ids_str(e->ids, e->n, got, cap);
	return true;
}

static void
decode(const sm_tokenizer *t, const int32_t *ids, int n, bool skip, sm_buf *out)
{
	sm_error	err;

	memset(&err, 0, sizeof(err));
	out->len = 0;
	if (sm_tokenizer_decode(t, ids, n, skip, out, &err) != SM_OK)
		sm_buf_appendf(out, "ERROR %s", err.message);
	sm_buf_append(out, "", 0);
}

/* line number -> text of the fixture's "line<TAB>text" rows (NULL: not listed) */
static char **
index_rows(const char *path, int nlines, char **data)
{
	size_t		len;
	char	  **rows = calloc((size_t) nlines + 1, sizeof(char *));
	char	  **lines;
	size_t	   *lens;
	int			n;

	*data = sm_test_read_gz(path, &len);
	CHECK_MSG(*data != NULL, "cannot read %s: the fixtures are required", path);
	if (*data == NULL)
		return rows;
	n = sm_test_split_lines(*data, len, &lines, &lens);
	for (int i = 0; i < n; i++)
	{
		char	   *tab = strchr(lines[i], '\t');
		long		no = strtol(lines[i], NULL, 10);

		if (tab != NULL && no >= 1 && no <= nlines)
			rows[no - 1] = tab + 1;
	}
	free(lines);
	free(lens);
	return rows;
}

static void
check_corpus(const char *name, const sm_json *var, const sm_tokenizer *t, char **lines, size_t *lens, int n)
{
	bool		diff = strcmp(sm_json_get(var, "mode")->string, "diff") == 0;
	int			every = diff ? 1 : (int) sm_json_get(var, "every")->integer;
	char		path[256];
	char	   *hf_data,
			   *dec_data,
			   *spm_data = NULL;
	char	  **hf,
			  **dec,
			  **spm = NULL;
	size_t		spm_len;
	char	   *got = malloc(1 << 20);
	sm_tok_ids	e;
	sm_buf		d;
	int			bad = 0,
				dbad = 0,
				checked = 0;

	snprintf(path, sizeof(path), HF_DIR "%s.ids.gz", name);
	hf = index_rows(path, n, &hf_data);
	snprintf(path, sizeof(path), HF_DIR "%s.decode.gz", name);
	dec = index_rows(path, n, &dec_data);
	if (diff)
	{
		size_t	   *l;
		int			m;

		snprintf(path, sizeof(path), SPM_DIR "%s.ids.gz", sm_json_get(var, "base")->string);
		spm_data = sm_test_read_gz(path, &spm_len);
		CHECK_MSG(spm_data != NULL, "cannot read %s", path);
		if (spm_data == NULL)
			return;
		m = sm_test_split_lines(spm_data, spm_len, &spm, &l);
		free(l);
		CHECK_MSG(m == n, "%s: %d reference lines for %d corpus lines", path, m, n);
	}
	sm_tok_ids_init(&e);
	sm_buf_init(&d);
	for (int i = 0; i < n; i += every)
	{
		const char *want = hf[i] != NULL ? hf[i] : diff ? spm[i] : NULL;

		checked++;
		encode(t, lines[i], lens[i], false, &e, got, 1 << 20);
		if (want == NULL || strcmp(got, want) != 0)
		{
			if (bad++ < 3)
				fprintf(stderr, "  %s line %d \"%.60s\": got [%.120s] want [%.120s]\n", name, i + 1, lines[i],
						got, want ? want : "(missing)");
			continue;
		}
		if (i % 8 == 0)
		{
			char	   *w = dec[i];
			size_t		wl;

			decode(t, e.ids, e.n, false, &d);
			if (w != NULL)
				wl = sm_test_unescape(w);
			else
			{
				w = lines[i];
				wl = lens[i];
			}
			if (d.len != wl || memcmp(d.data, w, wl) != 0)
			{
				if (dbad++ < 3)
					fprintf(stderr, "  %s line %d decode: got \"%.80s\" want \"%.80s\"\n", name, i + 1, d.data, w);
			}
		}
	}
	CHECK_MSG(bad == 0, "%s: %d of %d corpus lines differ from HF's ids", name, bad, checked);
	CHECK_MSG(dbad == 0, "%s: %d corpus decodes differ from HF's", name, dbad);
	sm_tok_ids_free(&e);
	sm_buf_free(&d);
	free(got);
	free(hf);
	free(dec);
	free(spm);
	free(hf_data);
	free(dec_data);
	free(spm_data);
}

static char *
field(char **s)
{
	char	   *f = *s,
			   *tab;

	if (f == NULL)
		return (char *) "";
	tab = strchr(f, '\t');
	if (tab != NULL)
	{
		*tab = '\0';
		*s = tab + 1;
	}
	else
		*s = NULL;
	return f;
}

static void
check_edge(const char *name, const sm_tokenizer *t)
{
	char		path[256];
	size_t		len;
	char	   *data,
			  **rows;
	size_t	   *lens;
	int			n,
				bad = 0;
	char		got[65536];
	sm_tok_ids	e;
	sm_buf		d;

	snprintf(path, sizeof(path), HF_DIR "%s.edge.tsv", name);
	data = sm_test_read_file(path, &len);
	CHECK_MSG(data != NULL, "cannot read %s", path);
	if (data == NULL)
		return;
	n = sm_test_split_lines(data, len, &rows, &lens);
	sm_tok_ids_init(&e);
	sm_buf_init(&d);
	for (int i = 0; i < n; i++)
	{
		char	   *r = rows[i];
		char	   *text = field(&r),
				   *ids = field(&r),
				   *ids_sp = field(&r),
				   *dec = field(&r),
				   *dec_skip = field(&r);
		size_t		tl = sm_test_unhex(text),
					dl = sm_test_unescape(dec),
					dsl = sm_test_unescape(dec_skip);
		bool		ok = true;

		encode(t, text, tl, false, &e, got, sizeof(got));
		ok &= strcmp(got, ids) == 0;
		decode(t, e.ids, e.n, false, &d);
		ok &= d.len == dl && memcmp(d.data, dec, dl) == 0;
		decode(t, e.ids, e.n, true, &d);
		ok &= d.len == dsl && memcmp(d.data, dec_skip, dsl) == 0;
		if (!ok && bad++ < 3)
			fprintf(stderr, "  %s edge \"%.40s\": ids [%.80s] want [%.80s], decode \"%.60s\" want \"%.60s\"\n",
					name, text, got, ids, d.data, dec_skip);
		encode(t, text, tl, true, &e, got, sizeof(got));
		if (strcmp(got, ids_sp) != 0 && bad++ < 3)
			fprintf(stderr, "  %s edge \"%.40s\" with special tokens: [%.80s] want [%.80s]\n", name, text, got, ids_sp);
	}
	CHECK_MSG(bad == 0, "%s: %d of %d edge cases differ from HF", name, bad, n);
	sm_tok_ids_free(&e);
	sm_buf_free(&d);
	free(rows);
	free(lens);
	free(data);
}

static void
check_rand(const char *name, const sm_tokenizer *t)
{
	char		path[256];
	size_t		len;
	char	   *data,
			  **rows;
	size_t	   *lens;
	int			n,
				bad = 0;
	int32_t		ids[64];
	sm_buf		d;

	snprintf(path, sizeof(path), HF_DIR "%s.rand.tsv", name);
	data = sm_test_read_file(path, &len);
	CHECK_MSG(data != NULL, "cannot read %s", path);
	if (data == NULL)
		return;
	n = sm_test_split_lines(data, len, &rows, &lens);
	sm_buf_init(&d);
	for (int i = 0; i < n; i++)
	{
		char	   *r = rows[i];
		char	   *is = field(&r),
				   *dec = field(&r),
				   *dec_skip = field(&r);
		int			k = sm_test_parse_ids(is, ids, 64);
		size_t		dl = sm_test_unescape(dec),
					dsl = sm_test_unescape(dec_skip);
		bool		ok;

		decode(t, ids, k, false, &d);
		ok = d.len == dl && memcmp(d.data, dec, dl) == 0;
		if (!ok && bad++ < 3)
			fprintf(stderr, "  %s random ids [%s]: decode \"%.60s\" want \"%.60s\"\n", name, is, d.data, dec);
		decode(t, ids, k, true, &d);
		ok = d.len == dsl && memcmp(d.data, dec_skip, dsl) == 0;
		if (!ok && bad++ < 3)
			fprintf(stderr, "  %s random ids [%s] skipping special: \"%.60s\" want \"%.60s\"\n", name, is, d.data, dec_skip);
	}
	CHECK_MSG(bad == 0, "%s: %d of %d random decodes differ from HF", name, bad, n);
	sm_buf_free(&d);
	free(rows);
	free(lens);
	free(data);
}

/* ---------------------------------------------------------------- errors */

static void
expect_load_error(const char *json, sm_status code, const char *substr)
{
	sm_tokenizer *t = NULL;
	sm_error	err;

	memset(&err, 0, sizeof(err));
	CHECK(sm_tokenizer_load(json, strlen(json), &t, &err) == code);
	CHECK_ERR(err, code, substr);
	sm_tokenizer_free(t);
}

#define UNI_HEAD "{\"version\":\"1.0\",\"added_tokens\":[],\"post_processor\":null,"
#define UNI_MODEL "\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"vocab\":[[\"<unk>\",0],[\"\\u2581a\",-1],[\"a\",-2],[\"b\",-2.5]]}"

static void
check_errors(void)
{
	sm_tokenizer *t = NULL;
	sm_error	err;
	sm_tok_ids	e;
	const char *ok = UNI_HEAD "\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\"},\"decoder\":null," UNI_MODEL "}";
	const char *nounk = UNI_HEAD "\"normalizer\":null,\"pre_tokenizer\":null,\"decoder\":null,"
		"\"model\":{\"type\":\"Unigram\",\"unk_id\":null,\"vocab\":[[\"a\",-1]]}}";

	expect_load_error(UNI_HEAD "\"normalizer\":null,\"pre_tokenizer\":null,\"decoder\":null,"
					  "\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"vocab\":[]}}", SM_ERR_INVALID, "vocabulary is empty");
	expect_load_error(UNI_HEAD "\"normalizer\":null,\"pre_tokenizer\":null,\"decoder\":null,"
					  "\"model\":{\"type\":\"Unigram\",\"unk_id\":5,\"vocab\":[[\"a\",-1]]}}", SM_ERR_INVALID, "unk_id");
	expect_load_error(UNI_HEAD "\"normalizer\":null,\"pre_tokenizer\":null,\"decoder\":null,"
					  "\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"vocab\":[[\"a\"]]}}", SM_ERR_INVALID, "[piece, score] pair");
	expect_load_error(UNI_HEAD "\"normalizer\":null,\"pre_tokenizer\":null,\"decoder\":null,"
					  "\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"vocab\":{\"a\":0}}}", SM_ERR_INVALID, "[piece, score] pairs");
	expect_load_error(UNI_HEAD "\"normalizer\":{\"type\":\"NFKC\"},\"pre_tokenizer\":null,\"decoder\":null," UNI_MODEL "}",
					  SM_ERR_UNSUPPORTED, "normalizer type \"NFKC\" is not supported");
	expect_load_error(UNI_HEAD "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Lowercase\"},{\"type\":\"NFD\"}]},"
					  "\"pre_tokenizer\":null,\"decoder\":null," UNI_MODEL "}",
					  SM_ERR_UNSUPPORTED, "normalizer type \"NFD\" is not supported");
	expect_load_error(UNI_HEAD "\"normalizer\":{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"!!\"},"
					  "\"pre_tokenizer\":null,\"decoder\":null," UNI_MODEL "}", SM_ERR_INVALID, "base64");
	expect_load_error(UNI_HEAD "\"normalizer\":{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"AAAA\"},"
					  "\"pre_tokenizer\":null,\"decoder\":null," UNI_MODEL "}", SM_ERR_INVALID, "too short");
	expect_load_error(UNI_HEAD "\"normalizer\":{\"type\":\"Replace\",\"pattern\":{\"Glob\":\"x\"},\"content\":\"\"},"
					  "\"pre_tokenizer\":null,\"decoder\":null," UNI_MODEL "}", SM_ERR_INVALID, "{\"String\": text} or {\"Regex\": pattern}");
	expect_load_error(UNI_HEAD "\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"ab\"},"
					  "\"decoder\":null," UNI_MODEL "}", SM_ERR_INVALID, "a string of one character");
	expect_load_error(UNI_HEAD "\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\",\"prepend_scheme\":\"sometimes\"},"
					  "\"decoder\":null," UNI_MODEL "}", SM_ERR_INVALID, "\"always\", \"first\" or \"never\"");
	expect_load_error(UNI_HEAD "\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\",\"prepend_scheme\":\"first\",\"add_prefix_space\":false},"
					  "\"decoder\":null," UNI_MODEL "}", SM_ERR_INVALID, "add_prefix_space false but prepend_scheme \"first\"");
	expect_load_error(UNI_HEAD "\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"ByteLevel\"}]},"
					  "\"decoder\":null," UNI_MODEL "}", SM_ERR_UNSUPPORTED, "pre_tokenizer type \"ByteLevel\" is not supported");
	expect_load_error(UNI_HEAD "\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"Punctuation\"},"
					  "\"decoder\":null," UNI_MODEL "}", SM_ERR_UNSUPPORTED, "pre_tokenizer type \"Punctuation\" is not supported");
	expect_load_error(UNI_HEAD "\"normalizer\":null,\"pre_tokenizer\":null,\"decoder\":{\"type\":\"CTC\"}," UNI_MODEL "}",
					  SM_ERR_UNSUPPORTED, "decoder type \"CTC\" is not supported");
	expect_load_error(UNI_HEAD "\"normalizer\":null,\"pre_tokenizer\":null,\"decoder\":{\"type\":\"Strip\",\"content\":\" \",\"start\":-1,\"stop\":0},"
					  UNI_MODEL "}", SM_ERR_INVALID, "a count of characters");
	expect_load_error(UNI_HEAD "\"normalizer\":null,\"pre_tokenizer\":null,\"decoder\":null,"
					  "\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"vocab\":[[\"a\",-1]],\"byte_fallback\":1}}",
					  SM_ERR_INVALID, "byte_fallback");

	/* a small model end to end: Viterbi, unknown characters fused into one <unk> */
	memset(&err, 0, sizeof(err));
	sm_tok_ids_init(&e);
	CHECK(sm_tokenizer_load(ok, strlen(ok), &t, &err) == SM_OK);
	if (t != NULL)
	{
		char		got[256];

		CHECK(sm_tokenizer_kind(t) == SM_TOK_UNIGRAM);
		encode(t, "a ab xyb", 8, false, &e, got, sizeof(got));
		/* ▁a | ▁a b | ▁ x y b: ▁ alone is unknown and fused with x y */
		CHECK_MSG(strcmp(got, "1 1 3 0 3") == 0, "got %s", got);
		sm_tokenizer_free(t);
		t = NULL;
	}
	/* no unk_id: a character the vocabulary lacks is an error, as in HF */
	CHECK(sm_tokenizer_load(nounk, strlen(nounk), &t, &err) == SM_OK);
	if (t != NULL)
	{
		memset(&err, 0, sizeof(err));
		CHECK(sm_tokenizer_encode(t, "ab", 2, NULL, 0, false, 0, false, &e, &err) == SM_ERR_INVALID);
		CHECK_ERR(err, SM_ERR_INVALID, "no unknown token for the character \"b\"");
		sm_tokenizer_free(t);
	}
	sm_tok_ids_free(&e);
}

/* ---------------------------------------------------------------- the suite */

void
test_tok_hf(void)
{
	size_t		vlen,
				clen;
	char	   *vdata = sm_test_read_file(HF_DIR "variants.json", &vlen);
	char	   *corpus = sm_test_read_file(CORPUS, &clen);
	sm_json    *spec = NULL;
	sm_error	err;
	char	  **lines;
	size_t	   *lens;
	int			n;
	const sm_json *vars;

	check_errors();
	CHECK_MSG(vdata != NULL && corpus != NULL, "cannot read %svariants.json or %s: the fixtures are required", HF_DIR, CORPUS);
	if (vdata == NULL || corpus == NULL)
		return;
	memset(&err, 0, sizeof(err));
	CHECK_MSG(sm_json_parse(vdata, vlen, &spec, &err) == SM_OK, "variants.json: %s", err.message);
	if (spec == NULL)
		return;
	n = sm_test_split_lines(corpus, clen, &lines, &lens);
	vars = sm_json_get(spec, "variants");
	for (size_t v = 0; v < vars->count; v++)
	{
		const sm_json *var = vars->items[v];
		const char *name = sm_json_get(var, "name")->string;
		sm_buf		j;
		sm_tokenizer *t = NULL;

		sm_buf_init(&j);
		if (!variant_json(var, &j))
		{
			sm_buf_free(&j);
			continue;
		}
		memset(&err, 0, sizeof(err));
		CHECK_MSG(sm_tokenizer_load(j.data, j.len, &t, &err) == SM_OK, "%s: %s", name, err.message);
		sm_buf_free(&j);
		if (t == NULL)
			continue;
		/* the BPE base keeps its model type: the generic steps serve every model */
		CHECK(sm_tokenizer_kind(t) == (strncmp(sm_json_get(var, "base")->string, "bpe", 3) == 0 ? SM_TOK_BPE : SM_TOK_UNIGRAM));
		check_corpus(name, var, t, lines, lens, n);
		check_edge(name, t);
		check_rand(name, t);
		sm_tokenizer_free(t);
	}
	free(lines);
	free(lens);
	sm_json_free(spec);
	free(vdata);
	free(corpus);
}
