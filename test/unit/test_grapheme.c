/*
 * test_grapheme.c -- unit tests for extended grapheme cluster boundaries
 * (sm_uni_grapheme_end): every line of Unicode 15.0's GraphemeBreakTest.txt
 * (test/fixtures/tok, copied from Debian 12's unicode-data), then the cases
 * the Precompiled normalizer meets: invalid UTF-8, the ASCII fast path's
 * edges, emoji, flags, Hangul.
 *
 * Every input is copied into a buffer of exactly its length, so that
 * valgrind or ASan catch a read past the end.
 */
#include <stdint.h>
#include <stdlib.h>

#include "sm_test.h"
#include "sm_tests.h"
#include "text/sm_unicode.h"

#define BREAK_TEST "test/fixtures/tok/GraphemeBreakTest.txt"

/* cluster ends of s[0, len) into ends[], at most max; returns the count */
static int
walk(const uint8_t *text, size_t len, size_t *ends, int max)
{
	uint8_t    *s = malloc(len > 0 ? len : 1);
	int			n = 0;
	size_t		i = 0;

	memcpy(s, text, len);
	while (i < len && n < max)
	{
		size_t		e = sm_uni_grapheme_end(s, len, i);

		if (e <= i || e > len)
			break;				/* no progress or past the end: a failure */
		ends[n++] = e;
		i = e;
	}
	free(s);
	return n;
}

/* the literal splits into the given cluster lengths (sizes[], 0-terminated) */
#define SPLITS(lit, ...) splits_at(__LINE__, (const uint8_t *) (lit), sizeof(lit) - 1, \
								   (const int[]) {__VA_ARGS__, 0})

static void
splits_at(int line, const uint8_t *text, size_t len, const int *sizes)
{
	size_t		ends[64];
	int			n = walk(text, len, ends, 64);
	int			ok = 1;
	int			k;
	size_t		at = 0;

	for (k = 0; sizes[k] != 0; k++)
	{
		at += (size_t) sizes[k];
		if (k >= n || ends[k] != at)
			ok = 0;
	}
	CHECK_MSG(ok && k == n, "case at line %d: %d clusters, wanted %d", line, n, k);
}

/*
 * One test line: "÷ 0020 × 0308 ÷ ..." then a comment.  Returns 1 when its
 * break positions match, 0 when not, -1 when the line is not a test.
 */
static int
break_line(const char *line, char *why, size_t whylen)
{
	uint8_t		text[256];
	size_t		want[64],
				got[64];
	int			nwant = 0,
				ngot;
	size_t		len = 0;
	const char *p = line;

	if (strncmp(p, "\xC3\xB7", 2) != 0)
		return -1;				/* a comment or blank line */
	while (*p != '\0' && *p != '#' && *p != '\n')
	{
		if (*p == ' ' || *p == '\t')
			p++;
		else if (strncmp(p, "\xC3\xB7", 2) == 0)	/* ÷ */
		{
			if (len > 0)
				want[nwant++] = len;
			p += 2;
		}
		else if (strncmp(p, "\xC3\x97", 2) == 0)	/* × */
			p += 2;
		else
		{
			char	   *end;
			unsigned long cp = strtoul(p, &end, 16);

			if (end == p || cp >= 0x110000 || len + 4 > sizeof(text) || nwant >= 63)
			{
				snprintf(why, whylen, "cannot parse");
				return 0;
			}
			len += (size_t) sm_utf8_encode((uint32_t) cp, text + len);
			p = end;
		}
	}
	ngot = walk(text, len, got, 64);
	if (ngot != nwant || memcmp(got, want, (size_t) nwant * sizeof(size_t)) != 0)
	{
		snprintf(why, whylen, "%d clusters, wanted %d", ngot, nwant);
		return 0;
	}
	return 1;
}

