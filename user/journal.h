/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * journal.h: the append-only journal of state changes, STATE_DIR/journal, next to the
 * snapshot state.json (state.h). Every change the engine reports through ops->journal
 * (classify.h: a counted transaction, a restriction, a lift, a verdict set or removed) is
 * buffered by rg_journal_add and written by rg_journal_flush in one write(2); the agent
 * flushes once per loop iteration before the replies of that iteration go out, so a
 * transaction that was counted is still counted after kill -9. fdatasync is batched
 * (rg_journal_sync, once a second): a power loss may lose the last second.
 *
 * File: a header line "relayguard-journal 1 GEN", then one line per change:
 *   t AT_NS CLASS TENANT                       a transaction entered the counts
 *   r SINCE_NS UNTIL_NS MONITOR_ONLY REASON TENANT   restricted
 *   l TENANT                                   lifted (fresh budget)
 *   v TARGET ACTION ORIGIN INTERVAL BURST SINCE EXPIRES TENANT_ID [BY]   verdict set
 *   d TARGET                                   verdict removed
 * Compaction (rg_journal_compact) writes a snapshot that records generation GEN + 1 and
 * replaces the journal by an empty one of that generation; on load, a journal older than
 * the snapshot's generation is already in it and is skipped, so a crash between the two
 * steps counts nothing twice.
 */
#ifndef RG_JOURNAL_H
#define RG_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "classify.h"

#define RG_JOURNAL_FILE "journal"
#define RG_JOURNAL_MAGIC "relayguard-journal 1"

struct rg_journal;

/*
 * Start: load the snapshot (rg_state_load_snapshot), replay the journal on top of it (a
 * torn last record, e.g. cut by a crash mid-write, is ignored with a warning; a malformed
 * line is skipped with a warning), rg_engine_sync, then compact into a fresh snapshot and
 * an empty journal. Returns what rg_state_load returns (-EBADMSG: the snapshot was set
 * aside, the journal was still replayed and *out is open); *out is NULL on other errors.
 * A failing first compaction (full disk) is logged and *out still opens the old journal
 * for appending: nothing counted is refused.
 */
int rg_journal_load(struct rg_engine *e, const char *dir, uint64_t now_ns,
		    struct rg_journal **out);
void rg_journal_free(struct rg_journal *j);

/* Buffer one change (the engine's ops->journal). 0 or -ENOMEM (then the journal needs a
 * compaction to be whole again: rg_journal_broken). */
int rg_journal_add(struct rg_journal *j, const struct rg_engine_change *c);
/* Write what is buffered in one write(2). 0 or -errno: on failure the file is cut back to
 * its last whole record and the journal needs a compaction (rg_journal_broken). */
int rg_journal_flush(struct rg_journal *j);
/* fdatasync when something was written since the last call. 0 or -errno. */
int rg_journal_sync(struct rg_journal *j);
/* Snapshot now (state.json, atomically) and start an empty journal of the next
 * generation. 0 or -errno (the journal goes on as it was when the snapshot failed). */
int rg_journal_compact(struct rg_journal *j, struct rg_engine *e, uint64_t now_ns);

/* Bytes in the journal file; records buffered, not yet written. */
uint64_t rg_journal_size(const struct rg_journal *j);
size_t rg_journal_pending(const struct rg_journal *j);
/* A change was lost from the file (write or buffer failure): only a compaction, which
 * snapshots the memory, makes the disk whole again. The error, or 0. */
int rg_journal_broken(const struct rg_journal *j);

/* Exposed for the tests: one change as its line (with '\n') into buf, and back. */
int rg_journal_format(const struct rg_engine_change *c, char *buf, size_t len);
int rg_journal_parse(char *line, struct rg_engine_change *c);

#endif /* RG_JOURNAL_H */
