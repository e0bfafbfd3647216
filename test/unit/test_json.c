/*
 * test_json.c -- unit tests for the strict JSON parser and string writer.
 *
 * Inputs are passed with explicit lengths (string literals via sizeof, so
 * that embedded NUL bytes count) and several are copied into malloc'd
 * buffers of exactly their size, so that valgrind or ASan catch any read
 * past the end of the text.
 */
#include <stdint.h>
#include <stdlib.h>

#include "sm_test.h"
#include "core/sm_json.h"
#include "sm_tests.h"



/* Parse a literal (embedded NULs included); expect success. */
#define PARSE_OK(lit) parse_ok_at(__LINE__, (lit), sizeof(lit) - 1)
/* Parse a literal; expect SM_ERR_INVALID with substr in the message. */
#define REJECT(lit, substr) reject_at(__LINE__, (lit), sizeof(lit) - 1, (substr))

/* Copy text into a buffer of exactly len bytes, so over-reads are caught. */
static char *
exact_copy(const char *text, size_t len)
{
	char	   *buf = malloc(len > 0 ? len : 1);

	if (buf != NULL && len > 0)
		memcpy(buf, text, len);
	return buf;
}

static sm_json *
parse_ok_at(int line, const char *text, size_t len)
{
	char	   *copy = exact_copy(text, len);
	sm_json    *json = NULL;
	sm_error	err;
	sm_status	st;

	memset(&err, 0, sizeof(err));
	st = sm_json_parse(copy, len, &json, &err);
	CHECK_MSG(st == SM_OK && json != NULL,
			  "line %d: status %d message \"%s\"", line, (int) st, err.message);
	free(copy);
	return json;
}

static void
reject_at(int line, const char *text, size_t len, const char *substr)
{
	char	   *copy = exact_copy(text, len);
	sm_json    *json = (sm_json *) &json;	/* must be reset to NULL */
	sm_error	err;
	int			failed_before = sm_test_failed;

	memset(&err, 0, sizeof(err));
	(void) sm_json_parse(copy, len, &json, &err);
	CHECK_ERR(err, SM_ERR_INVALID, substr);
	if (json != NULL)
	{
		sm_test_failed++;
		fprintf(stderr, "FAIL line %d: *out not NULL after failure\n", line);
		json = NULL;
	}
	if (sm_test_failed != failed_before)
		fprintf(stderr, "  (rejection case at %s:%d, wanted \"%s\")\n",
				__FILE__, line, substr);
	free(copy);
}

/* The integer member key of obj, or INT64_MIN when there is none. */
static int64_t
get_int(const sm_json *obj, const char *key)
{
	const sm_json *v = sm_json_get(obj, key);

	return (v != NULL && v->is_integer) ? v->integer : INT64_MIN;
}

/* A string node whose bytes are exactly want[0..len). */
static bool
is_string(const sm_json *j, const char *want, size_t len)
{
	return j != NULL && j->type == SM_JSON_STRING && j->string_len == len &&
		memcmp(j->string, want, len) == 0 && j->string[len] == '\0';
}

