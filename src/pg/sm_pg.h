/*
 * sm_pg.h -- what the glue files share.  The glue maps SQL to the engine:
 * it owns everything PostgreSQL (memory contexts, SPI, ereport, interrupts)
 * and nothing numeric.
 */
#ifndef SM_PG_H
#define SM_PG_H

#include "postgres.h"

#include "fmgr.h"
#include "utils/array.h"
#include "portability/instr_time.h"
#include "utils/guc.h"

#include "core/sm_core.h"
#include "core/sm_model.h"
#include "ops/sm_ops.h"

/* tensors are stored in rows of at most this many bytes (a multiple of 8) */
#define SM_CHUNK_BYTES (4 * 1024 * 1024)

/* GUCs (seqmodel.c) */
extern int	sm_cache_size_kb;
extern int	sm_threads;
extern int	sm_max_horizon;
extern bool sm_progress;
extern int	sm_progress_interval;
extern int	sm_truncation;
extern int	sm_cpu_kernels;
extern int	sm_work_mem_kb;
/*
 * Rows a call buffers (forecast_query, backtest, state_update,
 * forecast_agg) count against seqmodel.work_mem: a batch runs once it holds
 * half of it, and one series may take the other half (bytes); past that,
 * sm_pg_series_too_long raises 54000 (key NULL: forecast_agg's history).
 */
int64		sm_pg_buffer_limit(void);
/* a buffer's next capacity (in items): doubled, but not past `most` (what the
 * limit lets it hold), and at least `need` */
int64		sm_pg_buffer_grow(int64 cap, int64 need, int64 most);
void		sm_pg_series_too_long(const char *key, int64 steps) pg_attribute_noreturn();

/* an enum setting's value as its name (seqmodel.c); the first name for an unknown value */
const char *sm_pg_enum_name(const struct config_enum_entry *options, int v);
/* seqmodel.cpu_kernels (compute.c) */
enum
{
	SM_PG_KERNELS_AUTO,
	SM_PG_KERNELS_AVX512,
	SM_PG_KERNELS_AVX2,
	SM_PG_KERNELS_GENERIC,
	SM_PG_KERNELS_BLAS
};
extern const struct config_enum_entry sm_cpu_kernels_options[];
bool		sm_cpu_kernels_check(int *newval, void **extra, GucSource source);
void		sm_cpu_kernels_assign(int newval, void *extra);
/* seqmodel.device and the CUDA module (device.c) */
enum
{
	SM_PG_DEVICE_AUTO,
	SM_PG_DEVICE_CPU,
	SM_PG_DEVICE_CUDA
};
extern int	sm_device;
extern int	sm_gpu_cache_size_mb;
extern int	sm_gpu_precision;
extern int	sm_gpu_max_backends;
extern int	sm_gpu_wait_timeout_ms;
extern char *sm_device_module;
extern const struct config_enum_entry sm_device_options[];
extern const struct config_enum_entry sm_gpu_precision_options[];
/* before an engine call: the CPU or the GPU, as seqmodel.device says (ERROR for an unusable "cuda") */
void		sm_pg_device_select(void);
void		sm_gpu_cache_size_assign(int newval, void *extra);
void		sm_gpu_precision_assign(int newval, void *extra);
/* products the GPU failed: ERROR under "cuda", NOTICE under "auto" (SM_PG_CHECK calls it) */
extern uint64 sm_pg_device_failures_seen;
void		sm_pg_device_report(void);
/* the engine's abort hook: a failed product under "cuda" stops the pass */
bool		sm_pg_device_should_stop(void);
void		sm_pg_device_describe(char *buf, size_t len);
#define SM_TRUNCATION_ERROR 0
#define SM_TRUNCATION_TRUNCATE 1

/* engine_hooks.c */
void		sm_pg_install_hooks(void);

/*
 * helper.c: one engine call on a helper thread while the backend goes on
 * (forecast_query's batches).  fn runs detached (sm_detach_begin): it must
 * not touch PostgreSQL.  start returns false when the slot is taken or no
 * thread could be made (run fn yourself then); wait collects the result
 * (answering interrupts meanwhile); stop cancels and joins (for PG_FINALLY:
 * never raises); quiesce waits for any call in flight, leaving its result
 * to its owner: every other engine entry of the glue calls it first
 * (quietly, without answering interrupts, from assign hooks).
 */
