/*
 * series_time.c -- the times of a forecast's series: a series' time column
 * read row by row, its frequency inferred from the history or checked
 * against a given one, and the times of the steps ahead.
 *
 * A series is regular when its k-th time (from 0) is first + k * freq,
 * computed with PostgreSQL's own arithmetic (timestamp + interval for
 * timestamp, timestamptz + interval in the session's TimeZone for
 * timestamptz, date + interval for date, integer multiplication for
 * integers).  Anchoring every step at the first time, not at the previous
 * one, keeps month ends: from 2024-01-31 at '1 month' the times are
 * 02-29, 03-31, 04-30, as PostgreSQL's '2024-01-31'::date + k * '1 month'.
 *
 * One exception for whole months: a series whose first time is the last
 * day of a month may instead step from month end to month end (2023-11-30,
 * 12-31, 2024-01-31, 02-29, where anchoring would give 12-30, 01-30): the
 * step k is then (first + 1 day) + k * freq - 1 day.
 *
 * Inference: the first two times allow up to four frequencies, in order
 * of preference: whole months (the months between their year and month
 * fields), the same months from month end to month end, whole days
 * (calendar days: in the TimeZone for timestamptz), and the exact
 * difference (timestamps: microseconds; integers: the difference).  Each
 * must give the second time from the first; every later row drops the
 * ones it contradicts, and the series gets the first left standing.  So
 * monthly and quarterly series come out as '1 mon', '3 mons', yearly as
 * '1 year', daily timestamptz across a daylight-saving change as '1 day'
 * (23 or 25 hours that day), and hourly ones as '01:00:00'.  A given freq
 * of whole months from a month end keeps both of its readings until a
 * row rules one out; a series of one such row is anchored.
 */
#include "sm_time.h"

#include "catalog/pg_type.h"
#include "common/int.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

sm_time_kind
sm_time_kind_of(Oid type)
{
	switch (type)
	{
		case TIMESTAMPTZOID:
			return SM_TIME_TIMESTAMPTZ;
		case TIMESTAMPOID:
			return SM_TIME_TIMESTAMP;
		case DATEOID:
			return SM_TIME_DATE;
		case INT8OID:
			return SM_TIME_BIGINT;
	}
	return SM_TIME_NONE;
}

Oid
sm_time_type(sm_time_kind kind)
{
	switch (kind)
	{
		case SM_TIME_TIMESTAMPTZ:
			return TIMESTAMPTZOID;
		case SM_TIME_TIMESTAMP:
			return TIMESTAMPOID;
		case SM_TIME_DATE:
			return DATEOID;
		case SM_TIME_BIGINT:
			return INT8OID;
		case SM_TIME_NONE:
			break;
	}
	return InvalidOid;
}

/* ------------------------------------------------------------ text forms */

static char *
time_text(sm_time_kind kind, Datum t)
{
	switch (kind)
	{
		case SM_TIME_TIMESTAMPTZ:
			return DatumGetCString(DirectFunctionCall1(timestamptz_out, t));
		case SM_TIME_TIMESTAMP:
			return DatumGetCString(DirectFunctionCall1(timestamp_out, t));
		case SM_TIME_DATE:
			return DatumGetCString(DirectFunctionCall1(date_out, t));
		default:
			return psprintf(INT64_FORMAT, DatumGetInt64(t));
	}
}

static char *
freq_text(sm_time_kind kind, const sm_freq *f)
{
	char	   *iv;

	if (kind == SM_TIME_BIGINT)
		return psprintf(INT64_FORMAT, f->n);
	iv = DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(&f->iv)));
	return f->month_end ? psprintf("%s (month ends)", iv) : iv;
}

/* "series "k"" or "history" (the table forms' one series), for messages */
static char *
subject(const char *key)
{
	return key ? psprintf("series \"%s\"", key) : pstrdup("history");
}

/* ------------------------------------------------------------ arithmetic */

/* a time as int64 (timestamps: microseconds; dates: days) and back */
static int64
time_value(sm_time_kind kind, Datum t)
{
	return kind == SM_TIME_DATE ? (int64) DatumGetDateADT(t) : DatumGetInt64(t);
}

static Datum
time_datum(sm_time_kind kind, int64 v)
{
	return kind == SM_TIME_DATE ? DateADTGetDatum((DateADT) v) : Int64GetDatum(v);
}

/* t + span (an Interval Datum), with PostgreSQL's arithmetic for the kind */
static Datum
add_span(sm_time_kind kind, Datum t, Datum span)
{
	switch (kind)
	{
		case SM_TIME_TIMESTAMPTZ:
			return DirectFunctionCall2(timestamptz_pl_interval, t, span);
		case SM_TIME_TIMESTAMP:
			return DirectFunctionCall2(timestamp_pl_interval, t, span);
		default:
			/* date + interval is a timestamp; whole days and months keep midnight */
			return DirectFunctionCall1(timestamp_date,
									   DirectFunctionCall2(date_pl_interval, t, span));
	}
}

/* t + days calendar days */
static Datum
add_days(sm_time_kind kind, Datum t, int days)
{
	Interval	iv = {0};

	iv.day = days;
	return add_span(kind, t, IntervalPGetDatum(&iv));
}