static void
test_valid_documents(void)
{
	sm_json    *j;
	const sm_json *v;

	j = PARSE_OK("{\"a\": [1, 2, {\"b\": null}], \"c\": {\"d\": [true, false, []], \"e\": {}}}");
	CHECK(j != NULL && j->type == SM_JSON_OBJECT && j->count == 2);
	v = sm_json_get(j, "a");
	CHECK(v != NULL && v->type == SM_JSON_ARRAY && v->count == 3 && v->keys == NULL);
	CHECK(v != NULL && v->items[2]->type == SM_JSON_OBJECT &&
		  sm_json_get(v->items[2], "b") != NULL &&
		  sm_json_get(v->items[2], "b")->type == SM_JSON_NULL);
	v = sm_json_get(sm_json_get(j, "c"), "d");
	CHECK(v != NULL && v->count == 3 && v->items[0]->type == SM_JSON_BOOL &&
		  v->items[0]->boolean && !v->items[1]->boolean &&
		  v->items[2]->type == SM_JSON_ARRAY && v->items[2]->count == 0);
	v = sm_json_get(sm_json_get(j, "c"), "e");
	CHECK(v != NULL && v->type == SM_JSON_OBJECT && v->count == 0);
	sm_json_free(j);

	/* scalars at top level, surrounded by all four whitespace characters */
	j = PARSE_OK(" \t\r\n null \n\t\r ");
	CHECK(j != NULL && j->type == SM_JSON_NULL);
	sm_json_free(j);
	j = PARSE_OK("true");
	CHECK(j != NULL && j->type == SM_JSON_BOOL && j->boolean);
	sm_json_free(j);
	j = PARSE_OK("\"\"");
	CHECK(j != NULL && is_string(j, "", 0));
	sm_json_free(j);
	j = PARSE_OK("[ 1 ,\n\t2 ]");
	CHECK(j != NULL && j->count == 2 && j->items[1]->integer == 2);
	sm_json_free(j);

	/* all escapes */
	j = PARSE_OK("\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u0041\\u00e9\\u20AC\"");
	CHECK(j != NULL && is_string(j, "\" \\ / \b \f \n \r \t A\xC3\xA9\xE2\x82\xAC", 22));
	sm_json_free(j);

	/* \u0000 inside a string value: the length counts it */
	j = PARSE_OK("\"a\\u0000b\"");
	CHECK(j != NULL && is_string(j, "a\0b", 3));
	sm_json_free(j);

	/* surrogate pair to 4-byte UTF-8 (U+1F600), and raw 4-byte UTF-8 */
	j = PARSE_OK("[\"\\uD83D\\uDE00\", \"\xF0\x9F\x98\x80\", \"\xF4\x8F\xBF\xBF\"]");
	CHECK(j != NULL && is_string(j->items[0], "\xF0\x9F\x98\x80", 4));
	CHECK(j != NULL && is_string(j->items[1], "\xF0\x9F\x98\x80", 4) &&
		  is_string(j->items[2], "\xF4\x8F\xBF\xBF", 4));
	sm_json_free(j);

	/* valid 2- and 3-byte UTF-8 at the edges of the valid ranges */
	j = PARSE_OK("\"\xC2\x80\xDF\xBF\xE0\xA0\x80\xED\x9F\xBF\xEE\x80\x80\xEF\xBF\xBF\"");
	CHECK(j != NULL && j->string_len == 16);
	sm_json_free(j);

	/* the sm_json_get edge cases */
	j = PARSE_OK("{\"x\": 1, \"\": 2}");
	CHECK(get_int(j, "x") == 1 && get_int(j, "") == 2);
	CHECK(sm_json_get(j, "y") == NULL && sm_json_get(j, "X") == NULL);
	CHECK(sm_json_get(NULL, "x") == NULL && sm_json_get(j, NULL) == NULL);
	sm_json_free(j);
	j = PARSE_OK("[{\"x\": 1}]");
	CHECK(j != NULL && sm_json_get(j, "x") == NULL);	/* not an object */
	sm_json_free(j);

	sm_json_free(NULL);
	CHECK(strcmp(sm_json_type_name(SM_JSON_NULL), "null") == 0 &&
		  strcmp(sm_json_type_name(SM_JSON_BOOL), "boolean") == 0 &&
		  strcmp(sm_json_type_name(SM_JSON_NUMBER), "number") == 0 &&
		  strcmp(sm_json_type_name(SM_JSON_STRING), "string") == 0 &&
		  strcmp(sm_json_type_name(SM_JSON_ARRAY), "array") == 0 &&
		  strcmp(sm_json_type_name(SM_JSON_OBJECT), "object") == 0);
}

