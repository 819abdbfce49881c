/* SHA-256, Ed25519 keys and detached signatures, trusted keys (OpenSSL 3
 * EVP APIs only). See trust.h. */
#include "trust.h"
#include "manifest.h"
#include "secpath.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#define KEY_FILE_MAX (64 * 1024)   /* a PEM key is a few hundred bytes */
#define SIG_B64_LEN 88             /* base64 of 64 bytes, with "==" */
#define KEY_ID_LEN 16
#define SCOPE_FILE_MAX (64 * 1024)
#define KEYRING_WHAT "[server] trusted_keys"

struct nx_sha256 {
    EVP_MD_CTX *ctx;
};

struct nx_key {
    EVP_PKEY *pkey;
    int is_private;
    char id[KEY_ID_LEN + 1];
    char *path;
    char **scope;      /* keyring keys: the patterns of NAME.scope */
    size_t nscope;
    char *scope_text;  /* "index, core" (messages) */
};

struct nx_keyring {
    nx_key **keys;
    size_t n;
    char *where;   /* the folder or file it was loaded from (messages) */
};

/* ---- helpers ------------------------------------------------------------ */

/* The first OpenSSL error as text (and the queue cleared), for messages. */
static const char *ossl_err(char *buf, size_t len)
{
    unsigned long code = ERR_get_error();
    if (code == 0)
        snprintf(buf, len, "unknown OpenSSL error");
    else
        ERR_error_string_n(code, buf, len);
    ERR_clear_error();
    return buf;
}

static void to_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

/* Read a small file from an open descriptor (at most KEY_FILE_MAX). */
static int read_small_fd(int fd, const char *path, unsigned char **out, size_t *len, nx_err *e)
{
    unsigned char *buf = nx_xmalloc(KEY_FILE_MAX + 1);
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, KEY_FILE_MAX + 1 - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            nx_seterr(e, "%s: read failed: %s", path, strerror(errno));
            OPENSSL_cleanse(buf, n);
            free(buf);
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > KEY_FILE_MAX) {
            nx_seterr(e, "%s: larger than %d bytes: not a key file", path, KEY_FILE_MAX);
            OPENSSL_cleanse(buf, n);
            free(buf);
            return -1;
        }
    }
    *out = buf;
    *len = n;
    return 0;
}

/* A read-only view of a whole file (mmap; an empty file gives a pointer to
 * an empty string). The file must not be truncated while mapped. */
typedef struct file_map {
    const unsigned char *data;
    size_t len;
    void *addr;   /* NULL when nothing is mapped */
} file_map;

