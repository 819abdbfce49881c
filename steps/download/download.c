/*
 * download — fetches the offered package into STATE/downloads and proves
 * it is the offered one (size and sha256) before any later step sees it.
 *
 * Facts (core/offer.h): param.download_url (absolute http(s) URL),
 * param.size_bytes (> 0) and param.sha256 (64 hex digits). With
 * param.package (a local file, `install --package`) or a file:// URL (a
 * local repository) nothing is fetched, but the file is COPIED into
 * STATE/downloads through one descriptor, hashed while it is copied, and
 * only the private copy is published (contracts §9): whoever can write the
 * repository folder cannot swap the file between this step's check and
 * the verify and extract steps' reads. The copy is checked against
 * size_bytes and sha256 where those are given (a local file may come
 * without an offer; the verify step's signature check is what protects
 * it).
 *
 * Where: STATE/downloads/<component, ':' as '-'>-<version>-<sha256[0:16]>.<ext>
 * (folder 0700, file 0600), written as NAME.part and renamed once its size
 * and sha256 match. A complete file already there with the right size and
 * sha256 is reused. A NAME.part is resumed with an HTTP Range request
 * (hashing what is there first); a server that answers 200 instead of 206
 * makes the download start over.
 *
 * Rules:
 *   - TLS is always verified ([server] ca_file: a CA bundle for a private
 *     server, else the system's trust store);
 *   - only http and https; plain http only to loopback (127.0.0.0/8, ::1,
 *     localhost) unless [server] allow_http = true, refused before any
 *     connection. Redirects are followed by this step, not by libcurl, so
 *     that each hop passes the same rule (at most 5 hops);
 *   - [server] timeout: the connect timeout, and a transfer that gets no
 *     byte for that long fails (libcurl's low-speed limit of 1 byte/s over
 *     the same time backs it up); [server] download_timeout (default 3600
 *     s, 0: none) bounds the whole download, every hop and retry included,
 *     so a server trickling one byte a second cannot hold the update.
 *     A signal does not cut a transfer short: the host turns it into a
 *     rollback when run returns;
 *   - a server sending more than size_bytes is hostile: the transfer is cut
 *     at the first byte too many and the partial file removed;
 *   - a transfer that ends early keeps NAME.part for the next attempt;
 *   - a sha256 mismatch removes the file;
 *   - [server] api_key is sent as "Authorization: Bearer KEY" only to the
 *     origin of [server] url (same scheme, host and port), never to a host
 *     a redirect leads to.
 *
 * undo keeps what is in STATE/downloads: a .part so that the next attempt
 * resumes, a complete file because it was verified (size and sha256) and
 * the retry of a failed update would only fetch the same bytes again. A
 * package that later proves bad (signature) is removed by the step that
 * finds out. commit removes the package: the update stands, nothing needs
 * it any more. Both are safe to repeat.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <nexo/step.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "offer.h"
#include "trust.h"
#include "util.h"

#define MAX_HOPS 5
#define DISCARD_MAX (1024 * 1024)  /* body bytes of an error or redirect we read */
#define IO_CHUNK (256 * 1024)

/* ---- facts and settings ------------------------------------------------ */

struct offer {
    const char *url;             /* NULL with a local package */
    const char *package;         /* param.package */
    uint64_t size;               /* 0: not given */
    char sha[NX_SHA256_HEX];     /* "" : not given */
};

struct server {
    long timeout;
    long deadline_s;    /* [server] download_timeout, 0: none */
    int allow_http;
    const char *ca_file;
    const char *url;
    const char *api_key;
};

static int parse_size(const char *v, uint64_t *out)
{
    if (!v || !*v)
        return -1;
    for (const char *p = v; *p; p++)
        if (!isdigit((unsigned char)*p))
            return -1;
    errno = 0;
    unsigned long long n = strtoull(v, NULL, 10);
    if (errno || n == 0)
        return -1;
    *out = n;
    return 0;
}

static int parse_sha(const char *v, char out[NX_SHA256_HEX])
{
    if (!v || strlen(v) != NX_SHA256_HEX - 1)
        return -1;
    for (size_t i = 0; i < NX_SHA256_HEX - 1; i++) {
        if (!isxdigit((unsigned char)v[i]))
            return -1;
        out[i] = (char)tolower((unsigned char)v[i]);
    }
    out[NX_SHA256_HEX - 1] = '\0';
    return 0;
}

/* The offer's facts; `need` makes the missing ones an error (run). */
static int read_offer(const struct nexo_host *h, nexo_ctx *c, struct offer *o, int need)
{
    memset(o, 0, sizeof *o);
    o->url = h->info(c, NX_OFFER_URL);
    o->package = h->info(c, NX_OFFER_PACKAGE);
    if (o->package && !*o->package)
        o->package = NULL;
    const char *size = h->info(c, NX_OFFER_SIZE);
    const char *sha = h->info(c, NX_OFFER_SHA256);
    if (size && parse_size(size, &o->size) != 0)
        return h->fail(c, NEXO_EINVAL, "size_bytes = '%s': expected a whole number above 0", size);
    if (sha && parse_sha(sha, o->sha) != 0)
        return h->fail(c, NEXO_EINVAL, "sha256 = '%s': expected 64 hex digits", sha);
    if (!need || o->package)
        return 0;
    if (!o->url || !*o->url)
        return h->fail(c, NEXO_EINVAL, "no package to download: the offer has no download_url "
                                       "(pipeline run --param download_url=URL)");
    if (!size)
        return h->fail(c, NEXO_EINVAL, "the offer of %s has no size_bytes", o->url);
    if (!sha)
        return h->fail(c, NEXO_EINVAL, "the offer of %s has no sha256", o->url);
    return 0;
}

