/*
 * sm_archs.c -- the arch registry: every architecture the engine knows, by
 * the name a model's row gives (sm_model.h declares the lookups).
 */
#include "core/sm_model.h"

#include <stdio.h>
#include <string.h>

#include "sm_linear.h"
#include "sm_rnn.h"
#include "sm_seq2seq.h"
#include "sm_tfm.h"
#include "sm_tfm_s2s.h"

static const sm_arch *const archs[] = {
	&sm_arch_linear,
	&sm_arch_rnn,
	&sm_arch_lstm,
	&sm_arch_gru,
	&sm_arch_transformer,
	&sm_arch_gpt2,
	&sm_arch_bert,
	&sm_arch_rnn_seq2seq,
	&sm_arch_transformer_seq2seq,
	&sm_arch_marian,
	&sm_arch_bart,
};

#define N_ARCHS (sizeof(archs) / sizeof(archs[0]))

const sm_arch *
sm_arch_find(const char *name)
{
	for (size_t i = 0; i < N_ARCHS; i++)
		if (strcmp(archs[i]->name, name) == 0)
			return archs[i];
	return NULL;
}

const char *
sm_arch_names(void)
{
	static char names[256];

	if (names[0] == '\0')
	{
		size_t		len = 0;

		for (size_t i = 0; i < N_ARCHS && len < sizeof(names); i++)
			len += (size_t) snprintf(names + len, sizeof(names) - len, "%s%s",
									 i ? ", " : "", archs[i]->name);
	}
	return names;
}

