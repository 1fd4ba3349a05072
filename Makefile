# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# relayguard build. Out of tree into build/ (build/san/ with SANITIZE=1). Quiet; V=1 shows
# the commands. Every user/*.c but main.c goes into build/librg.a; every tools/*.c and
# tests/{unit,bpf}/*.c is a program linked against it. New modules need no Makefile edit.

BUILD ?= build
ifeq ($(SANITIZE),1)
BUILD := build/san
endif

CC ?= gcc
CLANG ?= clang
BPFTOOL ?= bpftool
ARCH := $(shell uname -m)
BPF_ARCH := $(subst x86_64,x86,$(subst aarch64,arm64,$(ARCH)))
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null || echo $(ARCH)-linux-gnu)

PREFIX ?= /usr/local
DESTDIR ?=

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

.DELETE_ON_ERROR:
.SECONDARY:

DEPFLAGS = -MMD -MP
WARN := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wformat=2 -Wvla
HARDEN := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
CFLAGS ?= -O2 -g
SAN_FLAGS :=
ifeq ($(SANITIZE),1)
CC := clang
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
HARDEN := -fPIE
endif
ALL_CFLAGS := -std=gnu11 $(CFLAGS) $(WARN) $(HARDEN) $(SAN_FLAGS) -D_GNU_SOURCE \
	-I$(BUILD) -Ibpf -Iuser $(DEPFLAGS)
LDFLAGS_HARD := -pie -Wl,-z,relro,-z,now $(SAN_FLAGS)
LIBS := -lbpf -lelf -lz -lidn2 -ljson-c -lmicrohttpd -lsystemd -lseccomp -lhiredis -lm -lpthread

BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(BPF_ARCH) -Wall -Werror \
	-Ibpf -I$(BUILD) -idirafter /usr/include/$(MULTIARCH) $(DEPFLAGS)

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(BPF_SRCS))
SKELS := $(patsubst bpf/%.bpf.c,$(BUILD)/%.skel.h,$(BPF_SRCS))

LIB_SRCS := $(filter-out user/main.c,$(wildcard user/*.c))
LIB_OBJS := $(patsubst user/%.c,$(BUILD)/user/%.o,$(LIB_SRCS))
LIB := $(BUILD)/librg.a

TOOL_SRCS := $(wildcard tools/*.c)
TOOLS := $(patsubst tools/%.c,$(BUILD)/%,$(TOOL_SRCS))

UNIT_SRCS := $(wildcard tests/unit/*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(UNIT_SRCS))
BPFTEST_SRCS := $(wildcard tests/bpf/*.c)
BPFTEST_BINS := $(patsubst tests/bpf/%.c,$(BUILD)/tests/bpf/%,$(BPFTEST_SRCS))
HELPER_SRCS := $(wildcard tests/helpers/*.c)
HELPER_BINS := $(patsubst tests/helpers/%.c,$(BUILD)/tests/helpers/%,$(HELPER_SRCS))
TEST_BINS := $(UNIT_BINS) $(BPFTEST_BINS) $(HELPER_BINS)

PROGS := $(BUILD)/relayguardd $(TOOLS)

.PHONY: all deps buildcheck test demo demo-fleet bench bench-bpf bench-fleet bench-policy bench-domains bench-flood bench-react bench-reload bench-scale bench-state fuzz install uninstall clean

all: $(BPF_OBJS) $(PROGS)

# Installing packages is `make deps` alone (tools/deps.sh, quiet and quick when all is
# installed): make test, make demo, make bench* and CI run it first; a plain make or make
# install never does, so neither apt-gets on a production relay. NO_DEPS=1 skips it for the
# test and demo targets too (packagers, offline machines).
DEPS_GOALS := test demo demo-fleet bench bench-bpf bench-fleet bench-policy bench-domains bench-flood bench-react \
	bench-reload bench-scale bench-state
ifneq ($(NO_DEPS),1)
ifneq ($(filter $(DEPS_GOALS),$(MAKECMDGOALS)),)
DEPS_FIRST := deps
endif
endif

deps:
	$(Q)tools/deps.sh

# Every compile waits for this (through the build directories): it names the Debian package
# of a missing compiler, tool or header before the build fails on it, and installs nothing.
buildcheck: $(DEPS_FIRST)
	$(Q)CC=$(CC) tools/deps.sh --check

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c | $(BUILD)/bpf
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $* > $@

$(BUILD)/user/%.o: user/%.c | $(BUILD)/user
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

# Only the loader includes the skeleton; parsers build without clang or libbpf headers.
$(BUILD)/user/bpfload.o: | $(SKELS)

$(LIB): $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/relayguardd: $(BUILD)/user/main.o $(LIB)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS_HARD) $^ $(LIBS) -o $@

$(BUILD)/tools/%.o: tools/%.c | $(BUILD)/tools $(SKELS)
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/%: $(BUILD)/tools/%.o $(LIB)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS_HARD) $^ $(LIBS) -lpthread -o $@

$(BUILD)/tests/%.o: tests/%.c | $(BUILD)/tests/unit $(BUILD)/tests/bpf $(BUILD)/tests/helpers $(SKELS)
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -Wno-shadow -c $< -o $@

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(LIB)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS_HARD) $^ $(LIBS) -lcmocka -lpthread -o $@

$(BUILD)/tests/bpf/%: $(BUILD)/tests/bpf/%.o $(LIB)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS_HARD) $^ $(LIBS) -lcmocka -lpthread -o $@

# Test drivers: programs the shell suites run, not suites themselves.
$(BUILD)/tests/helpers/%: $(BUILD)/tests/helpers/%.o $(LIB)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS_HARD) $^ $(LIBS) -lpthread -o $@

$(BUILD)/bpf $(BUILD)/user $(BUILD)/tools $(BUILD)/tests/unit $(BUILD)/tests/bpf $(BUILD)/tests/helpers: | buildcheck
	$(Q)mkdir -p $@

# The whole suite; ends with one line "N passed, N failed[, N skipped]".
test: all $(TEST_BINS)
	$(Q)BUILD=$(BUILD) tests/run-tests.sh

demo: all
	$(Q)BUILD=$(BUILD) tools/demo.sh

# Two relays sharing one Redis ([fleet]): a restriction and a host block fleet-wide.
demo-fleet: all
	$(Q)BUILD=$(BUILD) tools/demo-fleet.sh

# Benchmarks print figures and ratios; they are never tests.
bench: bench-bpf bench-policy bench-domains bench-flood bench-react bench-reload bench-scale bench-state \
	bench-fleet

bench-bpf: all
	$(Q)BUILD=$(BUILD) tools/bench-bpf.sh

bench-fleet: all
	$(Q)BUILD=$(BUILD) tools/bench-fleet.sh

bench-policy: all
	$(Q)BUILD=$(BUILD) tools/bench-policy.sh

bench-domains: all
	$(Q)BUILD=$(BUILD) tools/bench-domains.sh

bench-flood: all
	$(Q)BUILD=$(BUILD) tools/bench-flood.sh

bench-react: all $(BUILD)/bench-react
	$(Q)BUILD=$(BUILD) tools/bench-react.sh

bench-reload: all
	$(Q)BUILD=$(BUILD) tools/bench-reload.sh

bench-scale: all
	$(Q)BUILD=$(BUILD) tools/bench-scale.sh

bench-state: all
	$(Q)$(BUILD)/bench-state

clean:
	$(Q)rm -rf build

-include $(wildcard $(BUILD)/*/*.d $(BUILD)/tests/*/*.d)
-include tests/fuzz/fuzz.mk
-include tools/install.mk
-include tools/deb.mk