static int is_true(const char *v)
{
    return v && (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "1") == 0);
}

static int read_server(const struct nexo_host *h, nexo_ctx *c, struct server *s)
{
    memset(s, 0, sizeof *s);
    const char *t = h->config(c, "server", "timeout");
    s->timeout = 30;
    if (t) {
        char *end = NULL;
        errno = 0;
        long v = strtol(t, &end, 10);
        if (!*t || *end || errno || v < 1 || v > 86400)
            return h->fail(c, NEXO_EINVAL, "[server] timeout = %s: expected 1 to 86400 seconds", t);
        s->timeout = v;
    }
    const char *dt = h->config(c, "server", "download_timeout");
    s->deadline_s = 3600;
    if (dt) {
        char *end = NULL;
        errno = 0;
        long v = strtol(dt, &end, 10);
        if (!*dt || *end || errno || v < 0 || v > 7 * 86400)
            return h->fail(c, NEXO_EINVAL, "[server] download_timeout = %s: expected 0 (no "
                           "limit) to 604800 seconds", dt);
        s->deadline_s = v;
    }
    s->allow_http = is_true(h->config(c, "server", "allow_http"));
    s->ca_file = h->config(c, "server", "ca_file");
    s->url = h->config(c, "server", "url");
    s->api_key = h->config(c, "server", "api_key");
    if (s->api_key && !*s->api_key)
        s->api_key = NULL;
    return 0;
}

/* ---- URL policy --------------------------------------------------------- */

struct url_parts {
    char *scheme;
    char *host;
    char *port;
    char *path;
};

static void url_parts_free(struct url_parts *u)
{
    curl_free(u->scheme);
    curl_free(u->host);
    curl_free(u->port);
    curl_free(u->path);
    memset(u, 0, sizeof *u);
}

/* Split an absolute URL; -1 when it is not one. The port is the scheme's
 * default when none is given. */
static int url_split(const char *url, struct url_parts *u)
{
    memset(u, 0, sizeof *u);
    CURLU *cu = curl_url();
    int ok = cu && curl_url_set(cu, CURLUPART_URL, url, 0) == CURLUE_OK &&
             curl_url_get(cu, CURLUPART_SCHEME, &u->scheme, 0) == CURLUE_OK;
    if (ok) {
        curl_url_get(cu, CURLUPART_HOST, &u->host, 0);
        curl_url_get(cu, CURLUPART_PORT, &u->port, CURLU_DEFAULT_PORT);
        curl_url_get(cu, CURLUPART_PATH, &u->path, 0);
    }
    curl_url_cleanup(cu);
    if (!ok)
        url_parts_free(u);
    return ok ? 0 : -1;
}

/* localhost, 127.0.0.0/8 or ::1 (as curl's URL parser spells the host). */
static int host_is_loopback(const char *host)
{
    if (!host)
        return 0;
    if (strcasecmp(host, "localhost") == 0 || strcasecmp(host, "localhost.") == 0)
        return 1;
    struct in_addr a4;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    char v6[64];
    size_t n = strlen(host);
    if (n < 3 || n >= sizeof v6 || host[0] != '[' || host[n - 1] != ']')
        return 0;
    memcpy(v6, host + 1, n - 2);
    v6[n - 2] = '\0';
    struct in6_addr a6;
    return inet_pton(AF_INET6, v6, &a6) == 1 && memcmp(&a6, &in6addr_loopback, sizeof a6) == 0;
}

/* May this step fetch `url` at all? Checked before any connection, for
 * the offered URL and for every redirect. */
static int url_policy(const struct nexo_host *h, nexo_ctx *c, const struct server *s,
                      const char *url)
{
    struct url_parts u;
    if (url_split(url, &u) != 0)
        return h->fail(c, NEXO_EINVAL, "%s: not an absolute URL", url);
    int rc = 0;
    int http = strcasecmp(u.scheme, "http") == 0;
    if (!http && strcasecmp(u.scheme, "https") != 0)
        rc = h->fail(c, NEXO_EINVAL, "%s: refused: only http and https downloads are allowed", url);
    else if (!u.host || !*u.host)
        rc = h->fail(c, NEXO_EINVAL, "%s: the URL names no host", url);
    else if (http && !s->allow_http && !host_is_loopback(u.host))
        rc = h->fail(c, NEXO_EINVAL,
                     "%s: refused: plain http is allowed only to this machine (loopback); use "
                     "https, or set [server] allow_http = true", url);
    url_parts_free(&u);
    return rc;
}

/* Is `url` on the origin (scheme, host, port) of [server] url? */
static int same_origin(const char *url, const char *server_url)
{
    struct url_parts a, b;
    if (!server_url || url_split(url, &a) != 0)
        return 0;
    if (url_split(server_url, &b) != 0) {
        url_parts_free(&a);
        return 0;
    }
    int same = a.host && b.host && strcasecmp(a.scheme, b.scheme) == 0 &&
               strcasecmp(a.host, b.host) == 0 && a.port && b.port && strcmp(a.port, b.port) == 0;
    url_parts_free(&a);
    url_parts_free(&b);
    return same;
}

/* ---- where the package goes -------------------------------------------- */

/* Copy a name part, keeping [A-Za-z0-9._+] and turning the rest (':' of
 * plugin:SLUG, '/', ...) into '-'; never starts with '.'. */