static void
test_numbers(void)
{
	sm_json    *j;

	j = PARSE_OK("[0, -0, 42, -17, 9223372036854775807, -9223372036854775808]");
	CHECK(j != NULL && j->count == 6);
	if (j != NULL && j->count == 6)
	{
		CHECK(j->items[0]->is_integer && j->items[0]->integer == 0 &&
			  j->items[0]->number == 0.0);
		CHECK(j->items[1]->is_integer && j->items[1]->integer == 0 &&
			  j->items[1]->number == 0.0 && signbit(j->items[1]->number));
		CHECK(j->items[2]->is_integer && j->items[2]->integer == 42 &&
			  j->items[2]->number == 42.0);
		CHECK(j->items[3]->is_integer && j->items[3]->integer == -17);
		CHECK(j->items[4]->is_integer && j->items[4]->integer == INT64_MAX);
		CHECK(j->items[5]->is_integer && j->items[5]->integer == INT64_MIN &&
			  j->items[5]->number == -9223372036854775808.0);
	}
	sm_json_free(j);

	/* one past each int64 boundary: still a number, no longer an integer */
	j = PARSE_OK("[9223372036854775808, -9223372036854775809, 123456789012345678901234567890]");
	CHECK(j != NULL && j->count == 3);
	if (j != NULL && j->count == 3)
	{
		CHECK(!j->items[0]->is_integer && j->items[0]->type == SM_JSON_NUMBER &&
			  j->items[0]->number == 9223372036854775808.0);
		CHECK(!j->items[1]->is_integer && j->items[1]->number == -9223372036854775808.0);
		CHECK(!j->items[2]->is_integer && fabs(j->items[2]->number - 1.2345678901234568e29) < 1e14);
	}
	sm_json_free(j);

	/* fractions and exponents are never integers, even when whole */
	j = PARSE_OK("[1.5, -0.25, 1e2, 1E+2, 2.5e-3, 1.0, 0e0, 1e-400]");
	CHECK(j != NULL && j->count == 8);
	if (j != NULL && j->count == 8)
	{
		CHECK(j->items[0]->number == 1.5 && !j->items[0]->is_integer);
		CHECK(j->items[1]->number == -0.25);
		CHECK(j->items[2]->number == 100.0 && !j->items[2]->is_integer &&
			  j->items[3]->number == 100.0 && !j->items[3]->is_integer);
		CHECK(fabs(j->items[4]->number - 0.0025) < 1e-18);
		CHECK(j->items[5]->number == 1.0 && !j->items[5]->is_integer &&
			  j->items[6]->number == 0.0 && !j->items[6]->is_integer);
		CHECK(j->items[7]->number == 0.0);	/* underflow is not an error */
	}
	sm_json_free(j);

	/* tokens longer than any fixed conversion buffer */
	{
		char		tok[256];
		sm_error	err;

		memset(&err, 0, sizeof(err));
		memcpy(tok, "0.", 2);
		memset(tok + 2, '0', 99);
		memcpy(tok + 101, "12e101", 6);		/* 0.12e-99 * 1e101 = 12 */
		CHECK(sm_json_parse(tok, 107, &j, &err) == SM_OK && j != NULL &&
			  fabs(j->number - 12.0) < 1e-12 && !j->is_integer);
		sm_json_free(j);
		tok[0] = '1';
		memset(tok + 1, '0', 199);		/* 1e199, far beyond int64 */
		CHECK(sm_json_parse(tok, 200, &j, &err) == SM_OK && j != NULL &&
			  !j->is_integer && fabs(j->number / 1e199 - 1.0) < 1e-15);
		sm_json_free(j);
	}

	REJECT("1e400", "number out of range");
	REJECT("[-1e400]", "number out of range");
	REJECT("01", "leading zeros");
	REJECT("-012", "leading zeros");
	REJECT("[00]", "leading zeros");
	REJECT("+1", "expected JSON value, found \"+\"");
	REJECT(".5", "expected JSON value, found \".\"");
	REJECT("1.", "expected digit after '.'");
	REJECT("[1.]", "expected digit after '.'");
	REJECT("1.e5", "expected digit after '.'");
	REJECT("1e", "expected digit in exponent");
	REJECT("1e+", "expected digit in exponent");
	REJECT("-", "expected digit after '-'");
	REJECT("-a", "expected digit after '-'");
	REJECT("NaN", "expected JSON value, found \"N\"");
	REJECT("[Infinity]", "expected JSON value, found \"I\"");
	REJECT("-Infinity", "expected digit after '-'");
	REJECT("0x10", "unexpected data after JSON value");
}

