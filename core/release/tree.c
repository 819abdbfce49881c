/* nexo-release: the payload of a package, read from the source tree. */
#include "release.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct walker {
    struct rel_tree *t;
    nx_err *e;
};

static nx_entry *add_entry(struct rel_tree *t, const char *rel, enum nx_entry_type type)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->entries = nx_xrealloc(t->entries, t->cap * sizeof *t->entries);
    }
    nx_entry *en = &t->entries[t->n++];
    memset(en, 0, sizeof *en);
    en->path = nx_xstrdup(rel);
    en->type = type;
    return en;
}

void rel_tree_free(struct rel_tree *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->entries[i].path);
        free(t->entries[i].target);
    }
    free(t->entries);
    memset(t, 0, sizeof *t);
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const nx_entry *)a)->path, ((const nx_entry *)b)->path);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Does a relative symlink target, resolved from the link's folder, stay
 * inside the tree? */
static int target_inside(const char *rel, const char *target)
{
    long depth = 0;
    for (const char *p = rel; *p; p++)
        if (*p == '/')
            depth++;
    const char *s = target;
    while (*s) {
        size_t n = strcspn(s, "/");
        if (n == 2 && s[0] == '.' && s[1] == '.')
            depth--;
        else if (n > 0 && !(n == 1 && s[0] == '.'))
            depth++;
        if (depth < 0)
            return 0;
        s += n;
        if (*s == '/')
            s++;
    }
    return 1;
}

static int has_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 1;
    return 0;
}

static int check_name(const char *full, const char *rel, nx_err *e)
{
    json_t *j = json_string(rel);
    if (!j) {
        nx_seterr(e, "%s: the name is not valid UTF-8", full);
        return -1;
    }
    json_decref(j);
    if (!nx_manifest_path_ok(rel)) {
        nx_seterr(e, "%s: not an acceptable package path (control characters, or longer "
                     "than 4096 bytes)", full);
        return -1;
    }
    return 0;
}

static int check_mode(const char *full, mode_t mode, nx_err *e)
{
    const char *what = (mode & S_ISUID) ? "setuid" : (mode & S_ISGID) ? "setgid"
                     : (mode & S_ISVTX) ? "sticky" : NULL;
    if (what) {
        nx_seterr(e, "%s: has the %s bit (mode %04o); packages carry permission bits only",
                  full, what, (unsigned)(mode & 07777));
        return -1;
    }
    return 0;
}

static int add_link(struct walker *w, const char *full, const char *rel, const struct stat *st)
{
    size_t cap = (size_t)st->st_size + 2;
    if (cap < 256)
        cap = 256;
    char *buf = nx_xmalloc(cap);
    ssize_t n = readlink(full, buf, cap - 1);
    if (n < 0 || (size_t)n >= cap - 1) {
        nx_seterr(w->e, "%s: cannot read the symlink: %s", full,
                  n < 0 ? strerror(errno) : "it changed while reading");
        free(buf);
        return -1;
    }
    buf[n] = '\0';
    const char *why = NULL;
    if (n == 0)
        why = "an empty target";
    else if (buf[0] == '/')
        why = "an absolute target";
    else if (has_control(buf) || !target_inside(rel, buf))
        why = has_control(buf) ? "control characters in its target" : "a target outside the tree";
    if (why) {
        nx_seterr(w->e, "%s: symlink with %s ('%s'); only relative links that stay inside the "
                        "tree are packed", full, why, buf);
        free(buf);
        return -1;
    }
    json_t *j = json_string(buf);
    if (!j) {
        nx_seterr(w->e, "%s: the symlink's target is not valid UTF-8", full);
        free(buf);
        return -1;
    }
    json_decref(j);
    nx_entry *en = add_entry(w->t, rel, NX_ENTRY_SYMLINK);
    en->mode = 0777;
    en->target = buf;
    return 0;
}

static int add_file(struct walker *w, const char *full, const char *rel, const struct stat *st)
{
    char hex[NX_SHA256_HEX];
    uint64_t size = 0;
    if (nx_sha256_file(full, hex, &size, w->e) != 0)
        return -1;
    if (size != (uint64_t)st->st_size) {
        nx_seterr(w->e, "%s: changed while packing", full);
        return -1;
    }
    nx_entry *en = add_entry(w->t, rel, NX_ENTRY_FILE);
    en->mode = (unsigned)(st->st_mode & 0777);
    en->size = size;
    memcpy(en->sha256, hex, sizeof en->sha256);
    w->t->total_size += size;
    return 0;
}

static int walk_dir(struct walker *w, const char *full, const char *rel);

static const char *special_kind(mode_t m)
{
    if (S_ISCHR(m))
        return "a character device";
    if (S_ISBLK(m))
        return "a block device";
    if (S_ISFIFO(m))
        return "a fifo";
    if (S_ISSOCK(m))
        return "a socket";
    return "of an unknown file type";
}

