/*
 * verify — nothing of a package is trusted before this step passed:
 *   1. its SHA-256 equals the offered checksum (param.sha256);
 *   2. its Ed25519 signature (param.signature, else PACKAGE.sig beside a
 *      local package) verifies with a key of [server] trusted_keys — no
 *      key, a wrong key or a bad signature is a refusal, never a warning;
 *   3. its manifest (nexo-release.json) names the offered component and
 *      version and is valid (core/manifest.h);
 *   4. the version is newer than the installed one (param.installed),
 *      unless param.allow_downgrade = 1 (--to with --allow-downgrade).
 * It changes nothing but a copy of the manifest in the work folder, which
 * it publishes as shared "manifest_file" for the steps after it.
 */
#include <nexo/step.h>

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "manifest.h"
#include "offer.h"
#include "semver.h"
#include "trust.h"
#include "util.h"
#include "verify.h"

static const struct nexo_setting settings[] = {
    { "trusted_keys", NULL, 0, "folder of trusted *.pub keys (default: [server] trusted_keys)" },
    { NULL, NULL, 0, NULL },
};

static const char *package_of(const struct nexo_host *h, nexo_ctx *c)
{
    const char *p = h->shared_get(c, NX_SHARED_PACKAGE);
    return p ? p : h->info(c, NX_OFFER_PACKAGE);
}

static int check_sha256(const struct nexo_host *h, nexo_ctx *c, const char *pkg)
{
    const char *want = h->info(c, NX_OFFER_SHA256);
    if (!want) {
        if (h->info(c, NX_OFFER_PACKAGE))
            return 0; /* a local package: its signature is what counts */
        return h->fail(c, NEXO_EVERIFY, "no checksum was offered for %s", pkg);
    }
    const char *seen = h->shared_get(c, NX_SHARED_PACKAGE_SHA256);
    const char *from = h->shared_get(c, NX_SHARED_PACKAGE);
    if (seen && from && strcmp(from, pkg) == 0 && strcasecmp(seen, want) == 0) {
        h->log(c, NEXO_LOG_INFO, "sha256 matches (checked while downloading: %s)", seen);
        return 0;
    }
    char got[NX_SHA256_HEX];
    uint64_t size = 0;
    nx_err e;
    if (nx_sha256_file(pkg, got, &size, &e) != 0)
        return h->fail(c, NEXO_EIO, "%s", e.msg);
    if (strcasecmp(got, want) != 0)
        return h->fail(c, NEXO_EVERIFY, "%s: sha256 %s does not match the offered %s: refused",
                       pkg, got, want);
    h->log(c, NEXO_LOG_INFO, "sha256 matches (%s)", got);
    return 0;
}

static char *read_sig_file(const char *pkg)
{
    char *path = nx_xasprintf("%s.sig", pkg);
    char *text = NULL;
    nx_err e;
    if (nx_read_file(path, &text, NULL, 4096, &e) != 0)
        text = NULL;
    free(path);
    return text;
}

static int check_signature(const struct nexo_host *h, nexo_ctx *c, const char *pkg)
{
    const char *keys = h->setting(c, "trusted_keys");
    if (!keys)
        keys = h->config(c, "server", "trusted_keys");
    if (!keys)
        return h->fail(c, NEXO_EVERIFY, "no [server] trusted_keys: signatures are always "
                                        "required, so %s is refused", pkg);
    char *owned = NULL;
    const char *sig = h->info(c, NX_OFFER_SIGNATURE);
    /* A local package's signature lies beside the file the admin named
     * (the download step verified a private copy of it: `pkg`). What the
     * .sig says is checked against the copy's bytes, so whoever can
     * change the .sig can only make the check fail. */
    const char *orig = h->info(c, NX_OFFER_PACKAGE);
    if (!orig || !*orig)
        orig = pkg;
    if (!sig || !*sig)
        sig = owned = read_sig_file(orig);
    if (!sig) {
        return h->fail(c, NEXO_EVERIFY, "%s has no signature (none offered, no %s.sig): refused",
                       orig, orig);
    }
    nx_err e;
    int rc = 0;
    const char *kid = NULL;
    /* only a key whose scope covers the component counts (contracts §6);
     * check_manifest then holds the package to that component */
    const char *comp = h->info(c, NX_OFFER_COMPONENT);
    if (!comp)
        comp = h->info(c, "component");
    nx_keyring *ring = NULL;
    if (!comp || !*comp)
        rc = h->fail(c, NEXO_EVERIFY, "%s: refused: no component named (param.component): the "
                     "keys that may sign it are not known", pkg);
    else if (!(ring = nx_keyring_load(keys, &e)))
        rc = h->fail(c, NEXO_EVERIFY, "%s: refused: %s", pkg, e.msg);
    else if (nx_verify_file(ring, comp, pkg, sig, &kid, &e) != 0)
        rc = h->fail(c, NEXO_EVERIFY, "%s: signature refused: %s", pkg, e.msg);
    else
        h->log(c, NEXO_LOG_INFO, "signature verified (key %s, may sign %s)", kid ? kid : "?",
               comp);
    nx_keyring_free(ring);
    free(owned);
    return rc;
}

