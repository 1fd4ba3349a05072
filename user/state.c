// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * state.c: the engine's state on disk. Takes the engine's JSON export (state_json.c) and
 * the state directory; writes STATE_DIR/state.json atomically (temp file in the same
 * directory, fsync, rename, fsync of the directory) and reads it back on start. Reports -errno for
 * every failure (ENOSPC included) so the agent logs it and keeps serving from memory; a
 * corrupt file is kept aside as state.json.corrupt-TIMESTAMP and logged at error level,
 * never silently dropped. The snapshot names the journal generation it contains
 * (journal.c replays only a journal of that generation or later on top of it).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "log.h"
#include "readfile.h"
#include "state.h"
#include "state_json.h"

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t w = write(fd, p, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int err = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) && errno != EINVAL)	/* some filesystems cannot sync directories */
		err = -errno;
	close(fd);
	return err;
}

int rg_state_write_atomic(const char *dir, const char *name, const char *text, size_t len)
{
	char tmp[4096], path[4096];
	int fd = -1, err;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path) ||
	    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp-%d", dir, name, (int)getpid()) >=
		    (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	err = write_all(fd, text, len);
	if (!err && fsync(fd))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err) {
		unlink(tmp);
		return err;
	}
	return fsync_dir(dir);
}

int rg_state_save_gen(struct rg_engine *e, const char *dir, uint64_t now_ns, uint64_t gen)
{
	struct json_object *o = rg_state_export(e, now_ns);
	const char *text;
	int err;

	if (!o)
		return -ENOMEM;
	if (json_object_object_add(o, "journal_gen", json_object_new_int64((int64_t)gen))) {
		err = -ENOMEM;
		goto out;
	}
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						 JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!text) {
		err = -ENOMEM;
		goto out;
	}
	{
		size_t n = strlen(text);
		char *buf = malloc(n + 2);

		if (!buf) {
			err = -ENOMEM;
			goto out;
		}
		memcpy(buf, text, n);
		buf[n++] = '\n';
		err = rg_state_write_atomic(dir, RG_STATE_FILE, buf, n);
		free(buf);
	}
	if (!err)
		rg_engine_mark_saved(e);
out:
	json_object_put(o);
	return err;
}

int rg_state_save(struct rg_engine *e, const char *dir, uint64_t now_ns)
{
	return rg_state_save_gen(e, dir, now_ns, 0);
}

static void set_aside(const char *dir, const char *path, uint64_t now_ns, const char *why)
{
	time_t secs = (time_t)(now_ns / 1000000000ULL);
	char aside[4096], stamp[32];
	struct tm tm;

	if (!gmtime_r(&secs, &tm) || !strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm))
		snprintf(stamp, sizeof(stamp), "%llu", (unsigned long long)secs);
	if (snprintf(aside, sizeof(aside), "%s/%s.corrupt-%s", dir, RG_STATE_FILE, stamp) >=
	    (int)sizeof(aside) || rename(path, aside)) {
		pr_err("state: %s is corrupt (%s) and could not be moved aside: %s; starting "
		       "without the restrictions and verdicts it held", path, why, strerror(errno));
		return;
	}
	fsync_dir(dir);
	pr_err("state: %s is corrupt (%s): kept as %s; starting WITHOUT the restrictions, "
	       "budgets and verdicts it held: an operator must review it", path, why, aside);
}

/* The snapshot's journal generation; absent (no journal yet, an earlier build): 0. */
static uint64_t snapshot_gen(struct json_object *obj)
{
	struct json_object *g;
	int64_t v;

	if (!json_object_object_get_ex(obj, "journal_gen", &g) ||
	    !json_object_is_type(g, json_type_int))
		return 0;
	v = json_object_get_int64(g);
	return v > 0 ? (uint64_t)v : 0;
}

int rg_state_load(struct rg_engine *e, const char *dir, uint64_t now_ns)
{
	int err = rg_state_load_snapshot(e, dir, now_ns, NULL);

	if (!err || err == -EBADMSG)
		rg_engine_sync(e, now_ns);
	return err;
}

int rg_state_load_snapshot(struct rg_engine *e, const char *dir, uint64_t now_ns, uint64_t *gen)
{
	struct json_tokener *tok = NULL;
	struct json_object *obj = NULL;
	char path[4096], why[160];
	size_t len = 0;
	char *text = NULL;
	int err;

	if (snprintf(path, sizeof(path), "%s/%s", dir, RG_STATE_FILE) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	err = rg_read_file(path, RG_STATE_FILE_MAX, O_NOFOLLOW, &text, &len, NULL);
	if (gen)
		*gen = 0;
	if (err == -ENOENT) {
		pr_info("state: no %s: fresh start", path);
		return 0;
	}
	if (err == -EFBIG) {
		snprintf(why, sizeof(why), "larger than %u bytes", RG_STATE_FILE_MAX);
		goto corrupt;
	}
	if (err) {
		pr_err("state: cannot read %s: %s", path, strerror(-err));
		return err;
	}
	tok = json_tokener_new();
	if (!tok) {
		err = -ENOMEM;
		goto out;
	}
	obj = json_tokener_parse_ex(tok, text, (int)(len > INT32_MAX ? INT32_MAX : len));
	if (!obj || json_tokener_get_error(tok) != json_tokener_success ||
	    strspn(text + json_tokener_get_parse_end(tok), " \t\r\n") !=
		    len - json_tokener_get_parse_end(tok) || strlen(text) != len) {
		enum json_tokener_error je = json_tokener_get_error(tok);

		snprintf(why, sizeof(why), "not one JSON object: %s at byte %zu",
			 je == json_tokener_success ? "trailing data" :
			 json_tokener_error_desc(je), json_tokener_get_parse_end(tok));
		goto corrupt;
	}
	err = rg_state_import(e, obj, now_ns);
	if (err == -EBADMSG) {
		snprintf(why, sizeof(why), "unexpected content, see the message before");
		goto corrupt;
	}
	if (err) {
		pr_err("state: %s not loaded: %s", path, strerror(-err));
		goto out;
	}
	pr_info("state: loaded %s", path);
	if (gen)
		*gen = snapshot_gen(obj);
	err = 0;
	goto out;

corrupt:
	set_aside(dir, path, now_ns, why);
	err = -EBADMSG;
out:
	if (tok)
		json_tokener_free(tok);
	json_object_put(obj);
	free(text);
	return err;
}
