/*
 * test_tok_regex.c -- unit tests for the tokenizer.json regular expressions
 * (text/sm_tok_regex.c): every row of test/fixtures/tok/regex.tsv (what
 * Hugging Face's tokenizers, i.e. Oniguruma, makes of a Replace normalizer
 * with that pattern and content "«»"; gen_regex_fixtures.js: 93 chosen
 * patterns x 34 texts, then 300 random patterns x 6 random texts), then
 * compile errors, search offsets, invalid UTF-8 and 100 KB inputs (bounded
 * work: each must take under a second).
 *
 * Every input is copied into a buffer of exactly its length, so that
 * valgrind or ASan catch a read past the end.
 */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "sm_test.h"
#include "sm_tests.h"
#include "text/sm_tok_regex.h"

#define REGEX_TSV "test/fixtures/tok/regex.tsv"
#define CONTENT "\xC2\xAB\xC2\xBB"	/* «» */

/* undo the fixture's escapes (\\ \t \n \r) in place; returns the length */
static size_t
unescape(char *s)
{
	char	   *w = s;

	for (const char *r = s; *r != '\0'; r++)
	{
		if (*r == '\\' && r[1] != '\0')
		{
			r++;
			*w++ = *r == 't' ? '\t' : *r == 'n' ? '\n' : *r == 'r' ? '\r' : *r;
		}
		else
			*w++ = *r;
	}
	*w = '\0';
	return (size_t) (w - s);
}

/* HF's Replace of re over text[0, len), NUL-terminated, malloc'd */
static char *
replace(const sm_tok_regex *re, const char *text, size_t len)
{
	uint8_t    *s = malloc(len > 0 ? len : 1);
	sm_buf		out;
	char	   *res;

	memcpy(s, text, len);
	sm_buf_init(&out);
	if (!sm_tok_regex_replace(re, s, len, CONTENT, strlen(CONTENT), &out))
	{
		free(s);
		sm_buf_free(&out);
		return NULL;
	}
	res = malloc(out.len + 1);
	if (out.len > 0)
		memcpy(res, out.data, out.len);
	res[out.len] = '\0';
	sm_buf_free(&out);
	free(s);
	return res;
}

static void
test_tsv(void)
{
	size_t		flen;
	char	   *file = sm_test_read_file(REGEX_TSV, &flen);
	char	   *line;
	int			rows = 0,
				bad = 0,
				patterns = 0;
	char		prev[512] = "";
	sm_tok_regex *re = NULL;

	CHECK_MSG(file != NULL, "cannot read " REGEX_TSV ": the fixture is required");
	if (file == NULL)
		return;
	for (line = file; line != NULL && *line != '\0';)
	{
		char	   *nl = strchr(line, '\n');
		char	   *t1,
				   *t2;
		char		pat[512];
		size_t		plen,
					tlen;
		char	   *got;

		if (nl != NULL)
			*nl = '\0';
		t1 = strchr(line, '\t');
		t2 = t1 != NULL ? strchr(t1 + 1, '\t') : NULL;
		CHECK_MSG(t2 != NULL, "%s: bad row: %s", REGEX_TSV, line);
		if (t2 == NULL)
			break;
		*t1 = '\0';
		*t2 = '\0';
		snprintf(pat, sizeof(pat), "%s", line);
		if (strcmp(pat, prev) != 0)
		{
			sm_error	err;
			char		raw[512];

			snprintf(prev, sizeof(prev), "%s", pat);
			sm_tok_regex_free(re);
			re = NULL;
			snprintf(raw, sizeof(raw), "%s", pat);
			plen = unescape(raw);
			CHECK_MSG(sm_tok_regex_compile(raw, plen, &re, &err) == SM_OK,
					  "pattern %s: %s", pat, err.message);
			patterns++;
		}
		tlen = unescape(t1 + 1);
		unescape(t2 + 1);
		rows++;
		got = re != NULL ? replace(re, t1 + 1, tlen) : NULL;
		if (got == NULL || strcmp(got, t2 + 1) != 0)
			bad++;
		CHECK_MSG(got != NULL && strcmp(got, t2 + 1) == 0,
				  "pattern %s on \"%s\": got \"%s\", oracle \"%s\"", pat, t1 + 1,
				  got ? got : "(null)", t2 + 1);
		free(got);
		line = nl != NULL ? nl + 1 : NULL;
	}
	sm_tok_regex_free(re);
	printf("tok_regex: %d of %d oracle rows (%d patterns) pass\n", rows - bad, rows, patterns);
	CHECK(rows == 4962);		/* the whole fixture was read */
	free(file);
}

