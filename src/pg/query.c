/*
 * query.c -- running a query a user passed to a batch function
 * (forecast_query, score_query, translate_query): read-only, its rows
 * streamed into the caller's DestReceiver as the executor produces them (no
 * SPI tuple table); and the (key, text) rows score_query and
 * translate_query read.
 */
#include "sm_pg.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

void
sm_pg_run_query(const char *fn, const char *query, DestReceiver *dest, const char *shape)
{
	SPIPlanPtr	plan;
	SPIExecuteOptions options;
	int			rc;

	SPI_connect();
	plan = SPI_prepare(query, 0, NULL);
	if (plan == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("could not prepare the query of %s: %s", fn, SPI_result_code_string(SPI_result))));
	if (!SPI_is_cursor_plan(plan))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the query of %s must return rows", fn),
				 errdetail("It should return %s.", shape)));
	memset(&options, 0, sizeof(options));
	options.read_only = true;
	options.dest = dest;
	rc = SPI_execute_plan_extended(plan, &options);
	if (rc < 0)
		elog(ERROR, "the query of %s failed: %s", fn, SPI_result_code_string(rc));
	SPI_finish();
}

void
sm_pg_key_text_columns(TupleDesc desc, const char *fn, const char *shape, FmgrInfo *kout,
					   bool *bpchar)
{
	Oid			ttype;
	bool		isvarlena;

	if (desc->natts != 2)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the query of %s must return 2 columns, not %d", fn, desc->natts),
				 errdetail("It should return %s.", shape)));
	ttype = TupleDescAttr(desc, 1)->atttypid;
	if (ttype != TEXTOID && ttype != VARCHAROID && ttype != BPCHAROID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column 2 of the query of %s must be text, not %s", fn, format_type_be(ttype)),
				 errhint("Cast it: SELECT key, column::text ...")));
	*bpchar = ttype == BPCHAROID;
	getTypeOutputInfo(TupleDescAttr(desc, 0)->atttypid, &kout->fn_oid, &isvarlena);
	fmgr_info(kout->fn_oid, kout);
}

bool
sm_pg_key_text_row(TupleTableSlot *slot, FmgrInfo *kout, bool bpchar, char **key, char **s, int *len)
{
	text	   *t;

	slot_getallattrs(slot);
	*key = slot->tts_isnull[0] ? NULL : OutputFunctionCall(kout, slot->tts_values[0]);
	if (slot->tts_isnull[1])
		return false;
	t = DatumGetTextPP(slot->tts_values[1]);
	*s = VARDATA_ANY(t);
	*len = VARSIZE_ANY_EXHDR(t);
	/* char(n) compares and prints without its padding: read it so */
	if (bpchar)
		while (*len > 0 && (*s)[*len - 1] == ' ')
			(*len)--;
	return true;
}

void
sm_pg_progress(const char *fn, uint64 rows, instr_time start, instr_time *last_report, bool final)
{
	instr_time	now,
				since,
				total;

	INSTR_TIME_SET_CURRENT(now);
	since = now;
	INSTR_TIME_SUBTRACT(since, *last_report);
	if (!final && INSTR_TIME_GET_DOUBLE(since) < sm_progress_interval)
		return;
	total = now;
	INSTR_TIME_SUBTRACT(total, start);
	ereport(NOTICE,
			(errmsg("%s: %llu rows done%s", fn, (unsigned long long) rows, final ? ", finished" : ""),
			 errdetail("%.1f s, %.0f rows per second.", INSTR_TIME_GET_DOUBLE(total),
					   rows / Max(INSTR_TIME_GET_DOUBLE(total), 1e-9))));
	*last_report = now;
}
