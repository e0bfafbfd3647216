/* fuzz.h -- the fuzz targets (fuzz_targets.c) and their drivers */
#ifndef SM_FUZZ_H
#define SM_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "core/sm_core.h"

int			fuzz_safetensors(const uint8_t *data, size_t size);
int			fuzz_config(const uint8_t *data, size_t size);
int			fuzz_json(const uint8_t *data, size_t size);
int			fuzz_tokenizer(const uint8_t *data, size_t size);
int			fuzz_text(const uint8_t *data, size_t size);
int			fuzz_spm(const uint8_t *data, size_t size);
int			fuzz_spm_text(const uint8_t *data, size_t size);
/* spm_text needs the SentencePiece fixtures: the .model files of test/fixtures/tok/spm */
void		fuzz_spm_text_init(const char *fixtures_dir);
void		fuzz_spm_text_done(void);
/* text needs the real tokenizers: test/fixtures/tok/{gpt2,bert}/tokenizer.json and
 * tok/spm/unigram_{bf,cf}.model */
void		fuzz_text_init(const char *fixtures_dir);
void		fuzz_text_done(void);
/* a whole file, NUL-terminated, or NULL: the unit tests' sm_test_read_file
 * (test/unit/test_files.c, built into the driver) */
char	   *sm_test_read_file(const char *path, size_t *len);
/* the unit tests' sm_test_hf_json_from_spm (test_files.c): a SentencePiece fixture's
 * tokenizer.json as Hugging Face's loader reads it */
bool		sm_test_hf_json_from_spm(const char *path, sm_buf *out);

#endif
