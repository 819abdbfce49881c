/* nexo-release: the repository's static index (index.json, index.json.sig). */
#include "release.h"
#include "semver.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define INDEX_MAX (64u * 1024 * 1024)

json_t *rel_index_load(const char *repo, nx_err *e)
{
    char *path = nx_path_join(repo, REL_INDEX_NAME);
    char *text = NULL;
    size_t len = 0;
    json_t *out = NULL;
    if (access(path, F_OK) != 0 && errno == ENOENT) {
        free(path);
        return json_array();
    }
    if (nx_read_file(path, &text, &len, INDEX_MAX, e) != 0)
        goto out;
    json_error_t je;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!doc) {
        nx_seterr(e, "%s:%d: %s", path, je.line, je.text);
        goto out;
    }
    json_t *rels = json_object_get(doc, "releases");
    json_t *fmt = json_object_get(doc, "format");
    if (!json_is_array(rels) || (fmt && json_integer_value(fmt) != 1))
        nx_seterr(e, "%s: not an index (format 1 with a \"releases\" array)", path);
    else
        out = json_incref(rels);
    json_decref(doc);
out:
    free(text);
    free(path);
    return out;
}

static int is_hex64(const char *s)
{
    if (!s || strlen(s) != 64)
        return 0;
    return strspn(s, "0123456789abcdef") == 64;
}

static int check_fields(const char *where, json_t *r, nx_err *e)
{
    const char *comp = json_string_value(json_object_get(r, "component"));
    const char *ver = json_string_value(json_object_get(r, "version"));
    const char *url = json_string_value(json_object_get(r, "download_url"));
    const char *sha = json_string_value(json_object_get(json_object_get(r, "checksum"), "sha256"));
    json_t *size = json_object_get(r, "size_bytes");
    const char *what = !comp ? "component" : !ver ? "version" : !url ? "download_url"
                     : !is_hex64(sha) ? "checksum.sha256"
                     : !json_is_integer(size) || json_integer_value(size) < 0 ? "size_bytes"
                     : !json_is_string(json_object_get(r, "signature")) ? "signature" : NULL;
    if (what) {
        nx_seterr(e, "%s: %s is missing or not valid", where, what);
        return -1;
    }
    char *slug = NULL;
    nx_semver v;
    if (rel_component_parse(comp, &slug, e) != 0 || nx_semver_parse(ver, &v, e) != 0) {
        free(slug);
        nx_preferr(e, "%s", where);
        return -1;
    }
    free(slug);
    nx_semver_free(&v);
    return 0;
}

/* The package and its .sig in the repository match the release. */
static int check_package(const char *where, const char *repo, json_t *r, nx_err *e)
{
    const char *url = json_string_value(json_object_get(r, "download_url"));
    if (strstr(url, "://"))
        return 0;   /* served from elsewhere: not checked */
    if (!nx_manifest_path_ok(url)) {
        nx_seterr(e, "%s: download_url '%s' is neither absolute nor a safe relative path", where,
                  url);
        return -1;
    }
    char *file = nx_path_join(repo, url);
    char *sigf = nx_xasprintf("%s.sig", file);
    char *sig = NULL, hex[NX_SHA256_HEX];
    uint64_t size = 0;
    int rc = -1;
    if (nx_sha256_file(file, hex, &size, e) != 0 || nx_read_file(sigf, &sig, NULL, 4096, e) != 0) {
        nx_preferr(e, "%s", where);
        goto out;
    }
    sig[strcspn(sig, "\r\n")] = '\0';
    const char *bad = strcmp(hex, json_string_value(json_object_get(json_object_get(r, "checksum"),
                                                                     "sha256"))) != 0
                          ? "its sha256 differs from the index"
                      : size != (uint64_t)json_integer_value(json_object_get(r, "size_bytes"))
                          ? "its size differs from the index's size_bytes"
                      : strcmp(sig, json_string_value(json_object_get(r, "signature"))) != 0
                          ? "its .sig differs from the index's signature"
                          : NULL;
    if (bad) {
        nx_seterr(e, "%s: %s: %s (repack it, or remove the release from the index)", where, file,
                  bad);
        goto out;
    }
    rc = 0;
out:
    free(sig);
    free(sigf);
    free(file);
    return rc;
}

