/*
 * sm_tok_regex.c -- Oniguruma's regular expressions (Ruby syntax, no
 * options), the subset tokenizer.json files use: see sm_tok_regex.h.
 *
 * A pattern is parsed into a tree, then compiled into a small backtracking
 * program (CHAR, SET, ANY, assertions, SPLIT x y trying x first, JMP, LOOP
 * the back edge of * and +, MATCH).  Counted repetitions are unrolled; the
 * program may have at most RE_MAX_PROG instructions.  The matcher is a
 * depth-first search in priority order, which is Oniguruma's backtracking order, so its first
 * match is Oniguruma's.  It remembers every (instruction, offset) it has
 * tried: the outcome of a state depends on nothing else (no captures, no
 * back-references), so a state tried once either led to the match, and the
 * search is over, or failed and need not be tried again.  That bounds one
 * search, and all the searches of one replace (they share the bitmap, see
 * forget_column), to program size x (len + 1) steps; the bitmap takes
 * program size x (len + 1) bits (at most 125 bytes per input byte).
 *
 * Unicode: \s is White_Space (sm_unicode.h, the same set as Oniguruma's);
 * \p{L}, \p{N} are sm_unicode.h's (Oniguruma's, Unicode 16.0); \d is
 * General_Category Nd and \w is Alphabetic | M | Nd | Pc, plus outside
 * classes the Latin-1 numbers (see is_word), both of Unicode 15.0
 * (gen_regex_tables.py); letters are 16.0's.
 *
 * Known differences from Oniguruma:
 *   - Nd and non-letter Word code points new in Unicode 16.0 are not \d / \w.
 *   - An unbounded loop whose iteration matched nothing is left, as by
 *     Oniguruma's empty check ((|a)+ matches the empty string); a bounded
 *     one ({n,m}, unrolled) has no such check, so (|a){1,3} may choose
 *     differently.  tokenizer.json patterns do not repeat empty bodies.
 *   - Oniguruma accepts x{n,m} with n > m (it matches as x{m,n}, possibly
 *     possessively); it is SM_ERR_UNSUPPORTED here.
 *   - HF's Replace never matches an empty text (x* leaves "" as it is);
 *     sm_tok_regex_replace does the same, sm_tok_regex_search does not.
 *   - Invalid UTF-8 cannot reach Oniguruma through HF (Rust strings); here
 *     an invalid byte is one character that only `.`, negated classes and
 *     the negated escapes match.
 */
#include <stdio.h>
#include <string.h>

#include "text/sm_tok_regex.h"
#include "text/sm_unicode.h"

#define RE_MAX_PROG 1000		/* instructions after unrolling */
#define RE_MAX_REPEAT 100000	/* Oniguruma's ONIG_MAX_REPEAT_NUM */
#define RE_INF (-1)
#define RE_MAX_DEPTH 200		/* group nesting */

/* class properties */
#define P_S		0x001
#define P_NS	0x002
#define P_D		0x004
#define P_ND	0x008
#define P_W		0x010
#define P_NW	0x020
#define P_L		0x040
#define P_NL	0x080
#define P_N		0x100
#define P_NN	0x200
#define P_WO	0x400			/* \w outside a class (Latin-1 numbers too) */
#define P_NWO	0x800

typedef struct re_class
{
	bool		neg;
	unsigned	props;
	int			nr;
	int			cap;
	sm_re_range *r;
} re_class;

enum
{
	OP_CHAR, OP_SET, OP_ANY, OP_BOL, OP_EOL, OP_BOS, OP_EOS, OP_EOS_NL,
	OP_SPLIT, OP_JMP, OP_LOOP, OP_MATCH
};

typedef struct re_inst
{
	uint8_t		op;
	uint32_t	c;				/* OP_CHAR: the code point; OP_SET: the class */
	int			x;				/* OP_SPLIT: tried first; OP_JMP, OP_LOOP: target */
	int			y;				/* OP_SPLIT: tried second; OP_LOOP: the loop's exit */
} re_inst;

struct sm_tok_regex
{
	int			nprog;
	re_inst    *prog;
	int			ncls;
	re_class   *cls;
};

/* ---- the parse tree ---- */

enum
{
	N_EMPTY, N_CHAR, N_SET, N_ANY, N_ASSERT, N_CAT, N_ALT, N_REPEAT
};

typedef struct re_node
{
	int			kind;
	uint32_t	c;				/* N_CHAR: code point; N_SET: class; N_ASSERT: op */
	int			min,
				max;			/* N_REPEAT */
	bool		greedy;
	int			kid;			/* first child (N_CAT, N_ALT, N_REPEAT), or -1 */
	int			next;			/* next sibling, or -1 */
} re_node;

typedef struct re_parser
{
	const uint8_t *p;
	size_t		len;
	size_t		i;
	const char *pattern;
	sm_error   *err;
	re_node    *nodes;
	int			nnodes,
				capnodes;
	re_class   *cls;
	int			ncls,
				capcls;
	int			depth;
	bool		nomem;
	bool		failed;
} re_parser;

static int
fail_at(re_parser *ps, sm_status code, const char *what)
{
	if (!ps->failed)
	{
		ps->failed = true;
		if (code == SM_ERR_UNSUPPORTED)
			sm_fail(ps->err, code, "regular expression construct \"%s\" is not supported", what);
		else if (code == SM_ERR_NOMEM)
			sm_fail(ps->err, code, "out of memory compiling a regular expression");
		else
			sm_fail(ps->err, code, "invalid regular expression: %s", what);
		sm_detail(ps->err, "The pattern is \"%.*s\".",
				  (int) (ps->len > 900 ? 900 : ps->len), ps->pattern);
	}
	return -1;
}