/* compiling pat fails with status code and a message containing substr */
#define COMPILE_FAILS(pat, code, substr) compile_fails(__LINE__, pat, code, substr)

static void
compile_fails(int line, const char *pat, sm_status code, const char *substr)
{
	sm_tok_regex *re = NULL;
	sm_error	err;
	sm_status	st = sm_tok_regex_compile(pat, strlen(pat), &re, &err);

	CHECK_MSG(st == code && re == NULL && strstr(err.message, substr) != NULL &&
			  strstr(err.detail, pat) != NULL,
			  "line %d: pattern %s: status %d, message \"%s\", detail \"%s\"", line, pat,
			  (int) st, st == SM_OK ? "" : err.message, st == SM_OK ? "" : err.detail);
	sm_tok_regex_free(re);
}

static void
test_errors(void)
{
	/* outside the subset: named */
	COMPILE_FAILS("(?i)a", SM_ERR_UNSUPPORTED, "(?i");
	COMPILE_FAILS("(?=a)", SM_ERR_UNSUPPORTED, "(?=");
	COMPILE_FAILS("(?<n>a)", SM_ERR_UNSUPPORTED, "(?<");
	COMPILE_FAILS("\\bword", SM_ERR_UNSUPPORTED, "\\b");
	COMPILE_FAILS("(a)\\1", SM_ERR_UNSUPPORTED, "\\1");
	COMPILE_FAILS("\\h+", SM_ERR_UNSUPPORTED, "\\h");
	COMPILE_FAILS("\\p{Lu}", SM_ERR_UNSUPPORTED, "\\p{Lu}");
	COMPILE_FAILS("\\p{Han}", SM_ERR_UNSUPPORTED, "\\p{Han}");
	COMPILE_FAILS("a*+", SM_ERR_UNSUPPORTED, "possessive");
	COMPILE_FAILS("a++", SM_ERR_UNSUPPORTED, "possessive");
	COMPILE_FAILS("[a[b]]", SM_ERR_UNSUPPORTED, "[ inside");
	COMPILE_FAILS("[a-z&&[^x]]", SM_ERR_UNSUPPORTED, "&&");
	COMPILE_FAILS("a{3000}", SM_ERR_UNSUPPORTED, "repetition");
	COMPILE_FAILS("a{2,1}", SM_ERR_UNSUPPORTED, "n > m");	/* Oniguruma accepts it */
	/* malformed: Oniguruma refuses them too */
	COMPILE_FAILS("[a-", SM_ERR_INVALID, "char-class");
	COMPILE_FAILS("[a", SM_ERR_INVALID, "char-class");
	COMPILE_FAILS("[]", SM_ERR_INVALID, "char-class");
	COMPILE_FAILS("[z-a]", SM_ERR_INVALID, "empty range");
	COMPILE_FAILS("[a-\\d]", SM_ERR_INVALID, "end of range");
	COMPILE_FAILS("[\\d-a]", SM_ERR_INVALID, "range specifier");
	COMPILE_FAILS("*a", SM_ERR_INVALID, "target of repeat");
	COMPILE_FAILS("a|+", SM_ERR_INVALID, "target of repeat");
	COMPILE_FAILS("{2}", SM_ERR_INVALID, "target of repeat");
	COMPILE_FAILS("^*", SM_ERR_INVALID, "repeat");
	COMPILE_FAILS("a{100001}", SM_ERR_INVALID, "too big");
	COMPILE_FAILS("(a", SM_ERR_INVALID, "parenthesis");
	COMPILE_FAILS("a)", SM_ERR_INVALID, "parenthesis");
	COMPILE_FAILS("a\\", SM_ERR_INVALID, "escape");
	COMPILE_FAILS("\\p{L", SM_ERR_INVALID, "property");
	COMPILE_FAILS("\\u12", SM_ERR_INVALID, "\\u");
	COMPILE_FAILS("\\x{110000}", SM_ERR_INVALID, "code point");
	COMPILE_FAILS("a\xFF", SM_ERR_INVALID, "UTF-8");
	{
		/* a pattern with NUL inside is taken by length */
		sm_tok_regex *re;
		sm_error	err;
		size_t		ms,
					me;

		CHECK(sm_tok_regex_compile("a\0b", 3, &re, &err) == SM_OK);
		CHECK(sm_tok_regex_search(re, (const uint8_t *) "xa\0b", 4, 0, &ms, &me) && ms == 1 && me == 4);
		sm_tok_regex_free(re);
	}
}