typedef sm_status (*sm_pg_helper_fn) (void *arg, sm_error *err);
bool		sm_pg_helper_start(const void *owner, sm_pg_helper_fn fn, void *arg);
sm_status	sm_pg_helper_wait(const void *owner, sm_error *err);
bool		sm_pg_helper_busy(const void *owner);
void		sm_pg_helper_stop(const void *owner);
void		sm_pg_helper_quiesce(void);
void		sm_pg_helper_quiesce_quietly(void);
/* ereport(ERROR) an engine error, mapping its status to a SQLSTATE. */
void		sm_pg_raise(const sm_error *err) pg_attribute_noreturn();
/* report products the GPU failed since the last look, if any (device.c) */
static inline void
sm_pg_device_check(void)
{
	if (sm_ops_device_failures() != sm_pg_device_failures_seen)
		sm_pg_device_report();
}
/* sm_pg_raise unless rc is SM_OK; then report products the GPU failed, if any */
#define SM_PG_CHECK(rc, err) \
	do { \
		if ((rc) != SM_OK) \
			sm_pg_raise(err); \
		sm_pg_device_check(); \
	} while (0)

/* catalog.c: reading and writing seqmodel.model / seqmodel.tensor via SPI */
typedef struct sm_model_row
{
	char	   *arch;
	char	   *config;			/* jsonb as text */
	char	   *metadata;		/* jsonb as text, or NULL */
	int64		version;
} sm_model_row;

/* Prepare a query once per backend and keep the plan in *slot. */
struct _SPI_plan;
struct _SPI_plan *sm_catalog_plan(struct _SPI_plan **slot, const char *query,
								  int nargs, Oid *argtypes);
/* Run a kept query whose one parameter is a model name; errors unless
 * SPI_execute_plan returns expect; returns SPI_processed. */
uint64		sm_catalog_exec_by_name(struct _SPI_plan **slot, const char *query,
									const char *name, bool read_only, int expect);
/* Delete a model (its tensors cascade); false if there was none. */
bool		sm_catalog_delete_model(const char *name);
/* Fetch the model row; false if there is none (SPI must be connected). */
bool		sm_catalog_model_row(const char *name, sm_model_row *row);
/* The tokenizer.json of a model's tokenizer (in the SPI context), or NULL
 * when it has none (SPI connected). */
char	   *sm_catalog_tokenizer(const char *name);
/* ... and of its separate target tokenizer (encoder-decoder models), or
 * NULL when the one tokenizer serves both sides or there is none. */
char	   *sm_catalog_target_tokenizer(const char *name);
/* The model's version, or -1 if it does not exist (SPI connected). */
int64		sm_catalog_version(const char *name);
/* float32 bytes the model will need once loaded (SPI connected). */
/* Build the engine model from the tensor rows (SPI connected; allocations
 * go to CurrentMemoryContext). */
sm_model   *sm_catalog_load(const char *name, const sm_model_row *row,
							 void (*before_data) (const char *name, Size f32_bytes));
/*
 * The shared cache (shared_cache.c): one copy of a model per cluster, with
 * seqmodel in shared_preload_libraries and seqmodel.shared_cache_size > 0.
 */
extern int	sm_shared_cache_size_mb;
extern bool sm_use_shared_cache;	/* seqmodel.shared_cache (per session) */
typedef const sm_model *(*sm_shared_loader) (const char *name, const sm_model_row *row);
void		sm_shared_cache_init(void);	/* _PG_init: the GUC, and the shmem hooks when preloading */
bool		sm_shared_cache_enabled(void);	/* there is one, and this session uses it */
/* the shared copy at this version, pinned for the transaction, or NULL */
const sm_model *sm_shared_find(const char *name, int64 version, int *slot, uint64 *gen);
/* build it into the area (bytes: sm_shared_count_end of a local build), or NULL: no room */
const sm_model *sm_shared_publish(const char *name, const sm_model_row *row, Size bytes,
								  sm_shared_loader load, int *slot, uint64 *gen);
/* pin a copy found before for this transaction; false if it went (load again) */
bool		sm_shared_pin(int slot, uint64 gen, const sm_model **model);
/* a dropped model's copies: no longer found, freed when nothing reads them */
void		sm_shared_forget(const char *name);
/* the owner of the copy's packed weights (sm_ops_forget drops this backend's GPU copies) */
uint64		sm_shared_owner(int slot, uint64 gen);
/* count the engine's allocations of a local build, to size its shared block */
void		sm_shared_count_begin(void);
Size		sm_shared_count_end(void);
/* engine_hooks.c: allocation into a block being built; memory inside the area */
void	   *sm_shared_bump_alloc(size_t size, bool *handled);
bool		sm_shared_owns(const void *ptr);