static int
new_node(re_parser *ps, int kind)
{
	re_node    *n;

	if (ps->nnodes == ps->capnodes)
	{
		int			cap = ps->capnodes ? ps->capnodes * 2 : 32;
		re_node    *nn = sm_alloc_array((size_t) cap, sizeof(re_node));

		if (nn == NULL)
			return fail_at(ps, SM_ERR_NOMEM, "");
		if (ps->nnodes)
			memcpy(nn, ps->nodes, (size_t) ps->nnodes * sizeof(re_node));
		sm_free(ps->nodes);
		ps->nodes = nn;
		ps->capnodes = cap;
	}
	n = &ps->nodes[ps->nnodes];
	memset(n, 0, sizeof(*n));
	n->kind = kind;
	n->kid = -1;
	n->next = -1;
	return ps->nnodes++;
}

static int
new_class(re_parser *ps)
{
	if (ps->ncls == ps->capcls)
	{
		int			cap = ps->capcls ? ps->capcls * 2 : 8;
		re_class   *nc = sm_alloc_array((size_t) cap, sizeof(re_class));

		if (nc == NULL)
			return fail_at(ps, SM_ERR_NOMEM, "");
		if (ps->ncls)
			memcpy(nc, ps->cls, (size_t) ps->ncls * sizeof(re_class));
		sm_free(ps->cls);
		ps->cls = nc;
		ps->capcls = cap;
	}
	memset(&ps->cls[ps->ncls], 0, sizeof(re_class));
	return ps->ncls++;
}

static bool
class_add(re_parser *ps, re_class *c, uint32_t lo, uint32_t hi)
{
	if (c->nr == c->cap)
	{
		int			cap = c->cap ? c->cap * 2 : 4;
		sm_re_range *nr = sm_alloc_array((size_t) cap, sizeof(sm_re_range));

		if (nr == NULL)
		{
			fail_at(ps, SM_ERR_NOMEM, "");
			return false;
		}
		if (c->nr)
			memcpy(nr, c->r, (size_t) c->nr * sizeof(sm_re_range));
		sm_free(c->r);
		c->r = nr;
		c->cap = cap;
	}
	c->r[c->nr].lo = lo;
	c->r[c->nr].hi = hi;
	c->nr++;
	return true;
}

static bool
at_end(re_parser *ps)
{
	return ps->i >= ps->len;
}

/* the next pattern character (decoded); invalid UTF-8 in a pattern is an error */
static bool
next_char(re_parser *ps, uint32_t *cp)
{
	int			n = sm_utf8_decode(ps->p + ps->i, ps->len - ps->i, cp);

	if (*cp >= SM_UNI_BAD_BYTE)
	{
		fail_at(ps, SM_ERR_INVALID, "invalid UTF-8");
		return false;
	}
	ps->i += (size_t) n;
	return true;
}

static int
hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * An escape after the backslash (ps->i is past it).  Returns 1 with *cp for
 * a character, 2 with *props for a property set, 3 with *op for an
 * assertion (outside classes only), 0 on error.
 */
