/* The backup store: [paths] backups holds one folder per backup,
 *
 *   backup_<update id>_<YYYYmmddTHHMMSSZ>/   0700
 *       database.dump  files.tar.zst  meta.json   0600
 *
 * written by the backup step (steps/backup). This module lists them,
 * finds one, and decides retention ([backup] keep, keep_days) for both
 * the backup step's commit and `nexo-update backups prune`. It is part
 * of nexoutil (linked into modules too): no libarchive here. */
#ifndef NX_BACKUPSTORE_H
#define NX_BACKUPSTORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

typedef struct nx_backup {
    char *name;          /* folder name */
    char *path;          /* absolute path */
    char *update_id, *created_at, *component, *from_version, *to_version, *pipeline; /* from meta.json; NULL when absent */
    long long created;   /* epoch seconds of created_at (0 if unknown) */
    uint64_t size;       /* bytes of the folder's files */
    json_t *meta;        /* the whole meta.json (NULL when unreadable) */
    long long mtime_ns;  /* the folder's mtime: orders backups made in the same second */
} nx_backup;

typedef struct nx_backup_list {
    nx_backup *v;
    size_t n;
} nx_backup_list;

/* The backups in dir: folders named backup_* (not *.partial), newest
 * first (by created, then by the folder's mtime, then by name). Folders without a readable meta.json
 * are listed with meta NULL and created 0 (so they come last). A missing
 * dir is an empty list; -1 + e on error (dir unreadable). */
int nx_backups_list(const char *dir, nx_backup_list *out, nx_err *e);
void nx_backups_free(nx_backup_list *l);
/* By update id or folder name (or absolute path); NULL when not there. */
const nx_backup *nx_backups_find(const nx_backup_list *l, const char *id);

/* Retention: which backups of l (as nx_backups_list gives it, newest
 * first) [backup] keep / keep_days remove. Only backups with a readable
 * meta.json and a valid created_at take part. The newest `keep` stay;
 * of the others, those created keep_days days before `now` or later
 * stay too (keep_days 0: none stays for its age). `current` (a folder
 * name or path; NULL: none) is never removed and takes one of the `keep`
 * places. remove[i] (l->n entries) is set to 1 for each backup to remove,
 * 0 otherwise; returns how many. */
size_t nx_backups_retention(const nx_backup_list *l, const char *current, long keep,
                            long keep_days, long long now, unsigned char *remove);

/* Epoch seconds of "YYYY-mm-ddTHH:MM:SSZ"; -1 when malformed. */
long long nx_backup_parse_time(const char *s);

#endif