int rel_index_check(const char *repo, json_t *releases, const json_t *skip, nx_err *e)
{
    char *path = nx_path_join(repo, REL_INDEX_NAME);
    size_t i;
    json_t *r;
    int rc = 0;
    json_array_foreach(releases, i, r) {
        if (r == skip)
            continue;
        if (!json_is_object(r)) {
            nx_seterr(e, "%s: releases[%zu] is not an object", path, i);
            rc = -1;
            break;
        }
        const char *c = json_string_value(json_object_get(r, "component"));
        const char *v = json_string_value(json_object_get(r, "version"));
        char *where = nx_xasprintf("%s: release %s %s", path, c ? c : "?", v ? v : "?");
        rc = check_fields(where, r, e);
        if (rc == 0)
            rc = check_package(where, repo, r, e);
        free(where);
        if (rc != 0)
            break;
    }
    free(path);
    return rc;
}

long rel_index_find(json_t *releases, const char *component, const char *version, nx_err *e)
{
    nx_semver want;
    if (nx_semver_parse(version, &want, e) != 0)
        return -2;
    size_t i;
    json_t *r;
    long found = -1;
    json_array_foreach(releases, i, r) {
        const char *c = json_string_value(json_object_get(r, "component"));
        const char *v = json_string_value(json_object_get(r, "version"));
        nx_semver have;
        if (!c || !v || strcmp(c, component) != 0)
            continue;
        if (nx_semver_parse(v, &have, e) != 0) {
            found = -2;
            break;
        }
        int cmp = nx_semver_cmp(&have, &want);
        nx_semver_free(&have);
        if (cmp == 0) {
            found = (long)i;
            break;
        }
    }
    nx_semver_free(&want);
    return found;
}

struct sort_item {
    json_t *j;
    const char *component;
    nx_semver v;
};

static int cmp_item(const void *a, const void *b)
{
    const struct sort_item *x = a, *y = b;
    int c = strcmp(x->component, y->component);
    return c ? c : nx_semver_cmp(&x->v, &y->v);
}

static int sort_releases(json_t *releases, nx_err *e)
{
    size_t n = json_array_size(releases), ok = 0;
    struct sort_item *it = nx_xcalloc(n, sizeof *it);
    int rc = 0;
    for (; ok < n; ok++) {
        it[ok].j = json_incref(json_array_get(releases, ok));
        it[ok].component = json_string_value(json_object_get(it[ok].j, "component"));
        const char *v = json_string_value(json_object_get(it[ok].j, "version"));
        if (!it[ok].component || !v || nx_semver_parse(v, &it[ok].v, e) != 0) {
            nx_seterr(e, "index: release %zu has no valid component and version", ok);
            json_decref(it[ok].j);
            rc = -1;
            break;
        }
    }
    if (rc == 0) {
        qsort(it, n, sizeof *it, cmp_item);
        json_array_clear(releases);
        for (size_t i = 0; i < n; i++)
            json_array_append(releases, it[i].j);
    }
    for (size_t i = 0; i < ok; i++) {
        json_decref(it[i].j);
        nx_semver_free(&it[i].v);
    }
    free(it);
    return rc;
}

int rel_index_put(json_t *releases, json_t *entry, nx_err *e)
{
    const char *c = json_string_value(json_object_get(entry, "component"));
    const char *v = json_string_value(json_object_get(entry, "version"));
    long at = rel_index_find(releases, c, v, e);
    if (at == -2)
        return -1;
    if (at >= 0)
        json_array_set(releases, (size_t)at, entry);
    else
        json_array_append(releases, entry);
    return sort_releases(releases, e);
}

int rel_index_write(const char *repo, const nx_key *key, json_t *releases, int expires_days,
                    json_t **written, nx_err *e)
{
    time_t now = time(NULL);
    char gen[32], exp[32];
    rel_iso_time(now, gen);
    rel_iso_time(now + (time_t)expires_days * 86400, exp);
    json_t *doc = json_pack("{s:i, s:s, s:s, s:O}", "format", 1, "generated_at", gen, "expires",
                            exp, "releases", releases);
    char *body = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    char *path = nx_path_join(repo, REL_INDEX_NAME);
    int rc = -1;
    if (!body) {
        nx_seterr(e, "%s: cannot encode the index", path);
        goto out;
    }
    char *text = nx_xasprintf("%s\n", body);
    rc = nx_write_file_atomic(path, text, strlen(text), 0644, e);
    free(text);
    if (rc == 0)
        rc = nx_sign_file_to_sig(key, path, e);
out:
    free(body);
    free(path);
    if (rc == 0 && written)
        *written = json_incref(doc);
    json_decref(doc);
    return rc;
}
