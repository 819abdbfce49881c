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
 *   trusted_keys: a folder of *.pub files, one key each (or one .pub file)
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

/* The trusted keys of a site: every *.pub in a folder (or one file). An
 * empty or missing set is an error: signatures are always required. */
typedef struct nx_keyring nx_keyring;
nx_keyring *nx_keyring_load(const char *path, nx_err *e);
void nx_keyring_free(nx_keyring *r);
size_t nx_keyring_size(const nx_keyring *r);
/* 0 when `sig_b64` is a valid signature of the data by one of the keys
 * (its id in *key_id if not NULL); -1 with e naming what failed: not
 * base64, wrong length, no trusted key made it. */
int nx_verify_buffer(const nx_keyring *r, const void *data, size_t len, const char *sig_b64,
                     const char **key_id, nx_err *e);
int nx_verify_file(const nx_keyring *r, const char *path, const char *sig_b64,
                   const char **key_id, nx_err *e);

#endif