static void safe_part(char *out, size_t len, const char *in)
{
    size_t i = 0;
    for (; in && in[i] && i + 1 < len; i++) {
        unsigned char ch = (unsigned char)in[i];
        out[i] = (char)(isalnum(ch) || ch == '.' || ch == '_' || ch == '+' ? ch : '-');
    }
    out[i] = '\0';
    if (out[0] == '.')
        out[0] = '-';
    if (!out[0])
        snprintf(out, len, "unknown");
}

/* The package format's extension from a file name. */
static void name_ext(const char *base, char *out, size_t len)
{
    static const char *known[] = { ".tar.zst", ".tar.gz", ".tar.xz", ".tar.bz2", ".tgz", ".zip" };
    snprintf(out, len, "pkg");
    size_t n = base ? strlen(base) : 0;
    for (size_t i = 0; base && i < sizeof known / sizeof known[0]; i++) {
        size_t k = strlen(known[i]);
        if (n > k && strcasecmp(base + n - k, known[i]) == 0) {
            snprintf(out, len, "%s", known[i] + 1);
            return;
        }
    }
    const char *dot = base ? strrchr(base, '.') : NULL;
    int ok = dot && dot != base && dot[1] && strlen(dot + 1) <= 8;
    for (const char *p = dot ? dot + 1 : ""; ok && *p; p++)
        ok = isalnum((unsigned char)*p);
    if (ok)
        snprintf(out, len, "%s", dot + 1);
}

/* The package format's extension from the URL's path. */
static void url_ext(const char *url, char *out, size_t len)
{
    struct url_parts u;
    snprintf(out, len, "pkg");
    if (url_split(url, &u) != 0)
        return;
    const char *base = u.path ? strrchr(u.path, '/') : NULL;
    name_ext(base ? base + 1 : u.path, out, len);
    url_parts_free(&u);
}

static char *downloads_dir(const struct nexo_host *h, nexo_ctx *c)
{
    const char *state = h->info(c, "state_dir");
    if (!state || !*state) {
        h->fail(c, NEXO_EINVAL, "[paths] state is not set");
        return NULL;
    }
    return nx_path_join(state, "downloads");
}

/* STATE/downloads/<component>-<version>-<sha16>.<ext> (malloc'ed). */
static char *target_path(const struct nexo_host *h, nexo_ctx *c, const struct offer *o)
{
    char *dir = downloads_dir(h, c);
    if (!dir)
        return NULL;
    const char *comp = h->info(c, NX_OFFER_COMPONENT);
    const char *ver = h->info(c, NX_OFFER_VERSION);
    char scomp[128], sver[128], ext[16];
    safe_part(scomp, sizeof scomp, comp ? comp : h->info(c, "component"));
    safe_part(sver, sizeof sver, ver ? ver : h->info(c, "to_version"));
    url_ext(o->url, ext, sizeof ext);
    char *p = nx_xasprintf("%s/%s-%s-%.16s.%s", dir, scomp, sver, o->sha, ext);
    free(dir);
    return p;
}

static int make_dir(const struct nexo_host *h, nexo_ctx *c, const char *dir)
{
    nx_err e;
    if (nx_mkdirs(dir, 0700, &e) != 0)
        return h->fail(c, NEXO_EIO, "%s", e.msg);
    if (chmod(dir, 0700) != 0)
        return h->fail(c, NEXO_EIO, "%s: chmod: %s", dir, strerror(errno));
    return 0;
}

static int remove_file(const struct nexo_host *h, nexo_ctx *c, const char *path)
{
    if (unlink(path) != 0 && errno != ENOENT)
        return h->fail(c, NEXO_EIO, "%s: cannot remove: %s", path, strerror(errno));
    return 0;
}

/* 1: `path` is a regular file of the offered size and sha256; 0: it is
 * not there (anything else there is removed); <0: error. */
static int complete_file(const struct nexo_host *h, nexo_ctx *c, const struct offer *o,
                         const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : h->fail(c, NEXO_EIO, "%s: %s", path, strerror(errno));
    char hex[NX_SHA256_HEX];
    uint64_t size = 0;
    nx_err e;
    int good = S_ISREG(st.st_mode) && (uint64_t)st.st_size == o->size &&
               nx_sha256_file(path, hex, &size, &e) == 0 && size == o->size &&
               strcmp(hex, o->sha) == 0;
    if (good)
        return 1;
    h->log(c, NEXO_LOG_WARN, "%s is not the offered package; removing it", path);
    int rc = remove_file(h, c, path);
    return rc ? rc : 0;
}

/* ---- the transfer ------------------------------------------------------- */

enum body_mode { BODY_UNSEEN, BODY_KEEP, BODY_DISCARD };

struct dl {
    const struct nexo_host *h;
    nexo_ctx *c;
    const struct offer *o;
    const char *part;
    int fd;
    nx_sha256 *sha;
    uint64_t got;          /* bytes in the part file */
    uint64_t reported;     /* last progress reported */
    enum body_mode mode;   /* of the current response */
    uint64_t discarded;
    int too_much;          /* the server sent more than size_bytes */
    int io_err;            /* errno of a failed write */
    int restarted;         /* a Range request was answered with 200 */
    long long quiet_ms;    /* [server] timeout */
    long long last_ms;     /* when the last byte came (or the request began) */
    int stalled;           /* nothing came for quiet_ms */
    long long deadline_ms; /* end of [server] download_timeout (0: none) */
    long long limit_s;     /* that setting, for messages */
    int overdue;           /* the deadline passed */
    char errbuf[CURL_ERROR_SIZE];
};

