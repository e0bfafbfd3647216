/*
 * query.c -- running a query a user passed to a batch function
 * (forecast_query, score_query): read-only, its rows streamed into the
 * caller's DestReceiver as the executor produces them (no SPI tuple table).
 */
#include "sm_pg.h"

#include "executor/spi.h"

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
