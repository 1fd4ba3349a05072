/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * state.h: the engine's persistent state in STATE_DIR/state.json: tenant ids, restrictions,
 * budgets (window timestamps) and the verdict table, as one versioned JSON object
 * ({"version":1,...}, see state_json.h). Writes are atomic: a temporary file in the
 * same directory, fsync, rename over state.json, fsync of the directory.
 *
 * The agent does not save this file per change: every change goes to the append-only
 * journal (journal.h) before the reply, and a snapshot here is written at start, on
 * reload, at a clean stop and when the journal has grown past its bound. The snapshot
 * records "journal_gen", the journal generation whose records it already contains.
 */
#ifndef RG_STATE_H
#define RG_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "classify.h"

#define RG_STATE_FILE "state.json"
#define RG_STATE_FILE_MAX (512u << 20)	/* bytes; a bigger file is refused as corrupt */

/*
 * Save e's state into dir/state.json atomically and mark the engine saved. 0 or -errno
 * (e.g. -ENOSPC, -EACCES): the old file is left whole, the engine stays dirty and keeps
 * serving from memory; the caller logs, counts and retries later.
 */
int rg_state_save(struct rg_engine *e, const char *dir, uint64_t now_ns);
/* The same, recording that the snapshot contains every journal record before generation
 * gen (rg_state_save: gen 0, no journal). */
int rg_state_save_gen(struct rg_engine *e, const char *dir, uint64_t now_ns, uint64_t gen);

/*
 * Load dir/state.json into e (just made by rg_engine_new), then rg_engine_sync(): the
 * connectors and every verdict still in force are pushed to the kernel, expired ones are
 * deleted there. Returns:
 *   0            loaded, or no file (a fresh start, logged at info);
 *   -EBADMSG     the file is corrupt (not JSON, wrong shape): it was renamed to
 *                state.json.corrupt-YYYYMMDDTHHMMSSZ, the reason and the new name are
 *                logged at error level (restrictions in it are NOT in force: an operator
 *                must look), and e starts fresh and synced: the agent may go on;
 *   -EPROTONOSUPPORT  a state version this build does not read: the file is left as it
 *                is and nothing was synced; the agent must not start (saving would
 *                overwrite state a newer version wrote);
 *   other -errno the file could not be read (-EACCES, -EIO...): left as it is, nothing
 *                synced; the agent must not start (same reason).
 */
int rg_state_load(struct rg_engine *e, const char *dir, uint64_t now_ns);
/* rg_state_load without the final rg_engine_sync (the journal is replayed first); *gen
 * (may be NULL): the snapshot's journal_gen, 0 without one. */
int rg_state_load_snapshot(struct rg_engine *e, const char *dir, uint64_t now_ns, uint64_t *gen);

/* Write len bytes of text to dir/name atomically (temp file, fsync, rename, fsync dir).
 * 0 or -errno; on failure the old file is untouched and the temp file removed. */
int rg_state_write_atomic(const char *dir, const char *name, const char *text, size_t len);

#endif /* RG_STATE_H */