static int map_file(const char *path, file_map *m, nx_err *e)
{
    static const unsigned char empty[1] = {0};
    memset(m, 0, sizeof *m);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        nx_seterr(e, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        nx_seterr(e, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        nx_seterr(e, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    if ((uint64_t)st.st_size > (uint64_t)SIZE_MAX) {
        nx_seterr(e, "%s: too large to map", path);
        close(fd);
        return -1;
    }
    if (st.st_size == 0) {
        close(fd);
        m->data = empty;
        return 0;
    }
    size_t len = (size_t)st.st_size;
    void *addr = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    int saved = errno;
    close(fd);
    if (addr == MAP_FAILED) {
        nx_seterr(e, "%s: cannot map: %s", path, strerror(saved));
        return -1;
    }
    (void)madvise(addr, len, MADV_SEQUENTIAL);
    m->addr = addr;
    m->data = addr;
    m->len = len;
    return 0;
}

static void unmap_file(file_map *m)
{
    if (m->addr)
        munmap(m->addr, m->len);
    memset(m, 0, sizeof *m);
}

/* ---- SHA-256 ------------------------------------------------------------ */

nx_sha256 *nx_sha256_new(void)
{
    nx_sha256 *s = nx_xcalloc(1, sizeof *s);
    s->ctx = EVP_MD_CTX_new();
    if (!s->ctx || EVP_DigestInit_ex(s->ctx, EVP_sha256(), NULL) != 1) {
        fprintf(stderr, "nexo-update: cannot initialise SHA-256 (OpenSSL)\n");
        abort();
    }
    return s;
}

void nx_sha256_update(nx_sha256 *s, const void *data, size_t len)
{
    if (len == 0)
        return;
    if (EVP_DigestUpdate(s->ctx, data, len) != 1) {
        fprintf(stderr, "nexo-update: SHA-256 update failed (OpenSSL)\n");
        abort();
    }
}

void nx_sha256_final(nx_sha256 *s, char hex[NX_SHA256_HEX])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_DigestFinal_ex(s->ctx, md, &mdlen) != 1 || mdlen != 32) {
        fprintf(stderr, "nexo-update: SHA-256 final failed (OpenSSL)\n");
        abort();
    }
    to_hex(md, 32, hex);
    EVP_MD_CTX_free(s->ctx);
    free(s);
}

int nx_sha256_file(const char *path, char hex[NX_SHA256_HEX], uint64_t *size, nx_err *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        nx_seterr(e, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        nx_seterr(e, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    enum { BUFSZ = 256 * 1024 };
    unsigned char *buf = nx_xmalloc(BUFSZ);
    nx_sha256 *s = nx_sha256_new();
    uint64_t total = 0;
    for (;;) {
        ssize_t r = read(fd, buf, BUFSZ);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            nx_seterr(e, "%s: read failed: %s", path, strerror(errno));
            char junk[NX_SHA256_HEX];
            nx_sha256_final(s, junk);
            free(buf);
            close(fd);
            return -1;
        }
        if (r == 0)
            break;
        nx_sha256_update(s, buf, (size_t)r);
        total += (uint64_t)r;
    }
    free(buf);
    close(fd);
    nx_sha256_final(s, hex);
    if (size)
        *size = total;
    return 0;
}

/* ---- keys --------------------------------------------------------------- */

/* No passphrase prompt ever: an encrypted private key does not load. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return 0;
}

static int key_set_id(nx_key *k, nx_err *e)
{
    unsigned char raw[32];
    size_t rawlen = sizeof raw;
    char buf[256];
    if (EVP_PKEY_get_raw_public_key(k->pkey, raw, &rawlen) != 1 || rawlen != sizeof raw) {
        nx_seterr(e, "%s: cannot read the raw public key: %s", k->path, ossl_err(buf, sizeof buf));
        return -1;
    }
    nx_sha256 *s = nx_sha256_new();
    nx_sha256_update(s, raw, rawlen);
    char hex[NX_SHA256_HEX];
    nx_sha256_final(s, hex);
    memcpy(k->id, hex, KEY_ID_LEN);
    k->id[KEY_ID_LEN] = '\0';
    return 0;
}

static nx_key *key_load(const char *path, int want_private, nx_err *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        nx_seterr(e, "%s: cannot open key: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        nx_seterr(e, "%s: cannot stat key: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        nx_seterr(e, "%s: key is not a regular file", path);
        close(fd);
        return NULL;
    }
    if (want_private && (st.st_mode & 077) != 0) {
        nx_seterr(e, "%s: private key is %s by others (mode %04o): chmod 600 %s", path,
                  (st.st_mode & 044) ? "readable" : "writable", (unsigned)(st.st_mode & 07777),
                  path);
        close(fd);
        return NULL;
    }
    unsigned char *pem = NULL;
    size_t pemlen = 0;
    int rc = read_small_fd(fd, path, &pem, &pemlen, e);
    close(fd);
    if (rc != 0)
        return NULL;

    char buf[256];
    EVP_PKEY *pkey = NULL;
    BIO *bio = BIO_new_mem_buf(pem, (int)pemlen);
    if (bio) {
        if (want_private)
            pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
        else
            pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
        BIO_free(bio);
    }
    OPENSSL_cleanse(pem, pemlen);
    free(pem);
    if (!pkey) {
        nx_seterr(e, "%s: not a PEM %s key: %s", path,
                  want_private ? "(PKCS#8) Ed25519 private" : "(SubjectPublicKeyInfo) Ed25519 public",
                  ossl_err(buf, sizeof buf));
        return NULL;
    }
    if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519) {
        nx_seterr(e, "%s: not an Ed25519 key", path);
        EVP_PKEY_free(pkey);
        return NULL;
    }
    nx_key *k = nx_xcalloc(1, sizeof *k);
    k->pkey = pkey;
    k->is_private = want_private;
    k->path = nx_xstrdup(path);
    if (key_set_id(k, e) != 0) {
        nx_key_free(k);
        return NULL;
    }
    return k;
}

nx_key *nx_key_load_private(const char *path, nx_err *e)
{
    return key_load(path, 1, e);
}

nx_key *nx_key_load_public(const char *path, nx_err *e)
{
    return key_load(path, 0, e);
}

void nx_key_free(nx_key *k)
{
    if (!k)
        return;
    EVP_PKEY_free(k->pkey);
    free(k->path);
    nx_scope_free(k->scope, k->nscope);
    free(k->scope_text);
    free(k);
}

const char *nx_key_id(const nx_key *k)
{
    return k->id;
}

/* Write all of a buffer to fd. */
static int write_all(int fd, const void *data, size_t len, const char *path, nx_err *e)
{
    const unsigned char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            nx_seterr(e, "%s: write failed: %s", path, strerror(errno));
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* The PEM text of a key into a memory BIO; NULL on failure. */
static BIO *pem_of(EVP_PKEY *pkey, int private_part)
{
    BIO *bio = BIO_new(private_part ? BIO_s_secmem() : BIO_s_mem());
    if (!bio)
        return NULL;
    int ok = private_part ? PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL)
                          : PEM_write_bio_PUBKEY(bio, pkey);
    if (ok != 1) {
        BIO_free(bio);
        return NULL;
    }
    return bio;
}

static int write_private_pem(const char *path, EVP_PKEY *pkey, nx_err *e)
{
    char buf[256];
    BIO *bio = pem_of(pkey, 1);
    if (!bio) {
        nx_seterr(e, "%s: cannot encode the private key: %s", path, ossl_err(buf, sizeof buf));
        return -1;
    }
    char *data = NULL;
    long len = BIO_get_mem_data(bio, &data);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            nx_seterr(e, "%s: already exists: refusing to overwrite a key", path);
        else
            nx_seterr(e, "%s: cannot create: %s", path, strerror(errno));
        BIO_free(bio);
        return -1;
    }
    int rc = -1;
    if (fchmod(fd, 0600) != 0) {
        nx_seterr(e, "%s: chmod failed: %s", path, strerror(errno));
    } else if (len <= 0) {
        nx_seterr(e, "%s: empty PEM encoding", path);
    } else if (write_all(fd, data, (size_t)len, path, e) == 0) {
        if (fsync(fd) != 0)
            nx_seterr(e, "%s: fsync failed: %s", path, strerror(errno));
        else
            rc = 0;
    }
    if (close(fd) != 0 && rc == 0) {
        nx_seterr(e, "%s: close failed: %s", path, strerror(errno));
        rc = -1;
    }
    if (rc != 0)
        unlink(path);
    BIO_free(bio);
    return rc;
}

int nx_keygen(const char *prefix, nx_err *e)
{
    char buf[256];
    char *keypath = nx_xasprintf("%s.key", prefix);
    char *pubpath = nx_xasprintf("%s.pub", prefix);
    EVP_PKEY *pkey = NULL;
    BIO *pub = NULL;
    int rc = -1;
    struct stat st;

    if (lstat(keypath, &st) == 0) {
        nx_seterr(e, "%s: already exists: refusing to overwrite a key", keypath);
        goto out;
    }
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    if (!ctx || EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_keygen(ctx, &pkey) != 1) {
        nx_seterr(e, "%s: Ed25519 key generation failed: %s", keypath, ossl_err(buf, sizeof buf));
        EVP_PKEY_CTX_free(ctx);
        goto out;
    }
    EVP_PKEY_CTX_free(ctx);
    pub = pem_of(pkey, 0);
    if (!pub) {
        nx_seterr(e, "%s: cannot encode the public key: %s", pubpath, ossl_err(buf, sizeof buf));
        goto out;
    }
    if (write_private_pem(keypath, pkey, e) != 0)
        goto out;
    char *data = NULL;
    long len = BIO_get_mem_data(pub, &data);
    if (len <= 0 || nx_write_file_atomic(pubpath, data, (size_t)len, 0644, e) != 0) {
        if (len <= 0)
            nx_seterr(e, "%s: empty PEM encoding", pubpath);
        unlink(keypath);
        goto out;
    }
    char *dir = nx_dirname(keypath);
    rc = nx_fsync_dir(dir, e);
    free(dir);
out:
    BIO_free(pub);
    EVP_PKEY_free(pkey);
    free(keypath);
    free(pubpath);
    return rc;
}

/* ---- signing ------------------------------------------------------------ */

static char *b64_encode(const unsigned char *in, size_t n)
{
    char *out = nx_xmalloc(4 * ((n + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    return out;
}

char *nx_sign_buffer(const nx_key *k, const void *data, size_t len, nx_err *e)
{
    char buf[256];
    if (!k->is_private) {
        nx_seterr(e, "%s: not a private key: cannot sign", k->path);
        return NULL;
    }
    static const unsigned char empty[1] = {0};
    if (len == 0)
        data = empty;
    unsigned char sig[NX_SIG_LEN];
    size_t siglen = sizeof sig;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pkey) != 1 ||
        EVP_DigestSign(ctx, sig, &siglen, data, len) != 1 || siglen != NX_SIG_LEN) {
        nx_seterr(e, "signing with %s failed: %s", k->path, ossl_err(buf, sizeof buf));
        EVP_MD_CTX_free(ctx);
        return NULL;
    }
    EVP_MD_CTX_free(ctx);
    return b64_encode(sig, siglen);
}

char *nx_sign_file(const nx_key *k, const char *path, nx_err *e)
{
    file_map m;
    if (map_file(path, &m, e) != 0)
        return NULL;
    char *sig = nx_sign_buffer(k, m.data, m.len, e);
    unmap_file(&m);
    if (!sig)
        nx_preferr(e, "%s", path);
    return sig;
}

int nx_sign_file_to_sig(const nx_key *k, const char *path, nx_err *e)
{
    char *sig = nx_sign_file(k, path, e);
    if (!sig)
        return -1;
    char *text = nx_xasprintf("%s\n", sig);
    char *sigpath = nx_xasprintf("%s.sig", path);
    int rc = nx_write_file_atomic(sigpath, text, strlen(text), 0644, e);
    free(sigpath);
    free(text);
    free(sig);
    return rc;
}

/* ---- scopes --------------------------------------------------------------- */


int nx_scope_pattern_ok(const char *p)
{
    if (!p)
        return 0;
    if (strcmp(p, "index") == 0 || strcmp(p, "core") == 0 || strcmp(p, "plugin:*") == 0)
        return 1;
    return strncmp(p, "plugin:", 7) == 0 && nx_slug_ok(p + 7);
}

int nx_scope_what_ok(const char *what)
{
    return what && strcmp(what, "plugin:*") != 0 && nx_scope_pattern_ok(what);
}

int nx_scope_covers(const char *pattern, const char *what)
{
    if (!nx_scope_pattern_ok(pattern) || !nx_scope_what_ok(what))
        return 0;
    if (strcmp(pattern, "plugin:*") == 0)
        return strncmp(what, "plugin:", 7) == 0;
    return strcmp(pattern, what) == 0;
}

void nx_scope_free(char **pats, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(pats[i]);
    free(pats);
}

int nx_scope_parse(const char *text, size_t len, const char *file, char ***pats, size_t *n,
                   nx_err *e)
{
    char **out = NULL;
    size_t count = 0, line = 0;
    const char *p = text, *end = text + len;
    *pats = NULL;
    *n = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        line++;
        const char *hash = memchr(p, '#', (size_t)(eol - p));
        const char *a = p, *b = hash ? hash : eol;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r'))
            b--;
        if (memchr(p, '\0', (size_t)(eol - p))) {
            nx_seterr(e, "%s:%zu: a NUL byte: not a scope file", file, line);
            nx_scope_free(out, count);
            return -1;
        }
        if (a < b) {
            char *pat = nx_xstrndup(a, (size_t)(b - a));
            if (!nx_scope_pattern_ok(pat)) {
                nx_seterr(e, "%s:%zu: '%.100s' is not a scope (index, core, plugin:SLUG or "
                             "plugin:*)", file, line, pat);
                free(pat);
                nx_scope_free(out, count);
                return -1;
            }
            out = nx_xrealloc(out, (count + 1) * sizeof *out);
            out[count++] = pat;
        }
        p = nl ? nl + 1 : end;
    }
    if (count == 0) {
        nx_seterr(e, "%s: no scope in it: the key could sign nothing (write index, core, "
                     "plugin:SLUG or plugin:*, one a line)", file);
        return -1;
    }
    *pats = out;
    *n = count;
    return 0;
}

int nx_scope_write(const char *prefix, const char *const *pats, size_t n, nx_err *e)
{
    char *path = nx_xasprintf("%s.scope", prefix);
    int rc = -1;
    if (n == 0) {
        nx_seterr(e, "%s: no scope given", path);
        goto out;
    }
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if (!nx_scope_pattern_ok(pats[i])) {
            nx_seterr(e, "%s: '%s' is not a scope (index, core, plugin:SLUG or plugin:*)", path,
                      pats[i]);
            goto out;
        }
        len += strlen(pats[i]) + 1;
    }
    char *text = nx_xmalloc(len + 1), *w = text;
    for (size_t i = 0; i < n; i++) {
        size_t m = strlen(pats[i]);
        memcpy(w, pats[i], m);
        w[m] = '\n';
        w += m + 1;
    }
    *w = '\0';
    rc = nx_write_file_atomic(path, text, len, 0644, e);
    free(text);
out:
    free(path);
    return rc;
}

