/* Unit tests for core/trust.c (Check). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "trust.h"
#include "util.h"

/* RFC 8032 §7.1, test 1: the key pair and the signature of the empty
 * message, as PEM and base64. */
#define RFC_PUB_PEM                                                                        \
    "-----BEGIN PUBLIC KEY-----\n"                                                         \
    "MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n"                       \
    "-----END PUBLIC KEY-----\n"
#define RFC_KEY_PEM                                                                        \
    "-----BEGIN PRIVATE KEY-----\n"                                                        \
    "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"                   \
    "-----END PRIVATE KEY-----\n"
#define RFC_SIG                                                                            \
    "5VZDAMNgrHKQhuLMgG6CioSHfx645dl02HPgZSJJAVVfuIIVkKM7rMYeOXAc+bRr0lv18FlbviRlUUFDjnoQCw=="
#define RFC_KEY_ID "21fe31dfa154a261"

/* ---- helpers ------------------------------------------------------------ */

static char *in_dir(const char *rel)
{
    return nx_path_join(tu_dir, rel);
}

static const char *const ALL_SCOPES[] = { "index", "core", "plugin:*" };

/* keygen PREFIX in tu_dir, PREFIX.scope with `scopes` (NULL: index, core,
 * plugin:*); the malloc'ed prefix. */
static char *make_key_scoped(const char *name, const char *const *scopes, size_t n)
{
    char *prefix = in_dir(name);
    nx_err e = {{0}};
    ck_assert_msg(nx_keygen(prefix, &e) == 0, "keygen: %s", e.msg);
    if (!scopes) {
        scopes = ALL_SCOPES;
        n = 3;
    }
    ck_assert_msg(nx_scope_write(prefix, scopes, n, &e) == 0, "scope: %s", e.msg);
    return prefix;
}

static char *make_key(const char *name)
{
    return make_key_scoped(name, NULL, 0);
}

/* Copy PREFIX.pub and PREFIX.scope to DIR/NAME.pub and DIR/NAME.scope. */
static void trust_key(const char *prefix, const char *dir, const char *name)
{
    const char *ext[] = { "pub", "scope" };
    for (int i = 0; i < 2; i++) {
        char *src = nx_xasprintf("%s.%s", prefix, ext[i]);
        char *dst = nx_xasprintf("%s/%s.%s", dir, name, ext[i]);
        tu_copy(src, dst);
        free(src);
        free(dst);
    }
}

static nx_key *load_priv(const char *prefix)
{
    char *path = nx_xasprintf("%s.key", prefix);
    nx_err e = {{0}};
    nx_key *k = nx_key_load_private(path, &e);
    ck_assert_msg(k != NULL, "load private: %s", e.msg);
    free(path);
    return k;
}

static nx_keyring *ring_of(const char *path)
{
    nx_err e = {{0}};
    nx_keyring *r = nx_keyring_load(path, &e);
    ck_assert_msg(r != NULL, "keyring: %s", e.msg);
    return r;
}

static void assert_msg_has(const nx_err *e, const char *needle)
{
    ck_assert_msg(strstr(e->msg, needle) != NULL, "'%s' lacks '%s'", e->msg, needle);
    ck_assert_msg(strchr(e->msg, '\n') == NULL, "message spans lines: '%s'", e->msg);
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    ck_assert_msg(stat(path, &st) == 0, "%s: %s", path, strerror(errno));
    return st.st_mode & 07777;
}

static char *slurp(const char *path)
{
    nx_err e = {{0}};
    char *data = NULL;
    size_t len = 0;
    ck_assert_msg(nx_read_file(path, &data, &len, 0, &e) == 0, "%s", e.msg);
    return data;
}

/* ---- SHA-256 ------------------------------------------------------------ */

static void hash_str(const char *s, char hex[NX_SHA256_HEX])
{
    nx_sha256 *h = nx_sha256_new();
    nx_sha256_update(h, s, strlen(s));
    nx_sha256_final(h, hex);
}

START_TEST(test_sha256_vectors)
{
    char hex[NX_SHA256_HEX];
    hash_str("abc", hex);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    hash_str("", hex);
    ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    hash_str("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", hex);
    ck_assert_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");

    /* Incremental: the same digest in pieces. */
    nx_sha256 *h = nx_sha256_new();
    nx_sha256_update(h, "a", 1);
    nx_sha256_update(h, "", 0);
    nx_sha256_update(h, "bc", 2);
    nx_sha256_final(h, hex);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

    /* One million 'a' (FIPS 180-2 vector), in odd-sized chunks. */
    h = nx_sha256_new();
    char chunk[1000];
    memset(chunk, 'a', sizeof chunk);
    for (int i = 0; i < 1000; i++)
        nx_sha256_update(h, chunk, sizeof chunk);
    nx_sha256_final(h, hex);
    ck_assert_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}
END_TEST