static int
parse_escape(re_parser *ps, bool in_class, uint32_t *cp, unsigned *props, int *op)
{
	uint8_t		c;
	char		what[64];

	if (at_end(ps))
	{
		fail_at(ps, SM_ERR_INVALID, "end pattern at escape");
		return 0;
	}
	c = ps->p[ps->i];
	if (c >= 0x80)
		return next_char(ps, cp) ? 1 : 0;
	ps->i++;
	switch (c)
	{
		case 's': *props = P_S; return 2;
		case 'S': *props = P_NS; return 2;
		case 'd': *props = P_D; return 2;
		case 'D': *props = P_ND; return 2;
		case 'w': *props = in_class ? P_W : P_WO; return 2;
		case 'W': *props = in_class ? P_NW : P_NWO; return 2;
		case 't': *cp = '\t'; return 1;
		case 'n': *cp = '\n'; return 1;
		case 'r': *cp = '\r'; return 1;
		case 'f': *cp = '\f'; return 1;
		case 'v': *cp = '\v'; return 1;
		case 'a': *cp = 0x07; return 1;
		case 'e': *cp = 0x1B; return 1;
		case 'p':
		case 'P':
			{
				bool		neg = c == 'P';
				size_t		start,
							end;

				if (at_end(ps) || ps->p[ps->i] != '{')
				{
					fail_at(ps, SM_ERR_INVALID, "invalid character property name");
					return 0;
				}
				ps->i++;
				if (!at_end(ps) && ps->p[ps->i] == '^')
				{
					neg = !neg;
					ps->i++;
				}
				start = ps->i;
				while (!at_end(ps) && ps->p[ps->i] != '}')
					ps->i++;
				if (at_end(ps))
				{
					fail_at(ps, SM_ERR_INVALID, "invalid character property name");
					return 0;
				}
				end = ps->i++;
				if (end - start == 1 && ps->p[start] == 'L')
					*props = neg ? P_NL : P_L;
				else if (end - start == 1 && ps->p[start] == 'N')
					*props = neg ? P_NN : P_N;
				else
				{
					snprintf(what, sizeof(what), "\\%c{%.*s}", c, (int) (end - start > 40 ? 40 : end - start),
							 (const char *) ps->p + start);
					fail_at(ps, SM_ERR_UNSUPPORTED, what);
					return 0;
				}
				return 2;
			}
		case 'x':
		case 'u':
			{
				uint32_t	v = 0;
				int			n = 0,
							h;

				if (c == 'x' && !at_end(ps) && ps->p[ps->i] == '{')
				{
					ps->i++;
					while (!at_end(ps) && (h = hexval(ps->p[ps->i])) >= 0 && n < 8)
					{
						v = v * 16 + (uint32_t) h;
						n++;
						ps->i++;
					}
					if (n == 0 || at_end(ps) || ps->p[ps->i] != '}')
					{
						fail_at(ps, SM_ERR_INVALID, "invalid code point value");
						return 0;
					}
					ps->i++;
				}
				else
				{
					int			want = c == 'x' ? 2 : 4;

					while (n < want && !at_end(ps) && (h = hexval(ps->p[ps->i])) >= 0)
					{
						v = v * 16 + (uint32_t) h;
						n++;
						ps->i++;
					}
					if (c == 'u' && n != 4)
					{
						fail_at(ps, SM_ERR_INVALID, "too short digits for \\u");
						return 0;
					}
					if (c == 'x' && n == 0)
					{
						snprintf(what, sizeof(what), "\\x without digits");
						fail_at(ps, SM_ERR_UNSUPPORTED, what);
						return 0;
					}
					if (c == 'x' && v >= 0x80)
					{
						/* a raw byte in Oniguruma: not a character */
						fail_at(ps, SM_ERR_UNSUPPORTED, "\\x80-\\xFF (a raw byte)");
						return 0;
					}
				}
				if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
				{
					fail_at(ps, SM_ERR_INVALID, "invalid code point value");
					return 0;
				}
				*cp = v;
				return 1;
			}
		case 'b':
			if (in_class)
			{
				*cp = 0x08;
				return 1;
			}
			break;
		case 'A':
			if (!in_class)
			{
				*op = OP_BOS;
				return 3;
			}
			break;
		case 'z':
			if (!in_class)
			{
				*op = OP_EOS;
				return 3;
			}
			break;
		case 'Z':
			if (!in_class)
			{
				*op = OP_EOS_NL;
				return 3;
			}
			break;
		default:
			break;
	}
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
	{
		snprintf(what, sizeof(what), "\\%c", c);
		fail_at(ps, SM_ERR_UNSUPPORTED, what);
		return 0;
	}
	*cp = c;					/* escaped punctuation, space or control */
	return 1;
}

/* a character class; ps->i is past the '[' */
static int
parse_class(re_parser *ps)
{
	int			ci = new_class(ps);
	int			node;
	bool		first = true;

	if (ci < 0)
		return -1;
	if (!at_end(ps) && ps->p[ps->i] == '^')
	{
		ps->cls[ci].neg = true;
		ps->i++;
	}
	for (;;)
	{
		uint32_t	lo,
					hi;
		unsigned	props = 0;
		int			op = 0,
					k;

		if (at_end(ps))
			return fail_at(ps, SM_ERR_INVALID, "premature end of char-class");
		if (ps->p[ps->i] == ']' && !first)
		{
			ps->i++;
			break;
		}
		first = false;
		if (ps->p[ps->i] == '[')
			return fail_at(ps, SM_ERR_UNSUPPORTED, "[ inside a character class");
		if (ps->p[ps->i] == '&' && ps->i + 1 < ps->len && ps->p[ps->i + 1] == '&')
			return fail_at(ps, SM_ERR_UNSUPPORTED, "&& in a character class");
		if (ps->p[ps->i] == '\\')
		{
			ps->i++;
			k = parse_escape(ps, true, &lo, &props, &op);
			if (k == 0)
				return -1;
			if (k == 2)
			{
				ps->cls[ci].props |= props;
				if (!at_end(ps) && ps->p[ps->i] == '-' && ps->i + 1 < ps->len && ps->p[ps->i + 1] != ']')
					return fail_at(ps, SM_ERR_INVALID, "unmatched range specifier in char-class");
				continue;
			}
		}
		else if (!next_char(ps, &lo))
			return -1;
		hi = lo;
		if (!at_end(ps) && ps->p[ps->i] == '-' && ps->i + 1 < ps->len && ps->p[ps->i + 1] != ']')
		{
			ps->i++;
			if (ps->p[ps->i] == '[')
				return fail_at(ps, SM_ERR_UNSUPPORTED, "[ inside a character class");
			if (ps->p[ps->i] == '\\')
			{
				ps->i++;
				k = parse_escape(ps, true, &hi, &props, &op);
				if (k == 0)
					return -1;
				if (k != 1)
					return fail_at(ps, SM_ERR_INVALID, "char-class value at end of range");
			}
			else if (!next_char(ps, &hi))
				return -1;
			if (hi < lo)
				return fail_at(ps, SM_ERR_INVALID, "empty range in char class");
		}
		else if (!at_end(ps) && ps->p[ps->i] == '-' && ps->i + 1 >= ps->len)
			return fail_at(ps, SM_ERR_INVALID, "premature end of char-class");
		if (!class_add(ps, &ps->cls[ci], lo, hi))
			return -1;
	}
	node = new_node(ps, N_SET);
	if (node >= 0)
		ps->nodes[node].c = (uint32_t) ci;
	return node;
}

