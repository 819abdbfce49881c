/* nexo-release.json: parse and validate (see manifest.h).
 *
 * Decisions beyond the header's comment:
 *  - Required top-level keys: format (1), component, version, version_code,
 *    files, total_size. release_date ("YYYY-MM-DD"), branch and build are
 *    strings when present; requires, dependencies (objects of version
 *    ranges) and compatibility (an object; its "plugins" an object of
 *    ranges) are checked when present. Unknown top-level keys are allowed
 *    (forward compatibility); they stay in m->doc.
 *  - An entry holds exactly the keys of its type, unknown ones are refused:
 *    file: path, type, size, mode, sha256; dir: path, type, mode;
 *    symlink: path, type, target (a symlink's mode is 0777).
 *  - Every listed ancestor of an entry must be a dir (not a file or a
 *    symlink). A symlink's target must not pass through another listed
 *    symlink before its last component (lexical resolution would then not
 *    be the real one).
 *  - sha256 is 64 hex digits (either case), stored in lower case.
 */
#include "manifest.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "semver.h"

#define PATH_MAX_BYTES 4096
#define SLUG_MAX 64

/* ---- helpers ------------------------------------------------------------ */

/* A path made printable on one line (control characters as \xNN, cut at
 * about 300 bytes). */
static const char *show(const char *s, char *buf, size_t len)
{
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && o + 8 < len; p++) {
        if (*p < 0x20 || *p == 0x7f || *p == '\\')
            o += (size_t)snprintf(buf + o, len - o, "\\x%02x", *p);
        else
            buf[o++] = (char)*p;
        if (o > 300) {
            o += (size_t)snprintf(buf + o, len - o, "...");
            break;
        }
    }
    buf[o] = '\0';
    return buf;
}

static int is_ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* Why a relative payload path is refused, or NULL when it is fine. */
static const char *path_problem(const char *path)
{
    if (!path || !*path)
        return "empty path";
    size_t n = strlen(path);
    if (n > PATH_MAX_BYTES)
        return "path longer than 4096 bytes";
    if (path[0] == '/')
        return "absolute path";
    for (size_t i = 0; i < n; i++)
        if (is_ctl((unsigned char)path[i]))
            return "control character in path";
    const char *p = path;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len == 0)
            return "empty path component";
        if (len == 1 && p[0] == '.')
            return "'.' component in path";
        if (len == 2 && p[0] == '.' && p[1] == '.')
            return "'..' component in path";
        if (!slash)
            break;
        p = slash + 1;
    }
    return NULL;
}

int nx_manifest_path_ok(const char *path)
{
    return path_problem(path) == NULL;
}

int nx_slug_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > SLUG_MAX)
        return 0;
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
        return 0;
    for (size_t i = 1; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static int component_ok(const char *s)
{
    if (strcmp(s, "core") == 0)
        return 1;
    return strncmp(s, "plugin:", 7) == 0 && nx_slug_ok(s + 7);
}

static int date_ok(const char *s)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return 0;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
            return 0;
    int month = (s[5] - '0') * 10 + (s[6] - '0');
    int day = (s[8] - '0') * 10 + (s[9] - '0');
    return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

/* "0644", "755": 3 or 4 octal digits, permission bits only. */
static int parse_mode(const char *s, unsigned *mode, const char **why)
{
    size_t n = strlen(s);
    if (n < 3 || n > 4) {
        *why = "mode is not an octal string like \"0644\"";
        return -1;
    }
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '7') {
            *why = "mode is not an octal string like \"0644\"";
            return -1;
        }
        v = v * 8 + (unsigned)(s[i] - '0');
    }
    if (v & 07000) {
        *why = "mode has setuid, setgid or sticky bits";
        return -1;
    }
    *mode = v;
    return 0;
}

static int sha256_ok(const char *s, char out[65])
{
    if (strlen(s) != 64)
        return 0;
    for (int i = 0; i < 64; i++) {
        if (!isxdigit((unsigned char)s[i]))
            return 0;
        out[i] = (char)tolower((unsigned char)s[i]);
    }
    out[64] = '\0';
    return 1;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const nx_entry *)a)->path, ((const nx_entry *)b)->path);
}