START_TEST(test_sha256_file)
{
    char *path = tu_write("abc.txt", "abc");
    char hex[NX_SHA256_HEX];
    uint64_t size = 99;
    nx_err e = {{0}};
    ck_assert_msg(nx_sha256_file(path, hex, &size, &e) == 0, "%s", e.msg);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    ck_assert_uint_eq(size, 3);
    free(path);

    /* A file larger than the read buffer. */
    path = in_dir("big.bin");
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 1000000; i++)
        fputc('a', f);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(nx_sha256_file(path, hex, &size, &e), 0);
    ck_assert_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    ck_assert_uint_eq(size, 1000000);
    free(path);

    path = in_dir("missing");
    ck_assert_int_eq(nx_sha256_file(path, hex, NULL, &e), -1);
    assert_msg_has(&e, path);
    free(path);
    ck_assert_int_eq(nx_sha256_file(tu_dir, hex, NULL, &e), -1);
    assert_msg_has(&e, "not a regular file");
}
END_TEST

/* ---- keys --------------------------------------------------------------- */

START_TEST(test_keygen_files_and_modes)
{
    char *prefix = make_key("release");
    char *key = nx_xasprintf("%s.key", prefix);
    char *pub = nx_xasprintf("%s.pub", prefix);
    ck_assert_uint_eq(mode_of(key), 0600);
    ck_assert_uint_eq(mode_of(pub), 0644);
    char *text = slurp(key);
    ck_assert_msg(strncmp(text, "-----BEGIN PRIVATE KEY-----\n", 28) == 0, "%s", text);
    free(text);
    text = slurp(pub);
    ck_assert_msg(strncmp(text, "-----BEGIN PUBLIC KEY-----\n", 27) == 0, "%s", text);
    free(text);

    nx_err e = {{0}};
    nx_key *k = nx_key_load_private(key, &e);
    ck_assert_msg(k != NULL, "%s", e.msg);
    nx_key *p = nx_key_load_public(pub, &e);
    ck_assert_msg(p != NULL, "%s", e.msg);
    ck_assert_uint_eq(strlen(nx_key_id(k)), 16);
    ck_assert_uint_eq(strspn(nx_key_id(k), "0123456789abcdef"), 16);
    ck_assert_str_eq(nx_key_id(k), nx_key_id(p));

    /* A second key differs. */
    char *prefix2 = make_key("other");
    nx_key *k2 = load_priv(prefix2);
    ck_assert_str_ne(nx_key_id(k), nx_key_id(k2));

    /* A public key does not sign; a private key file is not a public key. */
    ck_assert_ptr_null(nx_sign_buffer(p, "x", 1, &e));
    assert_msg_has(&e, "not a private key");
    ck_assert_ptr_null(nx_key_load_public(key, &e));
    assert_msg_has(&e, key);

    nx_key_free(k);
    nx_key_free(k2);
    nx_key_free(p);
    free(key);
    free(pub);
    free(prefix);
    free(prefix2);
}
END_TEST

START_TEST(test_keygen_refuses_existing_key)
{
    char *prefix = make_key("release");
    char *key = nx_xasprintf("%s.key", prefix);
    char *before = slurp(key);
    nx_err e = {{0}};
    ck_assert_int_eq(nx_keygen(prefix, &e), -1);
    assert_msg_has(&e, key);
    assert_msg_has(&e, "already exists");
    char *after = slurp(key);
    ck_assert_str_eq(before, after);
    ck_assert_uint_eq(mode_of(key), 0600);

    /* Into a missing folder: an error, no partial files. */
    char *bad = in_dir("nope/release");
    ck_assert_int_eq(nx_keygen(bad, &e), -1);
    assert_msg_has(&e, "nope/release.key");
    free(bad);
    free(before);
    free(after);
    free(key);
    free(prefix);
}
END_TEST

START_TEST(test_private_key_mode_refused)
{
    char *prefix = make_key("release");
    char *key = nx_xasprintf("%s.key", prefix);
    nx_err e = {{0}};
    ck_assert_int_eq(chmod(key, 0644), 0);
    ck_assert_ptr_null(nx_key_load_private(key, &e));
    assert_msg_has(&e, key);
    assert_msg_has(&e, "readable by others");
    assert_msg_has(&e, "chmod 600");
    ck_assert_int_eq(chmod(key, 0620), 0);
    ck_assert_ptr_null(nx_key_load_private(key, &e));
    assert_msg_has(&e, "writable by others");
    ck_assert_int_eq(chmod(key, 0640), 0);
    ck_assert_ptr_null(nx_key_load_private(key, &e));
    ck_assert_int_eq(chmod(key, 0400), 0);
    nx_key *k = nx_key_load_private(key, &e);
    ck_assert_msg(k != NULL, "%s", e.msg);
    nx_key_free(k);
    free(key);
    free(prefix);
}
END_TEST

