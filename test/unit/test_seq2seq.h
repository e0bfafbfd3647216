/*
 * test_seq2seq.h -- the encoder-decoder checks test_seq2seq.c runs on
 * rnn_seq2seq and test_tfm_seq2seq.c on transformer_seq2seq: the fixtures'
 * teacher-forced and decode cases over any decoder (sm_beam.h).
 */
#ifndef TEST_SEQ2SEQ_H
#define TEST_SEQ2SEQ_H

#include "core/sm_json.h"
#include "nn/sm_beam.h"

/* an array of integers (malloc'ed) */
int32_t    *s2s_ints(const sm_json *a, int *n);
/* a [rows][cols] array of numbers into v at row stride ld */
void		s2s_floats2(const sm_json *a, float *v, int ld);
/* every teacher-forced case: each step's log-probabilities within 1e-5 normwise, sums 1e-5 relative */
void		s2s_teacher_cases(const sm_decoder *d, const sm_json *cs, const char *name);
/* every greedy / beam case: torch's ids, alone and batched with the cases of the same options */
void		s2s_decode_cases(const sm_decoder *d, int max_new_default, const sm_json *cs,
							 const char *name, const char *what);

/* cancel after that many polls of sm_should_abort (hooks set); -1: the default hooks again */
void		s2s_abort_after(int calls);

#endif