static const nx_entry *find_n(const nx_entry *entries, size_t n, const char *path)
{
    if (n == 0)
        return NULL;
    nx_entry key;
    memset(&key, 0, sizeof key);
    key.path = (char *)path;
    return bsearch(&key, entries, n, sizeof *entries, cmp_entry);
}

static const char *type_name(enum nx_entry_type t)
{
    switch (t) {
    case NX_ENTRY_FILE: return "file";
    case NX_ENTRY_DIR: return "dir";
    case NX_ENTRY_SYMLINK: return "symlink";
    }
    return "?";
}

/* An integer >= 0 from a JSON value. */
static int get_uint(const json_t *v, uint64_t *out)
{
    if (!json_is_integer(v))
        return -1;
    json_int_t i = json_integer_value(v);
    if (i < 0)
        return -1;
    *out = (uint64_t)i;
    return 0;
}

/* An object whose values are all version range strings. */
static int check_ranges(const char *name, const char *what, const json_t *obj, int keys_are_slugs,
                        nx_err *e)
{
    if (!json_is_object(obj)) {
        nx_seterr(e, "%s: \"%s\" is not an object", name, what);
        return -1;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        char buf[400];
        if (keys_are_slugs && !nx_slug_ok(k)) {
            nx_seterr(e, "%s: \"%s\": \"%s\" is not a plugin slug", name, what,
                      show(k, buf, sizeof buf));
            return -1;
        }
        if (!json_is_string(v)) {
            nx_seterr(e, "%s: \"%s\": \"%s\" is not a string", name, what,
                      show(k, buf, sizeof buf));
            return -1;
        }
        nx_range *r = NULL;
        nx_err re = {{0}};
        if (nx_range_parse(json_string_value(v), &r, &re) != 0) {
            nx_seterr(e, "%s: \"%s\": \"%s\": %s", name, what, show(k, buf, sizeof buf), re.msg);
            return -1;
        }
        nx_range_free(r);
    }
    return 0;
}

int nx_php_ext_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int nx_requires_ok(const char *name, const json_t *req, nx_err *e)
{
    if (!json_is_object(req)) {
        nx_seterr(e, "%s: \"requires\" is not an object", name);
        return -1;
    }
    json_t *ranges = json_deep_copy(req);
    const json_t *ext = json_object_get(req, NX_REQ_PHP_EXTENSIONS);
    json_object_del(ranges, NX_REQ_PHP_EXTENSIONS);
    int rc = check_ranges(name, "requires", ranges, 0, e);
    json_decref(ranges);
    if (rc != 0 || !ext)
        return rc;
    if (!json_is_array(ext)) {
        nx_seterr(e, "%s: \"requires\": \"" NX_REQ_PHP_EXTENSIONS "\" is not a list of PHP "
                     "extension names", name);
        return -1;
    }
    size_t i;
    json_t *x;
    json_array_foreach(ext, i, x) {
        char buf[400];
        if (!json_is_string(x) || !nx_php_ext_ok(json_string_value(x))) {
            nx_seterr(e, "%s: \"requires\": \"" NX_REQ_PHP_EXTENSIONS "\"[%zu]: '%s' is not a "
                         "PHP extension name (letters, digits, '_' and '-', as php -m prints "
                         "them)", name, i,
                      json_is_string(x) ? show(json_string_value(x), buf, sizeof buf)
                                        : "(not a string)");
            return -1;
        }
    }
    return 0;
}

/* ---- entries ------------------------------------------------------------ */

static int key_allowed(enum nx_entry_type t, const char *k)
{
    if (strcmp(k, "path") == 0 || strcmp(k, "type") == 0)
        return 1;
    switch (t) {
    case NX_ENTRY_FILE:
        return strcmp(k, "size") == 0 || strcmp(k, "mode") == 0 || strcmp(k, "sha256") == 0;
    case NX_ENTRY_DIR:
        return strcmp(k, "mode") == 0;
    case NX_ENTRY_SYMLINK:
        return strcmp(k, "target") == 0;
    }
    return 0;
}

