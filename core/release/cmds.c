/* nexo-release keygen | sign | index */
#include "release.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const nx_err *e)
{
    fprintf(stderr, "nexo-release: %s\n", e->msg);
    return REL_EXIT_FAILED;
}

int rel_cmd_keygen(const struct rel_ctx *c, const struct rel_args *a)
{
    const char *prefix = a->pos[0];
    nx_err e;
    if (nx_keygen(prefix, &e) != 0)
        return fail(&e);
    char *priv = nx_xasprintf("%s.key", prefix);
    char *pub = nx_xasprintf("%s.pub", prefix);
    char *scope = a->nscope ? nx_xasprintf("%s.scope", prefix) : NULL;
    nx_key *k = NULL;
    int rc = REL_EXIT_FAILED;
    if (a->nscope && nx_scope_write(prefix, a->scope, (size_t)a->nscope, &e) != 0) {
        fail(&e);
        goto out;
    }
    k = nx_key_load_public(pub, &e);
    if (!k) {
        fail(&e);
        goto out;
    }
    if (c->json) {
        json_t *pats = json_array();
        for (int i = 0; i < a->nscope; i++)
            json_array_append_new(pats, json_string(a->scope[i]));
        rel_print_json(json_pack("{s:s, s:s, s:s, s:s?, s:o}", "private_key", priv,
                                 "public_key", pub, "key_id", nx_key_id(k), "scope_file", scope,
                                 "scope", pats));
    } else if (!c->quiet) {
        printf("key %s\nprivate key: %s (keep it secret)\npublic key:  %s\n", nx_key_id(k), priv,
               pub);
        if (scope) {
            printf("scope:       %s (may sign:", scope);
            for (int i = 0; i < a->nscope; i++)
                printf("%s %s", i ? "," : "", a->scope[i]);
            printf(")\n");
        } else {
            printf("no scope file: a site that trusts %s needs %s.scope beside it (index, "
                   "core, plugin:SLUG or plugin:*, one a line)\n", pub, prefix);
        }
    }
    rc = REL_EXIT_OK;
out:
    nx_key_free(k);
    free(priv);
    free(pub);
    free(scope);
    return rc;
}

int rel_cmd_sign(const struct rel_ctx *c, const struct rel_args *a)
{
    const char *file = a->pos[0];
    nx_err e;
    nx_key *k = nx_key_load_private(a->opt[OPT_KEY], &e);
    if (!k)
        return fail(&e);
    char *sig = nx_xasprintf("%s.sig", file);
    char *text = NULL;
    int rc = REL_EXIT_FAILED;
    if (nx_sign_file_to_sig(k, file, &e) != 0 || nx_read_file(sig, &text, NULL, 4096, &e) != 0) {
        fail(&e);
        goto out;
    }
    text[strcspn(text, "\n")] = '\0';
    if (c->json)
        rel_print_json(json_pack("{s:s, s:s, s:s, s:s}", "file", file, "sig_file", sig,
                                 "signature", text, "key_id", nx_key_id(k)));
    else if (!c->quiet)
        printf("signed %s with key %s: %s\n", file, nx_key_id(k), sig);
    rc = REL_EXIT_OK;
out:
    free(text);
    free(sig);
    nx_key_free(k);
    return rc;
}

int rel_cmd_index(const struct rel_ctx *c, const struct rel_args *a)
{
    const char *repo = a->opt[OPT_REPO];
    int days = rel_expires_arg(a);
    if (days < 0)
        return REL_EXIT_USAGE;
    nx_err e;
    nx_key *k = nx_key_load_private(a->opt[OPT_KEY], &e);
    if (!k)
        return fail(&e);
    int rc = REL_EXIT_FAILED;
    json_t *doc = NULL;
    json_t *rels = rel_index_load(repo, &e);
    if (!rels || rel_index_check(repo, rels, NULL, &e) != 0 ||
        rel_index_write(repo, k, rels, days, &doc, &e) != 0) {
        fail(&e);
        goto out;
    }
    char *path = nx_path_join(repo, REL_INDEX_NAME);
    if (c->json) {
        rel_print_json(json_pack("{s:s, s:s+, s:O, s:O, s:I, s:s}", "index", path, "sig_file",
                                 path, ".sig", "generated_at", json_object_get(doc, "generated_at"),
                                 "expires", json_object_get(doc, "expires"), "releases",
                                 (json_int_t)json_array_size(rels), "key_id", nx_key_id(k)));
    } else if (!c->quiet) {
        printf("signed %s (%zu releases, expires %s) with key %s\n", path, json_array_size(rels),
               json_string_value(json_object_get(doc, "expires")), nx_key_id(k));
    }
    free(path);
    rc = REL_EXIT_OK;
out:
    json_decref(doc);
    json_decref(rels);
    nx_key_free(k);
    return rc;
}
