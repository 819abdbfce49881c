/* libFuzzer target for signatures (core/trust.c): "SIGNATURE\nDATA". The
 * base64 of the first line is checked against the trusted key (any input
 * fails cleanly unless it is the real signature), and DATA signed with the
 * private key must verify, so encoding and decoding meet. The whole input
 * is also read as a key's NAME.scope. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trust.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static nx_key *priv;
static nx_keyring *ring;

static void setup(void)
{
    char dir[64], prefix[96];
    snprintf(dir, sizeof dir, "/tmp/nexo-fuzz-sig-%ld", (long)getpid());
    snprintf(prefix, sizeof prefix, "%s/k", dir);
    nx_err e;
    char *pub = nx_xasprintf("%s.pub", prefix);
    char *key = nx_xasprintf("%s.key", prefix);
    unlink(pub);
    unlink(key);
    static const char *const scope[] = { "index", "core" };
    if (nx_mkdirs(dir, 0700, &e) != 0 || nx_keygen(prefix, &e) != 0 ||
        nx_scope_write(prefix, scope, 2, &e) != 0 ||
        !(priv = nx_key_load_private(key, &e)) || !(ring = nx_keyring_load(pub, &e))) {
        fprintf(stderr, "fuzz_sig: %s\n", e.msg);
        abort();
    }
    free(pub);
    free(key);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ring)
        setup();
    char *buf = nx_xmalloc(size + 1);
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *nl = memchr(buf, '\n', size);
    const char *payload = "";
    size_t plen = 0;
    if (nl) {
        *nl = '\0';
        payload = nl + 1;
        plen = size - (size_t)(payload - buf);
    }
    nx_err e = { { 0 } };
    const char *kid = NULL;
    if (nx_verify_buffer(ring, "core", payload, plen, buf, &kid, &e) != 0 && !e.msg[0])
        abort();
    char *sig = nx_sign_buffer(priv, payload, plen, &e);
    if (!sig || nx_verify_buffer(ring, "core", payload, plen, sig, &kid, &e) != 0 || !kid)
        abort();
    /* the canonical form with its '\n', as FILE.sig holds it */
    char *line = nx_xasprintf("%s\n", sig);
    if (nx_verify_buffer(ring, "index", payload, plen, line, NULL, &e) != 0)
        abort();
    /* a scope that does not cover it */
    if (nx_verify_buffer(ring, "plugin:forum", payload, plen, sig, NULL, &e) == 0)
        abort();
    char **pats = NULL;
    size_t npats = 0;
    if (nx_scope_parse((const char *)data, size, "fuzz.scope", &pats, &npats, &e) == 0) {
        if (npats == 0)
            abort();
        for (size_t i = 0; i < npats; i++)
            if (!nx_scope_pattern_ok(pats[i]))
                abort();
        nx_scope_free(pats, npats);
    } else if (strncmp(e.msg, "fuzz.scope", 10) != 0) {
        abort();
    }
    free(line);
    free(sig);
    free(buf);
    return 0;
}
