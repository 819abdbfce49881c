/* nexo-update backups list | prune | verify ID: the backup store
 * ([paths] backups, core/backupstore.h). verify reads the whole files
 * archive through libarchive, so this file links only into the program. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "backupstore.h"
#include "cli.h"
#include "lock.h"
#include "trust.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define USAGE "Usage: nexo-update backups list | prune | verify ID\n"

static const char *or_dash(const char *s)
{
    return s && *s ? s : "-";
}

/* "1.5 MiB" */
static void human(uint64_t n, char *buf, size_t len)
{
    static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    double v = (double)n;
    size_t u = 0;
    while (v >= 1024.0 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%llu B", (unsigned long long)n);
    else
        snprintf(buf, len, "%.1f %s", v, units[u]);
}

static json_t *jstr(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *backup_json(const nx_backup *b)
{
    json_t *o = json_object();
    json_object_set_new(o, "update_id", jstr(b->update_id));
    json_object_set_new(o, "name", json_string(b->name));
    json_object_set_new(o, "path", json_string(b->path));
    json_object_set_new(o, "created_at", jstr(b->created_at));
    json_object_set_new(o, "created", json_integer(b->created));
    json_object_set_new(o, "component", jstr(b->component));
    json_object_set_new(o, "from_version", jstr(b->from_version));
    json_object_set_new(o, "to_version", jstr(b->to_version));
    json_object_set_new(o, "pipeline", jstr(b->pipeline));
    json_object_set_new(o, "size", json_integer((json_int_t)b->size));
    json_object_set_new(o, "meta", b->meta ? json_incref(b->meta) : json_null());
    return o;
}

static void print_table_head(void)
{
    printf("%-26s  %-20s  %-10s  %-22s  %-10s  %10s  %s\n", "UPDATE ID", "CREATED (UTC)",
           "COMPONENT", "FROM -> TO", "PIPELINE", "SIZE", "PATH");
}

static void print_row(const nx_backup *b)
{
    char vers[64], size[32];
    human(b->size, size, sizeof size);
    if (!b->meta) {
        printf("%-26s  %-20s  %-10s  %-22s  %-10s  %10s  %s\n", "?", "(no readable meta.json)",
               "-", "-", "-", size, b->path);
        return;
    }
    snprintf(vers, sizeof vers, "%s -> %s", or_dash(b->from_version), or_dash(b->to_version));
    printf("%-26s  %-20s  %-10s  %-22s  %-10s  %10s  %s\n", or_dash(b->update_id),
           or_dash(b->created_at), or_dash(b->component), vers, or_dash(b->pipeline), size,
           b->path);
}

/* The backups folder and its list; -1 after printing the error. */
static int load_list(struct cli *c, const char **dir, nx_backup_list *l)
{
    nx_config *cfg = cli_config(c);
    if (!cfg)
        return -1;
    *dir = nx_config_get(cfg, "paths", "backups");
    if (!*dir) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "%s: [paths] backups is not set",
               nx_config_file(cfg));
        return -1;
    }
    nx_err e;
    if (nx_backups_list(*dir, l, &e) != 0) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "%s", e.msg);
        return -1;
    }
    return 0;
}

/* ---- list ------------------------------------------------------------------ */

static int do_list(struct cli *c)
{
    const char *dir;
    nx_backup_list l;
    if (load_list(c, &dir, &l) != 0)
        return NX_EXIT_FAILED;
    if (c->out.json) {
        json_t *arr = json_array();
        uint64_t total = 0;
        for (size_t i = 0; i < l.n; i++) {
            json_array_append_new(arr, backup_json(&l.v[i]));
            total += l.v[i].size;
        }
        cli_print_json(json_pack("{s:s, s:I, s:o}", "dir", dir, "total_size",
                                 (json_int_t)total, "backups", arr));
    } else if (l.n == 0) {
        printf("no backups in %s\n", dir);
    } else {
        print_table_head();
        for (size_t i = 0; i < l.n; i++)
            print_row(&l.v[i]);
    }
    nx_backups_free(&l);
    return NX_EXIT_OK;
}

/* ---- prune ----------------------------------------------------------------- */

struct prune {
    const char *dir;
    long keep, keep_days;
    nx_backup_list l;
    unsigned char *rm;
    size_t n;
    uint64_t bytes;
};