static int	parse_alt(re_parser *ps);

static int
parse_atom(re_parser *ps)
{
	uint8_t		c = ps->p[ps->i];
	int			node;

	switch (c)
	{
		case '(':
			ps->i++;
			if (!at_end(ps) && ps->p[ps->i] == '?')
			{
				if (ps->i + 1 < ps->len && ps->p[ps->i + 1] == ':')
					ps->i += 2;
				else
				{
					char		what[8];

					snprintf(what, sizeof(what), "(?%c", ps->i + 1 < ps->len ? ps->p[ps->i + 1] : ' ');
					return fail_at(ps, SM_ERR_UNSUPPORTED, what);
				}
			}
			if (++ps->depth > RE_MAX_DEPTH)
				return fail_at(ps, SM_ERR_UNSUPPORTED, "groups nested too deep");
			node = parse_alt(ps);
			ps->depth--;
			if (node < 0)
				return -1;
			if (at_end(ps) || ps->p[ps->i] != ')')
				return fail_at(ps, SM_ERR_INVALID, "end pattern with unmatched parenthesis");
			ps->i++;
			return node;
		case '[':
			ps->i++;
			return parse_class(ps);
		case '.':
			ps->i++;
			return new_node(ps, N_ANY);
		case '^':
		case '$':
			ps->i++;
			node = new_node(ps, N_ASSERT);
			if (node >= 0)
				ps->nodes[node].c = c == '^' ? OP_BOL : OP_EOL;
			return node;
		case '\\':
			{
				uint32_t	cp = 0;
				unsigned	props = 0;
				int			op = 0,
							k;

				ps->i++;
				k = parse_escape(ps, false, &cp, &props, &op);
				if (k == 0)
					return -1;
				if (k == 1)
				{
					node = new_node(ps, N_CHAR);
					if (node >= 0)
						ps->nodes[node].c = cp;
				}
				else if (k == 2)
				{
					int			ci = new_class(ps);

					if (ci < 0)
						return -1;
					ps->cls[ci].props = props;
					node = new_node(ps, N_SET);
					if (node >= 0)
						ps->nodes[node].c = (uint32_t) ci;
				}
				else
				{
					node = new_node(ps, N_ASSERT);
					if (node >= 0)
						ps->nodes[node].c = (uint32_t) op;
				}
				return node;
			}
		default:
			{
				uint32_t	cp;

				if (!next_char(ps, &cp))
					return -1;
				node = new_node(ps, N_CHAR);
				if (node >= 0)
					ps->nodes[node].c = cp;
				return node;
			}
	}
}

/* a decimal number of at most 6 digits at ps->i, or -1 if none */
static long
parse_num(re_parser *ps)
{
	long		v = -1;
	int			n = 0;

	while (!at_end(ps) && ps->p[ps->i] >= '0' && ps->p[ps->i] <= '9')
	{
		if (n < 7)
			v = (v < 0 ? 0 : v) * 10 + (ps->p[ps->i] - '0');
		n++;
		ps->i++;
	}
	if (n > 7)
		v = RE_MAX_REPEAT + 1L;
	return v;
}

/*
 * An interval {n}, {n,}, {,m}, {n,m} at ps->i ('{'): 1 with *min, *max, and
 * *fixed for {n}; 0 when it is not one (then '{' is a literal and ps->i is
 * unchanged); -1 on error.
 */
static int
parse_interval(re_parser *ps, int *min, int *max, bool *fixed)
{
	size_t		save = ps->i;
	long		lo,
				hi;
	bool		comma = false;

	ps->i++;
	lo = parse_num(ps);
	if (!at_end(ps) && ps->p[ps->i] == ',')
	{
		comma = true;
		ps->i++;
		hi = parse_num(ps);
	}
	else
		hi = lo;
	if (at_end(ps) || ps->p[ps->i] != '}' || (lo < 0 && hi < 0))
	{
		ps->i = save;
		return 0;
	}
	ps->i++;
	if (lo < 0)
		lo = 0;
	if (lo > RE_MAX_REPEAT || hi > RE_MAX_REPEAT)
		return fail_at(ps, SM_ERR_INVALID, "too big number for repeat range");
	if (hi >= 0 && hi < lo)
		return fail_at(ps, SM_ERR_UNSUPPORTED, "{n,m} with n > m");
	*min = (int) lo;
	*max = hi < 0 ? RE_INF : (int) hi;
	*fixed = !comma;
	return 1;
}

static int
wrap_repeat(re_parser *ps, int kid, int min, int max, bool greedy)
{
	int			node = new_node(ps, N_REPEAT);

	if (node < 0)
		return -1;
	ps->nodes[node].kid = kid;
	ps->nodes[node].min = min;
	ps->nodes[node].max = max;
	ps->nodes[node].greedy = greedy;
	return node;
}

static bool
is_assert(re_parser *ps, int node)
{
	return ps->nodes[node].kind == N_ASSERT;
}