/* search pat in text (exact-length copy) from from: the match, or ms = -1 */
static void
search_at(int line, const char *pat, const char *text, size_t len, size_t from, long wms, long wme)
{
	sm_tok_regex *re;
	sm_error	err;
	uint8_t    *s = malloc(len > 0 ? len : 1);
	size_t		ms = 0,
				me = 0;
	bool		found;

	memcpy(s, text, len);
	if (sm_tok_regex_compile(pat, strlen(pat), &re, &err) != SM_OK)
	{
		CHECK_MSG(false, "line %d: %s: %s", line, pat, err.message);
		free(s);
		return;
	}
	found = sm_tok_regex_search(re, s, len, from, &ms, &me);
	CHECK_MSG(wms < 0 ? !found : (found && (long) ms == wms && (long) me == wme),
			  "line %d: %s: found %d [%zu, %zu), wanted [%ld, %ld)", line, pat, (int) found,
			  ms, me, wms, wme);
	sm_tok_regex_free(re);
	free(s);
}

#define SEARCH(pat, lit, from, ms, me) search_at(__LINE__, pat, lit, sizeof(lit) - 1, from, ms, me)

static void
test_search(void)
{
	SEARCH("b+", "abbba", 0, 1, 4);
	SEARCH("b+", "abbba", 2, 2, 4);
	SEARCH("b+", "abbba", 4, -1, -1);
	SEARCH("^b", "ab\nb", 0, 3, 4);
	SEARCH("\\Ab", "ab\nb", 1, -1, -1);	/* \A is the string's start, not from */
	SEARCH("^", "ab", 1, -1, -1);
	SEARCH("$", "ab", 0, 2, 2);
	SEARCH("\\Z", "ab\n", 0, 2, 2);
	SEARCH("\\z", "ab\n", 0, 3, 3);
	SEARCH("a{2,3}?", "aaaa", 0, 0, 2);
	SEARCH("a+?b", "aaab", 0, 0, 4);
	SEARCH("x*", "", 0, 0, 0);
	SEARCH("(a|ab)(c|bcd)", "abcd", 0, 0, 4);	/* backtracking order: a, then bcd */
	SEARCH("(?:a|ab)c", "abc", 0, 0, 3);

	/* invalid UTF-8: one character each, only the negated sets match it */
	SEARCH(".", "\xFF", 0, 0, 1);
	SEARCH("\\S+", "a\xFF\xC3", 0, 0, 3);
	SEARCH("\\W", "a\xE2\x82", 0, 1, 2);
	SEARCH("[^a]", "a\x80", 0, 1, 2);
	SEARCH("\\P{L}", "\xC3", 0, 0, 1);
	SEARCH("\\p{L}", "\xC3" "\xA9", 0, 0, 2);	/* é, valid */
	SEARCH("\\p{L}", "\xC3", 0, -1, -1);
	SEARCH("\\w", "\xED\xA0\x80", 0, -1, -1);	/* a surrogate is three bad bytes */
	SEARCH("\xC3\xA9", "\xC3\xC3\xA9", 0, 1, 3);
	SEARCH("[\xC3\xA9]", "\xC3", 0, -1, -1);
	SEARCH("\\s$", "a \xE2", 0, -1, -1);	/* a truncated sequence at the end */
	SEARCH(".$", "a \xE2", 0, 2, 3);
	{
		sm_tok_regex *re;
		sm_error	err;
		char	   *r;

		sm_tok_regex_compile("\\s+", 3, &re, &err);
		r = replace(re, "a \xFF \xE2\x80", 7);
		CHECK(r != NULL && strcmp(r, "a" CONTENT "\xFF" CONTENT "\xE2\x80") == 0);
		free(r);
		sm_tok_regex_free(re);
	}
}