START_TEST(test_rfc8032_vector)
{
    char *pub = tu_write("rfc.pub", RFC_PUB_PEM);
    char *scope = tu_write("rfc.scope", "core\n");
    char *key = tu_write("rfc.key", RFC_KEY_PEM);
    ck_assert_int_eq(chmod(key, 0600), 0);
    nx_err e = {{0}};
    nx_key *k = nx_key_load_private(key, &e);
    ck_assert_msg(k != NULL, "%s", e.msg);
    ck_assert_str_eq(nx_key_id(k), RFC_KEY_ID);
    char *sig = nx_sign_buffer(k, "", 0, &e);
    ck_assert_msg(sig != NULL, "%s", e.msg);
    ck_assert_str_eq(sig, RFC_SIG);

    nx_keyring *r = ring_of(pub);
    const char *id = NULL;
    ck_assert_msg(nx_verify_buffer(r, "core", NULL, 0, RFC_SIG, &id, &e) == 0, "%s", e.msg);
    ck_assert_str_eq(id, RFC_KEY_ID);
    ck_assert_int_eq(nx_verify_buffer(r, "core", "x", 1, RFC_SIG, NULL, &e), -1);

    /* An empty file signs like the empty message. */
    char *empty = tu_write("empty", "");
    char *fsig = nx_sign_file(k, empty, &e);
    ck_assert_msg(fsig != NULL, "%s", e.msg);
    ck_assert_str_eq(fsig, RFC_SIG);
    ck_assert_msg(nx_verify_file(r, "core", empty, RFC_SIG, NULL, &e) == 0, "%s", e.msg);

    nx_keyring_free(r);
    nx_key_free(k);
    free(fsig);
    free(empty);
    free(sig);
    free(pub);
    free(scope);
    free(key);
}
END_TEST

START_TEST(test_bad_key_files)
{
    nx_err e = {{0}};
    char *junk = tu_write("junk.pub", "not a key\n");
    ck_assert_ptr_null(nx_key_load_public(junk, &e));
    assert_msg_has(&e, junk);
    char *missing = in_dir("missing.pub");
    ck_assert_ptr_null(nx_key_load_public(missing, &e));
    assert_msg_has(&e, missing);
    /* An RSA or EC key would be refused too; an encrypted PKCS#8 key is
     * refused without a prompt. */
    char *enc = tu_write("enc.key", "-----BEGIN ENCRYPTED PRIVATE KEY-----\n"
                                    "MIGbMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAiZ\n"
                                    "-----END ENCRYPTED PRIVATE KEY-----\n");
    ck_assert_int_eq(chmod(enc, 0600), 0);
    ck_assert_ptr_null(nx_key_load_private(enc, &e));
    assert_msg_has(&e, enc);
    free(enc);
    free(junk);
    free(missing);
}
END_TEST

/* ---- signatures ----------------------------------------------------------- */

START_TEST(test_sign_verify_buffer)
{
    char *a = make_key("a");
    nx_key *k = load_priv(a);
    char *pub = nx_xasprintf("%s.pub", a);
    nx_keyring *r = ring_of(pub);
    ck_assert_uint_eq(nx_keyring_size(r), 1);

    static const char msg[] = "index.json contents";
    nx_err e = {{0}};
    char *sig = nx_sign_buffer(k, msg, sizeof msg - 1, &e);
    ck_assert_msg(sig != NULL, "%s", e.msg);
    ck_assert_uint_eq(strlen(sig), 88);
    ck_assert_ptr_null(strchr(sig, '\n'));
    const char *id = NULL;
    ck_assert_msg(nx_verify_buffer(r, "core", msg, sizeof msg - 1, sig, &id, &e) == 0, "%s", e.msg);
    ck_assert_str_eq(id, nx_key_id(k));

    /* Trailing whitespace is accepted. */
    char *sig2 = nx_xasprintf("%s\r\n", sig);
    ck_assert_msg(nx_verify_buffer(r, "core", msg, sizeof msg - 1, sig2, NULL, &e) == 0, "%s", e.msg);
    free(sig2);

    /* One byte changed. */
    char tampered[sizeof msg];
    memcpy(tampered, msg, sizeof msg);
    tampered[3] ^= 1;
    ck_assert_int_eq(nx_verify_buffer(r, "core", tampered, sizeof msg - 1, sig, &id, &e), -1);
    assert_msg_has(&e, "signature does not verify with any of the 1 trusted keys in ");
    assert_msg_has(&e, pub);
    /* A byte less. */
    ck_assert_int_eq(nx_verify_buffer(r, "core", msg, sizeof msg - 2, sig, NULL, &e), -1);

    nx_keyring_free(r);
    nx_key_free(k);
    free(sig);
    free(pub);
    free(a);
}
END_TEST

