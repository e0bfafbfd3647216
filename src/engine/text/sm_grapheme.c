/*
 * sm_grapheme.c -- extended grapheme cluster boundaries (UAX #29 of
 * Unicode 15.0), as the Rust unicode-segmentation crate's graphemes(true):
 * Hugging Face's Precompiled normalizer looks clusters up whole.
 *
 * The rules are applied pair by pair, walking forward from the cluster's
 * start; the only context beyond the previous class is GB11's emoji state
 * (Extended_Pictographic Extend* ZWJ seen) and GB12/GB13's count of
 * regional indicators in a row.
 *
 * Not implemented: GB9c (Indic conjunct break, Unicode 15.1) needs the
 * InCB property, which Debian's 15.0 data does not have.  It joins
 * consonant + virama (+ ZWJ) to a following consonant, a cluster of 9
 * bytes or more; the Precompiled normalizer looks up only clusters under 6
 * bytes whole and maps longer ones code point by code point, and without
 * GB9c the pieces are the consonant + virama (6 bytes or more: by code
 * point too) and single consonants (whole = by code point).  The one
 * difference: a consonant + a two-byte mark (U+0300..U+07FF) after the
 * split is a 5-byte piece looked up whole, which matters only if a
 * charsmap had that pair as a key.
 */
#include "sm_unicode.h"

/* an invalid or truncated byte: breaks on both sides, like Control */
#define SM_GB_BAD	SM_GB_CONTROL

static sm_gb_class
gb_class(uint32_t cp)
{
	int			lo = 0,
				hi = sm_gb_nranges - 1;

	if (cp >= SM_UNI_BAD_BYTE)
		return SM_GB_BAD;
	/* Hangul syllables: LV every 28th code point (no final consonant) */
	if (cp >= 0xAC00 && cp <= 0xD7A3)
		return (cp - 0xAC00) % 28 == 0 ? SM_GB_LV : SM_GB_LVT;
	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;

		if (cp < sm_gb_ranges[mid].first)
			hi = mid - 1;
		else if (cp > sm_gb_ranges[mid].last)
			lo = mid + 1;
		else
			return (sm_gb_class) sm_gb_ranges[mid].cls;
	}
	return SM_GB_OTHER;
}

/* no boundary between prev and cur (rules GB3 .. GB13; GB999 breaks) */
static bool
gb_joins(sm_gb_class prev, sm_gb_class cur, bool pict_zwj, int ri_run)
{
	if (prev == SM_GB_CR && cur == SM_GB_LF)
		return true;			/* GB3 */
	if (prev == SM_GB_CR || prev == SM_GB_LF || prev == SM_GB_CONTROL ||
		cur == SM_GB_CR || cur == SM_GB_LF || cur == SM_GB_CONTROL)
		return false;			/* GB4, GB5 */
	switch (prev)				/* GB6 .. GB8: Hangul syllable sequences */
	{
		case SM_GB_L:
			if (cur == SM_GB_L || cur == SM_GB_V || cur == SM_GB_LV || cur == SM_GB_LVT)
				return true;
			break;
		case SM_GB_LV:
		case SM_GB_V:
			if (cur == SM_GB_V || cur == SM_GB_T)
				return true;
			break;
		case SM_GB_LVT:
		case SM_GB_T:
			if (cur == SM_GB_T)
				return true;
			break;
		default:
			break;
	}
	if (cur == SM_GB_EXTEND || cur == SM_GB_ZWJ || cur == SM_GB_SPACINGMARK)
		return true;			/* GB9, GB9a */
	if (prev == SM_GB_PREPEND)
		return true;			/* GB9b */
	if (cur == SM_GB_EXTPICT && pict_zwj)
		return true;			/* GB11: prev is the ZWJ */
	if (cur == SM_GB_RI && prev == SM_GB_RI)
		return ri_run % 2 == 1; /* GB12, GB13: pairs from the run's start */
	return false;				/* GB999 */
}

size_t
sm_uni_grapheme_end(const uint8_t *s, size_t len, size_t i)
{
	uint32_t	cp;
	sm_gb_class prev;
	int			pict = 0;		/* GB11: 1 after ExtPict Extend*, 2 after its ZWJ */
	int			ri_run = 0;		/* regional indicators in a row, ending at prev */

	/*
	 * Fast path: printable ASCII is Other, and no ASCII byte joins it (ASCII
	 * has no Extend, ZWJ or SpacingMark), so it is a cluster of one byte
	 * unless a non-ASCII byte follows (a combining mark, say).  CR is not
	 * printable: CR LF goes the long way.
	 */
	if (s[i] >= 0x20 && s[i] < 0x7F && (i + 1 == len || s[i + 1] < 0x80))
		return i + 1;

	i += (size_t) sm_utf8_decode(s + i, len - i, &cp);
	prev = gb_class(cp);
	if (prev == SM_GB_EXTPICT)
		pict = 1;
	else if (prev == SM_GB_RI)
		ri_run = 1;
	while (i < len)
	{
		int			n = sm_utf8_decode(s + i, len - i, &cp);
		sm_gb_class cur = gb_class(cp);

		if (!gb_joins(prev, cur, pict == 2, ri_run))
			break;
		i += (size_t) n;
		if (cur == SM_GB_EXTPICT)
			pict = 1;
		else if (pict == 1 && cur == SM_GB_EXTEND)
			pict = 1;
		else if (pict == 1 && cur == SM_GB_ZWJ)
			pict = 2;
		else
			pict = 0;
		ri_run = cur == SM_GB_RI ? ri_run + 1 : 0;
		prev = cur;
	}
	return i;
}