static void
test_rejections(void)
{
	sm_error	err;
	sm_json    *j = NULL;

	REJECT("", "empty input");
	REJECT(" \n\t ", "empty input");
	REJECT("[1] x", "invalid JSON at byte 4: unexpected data after JSON value");
	REJECT("{} {}", "unexpected data after JSON value");
	REJECT("[1,]", "invalid JSON at byte 2: trailing comma in array");
	REJECT("{\"a\":1,}", "trailing comma in object");
	REJECT("[,1]", "expected JSON value, found \",\"");
	REJECT("[1 2]", "expected ',' or ']' after array element");
	REJECT("{\"a\" 1}", "invalid JSON at byte 5: expected ':' after object key");
	REJECT("{\"a\":1 \"b\":2}", "expected ',' or '}' after object member");
	REJECT("{'a':1}", "expected string for object key");
	REJECT("['a']", "expected JSON value, found \"'\"");
	REJECT("{a:1}", "expected string for object key");
	REJECT("{1:1}", "expected string for object key");
	REJECT("[1] // c", "unexpected data after JSON value");
	REJECT("/* c */ 1", "expected JSON value, found \"/\"");
	REJECT("[1 /* c */]", "expected ',' or ']'");
	REJECT("tru", "invalid literal");
	REJECT("nul", "invalid literal");
	REJECT("[True]", "expected JSON value, found \"T\"");
	REJECT("falsey", "unexpected data after JSON value");
	REJECT("[", "unexpected end of input");
	REJECT("[1", "invalid JSON at byte 2: unexpected end of input");
	REJECT("{\"a\"", "unexpected end of input");
	REJECT("{\"a\":", "unexpected end of input");
	REJECT("\"abc", "invalid JSON at byte 0: unterminated string");
	REJECT("\"abc\\", "unterminated string");
	REJECT("\"\\u12", "unexpected end of input in \\u escape");

	/* NUL bytes: an error outside strings, must be escaped inside them */
	REJECT("\0", "found byte 0x00");
	REJECT("[1,\0]", "found byte 0x00");
	REJECT("1\0", "unexpected data after JSON value");
	REJECT("\"a\0b\"", "invalid JSON at byte 2: unescaped control character");
	REJECT("\"\t\"", "unescaped control character");
	REJECT("\"\n\"", "unescaped control character");
	REJECT("\"\x1f\"", "unescaped control character");

	/* escapes */
	REJECT("\"\\x41\"", "invalid escape sequence");
	REJECT("\"\\'\"", "invalid escape sequence");
	REJECT("\"\\U0041\"", "invalid escape sequence");
	REJECT("\"\\u12G4\"", "invalid \\u escape");
	REJECT("\"\\u12\"", "invalid \\u escape");
	REJECT("\"\\uD800\"", "unpaired high surrogate");
	REJECT("\"\\uD800x\"", "unpaired high surrogate");
	REJECT("\"\\uD800\\u0041\"", "unpaired high surrogate");
	REJECT("\"\\uD800\\uD800\"", "unpaired high surrogate");
	REJECT("\"\\uDC00\"", "unpaired low surrogate");
	REJECT("\"\\uDE00\\uD83D\"", "unpaired low surrogate");

	/* invalid UTF-8 */
	REJECT("\"ab\x80\"", "invalid JSON at byte 3: invalid UTF-8 in string");
	REJECT("\"\xC0\xAF\"", "invalid UTF-8");	/* overlong '/' */
	REJECT("\"\xC1\xBF\"", "invalid UTF-8");	/* overlong */
	REJECT("\"\xE0\x80\xAF\"", "invalid UTF-8");	/* overlong 3-byte */
	REJECT("\"\xF0\x80\x80\xAF\"", "invalid UTF-8");	/* overlong 4-byte */
	REJECT("\"\xED\xA0\x80\"", "invalid UTF-8");	/* U+D800 */
	REJECT("\"\xED\xBF\xBF\"", "invalid UTF-8");	/* U+DFFF */
	REJECT("\"\xF4\x90\x80\x80\"", "invalid UTF-8");	/* U+110000 */
	REJECT("\"\xF5\x80\x80\x80\"", "invalid UTF-8");
	REJECT("\"\xFF\"", "invalid UTF-8");
	REJECT("\"\xE2\x82\"", "invalid UTF-8");	/* truncated by the quote */
	REJECT("\"\xF0\x9F\x98", "invalid UTF-8");	/* truncated by the end */
	REJECT("\"\xC3x\"", "invalid UTF-8");
	REJECT("\xC3\xA9", "found byte 0xc3");	/* UTF-8 outside a string */

	/* duplicate keys, small and large objects, nested keys may repeat */
	REJECT("{\"a\":1,\"b\":2,\"a\":3}", "invalid JSON at byte 13: duplicate object key \"a\"");
	REJECT("{\"\":1,\"\":2}", "duplicate object key \"\"");
	REJECT("{\"\\u0041\":1,\"A\":2}", "duplicate object key \"A\"");
	REJECT("{\"a\\u0000b\":1}", "object key contains \\u0000");
	j = PARSE_OK("{\"a\":{\"a\":{\"a\":1}},\"b\":{\"a\":2}}");
	CHECK(get_int(sm_json_get(sm_json_get(j, "a"), "a"), "a") == 1 &&
		  get_int(sm_json_get(j, "b"), "a") == 2);
	sm_json_free(j);

	/* the message reported exactly as documented */
	memset(&err, 0, sizeof(err));
	{
		const char *doc = "{\"bias\": [1], \"size\": 2, \"weight\": 1,  \"weight\": 2}";

		CHECK(sm_json_parse(doc, strlen(doc), &j, &err) == SM_ERR_INVALID && j == NULL);
	}
	CHECK_MSG(strcmp(err.message,
					 "invalid JSON at byte 39: duplicate object key \"weight\"") == 0,
			  "got \"%s\"", err.message);

	/* a very long duplicate key is cut in the message */
	{
		char		doc[700];
		int			n;

		n = snprintf(doc, sizeof(doc), "{\"%0300d\":1,\"%0300d\":2}", 7, 7);
		memset(&err, 0, sizeof(err));
		CHECK(sm_json_parse(doc, (size_t) n, &j, &err) == SM_ERR_INVALID);
		CHECK_ERR(err, SM_ERR_INVALID, "duplicate object key \"0000");
		CHECK(strstr(err.message, "...\"") != NULL && strlen(err.message) < 200);
	}

	/* NULL arguments are reported, not dereferenced */
	memset(&err, 0, sizeof(err));
	CHECK(sm_json_parse(NULL, 0, &j, &err) == SM_ERR_INVALID && j == NULL);
	CHECK(sm_json_parse("1", 1, NULL, &err) == SM_ERR_INTERNAL);
	CHECK(sm_json_parse("x", 1, &j, NULL) == SM_ERR_INVALID && j == NULL);
}