static void
test_find_all(void)
{
	sm_tok_regex *re;
	sm_error	err;
	size_t	   *sp;
	size_t		n;

	CHECK(sm_tok_regex_compile("a*", 2, &re, &err) == SM_OK);
	/* baac: [0,0) [1,3) [4,4); the empty match at 3 follows the previous one */
	CHECK(sm_tok_regex_find_all(re, (const uint8_t *) "baac", 4, &sp, &n));
	CHECK(n == 3 && sp[0] == 0 && sp[1] == 0 && sp[2] == 1 && sp[3] == 3 && sp[4] == 4 && sp[5] == 4);
	sm_free(sp);
	CHECK(sm_tok_regex_find_all(re, (const uint8_t *) "", 0, &sp, &n) && n == 0 && sp == NULL);
	sm_tok_regex_free(re);
	CHECK(sm_tok_regex_compile("\\s+", 3, &re, &err) == SM_OK);
	CHECK(sm_tok_regex_find_all(re, (const uint8_t *) "ab", 2, &sp, &n) && n == 0 && sp == NULL);
	CHECK(sm_tok_regex_find_all(re, (const uint8_t *) " a\t\n b ", 7, &sp, &n));
	CHECK(n == 3 && sp[0] == 0 && sp[1] == 1 && sp[2] == 2 && sp[3] == 5 && sp[4] == 6 && sp[5] == 7);
	sm_free(sp);
	sm_tok_regex_free(re);
}

/* a pattern over n bytes of text that takes under a second (bounded work) */
static void
timed(const char *pat, const char *unit, size_t n, size_t want_len)
{
	sm_tok_regex *re;
	sm_error	err;
	size_t		ulen = strlen(unit);
	char	   *text = malloc(n);
	char	   *r;
	clock_t		t0;
	double		secs;

	for (size_t i = 0; i < n; i++)
		text[i] = unit[i % ulen];
	if (sm_tok_regex_compile(pat, strlen(pat), &re, &err) != SM_OK)
	{
		CHECK_MSG(false, "%s: %s", pat, err.message);
		free(text);
		return;
	}
	t0 = clock();
	r = replace(re, text, n);
	secs = (double) (clock() - t0) / CLOCKS_PER_SEC;
	CHECK_MSG(r != NULL && strlen(r) == want_len, "%s: %zu bytes out, wanted %zu",
			  pat, r ? strlen(r) : 0, want_len);
	CHECK_MSG(secs < 1.0, "%s over %zu bytes took %.2f s", pat, n, secs);
	free(r);
	free(text);
	sm_tok_regex_free(re);
}

static void
test_long(void)
{
	size_t		n = 100000;

	timed(" +x", " ", n, n);	/* no match: every start fails */
	timed("\\s+$", " ", n, 4);
	timed("^ +", " ", n, 4);
	timed("(a|b|ab)*c", "ab", n, n);
	timed("(a*)*b", "a", n, n);
	timed("\\s*\\s*\\s*x", " ", n, n);
	timed("a{1,50}b", "a", n, n);
	timed("a", "a", n, n * 4);
	timed("x*", "a", n, n * 5 + 4);
}

void
test_tok_regex(void)
{
	test_tsv();
	test_errors();
	test_search();
	test_find_all();
	test_long();
}
