/*
 * sm_safetensors.h -- strict reader and writer of the safetensors format.
 *
 * Layout: an 8-byte little-endian u64 N, N bytes of JSON header
 *   {"<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
 *    ..., "__metadata__": {"<key>": "<string>", ...}}
 * then the data section; offsets are relative to its first byte.
 *
 * The reader works on the header alone plus the total size of the file, so
 * the glue can validate a file before reading (or holding) its data.  It
 * accepts exactly what the reference implementation accepts: every tensor
 * inside the data section, sizes equal to product(shape) x dtype size, and
 * the tensors tiling the data section with no overlap, gap or trailing bytes.
 */
#ifndef SM_SAFETENSORS_H
#define SM_SAFETENSORS_H

#include "sm_core.h"
#include "sm_dtype.h"
#include "sm_json.h"
#include "sm_tensor.h"

#define SM_ST_PREFIX_LEN 8
#define SM_ST_MAX_HEADER (100 * 1024 * 1024)	/* as the reference reader */

typedef struct sm_st_tensor
{
	sm_tensor_info info;		/* name, dtype, shape */
	uint64_t	begin;			/* byte range in the data section */
	uint64_t	end;
} sm_st_tensor;

typedef struct sm_st_file
{
	uint64_t	header_len;		/* N */
	uint64_t	data_start;		/* 8 + N: file offset of the data section */
	uint64_t	data_len;		/* bytes in the data section */
	int			n_tensors;
	sm_st_tensor *tensors;		/* sorted by begin offset */
	sm_json    *header;		/* the parsed header (owned) */
	const sm_json *metadata;	/* its __metadata__ object, or NULL */
} sm_st_file;

/* Read N from the 8-byte prefix and check it against the file's size. */
sm_status	sm_st_read_prefix(const uint8_t *data, uint64_t total_size,
							  uint64_t *header_len, sm_error *err);

/*
 * Parse and validate header[0..header_len) of a file of total_size bytes.
 * On success *out owns its allocations (free with sm_st_file_free).
 */
sm_status	sm_st_parse_header(const uint8_t *header, uint64_t header_len,
							   uint64_t total_size, sm_st_file *out, sm_error *err);

/* Both steps over a whole file held in memory. */
sm_status	sm_st_parse(const uint8_t *data, uint64_t size, sm_st_file *out,
						sm_error *err);

void		sm_st_file_free(sm_st_file *file);

/*
 * Write the 8-byte prefix and the header for n tensors whose data will
 * follow back to back in the given order (sizes from dtype and shape).
 * metadata, if not NULL, must be an object of strings.  The header is
 * padded with spaces to a multiple of 8 bytes, as the reference writer does.
 */
sm_status	sm_st_write_header(sm_buf *out, const sm_tensor_info *tensors, int n,
							   const sm_json *metadata, sm_error *err);

#endif							/* SM_SAFETENSORS_H */