/* ---- trusted keys --------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void ring_add(nx_keyring *r, nx_key *k)
{
    r->keys = nx_xrealloc(r->keys, (r->n + 1) * sizeof *r->keys);
    r->keys[r->n++] = k;
}

/* Names of the regular *.pub files of a folder, sorted (dot files are
 * ignored). */
static int list_pub_files(const char *dir, char ***out, size_t *count, nx_err *e)
{
    DIR *d = opendir(dir);
    if (!d) {
        nx_seterr(e, "no trusted keys in %s (%s): signatures are always required", dir,
                  strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno != 0) {
                nx_seterr(e, "%s: cannot read folder: %s", dir, strerror(errno));
                nx_scope_free(names, n);
                closedir(d);
                return -1;
            }
            break;
        }
        if (de->d_name[0] == '.' || !ends_with(de->d_name, ".pub"))
            continue;
        char *full = nx_path_join(dir, de->d_name);
        struct stat st;
        int regular = stat(full, &st) == 0 && S_ISREG(st.st_mode);
        free(full);
        if (!regular)
            continue;
        names = nx_xrealloc(names, (n + 1) * sizeof *names);
        names[n++] = nx_xstrdup(de->d_name);
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof *names, cmp_str);
    *out = names;
    *count = n;
    return 0;
}

