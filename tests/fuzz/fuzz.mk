# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# fuzz.mk: libFuzzer targets for the parsers of untrusted and operator input, included by
# the top Makefile. Each tests/fuzz/fuzz_NAME.c is built twice from the parser modules only
# (no libbpf, no skeleton):
#   build/fuzz/fuzz_NAME             clang -fsanitize=fuzzer,address,undefined (make fuzz)
#   $(BUILD)/tests/fuzz/fuzz_NAME    plain program, ASan+UBSan, standalone_main.c: replays
#                                    corpora and reproducers (tests/unit/fuzz_regress.sh)
# make fuzz FUZZ_SECONDS=N runs every target N seconds (tests/fuzz/run.sh).

FUZZ_SECONDS ?= 30
FUZZ_BUILD := build/fuzz
FUZZ_CC ?= clang
FUZZ_NAMES := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
# The parsers and what they need: kept free of libbpf so they fuzz on their own (bpf/ only
# for relayguard.h, the kernel types names.h names).
FUZZ_MODULES := policy_proto envelope domains config config_ini config_keys readfile containers cidr log names \
	tenant_auth
FUZZ_CFLAGS := -std=gnu11 -g -O1 -fno-omit-frame-pointer -D_GNU_SOURCE -Iuser -Ibpf -Itests/fuzz \
	-Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wformat=2 -Wvla -MMD -MP
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_LIBS := -lidn2 -lm

FUZZ_BINS := $(addprefix $(FUZZ_BUILD)/,$(FUZZ_NAMES))
FUZZ_MOD_OBJS := $(patsubst %,$(FUZZ_BUILD)/obj/user/%.o,$(FUZZ_MODULES))
REGRESS_DIR := $(BUILD)/tests/fuzz
REGRESS_BINS := $(addprefix $(REGRESS_DIR)/,$(FUZZ_NAMES))
REGRESS_MOD_OBJS := $(patsubst %,$(REGRESS_DIR)/obj/user/%.o,$(FUZZ_MODULES))

.PHONY: fuzz fuzz-build fuzz-regress

fuzz: fuzz-build
	$(Q)FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_BUILD=$(FUZZ_BUILD) tests/fuzz/run.sh

fuzz-build: $(FUZZ_BINS)

fuzz-regress: $(REGRESS_BINS)

# make test keeps the regressions: the replay binaries are built with the test programs.
test: fuzz-regress

$(FUZZ_BUILD)/obj/%.o: %.c
	$(call msg,FUZZ-CC,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(FUZZ_SAN) -c $< -o $@

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/obj/tests/fuzz/fuzz_%.o $(FUZZ_MOD_OBJS)
	$(call msg,FUZZ-LD,$@)
	$(Q)$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) $^ $(FUZZ_LIBS) -o $@

$(REGRESS_DIR)/obj/%.o: %.c
	$(call msg,SAN-CC,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -c $< -o $@

$(REGRESS_DIR)/fuzz_%: $(REGRESS_DIR)/obj/tests/fuzz/fuzz_%.o \
		$(REGRESS_DIR)/obj/tests/fuzz/standalone_main.o $(REGRESS_MOD_OBJS)
	$(call msg,SAN-LD,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_SAN) $^ $(FUZZ_LIBS) -o $@

-include $(wildcard $(FUZZ_BUILD)/obj/*/*.d $(FUZZ_BUILD)/obj/tests/fuzz/*.d \
	$(REGRESS_DIR)/obj/*/*.d $(REGRESS_DIR)/obj/tests/fuzz/*.d)