static int
parse_seq(re_parser *ps)
{
	int			cat = new_node(ps, N_CAT);
	int			last = -1;

	if (cat < 0)
		return -1;
	while (!at_end(ps) && ps->p[ps->i] != '|' && ps->p[ps->i] != ')')
	{
		uint8_t		c = ps->p[ps->i];
		int			atom;
		bool		quantified = false;

		if (c == '*' || c == '+' || c == '?')
			return fail_at(ps, SM_ERR_INVALID, "target of repeat operator is not specified");
		if (c == '{')
		{
			int			mn,
						mx;
			bool		fx;
			int			r = parse_interval(ps, &mn, &mx, &fx);

			if (r < 0)
				return -1;
			if (r > 0)
				return fail_at(ps, SM_ERR_INVALID, "target of repeat operator is not specified");
		}
		atom = parse_atom(ps);
		if (atom < 0)
			return -1;
		for (;;)
		{
			int			mn,
						mx;
			bool		fixed = false,
						greedy = true;

			if (at_end(ps))
				break;
			c = ps->p[ps->i];
			if (c == '*' || c == '+' || c == '?')
			{
				if (quantified && c == '+' && ps->i > 0 &&
					(ps->p[ps->i - 1] == '*' || ps->p[ps->i - 1] == '+' || ps->p[ps->i - 1] == '?'))
					return fail_at(ps, SM_ERR_UNSUPPORTED, "possessive quantifier");
				ps->i++;
				mn = c == '+' ? 1 : 0;
				mx = c == '?' ? 1 : RE_INF;
			}
			else if (c == '{')
			{
				int			r = parse_interval(ps, &mn, &mx, &fixed);

				if (r < 0)
					return -1;
				if (r == 0)
					break;
			}
			else
				break;
			if (is_assert(ps, atom) && !quantified)
				return fail_at(ps, SM_ERR_INVALID, "target of repeat operator is invalid");
			if (!at_end(ps) && ps->p[ps->i] == '?')
			{
				if (fixed)
				{
					/* Ruby: x{n}? is (?:x{n})? */
					atom = wrap_repeat(ps, atom, mn, mx, true);
					if (atom < 0)
						return -1;
					mn = 0;
					mx = 1;
				}
				else
					greedy = false;
				ps->i++;
			}
			else if (!at_end(ps) && ps->p[ps->i] == '+' && (c == '*' || c == '+' || c == '?'))
				return fail_at(ps, SM_ERR_UNSUPPORTED, "possessive quantifier");
			atom = wrap_repeat(ps, atom, mn, mx, greedy);
			if (atom < 0)
				return -1;
			quantified = true;
		}
		if (last < 0)
			ps->nodes[cat].kid = atom;
		else
			ps->nodes[last].next = atom;
		last = atom;
	}
	return cat;
}

static int
parse_alt(re_parser *ps)
{
	int			first = parse_seq(ps);
	int			alt,
				last;

	if (first < 0 || at_end(ps) || ps->p[ps->i] != '|')
		return first;
	alt = new_node(ps, N_ALT);
	if (alt < 0)
		return -1;
	ps->nodes[alt].kid = first;
	last = first;
	while (!at_end(ps) && ps->p[ps->i] == '|')
	{
		int			s;

		ps->i++;
		s = parse_seq(ps);
		if (s < 0)
			return -1;
		ps->nodes[last].next = s;
		last = s;
	}
	return alt;
}

/* ---- code generation ---- */

typedef struct re_emit
{
	re_inst    *prog;
	int			n;
	int			cap;			/* prog_size's bound */
	bool		over;
} re_emit;

static int
emit(re_emit *e, int op, uint32_t c, int x, int y)
{
	if (e->n >= e->cap)
	{
		e->over = true;
		return e->n;
	}
	e->prog[e->n].op = (uint8_t) op;
	e->prog[e->n].c = c;
	e->prog[e->n].x = x;
	e->prog[e->n].y = y;
	return e->n++;
}

static void
patch_x(re_emit *e, int at, int to)
{
	if (at < e->n)
		e->prog[at].x = to;
}

static void
patch_y(re_emit *e, int at, int to)
{
	if (at < e->n)
		e->prog[at].y = to;
}

static void
gen(re_parser *ps, re_emit *e, int node)
{
	const re_node *n = &ps->nodes[node];
	int			k;

	if (e->over)
		return;
	switch (n->kind)
	{
		case N_EMPTY:
			break;
		case N_CHAR:
			emit(e, OP_CHAR, n->c, 0, 0);
			break;
		case N_SET:
			emit(e, OP_SET, n->c, 0, 0);
			break;
		case N_ANY:
			emit(e, OP_ANY, 0, 0, 0);
			break;
		case N_ASSERT:
			emit(e, (int) n->c, 0, 0, 0);
			break;
		case N_CAT:
			for (k = n->kid; k >= 0 && !e->over; k = ps->nodes[k].next)
				gen(ps, e, k);
			break;
		case N_ALT:
			{
				int			jumps = -1;	/* the JMPs to the end, chained through x */

				for (k = n->kid; k >= 0 && !e->over; k = ps->nodes[k].next)
				{
					if (ps->nodes[k].next >= 0)
					{
						int			sp = emit(e, OP_SPLIT, 0, 0, 0);

						patch_x(e, sp, e->n);
						gen(ps, e, k);
						jumps = emit(e, OP_JMP, 0, jumps, 0);
						patch_y(e, sp, e->n);
					}
					else
						gen(ps, e, k);
				}
				while (jumps >= 0 && !e->over)
				{
					int			prev = e->prog[jumps].x;

					patch_x(e, jumps, e->n);
					jumps = prev;
				}
				break;
			}
		case N_REPEAT:
			{
				int			i;

				for (i = 0; i < n->min && !e->over; i++)
					gen(ps, e, n->kid);
				if (n->max == RE_INF)
				{
					int			sp = emit(e, OP_SPLIT, 0, 0, 0);
					int			body = e->n;

					gen(ps, e, n->kid);
					emit(e, OP_LOOP, 0, sp, e->n + 1);
					if (n->greedy)
					{
						patch_x(e, sp, body);
						patch_y(e, sp, e->n);
					}
					else
					{
						patch_x(e, sp, e->n);
						patch_y(e, sp, body);
					}
				}
				else
				{
					int			splits = -1;	/* the SPLITs, chained through y */

					for (i = n->min; i < n->max && !e->over; i++)
					{
						int			sp = emit(e, OP_SPLIT, 0, 0, splits);

						splits = sp;
						gen(ps, e, n->kid);
					}
					while (splits >= 0 && !e->over)
					{
						int			prev = e->prog[splits].y;
						int			body = splits + 1;

						if (n->greedy)
						{
							patch_x(e, splits, body);
							patch_y(e, splits, e->n);
						}
						else
						{
							patch_x(e, splits, e->n);
							patch_y(e, splits, body);
						}
						splits = prev;
					}
				}
				break;
			}
	}
}

