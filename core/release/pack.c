/* nexo-release pack */
#include "release.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHANGELOG_MAX (1024 * 1024)

struct pack {
    const struct rel_args *a;
    const char *repo;
    enum rel_format format;
    int expires;
    nx_key *key;
    struct rel_meta meta;
    struct rel_tree tree;
    char *manifest;
    char *changelog;
    char *url;      /* relative to the repository */
    char *out;      /* REPO/url */
    char *sig;      /* the package's signature (base64) */
    char sha256[NX_SHA256_HEX];
    uint64_t size;
    json_t *releases;
    json_t *index;  /* the index written */
};

static void pack_free(struct pack *p)
{
    nx_key_free(p->key);
    rel_meta_free(&p->meta);
    rel_tree_free(&p->tree);
    free(p->manifest);
    free(p->changelog);
    free(p->url);
    free(p->out);
    free(p->sig);
    json_decref(p->releases);
    json_decref(p->index);
}

/* Usage errors (exit 2) before anything is read. */
static int check_usage(struct pack *p)
{
    const struct rel_args *a = p->a;
    char *slug = NULL;
    nx_err e;
    if (rel_component_parse(a->opt[OPT_COMPONENT], &slug, &e) != 0) {
        fprintf(stderr, "nexo-release: pack: %s\n", e.msg);
        return -1;
    }
    free(slug);
    const char *f = a->opt[OPT_FORMAT] ? a->opt[OPT_FORMAT] : "tar.zst";
    if (rel_format_parse(f, &p->format) != 0) {
        fprintf(stderr, "nexo-release: pack: --format '%s': expected tar.zst, tar.gz or zip\n", f);
        return -1;
    }
    if (a->opt[OPT_DATE] && rel_date_parse(a->opt[OPT_DATE], NULL) != 0) {
        fprintf(stderr, "nexo-release: pack: --date '%s': not a date (YYYY-MM-DD)\n",
                a->opt[OPT_DATE]);
        return -1;
    }
    p->expires = rel_expires_arg(a);
    return p->expires < 0 ? -1 : 0;
}

static int read_changelog(struct pack *p, nx_err *e)
{
    const char *f = p->a->opt[OPT_CHANGELOG];
    if (!f) {
        p->changelog = nx_xstrdup("");
        return 0;
    }
    size_t len = 0;
    if (nx_read_file(f, &p->changelog, &len, CHANGELOG_MAX, e) != 0)
        return -1;
    json_t *j = json_stringn(p->changelog, len);
    if (!j || strlen(p->changelog) != len) {
        json_decref(j);
        nx_seterr(e, "%s: the changelog is not UTF-8 text", f);
        return -1;
    }
    json_decref(j);
    return 0;
}

static void set_paths(struct pack *p)
{
    const char *ext = rel_format_ext(p->format);
    if (p->meta.slug)
        p->url = nx_xasprintf("plugins/%s/%s-%s.%s", p->meta.slug, p->meta.slug, p->meta.version,
                              ext);
    else
        p->url = nx_xasprintf("core/nexosupport-%s.%s", p->meta.version, ext);
    p->out = nx_path_join(p->repo, p->url);
}

/* Refuse to replace a package or a release without --force, and check the
 * index's other releases, before anything is written. */
static int check_repo(struct pack *p, nx_err *e)
{
    int force = p->a->opt[OPT_FORCE] != NULL;
    p->releases = rel_index_load(p->repo, e);
    if (!p->releases)
        return -1;
    long at = rel_index_find(p->releases, p->meta.component, p->meta.version, e);
    if (at == -2)
        return -1;
    json_t *old = at >= 0 ? json_array_get(p->releases, (size_t)at) : NULL;
    if (old && !force) {
        nx_seterr(e, "%s/%s already lists %s %s (%s); give --force to replace it", p->repo,
                  REL_INDEX_NAME, p->meta.component,
                  json_string_value(json_object_get(old, "version")),
                  json_string_value(json_object_get(old, "download_url")));
        return -1;
    }
    if (!force && access(p->out, F_OK) == 0) {
        nx_seterr(e, "%s: a package of this version exists; give --force to replace it", p->out);
        return -1;
    }
    return rel_index_check(p->repo, p->releases, old, e);
}