/* Parse files[i] into *out (its strings owned by *out). */
static int parse_entry(const char *name, size_t i, const json_t *o, nx_entry *out, nx_err *e)
{
    char buf[400];
    if (!json_is_object(o)) {
        nx_seterr(e, "%s: files[%zu] is not an object", name, i);
        return -1;
    }
    const json_t *jp = json_object_get(o, "path");
    if (!jp) {
        nx_seterr(e, "%s: files[%zu]: missing \"path\"", name, i);
        return -1;
    }
    if (!json_is_string(jp)) {
        nx_seterr(e, "%s: files[%zu]: \"path\" is not a string", name, i);
        return -1;
    }
    const char *path = json_string_value(jp);
    if (strlen(path) != json_string_length(jp)) {
        nx_seterr(e, "%s: NUL character in path (path %s)", name, show(path, buf, sizeof buf));
        return -1;
    }
    const char *why = path_problem(path);
    if (why) {
        nx_seterr(e, "%s: %s (path %s)", name, why, show(path, buf, sizeof buf));
        return -1;
    }
    show(path, buf, sizeof buf);
    if (strcmp(path, NX_MANIFEST_NAME) == 0) {
        nx_seterr(e, "%s: the manifest itself must not be listed in files (path %s)", name, buf);
        return -1;
    }
    const json_t *jt = json_object_get(o, "type");
    if (!jt) {
        nx_seterr(e, "%s: missing \"type\" (path %s)", name, buf);
        return -1;
    }
    const char *ts = json_is_string(jt) ? json_string_value(jt) : NULL;
    enum nx_entry_type type;
    if (ts && strcmp(ts, "file") == 0)
        type = NX_ENTRY_FILE;
    else if (ts && strcmp(ts, "dir") == 0)
        type = NX_ENTRY_DIR;
    else if (ts && strcmp(ts, "symlink") == 0)
        type = NX_ENTRY_SYMLINK;
    else {
        char tb[200];
        nx_seterr(e, "%s: unknown type %s%s%s, expected file, dir or symlink (path %s)", name,
                  ts ? "\"" : "", ts ? show(ts, tb, sizeof tb) : "(not a string)", ts ? "\"" : "",
                  buf);
        return -1;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v) {
        if (!key_allowed(type, k)) {
            char kb[200];
            nx_seterr(e, "%s: unknown key \"%s\" for a %s (path %s)", name,
                      show(k, kb, sizeof kb), type_name(type), buf);
            return -1;
        }
    }

    memset(out, 0, sizeof *out);
    out->type = type;
    if (type == NX_ENTRY_FILE || type == NX_ENTRY_DIR) {
        const json_t *jm = json_object_get(o, "mode");
        if (!jm) {
            nx_seterr(e, "%s: missing \"mode\" (path %s)", name, buf);
            return -1;
        }
        if (!json_is_string(jm)) {
            nx_seterr(e, "%s: mode is not an octal string like \"0644\" (path %s)", name, buf);
            return -1;
        }
        if (parse_mode(json_string_value(jm), &out->mode, &why) != 0) {
            nx_seterr(e, "%s: %s (path %s)", name, why, buf);
            return -1;
        }
    } else {
        out->mode = 0777;
    }
    if (type == NX_ENTRY_FILE) {
        const json_t *js = json_object_get(o, "size");
        if (!js) {
            nx_seterr(e, "%s: missing \"size\" (path %s)", name, buf);
            return -1;
        }
        if (get_uint(js, &out->size) != 0) {
            nx_seterr(e, "%s: size is not an integer >= 0 (path %s)", name, buf);
            return -1;
        }
        const json_t *jh = json_object_get(o, "sha256");
        if (!jh) {
            nx_seterr(e, "%s: missing \"sha256\" (path %s)", name, buf);
            return -1;
        }
        if (!json_is_string(jh) || !sha256_ok(json_string_value(jh), out->sha256)) {
            nx_seterr(e, "%s: sha256 is not 64 hex digits (path %s)", name, buf);
            return -1;
        }
    }
    if (type == NX_ENTRY_SYMLINK) {
        const json_t *jl = json_object_get(o, "target");
        if (!jl) {
            nx_seterr(e, "%s: missing \"target\" (path %s)", name, buf);
            return -1;
        }
        if (!json_is_string(jl)) {
            nx_seterr(e, "%s: symlink target is not a string (path %s)", name, buf);
            return -1;
        }
        const char *t = json_string_value(jl);
        size_t tn = strlen(t);
        if (tn != json_string_length(jl) || tn == 0 || tn > PATH_MAX_BYTES) {
            nx_seterr(e, "%s: symlink target is empty, too long or holds NUL (path %s)", name,
                      buf);
            return -1;
        }
        for (size_t j = 0; j < tn; j++) {
            if (is_ctl((unsigned char)t[j])) {
                nx_seterr(e, "%s: control character in symlink target (path %s)", name, buf);
                return -1;
            }
        }
        if (t[0] == '/') {
            nx_seterr(e, "%s: symlink target is absolute (path %s)", name, buf);
            return -1;
        }
        out->target = nx_xstrdup(t);
    }
    out->path = nx_xstrdup(path);
    return 0;
}

