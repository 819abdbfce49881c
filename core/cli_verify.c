/* nexo-update verify [core | plugin:SLUG]: the installed files against the
 * installed release's manifest — core: ROOT/core/.nexo-release.json; a
 * plugin: ROOT/modules/plugins/SLUG/.nexo-release.json (both written into
 * the payload by the extract step's record_manifest, so they are replaced,
 * backed up and rolled back with the files they describe). Without a
 * component: core and every installed plugin (each folder of
 * ROOT/modules/plugins).
 *
 * A plugin's folder is its payload: every entry of its manifest is checked
 * below it and every name below it that the manifest does not list is
 * extra (the recorded manifest itself excepted); its version.php's version
 * is compared with the manifest's.
 *
 * The recorded manifest is the site owner's file: it counts only when it
 * is one of root's copies (core/manifest.h, STATE/manifests/), which the
 * extract step keeps of every manifest it records.
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
#define RECORDED_PLUGIN ".nexo-release.json" /* in the plugin's folder */
#define RECORDED_MAX (64u * 1024u * 1024u)
#define WALK_DEPTH 64

struct vr {
    const char *root;         /* the component's folder: the site root or a plugin's */
    const char *recorded;     /* its recorded manifest, relative to root */
    int all_managed;          /* a plugin: everything below root is its payload */
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
    if (strcmp(rel, v->recorded) == 0)
        return 1;
    if (v->all_managed)
        return 0;
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

/* The manifest's top-level folders: first components of nested entries;
 * for a plugin its whole folder. */
static void walk_tops(struct vr *v)
{
    if (v->all_managed) {
        int fd = open(v->root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return;
        size_t n;
        char **names = read_names(fd, &n);
        for (size_t i = 0; i < n; i++) {
            walk_one(v, names[i], 0);
            free(names[i]);
        }
        free(names);
        return;
    }
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

/* The version ROOT/vfile names (malloc'ed), or NULL with why. */
static char *disk_version(const char *root, const char *vfile, char **why)
{
    char *file = nx_path_join(root, vfile);
    nx_err e;
    json_t *j = nx_phpver_load(file, &e);
    const char *ver = json_string_value(json_object_get(j, "version"));
    char *out = ver ? nx_xstrdup(ver) : NULL;
    if (!out)
        *why = j ? nx_xasprintf("no 'version' in %s", vfile) : nx_xstrdup(e.msg);
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

/* One component to verify. */
struct target {
    char *component;  /* "core" or "plugin:SLUG" */
    char *dir;        /* its folder: the site root, or ROOT/modules/plugins/SLUG */
    char *prefix;     /* that folder relative to the site root ("" for core), for text */
    const char *recorded; /* the recorded manifest, relative to dir */
    const char *vfile;    /* its version.php, relative to dir */
};

static void put_entry(const struct target *t, const char *rel)
{
    if (*t->prefix) {
        put_path(t->prefix);
        putchar('/');
    }
    put_path(rel);
}

static void print_text(const struct target *t, const struct vr *v, const json_t *doc)
{
    size_t i, j;
    json_t *o, *d;
    printf("verify %s against %s (%s %s, %zu entries)\n", t->dir, v->recorded,
           v->m->component, v->m->version, v->m->nentries);
    if (json_is_string(json_object_get(doc, "component_error")))
        printf("manifest  %s\n", json_string_value(json_object_get(doc, "component_error")));
    if (json_is_false(json_object_get(doc, "trusted")))
        printf("manifest  %s\n", json_string_value(json_object_get(doc, "trusted_error")));
    json_array_foreach(v->modified, i, o) {
        printf("modified  ");
        put_entry(t, json_string_value(json_object_get(o, "path")));
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
            put_entry(t, json_string_value(json_object_get(o, "path")));
            printf(" (%s)\n", json_string_value(json_object_get(o, "type")));
        }
    const char *dv = json_string_value(json_object_get(doc, "disk_version"));
    if (!json_is_true(json_object_get(doc, "version_matches")))
        printf("version   %s%s%s says %s, the recorded manifest is release %s\n", t->prefix,
               *t->prefix ? "/" : "", t->vfile,
               dv ? dv : json_string_value(json_object_get(doc, "disk_version_error")),
               v->m->version);
    if (json_is_true(json_object_get(doc, "clean")))
        printf("clean: every listed file matches, nothing missing or extra\n");
    else
        printf("%zu modified, %zu missing, %zu extra%s%s\n", json_array_size(v->modified),
               json_array_size(v->missing), json_array_size(v->extra),
               json_is_true(json_object_get(doc, "version_matches")) ? "" :
               ", version differs",
               json_is_string(json_object_get(doc, "component_error")) ?
               ", manifest of another component" :
               json_is_false(json_object_get(doc, "trusted")) ? ", manifest not root's" : "");
}

static json_t *report(const struct target *t, struct vr *v, const char *manifest_path)
{
    char *why = NULL;
    char *dv = disk_version(v->root, t->vfile, &why);
    int same = dv && strcmp(dv, v->m->version) == 0;
    int own = strcmp(v->m->component, t->component) == 0;
    int clean = same && own && !json_array_size(v->modified) &&
                !json_array_size(v->missing) && !json_array_size(v->extra);
    json_t *doc = json_pack("{s:s, s:s, s:b, s:s, s:s, s:I, s:s?, s:b}", "root", v->root,
                            "manifest", manifest_path, "recorded", 1, "component",
                            v->m->component, "version", v->m->version, "entries",
                            (json_int_t)v->m->nentries, "disk_version", dv, "version_matches",
                            same);
    if (why)
        json_object_set_new(doc, "disk_version_error", json_string(why));
    if (!own) {
        char *msg = nx_xasprintf("%s is the manifest of %s, not of %s", manifest_path,
                                 v->m->component, t->component);
        json_object_set_new(doc, "component_error", json_string(msg));
        free(msg);
    }
    json_object_set_new(doc, "clean", json_boolean(clean));
    json_object_set(doc, "modified", v->modified);
    json_object_set(doc, "missing", v->missing);
    json_object_set(doc, "extra", v->extra);
    free(dv);
    free(why);
    return doc;
}

static nx_manifest *load_recorded(struct cli *c, const char *path, char hex[NX_SHA256_HEX])
{
    char *text = NULL;
    size_t len = 0;
    nx_err e;
    nx_manifest *m = NULL;
    if (access(path, F_OK) != 0 && errno == ENOENT) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL,
               "%s: no recorded manifest: it is written by the extract step (setting "
               "record_manifest) when an update or install puts a release in place; a %s "
               "copied by hand has none until its next update through nexo-update", path,
               strstr(path, "modules/plugins/") ? "plugin" : "site");
        return NULL;
    }
    if (nx_read_file(path, &text, &len, RECORDED_MAX, &e) == 0) {
        m = nx_manifest_parse(text, len, path, &e);
        nx_sha256 *sh = nx_sha256_new();
        nx_sha256_update(sh, text, len);
        nx_sha256_final(sh, hex);
    }
    if (!m)
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "recorded manifest: %s", e.msg);
    free(text);
    return m;
}

/* Is the recorded manifest (sha256 hex) one root keeps a copy of
 * (core/manifest.h)? 1 yes, 0 no, -1 root keeps none of this component's
 * (installed before copies were kept): then *why says so. */
static int trusted_copy(const char *state, const char *component, const char *hex,
                        char **why)
{
    char *path = nx_manifest_copy_path(state, component, hex);
    struct stat st;
    int found = lstat(path, &st) == 0 && S_ISREG(st.st_mode);
    free(path);
    if (found)
        return 1;
    char *dir = nx_manifest_copy_dir(state, component);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    size_t n = 0;
    char **names = fd >= 0 ? read_names(fd, &n) : NULL;
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    *why = n ? nx_xasprintf("is not a manifest nexo-update installed: root keeps a copy of "
                            "each in %s, none has sha256 %s (changed after the update?)",
                            dir, hex)
             : nx_xasprintf("cannot be checked against root's copies: %s has none (the "
                            "release was installed before nexo-update kept them)", dir);
    free(dir);
    return n ? 0 : -1;
}

/* Verify one component: its document (text printed unless --json), *clean. */
static json_t *verify_one(struct cli *c, const struct target *t, const char *state,
                          const char *preserve, const char *managed, int *clean)
{
    char *mpath = nx_path_join(t->dir, t->recorded);
    char hex[NX_SHA256_HEX] = "";
    nx_manifest *m = load_recorded(c, mpath, hex);
    *clean = 0;
    if (!m) {
        json_t *doc = json_pack("{s:s, s:s, s:s, s:b, s:b}", "root", t->dir, "manifest", mpath,
                                "component", t->component, "recorded", 0, "clean", 0);
        if (!c->out.json)
            printf("verify %s: no usable recorded manifest %s (%s not verified)\n", t->dir,
                   mpath, t->component);
        free(mpath);
        return doc;
    }
    struct vr v = { .root = t->dir, .recorded = t->recorded, .m = m,
                    .all_managed = strcmp(t->component, "core") != 0,
                    .modified = json_array(), .missing = json_array(), .extra = json_array() };
    if (!v.all_managed) {
        split_list(&v.preserve, &v.npreserve, preserve);
        split_list(&v.managed, &v.nmanaged, managed);
    }
    for (size_t i = 0; i < m->nentries; i++)
        if (!excluded(&v, m->entries[i].path))
            check_entry(&v, &m->entries[i]);
    walk_tops(&v);
    json_t *doc = report(t, &v, mpath);
    char *why = NULL;
    int trusted = trusted_copy(state, m->component, hex, &why);
    json_object_set_new(doc, "trusted", trusted < 0 ? json_null() : json_boolean(trusted));
    if (why) {
        char *msg = nx_xasprintf("%s %s", mpath, why);
        json_object_set_new(doc, "trusted_error", json_string(msg));
        if (trusted == 0)
            json_object_set_new(doc, "clean", json_false());
        else
            nx_log(&c->out, NEXO_LOG_WARN, NULL, "%s", msg);
        free(msg);
        free(why);
    }
    *clean = json_is_true(json_object_get(doc, "clean"));
    if (!c->out.json)
        print_text(t, &v, doc);
    json_decref(v.modified);
    json_decref(v.missing);
    json_decref(v.extra);
    free_list(v.preserve, v.npreserve);
    free_list(v.managed, v.nmanaged);
    nx_manifest_free(m);
    free(mpath);
    return doc;
}

static void target_set(struct target *t, const char *root, const char *component)
{
    t->component = nx_xstrdup(component);
    if (strcmp(component, "core") == 0) {
        t->dir = nx_xstrdup(root);
        t->prefix = nx_xstrdup("");
        t->recorded = RECORDED;
        t->vfile = "core/version.php";
    } else {
        t->prefix = nx_xasprintf("modules/plugins/%s", component + 7);
        t->dir = nx_path_join(root, t->prefix);
        t->recorded = RECORDED_PLUGIN;
        t->vfile = "version.php";
    }
}

static void target_free(struct target *t)
{
    free(t->component);
    free(t->dir);
    free(t->prefix);
}

/* The installed plugins: the folders of ROOT/modules/plugins whose name is
 * a slug, sorted. */
static char **installed_plugins(const char *root, size_t *n)
{
    char *dir = nx_path_join(root, "modules/plugins");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    free(dir);
    *n = 0;
    if (fd < 0)
        return NULL;
    size_t all;
    char **names = read_names(fd, &all);
    char **out = NULL;
    for (size_t i = 0; i < all; i++) {
        char *p = nx_xasprintf("%s/modules/plugins/%s", root, names[i]);
        struct stat st;
        if (nx_slug_ok(names[i]) && lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
            out = nx_xrealloc(out, (*n + 1) * sizeof *out);
            out[(*n)++] = names[i];
        } else {
            free(names[i]);
        }
        free(p);
    }
    free(names);
    return out;
}

/* core or plugin:SLUG (an installed plugin's folder); NULL after the
 * message, *usage set when a is neither. */
static char *component_arg(struct cli *c, const char *root, const char *a, int *usage)
{
    *usage = 0;
    if (strcmp(a, "core") == 0)
        return nx_xstrdup(a);
    const char *slug = strncmp(a, "plugin:", 7) == 0 ? a + 7 : NULL;
    if (!slug || !nx_slug_ok(slug)) {
        fprintf(stderr, "nexo-update: verify: '%s' is not a component (core or plugin:SLUG)\n",
                a);
        *usage = 1;
        return NULL;
    }
    char *dir = nx_xasprintf("%s/modules/plugins/%s", root, slug);
    struct stat st;
    int there = lstat(dir, &st) == 0 && S_ISDIR(st.st_mode);
    if (!there)
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "verify: plugin %s is not installed: %s is not "
               "a folder", slug, dir);
    free(dir);
    return there ? nx_xasprintf("plugin:%s", slug) : NULL;
}