/* Many keys, so the duplicate check switches to its hash table. */
static void
test_large_objects(void)
{
	size_t		cap = 200000;
	char	   *doc = malloc(cap);
	size_t		n = 0;
	int			i;
	sm_json    *j = NULL;
	sm_error	err;
	sm_status	st;

	if (doc == NULL)
	{
		CHECK(doc != NULL);
		return;
	}
	doc[n++] = '{';
	for (i = 0; i < 5000; i++)
		n += (size_t) snprintf(doc + n, cap - n, "%s\"key%d\":%d", i ? "," : "", i, i);
	doc[n++] = '}';
	memset(&err, 0, sizeof(err));
	st = sm_json_parse(doc, n, &j, &err);
	CHECK_MSG(st == SM_OK, "%s", err.message);
	CHECK(j != NULL && j->count == 5000);
	CHECK(get_int(j, "key0") == 0 && get_int(j, "key4999") == 4999 &&
		  get_int(j, "key2500") == 2500 && sm_json_get(j, "key5000") == NULL);
	sm_json_free(j);

	/* the same with one key repeated near the end */
	n--;
	n += (size_t) snprintf(doc + n, cap - n, ",\"key1234\":0}");
	memset(&err, 0, sizeof(err));
	st = sm_json_parse(doc, n, &j, &err);
	CHECK(st == SM_ERR_INVALID && j == NULL);
	CHECK_ERR(err, SM_ERR_INVALID, "duplicate object key \"key1234\"");

	/* a large array grows past many doublings */
	n = 0;
	doc[n++] = '[';
	for (i = 0; i < 10000; i++)
		n += (size_t) snprintf(doc + n, cap - n, "%s%d", i ? "," : "", i);
	doc[n++] = ']';
	st = sm_json_parse(doc, n, &j, &err);
	CHECK(st == SM_OK && j != NULL && j->count == 10000 &&
		  j->items[9999]->integer == 9999);
	sm_json_free(j);
	free(doc);
}