static long config_num(nx_config *cfg, const char *key, long def)
{
    const char *v = nx_config_get(cfg, "backup", key);
    return v && *v ? strtol(v, NULL, 10) : def;
}

static void prune_report_json(const struct prune *p, int dry_run, const char *const *errors)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < p->l.n; i++) {
        json_t *o = backup_json(&p->l.v[i]);
        json_object_del(o, "meta");
        const char *action = p->rm[i] ? (dry_run ? "would_remove" : "removed") : "kept";
        if (p->rm[i] && errors && errors[i])
            action = "failed";
        json_object_set_new(o, "action", json_string(action));
        if (errors && errors[i])
            json_object_set_new(o, "error", json_string(errors[i]));
        json_array_append_new(arr, o);
    }
    cli_print_json(json_pack("{s:s, s:i, s:i, s:b, s:I, s:I, s:o}", "dir", p->dir, "keep",
                             (int)p->keep, "keep_days", (int)p->keep_days, "dry_run", dry_run,
                             "remove_count", (json_int_t)p->n, "remove_size",
                             (json_int_t)p->bytes, "backups", arr));
}

static void prune_plan_text(const struct prune *p, const char *verb)
{
    char size[32];
    for (size_t i = 0; i < p->l.n; i++) {
        if (!p->rm[i])
            continue;
        human(p->l.v[i].size, size, sizeof size);
        printf("%s %s (update %s, created %s, %s)\n", verb, p->l.v[i].path,
               or_dash(p->l.v[i].update_id), or_dash(p->l.v[i].created_at), size);
    }
}

/* Remove what was decided; returns how many removals failed. */
static size_t prune_remove(struct cli *c, struct prune *p, char **errors)
{
    size_t failed = 0;
    for (size_t i = 0; i < p->l.n; i++) {
        nx_err e;
        if (!p->rm[i])
            continue;
        if (nx_rmtree(p->l.v[i].path, &e) != 0) {
            nx_log(&c->out, NEXO_LOG_ERROR, NULL, "prune: %s", e.msg);
            errors[i] = nx_xstrdup(e.msg);
            failed++;
        } else if (!c->out.json) {
            printf("removed %s\n", p->l.v[i].path);
        }
    }
    return failed;
}

static int prune_apply(struct cli *c, struct prune *p)
{
    char size[32], *q;
    human(p->bytes, size, sizeof size);
    q = nx_xasprintf("Remove %zu backup(s) (%s) from %s (keep %ld, keep_days %ld)?", p->n, size,
                     p->dir, p->keep, p->keep_days);
    if (!c->out.json && !c->yes)
        prune_plan_text(p, "would remove");
    int ok = cli_confirm(c, q);
    free(q);
    if (ok <= 0) {
        if (ok == 0)
            fprintf(stderr, "Nothing was removed.\n");
        return ok < 0 ? NX_EXIT_USAGE : NX_EXIT_OK;
    }
    char **errors = nx_xcalloc(p->l.n, sizeof *errors);
    size_t failed = prune_remove(c, p, errors);
    if (c->out.json)
        prune_report_json(p, 0, (const char *const *)errors);
    for (size_t i = 0; i < p->l.n; i++)
        free(errors[i]);
    free(errors);
    return failed ? NX_EXIT_FAILED : NX_EXIT_OK;
}

static int prune_decide(struct cli *c, struct prune *p)
{
    memset(p, 0, sizeof *p);
    if (load_list(c, &p->dir, &p->l) != 0)
        return -1;
    p->keep = config_num(c->cfg, "keep", 5);
    p->keep_days = config_num(c->cfg, "keep_days", 30);
    p->rm = nx_xcalloc(p->l.n, 1);
    p->n = nx_backups_retention(&p->l, NULL, p->keep, p->keep_days, (long long)time(NULL), p->rm);
    for (size_t i = 0; i < p->l.n; i++)
        if (p->rm[i])
            p->bytes += p->l.v[i].size;
    return 0;
}

static int prune_run(struct cli *c, struct prune *p)
{
    if (c->dry_run || p->n == 0) {
        if (c->out.json)
            prune_report_json(p, c->dry_run, NULL);
        else if (p->n == 0)
            printf("nothing to prune: %zu backup(s) in %s, all kept (keep %ld, keep_days %ld)\n",
                   p->l.n, p->dir, p->keep, p->keep_days);
        else
            prune_plan_text(p, "would remove");
        return NX_EXIT_OK;
    }
    return prune_apply(c, p);
}