int cmd_verify(struct cli *c, int argc, char **argv)
{
    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        fprintf(stderr, "Usage: nexo-update [--json] verify [core | plugin:SLUG]\n");
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
    const char *state = nx_config_get(cfg, "paths", "state");
    const char *preserve = nx_config_get(cfg, "site", "preserve");
    const char *managed = nx_config_get(cfg, "site", "managed");
    char **comps = NULL;
    size_t n = 0;
    if (argc == 2) {
        int usage;
        char *one = component_arg(c, root, argv[1], &usage);
        if (!one)
            return usage ? NX_EXIT_USAGE : NX_EXIT_FAILED;
        comps = nx_xcalloc(1, sizeof *comps);
        comps[n++] = one;
    } else {
        size_t np;
        char **slugs = installed_plugins(root, &np);
        comps = nx_xcalloc(np + 1, sizeof *comps);
        comps[n++] = nx_xstrdup("core");
        for (size_t i = 0; i < np; i++) {
            comps[n++] = nx_xasprintf("plugin:%s", slugs[i]);
            free(slugs[i]);
        }
        free(slugs);
    }
    int all_clean = 1;
    json_t *doc = NULL, *plugins = json_array();
    json_t *failed = json_array();
    for (size_t i = 0; i < n; i++) {
        struct target t;
        target_set(&t, root, comps[i]);
        if (i && !c->out.json)
            putchar('\n');
        int clean;
        json_t *one = verify_one(c, &t, state, preserve, managed, &clean);
        if (!clean) {
            all_clean = 0;
            json_array_append_new(failed, json_string(t.component));
        }
        if (i == 0) {
            doc = one;
        } else {
            json_object_set_new(one, "slug", json_string(t.component + 7));
            json_array_append_new(plugins, one);
        }
        target_free(&t);
    }
    /* verify (everything): the core's fields, then every plugin's document;
     * clean: all of them are */
    if (argc < 2) {
        json_object_set_new(doc, "core_clean", json_incref(json_object_get(doc, "clean")));
        json_object_set_new(doc, "clean", json_boolean(all_clean));
        json_object_set(doc, "plugins", plugins);
    }
    if (!all_clean) {
        char *list = NULL;
        size_t k;
        json_t *v;
        json_array_foreach(failed, k, v) {
            char *more = nx_xasprintf("%s%s%s", list ? list : "", list ? ", " : "",
                                      json_string_value(v));
            free(list);
            list = more;
        }
        char *msg = nx_xasprintf("verify: differences or no recorded manifest: %s", list);
        json_object_set_new(doc, "error", json_string(msg));
        json_object_set_new(doc, "exit", json_integer(NX_EXIT_FAILED));
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "%s", msg);
        free(msg);
        free(list);
    }
    if (c->out.json)
        cli_print_json(doc);
    else
        json_decref(doc);
    json_decref(plugins);
    json_decref(failed);
    for (size_t i = 0; i < n; i++)
        free(comps[i]);
    free(comps);
    return all_clean ? NX_EXIT_OK : NX_EXIT_FAILED;
}
