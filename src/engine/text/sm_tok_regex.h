/*
 * sm_tok_regex.h -- the regular expressions of Hugging Face tokenizer.json
 * files ({"Regex": "..."} in Replace normalizers and decoders, Split
 * pre-tokenizers), which HF's Rust tokenizers runs with Oniguruma (Ruby
 * syntax, no options).  sm_tok_regex.c implements the subset those files
 * use, matching as Oniguruma does (leftmost match, then the first one in
 * backtracking order), checked against HF's tokenizers by
 * test/fixtures/gen_regex_fixtures.js (test/fixtures/tok/regex.tsv).
 *
 * The subset: literal characters (UTF-8), `.` (anything but \n), \s \S \d
 * \D \w \W, \p{L} \p{N} \P{L} \P{N} (also \p{^L}), \t \n \r \f \v \a \e,
 * \xHH \x{H...} \uHHHH, escaped punctuation, classes [...] / [^...] with
 * ranges and those escapes (\b there is backspace); ^ $ (line anchors, as
 * Ruby) \A \z \Z; quantifiers * + ? {n} {n,} {,m} {n,m} and the lazy forms
 * *? +? ?? {n,}? {,m}? {n,m}? (as in Ruby, x{n}? is (?:x{n})?, not lazy);
 * alternation | and groups ( ) (?: ) (captures are not kept).  Anything
 * else is SM_ERR_UNSUPPORTED, naming the construct and the pattern.
 *
 * Where it may differ from Oniguruma: see the head of sm_tok_regex.c.
 */
#ifndef SM_TOK_REGEX_H
#define SM_TOK_REGEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/sm_core.h"

typedef struct sm_tok_regex sm_tok_regex;

/*
 * Compile pattern[0, len) (UTF-8).  A construct outside the subset is
 * SM_ERR_UNSUPPORTED naming it and the pattern; a malformed pattern (one
 * Oniguruma refuses too) SM_ERR_INVALID.
 */
sm_status	sm_tok_regex_compile(const char *pattern, size_t len, sm_tok_regex **out,
								 sm_error *err);
void		sm_tok_regex_free(sm_tok_regex *re);

/*
 * Leftmost match starting at or after byte offset from (a character
 * boundary) in s[0, len): true and [*ms, *me).  Greedy quantifiers
 * backtrack, so the match is the one Oniguruma finds.  An invalid UTF-8
 * byte is one character of its own (matched by `.`, negated classes and
 * \S \D \W \P{..}, by nothing else).  Work is O(program size x len) at
 * worst, memory one bit per (instruction, byte offset).  False also when
 * the working memory cannot be allocated.
 */
bool		sm_tok_regex_search(const sm_tok_regex *re, const uint8_t *s, size_t len,
								size_t from, size_t *ms, size_t *me);

/*
 * HF's Replace: every match of re in s, left to right, not overlapping,
 * replaced by content[0, clen), appended to out.  As Oniguruma's
 * find_iter, an empty match right where the previous match ended is
 * skipped.  False on no memory (out->failed, too).
 */
bool		sm_tok_regex_replace(const sm_tok_regex *re, const uint8_t *s, size_t len,
								 const char *content, size_t clen, sm_buf *out);

/*
 * The same matches as a list (what a Split pre-tokenizer needs): *n pairs
 * start, end in *spans (sm_free it; NULL when none).  One working bitmap
 * for all of them, so this is O(program size x len), where calling
 * sm_tok_regex_search in a loop costs a bitmap per call.  False on no
 * memory.
 */
bool		sm_tok_regex_find_all(const sm_tok_regex *re, const uint8_t *s, size_t len,
								  size_t **spans, size_t *n);

/* generated tables (sm_tok_regex_tables.c, gen_regex_tables.py) */
typedef struct sm_re_range
{
	uint32_t	lo;
	uint32_t	hi;
} sm_re_range;

extern const sm_re_range sm_re_nd[];	/* General_Category Nd */
extern const int sm_re_nd_n;
extern const sm_re_range sm_re_word[];	/* Alphabetic | M | Nd | Pc */
extern const int sm_re_word_n;

#endif							/* SM_TOK_REGEX_H */
