/*
 * The trust chain's primitives (OpenSSL 3): SHA-256, Ed25519 keys and
 * detached signatures, and the trusted-keys folder. Used by nexo-release
 * (keygen, sign), by the update check (index.json.sig) and by the verify
 * step (package signatures). Linked statically (PIC) into the programs and
 * the modules that need it.
 *
 * Formats (contracts §6):
 *   PREFIX.key  Ed25519 private key, PEM (PKCS#8), mode 0600
 *   PREFIX.pub  Ed25519 public key, PEM (SubjectPublicKeyInfo)
 *   FILE.sig    base64 (standard alphabet, one line, '\n' at the end) of
 *               the 64-byte Ed25519 signature of FILE's bytes
 *   PREFIX.scope what the key may sign (contracts §6): one pattern a line,
 *               `index`, `core`, `plugin:SLUG`, `plugin:*`; blank lines and
 *               `#` comments allowed
 *   trusted_keys: a folder of NAME.pub files, one key each, each with its
 *               NAME.scope beside it (or one NAME.pub file, NAME.scope
 *               beside it)
 *
 * What a signature is for ("what" below): "index" (index.json), "core" or
 * "plugin:SLUG" (a package of that component). A signature counts only
 * from a key whose scope covers it.
 */
#ifndef NX_TRUST_H
#define NX_TRUST_H

#include <stddef.h>
#include <stdint.h>
#include "util.h"

#define NX_SHA256_HEX 65   /* 64 hex digits and NUL */
#define NX_SIG_LEN 64

/* Incremental SHA-256 (for hashing while downloading or extracting). */
typedef struct nx_sha256 nx_sha256;
nx_sha256 *nx_sha256_new(void);
void nx_sha256_update(nx_sha256 *s, const void *data, size_t len);
/* Final digest as lower-case hex; frees s. */
void nx_sha256_final(nx_sha256 *s, char hex[NX_SHA256_HEX]);
int nx_sha256_file(const char *path, char hex[NX_SHA256_HEX], uint64_t *size, nx_err *e);

/* keygen: writes PREFIX.key (0600, refused if it exists) and PREFIX.pub. */
int nx_keygen(const char *prefix, nx_err *e);

typedef struct nx_key nx_key;   /* a private or public Ed25519 key */
nx_key *nx_key_load_private(const char *path, nx_err *e);  /* refuses group/world-readable */
nx_key *nx_key_load_public(const char *path, nx_err *e);
void nx_key_free(nx_key *k);
/* Key id: the first 16 hex digits of SHA-256 of the raw public key. */
const char *nx_key_id(const nx_key *k);

/* Sign a buffer / a file's bytes; base64 text (malloc'ed, no newline). */
char *nx_sign_buffer(const nx_key *k, const void *data, size_t len, nx_err *e);
char *nx_sign_file(const nx_key *k, const char *path, nx_err *e);
/* Write FILE.sig for FILE. */
int nx_sign_file_to_sig(const nx_key *k, const char *path, nx_err *e);

/* Scope patterns. nx_scope_pattern_ok: 1 for index, core, plugin:SLUG
 * (SLUG as in manifests: [a-z0-9][a-z0-9_-]*, at most 64) or plugin:*.
 * nx_scope_what_ok: 1 for what a signature can be for (a pattern but
 * plugin:*). nx_scope_covers: 1 when the pattern covers `what`. */
int nx_scope_pattern_ok(const char *pattern);
int nx_scope_what_ok(const char *what);
int nx_scope_covers(const char *pattern, const char *what);
/* A NAME.scope text into *pats (malloc'ed array of *n malloc'ed patterns);
 * -1 with e naming "file:line" for a line that is not a pattern, or file
 * when there is no pattern at all. */
int nx_scope_parse(const char *text, size_t len, const char *file, char ***pats, size_t *n,
                   nx_err *e);
void nx_scope_free(char **pats, size_t n);
/* Write PREFIX.scope (0644, atomically) with the patterns, one a line;
 * every pattern must be valid (nothing written otherwise). */
int nx_scope_write(const char *prefix, const char *const *pats, size_t n, nx_err *e);

/* The trusted keys of a site: every NAME.pub in a folder (or one such
 * file) with its NAME.scope. The folder (or the file and its .scope)
 * must be safe as secpath.h says ("[server] trusted_keys PATH: refused:
 * ..."); a .pub without a .scope, a bad .scope or a bad key refuses the
 * whole keyring, naming the file. An empty or missing set is an error:
 * signatures are always required. */
typedef struct nx_keyring nx_keyring;
nx_keyring *nx_keyring_load(const char *path, nx_err *e);
void nx_keyring_free(nx_keyring *r);
size_t nx_keyring_size(const nx_keyring *r);
/* 1 when the i-th key (sorted by file name) may sign `what`. */
int nx_keyring_may_sign(const nx_keyring *r, size_t i, const char *what);
/* 0 when `sig_b64` is a valid signature of the data by one of the keys
 * whose scope covers `what` (its id in *key_id if not NULL); -1 with e
 * naming what failed: not base64, wrong length, made by a key that may
 * not sign `what` ("signed by key ID (NAME.pub, scope plugin:forum) which
 * may not sign core"), or by no trusted key (each key tried, with its
 * scope). */
int nx_verify_buffer(const nx_keyring *r, const char *what, const void *data, size_t len,
                     const char *sig_b64, const char **key_id, nx_err *e);
int nx_verify_file(const nx_keyring *r, const char *what, const char *path, const char *sig_b64,
                   const char **key_id, nx_err *e);

#endif
