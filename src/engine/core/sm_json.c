/*
 * sm_json.c -- a small, strict JSON (RFC 8259) parser and string writer.
 *
 * The parser is a plain recursive descent over text[0..len).  The text is
 * untrusted (a safetensors header straight from a file, or a config from a
 * user) and is not NUL-terminated, so every read is checked against len and
 * recursion is bounded by SM_JSON_MAX_DEPTH rather than by the C stack.
 *
 * Ownership is simple: a node is attached to its parent as soon as it is
 * complete, and a container under construction always holds exactly `count`
 * valid children.  So on any failure the caller only has to free the node
 * it is building, and sm_json_free on the root releases everything.
 *
 * Strings are decoded in one pass into a buffer sized by the raw token:
 * no escape decodes to more bytes than it occupies in the source, so raw
 * length + 1 is always enough and we never need to grow it.
 *
 * Object keys are handed out as NUL-terminated C strings, so a key holding
 * \u0000 would silently read as a shorter key (and could shadow another
 * one); such keys are rejected.  Duplicate keys are rejected too, found by
 * a linear scan for small objects and a temporary hash table for large ones,
 * so that a header with very many tensors cannot make parsing quadratic.
 */
#include "sm_json.h"
#include "sm_utf8.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct json_parser
{
	const char *text;
	size_t		len;
	size_t		pos;
	int			depth;
	sm_error   *err;
} json_parser;

/* Objects with fewer keys than this are checked for duplicates linearly. */
#define JSON_KEYSET_MIN_KEYS 16

/* Longest part of a key quoted in an error message. */
#define JSON_MSG_KEY_LEN 64

typedef struct json_keyset
{
	size_t	   *slots;			/* index + 1 into the key array; 0 = empty */
	size_t		mask;			/* number of slots - 1 (a power of two) */
} json_keyset;

static sm_status parse_value(json_parser *p, sm_json **out);

/*
 * Report a syntax error at byte offset `at`.  The offset is what a user needs
 * to find the problem in a large header, so every syntax error carries one.
 */
static sm_status json_error(json_parser *p, size_t at, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

static sm_status
json_error(json_parser *p, size_t at, const char *fmt,...)
{
	char		msg[SM_MSG_LEN];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return sm_fail(p->err, SM_ERR_INVALID, "invalid JSON at byte %zu: %s",
				   at, msg);
}

static sm_status
json_nomem(json_parser *p)
{
	return sm_fail(p->err, SM_ERR_NOMEM, "out of memory");
}

/*
 * "expected X" at the current position; at the end of the input say so
 * instead, since a truncated document is by far the most common cause.
 */
static sm_status
json_expected(json_parser *p, const char *what)
{
	if (p->pos >= p->len)
		return json_error(p, p->pos, "unexpected end of input");
	return json_error(p, p->pos, "expected %s", what);
}

static void
skip_whitespace(json_parser *p)
{
	while (p->pos < p->len)
	{
		char		c = p->text[p->pos];

		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		p->pos++;
	}
}

static inline bool
is_digit(char c)
{
	/* not isdigit(): that depends on the locale */
	return c >= '0' && c <= '9';
}

static sm_json *
new_node(sm_json_type type)
{
	sm_json    *node = sm_alloc0(sizeof(sm_json));

	if (node != NULL)
		node->type = type;
	return node;
}

/*
 * Grow a container's arrays to twice their capacity.  keys is NULL for
 * arrays.  Both arrays are allocated before either is replaced, so a failure
 * leaves the container intact and freeable.
 */
static bool
grow_container(sm_json *node, size_t *cap, bool with_keys)
{
	size_t		newcap = (*cap == 0) ? 4 : *cap * 2;
	sm_json   **items;
	char	  **keys = NULL;

	if (newcap < *cap)
		return false;
	items = sm_alloc_array(newcap, sizeof(sm_json *));
	if (items == NULL)
		return false;
	if (with_keys)
	{
		keys = sm_alloc_array(newcap, sizeof(char *));
		if (keys == NULL)
		{
			sm_free(items);
			return false;
		}
	}
	if (node->count > 0)
	{
		memcpy(items, node->items, node->count * sizeof(sm_json *));
		if (with_keys)
			memcpy(keys, node->keys, node->count * sizeof(char *));
	}
	sm_free(node->items);
	node->items = items;
	if (with_keys)
	{
		sm_free(node->keys);
		node->keys = keys;
	}
	*cap = newcap;
	return true;
}

/* ---------------------------------------------------------------- strings */

/*
 * Length of the valid UTF-8 sequence starting at s (at most avail bytes), or
 * 0 if it is not one.  Only called for bytes >= 0x80.  The tight second-byte
 * ranges exclude overlong forms, UTF-16 surrogates (U+D800..U+DFFF) and code
 * points above U+10FFFF (RFC 3629, table 3-7 of the Unicode standard).
 */
static size_t
utf8_sequence_length(const unsigned char *s, size_t avail)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80;
	unsigned char hi = 0xBF;
	size_t		n;
	size_t		k;

	if (c >= 0xC2 && c <= 0xDF)
		n = 2;
	else if (c >= 0xE0 && c <= 0xEF)
	{
		n = 3;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	}
	else if (c >= 0xF0 && c <= 0xF4)
	{
		n = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	}
	else
		return 0;

	if (avail < n)
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (k = 2; k < n; k++)
		if ((s[k] & 0xC0) != 0x80)
			return 0;
	return n;
}


