/*
 * test_safetensors.c -- the safetensors reader's checks and the writer's
 * round trip, on files built in memory.
 */
#include <stdlib.h>

#include "sm_test.h"
#include "sm_tests.h"

#include "core/sm_safetensors.h"

/* header JSON + data_len zero bytes of data -> a file in a malloc'd buffer */
static uint8_t *
make_file(const char *header, size_t data_len, size_t *size)
{
	size_t		hlen = strlen(header);
	uint8_t    *buf = calloc(1, 8 + hlen + data_len);

	for (int i = 0; i < 8; i++)
		buf[i] = (uint8_t) ((uint64_t) hlen >> (8 * i));
	memcpy(buf + 8, header, hlen);
	*size = 8 + hlen + data_len;
	return buf;
}

static sm_status
parse_header(const char *header, size_t data_len, sm_st_file *st, sm_error *err)
{
	size_t		size;
	uint8_t    *buf = make_file(header, data_len, &size);
	sm_status	rc = sm_st_parse(buf, size, st, err);

	free(buf);
	return rc;
}

#define EXPECT_BAD(header, data_len, status, substr) \
	do { \
		sm_st_file st; \
		sm_error err; \
		sm_status rc = parse_header((header), (data_len), &st, &err); \
		CHECK_MSG(rc == (status) && strstr(err.message, (substr)) != NULL, \
				  "%s -> %d \"%s\"", (header), (int) rc, err.message); \
	} while (0)

void
test_safetensors(void)
{
	sm_st_file	st;
	sm_error	err;

	/* a good file: tensors come back sorted by offset, metadata kept */
	CHECK(parse_header("{\"__metadata__\":{\"format\":\"pt\"},"
					   "\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[24,36]},"
					   "\"w\":{\"dtype\":\"F16\",\"shape\":[3,4],\"data_offsets\":[0,24]}}",
					   36, &st, &err) == SM_OK);
	CHECK(st.n_tensors == 2);
	CHECK(strcmp(st.tensors[0].info.name, "w") == 0 && st.tensors[0].info.dtype == SM_DTYPE_F16);
	CHECK(st.tensors[0].info.ndim == 2 && st.tensors[0].info.shape[1] == 4);
	CHECK(st.metadata != NULL && strcmp(sm_json_get(st.metadata, "format")->string, "pt") == 0);
	sm_st_file_free(&st);

	/* scalars and empty tensors are legal */
	CHECK(parse_header("{\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
					   "\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[4,4]}}",
					   4, &st, &err) == SM_OK);
	sm_st_file_free(&st);
	CHECK(parse_header("{}", 0, &st, &err) == SM_OK && st.n_tensors == 0);
	sm_st_file_free(&st);

	/* the prefix */
	{
		uint8_t		tiny[5] = {0};

		CHECK(sm_st_parse(tiny, 5, &st, &err) == SM_ERR_CORRUPT);
		CHECK(strstr(err.message, "too short") != NULL);
	}
	{
		uint8_t		buf[16] = {0xff, 0xff, 0, 0, 0, 0, 0, 0};

		CHECK_ERR((sm_st_parse(buf, 16, &st, &err), err), SM_ERR_CORRUPT, "past the end of the file");
	}
	{
		uint8_t		buf[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

		CHECK_ERR((sm_st_parse(buf, 16, &st, &err), err), SM_ERR_CORRUPT, "past the end of the file");
	}

	/* the JSON */
	EXPECT_BAD("{\"w\":{\"dtype\":\"F32\"", 0, SM_ERR_CORRUPT, "not valid JSON");
	EXPECT_BAD("[1,2]   ", 0, SM_ERR_CORRUPT, "not an object");
	EXPECT_BAD("{\"w\":[]}", 0, SM_ERR_CORRUPT, "not an object");
	EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, SM_ERR_CORRUPT, "lacks \"data_offsets\"");
	EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4,
			   SM_ERR_CORRUPT, "unknown key \"x\"");
	EXPECT_BAD("{\"__metadata__\":{\"a\":1}}", 0, SM_ERR_CORRUPT, "is not a string");
	EXPECT_BAD("{\"__metadata__\":[]}", 0, SM_ERR_CORRUPT, "__metadata__ is not an object");

	/* each entry */
	EXPECT_BAD("{\"w\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
			   SM_ERR_CORRUPT, "unknown dtype \"Q4\"");
	EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
			   SM_ERR_CORRUPT, "invalid dimension at position 1");
	EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4,
			   SM_ERR_CORRUPT, "invalid dimension");
	EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
			   SM_ERR_UNSUPPORTED, "too many dimensions");
	EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4,
			   SM_ERR_CORRUPT, "reversed");
	EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4,
			   SM_ERR_CORRUPT, "not a pair");
	EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4,
			   SM_ERR_CORRUPT, "ends past the end of the data");
	EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
			   SM_ERR_CORRUPT, "does not match its shape");
	/* a shape whose byte count overflows 64 bits */
	EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2147483647,2147483647,2147483647],\"data_offsets\":[0,4]}}", 4,
			   SM_ERR_CORRUPT, "overflows");

	/* how tensors sit together */
	EXPECT_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
			   "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
			   SM_ERR_CORRUPT, "overlap");
	EXPECT_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
			   "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12,
			   SM_ERR_CORRUPT, "belong to no tensor");
	EXPECT_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
			   SM_ERR_CORRUPT, "bytes 0 to 4");
	EXPECT_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 6,
			   SM_ERR_CORRUPT, "2 bytes after the last tensor");

	/* writer: header parses back to the same tensors, padded to 8 */
	{
		sm_tensor_info t[2] = {
			{.name = "fc.weight", .dtype = SM_DTYPE_BF16, .ndim = 2, .shape = {3, 5}},
			{.name = "we\"ird\n", .dtype = SM_DTYPE_F32, .ndim = 0},
		};
		sm_json    *meta;
		sm_buf		out;
		uint8_t    *file;
		size_t		size;

		CHECK(sm_json_parse("{\"format\":\"pt\"}", 15, &meta, &err) == SM_OK);
		sm_buf_init(&out);
		CHECK(sm_st_write_header(&out, t, 2, meta, &err) == SM_OK);
		CHECK((out.len - 8) % 8 == 0);
		size = out.len + 30 + 4;
		file = calloc(1, size);
		memcpy(file, out.data, out.len);
		CHECK(sm_st_parse(file, size, &st, &err) == SM_OK);
		CHECK(st.n_tensors == 2 && strcmp(st.tensors[0].info.name, "fc.weight") == 0);
		CHECK(st.tensors[1].begin == 30 && st.tensors[1].end == 34 &&
			  strcmp(st.tensors[1].info.name, "we\"ird\n") == 0);
		CHECK(st.metadata && st.metadata->count == 1);
		sm_st_file_free(&st);
		free(file);
		sm_buf_free(&out);
		sm_json_free(meta);
	}
}
