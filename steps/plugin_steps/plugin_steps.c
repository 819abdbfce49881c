/*
 * plugin_steps — lets a plugin package bring upgrade steps of its own.
 *
 * Placed in the plugin pipeline after verify and extract (and before
 * maintenance mode), it looks for the pipeline fragment `fragment`
 * (default nexo-steps.ini) at the root of the verified, extracted package
 * (STAGING/<component_dir>) and hands it to the host (insert_steps), which
 * loads and validates every module the fragment names and inserts the
 * steps at the points it names (after = migrate, before = replace, ...).
 * Their undo takes part in the rollback like any step's. A package
 * without a fragment: nothing to do. A module that does not load, a
 * setting it does not declare, a point that does not exist: the step
 * fails, before anything of the site changed. So does a module the package
 * ships itself (or hook executables of its own for the installed hooks
 * step) when the plugin is not named in [plugins] native_steps (contracts
 * §9; the host checks it before copying or loading anything).
 *
 * The fragment format is in docs/plugin-authors.md. This step changes
 * nothing of the site itself (NEXO_STEP_PRECHECK); undo has nothing to do.
 */
#include <nexo/step.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "offer.h"
#include "util.h"

static const struct nexo_setting settings[] = {
    { "fragment", "nexo-steps.ini", 0,
      "the package's pipeline fragment, relative to the package root" },
    { NULL, NULL, 0, NULL },
};

/* A plain relative path (no leading '/', no '.' or '..' parts). */
static int plain(const char *rel)
{
    if (!rel || !*rel || rel[0] == '/')
        return 0;
    for (const char *p = rel; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        p += n;
        if (*p == '/')
            p++;
    }
    return 1;
}

/* STAGING/<component_dir>, or NULL (fail set). */
static char *package_root(const struct nexo_host *h, nexo_ctx *c)
{
    const char *staging = h->shared_get(c, NX_SHARED_STAGING);
    if (!staging || !*staging) {
        h->fail(c, NEXO_EINVAL, "no extracted package: put this step after verify and extract");
        return NULL;
    }
    const char *cd = h->info(c, "component_dir");
    return cd && *cd ? nx_path_join(staging, cd) : nx_xstrdup(staging);
}

static int ps_run(const struct nexo_host *h, nexo_ctx *c)
{
    char *root = package_root(h, c);
    if (!root)
        return NEXO_EINVAL;
    char *frag = nx_path_join(root, h->setting(c, "fragment"));
    struct stat st;
    int rc = 0;
    if (lstat(frag, &st) != 0 && errno == ENOENT) {
        h->log(c, NEXO_LOG_INFO, "the package brings no steps of its own (no %s)",
               h->setting(c, "fragment"));
    } else if (lstat(frag, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = h->fail(c, NEXO_EINVAL, "%s: not a regular file", frag);
    } else if (!NEXO_HOST_HAS(h, insert_steps)) {
        rc = h->fail(c, NEXO_ENOTSUP, "%s: this nexo-update cannot insert steps (host %s)",
                     frag, h->version);
    } else {
        h->log(c, NEXO_LOG_INFO, "the package brings steps of its own: %s", frag);
        rc = h->insert_steps(c, frag, root);
    }
    free(frag);
    free(root);
    return rc;
}

static int ps_undo(const struct nexo_host *h, nexo_ctx *c)
{
    (void)h;
    (void)c;
    return 0; /* the inserted steps undo themselves */
}

static int ps_validate(const struct nexo_host *h, nexo_ctx *c)
{
    const char *f = h->setting(c, "fragment");
    if (!plain(f))
        return h->fail(c, NEXO_EINVAL, "fragment = %s: a plain path inside the package",
                       f ? f : "");
    return 0;
}

static int ps_plan(const struct nexo_host *h, nexo_ctx *c)
{
    h->log(c, NEXO_LOG_INFO, "would insert the steps the package declares in %s, if any "
           "(known once the package is verified and unpacked)", h->setting(c, "fragment"));
    return 0;
}

NEXO_STEP_MODULE = {
    NEXO_STEP_HEADER,
    .name = "plugin_steps",
    .version = "1.0.0",
    .summary = "insert the upgrade steps a verified plugin package declares (nexo-steps.ini)",
    .flags = NEXO_STEP_PRECHECK,
    .settings = settings,
    .validate = ps_validate,
    .plan = ps_plan,
    .run = ps_run,
    .undo = ps_undo,
};
