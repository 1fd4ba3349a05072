// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * journal.c: the append-only journal of state changes (format in journal.h). Takes the
 * engine's changes (ops->journal) and the state directory; buffers them as text lines,
 * writes them in one write(2) per flush, replays them at start on top of the snapshot
 * (state.c) and compacts into a new snapshot. Reports 0 or -errno; a write that fails
 * (a full disk) cuts the file back to its last whole record and asks for a compaction,
 * so a half-written record is never followed by good ones.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"
#include "log.h"
#include "names.h"
#include "readfile.h"
#include "state.h"

/* A journal bigger than this is not read whole at start (it is compacted long before:
 * the agent compacts past a few MiB). */
#define JOURNAL_READ_MAX (1024u << 20)
#define LINE_MAX_LEN 512

struct rg_journal {
	char dir[4096];
	int fd;
	uint64_t gen;
	uint64_t size;		/* bytes of whole records in the file */
	char *buf;
	size_t len, cap;
	size_t pending;		/* records in buf */
	int broken;		/* -errno: a change did not reach the file */
	bool unsynced;
};

/* ---- one change <-> one line ---------------------------------------------------------- */

static char class_letter(enum rg_class c)
{
	switch (c) {
	case RG_CLASS_NULL_SENDER: return 'n';
	case RG_CLASS_REGISTERED: return 'r';
	case RG_CLASS_UNREGISTERED: return 'u';
	case RG_CLASS_INVALID: return 'i';
	default: return '?';
	}
}

static int class_of(const char *s, enum rg_class *c)
{
	if (!s[0] || s[1])
		return -EINVAL;
	switch (s[0]) {
	case 'n': *c = RG_CLASS_NULL_SENDER; return 0;
	case 'r': *c = RG_CLASS_REGISTERED; return 0;
	case 'u': *c = RG_CLASS_UNREGISTERED; return 0;
	case 'i': *c = RG_CLASS_INVALID; return 0;
	default: return -EINVAL;
	}
}