static void
test_depth(void)
{
	char	   *doc = malloc(2 * 100000);
	size_t		n;
	int			d;
	sm_json    *j = NULL;
	sm_error	err;
	sm_status	st;

	if (doc == NULL)
	{
		CHECK(doc != NULL);
		return;
	}

	/* exactly SM_JSON_MAX_DEPTH arrays is fine, one more is not */
	for (d = SM_JSON_MAX_DEPTH; d <= SM_JSON_MAX_DEPTH + 1; d++)
	{
		memset(doc, '[', (size_t) d);
		memset(doc + d, ']', (size_t) d);
		memset(&err, 0, sizeof(err));
		st = sm_json_parse(doc, 2 * (size_t) d, &j, &err);
		if (d == SM_JSON_MAX_DEPTH)
		{
			CHECK(st == SM_OK && j != NULL);
			sm_json_free(j);
		}
		else
		{
			CHECK(j == NULL);
			CHECK_ERR(err, SM_ERR_INVALID, "invalid JSON: nesting deeper than 64 levels");
		}
	}

	/* mixed objects and arrays count alike */
	for (d = SM_JSON_MAX_DEPTH; d <= SM_JSON_MAX_DEPTH + 1; d++)
	{
		int			k;

		n = 0;
		for (k = 0; k < d; k++)
		{
			if (k % 2 == 0)
			{
				memcpy(doc + n, "{\"k\":", 5);
				n += 5;
			}
			else
				doc[n++] = '[';
		}
		doc[n++] = '0';
		for (k = d - 1; k >= 0; k--)
			doc[n++] = (k % 2 == 0) ? '}' : ']';
		memset(&err, 0, sizeof(err));
		st = sm_json_parse(doc, n, &j, &err);
		if (d == SM_JSON_MAX_DEPTH)
			CHECK(st == SM_OK);
		else
			CHECK_ERR(err, SM_ERR_INVALID, "nesting deeper than 64 levels");
		sm_json_free(j);
	}

	/* far too deep: an error, not a stack overflow */
	memset(doc, '[', 100000);
	memset(&err, 0, sizeof(err));
	st = sm_json_parse(doc, 100000, &j, &err);
	CHECK(st == SM_ERR_INVALID && j == NULL);
	free(doc);
}

