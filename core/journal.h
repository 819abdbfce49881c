/* The update journal: an append-only, fsync'ed record of one update.
 *
 * STATE/journal/current.jnl holds the update in progress (or the one a
 * crash interrupted); when the update is over its last record is "end"
 * and the file is renamed to STATE/journal/<update-id>.jnl. One JSON
 * object per line: {"seq":N,"t":epoch_ms,"ev":EVENT, ...fields}. A torn
 * last line (a crash in the middle of a write) is ignored and cut off
 * when the journal is reopened. See docs/architecture.md. */
#ifndef NX_JOURNAL_H
#define NX_JOURNAL_H

#include <jansson.h>
#include "util.h"

typedef struct nx_journal nx_journal;

char *nx_journal_dir(const char *state_dir);
char *nx_journal_current(const char *state_dir);

/* Create current.jnl (refused if one exists) with the "begin" record
 * `begin` (its fields; "id" required). Atomic: current.jnl appears only
 * with its begin record written and fsync'ed (written under a temporary
 * name, linked into place without replacing anything, folder fsync'ed).
 * The caller holds the state lock. */
nx_journal *nx_journal_create(const char *state_dir, json_t *begin, nx_err *e);
/* Reopen current.jnl for appending; *records gets every intact record. */
nx_journal *nx_journal_reopen(const char *state_dir, json_t **records, nx_err *e);
/* Append one record (fields may be NULL; the reference is stolen);
 * returns after fsync. */
int nx_journal_append(nx_journal *j, const char *ev, json_t *fields, nx_err *e);
/* Append "end" with the outcome and archive the file as <id>.jnl. */
int nx_journal_end(nx_journal *j, const char *outcome, json_t *fields, nx_err *e);
/* Archive a journal that already ends (a crash after "end"). */
int nx_journal_archive(nx_journal *j, nx_err *e);
void nx_journal_close(nx_journal *j);
const char *nx_journal_path(const nx_journal *j);

/* A journal without any intact record: empty, or only a torn first line
 * (left by a version that created the journal before writing its begin
 * record, killed in between). Nothing ran under it: a step starts only
 * after "begin" and its own "step-start" are on disk. 1 when the journal
 * at path is such a one, 0 when it has a record (or is corrupt), -1 when
 * it cannot be read. */
int nx_journal_unstarted(const char *path, nx_err *e);
/* Close such a journal (refused when current.jnl is not one): move it
 * aside, never replacing a file, as
 * STATE/journal/unstarted-<UTC time>[-N].jnl (the folder fsync'ed); the
 * new path, or NULL. The caller holds the state lock. */
char *nx_journal_close_unstarted(const char *state_dir, nx_err *e);

/* Read a journal file; *torn is set when a torn last line was dropped. */
int nx_journal_read(const char *path, json_t **records, int *torn, nx_err *e);

#endif