/* NAME.scope beside NAME.pub into k. */
static int key_load_scope(nx_key *k, nx_err *e)
{
    size_t n = strlen(k->path);
    char *path = nx_xasprintf("%.*s.scope", (int)(n - 4), k->path);
    struct stat st;
    char *text = NULL;
    size_t len = 0;
    int rc = -1;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            nx_seterr(e, "%s: refused: no %s beside it (what may this key sign? write one "
                         "scope a line: index, core, plugin:SLUG, plugin:*)", k->path, path);
        else
            nx_seterr(e, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        nx_seterr(e, "%s: refused: a scope file must be a regular file", path);
        goto out;
    }
    if (nx_read_file(path, &text, &len, SCOPE_FILE_MAX, e) != 0)
        goto out;
    if (nx_scope_parse(text, len, path, &k->scope, &k->nscope, e) != 0)
        goto out;
    size_t tl = 0;
    for (size_t i = 0; i < k->nscope; i++)
        tl += strlen(k->scope[i]) + 2;
    k->scope_text = nx_xmalloc(tl + 1);
    k->scope_text[0] = '\0';
    for (size_t i = 0; i < k->nscope; i++) {
        if (i)
            strcat(k->scope_text, ", ");
        strcat(k->scope_text, k->scope[i]);
    }
    rc = 0;
out:
    free(text);
    free(path);
    return rc;
}

