/*
 * sm_core.c -- errors, hooks and the byte buffer shared by the engine.
 *
 * The hooks default to malloc/free so the engine runs standalone (unit tests,
 * benchmarks); the PostgreSQL glue installs palloc-based ones at load time.
 */
#include "sm_core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *
default_alloc(size_t size)
{
	return malloc(size);
}

static void
default_free(void *ptr)
{
	free(ptr);
}

static bool
default_should_abort(void)
{
	return false;
}

static sm_hooks hooks = {default_alloc, default_free, default_should_abort, NULL};

/* the stop flag of this thread's detached call, or NULL (sm_detach_begin) */
static __thread const volatile int *detached_stop = NULL;

void
sm_detach_begin(const volatile int *stop)
{
	detached_stop = stop;
}

void
sm_detach_end(void)
{
	detached_stop = NULL;
}

void
sm_set_hooks(const sm_hooks *h)
{
	if (h == NULL)
	{
		hooks.alloc = default_alloc;
		hooks.free = default_free;
		hooks.should_abort = default_should_abort;
		hooks.report = NULL;
		return;
	}
	hooks = *h;
	if (hooks.should_abort == NULL)
		hooks.should_abort = default_should_abort;
}

void *
sm_alloc(size_t size)
{
	if (detached_stop != NULL)
		return malloc(size == 0 ? 1 : size);
	return hooks.alloc(size == 0 ? 1 : size);
}

void *
sm_alloc0(size_t size)
{
	void	   *p = sm_alloc(size);

	if (p != NULL)
		memset(p, 0, size == 0 ? 1 : size);
	return p;
}

void *
sm_alloc_array(size_t n, size_t size)
{
	size_t		total;

	if (__builtin_mul_overflow(n, size, &total))
		return NULL;
	return sm_alloc(total);
}

void
sm_free(void *ptr)
{
	if (ptr == NULL)
		return;
	if (detached_stop != NULL)
		free(ptr);
	else
		hooks.free(ptr);
}

bool
sm_should_abort(void)
{
	if (detached_stop != NULL)
		return *detached_stop != 0;
	return hooks.should_abort();
}

static size_t work_limit = 0;
static const char *work_hint = NULL;

void
sm_set_work_limit(size_t bytes, const char *hint)
{
	work_limit = bytes;
	work_hint = hint;
}

size_t
sm_work_limit(void)
{
	return work_limit;
}

const char *
sm_work_limit_hint(void)
{
	return work_hint;
}

char *
sm_strndup(const char *s, size_t n)
{
	char	   *p = sm_alloc(n + 1);

	if (p == NULL)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void
sm_error_clear(sm_error *err)
{
	err->code = SM_OK;
	err->message[0] = '\0';
	err->detail[0] = '\0';
	err->hint[0] = '\0';
}

sm_status
sm_fail(sm_error *err, sm_status code, const char *fmt,...)
{
	va_list		ap;

	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	err->detail[0] = '\0';
	err->hint[0] = '\0';
	return code;
}

void
sm_detail(sm_error *err, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
	va_end(ap);
}

void
sm_hint(sm_error *err, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(err->hint, sizeof(err->hint), fmt, ap);
	va_end(ap);
}

void
sm_buf_init(sm_buf *buf)
{
	buf->data = NULL;
	buf->len = 0;
	buf->cap = 0;
	buf->failed = false;
}

bool
sm_buf_reserve(sm_buf *buf, size_t extra)
{
	size_t		need;
	size_t		cap;
	char	   *data;

	if (buf->failed || __builtin_add_overflow(buf->len, extra + 1, &need))
	{
		buf->failed = true;
		return false;
	}
	if (need <= buf->cap)
		return true;
	cap = buf->cap ? buf->cap : 64;
	while (cap < need)
	{
		if (cap > SIZE_MAX / 2)
		{
			cap = need;
			break;
		}
		cap *= 2;
	}
	data = sm_alloc(cap);
	if (data == NULL)
	{
		buf->failed = true;
		return false;
	}
	if (buf->len > 0)
		memcpy(data, buf->data, buf->len);
	sm_free(buf->data);
	buf->data = data;
	buf->cap = cap;
	return true;
}

void
sm_buf_append(sm_buf *buf, const void *data, size_t len)
{
	if (!sm_buf_reserve(buf, len))
		return;
	if (len > 0)
		memcpy(buf->data + buf->len, data, len);
	buf->len += len;
	buf->data[buf->len] = '\0';
}

void
sm_buf_appendf(sm_buf *buf, const char *fmt,...)
{
	va_list		ap;
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !sm_buf_reserve(buf, (size_t) n))
	{
		buf->failed = true;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(buf->data + buf->len, (size_t) n + 1, fmt, ap);
	va_end(ap);
	buf->len += (size_t) n;
}

void
sm_buf_free(sm_buf *buf)
{
	sm_free(buf->data);
	sm_buf_init(buf);
}
