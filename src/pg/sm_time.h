/*
 * sm_time.h -- the times of a forecast's series (series_time.c): reading a
 * series' time column, inferring or checking its frequency, and the times
 * of the steps ahead.  Glue only: all calendar arithmetic is PostgreSQL's
 * own (timestamp_pl_interval, timestamptz_pl_interval, date_pl_interval).
 */
#ifndef SM_TIME_H
#define SM_TIME_H

#include "sm_pg.h"

#include "datatype/timestamp.h"

/* a time column's family: the type the forecast's time column has */
typedef enum sm_time_kind
{
	SM_TIME_NONE = 0,
	SM_TIME_TIMESTAMPTZ,
	SM_TIME_TIMESTAMP,
	SM_TIME_DATE,
	SM_TIME_BIGINT				/* smallint, integer or bigint in; bigint out */
} sm_time_kind;

/*
 * a frequency: an interval (timestamps, dates) or a count (integers);
 * month_end: whole months from a month's last day to the next ones' last
 * days (2023-11-30, 12-31, 2024-01-31, 02-29)
 */
typedef struct sm_freq
{
	Interval	iv;
	int64		n;
	bool		month_end;
} sm_freq;

/* what a read series' forecast needs: its first time, length and frequency */
typedef struct sm_series_time
{
	sm_time_kind kind;
	int64		first;			/* as time_value gives it (a date's day number) */
	int64		len;
	sm_freq		freq;
} sm_series_time;

#define SM_FREQ_CANDIDATES 4

/* reads the times of one series after another */
typedef struct sm_time_reader
{
	sm_time_kind kind;
	const char *fn;				/* the SQL function, for messages */
	bool		given;			/* freq was passed */
	sm_freq		freq;			/* the freq passed */
	/* the series being read */
	int64		n;				/* times so far */
	int64		first,			/* as int64: a Datum would not outlive its row */
				prev;
	int			ncand;			/* frequencies the first two times allow */
	sm_freq		cand[SM_FREQ_CANDIDATES];
	bool		alive[SM_FREQ_CANDIDATES];
} sm_time_reader;

/* the kind of a forecast's output time type, or SM_TIME_NONE */
sm_time_kind sm_time_kind_of(Oid type);
/* the SQL type of a kind's times */
Oid			sm_time_type(sm_time_kind kind);

/* Set up a reader; freq NULL: infer each series' frequency.  Errors on a
 * freq that cannot step this kind of time forward. */
void		sm_time_init(sm_time_reader *r, sm_time_kind kind, const char *fn,
						 const sm_freq *freq);
/* Errors unless a query column of type `type` holds this kind's times. */
void		sm_time_check_column(const sm_time_reader *r, Oid type, int colno);
/* A time of the column's type as this kind's Datum (smallint/int -> bigint). */
Datum		sm_time_from_column(const sm_time_reader *r, Oid type, Datum d);

/* Start a series; key NULL means the one history of a table form. */
void		sm_time_begin(sm_time_reader *r);
/* The series' next time (step is its 1-based row). */
void		sm_time_add(sm_time_reader *r, Datum t, const char *key);
/* The series is complete: its first time, length and frequency. */
void		sm_time_end(sm_time_reader *r, const char *key, sm_series_time *out);

/* The time of the series' step len - 1 + k, i.e. k steps after its last. */
Datum		sm_time_ahead(const sm_series_time *st, int64 k);

#endif							/* SM_TIME_H */