static void
test_break_file(void)
{
	size_t		len;
	char	   *file = sm_test_read_file(BREAK_TEST, &len);
	char	   *line;
	int			lines = 0,
				bad = 0;

	CHECK_MSG(file != NULL, "cannot read " BREAK_TEST ": the fixture is required");
	if (file == NULL)
		return;
	for (line = file; line != NULL && *line != '\0';)
	{
		char	   *nl = strchr(line, '\n');
		char		why[64];
		int			r;

		if (nl != NULL)
			*nl = '\0';
		r = break_line(line, why, sizeof(why));
		if (r >= 0)
		{
			lines++;
			CHECK_MSG(r == 1, "%s: %s: %s", BREAK_TEST, why, line);
			bad += r == 0;
		}
		line = nl != NULL ? nl + 1 : NULL;
	}
	printf("grapheme: %d of %d GraphemeBreakTest lines pass\n", lines - bad, lines);
	CHECK(lines == 602);		/* the whole 15.0 file was read */
	free(file);
}

void
test_grapheme(void)
{
	test_break_file();

	/* invalid UTF-8: each bad byte alone, nothing read past the end */
	SPLITS("\xFF", 1);
	SPLITS("a\xFF" "b", 1, 1, 1);
	SPLITS("\x80\x80", 1, 1);
	SPLITS("e\x80", 1, 1);
	SPLITS("\xE2\x82", 1, 1);	/* truncated 3-byte sequence at the end */
	SPLITS("a\xE2\x82", 1, 1, 1);
	SPLITS("\xCC\x81\xE2", 2, 1);	/* a lone combining mark, then a truncated lead */
	SPLITS("\xED\xA0\x80", 1, 1, 1);	/* a surrogate is invalid */

	/* the ASCII fast path's edges */
	SPLITS("abc", 1, 1, 1);
	SPLITS("e\xCC\x81", 3);		/* e + U+0301: one cluster */
	SPLITS("e\xCC\x81x", 3, 1);
	SPLITS("\r\n", 2);
	SPLITS("a\r\nb", 1, 2, 1);
	SPLITS("\n\r", 1, 1);
	SPLITS("a\xE2\x80\x8D", 4);	/* a + ZWJ */
	SPLITS("\t\xCC\x81", 1, 2);	/* Control does not take a mark */

	/* emoji: man + ZWJ + woman + ZWJ + girl; thumbs up + skin tone; heart + VS16 */
	SPLITS("\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7!", 18, 1);
	SPLITS("\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD", 8);
	SPLITS("\xE2\x9D\xA4\xEF\xB8\x8F", 6);
	SPLITS("a\xE2\x80\x8D\xF0\x9F\x91\xA9", 4, 4);	/* GB11 wants a pictograph first */

	/* flags: regional indicators pair up from the start of the run */
	SPLITS("\xF0\x9F\x87\xA9\xF0\x9F\x87\xAA\xF0\x9F\x87\xAB\xF0\x9F\x87\xB7", 8, 8);
	SPLITS("\xF0\x9F\x87\xA9\xF0\x9F\x87\xAA\xF0\x9F\x87\xAB", 8, 4);

	/* Hangul: syllable 한 (LVT) + T; jamo L V T; LV + T; LV + L */
	SPLITS("\xED\x95\x9C\xE1\x86\xAB", 6);
	SPLITS("\xE1\x84\x92\xE1\x85\xA1\xE1\x86\xAB", 9);
	SPLITS("\xEA\xB0\x80\xE1\x86\xA8", 6);
	SPLITS("\xEA\xB0\x80\xE1\x84\x80", 3, 3);
	SPLITS("\xED\x95\x9C\xEA\xB8\x80", 3, 3);	/* 한글: two syllables */

	/* Prepend joins what follows, SpacingMark what precedes (Devanagari) */
	SPLITS("\xE0\xA4\x95\xE0\xA4\xBE", 6);
	SPLITS("\xD8\x80" "a", 3);
}