/* an upper bound on the instructions of a node, saturating */
static long
prog_size(re_parser *ps, int node)
{
	const re_node *n = &ps->nodes[node];
	long		s = 0;
	int			k;

	switch (n->kind)
	{
		case N_EMPTY:
			return 0;
		case N_CAT:
		case N_ALT:
			for (k = n->kid; k >= 0; k = ps->nodes[k].next)
			{
				s += prog_size(ps, k) + 2;
				if (s > RE_MAX_PROG)
					return RE_MAX_PROG + 1;
			}
			return s;
		case N_REPEAT:
			{
				long		body = prog_size(ps, n->kid) + 2;
				long		times = n->max == RE_INF ? n->min + 1 : n->max;

				if (body > RE_MAX_PROG || times > RE_MAX_PROG || body * times > RE_MAX_PROG)
					return RE_MAX_PROG + 1;
				return body * times;
			}
		default:
			return 1;
	}
}

static void
free_classes(re_class *cls, int n)
{
	for (int i = 0; i < n; i++)
		sm_free(cls[i].r);
	sm_free(cls);
}

sm_status
sm_tok_regex_compile(const char *pattern, size_t len, sm_tok_regex **out, sm_error *err)
{
	re_parser	ps;
	int			root;
	sm_tok_regex *re;
	re_emit		e;
	long		size = 0;

	*out = NULL;
	memset(&ps, 0, sizeof(ps));
	ps.p = (const uint8_t *) pattern;
	ps.len = len;
	ps.pattern = pattern;
	ps.err = err;
	root = parse_alt(&ps);
	if (root >= 0 && !at_end(&ps))
		root = fail_at(&ps, SM_ERR_INVALID, "unmatched close parenthesis");
	if (root >= 0 && (size = prog_size(&ps, root) + 1) > RE_MAX_PROG)
		root = fail_at(&ps, SM_ERR_UNSUPPORTED, "repetition counts this large");
	re = root >= 0 ? sm_alloc0(sizeof(*re)) : NULL;
	if (re != NULL)
		re->prog = sm_alloc_array((size_t) size, sizeof(re_inst));
	if (root >= 0 && (re == NULL || re->prog == NULL))
		root = fail_at(&ps, SM_ERR_NOMEM, "");
	if (root < 0)
	{
		if (re != NULL)
			sm_free(re->prog);
		sm_free(re);
		sm_free(ps.nodes);
		free_classes(ps.cls, ps.ncls);
		return err->code;
	}
	e.prog = re->prog;
	e.cap = (int) size;
	e.n = 0;
	e.over = false;
	gen(&ps, &e, root);
	emit(&e, OP_MATCH, 0, 0, 0);
	sm_free(ps.nodes);
	re->cls = ps.cls;
	re->ncls = ps.ncls;
	re->nprog = e.n;
	if (e.over)
	{
		sm_tok_regex_free(re);
		ps.failed = false;
		fail_at(&ps, SM_ERR_UNSUPPORTED, "repetition counts this large");
		return err->code;
	}
	*out = re;
	return SM_OK;
}

void
sm_tok_regex_free(sm_tok_regex *re)
{
	if (re == NULL)
		return;
	sm_free(re->prog);
	free_classes(re->cls, re->ncls);
	sm_free(re);
}

/* ---- matching ---- */

