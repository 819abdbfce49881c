/* nexo-update verify: the installed files against the installed release's
 * manifest, ROOT/core/.nexo-release.json (written into the payload by the
 * extract step's record_manifest, so it is replaced, backed up and rolled
 * back with the files it describes).
 *
 * Every listed entry below a [site] managed path (what an update puts in
 * place; the rest of a package, e.g. scripts/, is only read from the
 * staging folder) is checked under ROOT: a file exists, is a regular
 * file, and has the listed size, mode and sha256; a folder is a folder
 * with its mode; a symlink points where listed. Extra files are those
 * below the manifest's top-level folders that are managed paths and that
 * it does not list, except [site] preserve paths and the recorded
 * manifest itself; an extra folder is reported once, not its contents.
 * core/version.php's version is compared with the manifest's. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "cli.h"
#include "manifest.h"
#include "phpver.h"
#include "trust.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RECORDED "core/.nexo-release.json"
#define RECORDED_MAX (64u * 1024u * 1024u)
#define WALK_DEPTH 64

struct vr {
    const char *root;
    const nx_manifest *m;
    char **preserve;
    size_t npreserve;
    char **managed;
    size_t nmanaged;
    json_t *modified, *missing, *extra;
};

static const char *type_name(mode_t mode)
{
    if (S_ISREG(mode))
        return "file";
    if (S_ISDIR(mode))
        return "dir";
    if (S_ISLNK(mode))
        return "symlink";
    return "special";
}

static const char *entry_type(enum nx_entry_type t)
{
    return t == NX_ENTRY_FILE ? "file" : t == NX_ENTRY_DIR ? "dir" : "symlink";
}

static void add_diff(json_t *diffs, const char *check, const char *expected, const char *found)
{
    json_array_append_new(diffs, json_pack("{s:s, s:s, s:s}", "check", check, "expected",
                                           expected, "found", found));
}

static void check_mode(json_t *diffs, const struct stat *st, unsigned want)
{
    char exp[16], got[16];
    if ((st->st_mode & 07777) == want)
        return;
    snprintf(exp, sizeof exp, "%04o", want);
    snprintf(got, sizeof got, "%04o", (unsigned)(st->st_mode & 07777));
    add_diff(diffs, "mode", exp, got);
}

static void check_file(json_t *diffs, const char *path, const struct stat *st,
                       const nx_entry *en)
{
    char exp[32], got[32], hex[NX_SHA256_HEX];
    uint64_t size = 0;
    nx_err e;
    if ((uint64_t)st->st_size != en->size) {
        snprintf(exp, sizeof exp, "%llu", (unsigned long long)en->size);
        snprintf(got, sizeof got, "%llu", (unsigned long long)st->st_size);
        add_diff(diffs, "size", exp, got);
    } else if (nx_sha256_file(path, hex, &size, &e) != 0) {
        add_diff(diffs, "read", "readable", e.msg);
    } else if (strcmp(hex, en->sha256) != 0) {
        add_diff(diffs, "sha256", en->sha256, hex);
    }
}

static void check_link(json_t *diffs, const char *path, const nx_entry *en)
{
    char buf[4097];
    ssize_t n = readlink(path, buf, sizeof buf - 1);
    if (n < 0) {
        add_diff(diffs, "target", en->target, strerror(errno));
        return;
    }
    buf[n] = '\0';
    if (strcmp(buf, en->target) != 0)
        add_diff(diffs, "target", en->target, buf);
}

/* One manifest entry against the disk. */
static void check_entry(struct vr *v, const nx_entry *en)
{
    char *path = nx_path_join(v->root, en->path);
    struct stat st;
    if (lstat(path, &st) != 0) {
        json_array_append_new(v->missing, json_pack("{s:s, s:s, s:s}", "path", en->path,
                                                     "type", entry_type(en->type), "error",
                                                     strerror(errno)));
        free(path);
        return;
    }
    json_t *diffs = json_array();
    const char *want = entry_type(en->type);
    if (strcmp(type_name(st.st_mode), want) != 0)
        add_diff(diffs, "type", want, type_name(st.st_mode));
    else if (en->type == NX_ENTRY_FILE)
        check_file(diffs, path, &st, en);
    else if (en->type == NX_ENTRY_SYMLINK)
        check_link(diffs, path, en);
    if (en->type != NX_ENTRY_SYMLINK && strcmp(type_name(st.st_mode), want) == 0)
        check_mode(diffs, &st, en->mode);
    if (json_array_size(diffs))
        json_array_append_new(v->modified, json_pack("{s:s, s:s, s:o}", "path", en->path,
                                                     "type", want, "differences", diffs));
    else
        json_decref(diffs);
    free(path);
}

/* ---- extra files ---------------------------------------------------------- */

static int below_any(char *const *list, size_t n, const char *rel)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(list[i]);
        if (strncmp(rel, list[i], len) == 0 && (rel[len] == '\0' || rel[len] == '/'))
            return 1;
    }
    return 0;
}