START_TEST(test_sign_verify_file)
{
    char *a = make_key("a");
    nx_key *k = load_priv(a);
    nx_keyring *r = ring_of(tu_dir);   /* the folder: a.pub (a.key ignored) */
    ck_assert_uint_eq(nx_keyring_size(r), 1);

    char *pkg = in_dir("core-1.1.0.tar.zst");
    FILE *f = fopen(pkg, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 300000; i++)
        fputc(i * 7 % 251, f);
    ck_assert_int_eq(fclose(f), 0);

    nx_err e = {{0}};
    ck_assert_msg(nx_sign_file_to_sig(k, pkg, &e) == 0, "%s", e.msg);
    char *sigpath = nx_xasprintf("%s.sig", pkg);
    ck_assert_uint_eq(mode_of(sigpath), 0644);
    char *text = slurp(sigpath);
    ck_assert_uint_eq(strlen(text), 89);
    ck_assert_int_eq(text[88], '\n');
    ck_assert_ptr_eq(strchr(text, '\n'), text + 88);

    char *direct = nx_sign_file(k, pkg, &e);
    ck_assert_msg(direct != NULL, "%s", e.msg);
    ck_assert_int_eq(strncmp(direct, text, 88), 0);

    const char *id = NULL;
    ck_assert_msg(nx_verify_file(r, "core", pkg, text, &id, &e) == 0, "%s", e.msg);
    ck_assert_str_eq(id, nx_key_id(k));

    /* Flip one byte in the middle of the file. */
    f = fopen(pkg, "r+");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, 150000, SEEK_SET), 0);
    int c = fgetc(f);
    ck_assert_int_eq(fseek(f, 150000, SEEK_SET), 0);
    fputc(c ^ 0x40, f);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(nx_verify_file(r, "core", pkg, text, NULL, &e), -1);
    assert_msg_has(&e, pkg);
    assert_msg_has(&e, "signature does not verify with any of the 1 trusted keys in ");
    assert_msg_has(&e, tu_dir);

    /* Missing file: names it. */
    char *missing = in_dir("missing.tar.zst");
    ck_assert_int_eq(nx_verify_file(r, "core", missing, text, NULL, &e), -1);
    assert_msg_has(&e, missing);
    ck_assert_ptr_null(nx_sign_file(k, missing, &e));
    assert_msg_has(&e, missing);

    free(missing);
    free(direct);
    free(text);
    free(sigpath);
    free(pkg);
    nx_keyring_free(r);
    nx_key_free(k);
    free(a);
}
END_TEST

START_TEST(test_signed_by_other_key)
{
    char *a = make_key("a");
    char *b = make_key("b");
    nx_key *kb = load_priv(b);
    char *apub = nx_xasprintf("%s.pub", a);
    nx_keyring *r = ring_of(apub);
    nx_err e = {{0}};
    char *sig = nx_sign_buffer(kb, "data", 4, &e);
    ck_assert_ptr_nonnull(sig);
    ck_assert_int_eq(nx_verify_buffer(r, "core", "data", 4, sig, NULL, &e), -1);
    assert_msg_has(&e, "signature does not verify with any of the 1 trusted keys in ");
    free(sig);
    nx_keyring_free(r);
    nx_key_free(kb);
    free(apub);
    free(a);
    free(b);
}
END_TEST