/* first + k * f, with PostgreSQL's arithmetic (errors if out of range) */
static Datum
time_plus(sm_time_kind kind, Datum first, const sm_freq *f, int64 k)
{
	Datum		span;

	if (kind == SM_TIME_BIGINT)
	{
		int64		d,
					t;

		if (pg_mul_s64_overflow(f->n, k, &d) || pg_add_s64_overflow(DatumGetInt64(first), d, &t))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("bigint out of range")));
		return Int64GetDatum(t);
	}
	span = k == 1 ? IntervalPGetDatum(&f->iv)
		: DirectFunctionCall2(interval_mul, IntervalPGetDatum(&f->iv), Float8GetDatum((float8) k));
	if (f->month_end)
		return add_days(kind, add_span(kind, add_days(kind, first, 1), span), -1);
	return add_span(kind, first, span);
}

Datum
sm_time_ahead(const sm_series_time *st, int64 k)
{
	return time_plus(st->kind, time_datum(st->kind, st->first), &st->freq, st->len - 1 + k);
}

/* ------------------------------------------------------------ the reader */

void
sm_time_init(sm_time_reader *r, sm_time_kind kind, const char *fn, const sm_freq *freq)
{
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->fn = fn;
	if (freq == NULL)
		return;
	r->given = true;
	r->freq = *freq;
	if (kind == SM_TIME_BIGINT)
	{
		if (freq->n < 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("freq must be at least 1, not " INT64_FORMAT, freq->n)));
		return;
	}
	if (freq->iv.month < 0 || freq->iv.day < 0 || freq->iv.time < 0 ||
		(freq->iv.month == 0 && freq->iv.day == 0 && freq->iv.time == 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("freq must be a positive interval, not \"%s\"", freq_text(kind, freq)),
				 errdetail("Its months, days and time must each be zero or more, and not all zero.")));
	if (kind == SM_TIME_DATE && freq->iv.time != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("freq of date times must be whole days, months or years, not \"%s\"",
						freq_text(kind, freq)),
				 errhint("For times within a day use timestamp or timestamptz times.")));
}

void
sm_time_check_column(const sm_time_reader *r, Oid type, int colno)
{
	if (r->kind == SM_TIME_BIGINT ? (type == INT2OID || type == INT4OID || type == INT8OID)
		: type == sm_time_type(r->kind))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("column %d of the query of %s must be %s, not %s", colno, r->fn,
					r->kind == SM_TIME_BIGINT ? "an integer" : format_type_be(sm_time_type(r->kind)),
					format_type_be(type)),
			 errhint("Use the function for the column's type (forecast_query_timestamptz, forecast_query_timestamp, forecast_query_date or forecast_query_bigint), or cast the column.")));
}

Datum
sm_time_from_column(const sm_time_reader *r, Oid type, Datum d)
{
	switch (type)
	{
		case INT2OID:
			return Int64GetDatum((int64) DatumGetInt16(d));
		case INT4OID:
			return Int64GetDatum((int64) DatumGetInt32(d));
	}
	return d;
}

void
sm_time_begin(sm_time_reader *r)
{
	r->n = 0;
	r->ncand = 0;
}

/*
 * year * 12 + month - 1, the Julian day and the day of the month of a time
 * (in the TimeZone for timestamptz)
 */