/* Not checked: the recorded manifest, preserved paths, and what is not
 * below a managed path (an update does not install it). */
static int excluded(const struct vr *v, const char *rel)
{
    if (strcmp(rel, RECORDED) == 0)
        return 1;
    return below_any(v->preserve, v->npreserve, rel) ||
           !below_any(v->managed, v->nmanaged, rel);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in the open folder fd (consumed), sorted. */
static char **read_names(int fd, size_t *n)
{
    DIR *d = fdopendir(fd);
    char **names = NULL;
    *n = 0;
    if (!d) {
        close(fd);
        return NULL;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        names = nx_xrealloc(names, (*n + 1) * sizeof *names);
        names[(*n)++] = nx_xstrdup(de->d_name);
    }
    closedir(d);
    if (*n > 1)
        qsort(names, *n, sizeof *names, cmp_str);
    return names;
}

static void walk(struct vr *v, const char *rel, int depth);

/* One name below a walked folder. */
static void walk_one(struct vr *v, const char *rel, int depth)
{
    if (excluded(v, rel))
        return;
    char *path = nx_path_join(v->root, rel);
    struct stat st;
    int there = lstat(path, &st) == 0;
    free(path);
    if (!there)
        return;
    const nx_entry *en = nx_manifest_find(v->m, rel);
    if (!en)
        json_array_append_new(v->extra, json_pack("{s:s, s:s}", "path", rel, "type",
                                                  type_name(st.st_mode)));
    else if (en->type == NX_ENTRY_DIR && S_ISDIR(st.st_mode) && depth < WALK_DEPTH)
        walk(v, rel, depth + 1);
}

/* The folder ROOT/rel: every name in it. */
static void walk(struct vr *v, const char *rel, int depth)
{
    char *path = nx_path_join(v->root, rel);
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    free(path);
    if (fd < 0)
        return;
    size_t n;
    char **names = read_names(fd, &n);
    for (size_t i = 0; i < n; i++) {
        char *child = nx_path_join(rel, names[i]);
        walk_one(v, child, depth);
        free(child);
        free(names[i]);
    }
    free(names);
}

/* The manifest's top-level folders: first components of nested entries. */
static void walk_tops(struct vr *v)
{
    char *last = NULL;
    for (size_t i = 0; i < v->m->nentries; i++) {
        const char *p = v->m->entries[i].path;
        size_t len = strcspn(p, "/");
        int dir = p[len] == '/' || v->m->entries[i].type == NX_ENTRY_DIR;
        if (!dir || (last && strlen(last) == len && strncmp(last, p, len) == 0))
            continue;
        free(last);
        last = nx_xstrndup(p, len);
        const nx_entry *top = nx_manifest_find(v->m, last);
        if (!excluded(v, last) && (!top || top->type == NX_ENTRY_DIR))
            walk(v, last, 0);
    }
    free(last);
}

/* ---- the command ---------------------------------------------------------- */

static void split_list(char ***out, size_t *n, const char *list)
{
    for (const char *p = list ? list : ""; *p;) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, " \t,");
        while (len > 1 && p[len - 1] == '/')
            len--;
        if (len) {
            *out = nx_xrealloc(*out, (*n + 1) * sizeof **out);
            (*out)[(*n)++] = nx_xstrndup(p, len);
        }
        p += strcspn(p, " \t,");
    }
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* The version core/version.php names (malloc'ed), or NULL with why. */
static char *disk_version(const char *root, char **why)
{
    char *file = nx_path_join(root, "core/version.php");
    nx_err e;
    json_t *j = nx_phpver_load(file, &e);
    const char *ver = json_string_value(json_object_get(j, "version"));
    char *out = ver ? nx_xstrdup(ver) : NULL;
    if (!out)
        *why = nx_xstrdup(j ? "no 'version' in core/version.php" : e.msg);
    json_decref(j);
    free(file);
    return out;
}

/* Text: a path made printable on one line. */
static void put_path(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            printf("\\x%02x", *p);
        else
            putchar(*p);
    }
}