static int do_prune(struct cli *c)
{
    struct prune p;
    nx_config *cfg = cli_config(c);
    if (!cfg)
        return NX_EXIT_FAILED;
    /* the lock: no update may be making or using a backup meanwhile */
    int fd = -1;
    if (!c->dry_run) {
        nx_err e;
        int r = nx_lock_acquire(nx_config_get(cfg, "paths", "state"), "backups-prune", &fd, &e);
        if (r != 0) {
            nx_log(&c->out, NEXO_LOG_ERROR, NULL, "backups prune: %s", e.msg);
            return r > 0 ? NX_EXIT_LOCKED : NX_EXIT_FAILED;
        }
    }
    int code = NX_EXIT_FAILED;
    if (prune_decide(c, &p) == 0)
        code = prune_run(c, &p);
    free(p.rm);
    nx_backups_free(&p.l);
    nx_lock_release(fd);
    return code;
}

/* ---- verify ---------------------------------------------------------------- */

struct vf {
    struct cli *c;
    const nx_backup *b;
    json_t *problems;
    json_t *checked;
};

static void problem(struct vf *v, const char *file, const char *check, const char *expected,
                    const char *found, const char *fmt, ...) NX_PRINTF(6, 7);

static void problem(struct vf *v, const char *file, const char *check, const char *expected,
                    const char *found, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *o = json_pack("{s:s, s:s, s:s}", "file", file, "check", check, "message", msg);
    if (expected)
        json_object_set_new(o, "expected", json_string(expected));
    if (found)
        json_object_set_new(o, "found", json_string(found));
    json_array_append_new(v->problems, o);
}

static void checked(struct vf *v, const char *file, const char *what)
{
    json_array_append_new(v->checked, json_pack("{s:s, s:s}", "file", file, "result", what));
}

/* Type, mode and owner of a path of the backup. */
static int check_node(struct vf *v, const char *path, int dir, unsigned mode)
{
    struct stat st;
    char exp[64], got[64];
    if (lstat(path, &st) != 0) {
        problem(v, path, "exists", NULL, strerror(errno), "%s: %s", path, strerror(errno));
        return -1;
    }
    if (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
        problem(v, path, "type", dir ? "folder" : "regular file", "something else",
                "%s: not a %s", path, dir ? "folder" : "regular file (a symlink or special file)");
        return -1;
    }
    if ((st.st_mode & 07777) != mode) {
        snprintf(exp, sizeof exp, "%04o", mode);
        snprintf(got, sizeof got, "%04o", (unsigned)(st.st_mode & 07777));
        problem(v, path, "mode", exp, got, "%s: mode: expected %s, found %s", path, exp, got);
    }
    if (st.st_uid != geteuid()) {
        snprintf(exp, sizeof exp, "%ld", (long)geteuid());
        snprintf(got, sizeof got, "%ld", (long)st.st_uid);
        problem(v, path, "owner", exp, got,
                "%s: owner: expected uid %s (the user running nexo-update), found uid %s", path,
                exp, got);
    }
    return 0;
}

/* {"file","size","sha256"} of meta.json against the file on disk. */
static void check_hash(struct vf *v, const json_t *ent, const char *name)
{
    const char *file = json_string_value(json_object_get(ent, "file"));
    const char *sha = json_string_value(json_object_get(ent, "sha256"));
    json_t *jsize = json_object_get(ent, "size");
    char *path = nx_path_join(v->b->path, name);
    char *meta = nx_path_join(v->b->path, "meta.json");
    if (!file || strcmp(file, name) != 0 || !sha || !json_is_integer(jsize)) {
        problem(v, meta, "meta", NULL, NULL, "%s: the entry of %s lacks file, size or sha256 "
                "(or names another file)", meta, name);
    } else if (check_node(v, path, 0, 0600) == 0) {
        char hex[NX_SHA256_HEX], exp[32], got[32];
        uint64_t size = 0;
        nx_err e;
        if (nx_sha256_file(path, hex, &size, &e) != 0) {
            problem(v, path, "read", NULL, NULL, "%s", e.msg);
        } else {
            snprintf(exp, sizeof exp, "%lld", (long long)json_integer_value(jsize));
            snprintf(got, sizeof got, "%llu", (unsigned long long)size);
            if (strcmp(exp, got) != 0)
                problem(v, path, "size", exp, got, "%s: size: expected %s bytes (meta.json), "
                        "found %s", path, exp, got);
            if (strcmp(hex, sha) != 0)
                problem(v, path, "sha256", sha, hex, "%s: sha256: expected %s (meta.json), "
                        "found %s", path, sha, hex);
            else if (strcmp(exp, got) == 0)
                checked(v, name, "size and sha256 match meta.json");
        }
    }
    free(meta);
    free(path);
}