int rg_journal_format(const struct rg_engine_change *c, char *buf, size_t len)
{
	char t[RG_ADDR_STRLEN], by[sizeof(c->v.by)];
	int n = -1;

	switch (c->kind) {
	case RG_CHANGE_TXN:
		n = snprintf(buf, len, "t %" PRIu64 " %c %s\n", c->at_ns, class_letter(c->cls),
			     c->tenant);
		break;
	case RG_CHANGE_RESTRICT:
		n = snprintf(buf, len, "r %" PRIu64 " %" PRIu64 " %d %s %s\n", c->at_ns,
			     c->until_ns, c->monitor_only ? 1 : 0,
			     c->reason && !strcmp(c->reason, "operator") ? "operator" : "limit",
			     c->tenant);
		break;
	case RG_CHANGE_LIFT:
		n = snprintf(buf, len, "l %s\n", c->tenant);
		break;
	case RG_CHANGE_VERDICT:
		/* "by" is the last field, the rest of the line: no line break may be in it. */
		snprintf(by, sizeof(by), "%s", c->v.by);
		for (char *p = by; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = ' ';
		n = snprintf(buf, len, "v %s %s %s %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
			     " %u %s\n", rg_cidr_format(&c->v.target, t, sizeof(t)),
			     rg_str_name_code(rg_action_names, (int)c->v.action),
			     rg_str_name_code(rg_origin_names, (int)c->v.origin),
			     c->v.interval_ns, c->v.burst_ns, c->v.since_ns, c->v.expires_ns,
			     c->v.tenant_id, by);
		break;
	case RG_CHANGE_VERDICT_DEL:
		n = snprintf(buf, len, "d %s\n", rg_cidr_format(&c->v.target, t, sizeof(t)));
		break;
	}
	if (n < 0 || (size_t)n >= len)
		return -EOVERFLOW;
	return n;
}

static int u64_of(const char *s, uint64_t *v)
{
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno || *end ? -EINVAL : 0;
}

/* Fields split on single spaces, in place; the last one takes the rest of the line. */
static size_t split(char *line, char **f, size_t max)
{
	size_t n = 0;

	while (line && n < max) {
		f[n++] = line;
		if (n == max)
			break;
		line = strchr(line, ' ');
		if (line)
			*line++ = '\0';
	}
	return n;
}

int rg_journal_parse(char *line, struct rg_engine_change *c)
{
	char *f[10];
	size_t n;
	uint64_t x;
	int code;

	memset(c, 0, sizeof(*c));
	n = split(line, f, 10);
	if (n < 2 || f[0][0] == '\0' || f[0][1] != '\0')
		return -EINVAL;
	switch (f[0][0]) {
	case 't':
		c->kind = RG_CHANGE_TXN;
		if (n != 4 || u64_of(f[1], &c->at_ns) || class_of(f[2], &c->cls))
			return -EINVAL;
		c->tenant = f[3];
		break;
	case 'r':
		c->kind = RG_CHANGE_RESTRICT;
		if (n != 6 || u64_of(f[1], &c->at_ns) || u64_of(f[2], &c->until_ns) ||
		    u64_of(f[3], &x) || x > 1 ||
		    (strcmp(f[4], "limit") && strcmp(f[4], "operator")))
			return -EINVAL;
		c->monitor_only = x;
		c->reason = f[4][0] == 'o' ? "operator" : "limit";
		c->tenant = f[5];
		break;
	case 'l':
		c->kind = RG_CHANGE_LIFT;
		if (n != 2)
			return -EINVAL;
		c->tenant = f[1];
		break;
	case 'v':
		c->kind = RG_CHANGE_VERDICT;
		if (n < 9 || rg_cidr_parse(f[1], &c->v.target, false) ||
		    rg_name_code(rg_action_names, f[2], &code) || code == RG_ACT_NONE)
			return -EINVAL;
		c->v.action = (enum rg_action)code;
		if (rg_name_code(rg_origin_names, f[3], &code) || u64_of(f[4], &c->v.interval_ns) ||
		    u64_of(f[5], &c->v.burst_ns) || u64_of(f[6], &c->v.since_ns) ||
		    u64_of(f[7], &c->v.expires_ns) || u64_of(f[8], &x) || x > UINT32_MAX ||
		    (c->v.action == RG_ACT_THROTTLE && !c->v.interval_ns))
			return -EINVAL;
		c->v.origin = (enum rg_origin)code;
		c->v.tenant_id = (uint32_t)x;
		if (n == 10)
			snprintf(c->v.by, sizeof(c->v.by), "%s", f[9]);
		break;
	case 'd':
		c->kind = RG_CHANGE_VERDICT_DEL;
		if (n != 2 || rg_cidr_parse(f[1], &c->v.target, false))
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	if (c->tenant && !rg_config_tenant_name_ok(c->tenant))
		return -EINVAL;
	return 0;
}

/* ---- the file ------------------------------------------------------------------------ */

static int path_of(const char *dir, char *buf, size_t len)
{
	return snprintf(buf, len, "%s/%s", dir, RG_JOURNAL_FILE) >= (int)len ? -ENAMETOOLONG : 0;
}

/* Replace the journal by an empty one of generation gen (atomically: a crash leaves the
 * old or the new one) and open it for appending. */
static int start_file(struct rg_journal *j, uint64_t gen)
{
	char path[4096 + 16], head[64];
	int n = snprintf(head, sizeof(head), RG_JOURNAL_MAGIC " %" PRIu64 "\n", gen);
	int fd, err;

	err = path_of(j->dir, path, sizeof(path));
	if (!err)
		err = rg_state_write_atomic(j->dir, RG_JOURNAL_FILE, head, (size_t)n);
	if (err)
		return err;
	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (j->fd >= 0)
		close(j->fd);
	j->fd = fd;
	j->gen = gen;
	j->size = (uint64_t)n;
	j->len = j->pending = 0;
	j->broken = 0;
	j->unsynced = false;
	return 0;
}

/* Open the existing journal for appending after its last whole record (a torn tail is
 * cut off first so that new records start on a line of their own). */
static int reopen_file(struct rg_journal *j, uint64_t whole)
{
	char path[4096 + 16];
	int fd, err = path_of(j->dir, path, sizeof(path));

	if (err)
		return err;
	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)whole)) {
		err = -errno;
		close(fd);
		return err;
	}
	j->fd = fd;
	j->size = whole;
	return 0;
}

int rg_journal_add(struct rg_journal *j, const struct rg_engine_change *c)
{
	int n;

	if (j->cap - j->len < LINE_MAX_LEN) {
		size_t cap = j->cap ? j->cap * 2 : 16384;
		char *nb = realloc(j->buf, cap);

		if (!nb) {
			j->broken = -ENOMEM;
			return -ENOMEM;
		}
		j->buf = nb;
		j->cap = cap;
	}
	n = rg_journal_format(c, j->buf + j->len, j->cap - j->len);
	if (n < 0) {
		j->broken = n;
		return n;
	}
	j->len += (size_t)n;
	j->pending++;
	return 0;
}

