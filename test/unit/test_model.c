/*
 * test_model.c -- arch specs, the model life cycle and the linear arch:
 * BLAS forward against the naive reference.
 */
#include <stdlib.h>

#include "sm_test.h"
#include "sm_tests.h"

#include "nn/sm_linear.h"

#define CFG(s) (s), strlen(s)

static sm_tensor_info
info(const char *name, sm_dtype dtype, int ndim, int64_t d0, int64_t d1)
{
	sm_tensor_info t = {.name = (char *) name, .dtype = dtype, .ndim = ndim, .shape = {d0, d1}};

	return t;
}

static bool abort_now = false;

static bool
test_should_abort(void)
{
	return abort_now;
}

static void *
test_alloc(size_t n)
{
	return malloc(n);
}

void
test_model(void)
{
	sm_error	err;
	sm_tensor_info ok[2] = {info("weight", SM_DTYPE_F32, 2, 3, 5), info("bias", SM_DTYPE_F16, 1, 3, 0)};
	const char *cfg = "{\"in_features\": 5, \"out_features\": 3}";

	/* import-time checks */
	CHECK(sm_model_check("linear", CFG(cfg), ok, 2, &err) == SM_OK);
	CHECK_ERR((sm_model_check("lineer", CFG(cfg), ok, 2, &err), err), SM_ERR_INVALID, "unknown arch \"lineer\"");
	CHECK(strstr(err.detail, "linear") != NULL);
	CHECK_ERR((sm_model_check("linear", CFG("{\"in_features\": 5}"), ok, 2, &err), err),
			  SM_ERR_INVALID, "config key \"out_features\" is missing");
	CHECK_ERR((sm_model_check("linear", CFG("{\"in_features\": \"5\", \"out_features\": 3}"), ok, 2, &err), err),
			  SM_ERR_INVALID, "must be an integer, not string");
	CHECK_ERR((sm_model_check("linear", CFG("{\"in_features\": 0, \"out_features\": 3}"), ok, 2, &err), err),
			  SM_ERR_INVALID, "out of range");
	CHECK_ERR((sm_model_check("linear", CFG("{\"in_features\": 5, \"out_features\": 3, \"bias\": 1}"), ok, 2, &err), err),
			  SM_ERR_INVALID, "must be a boolean");
	CHECK_ERR((sm_model_check("linear", CFG("{\"in_features\": 5, \"out_features\": 3, \"dropout\": 0}"), ok, 2, &err), err),
			  SM_ERR_INVALID, "unknown config key \"dropout\"");
	CHECK_ERR((sm_model_check("linear", CFG("[1]"), ok, 2, &err), err), SM_ERR_INVALID, "must be a JSON object");
	CHECK_ERR((sm_model_check("linear", CFG(cfg), ok, 1, &err), err), SM_ERR_INVALID, "tensor \"bias\" is missing");
	CHECK(strstr(err.detail, "[3]") != NULL);
	{
		sm_tensor_info bad[2] = {info("weight", SM_DTYPE_F32, 2, 3, 4), ok[1]};

		CHECK_ERR((sm_model_check("linear", CFG(cfg), bad, 2, &err), err), SM_ERR_INVALID,
				  "tensor \"weight\" has shape [3, 4], expected [3, 5]");
	}
	{
		sm_tensor_info bad[3] = {ok[0], ok[1], info("extra", SM_DTYPE_F32, 1, 2, 0)};

		CHECK_ERR((sm_model_check("linear", CFG(cfg), bad, 3, &err), err), SM_ERR_INVALID,
				  "unexpected tensor \"extra\"");
	}
	{
		sm_tensor_info bad[2] = {info("weight", SM_DTYPE_I64, 2, 3, 5), ok[1]};

		CHECK_ERR((sm_model_check("linear", CFG(cfg), bad, 2, &err), err), SM_ERR_UNSUPPORTED,
				  "unsupported dtype I64");
	}
	/* no bias, and a prefix */
	{
		sm_tensor_info fc[1] = {info("fc.weight", SM_DTYPE_F32, 2, 2, 4)};

		CHECK(sm_model_check("linear", CFG("{\"in_features\":4,\"out_features\":2,\"bias\":false,\"prefix\":\"fc.\"}"),
							 fc, 1, &err) == SM_OK);
	}

	/* load and run: BLAS against the naive reference on odd sizes */
	{
		const int	I = 37,
					O = 19,
					N = 4103;	/* crosses a block of rows */
		char		c[128];
		sm_model   *m;
		sm_tensor  *w,
				   *b;
		sm_tensor_info wi = info("weight", SM_DTYPE_F32, 2, O, I);
		sm_tensor_info bi = info("bias", SM_DTYPE_F32, 1, O, 0);
		float	   *wdata = malloc(sizeof(float) * O * I);
		float	   *bdata = malloc(sizeof(float) * O);
		float	   *x = malloc(sizeof(float) * N * I);
		float	   *y = malloc(sizeof(float) * N * O);
		float	   *ref = malloc(sizeof(float) * N * O);
		double		maxdiff = 0,
					maxref = 0;

		srand(1);
		for (int i = 0; i < O * I; i++)
			wdata[i] = (float) rand() / RAND_MAX - 0.5f;
		for (int i = 0; i < O; i++)
			bdata[i] = (float) rand() / RAND_MAX - 0.5f;
		for (int i = 0; i < N * I; i++)
			x[i] = (float) rand() / RAND_MAX * 4 - 2;
		snprintf(c, sizeof(c), "{\"in_features\": %d, \"out_features\": %d}", I, O);
		CHECK(sm_model_begin(&m, "linear", CFG(c), &err) == SM_OK);
		CHECK(sm_model_add_tensor(m, &wi, &w, &err) == SM_OK);
		CHECK(sm_model_add_tensor(m, &bi, &b, &err) == SM_OK);
		/* streamed in two pieces, as chunk rows arrive */
		CHECK(sm_tensor_append(w, SM_DTYPE_F32, wdata, 4 * 100, &err) == SM_OK);
		CHECK_ERR((sm_model_finish(m, &err), err), SM_ERR_CORRUPT, "incomplete");
		CHECK(sm_tensor_append(w, SM_DTYPE_F32, wdata + 100, 4 * (O * I - 100), &err) == SM_OK);
		CHECK_ERR((sm_tensor_append(w, SM_DTYPE_F32, wdata, 4, &err), err), SM_ERR_CORRUPT, "longer than its shape");
		CHECK_ERR((sm_tensor_append(b, SM_DTYPE_F16, wdata, 3, &err), err), SM_ERR_CORRUPT, "whole number");
		CHECK(sm_tensor_append(b, SM_DTYPE_F32, bdata, 4 * O, &err) == SM_OK);
		CHECK(sm_model_finish(m, &err) == SM_OK);
		CHECK(sm_model_parameters(m) == (uint64_t) (O * I + O));
		CHECK(sm_linear_of(m) != NULL && sm_linear_of(m)->in_features == I);

		CHECK(sm_linear_forward(sm_linear_of(m), x, N, y, &err) == SM_OK);
		sm_linear_forward_naive(sm_linear_of(m), x, N, ref);
		for (int i = 0; i < N * O; i++)
		{
			maxdiff = fmax(maxdiff, fabs((double) y[i] - ref[i]));
			maxref = fmax(maxref, fabs((double) ref[i]));
		}
		printf("linear %dx%d, %d rows: BLAS vs naive max rel diff %.3g\n", O, I, N, maxdiff / maxref);
		CHECK(maxdiff / maxref < 1e-5);

		/* abort is polled between blocks of rows */
		{
			sm_hooks	h = {test_alloc, free, test_should_abort, NULL};

			sm_set_hooks(&h);
			abort_now = true;
			CHECK(sm_linear_forward(sm_linear_of(m), x, N, y, &err) == SM_ERR_ABORTED);
			abort_now = false;
			sm_set_hooks(NULL);
		}
		sm_model_free(m);
		free(wdata);
		free(bdata);
		free(x);
		free(y);
		free(ref);
	}

	/* a tensor that the spec does not know is refused while loading too */
	{
		sm_model   *m;
		sm_tensor  *t;
		sm_tensor_info extra = info("nope", SM_DTYPE_F32, 1, 2, 0);

		CHECK(sm_model_begin(&m, "linear", CFG(cfg), &err) == SM_OK);
		CHECK_ERR((sm_model_add_tensor(m, &extra, &t, &err), err), SM_ERR_INVALID, "unexpected tensor");
		sm_model_free(m);
	}
}