/* A plain relative archive name: not absolute, no "..", no empty name. */
static int safe_name(const char *n)
{
    if (!n || !*n || n[0] == '/')
        return 0;
    for (const char *p = n; *p;) {
        size_t len = strcspn(p, "/");
        if (len == 2 && p[0] == '.' && p[1] == '.')
            return 0;
        p += len;
        p += strspn(p, "/");
    }
    return 1;
}

/* One archive entry: name, type, and all of its data read. */
static int read_entry(struct vf *v, struct archive *a, struct archive_entry *ent,
                      const char *path)
{
    const char *name = archive_entry_pathname(ent);
    const char *link = archive_entry_hardlink(ent);
    mode_t type = archive_entry_filetype(ent);
    if (!safe_name(name) || (link && !safe_name(link)))
        problem(v, path, "entry-name", "a plain relative name", name ? name : "(none)",
                "%s: entry '%s'%s%s: not a plain relative name (absolute, '..' or empty)", path,
                name ? name : "", link ? " linked to " : "", link ? link : "");
    else if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK)
        problem(v, path, "entry-type", "file, folder or symlink", name,
                "%s: entry '%s' is not a file, folder or symlink", path, name);
    const void *buf;
    size_t len;
    la_int64_t off;
    for (;;) {
        int r = archive_read_data_block(a, &buf, &len, &off);
        if (r == ARCHIVE_EOF)
            return 0;
        if (r < ARCHIVE_WARN) {
            problem(v, path, "archive", NULL, archive_error_string(a),
                    "%s: entry '%s': cannot read its data: %s", path, name ? name : "",
                    archive_error_string(a));
            return -1;
        }
    }
}

static void check_entries_count(struct vf *v, const char *path, uint64_t n)
{
    json_t *want = json_object_get(json_object_get(v->b->meta, "files"), "entries");
    if (!json_is_integer(want) || (uint64_t)json_integer_value(want) == n)
        return;
    char exp[32], got[32];
    snprintf(exp, sizeof exp, "%lld", (long long)json_integer_value(want));
    snprintf(got, sizeof got, "%llu", (unsigned long long)n);
    problem(v, path, "entries", exp, got, "%s: entries: expected %s (meta.json), found %s",
            path, exp, got);
}

/* The whole files.tar.zst through libarchive, every entry and its data. */
static void check_archive(struct vf *v)
{
    char *path = nx_path_join(v->b->path, "files.tar.zst");
    struct stat st;
    if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        free(path);
        return; /* already reported */
    }
    struct archive *a = archive_read_new();
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    uint64_t n = 0;
    nx_progress prog;
    memset(&prog, 0, sizeof prog);
    prog.last_pct = -1;
    int bad = archive_read_open_filename(a, path, 64 * 1024) != ARCHIVE_OK;
    while (!bad) {
        struct archive_entry *ent;
        int r = archive_read_next_header(a, &ent);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN)
            bad = 1;
        else if (read_entry(v, a, ent, path) != 0)
            break;
        else
            n++;
        nx_progress_draw(&v->c->out, &prog, "backups verify", "reading the archive",
                         (uint64_t)archive_filter_bytes(a, -1), (uint64_t)st.st_size);
    }
    nx_progress_end(&v->c->out, &prog);
    if (bad)
        problem(v, path, "archive", NULL, archive_error_string(a),
                "%s: cannot read the archive after %llu entries: %s", path,
                (unsigned long long)n, or_dash(archive_error_string(a)));
    else
        check_entries_count(v, path, n);
    if (!bad) {
        char what[64];
        snprintf(what, sizeof what, "%llu entries read", (unsigned long long)n);
        checked(v, "files.tar.zst (archive)", what);
    }
    archive_read_close(a);
    archive_read_free(a);
    free(path);
}

