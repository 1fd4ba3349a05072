# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# install.mk: make install / make uninstall, honouring DESTDIR and PREFIX (default
# /usr/local). Included by the Makefile. The example configuration (and the domains file
# its example tenant reads) is installed only where none exists: an operator's files are
# never overwritten, and uninstall leaves them.
# The systemd unit goes to $(PREFIX)/lib/systemd/system (with PREFIX=/usr: /usr/lib/...,
# where Debian packages put theirs); ExecStart names the installed sbin path.

SBINDIR ?= $(PREFIX)/sbin
LIBDIR ?= $(PREFIX)/lib/relayguard
MANDIR ?= $(PREFIX)/share/man
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc/relayguard

INSTALLED := $(SBINDIR)/relayguardd $(SBINDIR)/relayguardctl $(LIBDIR)/relayguard.bpf.o \
	$(MANDIR)/man8/relayguardd.8 $(MANDIR)/man8/relayguardctl.8 \
	$(MANDIR)/man5/relayguard.conf.5 $(UNITDIR)/relayguardd.service

.PHONY: install uninstall

install: all
	$(Q)install -D -m 0755 $(BUILD)/relayguardd $(DESTDIR)$(SBINDIR)/relayguardd
	$(Q)install -D -m 0755 $(BUILD)/relayguardctl $(DESTDIR)$(SBINDIR)/relayguardctl
	$(Q)install -D -m 0644 $(BUILD)/bpf/relayguard.bpf.o $(DESTDIR)$(LIBDIR)/relayguard.bpf.o
	$(Q)install -D -m 0644 tools/man/relayguardd.8 $(DESTDIR)$(MANDIR)/man8/relayguardd.8
	$(Q)install -D -m 0644 tools/man/relayguardctl.8 $(DESTDIR)$(MANDIR)/man8/relayguardctl.8
	$(Q)install -D -m 0644 tools/man/relayguard.conf.5 $(DESTDIR)$(MANDIR)/man5/relayguard.conf.5
	$(Q)install -d -m 0755 $(DESTDIR)$(UNITDIR)
	$(Q)sed 's|@SBINDIR@|$(SBINDIR)|g' tools/relayguardd.service \
		> $(DESTDIR)$(UNITDIR)/relayguardd.service
	$(Q)chmod 0644 $(DESTDIR)$(UNITDIR)/relayguardd.service
	$(Q)install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/tenants.d
	$(Q)[ -e $(DESTDIR)$(SYSCONFDIR)/relayguard.conf ] || \
		install -m 0644 tools/examples/relayguard.conf $(DESTDIR)$(SYSCONFDIR)/relayguard.conf
	$(Q)[ -e $(DESTDIR)$(SYSCONFDIR)/contoso.domains ] || \
		install -m 0644 tools/examples/contoso.domains $(DESTDIR)$(SYSCONFDIR)/contoso.domains
	$(Q)[ -e $(DESTDIR)$(SYSCONFDIR)/tenants.d/example.conf.sample ] || \
		install -m 0644 tools/examples/tenants.d/example.conf \
		$(DESTDIR)$(SYSCONFDIR)/tenants.d/example.conf.sample

uninstall:
	$(Q)rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	$(Q)rm -f $(DESTDIR)$(SYSCONFDIR)/tenants.d/example.conf.sample
	$(Q)rmdir $(DESTDIR)$(LIBDIR) 2>/dev/null || true