/* ERROR for a model the caller cannot see: 42501 naming its owner if it
 * exists (row-level security hides it), else 42704.  Connects SPI itself. */
void		sm_catalog_unknown_model(const char *name) pg_attribute_noreturn();
/* Whether the model exists (past row-level security) and its owner
 * (InvalidOid before 0.5.0).  Connects SPI itself. */
bool		sm_catalog_model_owner(const char *name, Oid *owner);
/* Whether the current role may replace, drop or grant a model of this owner. */
bool		sm_catalog_may_manage(Oid owner);
/* The model's owner; 42704 if there is no such model, 42501 unless the
 * current role may manage it ("... superusers may <action>.").  Connects SPI itself. */
Oid			sm_catalog_require_owner(const char *name, const char *action);

/* cache.c */
/* The loaded model of that name, current as of this statement. */
const sm_model *sm_cache_get(const char *name);
/* the same, not counted as a use (a caller that looks before it calls sm_cache_get) */
const sm_model *sm_cache_peek(const char *name);
/*
 * Keep a cached model alive while other cache calls may happen (a query run
 * by forecast_query can use other models): a pinned model is never evicted,
 * and if it is dropped or replaced meanwhile it is freed at the unpin.
 * Unpin in PG_FINALLY.
 */
void	   *sm_cache_pin(const char *name);
void		sm_cache_unpin(void *pin);
/* The cached models with weights on the device, as a JSON array of {"model", "bytes"}. */
char	   *sm_cache_device_models(const sm_device_api *dev);
/* The catalog version of the model sm_cache_get returned (it must be cached). */
int64		sm_cache_version(const char *name);
/* Forget a model (after this backend imported or dropped it). */
void		sm_cache_forget(const char *name);
/* The tokenizer of a model, current as of this statement (loaded with the
 * model and kept in the same cache entry); errors when it has none.
 * count_hit: count this as a use of the model (false when the caller has
 * just fetched the model itself with sm_cache_get). */
struct sm_tokenizer;
const struct sm_tokenizer *sm_cache_tokenizer(const char *name, bool count_hit);
/* The target-side tokenizer of an encoder-decoder model (its separate target
 * tokenizer, or the one tokenizer when it has none), kept in the same entry;
 * not counted as a use (callers fetch the model or its source side too). */
const struct sm_tokenizer *sm_cache_target_tokenizer(const char *name);

/* arrays.c */
/* A 1-D or 2-D real[] as a row-major matrix (1-D: one row); errors on
 * empty, NULL and non-finite elements, naming the position. */
float	   *sm_pg_real_matrix(ArrayType *arr, const char *argname, int *ndim,
							  int *rows, int *cols);
ArrayType  *sm_pg_real_array(const float *data, int ndim, int rows, int cols);
/* A 1-D integer[] of token ids (no NULLs, not empty); *n its length. */
int32	   *sm_pg_int_array(ArrayType *arr, const char *argname, int *n);
/* error if a model output is NaN or infinite */
void		sm_pg_check_output(const char *model, const float *y, size_t n);

/* forecast.c: seqmodel.predict for numeric sequence models (rnn, lstm, gru, numeric transformer) */
Datum		sm_predict_sequence(const char *name, ArrayType *input);

/* query.c: run a user's query read-only into dest (SPI not connected);
 * shape says in messages what rows it should return */
struct _DestReceiver;
void		sm_pg_run_query(const char *fn, const char *query, struct _DestReceiver *dest,
							const char *shape);
/* a (key, text) query's columns checked (shape: what fn's query should
 * return, for messages); kout the key's output function, *bpchar when the
 * text is char(n) */
struct TupleDescData;
struct TupleTableSlot;
void		sm_pg_key_text_columns(struct TupleDescData *desc, const char *fn, const char *shape,
								   FmgrInfo *kout, bool *bpchar);
/* seqmodel.progress's NOTICE for fn (the caller checks sm_progress): rows
 * done since start and their rate, at most every seqmodel.progress_interval
 * seconds since *last_report (updated), or now when final */
void		sm_pg_progress(const char *fn, uint64 rows, instr_time start, instr_time *last_report,
						   bool final);
/* one row: *key its key as text (NULL for NULL); false when its text is
 * NULL, else the text in s [len] (char(n) without its padding) */
bool		sm_pg_key_text_row(struct TupleTableSlot *slot, FmgrInfo *kout, bool bpchar, char **key,
							   char **s, int *len);

/* text -> C string in CurrentMemoryContext, erroring on NULL */
char	   *sm_pg_text_arg(FunctionCallInfo fcinfo, int argno, const char *argname);

#endif							/* SM_PG_H */
