/*
 * sm_arena.h -- one workspace block per engine call, sized up front and
 * carved (llm.c's pattern), instead of many small allocations with long
 * cleanup chains.  A device backend mirrors the same block.
 *
 * Use: run the carving code twice over one arena.  The first pass, with no
 * block yet (sm_arena_take returns NULL), only adds up the sizes; then
 * sm_arena_alloc allocates the sum once (through the hooks, so on the
 * calling thread) and rewinds; the second pass, making the same takes in
 * the same order, gets the real pointers.  Every piece is 64-byte aligned.
 * Overflowing sizes make sm_arena_alloc fail, as out of memory.
 */
#ifndef SM_ARENA_H
#define SM_ARENA_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sm_core.h"

typedef struct sm_arena
{
	char	   *base;			/* the block, 64-byte aligned; NULL while measuring */
	void	   *raw;			/* what sm_alloc returned */
	size_t		used;			/* bytes taken so far (measured, then carved) */
	size_t		size;			/* the block's size once allocated */
	bool		overflow;		/* a size did not fit in size_t */
} sm_arena;

#define SM_ARENA_ALIGN 64

/* n elements of `size` bytes (not zeroed): NULL while measuring */
static inline void *
sm_arena_take(sm_arena *a, size_t n, size_t size)
{
	size_t		bytes;
	void	   *p;

	if (__builtin_mul_overflow(n, size, &bytes) ||
		__builtin_add_overflow(bytes, (size_t) SM_ARENA_ALIGN - 1, &bytes))
	{
		a->overflow = true;
		return NULL;
	}
	bytes &= ~(size_t) (SM_ARENA_ALIGN - 1);
	if (a->base == NULL)
	{
		/* measuring */
		if (__builtin_add_overflow(a->used, bytes, &a->used))
			a->overflow = true;
		return NULL;
	}
	if (bytes > a->size - a->used)
		return NULL;			/* more than was measured: a bug in the caller */
	p = a->base + a->used;
	a->used += bytes;
	return p;
}

/* a size in kB or MB for messages */
static inline void
sm_arena_size_text(size_t bytes, char *buf, size_t len)
{
	if (bytes >= (size_t) 10 << 20)
		snprintf(buf, len, "%zu MB", (bytes + (1 << 20) - 1) >> 20);
	else
		snprintf(buf, len, "%zu kB", (bytes + 1023) >> 10);
}

/*
 * After the measuring pass: allocate what it added up, and rewind.  More
 * than the work limit (sm_set_work_limit) is SM_ERR_LIMIT, before anything
 * is allocated, saying what the call needed.
 */
static inline sm_status
sm_arena_alloc(sm_arena *a, const char *what, sm_error *err)
{
	size_t		limit = sm_work_limit();

	if (limit > 0 && (a->overflow || a->used > limit))
	{
		char		need[32],
					have[32];

		sm_arena_size_text(a->used, need, sizeof(need));
		sm_arena_size_text(limit, have, sizeof(have));
		sm_fail(err, SM_ERR_LIMIT, "%s needs %s%s of workspace, more than the limit of %s",
				what, a->overflow ? "more than " : "", a->overflow ? have : need, have);
		sm_detail(err, "The workspace grows with the batch (rows times steps) and the model's width.");
		if (sm_work_limit_hint())
			sm_hint(err, "%s", sm_work_limit_hint());
		return err->code;
	}
	if (a->overflow || a->used > SIZE_MAX - SM_ARENA_ALIGN ||
		(a->raw = sm_alloc(a->used + SM_ARENA_ALIGN)) == NULL)
	{
		sm_fail(err, SM_ERR_NOMEM, "out of memory for %s", what);
		if (!a->overflow)
			sm_detail(err, "It needs %zu MB of workspace.", a->used >> 20);
		return err->code;
	}
	a->base = (char *) (((uintptr_t) a->raw + SM_ARENA_ALIGN - 1) & ~(uintptr_t) (SM_ARENA_ALIGN - 1));
	a->size = a->used;
	a->used = 0;
	return SM_OK;
}

static inline void
sm_arena_free(sm_arena *a)
{
	sm_free(a->raw);
	memset(a, 0, sizeof(*a));
}

#endif