/*
 * Read the four hex digits of a \u escape whose backslash is at `at`.  `end`
 * is where the string's closing quote is (or len if it has none), so a
 * digit missing at `end` means either a short escape or a truncated input.
 */
static sm_status
read_hex4(json_parser *p, size_t at, size_t end, uint32_t *cp)
{
	uint32_t	v = 0;
	size_t		k;

	for (k = 0; k < 4; k++)
	{
		size_t		i = at + 2 + k;
		char		c;

		if (i >= end)
		{
			if (end >= p->len)
				return json_error(p, at, "unexpected end of input in \\u escape");
			return json_error(p, at, "invalid \\u escape");
		}
		c = p->text[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint32_t) (c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint32_t) (c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (uint32_t) (c - 'A' + 10);
		else
			return json_error(p, at, "invalid \\u escape");
	}
	*cp = v;
	return SM_OK;
}

/*
 * Parse the string token at p->pos (which is a '"') into a new NUL-terminated
 * buffer.  On success p->pos is just past the closing quote.
 */
static sm_status
parse_string(json_parser *p, char **out, size_t *out_len)
{
	const char *text = p->text;
	size_t		open = p->pos;
	size_t		start = open + 1;
	size_t		end = start;
	size_t		i;
	size_t		n = 0;
	char	   *buf;
	sm_status	st;

	*out = NULL;
	*out_len = 0;

	/*
	 * Find the closing quote first, only to size the buffer; validation is
	 * done while decoding, so that the first real error is the one reported.
	 */
	while (end < p->len && text[end] != '"')
		end += (text[end] == '\\') ? 2 : 1;
	if (end > p->len)
		end = p->len;

	buf = sm_alloc(end - start + 1);
	if (buf == NULL)
		return json_nomem(p);

	i = start;
	while (i < end)
	{
		unsigned char c = (unsigned char) text[i];

		if (c == '\\')
		{
			uint32_t	cp;

			/* the scan above guarantees this only at the end of the input */
			if (i + 1 >= end)
				break;
			switch (text[i + 1])
			{
				case '"':
					buf[n++] = '"';
					break;
				case '\\':
					buf[n++] = '\\';
					break;
				case '/':
					buf[n++] = '/';
					break;
				case 'b':
					buf[n++] = '\b';
					break;
				case 'f':
					buf[n++] = '\f';
					break;
				case 'n':
					buf[n++] = '\n';
					break;
				case 'r':
					buf[n++] = '\r';
					break;
				case 't':
					buf[n++] = '\t';
					break;
				case 'u':
					st = read_hex4(p, i, end, &cp);
					if (st != SM_OK)
						goto fail;
					if (cp >= 0xDC00 && cp <= 0xDFFF)
					{
						st = json_error(p, i, "unpaired low surrogate in \\u escape");
						goto fail;
					}
					if (cp >= 0xD800 && cp <= 0xDBFF)
					{
						uint32_t	low;

						if (i + 7 >= end || text[i + 6] != '\\' ||
							text[i + 7] != 'u')
						{
							st = json_error(p, i, "unpaired high surrogate in \\u escape");
							goto fail;
						}
						st = read_hex4(p, i + 6, end, &low);
						if (st != SM_OK)
							goto fail;
						if (low < 0xDC00 || low > 0xDFFF)
						{
							st = json_error(p, i, "unpaired high surrogate in \\u escape");
							goto fail;
						}
						cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
						i += 6;
					}
					n += (size_t) sm_utf8_encode(cp, (uint8_t *) buf + n);
					i += 4;
					break;
				default:
					st = json_error(p, i, "invalid escape sequence in string");
					goto fail;
			}
			i += 2;
		}
		else if (c < 0x20)
		{
			st = json_error(p, i, "unescaped control character in string");
			goto fail;
		}
		else if (c < 0x80)
			buf[n++] = text[i++];
		else
		{
			size_t		seq = utf8_sequence_length((const unsigned char *) text + i,
											   end - i);

			if (seq == 0)
			{
				st = json_error(p, i, "invalid UTF-8 in string");
				goto fail;
			}
			memcpy(buf + n, text + i, seq);
			n += seq;
			i += seq;
		}
	}

	if (end >= p->len)
	{
		st = json_error(p, open, "unterminated string");
		goto fail;
	}

	buf[n] = '\0';
	p->pos = end + 1;
	*out = buf;
	*out_len = n;
	return SM_OK;

fail:
	sm_free(buf);
	return st;
}

/* ---------------------------------------------------------------- numbers */

static sm_status
parse_number(json_parser *p, sm_json **out)
{
	const char *text = p->text;
	size_t		start = p->pos;
	size_t		i = start;
	bool		negative = false;
	bool		integral = true;
	bool		overflow = false;
	uint64_t	magnitude = 0;
	size_t		toklen;
	char		small[64];
	char	   *copy;
	char	   *endp;
	bool		converted;
	double		value;
	sm_json    *node;

	if (text[i] == '-')
	{
		negative = true;
		i++;
		if (i >= p->len || !is_digit(text[i]))
			return json_error(p, i, "invalid number: expected digit after '-'");
	}

	/*
	 * Accumulate the integer part exactly, since a double cannot hold every
	 * int64 and tensor offsets in safetensors headers must be exact.
	 */
	if (text[i] == '0')
	{
		i++;
		if (i < p->len && is_digit(text[i]))
			return json_error(p, start, "invalid number: leading zeros are not allowed");
	}
	else
	{
		while (i < p->len && is_digit(text[i]))
		{
			if (!overflow &&
				(sm_mul_overflow_u64(magnitude, 10, &magnitude) ||
				 sm_add_overflow_u64(magnitude, (uint64_t) (text[i] - '0'),
									 &magnitude)))
				overflow = true;
			i++;
		}
	}

	if (i < p->len && text[i] == '.')
	{
		integral = false;
		i++;
		if (i >= p->len || !is_digit(text[i]))
			return json_error(p, i, "invalid number: expected digit after '.'");
		while (i < p->len && is_digit(text[i]))
			i++;
	}

	if (i < p->len && (text[i] == 'e' || text[i] == 'E'))
	{
		integral = false;
		i++;
		if (i < p->len && (text[i] == '+' || text[i] == '-'))
			i++;
		if (i >= p->len || !is_digit(text[i]))
			return json_error(p, i, "invalid number: expected digit in exponent");
		while (i < p->len && is_digit(text[i]))
			i++;
	}

	/*
	 * strtod needs a NUL-terminated string and our text is not; copy the
	 * token, which the grammar above has already validated, so strtod sees
	 * nothing it could interpret differently (hex, "inf", locale aside: the
	 * backend always runs with LC_NUMERIC "C").
	 */
	toklen = i - start;
	if (toklen < sizeof(small))
		copy = small;
	else
	{
		copy = sm_alloc(toklen + 1);
		if (copy == NULL)
			return json_nomem(p);
	}
	memcpy(copy, text + start, toklen);
	copy[toklen] = '\0';
	value = strtod(copy, &endp);
	converted = (endp == copy + toklen);
	if (copy != small)
		sm_free(copy);
	if (!converted)
		return sm_fail(p->err, SM_ERR_INTERNAL,
					   "JSON number at byte %zu was not fully converted", start);
	if (!isfinite(value))
		return json_error(p, start, "number out of range");

	node = new_node(SM_JSON_NUMBER);
	if (node == NULL)
		return json_nomem(p);
	node->number = value;
	if (integral && !overflow)
	{
		if (!negative && magnitude <= (uint64_t) INT64_MAX)
		{
			node->is_integer = true;
			node->integer = (int64_t) magnitude;
		}
		else if (negative && magnitude <= (uint64_t) INT64_MAX + 1)
		{
			node->is_integer = true;
			/* negate in unsigned arithmetic so INT64_MIN does not overflow */
			node->integer = (magnitude == (uint64_t) INT64_MAX + 1) ?
				INT64_MIN : -(int64_t) magnitude;
		}
	}
	p->pos = i;
	*out = node;
	return SM_OK;
}

/* ---------------------------------------------------------------- objects */

/* FNV-1a with a murmur finaliser, so that the low bits used for the slot
 * depend on every bit of the key. */
static uint64_t
hash_key(const char *key)
{
	uint64_t	h = 0xcbf29ce484222325ULL;

	for (; *key; key++)
	{
		h ^= (unsigned char) *key;
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static bool
keyset_contains(const json_keyset *set, char **keys, size_t count,
				const char *key)
{
	size_t		i;

	if (set->slots == NULL)
	{
		for (i = 0; i < count; i++)
			if (strcmp(keys[i], key) == 0)
				return true;
		return false;
	}
	for (i = (size_t) hash_key(key) & set->mask; set->slots[i] != 0;
		 i = (i + 1) & set->mask)
		if (strcmp(keys[set->slots[i] - 1], key) == 0)
			return true;
	return false;
}

static void
keyset_insert(json_keyset *set, char **keys, size_t index)
{
	size_t		i = (size_t) hash_key(keys[index]) & set->mask;

	while (set->slots[i] != 0)
		i = (i + 1) & set->mask;
	set->slots[i] = index + 1;
}

/*
 * Record keys[count - 1], just appended.  Small objects need no table; once
 * one is needed it is kept at most half full, rebuilt at double size.
 */
static bool
keyset_note(json_keyset *set, char **keys, size_t count)
{
	size_t		nslots;
	size_t	   *slots;
	size_t		i;

	if (count < JSON_KEYSET_MIN_KEYS)
		return true;
	if (set->slots != NULL && count <= (set->mask + 1) / 2)
	{
		keyset_insert(set, keys, count - 1);
		return true;
	}

	nslots = (set->slots == NULL) ? 4 * JSON_KEYSET_MIN_KEYS : (set->mask + 1) * 2;
	if (nslots < count * 2)
		return false;			/* cannot happen short of size_t overflow */
	slots = sm_alloc_array(nslots, sizeof(size_t));
	if (slots == NULL)
		return false;
	memset(slots, 0, nslots * sizeof(size_t));
	sm_free(set->slots);
	set->slots = slots;
	set->mask = nslots - 1;
	for (i = 0; i < count; i++)
		keyset_insert(set, keys, i);
	return true;
}

/*
 * Append a key for an error message: at most JSON_MSG_KEY_LEN bytes, cut at a
 * UTF-8 character boundary, with control characters shown as '?' so that
 * the message stays printable.
 */
static void
quote_key_for_message(const char *key, char *out, size_t outsize)
{
	size_t		keylen = strlen(key);
	size_t		n = keylen;
	size_t		i;
	bool		cut = false;

	if (n > JSON_MSG_KEY_LEN)
	{
		n = JSON_MSG_KEY_LEN;
		while (n > 0 && ((unsigned char) key[n] & 0xC0) == 0x80)
			n--;
		cut = true;
	}
	if (n + 4 > outsize)
		n = 0;					/* caller's buffer is always big enough */
	for (i = 0; i < n; i++)
		out[i] = ((unsigned char) key[i] < 0x20) ? '?' : key[i];
	if (cut)
	{
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
}

static sm_status
parse_object(json_parser *p, sm_json **out)
{
	sm_json    *node;
	size_t		cap = 0;
	json_keyset set = {NULL, 0};
	sm_status	st;

	p->pos++;					/* '{' */
	if (++p->depth > SM_JSON_MAX_DEPTH)
		return sm_fail(p->err, SM_ERR_INVALID,
					   "invalid JSON: nesting deeper than %d levels",
					   SM_JSON_MAX_DEPTH);
	node = new_node(SM_JSON_OBJECT);
	if (node == NULL)
		return json_nomem(p);

	skip_whitespace(p);
	if (p->pos < p->len && p->text[p->pos] == '}')
	{
		p->pos++;
		goto done;
	}

	for (;;)
	{
		char	   *key;
		size_t		key_len;
		size_t		key_at;
		sm_json    *value;

		skip_whitespace(p);
		key_at = p->pos;
		if (p->pos >= p->len || p->text[p->pos] != '"')
		{
			st = json_expected(p, "string for object key");
			goto fail;
		}
		st = parse_string(p, &key, &key_len);
		if (st != SM_OK)
			goto fail;
		if (memchr(key, '\0', key_len) != NULL)
		{
			sm_free(key);
			st = json_error(p, key_at, "object key contains \\u0000");
			goto fail;
		}
		if (keyset_contains(&set, node->keys, node->count, key))
		{
			char		shown[JSON_MSG_KEY_LEN + 4];

			quote_key_for_message(key, shown, sizeof(shown));
			sm_free(key);
			st = json_error(p, key_at, "duplicate object key \"%s\"", shown);
			goto fail;
		}

		skip_whitespace(p);
		if (p->pos >= p->len || p->text[p->pos] != ':')
		{
			sm_free(key);
			st = json_expected(p, "':' after object key");
			goto fail;
		}
		p->pos++;

		st = parse_value(p, &value);
		if (st != SM_OK)
		{
			sm_free(key);
			goto fail;
		}
		if (node->count == cap && !grow_container(node, &cap, true))
		{
			sm_free(key);
			sm_json_free(value);
			st = json_nomem(p);
			goto fail;
		}
		node->keys[node->count] = key;
		node->items[node->count] = value;
		node->count++;
		if (!keyset_note(&set, node->keys, node->count))
		{
			st = json_nomem(p);
			goto fail;
		}

		skip_whitespace(p);
		if (p->pos < p->len && p->text[p->pos] == ',')
		{
			size_t		comma = p->pos;

			p->pos++;
			skip_whitespace(p);
			if (p->pos < p->len && p->text[p->pos] == '}')
			{
				st = json_error(p, comma, "trailing comma in object");
				goto fail;
			}
			continue;
		}
		if (p->pos < p->len && p->text[p->pos] == '}')
		{
			p->pos++;
			break;
		}
		st = json_expected(p, "',' or '}' after object member");
		goto fail;
	}

done:
	sm_free(set.slots);
	p->depth--;
	*out = node;
	return SM_OK;

fail:
	sm_free(set.slots);
	sm_json_free(node);
	return st;
}

/* ----------------------------------------------------------------- arrays */

static sm_status
parse_array(json_parser *p, sm_json **out)
{
	sm_json    *node;
	size_t		cap = 0;
	sm_status	st;

	p->pos++;					/* '[' */
	if (++p->depth > SM_JSON_MAX_DEPTH)
		return sm_fail(p->err, SM_ERR_INVALID,
					   "invalid JSON: nesting deeper than %d levels",
					   SM_JSON_MAX_DEPTH);
	node = new_node(SM_JSON_ARRAY);
	if (node == NULL)
		return json_nomem(p);

	skip_whitespace(p);
	if (p->pos < p->len && p->text[p->pos] == ']')
	{
		p->pos++;
		goto done;
	}

	for (;;)
	{
		sm_json    *value;

		st = parse_value(p, &value);
		if (st != SM_OK)
			goto fail;
		if (node->count == cap && !grow_container(node, &cap, false))
		{
			sm_json_free(value);
			st = json_nomem(p);
			goto fail;
		}
		node->items[node->count++] = value;

		skip_whitespace(p);
		if (p->pos < p->len && p->text[p->pos] == ',')
		{
			size_t		comma = p->pos;

			p->pos++;
			skip_whitespace(p);
			if (p->pos < p->len && p->text[p->pos] == ']')
			{
				st = json_error(p, comma, "trailing comma in array");
				goto fail;
			}
			continue;
		}
		if (p->pos < p->len && p->text[p->pos] == ']')
		{
			p->pos++;
			break;
		}
		st = json_expected(p, "',' or ']' after array element");
		goto fail;
	}

done:
	p->depth--;
	*out = node;
	return SM_OK;

fail:
	sm_json_free(node);
	return st;
}

/* ----------------------------------------------------------------- values */

static sm_status
parse_literal(json_parser *p, const char *word, sm_json_type type,
			  bool boolean, sm_json **out)
{
	size_t		n = strlen(word);
	sm_json    *node;

	if (p->len - p->pos < n || memcmp(p->text + p->pos, word, n) != 0)
		return json_error(p, p->pos, "invalid literal, expected \"%s\"", word);
	node = new_node(type);
	if (node == NULL)
		return json_nomem(p);
	node->boolean = boolean;
	p->pos += n;
	*out = node;
	return SM_OK;
}

/* Parse one value, after optional whitespace.  *out is NULL on failure. */
static sm_status
parse_value(json_parser *p, sm_json **out)
{
	char		c;

	*out = NULL;
	skip_whitespace(p);
	if (p->pos >= p->len)
		return json_error(p, p->pos, "unexpected end of input");

	c = p->text[p->pos];
	switch (c)
	{
		case '{':
			return parse_object(p, out);
		case '[':
			return parse_array(p, out);
		case '"':
			{
				char	   *s;
				size_t		n;
				sm_json    *node;
				sm_status	st = parse_string(p, &s, &n);

				if (st != SM_OK)
					return st;
				node = new_node(SM_JSON_STRING);
				if (node == NULL)
				{
					sm_free(s);
					return json_nomem(p);
				}
				node->string = s;
				node->string_len = n;
				*out = node;
				return SM_OK;
			}
		case 't':
			return parse_literal(p, "true", SM_JSON_BOOL, true, out);
		case 'f':
			return parse_literal(p, "false", SM_JSON_BOOL, false, out);
		case 'n':
			return parse_literal(p, "null", SM_JSON_NULL, false, out);
		default:
			if (c == '-' || is_digit(c))
				return parse_number(p, out);
			if (c > 0x20 && c < 0x7F)
				return json_error(p, p->pos, "expected JSON value, found \"%c\"", c);
			return json_error(p, p->pos, "expected JSON value, found byte 0x%02x",
							  (unsigned int) (unsigned char) c);
	}
}

sm_status
sm_json_parse(const char *text, size_t len, sm_json **out, sm_error *err)
{
	json_parser p;
	sm_error	scratch;
	sm_json    *root;
	sm_status	st;

	if (err == NULL)
		err = &scratch;
	if (out == NULL)
		return sm_fail(err, SM_ERR_INTERNAL, "sm_json_parse called without an output pointer");
	*out = NULL;
	if (text == NULL && len > 0)
		return sm_fail(err, SM_ERR_INTERNAL, "sm_json_parse called with NULL text");

	p.text = text;
	p.len = len;
	p.pos = 0;
	p.depth = 0;
	p.err = err;

	skip_whitespace(&p);
	if (p.pos >= p.len)
		return sm_fail(err, SM_ERR_INVALID, "invalid JSON: empty input");

	st = parse_value(&p, &root);
	if (st != SM_OK)
		return st;

	skip_whitespace(&p);
	if (p.pos < p.len)
	{
		sm_json_free(root);
		return json_error(&p, p.pos, "unexpected data after JSON value");
	}
	*out = root;
	return SM_OK;
}

/*
 * Recursion depth is bounded by SM_JSON_MAX_DEPTH, since only the parser
 * builds trees.
 */
void
sm_json_free(sm_json *json)
{
	size_t		i;

	if (json == NULL)
		return;
	for (i = 0; i < json->count; i++)
	{
		sm_json_free(json->items[i]);
		if (json->keys != NULL)
			sm_free(json->keys[i]);
	}
	sm_free(json->items);
	sm_free(json->keys);
	sm_free(json->string);
	sm_free(json);
}

const sm_json *
sm_json_get(const sm_json *obj, const char *key)
{
	size_t		i;

	if (obj == NULL || key == NULL || obj->type != SM_JSON_OBJECT)
		return NULL;
	for (i = 0; i < obj->count; i++)
		if (strcmp(obj->keys[i], key) == 0)
			return obj->items[i];
	return NULL;
}

const char *
sm_json_type_name(sm_json_type type)
{
	switch (type)
	{
		case SM_JSON_NULL:
			return "null";
		case SM_JSON_BOOL:
			return "boolean";
		case SM_JSON_NUMBER:
			return "number";
		case SM_JSON_STRING:
			return "string";
		case SM_JSON_ARRAY:
			return "array";
		case SM_JSON_OBJECT:
			return "object";
	}
	return "unknown";
}

/*
 * Bytes >= 0x80 are copied unchanged: the output is valid JSON exactly when
 * the input is valid UTF-8, which is the caller's business.  Runs of plain
 * bytes go out in one append to keep long strings cheap.
 */
void
sm_json_write_string(sm_buf *buf, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t		run = 0;
	size_t		i;

	sm_buf_append(buf, "\"", 1);
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];
		char		esc[6];
		size_t		esclen = 2;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;

		if (i > run)
			sm_buf_append(buf, s + run, i - run);
		run = i + 1;

		esc[0] = '\\';
		switch (c)
		{
			case '"':
				esc[1] = '"';
				break;
			case '\\':
				esc[1] = '\\';
				break;
			case '\b':
				esc[1] = 'b';
				break;
			case '\f':
				esc[1] = 'f';
				break;
			case '\n':
				esc[1] = 'n';
				break;
			case '\r':
				esc[1] = 'r';
				break;
			case '\t':
				esc[1] = 't';
				break;
			default:
				esc[1] = 'u';
				esc[2] = '0';
				esc[3] = '0';
				esc[4] = hex[c >> 4];
				esc[5] = hex[c & 0xF];
				esclen = 6;
				break;
		}
		sm_buf_append(buf, esc, esclen);
	}
	if (len > run)
		sm_buf_append(buf, s + run, len - run);
	sm_buf_append(buf, "\"", 1);
}
