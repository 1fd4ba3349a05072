# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# install.mk: make install / make uninstall, honouring DESTDIR and PREFIX (default
# /usr/local). Included by the Makefile. install depends on all, so a plain `make` first
# builds as the user and `sudo make install` only copies (it writes nothing into the
# source tree or build/).
#
#   $(PREFIX)/sbin/relayguardd, relayguardctl
#   $(PREFIX)/lib/relayguard/relayguard.bpf.o   for inspection (bpftool prog/btf dump, llvm-
#                                               objdump): relayguardd embeds the object through
#                                               its skeleton and never reads this file
#   $(PREFIX)/lib/relayguard/add-user            creates the user relayguardd drops to; make
#                                               install (without DESTDIR) and the package's
#                                               postinst run it
#   $(PREFIX)/lib/relayguard/notify-mail         a ready notify_command: mails the tenant's
#                                               contacts through sendmail
#   $(PREFIX)/share/man/man8/relayguardd.8, relayguardctl.8, man5/relayguard.conf.5
#   $(PREFIX)/lib/systemd/system/relayguardd.service
#   $(PREFIX)/share/bash-completion/completions/relayguardctl   (bash-completion reads
#                                               /usr/local/share too, via XDG_DATA_DIRS)
#   /etc/relayguard/relayguard.conf, contoso.domains, tenants.d/example.conf.sample
#   /etc/logrotate.d/relayguard                 the audit log, reopened through SIGUSR1
#
# The unit goes under PREFIX, not /lib: PREFIX=/usr gives /usr/lib/systemd/system (where
# Debian's packages put theirs; /lib is /usr/lib on merged-/usr Debian 12), the default
# /usr/local gives /usr/local/lib/systemd/system, which systemd also reads (systemd-analyze
# unit-paths), so a local install never writes into the distribution's directory. With any
# other PREFIX, `systemctl link` the installed unit. ExecStart names the installed sbin.
#
# The configuration goes to /etc/relayguard whatever PREFIX is (SYSCONFDIR to change it),
# and each example file only where none exists: an operator's files are never overwritten,
# and uninstall leaves them (as dpkg keeps conffiles on remove). The example configuration
# reads contoso.domains and includes tenants.d/*.conf; the tenant example is installed as
# .sample so that it is not included until an operator renames it.

SBINDIR ?= $(PREFIX)/sbin
LIBDIR ?= $(PREFIX)/lib/relayguard
MANDIR ?= $(PREFIX)/share/man
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc/relayguard
COMPLETIONDIR ?= $(PREFIX)/share/bash-completion/completions
LOGROTATEDIR ?= /etc/logrotate.d

INSTALLED := $(SBINDIR)/relayguardd $(SBINDIR)/relayguardctl $(LIBDIR)/relayguard.bpf.o \
	$(LIBDIR)/add-user $(LIBDIR)/notify-mail \
	$(MANDIR)/man8/relayguardd.8 $(MANDIR)/man8/relayguardctl.8 \
	$(MANDIR)/man5/relayguard.conf.5 $(UNITDIR)/relayguardd.service \
	$(COMPLETIONDIR)/relayguardctl $(LOGROTATEDIR)/relayguard \
	$(SYSCONFDIR)/tenants.d/example.conf.sample

# Directories install may create. It writes down in CREATED_DIRS each one it created (with
# the parents it created), merged with an earlier install's list; uninstall removes those
# when empty, deepest first. Directories that were there before (/usr/local/sbin) stay.
INSTALL_DIRS := $(SBINDIR) $(LIBDIR) $(MANDIR)/man8 $(MANDIR)/man5 $(UNITDIR) \
	$(SYSCONFDIR)/tenants.d $(COMPLETIONDIR) $(LOGROTATEDIR)
CREATED_DIRS = $(DESTDIR)$(LIBDIR)/installed-dirs

# install FILE DEST only if DEST does not exist yet.
install_new = [ -e $(2) ] || install -D -m 0644 $(1) $(2)

.PHONY: install uninstall

install: all
	$(call msg,INSTALL,$(DESTDIR)$(PREFIX) $(DESTDIR)$(SYSCONFDIR))
	$(Q)new=$$(for d in $(INSTALL_DIRS); do \
		while [ -n "$$d" ] && [ ! -d "$(DESTDIR)$$d" ]; do echo "$$d"; d=$${d%/*}; done; \
	done); install -d -m 0755 $(DESTDIR)$(LIBDIR) && \
	{ cat $(CREATED_DIRS) 2>/dev/null; [ -z "$$new" ] || printf '%s\n' $$new; } | \
		sort -u >$(CREATED_DIRS).new && mv $(CREATED_DIRS).new $(CREATED_DIRS)
	$(Q)install -D -m 0755 $(BUILD)/relayguardd $(DESTDIR)$(SBINDIR)/relayguardd
	$(Q)install -D -m 0755 $(BUILD)/relayguardctl $(DESTDIR)$(SBINDIR)/relayguardctl
	$(Q)install -D -m 0644 $(BUILD)/bpf/relayguard.bpf.o $(DESTDIR)$(LIBDIR)/relayguard.bpf.o
	$(Q)install -D -m 0755 tools/add-user.sh $(DESTDIR)$(LIBDIR)/add-user
	$(Q)install -D -m 0755 tools/relayguard-notify-mail $(DESTDIR)$(LIBDIR)/notify-mail
	@# Into this system only: a staged tree (DESTDIR, the package) leaves it to postinst.
	$(Q)[ -n "$(DESTDIR)" ] || tools/add-user.sh
	$(Q)install -D -m 0644 tools/man/relayguardd.8 $(DESTDIR)$(MANDIR)/man8/relayguardd.8
	$(Q)install -D -m 0644 tools/man/relayguardctl.8 $(DESTDIR)$(MANDIR)/man8/relayguardctl.8
	$(Q)install -D -m 0644 tools/man/relayguard.conf.5 $(DESTDIR)$(MANDIR)/man5/relayguard.conf.5
	$(Q)install -D -m 0644 tools/completion/relayguardctl $(DESTDIR)$(COMPLETIONDIR)/relayguardctl
	$(Q)install -D -m 0644 tools/relayguard.logrotate $(DESTDIR)$(LOGROTATEDIR)/relayguard
	$(Q)install -d -m 0755 $(DESTDIR)$(UNITDIR)
	$(Q)sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
		tools/relayguardd.service > $(DESTDIR)$(UNITDIR)/relayguardd.service
	$(Q)chmod 0644 $(DESTDIR)$(UNITDIR)/relayguardd.service
	$(Q)install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/tenants.d
	$(Q)$(call install_new,tools/examples/relayguard.conf,$(DESTDIR)$(SYSCONFDIR)/relayguard.conf)
	$(Q)$(call install_new,tools/examples/contoso.domains,$(DESTDIR)$(SYSCONFDIR)/contoso.domains)
	$(Q)$(call install_new,tools/examples/tenants.d/example.conf,\
		$(DESTDIR)$(SYSCONFDIR)/tenants.d/example.conf.sample)

# Removes what install put there but the configuration; directories only when empty.
uninstall:
	$(Q)dirs=$$(sort -r $(CREATED_DIRS) 2>/dev/null); \
	rm -f $(addprefix $(DESTDIR),$(INSTALLED)) $(CREATED_DIRS); \
	for d in $$dirs; do rmdir "$(DESTDIR)$$d" 2>/dev/null || true; done
	$(Q)rmdir $(DESTDIR)$(LIBDIR) $(DESTDIR)$(SYSCONFDIR)/tenants.d 2>/dev/null || true