int rg_journal_flush(struct rg_journal *j)
{
	size_t off = 0;
	int err = 0;

	if (!j->len)
		return 0;
	/* One write(2) in the normal case; the loop only finishes a short write. */
	while (off < j->len) {
		ssize_t w = write(j->fd, j->buf + off, j->len - off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		off += (size_t)w;
	}
	if (err) {
		/* The memory has these changes; only a snapshot can put them on disk now. */
		if (ftruncate(j->fd, (off_t)j->size))
			pr_debug("journal: cannot cut back a failed write: %s", strerror(errno));
		j->broken = err;
	} else {
		j->size += j->len;
		j->unsynced = true;
	}
	j->len = j->pending = 0;
	return err;
}

int rg_journal_sync(struct rg_journal *j)
{
	if (!j->unsynced)
		return 0;
	j->unsynced = false;
	return fdatasync(j->fd) ? -errno : 0;
}

int rg_journal_compact(struct rg_journal *j, struct rg_engine *e, uint64_t now_ns)
{
	int err = rg_state_save_gen(e, j->dir, now_ns, j->gen + 1);

	if (err)
		return err;
	/* The snapshot holds everything up to now, the buffer included. If the new journal
	 * cannot be started, the old one (generation gen) is skipped on load: stay broken
	 * so that the next compaction tries again. */
	err = start_file(j, j->gen + 1);
	if (err) {
		j->gen++;
		j->broken = err;
	}
	return err;
}

uint64_t rg_journal_size(const struct rg_journal *j)
{
	return j->size;
}

size_t rg_journal_pending(const struct rg_journal *j)
{
	return j->pending;
}

int rg_journal_broken(const struct rg_journal *j)
{
	return j->broken;
}

void rg_journal_free(struct rg_journal *j)
{
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	free(j->buf);
	free(j);
}

/* ---- start ---------------------------------------------------------------------------- */

struct replay {
	size_t applied, skipped;
	uint64_t gen;
	uint64_t whole;		/* bytes up to the end of the last whole line */
	bool have_header;
};

static int replay_text(struct rg_engine *e, const char *path, char *text, size_t len,
		       uint64_t snap_gen, struct replay *r)
{
	size_t off = 0, lineno = 0;

	while (off < len) {
		char *nl = memchr(text + off, '\n', len - off), *line = text + off;
		struct rg_engine_change c;
		int err;

		if (!nl) {
			pr_warn("journal: %s: the last record (line %zu, %zu bytes) is torn, "
				"ignored", path, lineno + 1, len - off);
			break;
		}
		*nl = '\0';
		lineno++;
		off = (size_t)(nl - text) + 1;
		r->whole = off;
		if (lineno == 1) {
			size_t m = strlen(RG_JOURNAL_MAGIC);

			if (strncmp(line, RG_JOURNAL_MAGIC " ", m + 1) ||
			    u64_of(line + m + 1, &r->gen)) {
				pr_warn("journal: %s: no journal header: not replayed", path);
				return -EBADMSG;
			}
			r->have_header = true;
			if (r->gen < snap_gen) {
				pr_info("journal: %s: generation %" PRIu64 " is in the snapshot "
					"already (%" PRIu64 ")", path, r->gen, snap_gen);
				return 0;
			}
			if (r->gen > snap_gen)
				pr_warn("journal: %s: generation %" PRIu64 " is newer than the "
					"snapshot's (%" PRIu64 "): replayed on top of it", path,
					r->gen, snap_gen);
			continue;
		}
		if (rg_journal_parse(line, &c)) {
			r->skipped++;
			pr_warn("journal: %s:%zu: malformed record skipped", path, lineno);
			continue;
		}
		err = rg_engine_apply(e, &c);
		if (err == -ENOMEM)
			return err;
		if (err) {
			r->skipped++;
			pr_warn("journal: %s:%zu: record not applied: %s", path, lineno,
				strerror(-err));
			continue;
		}
		r->applied++;
	}
	return 0;
}

int rg_journal_load(struct rg_engine *e, const char *dir, uint64_t now_ns,
		    struct rg_journal **out)
{
	struct rg_journal *j = calloc(1, sizeof(*j));
	struct replay r = { 0 };
	char path[4096 + 16];
	uint64_t snap_gen = 0;
	char *text = NULL;
	size_t len = 0;
	int err, lerr, rerr;

	*out = NULL;
	if (!j)
		return -ENOMEM;
	j->fd = -1;
	if (snprintf(j->dir, sizeof(j->dir), "%s", dir) >= (int)sizeof(j->dir) ||
	    path_of(dir, path, sizeof(path))) {
		free(j);
		return -ENAMETOOLONG;
	}
	lerr = rg_state_load_snapshot(e, dir, now_ns, &snap_gen);
	if (lerr && lerr != -EBADMSG) {
		free(j);
		return lerr;
	}
	rerr = rg_read_file(path, JOURNAL_READ_MAX, O_NOFOLLOW, &text, &len, NULL);
	if (!rerr) {
		err = replay_text(e, path, text, len, snap_gen, &r);
		free(text);
		if (err == -ENOMEM) {
			free(j);
			return err;
		}
		if (r.applied || r.skipped)
			pr_info("journal: %s: %zu records replayed, %zu skipped", path, r.applied,
				r.skipped);
	} else if (rerr != -ENOENT) {
		pr_warn("journal: cannot read %s: %s; starting from the snapshot", path,
			strerror(-rerr));
	}
	rg_engine_sync(e, now_ns);

	/* Generations only grow: past both the snapshot's and the journal's. */
	j->gen = snap_gen > r.gen ? snap_gen : r.gen;
	err = rg_journal_compact(j, e, now_ns);
	if (err) {
		pr_err("cannot save state in %s: %s; journalling on top of the old state", dir,
		       strerror(-err));
		/* Go on appending to the journal that was just replayed, when its records
		 * are the snapshot's generation: they will be replayed again. */
		if (r.have_header && r.gen >= snap_gen && j->fd < 0 && !reopen_file(j, r.whole)) {
			j->gen = r.gen;
			j->broken = 0;
		}
		if (j->fd < 0)
			j->broken = err;
	}
	*out = j;
	return lerr;
}