/* nexo-release.json from the archive (malloc'ed text), or NULL with fail. */
char *vf_manifest_text(const struct nexo_host *h, nexo_ctx *c, const char *pkg, size_t *len)
{
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    archive_read_support_format_zip(a);
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_zstd(a);
    char *text = NULL;
    if (archive_read_open_filename(a, pkg, 65536) != ARCHIVE_OK) {
        h->fail(c, NEXO_EVERIFY, "%s: not a package archive: %s", pkg, archive_error_string(a));
        archive_read_free(a);
        return NULL;
    }
    struct archive_entry *en;
    int r;
    while ((r = archive_read_next_header(a, &en)) == ARCHIVE_OK) {
        if (strcmp(archive_entry_pathname(en), NX_MANIFEST_NAME) != 0)
            continue;
        la_int64_t sz = archive_entry_size(en);
        if (sz < 0 || sz > (la_int64_t)NX_MANIFEST_MAX) {
            h->fail(c, NEXO_EVERIFY, "%s: %s is larger than %s", pkg, NX_MANIFEST_NAME,
                    NX_MANIFEST_MAX_TEXT);
            break;
        }
        text = nx_xmalloc((size_t)sz + 1);
        la_int64_t got = 0;
        while (got < sz) {
            la_ssize_t n = archive_read_data(a, text + got, (size_t)(sz - got));
            if (n <= 0)
                break;
            got += n;
        }
        if (got != sz) {
            h->fail(c, NEXO_EVERIFY, "%s: cannot read %s", pkg, NX_MANIFEST_NAME);
            free(text);
            text = NULL;
            break;
        }
        text[sz] = '\0';
        *len = (size_t)sz;
        break;
    }
    if (!text && r != ARCHIVE_OK && r != ARCHIVE_EOF)
        h->fail(c, NEXO_EVERIFY, "%s: damaged archive: %s", pkg, archive_error_string(a));
    else if (!text && (r == ARCHIVE_EOF))
        h->fail(c, NEXO_EVERIFY, "%s: no %s in the package", pkg, NX_MANIFEST_NAME);
    archive_read_free(a);
    return text;
}

static int check_version(const struct nexo_host *h, nexo_ctx *c, const nx_manifest *m)
{
    const char *installed = h->info(c, NX_OFFER_INSTALLED);
    const char *down = h->info(c, NX_OFFER_DOWNGRADE);
    if (!installed || !*installed)
        return 0;
    nx_err e;
    int cmp = nx_semver_cmp_str(m->version, installed, &e);
    if (cmp == -2)
        return h->fail(c, NEXO_EVERIFY, "%s", e.msg);
    if (cmp > 0)
        return 0;
    if (down && strcmp(down, "1") == 0) {
        if (cmp < 0)
            h->log(c, NEXO_LOG_WARN, "installing %s over the newer %s (downgrade allowed)",
                   m->version, installed);
        else
            h->log(c, NEXO_LOG_WARN, "installing %s again (--allow-downgrade)", m->version);
        return 0;
    }
    return h->fail(c, NEXO_EVERIFY, "%s %s is %s the installed %s: refused (--to VERSION with "
                   "--allow-downgrade allows it)", m->component, m->version,
                   cmp == 0 ? "the same as" : "older than", installed);
}