START_TEST(test_bad_signature_text)
{
    char *pub = tu_write("rfc.pub", RFC_PUB_PEM);
    char *scope = tu_write("rfc.scope", "core\n");
    nx_keyring *r = ring_of(pub);
    nx_err e = {{0}};
    struct {
        const char *sig;
        const char *needle;
    } cases[] = {
        {"", "signature is empty"},
        {"\n", "signature is empty"},
        {"!!!!", "not base64"},
        {"5VZDAMNgrHKQhuLMgG6CioSHfx645dl02HPgZSJJAVVfuIIVkKM7rMYeOXAc+bRr0lv18FlbviRlUUFDjnoQ*w==",
         "not base64"},
        {" " RFC_SIG, "not base64"},
        {"5VZDAMNgrHKQhuLMgG6CioSHfx645dl02HPgZSJJ\nAVVfuIIVkKM7rMYeOXAc+bRr0lv18FlbviRlUUFDjnoQCw==",
         "not base64"},
        {"5VZDAMNgrHKQ=uLMgG6CioSHfx645dl02HPgZSJJAVVfuIIVkKM7rMYeOXAc+bRr0lv18FlbviRlUUFDjnoQCw==",
         "not base64"},
        /* 63 and 65 zero bytes */
        {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
         "signature is not 64 bytes of base64"},
        {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
         "signature is not 64 bytes of base64"},
        {"AAAA", "signature is not 64 bytes of base64"},
        /* Unpadded 64 bytes. */
        {"5VZDAMNgrHKQhuLMgG6CioSHfx645dl02HPgZSJJAVVfuIIVkKM7rMYeOXAc+bRr0lv18FlbviRlUUFDjnoQCw",
         "signature is not 64 bytes of base64"},
        /* Stray bits in the last character. */
        {"5VZDAMNgrHKQhuLMgG6CioSHfx645dl02HPgZSJJAVVfuIIVkKM7rMYeOXAc+bRr0lv18FlbviRlUUFDjnoQCx==",
         "not canonical"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert_msg(nx_verify_buffer(r, "core", "", 0, cases[i].sig, NULL, &e) == -1, "case %zu", i);
        assert_msg_has(&e, cases[i].needle);
    }
    ck_assert_int_eq(nx_verify_buffer(r, "core", "", 0, NULL, NULL, &e), -1);
    ck_assert_int_eq(nx_verify_buffer(r, "core", "", 0, RFC_SIG, NULL, &e), 0);
    nx_keyring_free(r);
    free(scope);
    free(pub);
}
END_TEST

/* ---- keyrings --------------------------------------------------------------- */

START_TEST(test_keyring_folder_two_keys)
{
    char *a = make_key("a");
    char *b = make_key("b");
    char *c = make_key("c");   /* not trusted */
    nx_key *ka = load_priv(a), *kb = load_priv(b), *kc = load_priv(c);
    char *keys = in_dir("keys");
    nx_err e = {{0}};
    ck_assert_int_eq(nx_mkdirs(keys, 0755, &e), 0);
    trust_key(a, keys, "20-a");
    trust_key(b, keys, "10-b");
    /* Ignored: other names, dot files, folders named *.pub. */
    char *readme = tu_write("keys/README", "not a key");
    char *hidden = tu_write("keys/.old.pub", "not a key");
    char *sub = nx_xasprintf("%s/sub.pub", keys);
    ck_assert_int_eq(mkdir(sub, 0755), 0);

    nx_keyring *r = ring_of(keys);
    ck_assert_uint_eq(nx_keyring_size(r), 2);
    const char *id = NULL;
    char *sa = nx_sign_buffer(ka, "m", 1, &e);
    char *sb = nx_sign_buffer(kb, "m", 1, &e);
    char *sc = nx_sign_buffer(kc, "m", 1, &e);
    ck_assert_msg(nx_verify_buffer(r, "core", "m", 1, sa, &id, &e) == 0, "%s", e.msg);
    ck_assert_str_eq(id, nx_key_id(ka));
    ck_assert_msg(nx_verify_buffer(r, "core", "m", 1, sb, &id, &e) == 0, "%s", e.msg);
    ck_assert_str_eq(id, nx_key_id(kb));
    ck_assert_int_eq(nx_verify_buffer(r, "core", "m", 1, sc, NULL, &e), -1);
    char *want = nx_xasprintf("signature does not verify with any of the 2 trusted keys in %s",
                              keys);
    assert_msg_has(&e, want);
    free(want);

    free(sa);
    free(sb);
    free(sc);
    nx_keyring_free(r);
    nx_key_free(ka);
    nx_key_free(kb);
    nx_key_free(kc);
    free(readme);
    free(hidden);
    free(sub);
    free(keys);
    free(a);
    free(b);
    free(c);
}
END_TEST

START_TEST(test_keyring_empty_and_missing)
{
    char *keys = in_dir("keys");
    nx_err e = {{0}};
    ck_assert_int_eq(nx_mkdirs(keys, 0755, &e), 0);
    char *note = tu_write("keys/README", "put .pub files here");
    ck_assert_ptr_null(nx_keyring_load(keys, &e));
    char *want = nx_xasprintf("no trusted keys in %s: signatures are always required", keys);
    assert_msg_has(&e, want);
    free(want);

    char *missing = in_dir("nope");
    ck_assert_ptr_null(nx_keyring_load(missing, &e));
    assert_msg_has(&e, missing);
    assert_msg_has(&e, "signatures are always required");
    ck_assert_ptr_null(nx_keyring_load("", &e));
    assert_msg_has(&e, "signatures are always required");
    free(missing);
    free(note);
    free(keys);
}
END_TEST

START_TEST(test_keyring_bad_pub)
{
    char *a = make_key("a");
    char *keys = in_dir("keys");
    nx_err e = {{0}};
    ck_assert_int_eq(nx_mkdirs(keys, 0755, &e), 0);
    trust_key(a, keys, "a");
    char *bad = tu_write("keys/broken.pub", "-----BEGIN PUBLIC KEY-----\nAAAA\n"
                                            "-----END PUBLIC KEY-----\n");
    char *bads = tu_write("keys/broken.scope", "core\n");
    ck_assert_ptr_null(nx_keyring_load(keys, &e));
    assert_msg_has(&e, bad);
    free(bad);
    free(bads);
    free(keys);
    free(a);
}
END_TEST

/* ---- scopes ----------------------------------------------------------------- */

START_TEST(test_scope_patterns)
{
    static const char *const good[] = { "index", "core", "plugin:*", "plugin:forum",
                                         "plugin:0day", "plugin:a_b-c" };
    static const char *const bad[] = { "", "Index", "core ", " core", "plugins:*",
                                       "plugin:", "plugin:Forum", "plugin:-x", "plugin:*x",
                                       "plugin:a/b", "plugin:a.b", "*", "plugin",
                                       "plugin:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        ck_assert_msg(nx_scope_pattern_ok(good[i]), "'%s' refused", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!nx_scope_pattern_ok(bad[i]), "'%s' accepted", bad[i]);
    ck_assert(!nx_scope_pattern_ok(NULL));
    /* what a signature can be for: a pattern but plugin:* */
    ck_assert(nx_scope_what_ok("plugin:forum"));
    ck_assert(!nx_scope_what_ok("plugin:*"));
    ck_assert(!nx_scope_what_ok(NULL));
}
END_TEST

START_TEST(test_scope_covers)
{
    struct {
        const char *pattern, *what;
        int covers;
    } cases[] = {
        { "index", "index", 1 },         { "index", "core", 0 },
        { "core", "core", 1 },           { "core", "index", 0 },
        { "core", "plugin:forum", 0 },   { "plugin:forum", "plugin:forum", 1 },
        { "plugin:forum", "plugin:forums", 0 }, { "plugin:forum", "plugin:blog", 0 },
        { "plugin:forum", "core", 0 },   { "plugin:forum", "index", 0 },
        { "plugin:*", "plugin:forum", 1 }, { "plugin:*", "plugin:blog", 1 },
        { "plugin:*", "core", 0 },       { "plugin:*", "index", 0 },
        { "plugin:*", "plugin:*", 0 },   { "core", "Core", 0 },
        { "bogus", "bogus", 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_msg(nx_scope_covers(cases[i].pattern, cases[i].what) == cases[i].covers,
                      "%s covers %s: expected %d", cases[i].pattern, cases[i].what,
                      cases[i].covers);
}
END_TEST

START_TEST(test_scope_parse)
{
    static const char text[] = "# what the forum vendor may sign\n"
                               "\n"
                               "  plugin:forum  \r\n"
                               "plugin:forum-extras # and its add-on\n"
                               "\t\n"
                               "index";
    char **p = NULL;
    size_t n = 0;
    nx_err e = {{0}};
    ck_assert_msg(nx_scope_parse(text, sizeof text - 1, "v.scope", &p, &n, &e) == 0, "%s",
                  e.msg);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(p[0], "plugin:forum");
    ck_assert_str_eq(p[1], "plugin:forum-extras");
    ck_assert_str_eq(p[2], "index");
    nx_scope_free(p, n);

    static const char bad[] = "core\n# fine\nplugin:Forum\n";
    ck_assert_int_eq(nx_scope_parse(bad, sizeof bad - 1, "v.scope", &p, &n, &e), -1);
    assert_msg_has(&e, "v.scope:3: 'plugin:Forum' is not a scope");
    ck_assert_ptr_null(p);
    static const char two[] = "core index\n";
    ck_assert_int_eq(nx_scope_parse(two, sizeof two - 1, "v.scope", &p, &n, &e), -1);
    assert_msg_has(&e, "v.scope:1: 'core index'");
    static const char nul[] = "core\n\0index\n";
    ck_assert_int_eq(nx_scope_parse(nul, sizeof nul - 1, "v.scope", &p, &n, &e), -1);
    assert_msg_has(&e, "v.scope:2:");
    static const char none[] = "# nothing yet\n\n";
    ck_assert_int_eq(nx_scope_parse(none, sizeof none - 1, "v.scope", &p, &n, &e), -1);
    assert_msg_has(&e, "v.scope: no scope in it");
    ck_assert_int_eq(nx_scope_parse("", 0, "v.scope", &p, &n, &e), -1);
    assert_msg_has(&e, "v.scope: no scope in it");
}
END_TEST

START_TEST(test_scope_write)
{
    char *prefix = in_dir("vendor");
    nx_err e = {{0}};
    static const char *const pats[] = { "index", "core", "plugin:*" };
    ck_assert_msg(nx_scope_write(prefix, pats, 3, &e) == 0, "%s", e.msg);
    char *path = nx_xasprintf("%s.scope", prefix);
    char *text = slurp(path);
    ck_assert_str_eq(text, "index\ncore\nplugin:*\n");
    ck_assert_uint_eq(mode_of(path), 0644);
    free(text);
    free(path);

    char *other = in_dir("other");
    static const char *const bad[] = { "core", "plugin:Forum" };
    ck_assert_int_eq(nx_scope_write(other, bad, 2, &e), -1);
    assert_msg_has(&e, "'plugin:Forum' is not a scope");
    path = nx_xasprintf("%s.scope", other);
    ck_assert_int_eq(access(path, F_OK), -1);
    ck_assert_int_eq(nx_scope_write(other, bad, 0, &e), -1);
    ck_assert_int_eq(access(path, F_OK), -1);
    free(path);
    free(other);
    free(prefix);
}
END_TEST

START_TEST(test_keyring_missing_scope)
{
    char *a = make_key("a");
    char *keys = in_dir("keys");
    nx_err e = {{0}};
    ck_assert_int_eq(nx_mkdirs(keys, 0755, &e), 0);
    trust_key(a, keys, "vendor");
    char *src = nx_xasprintf("%s.pub", a);
    char *dst = nx_xasprintf("%s/forum.pub", keys);
    tu_copy(src, dst);
    /* the whole keyring refuses to load, naming the .pub and the .scope */
    ck_assert_ptr_null(nx_keyring_load(keys, &e));
    assert_msg_has(&e, dst);
    char *want = nx_xasprintf("refused: no %s/forum.scope beside it", keys);
    assert_msg_has(&e, want);
    free(want);
    /* one .pub file as the keyring: the same */
    char *lone = in_dir("lone.pub");
    tu_copy(src, lone);
    ck_assert_ptr_null(nx_keyring_load(lone, &e));
    assert_msg_has(&e, lone);
    assert_msg_has(&e, "lone.scope beside it");
    /* a .scope that is a folder */
    char *sdir = nx_xasprintf("%s/forum.scope", keys);
    ck_assert_int_eq(mkdir(sdir, 0755), 0);
    ck_assert_ptr_null(nx_keyring_load(keys, &e));
    assert_msg_has(&e, sdir);
    free(sdir);
    free(lone);
    free(src);
    free(dst);
    free(keys);
    free(a);
}
END_TEST

START_TEST(test_keyring_bad_scope_line)
{
    char *a = make_key("a");
    char *keys = in_dir("keys");
    nx_err e = {{0}};
    ck_assert_int_eq(nx_mkdirs(keys, 0755, &e), 0);
    trust_key(a, keys, "vendor");
    char *scope = tu_write("keys/vendor.scope", "index\ncore\nplugins:*\n");
    ck_assert_ptr_null(nx_keyring_load(keys, &e));
    char *want = nx_xasprintf("%s:3: 'plugins:*' is not a scope", scope);
    assert_msg_has(&e, want);
    free(want);
    free(scope);
    free(keys);
    free(a);
}
END_TEST

START_TEST(test_verify_scoped)
{
    static const char *const forum_scope[] = { "plugin:forum" };
    static const char *const vendor_scope[] = { "index", "core" };
    char *f = make_key_scoped("forum", forum_scope, 1);
    char *v = make_key_scoped("vendor", vendor_scope, 2);
    char *x = make_key("stranger");
    nx_key *kf = load_priv(f), *kv = load_priv(v), *kx = load_priv(x);
    char *keys = in_dir("keys");
    nx_err e = {{0}};
    ck_assert_int_eq(nx_mkdirs(keys, 0755, &e), 0);
    trust_key(f, keys, "forum");
    trust_key(v, keys, "vendor");
    nx_keyring *r = ring_of(keys);
    ck_assert_uint_eq(nx_keyring_size(r), 2);
    ck_assert(nx_keyring_may_sign(r, 0, "plugin:forum"));   /* forum.pub sorts first */
    ck_assert(!nx_keyring_may_sign(r, 0, "core"));
    ck_assert(nx_keyring_may_sign(r, 1, "core"));
    ck_assert(!nx_keyring_may_sign(r, 2, "core"));

    char *sf = nx_sign_buffer(kf, "pkg", 3, &e);
    char *sv = nx_sign_buffer(kv, "pkg", 3, &e);
    char *sx = nx_sign_buffer(kx, "pkg", 3, &e);
    const char *id = NULL;
    /* the forum key: its plugin only */
    ck_assert_msg(nx_verify_buffer(r, "plugin:forum", "pkg", 3, sf, &id, &e) == 0, "%s", e.msg);
    ck_assert_str_eq(id, nx_key_id(kf));
    const char *what[] = { "core", "index", "plugin:blog" };
    for (size_t i = 0; i < 3; i++) {
        id = NULL;
        ck_assert_int_eq(nx_verify_buffer(r, what[i], "pkg", 3, sf, &id, &e), -1);
        ck_assert_ptr_null(id);
        char *want = nx_xasprintf("signed by key %s (forum.pub, scope plugin:forum) which may "
                                  "not sign %s", nx_key_id(kf), what[i]);
        assert_msg_has(&e, want);
        free(want);
    }
    /* the vendor key: index and core, no plugin */
    ck_assert_msg(nx_verify_buffer(r, "core", "pkg", 3, sv, &id, &e) == 0, "%s", e.msg);
    ck_assert_str_eq(id, nx_key_id(kv));
    ck_assert_msg(nx_verify_buffer(r, "index", "pkg", 3, sv, &id, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(nx_verify_buffer(r, "plugin:forum", "pkg", 3, sv, NULL, &e), -1);
    assert_msg_has(&e, "(vendor.pub, scope index, core) which may not sign plugin:forum");
    /* a key not trusted at all: every key tried, with its scope */
    ck_assert_int_eq(nx_verify_buffer(r, "core", "pkg", 3, sx, NULL, &e), -1);
    assert_msg_has(&e, "signature does not verify with any of the 2 trusted keys in ");
    assert_msg_has(&e, "forum.pub: key ");
    assert_msg_has(&e, "scope plugin:forum; vendor.pub: key ");
    assert_msg_has(&e, "scope index, core)");
    /* nothing named, or plugin:* as what: refused before any key */
    ck_assert_int_eq(nx_verify_buffer(r, NULL, "pkg", 3, sv, NULL, &e), -1);
    assert_msg_has(&e, "not index, core or plugin:SLUG");
    ck_assert_int_eq(nx_verify_buffer(r, "plugin:*", "pkg", 3, sf, NULL, &e), -1);

    nx_keyring_free(r);
    nx_key_free(kf);
    nx_key_free(kv);
    nx_key_free(kx);
    free(sf);
    free(sv);
    free(sx);
    free(keys);
    free(f);
    free(v);
    free(x);
}
END_TEST

START_TEST(test_keyring_insecure)
{
    char *a = make_key("a");
    char *keys = in_dir("keys");
    nx_err e = {{0}};
    ck_assert_int_eq(nx_mkdirs(keys, 0755, &e), 0);
    trust_key(a, keys, "vendor");
    nx_keyring_free(ring_of(keys));
    /* a folder others may write */
    ck_assert_int_eq(chmod(keys, 0777), 0);
    ck_assert_ptr_null(nx_keyring_load(keys, &e));
    assert_msg_has(&e, "[server] trusted_keys");
    assert_msg_has(&e, keys);
    assert_msg_has(&e, "world-writable");
    ck_assert_int_eq(chmod(keys, 0775), 0);
    ck_assert_ptr_null(nx_keyring_load(keys, &e));
    assert_msg_has(&e, "group-writable");
    ck_assert_int_eq(chmod(keys, 0755), 0);
    /* a key or a scope file others may write */
    char *pub = nx_xasprintf("%s/vendor.pub", keys);
    char *scope = nx_xasprintf("%s/vendor.scope", keys);
    ck_assert_int_eq(chmod(scope, 0666), 0);
    ck_assert_ptr_null(nx_keyring_load(keys, &e));
    assert_msg_has(&e, scope);
    ck_assert_ptr_null(nx_keyring_load(pub, &e));   /* the one-file keyring too */
    assert_msg_has(&e, "[server] trusted_keys");
    assert_msg_has(&e, scope);
    ck_assert_int_eq(chmod(scope, 0644), 0);
    ck_assert_int_eq(chmod(pub, 0664), 0);
    ck_assert_ptr_null(nx_keyring_load(pub, &e));
    assert_msg_has(&e, pub);
    ck_assert_int_eq(chmod(pub, 0644), 0);
    nx_keyring_free(ring_of(pub));
    /* a one-file keyring must be NAME.pub */
    char *odd = nx_xasprintf("%s/vendor.pem", keys);
    tu_copy(pub, odd);
    ck_assert_ptr_null(nx_keyring_load(odd, &e));
    assert_msg_has(&e, "must be named NAME.pub");
    free(odd);
    free(pub);
    free(scope);
    free(keys);
    free(a);
}
END_TEST

static Suite *trust_suite(void)
{
    Suite *s = suite_create("trust");
    TCase *tc = tcase_create("sha256");
    tcase_add_unchecked_fixture(tc, tu_base_setup, tu_base_teardown);
    tcase_add_checked_fixture(tc, tu_tmp_setup, tu_tmp_teardown);
    tcase_add_test(tc, test_sha256_vectors);
    tcase_add_test(tc, test_sha256_file);
    suite_add_tcase(s, tc);

    tc = tcase_create("keys");
    tcase_add_unchecked_fixture(tc, tu_base_setup, tu_base_teardown);
    tcase_add_checked_fixture(tc, tu_tmp_setup, tu_tmp_teardown);
    tcase_add_test(tc, test_keygen_files_and_modes);
    tcase_add_test(tc, test_keygen_refuses_existing_key);
    tcase_add_test(tc, test_private_key_mode_refused);
    tcase_add_test(tc, test_rfc8032_vector);
    tcase_add_test(tc, test_bad_key_files);
    suite_add_tcase(s, tc);

    tc = tcase_create("signatures");
    tcase_add_unchecked_fixture(tc, tu_base_setup, tu_base_teardown);
    tcase_add_checked_fixture(tc, tu_tmp_setup, tu_tmp_teardown);
    tcase_add_test(tc, test_sign_verify_buffer);
    tcase_add_test(tc, test_sign_verify_file);
    tcase_add_test(tc, test_signed_by_other_key);
    tcase_add_test(tc, test_bad_signature_text);
    suite_add_tcase(s, tc);

    tc = tcase_create("scopes");
    tcase_add_unchecked_fixture(tc, tu_base_setup, tu_base_teardown);
    tcase_add_checked_fixture(tc, tu_tmp_setup, tu_tmp_teardown);
    tcase_add_test(tc, test_scope_patterns);
    tcase_add_test(tc, test_scope_covers);
    tcase_add_test(tc, test_scope_parse);
    tcase_add_test(tc, test_scope_write);
    suite_add_tcase(s, tc);

    tc = tcase_create("keyring");
    tcase_add_unchecked_fixture(tc, tu_base_setup, tu_base_teardown);
    tcase_add_checked_fixture(tc, tu_tmp_setup, tu_tmp_teardown);
    tcase_add_test(tc, test_keyring_folder_two_keys);
    tcase_add_test(tc, test_keyring_empty_and_missing);
    tcase_add_test(tc, test_keyring_bad_pub);
    tcase_add_test(tc, test_keyring_missing_scope);
    tcase_add_test(tc, test_keyring_bad_scope_line);
    tcase_add_test(tc, test_keyring_insecure);
    tcase_add_test(tc, test_verify_scoped);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(trust_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