static nx_key *ring_key_load(const char *path, nx_err *e)
{
    nx_key *k = nx_key_load_public(path, e);
    if (k && key_load_scope(k, e) != 0) {
        nx_key_free(k);
        k = NULL;
    }
    return k;
}

/* One .pub file as the whole keyring: it and its .scope must be safe. */
static int secure_key_file(const char *path, nx_err *e)
{
    if (!ends_with(path, ".pub") || strlen(path) <= 4) {
        nx_seterr(e, "%s %s: a trusted key file must be named NAME.pub (with NAME.scope "
                     "beside it)", KEYRING_WHAT, path);
        return -1;
    }
    if (nx_check_secure_path(path, e) != 0) {
        nx_preferr(e, "%s", KEYRING_WHAT);
        return -1;
    }
    char *scope = nx_xasprintf("%.*s.scope", (int)(strlen(path) - 4), path);
    struct stat st;
    int rc = 0;
    if (lstat(scope, &st) == 0 && nx_check_secure_path(scope, e) != 0) {
        nx_preferr(e, "%s", KEYRING_WHAT);
        rc = -1;
    }
    free(scope);
    return rc;
}

static int ring_load_dir(nx_keyring *r, const char *path, nx_err *e)
{
    if (nx_check_secure_dir(path, KEYRING_WHAT, 1, e) != 0)
        return -1;
    char **names = NULL;
    size_t n = 0;
    if (list_pub_files(path, &names, &n, e) != 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char *full = nx_path_join(path, names[i]);
        nx_key *k = ring_key_load(full, e);
        free(full);
        if (k)
            ring_add(r, k);
        else
            rc = -1;
    }
    nx_scope_free(names, n);
    return rc;
}