static int write_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static void sha_restart(struct dl *d)
{
    char junk[NX_SHA256_HEX];
    nx_sha256_final(d->sha, junk);
    d->sha = nx_sha256_new();
}

/* Feed the first `len` bytes of fd into the digest; leaves the offset at
 * the end of them. */
static int hash_prefix(struct dl *d, uint64_t len)
{
    char *buf = nx_xmalloc(IO_CHUNK);
    int rc = lseek(d->fd, 0, SEEK_SET) == 0 ? 0 : -1;
    for (uint64_t done = 0; rc == 0 && done < len;) {
        size_t want = len - done < IO_CHUNK ? (size_t)(len - done) : IO_CHUNK;
        ssize_t r = read(d->fd, buf, want);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            errno = r == 0 ? EIO : errno;
            rc = -1;
            break;
        }
        nx_sha256_update(d->sha, buf, (size_t)r);
        done += (uint64_t)r;
    }
    free(buf);
    return rc;
}

/* What to do with the body of a response, decided at its first byte:
 * keep the file's bytes, read and drop those of an error or redirect. */
static void body_start(struct dl *d, CURL *k)
{
    long status = 0;
    curl_easy_getinfo(k, CURLINFO_RESPONSE_CODE, &status);
    d->mode = status == 200 || status == 206 ? BODY_KEEP : BODY_DISCARD;
}

/* A Range request answered with the whole file (libcurl refuses to
 * append it): drop the part and its digest, ask again from byte 0. */
static int start_over(struct dl *d)
{
    d->h->log(d->c, NEXO_LOG_INFO, "the server ignored the Range request; starting over");
    d->restarted = 1;
    if (ftruncate(d->fd, 0) != 0 || lseek(d->fd, 0, SEEK_SET) != 0)
        return d->h->fail(d->c, NEXO_EIO, "%s: truncate: %s", d->part, strerror(errno));
    d->got = 0;
    d->reported = 0;
    sha_restart(d);
    return 0;
}

struct body_ctx {
    struct dl *d;
    CURL *k;
};

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    struct body_ctx *bc = ud;
    struct dl *d = bc->d;
    size_t len = sz * n;
    d->last_ms = nx_mono_ms();
    if (d->mode == BODY_UNSEEN)
        body_start(d, bc->k);
    if (d->mode == BODY_DISCARD) {
        d->discarded += len;
        return d->discarded > DISCARD_MAX ? 0 : len;
    }
    if (len > d->o->size - d->got) {
        d->too_much = 1;
        return 0;
    }
    if (write_all(d->fd, p, len) != 0) {
        d->io_err = errno;
        return 0;
    }
    nx_sha256_update(d->sha, p, len);
    d->got += len;
    return len;
}

static void report(struct dl *d)
{
    uint64_t step = d->o->size / 200 + 1;
    if (d->got > d->reported && (d->got - d->reported >= step || d->got == d->o->size)) {
        d->reported = d->got;
        d->h->progress(d->c, "download", d->got, d->o->size);
    }
}

/* libcurl calls this about once a second and after each chunk. */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    struct dl *d = ud;
    long long now = nx_mono_ms();
    if (now - d->last_ms > d->quiet_ms) {
        d->stalled = 1;
        return 1; /* abort: the server went quiet */
    }
    if (d->deadline_ms && now >= d->deadline_ms) {
        d->overdue = 1;
        return 1; /* abort: the whole download took too long */
    }
    report(d);
    return 0;
}