static bool
in_ranges(const sm_re_range *r, int n, uint32_t cp)
{
	int			lo = 0,
				hi = n - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;

		if (cp < r[mid].lo)
			hi = mid - 1;
		else if (cp > r[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

static bool
is_digit(uint32_t cp)
{
	if (cp < 0x80)
		return cp >= '0' && cp <= '9';
	return (sm_uni_flags(cp) & SM_UNI_N) && in_ranges(sm_re_nd, sm_re_nd_n, cp);
}

/*
 * Oniguruma's \w: Alphabetic | M | Nd | Pc.  Outside a class, Oniguruma
 * tests code points below 256 with its ISO 8859-1 ctype table, which also
 * counts the numbers ² ³ ¹ ¼ ½ ¾ (No) as word characters; inside one it
 * does not (both checked against HF's tokenizers).
 */
static bool
is_word(uint32_t cp, bool outside)
{
	if (cp < 0x80)
		return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') ||
			(cp >= 'A' && cp <= 'Z') || cp == '_';
	if (outside && (cp == 0xB2 || cp == 0xB3 || cp == 0xB9 || (cp >= 0xBC && cp <= 0xBE)))
		return true;
	if (sm_uni_flags(cp) & SM_UNI_L)
		return true;
	return cp < 0x110000 && in_ranges(sm_re_word, sm_re_word_n, cp);
}

static bool
class_match(const re_class *c, uint32_t cp)
{
	bool		in = false;
	unsigned	p = c->props;

	for (int i = 0; i < c->nr && !in; i++)
		in = cp >= c->r[i].lo && cp <= c->r[i].hi;
	if (!in && p != 0)
	{
		uint8_t		f = sm_uni_flags(cp);

		if (((p & P_S) && (f & SM_UNI_WS)) || ((p & P_NS) && !(f & SM_UNI_WS)) ||
			((p & P_L) && (f & SM_UNI_L)) || ((p & P_NL) && !(f & SM_UNI_L)) ||
			((p & P_N) && (f & SM_UNI_N)) || ((p & P_NN) && !(f & SM_UNI_N)))
			in = true;
		else if (((p & P_D) && is_digit(cp)) || ((p & P_ND) && !is_digit(cp)) ||
				 ((p & P_W) && is_word(cp, false)) || ((p & P_NW) && !is_word(cp, false)) ||
				 ((p & P_WO) && is_word(cp, true)) || ((p & P_NWO) && !is_word(cp, true)))
			in = true;
	}
	return in != c->neg;
}

typedef struct re_state
{
	const uint8_t *s;
	size_t		len;
	uint64_t   *visited;		/* nprog x (len + 1) bits */
	size_t		stride;			/* len + 1 */
	struct re_todo
	{
		int			pc;
		size_t		pos;
	}		   *stack;
	size_t		nstack,
				capstack;
	bool		nomem;
} re_state;

static bool
state_init(re_state *st, const sm_tok_regex *re, const uint8_t *s, size_t len)
{
	size_t		bits;

	memset(st, 0, sizeof(*st));
	st->s = s;
	st->len = len;
	st->stride = len + 1;
	if (len >= SIZE_MAX / 2 / (size_t) re->nprog)
		return false;
	bits = (size_t) re->nprog * st->stride;
	st->visited = sm_alloc0((bits + 63) / 64 * 8);
	return st->visited != NULL;
}

static void
state_free(re_state *st)
{
	sm_free(st->visited);
	sm_free(st->stack);
}

static bool
push(re_state *st, int pc, size_t pos)
{
	if (st->nstack == st->capstack)
	{
		size_t		cap = st->capstack ? st->capstack * 2 : 64;
		struct re_todo *ns = sm_alloc_array(cap, sizeof(struct re_todo));

		if (ns == NULL)
		{
			st->nomem = true;
			return false;
		}
		if (st->nstack)
			memcpy(ns, st->stack, st->nstack * sizeof(struct re_todo));
		sm_free(st->stack);
		st->stack = ns;
		st->capstack = cap;
	}
	st->stack[st->nstack].pc = pc;
	st->stack[st->nstack].pos = pos;
	st->nstack++;
	return true;
}

/* a match starting at start: true and *me */
static bool
run_at(const sm_tok_regex *re, re_state *st, size_t start, size_t *me)
{
	const uint8_t *s = st->s;
	size_t		len = st->len;

	st->nstack = 0;
	if (!push(st, 0, start))
		return false;
	while (st->nstack > 0)
	{
		int			pc;
		size_t		pos;

		st->nstack--;
		pc = st->stack[st->nstack].pc;
		pos = st->stack[st->nstack].pos;
		for (;;)
		{
			size_t		bit = (size_t) pc * st->stride + pos;
			const re_inst *in = &re->prog[pc];
			uint32_t	cp;
			int			n;

			if (st->visited[bit / 64] & ((uint64_t) 1 << (bit % 64)))
				break;
			st->visited[bit / 64] |= (uint64_t) 1 << (bit % 64);
			switch (in->op)
			{
				case OP_CHAR:
				case OP_SET:
				case OP_ANY:
					if (pos >= len)
						goto fail;
					n = sm_utf8_decode(s + pos, len - pos, &cp);
					if (in->op == OP_CHAR ? cp != in->c :
						in->op == OP_ANY ? cp == '\n' :
						!class_match(&re->cls[in->c], cp))
						goto fail;
					pos += (size_t) n;
					pc++;
					continue;
				case OP_BOL:
					if (pos == 0 || (s[pos - 1] == '\n' && pos < len))
					{
						pc++;
						continue;
					}
					goto fail;
				case OP_EOL:
					if (pos == len || s[pos] == '\n')
					{
						pc++;
						continue;
					}
					goto fail;
				case OP_BOS:
					if (pos == 0)
					{
						pc++;
						continue;
					}
					goto fail;
				case OP_EOS:
					if (pos == len)
					{
						pc++;
						continue;
					}
					goto fail;
				case OP_EOS_NL:
					if (pos == len || (pos + 1 == len && s[pos] == '\n'))
					{
						pc++;
						continue;
					}
					goto fail;
				case OP_SPLIT:
					if (!push(st, in->y, pos))
						return false;
					pc = in->x;
					continue;
				case OP_JMP:
					pc = in->x;
					continue;
				case OP_LOOP:
					{
						/*
						 * Back to the loop's head: if the head was tried at
						 * this offset, the iteration matched nothing, and
						 * Oniguruma's empty check leaves the loop.
						 */
						size_t		head = (size_t) in->x * st->stride + pos;

						if (st->visited[head / 64] & ((uint64_t) 1 << (head % 64)))
							pc = in->y;
						else
							pc = in->x;
						continue;
					}
				case OP_MATCH:
					*me = pos;
					return true;
			}
	fail:
			break;
		}
	}
	return false;
}

/*
 * After a match ending at me, the states at offset me may have been cut as
 * failures only because a state on the successful path (at offset me too)
 * was still being tried: forget them.  States at other offsets keep their
 * outcome (later searches start at or after me).
 */
static void
forget_column(const sm_tok_regex *re, re_state *st, size_t me)
{
	for (int pc = 0; pc < re->nprog; pc++)
	{
		size_t		bit = (size_t) pc * st->stride + me;

		st->visited[bit / 64] &= ~((uint64_t) 1 << (bit % 64));
	}
}

static bool
search_state(const sm_tok_regex *re, re_state *st, size_t from, size_t *ms, size_t *me)
{
	size_t		start = from;

	for (;;)
	{
		uint32_t	cp;

		if (run_at(re, st, start, me))
		{
			forget_column(re, st, *me);
			*ms = start;
			return true;
		}
		if (st->nomem || start >= st->len)
			return false;
		start += (size_t) sm_utf8_decode(st->s + start, st->len - start, &cp);
	}
}

bool
sm_tok_regex_search(const sm_tok_regex *re, const uint8_t *s, size_t len,
					size_t from, size_t *ms, size_t *me)
{
	re_state	st;
	bool		found;

	if (from > len || !state_init(&st, re, s, len))
		return false;
	found = search_state(re, &st, from, ms, me);
	state_free(&st);
	return found;
}

/*
 * Every match, as HF's find_iter: left to right, not overlapping, an empty
 * match right where the previous one ended skipped, none in an empty text.
 * Calls fn(ctx, ms, me) for each; false on no memory or when fn says stop.
 */
static bool
each_match(const sm_tok_regex *re, const uint8_t *s, size_t len,
		   bool (*fn) (void *ctx, size_t ms, size_t me), void *ctx)
{
	re_state	st;
	size_t		pos = 0,
				ms,
				me;
	bool		have_last = false,
				ok = true;
	size_t		last_end = 0;

	if (len == 0)
		return true;			/* HF never matches an empty text */
	if (!state_init(&st, re, s, len))
		return false;
	while (pos <= len && search_state(re, &st, pos, &ms, &me))
	{
		uint32_t	cp;

		if (ms == me && have_last && last_end == me)
		{
			/* an empty match where the previous one ended: skipped */
			if (me >= len)
				break;
			pos = me + (size_t) sm_utf8_decode(s + me, len - me, &cp);
			continue;
		}
		if (!fn(ctx, ms, me))
		{
			ok = false;
			break;
		}
		have_last = true;
		last_end = me;
		if (me > ms)
			pos = me;
		else if (me >= len)
			break;
		else
			pos = me + (size_t) sm_utf8_decode(s + me, len - me, &cp);
	}
	if (st.nomem)
		ok = false;
	state_free(&st);
	return ok;
}

typedef struct re_replace_ctx
{
	const uint8_t *s;
	size_t		copied;
	const char *content;
	size_t		clen;
	sm_buf	   *out;
} re_replace_ctx;

static bool
replace_one(void *ctx, size_t ms, size_t me)
{
	re_replace_ctx *c = ctx;

	sm_buf_append(c->out, c->s + c->copied, ms - c->copied);
	sm_buf_append(c->out, c->content, c->clen);
	c->copied = me;
	return !c->out->failed;
}

bool
sm_tok_regex_replace(const sm_tok_regex *re, const uint8_t *s, size_t len,
					 const char *content, size_t clen, sm_buf *out)
{
	re_replace_ctx c = {s, 0, content, clen, out};

	if (!each_match(re, s, len, replace_one, &c))
	{
		out->failed = true;
		return false;
	}
	sm_buf_append(out, s + c.copied, len - c.copied);
	return !out->failed;
}

typedef struct re_spans_ctx
{
	size_t	   *spans;
	size_t		n,
				cap;
} re_spans_ctx;

static bool
span_one(void *ctx, size_t ms, size_t me)
{
	re_spans_ctx *c = ctx;

	if (c->n == c->cap)
	{
		size_t		cap = c->cap ? c->cap * 2 : 16;
		size_t	   *ns = sm_alloc_array(cap, 2 * sizeof(size_t));

		if (ns == NULL)
			return false;
		if (c->n)
			memcpy(ns, c->spans, c->n * 2 * sizeof(size_t));
		sm_free(c->spans);
		c->spans = ns;
		c->cap = cap;
	}
	c->spans[2 * c->n] = ms;
	c->spans[2 * c->n + 1] = me;
	c->n++;
	return true;
}

bool
sm_tok_regex_find_all(const sm_tok_regex *re, const uint8_t *s, size_t len,
					  size_t **spans, size_t *n)
{
	re_spans_ctx c = {NULL, 0, 0};

	*spans = NULL;
	*n = 0;
	if (!each_match(re, s, len, span_one, &c))
	{
		sm_free(c.spans);
		return false;
	}
	*spans = c.spans;
	*n = c.n;
	return true;
}
