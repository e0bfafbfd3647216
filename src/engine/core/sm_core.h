/*
 * sm_core.h -- what every part of the seqmodel engine shares: status codes,
 * the error record, the hooks through which the outside world (the
 * PostgreSQL glue, or a unit test) provides allocation and interrupts, and a
 * growable byte buffer.
 *
 * The engine never includes postgres.h.  It never exits, aborts or prints:
 * every fallible function returns an sm_status and, on failure, fills an
 * sm_error that the caller turns into whatever its world uses (the glue maps
 * the status to a SQLSTATE and calls ereport).
 */
#ifndef SM_CORE_H
#define SM_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum sm_status
{
	SM_OK = 0,
	SM_ERR_INVALID,		/* bad argument or config: 22023 */
	SM_ERR_CORRUPT,		/* malformed binary input (safetensors): 22P03 */
	SM_ERR_NULL,		/* NULL where a value is required: 22004 */
	SM_ERR_LIMIT,		/* a size limit was exceeded: 54000 */
	SM_ERR_RANGE,		/* a result is not finite: 22003 */
	SM_ERR_UNSUPPORTED, /* valid but not supported: 0A000 */
	SM_ERR_NOMEM,		/* allocation failed: 53200 */
	SM_ERR_ABORTED,		/* should_abort() said stop */
	SM_ERR_INTERNAL		/* a bug: XX000 */
} sm_status;

#define SM_MSG_LEN 256
#define SM_DETAIL_LEN 1024

typedef struct sm_error
{
	sm_status	code;
	char		message[SM_MSG_LEN];	/* lower case, no trailing period */
	char		detail[SM_DETAIL_LEN];	/* full sentences, or empty */
	char		hint[SM_MSG_LEN];		/* full sentences, or empty */
} sm_error;

/* Sets code and message, clears detail and hint; returns code. */
sm_status	sm_fail(sm_error *err, sm_status code, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));
/* Set the detail / hint of an error already failed with sm_fail. */
void		sm_detail(sm_error *err, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));
void		sm_hint(sm_error *err, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));
void		sm_error_clear(sm_error *err);

/*
 * Hooks.  alloc returns NULL on failure (never longjmps); should_abort is
 * polled at least once per layer, time step and generated token; report is
 * for debug messages only and may be NULL.  Hooks are process-global and set
 * once; they must not be called from BLAS or other helper threads.
 */
typedef struct sm_hooks
{
	void	   *(*alloc) (size_t size);
	void		(*free) (void *ptr);
	bool		(*should_abort) (void);
	void		(*report) (const char *msg);
} sm_hooks;

void		sm_set_hooks(const sm_hooks *hooks);	/* NULL restores malloc/free */

/*
 * Detached calls: an engine call made on a thread of the host's own (the
 * glue runs a batch on one while the backend reads the next batch's rows).
 * Between sm_detach_begin and sm_detach_end, on the thread that called
 * sm_detach_begin only, allocation is malloc / free instead of the hooks,
 * should_abort is *stop != 0 (the host sets it to cancel the call), and
 * nothing is reported.  What is allocated while detached must be freed
 * while detached: an engine call does both (its results go to buffers the
 * host allocated before).  The engine's settings (threads, kernel set), its
 * product pool and the model are shared, so the host makes no other engine
 * call until the detached one has returned.
 */
void		sm_detach_begin(const volatile int *stop);
void		sm_detach_end(void);

/*
 * The most workspace one engine call may take (sm_arena.h), 0 for no limit;
 * a call needing more fails with SM_ERR_LIMIT saying how much it needed,
 * with hint (the glue's words for raising the limit) as its hint.
 */
void		sm_set_work_limit(size_t bytes, const char *hint);
size_t		sm_work_limit(void);
const char *sm_work_limit_hint(void);
void	   *sm_alloc(size_t size);		/* NULL on failure or size 0 overflow */
void	   *sm_alloc0(size_t size);		/* zeroed */
void	   *sm_alloc_array(size_t n, size_t size);	/* NULL on overflow */
void		sm_free(void *ptr);			/* NULL is fine */
bool		sm_should_abort(void);
char	   *sm_strndup(const char *s, size_t n);

/*
 * Threads the engine may use for one call (BLAS and the engine's own batch
 * parallelism); 1 by default.  Set by the glue from seqmodel.threads.
 */
void		sm_set_threads(int n);
int			sm_get_threads(void);

/* Checked arithmetic for sizes that come from untrusted input. */
static inline bool
sm_mul_overflow_u64(uint64_t a, uint64_t b, uint64_t *out)
{
	return __builtin_mul_overflow(a, b, out);
}

static inline bool
sm_add_overflow_u64(uint64_t a, uint64_t b, uint64_t *out)
{
	return __builtin_add_overflow(a, b, out);
}

/* A growable byte buffer (allocated through the hooks). */
typedef struct sm_buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
	bool		failed;			/* an allocation failed; contents are incomplete */
} sm_buf;

void		sm_buf_init(sm_buf *buf);
void		sm_buf_append(sm_buf *buf, const void *data, size_t len);
/* room for extra more bytes (and a NUL) after len; false (and failed) on no memory */
bool		sm_buf_reserve(sm_buf *buf, size_t extra);
void		sm_buf_appendf(sm_buf *buf, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));
void		sm_buf_free(sm_buf *buf);

#endif							/* SM_CORE_H */