/* The text is not NUL-terminated: only text[0..len) may be read. */
static void
test_bounded_input(void)
{
	const char *doc = "{\"k\": [1, 23456, \"str\", true]}";
	size_t		full = strlen(doc);
	size_t		len;
	int			bad = 0;
	sm_json    *j = NULL;
	sm_error	err;

	memset(&err, 0, sizeof(err));

	/* prefixes of a longer buffer */
	CHECK(sm_json_parse("[1,2]garbage", 5, &j, &err) == SM_OK && j != NULL && j->count == 2);
	sm_json_free(j);
	CHECK(sm_json_parse("123456", 3, &j, &err) == SM_OK && j != NULL && j->integer == 123);
	sm_json_free(j);
	CHECK(sm_json_parse("1.5e10", 3, &j, &err) == SM_OK && j != NULL && j->number == 1.5);
	sm_json_free(j);
	CHECK(sm_json_parse("truex", 4, &j, &err) == SM_OK && j != NULL && j->boolean);
	sm_json_free(j);
	CHECK(sm_json_parse("true", 3, &j, &err) == SM_ERR_INVALID && j == NULL);
	CHECK(sm_json_parse("\"abc\"", 4, &j, &err) == SM_ERR_INVALID && j == NULL);
	CHECK_ERR(err, SM_ERR_INVALID, "unterminated string");
	CHECK(sm_json_parse("\"\\u00e9\"", 6, &j, &err) == SM_ERR_INVALID && j == NULL);

	/*
	 * Every proper prefix, in a buffer of exactly that size, must fail
	 * (no prefix of this document is itself a document) without reading past
	 * its end; the whole must succeed.
	 */
	for (len = 0; len <= full; len++)
	{
		char	   *copy = exact_copy(doc, len);
		sm_status	st = sm_json_parse(copy, len, &j, &err);

		if (len < full ? (st != SM_ERR_INVALID || j != NULL) : st != SM_OK)
			bad++;
		sm_json_free(j);
		free(copy);
	}
	CHECK_MSG(bad == 0, "%d prefixes misparsed", bad);
}

static void
test_write_string(void)
{
	sm_buf		buf;
	char		all[256 + 8];
	size_t		n = 0;
	int			c;
	sm_json    *j = NULL;
	sm_error	err;

	sm_buf_init(&buf);
	{
		static const char in[] = "a\"b\\c\n\x01/\t\x7f\xC3\xA9";
		static const char want[] = "\"a\\\"b\\\\c\\n\\u0001/\\t\x7f\xC3\xA9\"";

		sm_json_write_string(&buf, in, sizeof(in) - 1);
		CHECK(!buf.failed && buf.len == sizeof(want) - 1 &&
			  memcmp(buf.data, want, sizeof(want) - 1) == 0);
	}
	sm_buf_free(&buf);

	sm_buf_init(&buf);
	sm_json_write_string(&buf, "", 0);
	CHECK(!buf.failed && buf.len == 2 && memcmp(buf.data, "\"\"", 2) == 0);
	sm_buf_free(&buf);

	/* every ASCII byte including NUL, then some UTF-8: write, parse, compare */
	for (c = 0; c < 128; c++)
		all[n++] = (char) c;
	memcpy(all + n, "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80", 9);
	n += 9;
	sm_buf_init(&buf);
	sm_json_write_string(&buf, all, n);
	CHECK(!buf.failed);
	CHECK(sm_json_parse(buf.data, buf.len, &j, &err) == SM_OK && is_string(j, all, n));
	sm_json_free(j);
	sm_buf_free(&buf);

	/* a written string works as an object key */
	sm_buf_init(&buf);
	sm_buf_append(&buf, "{", 1);
	sm_json_write_string(&buf, "we\"ird\tkey", 10);
	sm_buf_append(&buf, ":1}", 3);
	CHECK(sm_json_parse(buf.data, buf.len, &j, &err) == SM_OK &&
		  sm_json_get(j, "we\"ird\tkey") != NULL);
	sm_json_free(j);
	sm_buf_free(&buf);
}

/* ------------------------------------------------- allocation failures */

static long alloc_budget;		/* successful allocations still allowed */
static long live_blocks;

static void *
failing_alloc(size_t size)
{
	void	   *p;

	if (alloc_budget <= 0)
		return NULL;
	alloc_budget--;
	p = malloc(size);
	if (p != NULL)
		live_blocks++;
	return p;
}

