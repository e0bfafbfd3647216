/*
 * sm_unicode.c -- mapping lookups over the generated tables (see
 * sm_unicode.h and gen_unicode_tables.py).
 */
#include "sm_unicode.h"

/* Hangul syllables: Unicode's algorithmic decomposition (chapter 3.12) */
#define HANGUL_S_BASE 0xAC00
#define HANGUL_L_BASE 0x1100
#define HANGUL_V_BASE 0x1161
#define HANGUL_T_BASE 0x11A7
#define HANGUL_T_COUNT 28
#define HANGUL_N_COUNT 588
#define HANGUL_S_COUNT 11172

const sm_uni_special *
sm_uni_lookup(uint32_t cp)
{
	int			lo = 0,
				hi = sm_uni_nspecials - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) >> 1;
		uint32_t	c = sm_uni_specials[mid].cp;

		if (c == cp)
			return &sm_uni_specials[mid];
		if (c < cp)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

int
sm_uni_decompose(uint32_t cp, uint32_t *out)
{
	const sm_uni_special *sp;

	if (cp - HANGUL_S_BASE < HANGUL_S_COUNT)
	{
		uint32_t	s = cp - HANGUL_S_BASE;
		uint32_t	t = s % HANGUL_T_COUNT;

		out[0] = HANGUL_L_BASE + s / HANGUL_N_COUNT;
		out[1] = HANGUL_V_BASE + (s % HANGUL_N_COUNT) / HANGUL_T_COUNT;
		if (t == 0)
			return 2;
		out[2] = HANGUL_T_BASE + t;
		return 3;
	}
	if ((sm_uni_flags(cp) & SM_UNI_MAP) && (sp = sm_uni_lookup(cp)) != NULL && sp->ndecomp > 0)
	{
		for (int i = 0; i < sp->ndecomp && i < SM_UNI_MAX_DECOMP; i++)
			out[i] = sm_uni_pool[sp->off + sp->nlower + i];
		return sp->ndecomp < SM_UNI_MAX_DECOMP ? sp->ndecomp : SM_UNI_MAX_DECOMP;
	}
	out[0] = cp;
	return 1;
}

uint8_t
sm_uni_ccc(uint32_t cp)
{
	const sm_uni_special *sp;

	if (!(sm_uni_flags(cp) & SM_UNI_MAP) || (sp = sm_uni_lookup(cp)) == NULL)
		return 0;
	return sp->ccc;
}

int
sm_uni_lower(uint32_t cp, uint32_t *out)
{
	const sm_uni_special *sp;

	if (cp < 0x80)
	{
		out[0] = (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
		return 1;
	}
	if ((sm_uni_flags(cp) & SM_UNI_MAP) && (sp = sm_uni_lookup(cp)) != NULL && sp->nlower > 0)
	{
		int			n = sp->nlower < 3 ? sp->nlower : 3;

		for (int i = 0; i < n; i++)
			out[i] = sm_uni_pool[sp->off + i];
		return n;
	}
	out[0] = cp;
	return 1;
}
