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
REGRESS = setup import predict errors cache catalog compute cpu_unsupported client_import rnn forecast forecast_errors forecast_time backtest tfm text cancel demo_co2 demo_langid upgrade

PG_CPPFLAGS = -Isrc/engine
SHLIB_LINK = -lopenblas -lm

UNIT_SRCS = $(sort $(wildcard test/unit/*.c))
UNIT_BIN = test/unit/run-unit-tests
ENGINE_LIB = src/engine/libsmengine.a

EXTRA_CLEAN = $(ENGINE_LIB) $(UNIT_BIN) results results-* regression.diffs regression.diffs.auto regression.out

# Debian's PGXS would build LLVM bitcode with clang for JIT inlining; the
# extension gains nothing from it and clang is not a build dependency.
override with_llvm = no

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
$(UNIT_BIN): $(UNIT_SRCS) $(wildcard test/unit/*.h) $(ENGINE_LIB)
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -Werror -Isrc/engine -o $@ $(UNIT_SRCS) $(ENGINE_LIB) -lopenblas -lm -lpthread

.PHONY: unit
unit: $(UNIT_BIN)
	$(UNIT_BIN)

# all objects depend on the engine headers (no automatic dependency tracking in PGXS)
$(OBJS): $(foreach d,$(ENGINE_DIRS),$(wildcard src/engine/$(d)/*.h)) $(wildcard src/pg/*.h)
src/engine/ops/sm_gemm.o: CFLAGS += -ffp-contract=fast -Wno-psabi
