# make install [PREFIX=/usr/local] [DESTDIR=]   builds in release mode and installs (the binaries,
#                                               the unit, completions for bash, zsh and fish, a man page)
# make uninstall [PREFIX=/usr/local] [DESTDIR=] removes what install put in place
# The queue (/var/lib/legnext-queue) and the key (/etc/legnext-queue/legnext-api-key) are kept.

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
DOCDIR ?= $(PREFIX)/share/doc/legnext-queue
MANDIR ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d
SYSCONFDIR ?= /etc
UNITDIR ?= $(SYSCONFDIR)/systemd/system
SYSUSERSDIR ?= $(SYSCONFDIR)/sysusers.d
SWIFT ?= swift
# Where the built binaries are; `make install-files BUILT=…` installs an existing build.
BUILT ?= .build/release

INSTALL ?= install

.PHONY: all build install install-files uninstall

all: build

build:
	$(SWIFT) build -c release --product legnext-queue
	$(SWIFT) build -c release --product legnext-sim

install: build install-files

install-files:
	$(INSTALL) -d -m 0755 $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(DOCDIR)
	$(INSTALL) -d -m 0750 $(DESTDIR)$(SYSCONFDIR)/legnext-queue
	$(INSTALL) -m 0755 $(BUILT)/legnext-queue $(BUILT)/legnext-sim $(DESTDIR)$(BINDIR)/
	sed -e 's|/usr/local/bin/|$(BINDIR)/|g' -e 's|/usr/local/share/doc/legnext-queue/|$(DOCDIR)/|g' \
	    -e 's|/etc/legnext-queue/|$(SYSCONFDIR)/legnext-queue/|g' \
	    systemd/legnext-queue.service > $(DESTDIR)$(UNITDIR)/legnext-queue.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/legnext-queue.service
	$(INSTALL) -m 0644 systemd/legnext-queue.sysusers $(DESTDIR)$(SYSUSERSDIR)/legnext-queue.conf
	$(INSTALL) -m 0644 systemd/legnext-queue.env.example $(DESTDIR)$(SYSCONFDIR)/legnext-queue/legnext-queue.env.example
	$(INSTALL) -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md
	@# Shell completions and the man page come from the built binary itself (swift-argument-parser
	@# prints them), so they match it; nothing is built here. manpage.sh renders the same
	@# --experimental-dump-help JSON that the generate-manual plugin would, and needs jq.
	$(INSTALL) -d -m 0755 $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR) $(DESTDIR)$(MANDIR)/man1
	$(BUILT)/legnext-queue --generate-completion-script bash > $(DESTDIR)$(BASHCOMPDIR)/legnext-queue.tmp
	$(BUILT)/legnext-queue --generate-completion-script zsh > $(DESTDIR)$(ZSHCOMPDIR)/_legnext-queue.tmp
	$(BUILT)/legnext-queue --generate-completion-script fish > $(DESTDIR)$(FISHCOMPDIR)/legnext-queue.fish.tmp
	bash scripts/manpage.sh $(BUILT)/legnext-queue > $(DESTDIR)$(MANDIR)/man1/legnext-queue.1.tmp
	@for file in $(DESTDIR)$(BASHCOMPDIR)/legnext-queue $(DESTDIR)$(ZSHCOMPDIR)/_legnext-queue \
	    $(DESTDIR)$(FISHCOMPDIR)/legnext-queue.fish $(DESTDIR)$(MANDIR)/man1/legnext-queue.1; do \
	    chmod 0644 "$$file.tmp" && mv -f "$$file.tmp" "$$file" || exit 1; \
	done
	@if [ -z "$(DESTDIR)" ] && command -v systemd-sysusers >/dev/null 2>&1; then \
	    systemd-sysusers $(SYSUSERSDIR)/legnext-queue.conf; \
	fi
	@if [ -z "$(DESTDIR)" ]; then \
	    echo; \
	    echo "Installed. Next:"; \
	    echo "  sudo sh -c 'umask 077; cat > $(SYSCONFDIR)/legnext-queue/legnext-api-key'   # paste the key, Enter, Ctrl-D"; \
	    echo "  sudo systemctl daemon-reload && sudo systemctl enable --now legnext-queue"; \
	fi

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/legnext-queue $(DESTDIR)$(BINDIR)/legnext-sim
	rm -f $(DESTDIR)$(UNITDIR)/legnext-queue.service
	rm -f $(DESTDIR)$(SYSUSERSDIR)/legnext-queue.conf
	rm -f $(DESTDIR)$(SYSCONFDIR)/legnext-queue/legnext-queue.env.example
	rm -f $(DESTDIR)$(DOCDIR)/README.md
	rm -f $(DESTDIR)$(BASHCOMPDIR)/legnext-queue $(DESTDIR)$(ZSHCOMPDIR)/_legnext-queue
	rm -f $(DESTDIR)$(FISHCOMPDIR)/legnext-queue.fish $(DESTDIR)$(MANDIR)/man1/legnext-queue.1
	-rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null
	@if [ -z "$(DESTDIR)" ] && command -v systemctl >/dev/null 2>&1; then systemctl daemon-reload || true; fi