static void
time_fields(sm_time_kind kind, Datum t, int *months, int *jday, int *mday)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tz;

	if (kind == SM_TIME_DATE)
		j2date(DatumGetDateADT(t) + POSTGRES_EPOCH_JDATE, &tm.tm_year, &tm.tm_mon, &tm.tm_mday);
	else if (timestamp2tm(DatumGetTimestamp(t), kind == SM_TIME_TIMESTAMPTZ ? &tz : NULL,
						  &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	*months = tm.tm_year * 12 + tm.tm_mon - 1;
	*jday = date2j(tm.tm_year, tm.tm_mon, tm.tm_mday);
	*mday = tm.tm_mday;
}

/* is t on the last day of its month? */
static bool
month_end(sm_time_kind kind, Datum t)
{
	int			months,
				jday,
				mday;

	time_fields(kind, add_days(kind, t, 1), &months, &jday, &mday);
	return mday == 1;
}

/* start the candidates at the series' first time: a given freq's readings */
static void
given_candidates(sm_time_reader *r)
{
	r->cand[0] = r->freq;
	r->alive[0] = true;
	r->ncand = 1;
	if (r->kind != SM_TIME_BIGINT && r->freq.iv.month > 0 && r->freq.iv.day == 0 &&
		r->freq.iv.time == 0 && month_end(r->kind, time_datum(r->kind, r->first)))
	{
		r->cand[1] = r->freq;
		r->cand[1].month_end = true;
		r->alive[1] = true;
		r->ncand = 2;
	}
}

/* the frequencies the first two times allow, in order of preference */
static void
candidates(sm_time_reader *r, Datum t1)
{
	sm_time_kind kind = r->kind;
	Datum		t0 = time_datum(kind, r->first);
	sm_freq		c[SM_FREQ_CANDIDATES];
	int			n = 0;

	memset(c, 0, sizeof(c));
	if (kind == SM_TIME_BIGINT)
	{
		int64		d;

		if (pg_sub_s64_overflow(DatumGetInt64(t1), DatumGetInt64(t0), &d))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("bigint out of range")));
		c[n++].n = d;
	}
	else
	{
		int			m0,
					m1,
					j0,
					j1,
					d0,
					d1;

		time_fields(kind, t0, &m0, &j0, &d0);
		time_fields(kind, t1, &m1, &j1, &d1);
		if (m1 > m0)
		{
			c[n++].iv.month = m1 - m0;
			if (month_end(kind, t0))
			{
				c[n].iv.month = m1 - m0;
				c[n++].month_end = true;
			}
		}
		if (j1 > j0)
			c[n++].iv.day = j1 - j0;
		if (kind != SM_TIME_DATE)
			c[n++].iv.time = DatumGetTimestamp(t1) - DatumGetTimestamp(t0);
	}
	/* keep those that give the second time */
	r->ncand = 0;
	for (int i = 0; i < n; i++)
		if (time_value(kind, time_plus(kind, t0, &c[i], 1)) == time_value(kind, t1))
		{
			/* a whole number of days is the same step as its microseconds for timestamp */
			if (kind == SM_TIME_TIMESTAMP && c[i].iv.time != 0 && r->ncand > 0 &&
				r->cand[r->ncand - 1].iv.day != 0)
				continue;
			r->cand[r->ncand] = c[i];
			r->alive[r->ncand] = true;
			r->ncand++;
		}
	if (r->ncand == 0)			/* cannot happen: the exact difference always fits */
		elog(ERROR, "no frequency fits times %s and %s", time_text(kind, t0), time_text(kind, t1));
}

void
sm_time_add(sm_time_reader *r, Datum t, const char *key)
{
	sm_time_kind kind = r->kind;
	int64		v = time_value(kind, t);

	if ((kind == SM_TIME_DATE && DATE_NOT_FINITE(DatumGetDateADT(t))) ||
		((kind == SM_TIME_TIMESTAMP || kind == SM_TIME_TIMESTAMPTZ) &&
		 TIMESTAMP_NOT_FINITE(DatumGetTimestamp(t))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time of %s at step " INT64_FORMAT " is not finite", subject(key), r->n + 1)));
	if (r->n == 0)
	{
		r->first = r->prev = v;
		r->n = 1;
		if (r->given)
			given_candidates(r);
		return;
	}
	if (v <= r->prev)
	{
		if (v == r->prev)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("%s has time %s twice", subject(key), time_text(kind, t)),
					 errhint("A series has one row per time: aggregate the duplicates first.")));
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("times of %s are out of order: %s follows %s", subject(key),
						time_text(kind, t), time_text(kind, time_datum(kind, r->prev))),
				 errhint("Order the rows by series key, then by time.")));
	}
	if (r->n == 1 && !r->given)
		candidates(r, t);
	else
	{
		int			left = 0,
					died = -1;

		for (int i = 0; i < r->ncand; i++)
			if (r->alive[i])
			{
				if (time_value(kind, time_plus(kind, time_datum(kind, r->first), &r->cand[i], r->n)) != v)
				{
					r->alive[i] = false;
					if (died < 0)
						died = i;
				}
				else
					left++;
			}
		if (left == 0)
		{
			Datum		want = time_plus(kind, time_datum(kind, r->first), &r->cand[died], r->n);

			if (r->given)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("%s does not follow freq \"%s\": %s follows %s", subject(key),
								freq_text(kind, &r->freq), time_text(kind, t), time_text(kind, time_datum(kind, r->prev))),
						 errdetail("From its first time %s, step " INT64_FORMAT " at freq %s is %s.",
								   time_text(kind, time_datum(kind, r->first)), r->n + 1,
								   freq_text(kind, &r->cand[died]), time_text(kind, want)),
						 errhint("Pass the series' own freq (or NULL to infer it), or fill in the missing steps.")));
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("%s is not regular: %s follows %s", subject(key),
							time_text(kind, t), time_text(kind, time_datum(kind, r->prev))),
					 errdetail("Its first times step by %s, so step " INT64_FORMAT " would be %s.",
							   freq_text(kind, &r->cand[died]), r->n + 1, time_text(kind, want)),
					 errhint("A forecast needs one row per step at a regular frequency: fill in the missing steps or aggregate the rows to a regular frequency.")));
		}
	}
	r->prev = v;
	r->n++;
}

void
sm_time_end(sm_time_reader *r, const char *key, sm_series_time *out)
{
	out->kind = r->kind;
	out->first = r->first;
	out->len = r->n;
	if (r->n < 2 && !r->given)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s has one row, so its frequency cannot be inferred", subject(key)),
				 errhint("Pass freq.")));
	else
	{
		for (int i = 0; i < r->ncand; i++)
			if (r->alive[i])
			{
				out->freq = r->cand[i];
				return;
			}
		elog(ERROR, "no frequency left for %s", subject(key));
	}
}
