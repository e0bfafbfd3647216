/*
 * sm_pool.h -- threads inside one product, for work that is a single tile
 * (one short text, one series, a batch too small to split into tiles).
 *
 * A persistent pool: workers start on first use in a backend (never in the
 * postmaster: nothing runs a product there) and stay.  Between jobs they
 * spin briefly, then sleep, so back-to-back products of a forward pass hand
 * off in microseconds.  Workers block every signal and never call the
 * hooks; the calling thread takes part and returns when every item is done.
 * Items must write disjoint outputs, so results do not depend on the
 * thread count.
 */
#ifndef SM_POOL_H
#define SM_POOL_H

/* fn(ctx, i) for i in [0, n) on up to `threads` threads (the caller one of them) */
void		sm_pool_run(int threads, int n, void (*fn) (void *ctx, int i), void *ctx);

#endif