/* Protocols, TLS and time limits. */
static void set_rules(CURL *k, const struct server *s)
{
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(k, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(k, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(k, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    curl_easy_setopt(k, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    /* redirects are followed by transfer(), hop by hop, through url_policy */
    curl_easy_setopt(k, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(k, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(k, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(k, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (s->ca_file)
        curl_easy_setopt(k, CURLOPT_CAINFO, s->ca_file);
    /* no total timeout (big packages): on_progress ends a transfer after
     * `timeout` s without a byte; libcurl's low-speed limit (which
     * averages over a few seconds) is the backstop */
    curl_easy_setopt(k, CURLOPT_CONNECTTIMEOUT, s->timeout);
    curl_easy_setopt(k, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(k, CURLOPT_LOW_SPEED_TIME, s->timeout);
    curl_easy_setopt(k, CURLOPT_NOSIGNAL, 1L);
}

static CURL *make_curl(const struct nexo_host *h, const struct server *s, struct dl *d,
                       struct body_ctx *bc)
{
    CURL *k = curl_easy_init();
    if (!k)
        return NULL;
    set_rules(k, s);
    d->quiet_ms = (long long)s->timeout * 1000;
    char ua[128];
    snprintf(ua, sizeof ua, "nexo-update/%s", h->version ? h->version : "0");
    curl_easy_setopt(k, CURLOPT_USERAGENT, ua); /* copied by libcurl */
    curl_easy_setopt(k, CURLOPT_BUFFERSIZE, 256L * 1024);
    curl_easy_setopt(k, CURLOPT_ERRORBUFFER, d->errbuf);
    curl_easy_setopt(k, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(k, CURLOPT_WRITEDATA, bc);
    curl_easy_setopt(k, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(k, CURLOPT_XFERINFODATA, d);
    curl_easy_setopt(k, CURLOPT_NOPROGRESS, 0L);
    bc->k = k;
    return k;
}

struct hop {
    CURLcode rc;
    long status;
    char *next;     /* Location of a redirect (malloc'ed) */
};

/* One request to `url`, from the part file's current size. */
static void request(CURL *k, struct dl *d, const struct server *s, const char *url,
                    struct hop *r)
{
    struct curl_slist *hdr = NULL;
    char *auth = NULL;
    if (s->api_key && same_origin(url, s->url)) {
        auth = nx_xasprintf("Authorization: Bearer %s", s->api_key);
        hdr = curl_slist_append(hdr, auth);
    }
    curl_easy_setopt(k, CURLOPT_URL, url);
    curl_easy_setopt(k, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(k, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)d->got);
    d->mode = BODY_UNSEEN;
    d->discarded = 0;
    d->errbuf[0] = '\0';
    d->last_ms = nx_mono_ms();
    memset(r, 0, sizeof *r);
    if (d->deadline_ms) {
        long long left = d->deadline_ms - d->last_ms;
        if (left <= 0) {
            d->overdue = 1;
            r->rc = CURLE_OPERATION_TIMEDOUT;
            curl_easy_setopt(k, CURLOPT_HTTPHEADER, NULL);
            curl_slist_free_all(hdr);
            free(auth);
            return;
        }
        curl_easy_setopt(k, CURLOPT_TIMEOUT_MS, (long)left);
    }
    r->rc = curl_easy_perform(k);
    if (r->rc == CURLE_OPERATION_TIMEDOUT && d->deadline_ms && nx_mono_ms() >= d->deadline_ms)
        d->overdue = 1;
    curl_easy_getinfo(k, CURLINFO_RESPONSE_CODE, &r->status);
    char *loc = NULL;
    if (r->status >= 300 && r->status < 400 &&
        curl_easy_getinfo(k, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc)
        r->next = nx_xstrdup(loc);
    curl_easy_setopt(k, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdr);
    free(auth);
}

static const char *curl_reason(const struct dl *d, CURLcode rc, char *buf, size_t len)
{
    if (d->overdue) {
        snprintf(buf, len, "the whole download took longer than [server] download_timeout = "
                 "%lld s", d->limit_s);
        return buf;
    }
    if (d->stalled) {
        snprintf(buf, len, "nothing received for %lld s, [server] timeout", d->quiet_ms / 1000);
        return buf;
    }
    return d->errbuf[0] ? d->errbuf : curl_easy_strerror(rc);
}

/* The result of the last hop as the step's result. */
static int judge(struct dl *d, const char *url, const struct hop *r)
{
    const struct nexo_host *h = d->h;
    nexo_ctx *c = d->c;
    uint64_t size = d->o->size;
    char why[128];
    if (d->too_much) {
        remove_file(h, c, d->part);
        return h->fail(c, NEXO_EVERIFY, "%s: server sent more than the offered %" PRIu64
                       " bytes; refused and removed the partial download", url, size);
    }
    if (d->io_err)
        return h->fail(c, NEXO_EIO, "%s: cannot write: %s", d->part, strerror(d->io_err));
    if (d->overdue)
        return h->fail(c, NEXO_EIO, "%s: download stopped at %" PRIu64 " of %" PRIu64 " bytes: "
                       "%s; the next attempt resumes", url, d->got, size,
                       curl_reason(d, r->rc, why, sizeof why));
    if (r->status == 416)
        remove_file(h, c, d->part); /* the part does not fit the server's file */
    if (r->status >= 400)
        return h->fail(c, r->status == 404 || r->status == 410 ? NEXO_ENOTFOUND : NEXO_EIO,
                       "%s: download failed: HTTP status %ld", url, r->status);
    if (r->status >= 300 && r->status < 400)
        return h->fail(c, NEXO_EIO, "%s: HTTP status %ld without a usable redirect", url,
                       r->status);
    if (r->rc != CURLE_OK && r->status == 0)
        return h->fail(c, NEXO_EIO, "%s: download failed: %s", url, curl_reason(d, r->rc, why, sizeof why));
    if (r->status != 200 && r->status != 206)
        return h->fail(c, NEXO_EIO, "%s: unexpected HTTP status %ld", url, r->status);
    if (d->got < size && r->rc != CURLE_OK)
        return h->fail(c, NEXO_EIO, "%s: download interrupted at %" PRIu64 " of %" PRIu64
                       " bytes (%s); the next attempt resumes", url, d->got, size,
                       curl_reason(d, r->rc, why, sizeof why));
    if (d->got < size)
        return h->fail(c, NEXO_EIO, "%s: download interrupted at %" PRIu64 " of %" PRIu64
                       " bytes; the next attempt resumes", url, d->got, size);
    return 0;
}

/* Request hop after hop until a response that is not a redirect; once
 * more from byte 0 when a server does not do Range requests. */
static int transfer(struct dl *d, const struct server *s, CURL *k)
{
    char *url = nx_xstrdup(d->o->url);
    int rc = 0;
    for (int hops = 0;; hops++) {
        struct hop r;
        request(k, d, s, url, &r);
        if (r.rc == CURLE_RANGE_ERROR && d->got > 0 && !d->restarted) {
            free(r.next);
            rc = start_over(d);
            if (rc)
                break;
            continue;
        }
        if (!r.next || d->too_much || d->io_err || d->overdue) {
            rc = judge(d, url, &r);
            free(r.next);
            break;
        }
        if (hops >= MAX_HOPS) {
            rc = d->h->fail(d->c, NEXO_EIO, "%s: more than %d redirects", d->o->url, MAX_HOPS);
            free(r.next);
            break;
        }
        d->h->log(d->c, NEXO_LOG_DEBUG, "%s redirects to %s", url, r.next);
        rc = url_policy(d->h, d->c, s, r.next);
        free(url);
        url = r.next;
        if (rc)
            break;
    }
    free(url);
    return rc;
}

/* Open (or create) the part file and hash what it already holds. */
static int open_part(struct dl *d)
{
    const struct nexo_host *h = d->h;
    d->fd = open(d->part, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (d->fd < 0)
        return h->fail(d->c, NEXO_EIO, "%s: cannot open: %s", d->part, strerror(errno));
    struct stat st;
    if (fstat(d->fd, &st) != 0 || !S_ISREG(st.st_mode) || fchmod(d->fd, 0600) != 0)
        return h->fail(d->c, NEXO_EIO, "%s: not a usable regular file", d->part);
    uint64_t have = (uint64_t)st.st_size;
    if (have >= d->o->size) {
        if (have)
            h->log(d->c, NEXO_LOG_WARN, "%s: %" PRIu64 " bytes, not fewer than offered; "
                   "starting over", d->part, have);
        have = 0;
        if (ftruncate(d->fd, 0) != 0)
            return h->fail(d->c, NEXO_EIO, "%s: truncate: %s", d->part, strerror(errno));
    }
    if (hash_prefix(d, have) != 0)
        return h->fail(d->c, NEXO_EIO, "%s: cannot read: %s", d->part, strerror(errno));
    d->got = have;
    if (have)
        h->log(d->c, NEXO_LOG_INFO, "resuming %s at %" PRIu64 " of %" PRIu64 " bytes", d->o->url,
               have, d->o->size);
    return 0;
}

/* The part is complete: check its sha256, put it in place. */
static int finish(struct dl *d, const char *target)
{
    const struct nexo_host *h = d->h;
    char hex[NX_SHA256_HEX];
    nx_sha256_final(d->sha, hex);
    d->sha = NULL;
    if (fsync(d->fd) != 0)
        return h->fail(d->c, NEXO_EIO, "%s: fsync: %s", d->part, strerror(errno));
    if (strcmp(hex, d->o->sha) != 0) {
        remove_file(h, d->c, d->part);
        return h->fail(d->c, NEXO_EVERIFY, "%s: sha256 mismatch: expected %s, got %s; removed "
                       "the download", d->o->url, d->o->sha, hex);
    }
    if (rename(d->part, target) != 0)
        return h->fail(d->c, NEXO_EIO, "%s: cannot rename to %s: %s", d->part, target,
                       strerror(errno));
    char *dir = nx_dirname(target);
    nx_err e;
    nx_fsync_dir(dir, &e);
    free(dir);
    return 0;
}

static int fetch(const struct nexo_host *h, nexo_ctx *c, const struct offer *o,
                 const struct server *s, const char *target)
{
    struct dl d = { .h = h, .c = c, .o = o, .fd = -1 };
    char *part = nx_xasprintf("%s.part", target);
    d.part = part;
    d.sha = nx_sha256_new();
    struct body_ctx bc = { .d = &d };
    long long t0 = nx_mono_ms();
    d.limit_s = s->deadline_s;
    d.deadline_ms = s->deadline_s ? t0 + (long long)s->deadline_s * 1000 : 0;
    int rc = open_part(&d);
    uint64_t resumed = d.got;
    if (rc == 0 && d.got < o->size) {
        CURL *k = make_curl(h, s, &d, &bc);
        rc = k ? transfer(&d, s, k) : h->fail(c, NEXO_ERROR, "cannot initialise libcurl");
        curl_easy_cleanup(k);
    }
    if (rc == 0) {
        report(&d);
        rc = finish(&d, target);
    }
    if (rc == 0) {
        double secs = (double)(nx_mono_ms() - t0) / 1000.0;
        h->log(c, NEXO_LOG_INFO, "downloaded %s (%" PRIu64 " bytes%s, sha256 ok) in %.1f s to %s",
               o->url, o->size, resumed && !d.restarted ? ", resumed" : "", secs, target);
    }
    if (rc && d.got == 0)
        unlink(part); /* nothing to resume */
    if (d.sha) {
        char junk[NX_SHA256_HEX];
        nx_sha256_final(d.sha, junk);
    }
    if (d.fd >= 0)
        close(d.fd);
    free(part);
    return rc;
}

/* ---- the step ----------------------------------------------------------- */

static int check_server(const struct nexo_host *h, nexo_ctx *c, const struct server *s)
{
    if (s->ca_file && access(s->ca_file, R_OK) != 0)
        return h->fail(c, NEXO_EINVAL, "[server] ca_file = %s: %s", s->ca_file, strerror(errno));
    for (const char *p = s->api_key; p && *p; p++)
        if (*p <= ' ' || *p == 0x7f)
            return h->fail(c, NEXO_EINVAL, "[server] api_key: only printable characters, no "
                                           "spaces");
    return 0;
}

static char *file_url_path(const char *url);

static int d_validate(const struct nexo_host *h, nexo_ctx *c)
{
    struct server s;
    struct offer o;
    int rc = read_server(h, c, &s);
    if (!rc)
        rc = check_server(h, c, &s);
    if (!rc)
        rc = read_offer(h, c, &o, 0);
    if (!rc && o.package && access(o.package, R_OK) != 0)
        rc = h->fail(c, NEXO_ENOTFOUND, "package %s: %s", o.package, strerror(errno));
    char *local = !rc && o.url && !o.package ? file_url_path(o.url) : NULL;
    if (local && access(local, R_OK) != 0)
        rc = h->fail(c, NEXO_ENOTFOUND, "%s: %s", o.url, strerror(errno));
    else if (!rc && o.url && !o.package && !local)
        rc = url_policy(h, c, &s, o.url);
    free(local);
    return rc;
}

/* A local package (install --package, a file:// repository): copied into
 * STATE/downloads through the one descriptor opened here and hashed on the
 * way, so that what was checked is what later steps read; the copy is
 * journaled (state "copy") before it is made and removed by undo and
 * commit. */
static int copy_local(const struct nexo_host *h, nexo_ctx *c, const struct offer *o, int in,
                      const char *copy, char hex[NX_SHA256_HEX], uint64_t *size)
{
    char *part = nx_xasprintf("%s.part", copy);
    int rc = 0;
    if (unlink(part) != 0 && errno != ENOENT)
        rc = h->fail(c, NEXO_EIO, "%s: cannot remove: %s", part, strerror(errno));
    int out = rc ? -1 : open(part, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (!rc && out < 0)
        rc = h->fail(c, NEXO_EIO, "%s: cannot create: %s", part, strerror(errno));
    nx_sha256 *sha = nx_sha256_new();
    char *buf = nx_xmalloc(IO_CHUNK);
    uint64_t got = 0;
    while (!rc) {
        ssize_t n = read(in, buf, IO_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = h->fail(c, NEXO_EIO, "%s: cannot read: %s", o->package, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        got += (uint64_t)n;
        if (o->size && got > o->size) {
            rc = h->fail(c, NEXO_EVERIFY, "%s: more than the offered %" PRIu64 " bytes; refused",
                         o->package, o->size);
            break;
        }
        nx_sha256_update(sha, buf, (size_t)n);
        if (write_all(out, buf, (size_t)n) != 0)
            rc = h->fail(c, NEXO_EIO, "%s: cannot write: %s", part, strerror(errno));
        else
            h->progress(c, "copy", got, o->size);
    }
    free(buf);
    nx_sha256_final(sha, hex);
    *size = got;
    if (!rc && fsync(out) != 0)
        rc = h->fail(c, NEXO_EIO, "%s: fsync: %s", part, strerror(errno));
    if (out >= 0)
        close(out);
    if (!rc && rename(part, copy) != 0)
        rc = h->fail(c, NEXO_EIO, "%s: cannot rename to %s: %s", part, copy, strerror(errno));
    if (rc)
        unlink(part);
    free(part);
    return rc;
}

static int use_local(const struct nexo_host *h, nexo_ctx *c, const struct offer *o)
{
    int in = open(o->package, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (in < 0)
        return h->fail(c, NEXO_ENOTFOUND, "%s: %s", o->package, strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(in, &st) != 0 || !S_ISREG(st.st_mode))
        rc = h->fail(c, NEXO_EINVAL, "%s: not a regular file", o->package);
    else if (o->size && (uint64_t)st.st_size != o->size)
        rc = h->fail(c, NEXO_EVERIFY, "%s: %" PRIu64 " bytes, the offer says %" PRIu64,
                     o->package, (uint64_t)st.st_size, o->size);
    char *dir = rc ? NULL : downloads_dir(h, c);
    if (!rc && !dir)
        rc = NEXO_EINVAL;
    if (!rc)
        rc = make_dir(h, c, dir);
    char *copy = NULL;
    if (!rc) {
        const char *comp = h->info(c, NX_OFFER_COMPONENT);
        const char *ver = h->info(c, NX_OFFER_VERSION);
        const char *id = h->info(c, "update_id");
        char scomp[128], sver[128], sid[64], ext[16];
        safe_part(scomp, sizeof scomp, comp ? comp : h->info(c, "component"));
        safe_part(sver, sizeof sver, ver ? ver : h->info(c, "to_version"));
        safe_part(sid, sizeof sid, id);
        name_ext(nx_basename(o->package), ext, sizeof ext);
        copy = nx_xasprintf("%s/%s-%s-local-%s.%s", dir, scomp, sver, sid, ext);
        rc = h->state_set(c, "copy", copy);
    }
    free(dir);
    char hex[NX_SHA256_HEX];
    uint64_t size = 0;
    if (!rc)
        rc = copy_local(h, c, o, in, copy, hex, &size);
    close(in);
    if (!rc && o->size && size != o->size)
        rc = h->fail(c, NEXO_EVERIFY, "%s: %" PRIu64 " bytes, the offer says %" PRIu64,
                     o->package, size, o->size);
    else if (!rc && o->sha[0] && strcmp(hex, o->sha) != 0)
        rc = h->fail(c, NEXO_EVERIFY, "%s: sha256 mismatch: expected %s, got %s", o->package,
                     o->sha, hex);
    if (rc && copy)
        unlink(copy);
    if (!rc && !o->sha[0])
        h->log(c, NEXO_LOG_INFO, "%s: no sha256 offered; its signature decides", o->package);
    if (!rc) {
        h->log(c, NEXO_LOG_INFO, "copied the local package %s (%" PRIu64 " bytes, sha256 %s) "
               "to %s", o->package, size, hex, copy);
        rc = h->shared_set(c, NX_SHARED_PACKAGE, copy);
    }
    if (!rc)
        rc = h->shared_set(c, NX_SHARED_PACKAGE_SHA256, hex);
    free(copy);
    return rc;
}

/* file:///PATH (or file://localhost/PATH), percent-decoded; NULL when the
 * URL is not a local file URL. A local repository's package is used where
 * it is, like a local package, once its size and sha256 match the offer. */
static char *file_url_path(const char *url)
{
    const char *p = NULL;
    if (strncmp(url, "file:///", 8) == 0)
        p = url + 7;
    else if (strncmp(url, "file://localhost/", 17) == 0)
        p = url + 16;
    if (!p)
        return NULL;
    char *out = nx_xmalloc(strlen(p) + 1), *o = out;
    for (; *p; p++) {
        unsigned v;
        if (*p == '%' && sscanf(p + 1, "%2x", &v) == 1 && v != 0 && p[1] && p[2]) {
            *o++ = (char)v;
            p += 2;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

static int download(const struct nexo_host *h, nexo_ctx *c, const struct offer *o,
                    const struct server *s, const char *target)
{
    int rc = h->state_set(c, "file", target);
    char *dir = rc ? NULL : nx_dirname(target);
    if (dir)
        rc = make_dir(h, c, dir);
    free(dir);
    int have = rc ? rc : complete_file(h, c, o, target);
    if (have < 0)
        return have;
    if (have == 1) {
        h->log(c, NEXO_LOG_INFO, "reusing %s (already downloaded; size and sha256 match)", target);
        h->progress(c, "download", o->size, o->size);
    } else {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        rc = fetch(h, c, o, s, target);
        curl_global_cleanup();
    }
    if (!rc)
        rc = h->shared_set(c, NX_SHARED_PACKAGE_SHA256, o->sha);
    return rc ? rc : h->shared_set(c, NX_SHARED_PACKAGE, target);
}

static int d_run(const struct nexo_host *h, nexo_ctx *c)
{
    struct server s;
    struct offer o;
    int rc = read_server(h, c, &s);
    if (!rc)
        rc = read_offer(h, c, &o, 1);
    if (rc)
        return rc;
    if (o.package)
        return use_local(h, c, &o);
    char *local = file_url_path(o.url);
    if (local) {
        struct offer lo = o;
        lo.package = local;
        h->log(c, NEXO_LOG_INFO, "%s is a local repository file: copying it", o.url);
        rc = use_local(h, c, &lo);
        free(local);
        return rc;
    }
    rc = url_policy(h, c, &s, o.url);
    char *target = rc ? NULL : target_path(h, c, &o);
    if (!target)
        return rc ? rc : NEXO_EINVAL;
    rc = download(h, c, &o, &s, target);
    free(target);
    return rc;
}

static int d_plan(const struct nexo_host *h, nexo_ctx *c)
{
    struct offer o;
    int rc = read_offer(h, c, &o, 1);
    if (rc)
        return rc;
    if (o.package) {
        h->log(c, NEXO_LOG_INFO, "would copy the local package %s", o.package);
        return 0;
    }
    char *local = file_url_path(o.url);
    if (local) {
        h->log(c, NEXO_LOG_INFO, "would copy %s (a file:// repository; %" PRIu64
               " bytes, sha256 %s)", local, o.size, o.sha);
        free(local);
        return 0;
    }
    char *target = target_path(h, c, &o);
    if (!target)
        return NEXO_EINVAL;
    struct stat st;
    int there = stat(target, &st) == 0;
    h->log(c, NEXO_LOG_INFO, "would download %s (%" PRIu64 " bytes, sha256 %s) to %s%s", o.url,
           o.size, o.sha, target, there ? " (already there: reused if it matches)" : "");
    free(target);
    return 0;
}

/* The private copy of a local package: nothing keeps it. */
static int remove_copy(const struct nexo_host *h, nexo_ctx *c)
{
    const char *copy = h->state_get(c, "copy");
    if (!copy)
        return 0;
    char *part = nx_xasprintf("%s.part", copy);
    int rc = remove_file(h, c, copy);
    if (!rc)
        rc = remove_file(h, c, part);
    free(part);
    return rc;
}

static int d_undo(const struct nexo_host *h, nexo_ctx *c)
{
    int rc = remove_copy(h, c);
    if (rc)
        return rc;
    const char *file = h->state_get(c, "file");
    if (!file)
        return 0;
    char *part = nx_xasprintf("%s.part", file);
    if (strcmp(h->info(c, "dry_run"), "1") == 0) {
        /* a dry run leaves nothing behind: the real run fetches again */
        int had = access(file, F_OK) == 0;
        rc = remove_file(h, c, file);
        if (!rc)
            rc = remove_file(h, c, part);
        if (!rc && had)
            h->log(c, NEXO_LOG_INFO, "removed %s (a dry run keeps nothing)", file);
        free(part);
        return rc;
    }
    if (access(file, F_OK) == 0)
        h->log(c, NEXO_LOG_INFO, "keeping %s (verified) for the next attempt", file);
    else if (access(part, F_OK) == 0)
        h->log(c, NEXO_LOG_INFO, "keeping %s: the next attempt resumes it", part);
    free(part);
    return 0;
}

static int d_commit(const struct nexo_host *h, nexo_ctx *c)
{
    int rc0 = remove_copy(h, c);
    if (rc0)
        return rc0;
    const char *file = h->state_get(c, "file");
    if (!file)
        return 0;
    char *part = nx_xasprintf("%s.part", file);
    int had = access(file, F_OK) == 0;
    int rc = remove_file(h, c, file);
    if (!rc)
        rc = remove_file(h, c, part);
    free(part);
    if (!rc && had)
        h->log(c, NEXO_LOG_INFO, "removed %s (the update stands)", file);
    return rc;
}

NEXO_STEP_MODULE = {
    NEXO_STEP_HEADER,
    .name = "download",
    .version = "1.0.0",
    .summary = "download the offered package into STATE/downloads (resumable, size and sha256 checked)",
    .flags = NEXO_STEP_PRECHECK,
    .settings = NULL,
    .validate = d_validate,
    .plan = d_plan,
    .run = d_run,
    .undo = d_undo,
    .commit = d_commit,
};