static void print_text(const struct vr *v, const json_t *doc)
{
    size_t i, j;
    json_t *o, *d;
    printf("verify %s against %s (%s %s, %zu entries)\n", v->root, RECORDED, v->m->component,
           v->m->version, v->m->nentries);
    json_array_foreach(v->modified, i, o) {
        printf("modified  ");
        put_path(json_string_value(json_object_get(o, "path")));
        json_array_foreach(json_object_get(o, "differences"), j, d)
            printf("%s %s: expected %s, found %s", j ? ";" : " ",
                   json_string_value(json_object_get(d, "check")),
                   json_string_value(json_object_get(d, "expected")),
                   json_string_value(json_object_get(d, "found")));
        putchar('\n');
    }
    const struct { const char *label; const json_t *arr; } lists[] = {
        { "missing   ", v->missing }, { "extra     ", v->extra } };
    for (size_t k = 0; k < 2; k++)
        json_array_foreach(lists[k].arr, i, o) {
            printf("%s", lists[k].label);
            put_path(json_string_value(json_object_get(o, "path")));
            printf(" (%s)\n", json_string_value(json_object_get(o, "type")));
        }
    const char *dv = json_string_value(json_object_get(doc, "disk_version"));
    if (!json_is_true(json_object_get(doc, "version_matches")))
        printf("version   core/version.php says %s, the recorded manifest is release %s\n",
               dv ? dv : json_string_value(json_object_get(doc, "disk_version_error")),
               v->m->version);
    if (json_is_true(json_object_get(doc, "clean")))
        printf("clean: every listed file matches, nothing missing or extra\n");
    else
        printf("%zu modified, %zu missing, %zu extra%s\n", json_array_size(v->modified),
               json_array_size(v->missing), json_array_size(v->extra),
               json_is_true(json_object_get(doc, "version_matches")) ? "" :
               ", version differs");
}

static json_t *report(struct vr *v, const char *manifest_path)
{
    char *why = NULL;
    char *dv = disk_version(v->root, &why);
    int same = dv && strcmp(dv, v->m->version) == 0;
    int clean = same && !json_array_size(v->modified) && !json_array_size(v->missing) &&
                !json_array_size(v->extra);
    json_t *doc = json_pack("{s:s, s:s, s:b, s:s, s:s, s:I, s:s?, s:b}", "root", v->root,
                            "manifest", manifest_path, "recorded", 1, "component",
                            v->m->component, "version", v->m->version, "entries",
                            (json_int_t)v->m->nentries, "disk_version", dv, "version_matches",
                            same);
    if (why)
        json_object_set_new(doc, "disk_version_error", json_string(why));
    json_object_set_new(doc, "clean", json_boolean(clean));
    json_object_set(doc, "modified", v->modified);
    json_object_set(doc, "missing", v->missing);
    json_object_set(doc, "extra", v->extra);
    free(dv);
    free(why);
    return doc;
}

static nx_manifest *load_recorded(struct cli *c, const char *path)
{
    char *text = NULL;
    size_t len = 0;
    nx_err e;
    nx_manifest *m = NULL;
    if (access(path, F_OK) != 0 && errno == ENOENT) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL,
               "%s: no recorded manifest: it is written by the extract step (setting "
               "record_manifest) when an update or install puts a release in place; a site "
               "copied by hand has none until its next update through nexo-update", path);
        return NULL;
    }
    if (nx_read_file(path, &text, &len, RECORDED_MAX, &e) == 0)
        m = nx_manifest_parse(text, len, path, &e);
    if (!m)
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "recorded manifest: %s", e.msg);
    free(text);
    return m;
}

static int run_verify(struct cli *c, const char *root, const char *preserve,
                      const char *managed)
{
    char *mpath = nx_path_join(root, RECORDED);
    nx_manifest *m = load_recorded(c, mpath);
    if (!m) {
        if (c->out.json)
            cli_print_json(json_pack("{s:s, s:s, s:b, s:b}", "root", root, "manifest", mpath,
                                     "recorded", 0, "clean", 0));
        free(mpath);
        return NX_EXIT_FAILED;
    }
    struct vr v = { .root = root, .m = m, .modified = json_array(), .missing = json_array(),
                    .extra = json_array() };
    split_list(&v.preserve, &v.npreserve, preserve);
    split_list(&v.managed, &v.nmanaged, managed);
    for (size_t i = 0; i < m->nentries; i++)
        if (!excluded(&v, m->entries[i].path))
            check_entry(&v, &m->entries[i]);
    walk_tops(&v);
    json_t *doc = report(&v, mpath);
    int clean = json_is_true(json_object_get(doc, "clean"));
    if (c->out.json) {
        cli_print_json(doc);
    } else {
        print_text(&v, doc);
        json_decref(doc);
    }
    json_decref(v.modified);
    json_decref(v.missing);
    json_decref(v.extra);
    free_list(v.preserve, v.npreserve);
    free_list(v.managed, v.nmanaged);
    nx_manifest_free(m);
    free(mpath);
    return clean ? NX_EXIT_OK : NX_EXIT_FAILED;
}

int cmd_verify(struct cli *c, int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        fprintf(stderr, "Usage: nexo-update [--json] verify\n");
        return NX_EXIT_USAGE;
    }
    nx_config *cfg = cli_config(c);
    if (!cfg)
        return NX_EXIT_FAILED;
    const char *root = nx_config_get(cfg, "site", "root");
    if (!root) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "%s: [site] root is not set",
               nx_config_file(cfg));
        return NX_EXIT_FAILED;
    }
    return run_verify(c, root, nx_config_get(cfg, "site", "preserve"),
                      nx_config_get(cfg, "site", "managed"));
}
