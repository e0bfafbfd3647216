/*
 * sm_tok_trie.c -- a byte trie for prefix lookups over a vocabulary
 * (SentencePiece's pieces in sm_tok_spm.c, Hugging Face's Unigram in
 * sm_tok_unigram.c).  Edges are (node, byte) keys in one open-addressing
 * table, so a step is one probe per byte and the trie is three arrays.
 */
#include "sm_tok_internal.h"

#include <string.h>

void
sm_tok_trie_free(sm_tok_trie *tr)
{
	sm_free(tr->val);
	sm_free(tr->keys);
	sm_free(tr->child);
	memset(tr, 0, sizeof(*tr));
}

bool
sm_tok_trie_build(sm_tok_trie *tr, const char *const *piece, const uint32_t *len, int n,
				  const bool *take, bool keep_last)
{
	uint64_t	total = 1;
	uint32_t	cap = 16;

	memset(tr, 0, sizeof(*tr));
	for (int k = 0; k < n; k++)
		if (take == NULL || take[k])
			total += len[k];
	while (cap < 2 * total)
		cap <<= 1;
	tr->val = sm_alloc_array(total, sizeof(int32_t));
	tr->keys = sm_alloc0((size_t) cap * sizeof(uint64_t));
	tr->child = sm_alloc_array(cap, sizeof(uint32_t));
	if (tr->val == NULL || tr->keys == NULL || tr->child == NULL)
	{
		sm_tok_trie_free(tr);
		return false;
	}
	tr->mask = cap - 1;
	tr->nnodes = 1;
	tr->val[0] = -1;
	for (int k = 0; k < n; k++)
	{
		uint32_t	node = 0;

		if (take != NULL && !take[k])
			continue;
		for (uint32_t j = 0; j < len[k]; j++)
		{
			uint64_t	key = ((uint64_t) node << 8 | (uint8_t) piece[k][j]) + 1;
			uint32_t	i;

			for (i = sm_tok_trie_slot(key, tr->mask); tr->keys[i] != 0 && tr->keys[i] != key; i = (i + 1) & tr->mask)
				;
			if (tr->keys[i] == 0)
			{
				tr->keys[i] = key;
				tr->child[i] = tr->nnodes;
				tr->val[tr->nnodes++] = -1;
			}
			node = tr->child[i];
		}
		if (keep_last || tr->val[node] < 0)
			tr->val[node] = k;
	}
	return true;
}

int32_t
sm_tok_trie_find(const sm_tok_trie *tr, const uint8_t *s, size_t len)
{
	int64_t		node = 0;

	for (size_t j = 0; j < len && node >= 0; j++)
		node = sm_tok_trie_next(tr, (uint32_t) node, s[j]);
	return node < 0 ? -1 : tr->val[node];
}