static int check_manifest(const struct nexo_host *h, nexo_ctx *c, const char *pkg)
{
    size_t len = 0;
    char *text = vf_manifest_text(h, c, pkg, &len);
    if (!text)
        return NEXO_EVERIFY;
    char *name = nx_xasprintf("%s:%s", pkg, NX_MANIFEST_NAME);
    nx_err e;
    int rc = 0;
    nx_manifest *m = nx_manifest_parse(text, len, name, &e);
    const char *comp = h->info(c, NX_OFFER_COMPONENT);
    const char *ver = h->info(c, NX_OFFER_VERSION);
    if (!comp)
        comp = h->info(c, "component");
    if (!ver)
        ver = h->info(c, "to_version");
    if (!m)
        rc = h->fail(c, NEXO_EVERIFY, "%s", e.msg);
    else if (comp && strcmp(comp, m->component) != 0)
        rc = h->fail(c, NEXO_EVERIFY, "%s: the package is %s, but %s was offered: refused", pkg,
                     m->component, comp);
    else if (ver && strcmp(ver, m->version) != 0)
        rc = h->fail(c, NEXO_EVERIFY, "%s: the package is version %s, but %s was offered: "
                     "refused", pkg, m->version, ver);
    if (!rc)
        rc = check_version(h, c, m);
    const char *work = h->info(c, "work_dir");
    if (!rc && work) {
        char *copy = nx_path_join(work, NX_MANIFEST_NAME);
        rc = nx_write_file_atomic(copy, text, len, 0600, &e) == 0
                 ? h->shared_set(c, NX_SHARED_MANIFEST, copy)
                 : h->fail(c, NEXO_EIO, "%s", e.msg);
        free(copy);
    }
    if (!rc)
        h->log(c, NEXO_LOG_INFO, "manifest: %s %s, %zu entries, %llu bytes", m->component,
               m->version, m->nentries, (unsigned long long)m->total_size);
    nx_manifest_free(m);
    free(name);
    free(text);
    return rc;
}

/* A downloaded package that failed verification is hostile or broken:
 * remove it from the download folder (never a local package). */
static void forget_download(const struct nexo_host *h, nexo_ctx *c, const char *pkg)
{
    const char *from = h->shared_get(c, NX_SHARED_PACKAGE);
    const char *state = h->info(c, "state_dir");
    if (!from || strcmp(from, pkg) != 0 || !state)
        return;
    char *dir = nx_path_join(state, "downloads/");
    if (strncmp(pkg, dir, strlen(dir)) == 0 && unlink(pkg) == 0)
        h->log(c, NEXO_LOG_WARN, "removed the refused package %s", pkg);
    free(dir);
}

static int v_run(const struct nexo_host *h, nexo_ctx *c)
{
    const char *pkg = package_of(h, c);
    if (!pkg)
        return h->fail(c, NEXO_EINVAL, "no package to verify (the download step publishes "
                                       "package_file; install --package names one)");
    int rc = check_sha256(h, c, pkg);
    if (!rc)
        rc = check_signature(h, c, pkg);
    if (!rc)
        rc = check_manifest(h, c, pkg);
    if (rc)
        forget_download(h, c, pkg);
    return rc;
}

static int v_undo(const struct nexo_host *h, nexo_ctx *c)
{
    const char *copy = h->shared_get(c, NX_SHARED_MANIFEST);
    if (copy && unlink(copy) != 0 && errno != ENOENT)
        return h->fail(c, NEXO_EIO, "%s: %s", copy, strerror(errno));
    return 0;
}

static int v_plan(const struct nexo_host *h, nexo_ctx *c)
{
    const char *keys = h->setting(c, "trusted_keys");
    h->log(c, NEXO_LOG_INFO, "would check sha256 %s, the signature with the keys in %s, the "
           "manifest (%s %s) and that it is newer than %s",
           h->info(c, NX_OFFER_SHA256) ? h->info(c, NX_OFFER_SHA256) : "(none offered)",
           keys ? keys : h->config(c, "server", "trusted_keys")
                ? h->config(c, "server", "trusted_keys") : "(none configured!)",
           h->info(c, NX_OFFER_COMPONENT) ? h->info(c, NX_OFFER_COMPONENT) : "?",
           h->info(c, NX_OFFER_VERSION) ? h->info(c, NX_OFFER_VERSION) : "?",
           h->info(c, NX_OFFER_INSTALLED) ? h->info(c, NX_OFFER_INSTALLED) : "nothing");
    return 0;
}

NEXO_STEP_MODULE = {
    NEXO_STEP_HEADER,
    .name = "verify",
    .version = "1.0.0",
    .summary = "refuse a package unless checksum, signature, manifest and version are right",
    .flags = NEXO_STEP_PRECHECK,
    .settings = settings,
    .plan = v_plan,
    .run = v_run,
    .undo = v_undo,
};