static void
counting_free(void *ptr)
{
	if (ptr != NULL)
	{
		live_blocks--;
		free(ptr);
	}
}

static bool
never_abort(void)
{
	return false;
}

static void
test_alloc_failure(void)
{
	/*
	 * Mid-size: nesting, strings with escapes, a number token too long for
	 * the stack buffer, and an object big enough for the key hash table.
	 */
	static const char doc[] =
		"{\"config\": {\"hidden\": 64, \"layers\": [1, 2, 3, 4, 5, 6],"
		" \"name\": \"t\\u00e9st\\n\", \"eps\": 1e-5,"
		" \"long\": 0.000000000000000000000000000000000000000000000000000000000000000000000001},"
		" \"k01\": 1, \"k02\": 2, \"k03\": 3, \"k04\": 4, \"k05\": 5, \"k06\": 6,"
		" \"k07\": 7, \"k08\": 8, \"k09\": 9, \"k10\": 10, \"k11\": 11, \"k12\": 12,"
		" \"k13\": 13, \"k14\": 14, \"k15\": 15, \"k16\": 16, \"k17\": 17,"
		" \"k18\": [null, true, false, [[]], {}], \"k19\": \"\\uD83D\\uDE00\"}";
	sm_hooks	hooks;
	long		budget;
	int			bad_status = 0;
	int			leaks = 0;
	int			bad_out = 0;
	int			nomem_cases = 0;
	bool		succeeded = false;
	bool		content_ok = false;

	memset(&hooks, 0, sizeof(hooks));
	hooks.alloc = failing_alloc;
	hooks.free = counting_free;
	hooks.should_abort = never_abort;
	sm_set_hooks(&hooks);

	for (budget = 0; budget < 10000 && !succeeded; budget++)
	{
		sm_json    *j = (sm_json *) &j;
		sm_error	err;
		sm_status	st;

		alloc_budget = budget;
		live_blocks = 0;
		memset(&err, 0, sizeof(err));
		st = sm_json_parse(doc, sizeof(doc) - 1, &j, &err);
		if (st == SM_OK)
		{
			succeeded = true;
			content_ok = j != NULL && j->count == 20 &&
				get_int(sm_json_get(j, "config"), "hidden") == 64 &&
				get_int(j, "k17") == 17 &&
				is_string(sm_json_get(j, "k19"), "\xF0\x9F\x98\x80", 4);
		}
		else if (st == SM_ERR_NOMEM)
		{
			nomem_cases++;
			if (j != NULL || strcmp(err.message, "out of memory") != 0)
				bad_out++;
		}
		else
			bad_status++;
		sm_json_free(j == (sm_json *) &j ? NULL : j);
		if (live_blocks != 0)
			leaks++;
	}
	sm_set_hooks(NULL);

	CHECK_MSG(succeeded && content_ok, "budget %ld", budget);
	CHECK_MSG(nomem_cases > 50, "only %d allocation failure cases", nomem_cases);
	CHECK_MSG(bad_status == 0, "%d cases returned neither OK nor NOMEM", bad_status);
	CHECK_MSG(bad_out == 0, "%d failures left *out set or had the wrong message", bad_out);
	CHECK_MSG(leaks == 0, "%d cases leaked", leaks);

	/* the writer under allocation failure: marks the buffer failed */
	sm_set_hooks(&hooks);
	{
		sm_buf		buf;

		alloc_budget = 0;
		live_blocks = 0;
		sm_buf_init(&buf);
		sm_json_write_string(&buf, "abc", 3);
		CHECK(buf.failed);
		sm_buf_free(&buf);
		CHECK(live_blocks == 0);
	}
	sm_set_hooks(NULL);
}

void
test_json(void)
{
	test_valid_documents();
	test_numbers();
	test_rejections();
	test_large_objects();
	test_depth();
	test_bounded_input();
	test_write_string();
	test_alloc_failure();
}