/* Each listed ancestor of an entry must be a dir. */
static int check_ancestors(const char *name, const nx_entry *entries, size_t n, nx_err *e)
{
    char *tmp = nx_xmalloc(PATH_MAX_BYTES + 1);
    for (size_t i = 0; i < n; i++) {
        const char *p = entries[i].path;
        size_t len = strlen(p);
        memcpy(tmp, p, len + 1);
        for (size_t j = 0; j < len; j++) {
            if (p[j] != '/')
                continue;
            tmp[j] = '\0';
            const nx_entry *a = find_n(entries, n, tmp);
            tmp[j] = '/';
            if (a && a->type != NX_ENTRY_DIR) {
                char b1[400], b2[400];
                nx_seterr(e, "%s: entry under %s, which is a %s, not a dir (path %s)", name,
                          show(a->path, b1, sizeof b1), type_name(a->type),
                          show(p, b2, sizeof b2));
                free(tmp);
                return -1;
            }
        }
    }
    free(tmp);
    return 0;
}

/* Resolve a symlink's target lexically from the link's folder: it must not
 * leave the payload nor pass through another listed symlink. */
static int check_symlink(const char *name, const nx_entry *entries, size_t n, const nx_entry *l,
                         nx_err *e)
{
    char b1[400], b2[400];
    /* The resolved path so far ("" is the payload root). Its length never
     * exceeds the link's folder plus the target. */
    size_t cap = strlen(l->path) + strlen(l->target) + 2;
    char *cur = nx_xmalloc(cap);
    const char *slash = strrchr(l->path, '/');
    size_t clen = slash ? (size_t)(slash - l->path) : 0;
    memcpy(cur, l->path, clen);
    cur[clen] = '\0';
    int rc = 0;
    const char *p = l->target;
    while (*p) {
        const char *next = strchr(p, '/');
        size_t len = next ? (size_t)(next - p) : strlen(p);
        const char *after = next ? next + 1 : p + len;
        if (len == 0 || (len == 1 && p[0] == '.')) {
            /* no-op */
        } else if (len == 2 && p[0] == '.' && p[1] == '.') {
            if (clen == 0) {
                nx_seterr(e, "%s: symlink target %s leaves the payload (path %s)", name,
                          show(l->target, b1, sizeof b1), show(l->path, b2, sizeof b2));
                rc = -1;
                break;
            }
            char *up = strrchr(cur, '/');
            clen = up ? (size_t)(up - cur) : 0;
            cur[clen] = '\0';
        } else {
            if (clen > 0)
                cur[clen++] = '/';
            memcpy(cur + clen, p, len);
            clen += len;
            cur[clen] = '\0';
            /* More components follow: this one must not be a listed symlink. */
            int more = 0;
            for (const char *q = after; *q; q++) {
                if (*q != '/') {
                    more = 1;
                    break;
                }
            }
            const nx_entry *hit = more ? find_n(entries, n, cur) : NULL;
            if (hit && hit->type == NX_ENTRY_SYMLINK) {
                nx_seterr(e, "%s: symlink target %s passes through another symlink (path %s)",
                          name, show(l->target, b1, sizeof b1), show(l->path, b2, sizeof b2));
                rc = -1;
                break;
            }
        }
        p = after;
    }
    free(cur);
    return rc;
}