static int add_one(struct walker *w, const char *full, const char *rel)
{
    struct stat st;
    if (lstat(full, &st) != 0) {
        nx_seterr(w->e, "%s: %s", full, strerror(errno));
        return -1;
    }
    if (check_name(full, rel, w->e) != 0)
        return -1;
    if (S_ISLNK(st.st_mode))
        return add_link(w, full, rel, &st);
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
        nx_seterr(w->e, "%s: is %s; packages hold only files, folders and symlinks", full,
                  special_kind(st.st_mode));
        return -1;
    }
    if (check_mode(full, st.st_mode, w->e) != 0)
        return -1;
    if (S_ISREG(st.st_mode))
        return add_file(w, full, rel, &st);
    nx_entry *en = add_entry(w->t, rel, NX_ENTRY_DIR);
    en->mode = (unsigned)(st.st_mode & 0777);
    return walk_dir(w, full, rel);
}

/* The names of a folder, sorted, without "." and ".."; the folder is closed
 * before its entries are visited. */
static char **list_dir(const char *full, size_t *count, nx_err *e)
{
    DIR *d = opendir(full);
    if (!d) {
        nx_seterr(e, "%s: cannot open folder: %s", full, strerror(errno));
        return NULL;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    for (errno = 0, de = readdir(d); de; errno = 0, de = readdir(d)) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            names = nx_xrealloc(names, cap * sizeof *names);
        }
        names[n++] = nx_xstrdup(de->d_name);
    }
    int err = errno;
    closedir(d);
    if (err) {
        nx_seterr(e, "%s: cannot read folder: %s", full, strerror(err));
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        free(names);
        return NULL;
    }
    if (n)
        qsort(names, n, sizeof *names, cmp_str);
    *count = n;
    return names ? names : nx_xcalloc(1, sizeof *names);
}

static int walk_dir(struct walker *w, const char *full, const char *rel)
{
    size_t n = 0;
    char **names = list_dir(full, &n, w->e);
    if (!names)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (strcmp(names[i], ".git") == 0)
            continue;
        if (!*rel && strcmp(names[i], NX_MANIFEST_NAME) == 0) {
            nx_seterr(w->e, "%s/%s: the source must not hold a %s at its root (pack writes "
                            "that file); remove it", full, names[i], NX_MANIFEST_NAME);
            rc = -1;
            break;
        }
        char *cfull = nx_path_join(full, names[i]);
        char *crel = *rel ? nx_xasprintf("%s/%s", rel, names[i]) : nx_xstrdup(names[i]);
        rc = add_one(w, cfull, crel);
        free(cfull);
        free(crel);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

/* The real path of a path that may not exist yet: its nearest existing
 * ancestor resolved, the rest appended. */
static char *real_path_loose(const char *path)
{
    char *head = nx_xstrdup(path);
    char *rest = nx_xstrdup("");
    for (;;) {
        char *r = realpath(head, NULL);
        if (r || strcmp(head, ".") == 0 || strcmp(head, "/") == 0) {
            char *out = !r ? nx_xstrdup(head) : *rest ? nx_path_join(r, rest) : nx_xstrdup(r);
            free(r);
            free(head);
            free(rest);
            return out;
        }
        char *up = nx_dirname(head);
        char *nrest = *rest ? nx_xasprintf("%s/%s", nx_basename(head), rest)
                            : nx_xstrdup(nx_basename(head));
        free(head);
        free(rest);
        head = up;
        rest = nrest;
    }
}

/* Is `inner` the folder `outer` or inside it? */
static int path_within(const char *outer, const char *inner)
{
    char *o = real_path_loose(outer), *i = real_path_loose(inner);
    size_t n = strlen(o);
    int in = strncmp(o, i, n) == 0 && (i[n] == '/' || i[n] == '\0' || strcmp(o, "/") == 0);
    free(o);
    free(i);
    return in;
}

int rel_tree_walk(const char *src, const char *avoid, struct rel_tree *t, nx_err *e)
{
    struct walker w = { .t = t, .e = e };
    struct stat st;
    memset(t, 0, sizeof *t);
    if (stat(src, &st) != 0) {
        nx_seterr(e, "%s: %s", src, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        nx_seterr(e, "%s: not a folder", src);
        return -1;
    }
    if (avoid && path_within(src, avoid)) {
        nx_seterr(e, "%s: the repository is inside the source tree %s (it would be packed)",
                  avoid, src);
        return -1;
    }
    if (walk_dir(&w, src, "") != 0) {
        rel_tree_free(t);
        return -1;
    }
    if (t->n)
        qsort(t->entries, t->n, sizeof *t->entries, cmp_entry);
    return 0;
}
