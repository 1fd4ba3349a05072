# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# deb.mk: `make deb` builds $(BUILD)/relayguard_VERSION_ARCH.deb with dpkg-buildpackage and
# debhelper from the packaging files in tools/debian/, then checks it with lintian (any
# warning or error fails the target). Included by the Makefile.
#
# The top level of the tree has no debian/: the sources are copied to
# $(BUILD)/deb/relayguard-VERSION/ (without build/ and .git) with tools/debian/ staged as
# its debian/, and the package is built there, so a `make deb` never writes into the source
# tree and always packages the working tree as it is. VERSION is RG_VERSION (user/version.h);
# tools/debian/changelog must name the same one, or the target says so and stops.

DEB_VERSION := $(shell sed -n 's/^\#define RG_VERSION "\(.*\)"/\1/p' user/version.h)
DEB_ARCH := $(shell dpkg --print-architecture 2>/dev/null)
DEB_DIR := $(BUILD)/deb
DEB_SRC := $(DEB_DIR)/relayguard-$(DEB_VERSION)
DEB := $(BUILD)/relayguard_$(DEB_VERSION)_$(DEB_ARCH).deb

.PHONY: deb

deb:
	$(call msg,DEB,$(DEB))
	$(Q)v=$$(dpkg-parsechangelog -l tools/debian/changelog -S Version) && \
		[ "$$v" = "$(DEB_VERSION)" ] || \
		{ echo "deb: tools/debian/changelog is $$v, user/version.h says $(DEB_VERSION)" >&2; exit 1; }
	$(Q)rm -rf $(DEB_DIR) && mkdir -p $(DEB_SRC)
	$(Q)tar -c --exclude=./build --exclude=./.git --exclude=./debian . | tar -x -C $(DEB_SRC)
	$(Q)cp -r tools/debian $(DEB_SRC)/debian
	@# The outer make's variables (BUILD, DESTDIR, SANITIZE...) must not reach the
	@# package's own make through MAKEFLAGS.
	$(Q)cd $(DEB_SRC) && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
		dpkg-buildpackage -b --no-sign > ../build.log 2>&1 || \
		{ tail -30 ../build.log >&2; echo "deb: see $(DEB_DIR)/build.log" >&2; exit 1; }
	$(Q)mv $(DEB_DIR)/relayguard_$(DEB_VERSION)_$(DEB_ARCH).deb $(DEB)
	$(Q)lintian --fail-on error,warning $(DEB)
