/*
 * sm_utf8.h -- the UTF-8 codec the engine shares: the JSON parser's string
 * escapes and the tokenizers.  The decoder never reads past the end.
 */
#ifndef SM_UTF8_H
#define SM_UTF8_H

#include <stddef.h>
#include <stdint.h>

/*
 * An invalid UTF-8 byte b is decoded as the pseudo code point
 * SM_UNI_BAD_BYTE + b (outside Unicode), flags 0: one unit of one byte.
 */
#define SM_UNI_BAD_BYTE 0x110000u

/*
 * Decode one code point from s[0, len) (len >= 1) into *cp; returns its
 * length in bytes (1..4).  Overlong forms, surrogates, values above
 * U+10FFFF and truncated sequences give SM_UNI_BAD_BYTE + s[0], length 1.
 */
static inline int
sm_utf8_decode(const uint8_t *s, size_t len, uint32_t *cp)
{
	uint8_t		c = s[0];

	if (c < 0x80)
	{
		*cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF)
	{
		if (len >= 2 && (s[1] & 0xC0) == 0x80)
		{
			*cp = ((uint32_t) (c & 0x1F) << 6) | (s[1] & 0x3F);
			return 2;
		}
	}
	else if (c >= 0xE0 && c <= 0xEF)
	{
		if (len >= 3 && (s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80)
		{
			uint32_t	v = ((uint32_t) (c & 0x0F) << 12) | ((uint32_t) (s[1] & 0x3F) << 6) | (s[2] & 0x3F);

			if (v >= 0x800 && (v < 0xD800 || v > 0xDFFF))
			{
				*cp = v;
				return 3;
			}
		}
	}
	else if (c >= 0xF0 && c <= 0xF4)
	{
		if (len >= 4 && (s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80 && (s[3] & 0xC0) == 0x80)
		{
			uint32_t	v = ((uint32_t) (c & 0x07) << 18) | ((uint32_t) (s[1] & 0x3F) << 12) |
				((uint32_t) (s[2] & 0x3F) << 6) | (s[3] & 0x3F);

			if (v >= 0x10000 && v <= 0x10FFFF)
			{
				*cp = v;
				return 4;
			}
		}
	}
	*cp = SM_UNI_BAD_BYTE + c;
	return 1;
}

/* Encode cp (< 0x110000) as UTF-8 into out[4]; returns the length. */
static inline int
sm_utf8_encode(uint32_t cp, uint8_t *out)
{
	if (cp < 0x80)
	{
		out[0] = (uint8_t) cp;
		return 1;
	}
	if (cp < 0x800)
	{
		out[0] = (uint8_t) (0xC0 | (cp >> 6));
		out[1] = (uint8_t) (0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000)
	{
		out[0] = (uint8_t) (0xE0 | (cp >> 12));
		out[1] = (uint8_t) (0x80 | ((cp >> 6) & 0x3F));
		out[2] = (uint8_t) (0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (uint8_t) (0xF0 | (cp >> 18));
	out[1] = (uint8_t) (0x80 | ((cp >> 12) & 0x3F));
	out[2] = (uint8_t) (0x80 | ((cp >> 6) & 0x3F));
	out[3] = (uint8_t) (0x80 | (cp & 0x3F));
	return 4;
}

#endif