static int make_package(struct pack *p, nx_err *e)
{
    char *dir = nx_dirname(p->out);
    int rc = nx_mkdirs(dir, 0755, e);
    free(dir);
    time_t mtime = 0;
    rel_date_parse(p->meta.release_date, &mtime);
    if (rc == 0)
        rc = rel_archive_write(p->out, p->format, p->manifest, p->a->opt[OPT_SRC], &p->tree,
                               mtime, e);
    if (rc != 0)
        return -1;
    char *sigf = nx_xasprintf("%s.sig", p->out);
    rc = nx_sign_file_to_sig(p->key, p->out, e);
    if (rc == 0)
        rc = nx_read_file(sigf, &p->sig, NULL, 4096, e);
    if (rc == 0) {
        p->sig[strcspn(p->sig, "\r\n")] = '\0';
        rc = nx_sha256_file(p->out, p->sha256, &p->size, e);
    }
    if (rc != 0) {   /* no unsigned package left behind */
        unlink(p->out);
        unlink(sigf);
    }
    free(sigf);
    return rc;
}

static json_t *index_entry(const struct pack *p)
{
    const struct rel_meta *m = &p->meta;
    json_t *r = json_pack(
        "{s:s, s:s, s:I, s:s, s:s, s:s, s:I, s:{s:s}, s:s, s:s, s:b, s:b, s:O, s:O}",
        "component", m->component, "version", m->version, "version_code",
        (json_int_t)m->version_code, "branch", m->branch, "release_date", m->release_date,
        "download_url", p->url, "size_bytes", (json_int_t)p->size, "checksum", "sha256",
        p->sha256, "signature", p->sig, "changelog", p->changelog, "is_security_update",
        p->a->opt[OPT_SECURITY] != NULL, "is_critical", p->a->opt[OPT_CRITICAL] != NULL,
        "requires", m->requires, "compatibility", m->compatibility);
    if (m->dependencies)
        json_object_set(r, "dependencies", m->dependencies);
    return r;
}

static int update_index(struct pack *p, nx_err *e)
{
    json_t *entry = index_entry(p);
    int rc = rel_index_put(p->releases, entry, e);
    json_decref(entry);
    if (rc == 0)
        rc = rel_index_write(p->repo, p->key, p->releases, p->expires, &p->index, e);
    return rc;
}

static void report(const struct rel_ctx *c, const struct pack *p)
{
    const struct rel_meta *m = &p->meta;
    const char *exp = json_string_value(json_object_get(p->index, "expires"));
    char *index = nx_path_join(p->repo, REL_INDEX_NAME);
    if (c->json) {
        rel_print_json(json_pack(
            "{s:s, s:s, s:I, s:s, s:s, s:s+, s:s, s:s, s:I, s:s, s:s, s:I, s:I, s:s, s:I, s:s}",
            "component", m->component, "version", m->version, "version_code",
            (json_int_t)m->version_code, "file", p->out, "download_url", p->url, "sig_file",
            p->out, ".sig", "format", rel_format_ext(p->format), "sha256", p->sha256,
            "size_bytes", (json_int_t)p->size, "signature", p->sig, "key_id", nx_key_id(p->key),
            "entries", (json_int_t)p->tree.n, "total_size", (json_int_t)p->tree.total_size,
            "index", index, "releases", (json_int_t)json_array_size(p->releases), "expires",
            exp));
    } else if (!c->quiet) {
        printf("packed %s %s: %zu entries, %llu bytes of files\n"
               "  package: %s (%llu bytes)\n  sha256:  %s\n  signed:  %s.sig (key %s)\n"
               "  index:   %s (%zu releases, expires %s)\n",
               m->component, m->version, p->tree.n, (unsigned long long)p->tree.total_size,
               p->out, (unsigned long long)p->size, p->sha256, p->out, nx_key_id(p->key), index,
               json_array_size(p->releases), exp);
    }
    free(index);
}

int rel_cmd_pack(const struct rel_ctx *c, const struct rel_args *a)
{
    struct pack p = { .a = a, .repo = a->opt[OPT_REPO] };
    nx_err e;
    if (check_usage(&p) != 0)
        return REL_EXIT_USAGE;
    int rc = REL_EXIT_FAILED;
    p.key = nx_key_load_private(a->opt[OPT_KEY], &e);
    if (!p.key)
        goto out;
    if (rel_meta_load(&p.meta, a->opt[OPT_COMPONENT], a->opt[OPT_SRC], a->opt[OPT_DATE], &e) != 0)
        goto out;
    if (read_changelog(&p, &e) != 0 || rel_tree_walk(a->opt[OPT_SRC], p.repo, &p.tree, &e) != 0)
        goto out;
    p.manifest = rel_manifest_text(&p.meta, &p.tree, &e);
    if (!p.manifest)
        goto out;
    set_paths(&p);
    if (check_repo(&p, &e) != 0 || make_package(&p, &e) != 0 || update_index(&p, &e) != 0)
        goto out;
    report(c, &p);
    rc = REL_EXIT_OK;
out:
    if (rc != REL_EXIT_OK)
        fprintf(stderr, "nexo-release: pack: %s\n", e.msg);
    pack_free(&p);
    return rc;
}