nx_keyring *nx_keyring_load(const char *path, nx_err *e)
{
    if (!path || !*path) {
        nx_seterr(e, "no trusted keys configured: signatures are always required");
        return NULL;
    }
    struct stat st;
    if (stat(path, &st) != 0) {
        nx_seterr(e, "no trusted keys in %s (%s): signatures are always required", path,
                  strerror(errno));
        return NULL;
    }
    nx_keyring *r = nx_xcalloc(1, sizeof *r);
    r->where = nx_xstrdup(path);
    int rc = -1;
    if (S_ISDIR(st.st_mode)) {
        rc = ring_load_dir(r, path, e);
    } else if (S_ISREG(st.st_mode)) {
        nx_key *k = secure_key_file(path, e) == 0 ? ring_key_load(path, e) : NULL;
        if (k) {
            ring_add(r, k);
            rc = 0;
        }
    } else {
        nx_seterr(e, "%s: trusted keys must be a folder or a .pub file", path);
    }
    if (rc == 0 && r->n == 0) {
        nx_seterr(e, "no trusted keys in %s: signatures are always required", path);
        rc = -1;
    }
    if (rc != 0) {
        nx_keyring_free(r);
        return NULL;
    }
    return r;
}

void nx_keyring_free(nx_keyring *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        nx_key_free(r->keys[i]);
    free(r->keys);
    free(r->where);
    free(r);
}

size_t nx_keyring_size(const nx_keyring *r)
{
    return r ? r->n : 0;
}

int nx_keyring_may_sign(const nx_keyring *r, size_t i, const char *what)
{
    if (!r || i >= r->n)
        return 0;
    const nx_key *k = r->keys[i];
    for (size_t j = 0; j < k->nscope; j++)
        if (nx_scope_covers(k->scope[j], what))
            return 1;
    return 0;
}
static int b64_char(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/';
}

/* Strict base64 of a 64-byte signature; trailing whitespace is allowed. */
static int decode_sig(const char *b64, unsigned char sig[NX_SIG_LEN], nx_err *e)
{
    if (!b64) {
        nx_seterr(e, "signature is missing: signatures are always required");
        return -1;
    }
    size_t n = strlen(b64);
    while (n > 0 && (b64[n - 1] == '\n' || b64[n - 1] == '\r' || b64[n - 1] == ' ' ||
                     b64[n - 1] == '\t'))
        n--;
    if (n == 0) {
        nx_seterr(e, "signature is empty: signatures are always required");
        return -1;
    }
    size_t pad = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)b64[i];
        if (c == '=' && i + 2 >= n) {
            pad++;
            continue;
        }
        if (!b64_char(c) || pad > 0) {
            if (c >= 0x20 && c < 0x7f)
                nx_seterr(e, "signature is not base64 (character '%c' at offset %zu)", c, i);
            else
                nx_seterr(e, "signature is not base64 (byte 0x%02x at offset %zu)", c, i);
            return -1;
        }
    }
    if (n != SIG_B64_LEN || pad != 2) {
        nx_seterr(e, "signature is not 64 bytes of base64 (%zu characters)", n);
        return -1;
    }
    unsigned char out[SIG_B64_LEN];
    int got = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)n);
    if (got < 0 || (size_t)got - pad != NX_SIG_LEN) {
        nx_seterr(e, "signature is not 64 bytes of base64");
        return -1;
    }
    /* Canonical encoding only (no stray bits in the last character). */
    char *again = b64_encode(out, NX_SIG_LEN);
    int same = memcmp(again, b64, n) == 0;
    free(again);
    if (!same) {
        nx_seterr(e, "signature is not canonical base64");
        return -1;
    }
    memcpy(sig, out, NX_SIG_LEN);
    return 0;
}

