/* libFuzzer target for the update source's answers (core/check.c): the
 * first byte chooses a static index (even) or an API answer (odd), the
 * rest is the document. Any input gives releases that keep the rules of
 * update_check.h or one error naming the source. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "records.h"
#include "semver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SOURCE "https://updates.example/nexo/index.json"

static void comp(nx_component *k, const char *name, const char *slug, const char *installed)
{
    k->name = nx_xstrdup(name);
    k->slug = slug ? nx_xstrdup(slug) : NULL;
    k->installed = installed ? nx_xstrdup(installed) : NULL;
}

static void check_release(const nx_component *k, const nx_release *r)
{
    nx_semver v;
    nx_err e;
    if (!r->version || nx_semver_parse(r->version, &v, &e) != 0)
        abort();
    nx_semver_free(&v);
    if (!r->url || !r->sha256 || strlen(r->sha256) != 64 || !r->signature || !r->size ||
        !json_is_object(r->requires) || !json_is_array(r->unmet))
        abort();
    if (nx_component_release(k, r->version) == NULL)
        abort();
    (void)nx_release_newer(k, r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    nx_check *chk = nx_xcalloc(1, sizeof *chk);
    chk->source = nx_xstrdup(SOURCE);
    chk->mode = data[0] & 1 ? "api" : "index";
    chk->notes = json_array();
    chk->ncomp = 3;
    chk->comp = nx_xcalloc(chk->ncomp, sizeof *chk->comp);
    comp(&chk->comp[0], "core", NULL, "1.0.0");
    comp(&chk->comp[1], "plugin:forum", "forum", "2.0.0");
    comp(&chk->comp[2], "plugin:blog", "blog", "0.9.0-beta.1");
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    nx_err e = { { 0 } };
    int rc = 0;
    if (data[0] & 1) {
        for (size_t i = 0; rc == 0 && i < chk->ncomp; i++)
            rc = nx_check_api_doc(&chk->comp[i], text, len, SOURCE, &e);
    } else {
        rc = nx_check_index_doc(chk, text, len, data[0] & 2 ? "plugin:forum" : NULL, &e);
    }
    if (rc != 0 && (strncmp(e.msg, SOURCE, strlen(SOURCE)) != 0 || strchr(e.msg, '\n'))) {
        fprintf(stderr, "fuzz_index: not one line naming the source: %s\n", e.msg);
        abort();
    }
    for (size_t i = 0; i < chk->ncomp; i++) {
        nx_component *k = &chk->comp[i];
        for (size_t r = 0; r < k->nrel; r++)
            check_release(k, &k->rel[r]);
        k->offer = k->nrel ? &k->rel[0] : NULL;
    }
    char **slugs = NULL;
    size_t n = 0;
    if (nx_check_plugin_order(chk, &slugs, &n, &e) == 0) {
        for (size_t i = 0; i < n; i++)
            free(slugs[i]);
        free(slugs);
    }
    nx_check_free(chk);
    return 0;
}
