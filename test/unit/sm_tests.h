/* the unit-test suites, one per engine file (test/unit/test_<name>.c) */
#ifndef SM_TESTS_H
#define SM_TESTS_H
void		test_json(void);
void		test_dtype(void);
void		test_safetensors(void);
void		test_model(void);
void		test_activ(void);
void		test_attention(void);
void		test_gemm(void);
void		test_gemm_avx512(void);
void		test_rnn(void);
void		test_rnn_state(void);
void		test_cov(void);
void		test_tfm(void);
void		test_generate(void);
void		test_seq2seq(void);
void		test_tfm_seq2seq(void);
void		test_tokenizer(void);
void		test_tok_spm(void);
void		test_tok_hf(void);
void		test_grapheme(void);
void		test_tok_regex(void);
void		test_device(void);
void		test_metrics(void);

/* shared helpers (test_rnn.c) */
#include <stdbool.h>
#include "core/sm_model.h"
double		sm_test_urand(unsigned *s);	/* uniform in [-1, 1] */
void		sm_test_fill(float *x, size_t n, unsigned *s);	/* x[0..n) = sm_test_urand, in order */
/* max |y - ref| / max |ref| over M rows of N, row stride ld (test_gemm.c) */
double		sm_test_normwise(const float *y, const float *ref, int M, int N, int ld);
/* a whole file, NUL-terminated, or NULL; and a model from a safetensors file (test_files.c) */
char	   *sm_test_read_file(const char *path, size_t *len);
sm_model   *sm_test_load_model(const char *arch, const char *path, const char *config);
/* tokenizer fixtures: a .gz file (gzip -dc), lines split in place at '\n', the fixtures'
 * escapes (\\ \n \t \0) and hex undone in place, ids as text and back */
char	   *sm_test_read_gz(const char *path, size_t *len);
int			sm_test_split_lines(char *s, size_t len, char ***lines, size_t **lens);
size_t		sm_test_unescape(char *s);
size_t		sm_test_unhex(char *s);
void		sm_test_ids_str(const int32_t *ids, int n, char *out, size_t cap);
int			sm_test_parse_ids(const char *s, int32_t *ids, int cap);
/* JSON text of a parsed value ("$base" strings replaced by charsmap when it is not NULL), of an
 * object without one member, and seqmodel's tokenizer.json of a SentencePiece .model without
 * model.seqmodel_sentencepiece (what Hugging Face's loader reads) */
struct sm_json;
void		sm_test_json_write(sm_buf *b, const struct sm_json *v, const char *charsmap);
void		sm_test_json_write_without(sm_buf *b, const struct sm_json *o, const char *skip, const char *charsmap);
bool		sm_test_hf_json_from_spm(const char *path, sm_buf *out);
/* a model from a config, every tensor random (optional ones too when asked) */
sm_model   *sm_test_make_model(const char *arch, const char *config, unsigned seed,
							   double scale, bool with_optional);
#endif