static int verify_one(EVP_PKEY *pkey, const unsigned char sig[NX_SIG_LEN], const void *data,
                      size_t len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) == 1 &&
             EVP_DigestVerify(ctx, sig, NX_SIG_LEN, data, len) == 1;
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}

/* Why no key counted, into e: the keys that made the signature but may
 * not sign `what`, else every key tried with its scope. */
static void explain_refusal(const nx_keyring *r, const char *what, const unsigned char *made,
                            nx_err *e)
{
    char buf[NX_ERRLEN];
    size_t off = 0;
    int any = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < r->n; i++) {
        if (!made[i])
            continue;
        const nx_key *k = r->keys[i];
        int w = snprintf(buf + off, sizeof buf - off, "%ssigned by key %s (%s, scope %s) which "
                         "may not sign %s", any ? "; " : "", k->id, nx_basename(k->path),
                         k->scope_text ? k->scope_text : "none", what);
        any = 1;
        if (w < 0 || (size_t)w >= sizeof buf - off)
            break;
        off += (size_t)w;
    }
    if (any) {
        nx_seterr(e, "%s", buf);
        return;
    }
    for (size_t i = 0; i < r->n; i++) {
        const nx_key *k = r->keys[i];
        int w = snprintf(buf + off, sizeof buf - off, "%s%s: key %s, scope %s", i ? "; " : "",
                         nx_basename(k->path), k->id, k->scope_text ? k->scope_text : "none");
        if (w < 0 || (size_t)w >= sizeof buf - off)
            break;
        off += (size_t)w;
    }
    nx_seterr(e, "signature does not verify with any of the %zu trusted keys in %s (tried %s)",
              r->n, r->where, buf);
}

int nx_verify_buffer(const nx_keyring *r, const char *what, const void *data, size_t len,
                     const char *sig_b64, const char **key_id, nx_err *e)
{
    if (!r || r->n == 0) {
        nx_seterr(e, "no trusted keys: signatures are always required");
        return -1;
    }
    if (!nx_scope_what_ok(what)) {
        nx_seterr(e, "cannot verify a signature for '%s': not index, core or plugin:SLUG",
                  what ? what : "(nothing named)");
        return -1;
    }
    unsigned char sig[NX_SIG_LEN];
    if (decode_sig(sig_b64, sig, e) != 0)
        return -1;
    static const unsigned char empty[1] = {0};
    if (len == 0)
        data = empty;
    unsigned char *made = nx_xcalloc(r->n, 1);
    int rc = -1;
    for (size_t i = 0; i < r->n && rc != 0; i++) {
        if (!verify_one(r->keys[i]->pkey, sig, data, len))
            continue;
        made[i] = 1;
        if (nx_keyring_may_sign(r, i, what)) {
            if (key_id)
                *key_id = r->keys[i]->id;
            rc = 0;
        }
    }
    if (rc != 0)
        explain_refusal(r, what, made, e);
    free(made);
    return rc;
}

int nx_verify_file(const nx_keyring *r, const char *what, const char *path, const char *sig_b64,
                   const char **key_id, nx_err *e)
{
    file_map m;
    if (map_file(path, &m, e) != 0)
        return -1;
    int rc = nx_verify_buffer(r, what, m.data, m.len, sig_b64, key_id, e);
    unmap_file(&m);
    if (rc != 0)
        nx_preferr(e, "%s", path);
    return rc;
}
