# seqmodel -- PGXS build.
#
#   make && make install && make installcheck    the extension and its regression tests
#   make unit                                    the engine's C unit tests (no PostgreSQL needed)
#   bash test/run-tests                          everything, as CI runs it (see README.md)

EXTENSION = seqmodel
MODULE_big = seqmodel
DATA = $(wildcard sql/seqmodel--*.sql)

# the engine in folders: core/ (status, hooks, JSON, safetensors, tensors,
# config, model life cycle), ops/ (the compute seam and the CPU kernels),
# nn/ (layers, archs, heads, generation), text/ (tokenizers, Unicode)
ENGINE_DIRS = core ops nn text
ENGINE_SRCS = $(sort $(foreach d,$(ENGINE_DIRS),$(wildcard src/engine/$(d)/*.c)))
ENGINE_OBJS = $(ENGINE_SRCS:.c=.o)
GLUE_OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/pg/*.c)))
OBJS = $(ENGINE_OBJS) $(GLUE_OBJS)

# regression tests, in order (sql/<name>.sql, expected/<name>.out)
REGRESS = setup import predict errors cache catalog compute cpu_unsupported device client_import rnn forecast forecast_batches forecast_errors forecast_time forecast_covariates backtest tfm state text tokenizer_spm seq2seq tfm_seq2seq translate roles cancel work_mem demo_co2 demo_langid demo_gapminder demo_translate shared_cache upgrade

PG_CPPFLAGS = -Isrc/engine
SHLIB_LINK = -lopenblas -lm

UNIT_SRCS = $(sort $(wildcard test/unit/*.c)) test/device/fake_device.c
UNIT_BIN = test/unit/run-unit-tests
ENGINE_LIB = src/engine/libsmengine.a

EXTRA_CLEAN = $(ENGINE_LIB) $(UNIT_BIN) results results-* regression.diffs regression.diffs.auto regression.out

# Debian's PGXS would build LLVM bitcode with clang for JIT inlining; the
# extension gains nothing from it and clang is not a build dependency.
override with_llvm = no

# The CUDA device module (kernels/, loaded by seqmodel.so with dlopen on
# first GPU use): built when nvcc is found, USE_CUDA=0/1 overrides.  sm_90
# code for H100/H200 plus PTX that newer GPUs compile at load.
CUDA_HOME ?= /usr/local/cuda
NVCC ?= $(CUDA_HOME)/bin/nvcc
USE_CUDA ?= $(if $(wildcard $(NVCC)),1,0)
NVCC_GENCODE ?= -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90
CUDA_MODULE = seqmodel_cuda.so
CUDA_TEST = test/cuda/run-cuda-test
EXTRA_CLEAN += $(CUDA_MODULE) $(CUDA_TEST)

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# The engine is plain C and must build warning-free with -Wall -Wextra
# (PostgreSQL's own CFLAGS already carry -Wall and friends).
$(ENGINE_OBJS): CFLAGS += -Wextra -Werror -Wno-declaration-after-statement
# sm_activ.c passes 32-byte vectors only between always-inlined helpers, so
# GCC's note about the AVX calling convention does not apply there; its
# AVX2 + FMA build and the products contract a * b + c into one FMA
src/engine/ops/sm_activ.o: CFLAGS += -Wno-psabi -ffp-contract=fast

all: $(ENGINE_LIB)

$(ENGINE_LIB): $(ENGINE_OBJS)
	rm -f $@
	$(AR) crs $@ $^

# Unit tests link the engine library only: no PostgreSQL headers or server.
$(UNIT_BIN): $(UNIT_SRCS) $(wildcard test/unit/*.h test/device/*.h) $(ENGINE_LIB)
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -Werror -Isrc/engine -Itest/device -o $@ $(UNIT_SRCS) $(ENGINE_LIB) -lopenblas -lm -lpthread

.PHONY: unit
unit: $(UNIT_BIN)
	$(UNIT_BIN)

# The fake device module (test/device/): the GPU settings and paths of the
# glue tested from SQL without a GPU (test/t/gpu_fake.sh); never installed.
FAKE_DEVICE = test/device/seqmodel_fake_device.so
EXTRA_CLEAN += $(FAKE_DEVICE)
$(FAKE_DEVICE): test/device/fake_module.c test/device/fake_device.c test/device/fake_device.h src/engine/ops/sm_device.h src/engine/ops/sm_gemm.h
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -Werror -fPIC -shared -Isrc/engine -Itest/device -o $@ \
		test/device/fake_module.c test/device/fake_device.c
.PHONY: fake-device
fake-device: $(FAKE_DEVICE)

# Fuzzing (test/fuzz/README.md): the engine's parsers and tokenizers under a
# deterministic mutation loop, engine and driver built with ASan + UBSan.
# fuzz-short runs in the test command; fuzz is the long run.
FUZZ_BIN = test/fuzz/run-fuzz
FUZZ_CFLAGS = -std=gnu11 -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer -Wall -Wextra -Werror -Wno-psabi
EXTRA_CLEAN += $(FUZZ_BIN)
$(FUZZ_BIN): $(wildcard test/fuzz/*.c test/fuzz/*.h) test/unit/test_files.c $(ENGINE_SRCS) $(foreach d,$(ENGINE_DIRS),$(wildcard src/engine/$(d)/*.h))
	$(CC) $(FUZZ_CFLAGS) -Isrc/engine -Itest/fuzz -o $@ test/fuzz/fuzz_main.c test/fuzz/fuzz_targets.c \
		test/unit/test_files.c $(ENGINE_SRCS) -lopenblas -lm -lpthread

FUZZ_SHORT = safetensors:20000 config:20000 json:20000 tokenizer:10000 text:50000 spm:1500 spm_text:20000
FUZZ_LONG = safetensors:200000 config:200000 json:200000 tokenizer:200000 text:1000000 spm:50000 spm_text:500000
.PHONY: fuzz-short fuzz
fuzz-short: $(FUZZ_BIN)
	@for t in $(FUZZ_SHORT); do $(FUZZ_BIN) $${t%%:*} $${t##*:} || exit 1; done
fuzz: $(FUZZ_BIN)
	@for t in $(FUZZ_LONG); do $(FUZZ_BIN) $${t%%:*} $${t##*:} $(FUZZ_SEED) || exit 1; done

# all objects depend on the engine headers (no automatic dependency tracking in PGXS)
$(OBJS): $(foreach d,$(ENGINE_DIRS),$(wildcard src/engine/$(d)/*.h)) $(wildcard src/pg/*.h)
src/engine/ops/sm_gemm.o: CFLAGS += -ffp-contract=fast -Wno-psabi

# ---------------------------------------------------------------- CUDA module
ifeq ($(USE_CUDA),1)
all: $(CUDA_MODULE)

$(CUDA_MODULE): kernels/sm_cuda.cu src/engine/ops/sm_device.h
	$(NVCC) -O2 -std=c++17 -shared -Xcompiler -fPIC,-Wall,-Wextra,-Werror $(NVCC_GENCODE) \
		-Isrc/engine -o $@ kernels/sm_cuda.cu -lcublas -lcudart -Xlinker -rpath=$(CUDA_HOME)/lib64

install: install-cuda
.PHONY: install-cuda
install-cuda: $(CUDA_MODULE)
	$(INSTALL_SHLIB) $(CUDA_MODULE) '$(DESTDIR)$(pkglibdir)/'

uninstall: uninstall-cuda
.PHONY: uninstall-cuda
uninstall-cuda:
	rm -f '$(DESTDIR)$(pkglibdir)/$(CUDA_MODULE)'

# the module from the host side, linked as the extension loads it (test/cuda/test_cuda.c)
$(CUDA_TEST): test/cuda/test_cuda.c src/engine/ops/sm_device.h $(CUDA_MODULE)
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -Werror -Isrc/engine -o $@ $< $(CURDIR)/$(CUDA_MODULE) \
		-Wl,-rpath,$(CURDIR) -lm

.PHONY: cuda-test
cuda-test: $(CUDA_TEST)
	$(CUDA_TEST)
else
.PHONY: cuda-test
cuda-test:
	@echo "cuda-test: the CUDA module is not built (USE_CUDA=0 or no $(NVCC))"
endif