/* ---- the manifest --------------------------------------------------------- */

static int parse_top(const char *name, nx_manifest *m, nx_err *e)
{
    const json_t *doc = m->doc;
    char buf[400];
    static const char *const required[] = {"format", "component", "version",
                                           "version_code", "files", "total_size"};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        if (!json_object_get(doc, required[i])) {
            nx_seterr(e, "%s: missing \"%s\"", name, required[i]);
            return -1;
        }
    }
    const json_t *v = json_object_get(doc, "format");
    if (!json_is_integer(v) || json_integer_value(v) != 1) {
        nx_seterr(e, "%s: unsupported \"format\" (expected 1)", name);
        return -1;
    }
    v = json_object_get(doc, "component");
    if (!json_is_string(v) || !component_ok(json_string_value(v)) ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        nx_seterr(e, "%s: \"component\" must be \"core\" or \"plugin:SLUG\" (slug "
                     "[a-z0-9][a-z0-9_-]{0,63})%s%s",
                  name, json_is_string(v) ? ", not " : "",
                  json_is_string(v) ? show(json_string_value(v), buf, sizeof buf) : "");
        return -1;
    }
    m->component = nx_xstrdup(json_string_value(v));

    v = json_object_get(doc, "version");
    if (!json_is_string(v)) {
        nx_seterr(e, "%s: \"version\" is not a string", name);
        return -1;
    }
    nx_semver sv;
    nx_err se = {{0}};
    if (nx_semver_parse(json_string_value(v), &sv, &se) != 0) {
        nx_seterr(e, "%s: bad \"version\": %s", name, se.msg);
        return -1;
    }
    uint64_t code = 0;
    int crc = nx_version_code(&sv, &code, &se);
    nx_semver_free(&sv);
    if (crc != 0) {
        nx_seterr(e, "%s: bad \"version\": %s", name, se.msg);
        return -1;
    }
    m->version = nx_xstrdup(json_string_value(v));
    if (get_uint(json_object_get(doc, "version_code"), &m->version_code) != 0) {
        nx_seterr(e, "%s: \"version_code\" is not an integer >= 0", name);
        return -1;
    }
    if (m->version_code != code) {
        nx_seterr(e, "%s: \"version_code\" %llu does not match version %s (expected %llu)", name,
                  (unsigned long long)m->version_code, m->version, (unsigned long long)code);
        return -1;
    }
    if (get_uint(json_object_get(doc, "total_size"), &m->total_size) != 0) {
        nx_seterr(e, "%s: \"total_size\" is not an integer >= 0", name);
        return -1;
    }

    v = json_object_get(doc, "release_date");
    if (v && (!json_is_string(v) || !date_ok(json_string_value(v)))) {
        nx_seterr(e, "%s: \"release_date\" is not a date YYYY-MM-DD", name);
        return -1;
    }
    static const char *const strings[] = {"branch", "build"};
    for (size_t i = 0; i < 2; i++) {
        v = json_object_get(doc, strings[i]);
        if (v && !json_is_string(v)) {
            nx_seterr(e, "%s: \"%s\" is not a string", name, strings[i]);
            return -1;
        }
    }
    v = json_object_get(doc, "requires");
    if (v && nx_requires_ok(name, v, e) != 0)
        return -1;
    v = json_object_get(doc, "dependencies");
    if (v && check_ranges(name, "dependencies", v, 1, e) != 0)
        return -1;
    v = json_object_get(doc, "compatibility");
    if (v) {
        if (!json_is_object(v)) {
            nx_seterr(e, "%s: \"compatibility\" is not an object", name);
            return -1;
        }
        const json_t *pl = json_object_get(v, "plugins");
        if (pl && check_ranges(name, "compatibility.plugins", pl, 1, e) != 0)
            return -1;
    }
    return 0;
}