static void check_meta(struct vf *v)
{
    char *meta = nx_path_join(v->b->path, "meta.json");
    if (check_node(v, meta, 0, 0600) == 0 && !v->b->meta)
        problem(v, meta, "meta", "a JSON object", NULL, "%s: not readable as a backup's "
                "meta.json (JSON object)", meta);
    if (!v->b->meta) {
        free(meta);
        return;
    }
    const char *id = v->b->update_id;
    size_t idlen = id ? strlen(id) : 0;
    if (v->b->created <= 0)
        problem(v, meta, "created_at", "YYYY-mm-ddTHH:MM:SSZ", or_dash(v->b->created_at),
                "%s: created_at: expected a UTC time YYYY-mm-ddTHH:MM:SSZ, found %s", meta,
                or_dash(v->b->created_at));
    if (!id || strncmp(v->b->name + 7, id, idlen) != 0 || v->b->name[7 + idlen] != '_')
        problem(v, meta, "update_id", v->b->name, or_dash(id),
                "%s: update_id %s does not match the folder name %s", meta, or_dash(id),
                v->b->name);
    if (!json_is_object(json_object_get(v->b->meta, "files")))
        problem(v, meta, "meta", NULL, NULL, "%s: no files archive recorded", meta);
    checked(v, "meta.json", "read");
    free(meta);
}

static void check_db(struct vf *v)
{
    json_t *db = json_object_get(v->b->meta, "database");
    if (json_is_object(db)) {
        check_hash(v, db, "database.dump");
        return;
    }
    char *dump = nx_path_join(v->b->path, "database.dump");
    if (access(dump, F_OK) == 0)
        problem(v, dump, "meta", NULL, NULL, "%s: present, but meta.json records no database",
                dump);
    free(dump);
}

static void verify_all(struct vf *v)
{
    check_node(v, v->b->path, 1, 0700);
    check_meta(v);
    if (!v->b->meta)
        return;
    check_db(v);
    json_t *files = json_object_get(v->b->meta, "files");
    if (json_is_object(files))
        check_hash(v, files, "files.tar.zst");
    check_archive(v);
}

static void verify_report_text(const struct vf *v)
{
    size_t i, n = json_array_size(v->problems);
    json_t *o;
    printf("backup %s (update %s, created %s)\n", v->b->path, or_dash(v->b->update_id),
           or_dash(v->b->created_at));
    json_array_foreach(v->checked, i, o)
        printf("  ok       %-24s %s\n", json_string_value(json_object_get(o, "file")),
               json_string_value(json_object_get(o, "result")));
    json_array_foreach(v->problems, i, o)
        printf("  PROBLEM  %s\n", json_string_value(json_object_get(o, "message")));
    if (n == 0)
        printf("good: sizes and sha256 match meta.json, the archive reads to its end, "
               "modes and owner are right\n");
    else
        printf("BAD: %zu problem(s)\n", n);
}

static int do_verify(struct cli *c, const char *id)
{
    const char *dir;
    nx_backup_list l;
    if (load_list(c, &dir, &l) != 0)
        return NX_EXIT_FAILED;
    const nx_backup *b = nx_backups_find(&l, id);
    if (!b) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "no backup '%s' in %s ('nexo-update backups "
               "list' shows them)", id, dir);
        nx_backups_free(&l);
        return NX_EXIT_FAILED;
    }
    struct vf v = { c, b, json_array(), json_array() };
    verify_all(&v);
    size_t n = json_array_size(v.problems);
    if (c->out.json) {
        json_t *doc = backup_json(b);
        json_object_del(doc, "meta");
        json_object_set_new(doc, "ok", json_boolean(n == 0));
        json_object_set_new(doc, "checked", v.checked);
        json_object_set_new(doc, "problems", v.problems);
        cli_print_json(doc);
    } else {
        verify_report_text(&v);
        json_decref(v.checked);
        json_decref(v.problems);
    }
    if (n)
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "backup %s: %zu problem(s)", b->path, n);
    nx_backups_free(&l);
    return n ? NX_EXIT_FAILED : NX_EXIT_OK;
}

int cmd_backups(struct cli *c, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : NULL;
    if (sub && strcmp(sub, "list") == 0 && argc == 2)
        return do_list(c);
    if (sub && strcmp(sub, "prune") == 0 && argc == 2)
        return do_prune(c);
    if (sub && strcmp(sub, "verify") == 0 && argc == 3)
        return do_verify(c, argv[2]);
    fprintf(stderr, USAGE);
    return NX_EXIT_USAGE;
}