static int parse_files(const char *name, nx_manifest *m, nx_err *e)
{
    const json_t *files = json_object_get(m->doc, "files");
    if (!json_is_array(files)) {
        nx_seterr(e, "%s: \"files\" is not an array", name);
        return -1;
    }
    size_t n = json_array_size(files);
    m->entries = nx_xcalloc(n ? n : 1, sizeof *m->entries);
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        if (parse_entry(name, i, json_array_get(files, i), &m->entries[i], e) != 0)
            return -1;
        m->nentries = i + 1;
        if (m->entries[i].type == NX_ENTRY_FILE) {
            if (sum > UINT64_MAX - m->entries[i].size) {
                char buf[400];
                nx_seterr(e, "%s: file sizes overflow (path %s)", name,
                          show(m->entries[i].path, buf, sizeof buf));
                return -1;
            }
            sum += m->entries[i].size;
        }
    }
    if (n > 1)
        qsort(m->entries, n, sizeof *m->entries, cmp_entry);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(m->entries[i - 1].path, m->entries[i].path) == 0) {
            char buf[400];
            nx_seterr(e, "%s: duplicate path (path %s)", name,
                      show(m->entries[i].path, buf, sizeof buf));
            return -1;
        }
    }
    if (check_ancestors(name, m->entries, n, e) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (m->entries[i].type == NX_ENTRY_SYMLINK &&
            check_symlink(name, m->entries, n, &m->entries[i], e) != 0)
            return -1;
    }
    if (sum != m->total_size) {
        nx_seterr(e, "%s: \"total_size\" %llu is not the sum of the file sizes (%llu)", name,
                  (unsigned long long)m->total_size, (unsigned long long)sum);
        return -1;
    }
    return 0;
}

nx_manifest *nx_manifest_parse(const char *text, size_t len, const char *name, nx_err *e)
{
    if (!name)
        name = NX_MANIFEST_NAME;
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        /* jansson quotes the text near the error: newlines and all */
        char shown[400];
        nx_seterr(e, "%s: not valid JSON: %s (line %d, column %d)", name,
                  show(jerr.text, shown, sizeof shown), jerr.line, jerr.column);
        return NULL;
    }
    if (!json_is_object(doc)) {
        nx_seterr(e, "%s: not a JSON object", name);
        json_decref(doc);
        return NULL;
    }
    nx_manifest *m = nx_xcalloc(1, sizeof *m);
    m->doc = doc;
    if (parse_top(name, m, e) != 0 || parse_files(name, m, e) != 0) {
        nx_manifest_free(m);
        return NULL;
    }
    return m;
}

void nx_manifest_free(nx_manifest *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nentries; i++) {
        free(m->entries[i].path);
        free(m->entries[i].target);
    }
    free(m->entries);
    free(m->component);
    free(m->version);
    json_decref(m->doc);
    free(m);
}

const nx_entry *nx_manifest_find(const nx_manifest *m, const char *path)
{
    if (!m || !path)
        return NULL;
    return find_n(m->entries, m->nentries, path);
}

char *nx_manifest_copy_dir(const char *state_dir, const char *component)
{
    char *dir = nx_xasprintf("%s/%s/%s", state_dir, NX_MANIFEST_COPIES, component);
    char *colon = strrchr(dir, ':');
    if (colon && colon > dir + strlen(state_dir))
        *colon = '_';
    return dir;
}

char *nx_manifest_copy_path(const char *state_dir, const char *component,
                            const char *sha256_hex)
{
    char *dir = nx_manifest_copy_dir(state_dir, component);
    char *path = nx_xasprintf("%s/%s.json", dir, sha256_hex);
    free(dir);
    return path;
}
