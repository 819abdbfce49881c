/* E-mail through libcurl's SMTP (mail.h). */
#include "mail.h"
#include "buildconf.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define LINE_MAX_OCTETS 990  /* body lines are broken here (RFC 5322: 998) */
#define SUBJECT_MAX 900
#define PASSWORD_MAX 1024

/* ---- growing buffer ------------------------------------------------------- */

struct buf {
    char *p;
    size_t len, cap;
};

static void b_add(struct buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = nx_xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void b_str(struct buf *b, const char *s)
{
    b_add(b, s, strlen(s));
}

/* ---- configuration -------------------------------------------------------- */

/* local@domain: printable ASCII without blanks and the characters that
 * would need quoting; a domain of letters, digits, '-' and '.'. */
static int address_ok(const char *a)
{
    const char *at = strchr(a, '@');
    if (!at || at == a || strchr(at + 1, '@') || !at[1] || strlen(a) > 254)
        return 0;
    for (const char *p = a; p < at; p++)
        if (*p <= ' ' || *p >= 0x7f || strchr("<>()[]\\,;:\"", *p))
            return 0;
    for (const char *p = at + 1; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
            return 0;
    return at[1] != '.' && at[1] != '-';
}

static int split_to(nx_mail *m, const char *list, nx_err *e)
{
    const char *p = list;
    while (*p) {
        p += strspn(p, ", \t");
        size_t n = strcspn(p, ", \t");
        if (!n)
            break;
        char *a = nx_xstrndup(p, n);
        if (!address_ok(a)) {
            nx_seterr(e, "[notify] email: '%s' is not an e-mail address (expected "
                      "local@domain, several separated by commas)", a);
            free(a);
            return -1;
        }
        if (m->nto == NX_MAIL_MAX_RCPT) {
            nx_seterr(e, "[notify] email: more than %d addresses", NX_MAIL_MAX_RCPT);
            free(a);
            return -1;
        }
        m->to[m->nto++] = a;
        p += n;
    }
    return 0;
}

static int is_loopback(const char *host)
{
    return strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
           strcmp(host, "[::1]") == 0 || strcmp(host, "::1") == 0;
}

/* The URL's scheme and host; no credentials in it. */
static int check_url(nx_mail *m, nx_err *e)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *user = NULL;
    int rc = -1;
    if (!u || curl_url_set(u, CURLUPART_URL, m->url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        nx_seterr(e, "[notify] smtp_url: '%s' is not a URL (expected smtp://HOST[:PORT] or "
                  "smtps://HOST[:PORT])", m->url);
        goto out;
    }
    int tls = strcmp(scheme, "smtps") == 0;
    if (!tls && strcmp(scheme, "smtp") != 0) {
        nx_seterr(e, "[notify] smtp_url: '%s': expected smtp:// or smtps://", m->url);
        goto out;
    }
    if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
        nx_seterr(e, "[notify] smtp_url: '%s' holds a user name or password: give them as "
                  "[notify] user and password_file", m->url);
        goto out;
    }
    if (m->password && !tls && !m->starttls && !is_loopback(host)) {
        nx_seterr(e, "[notify] smtp_url %s: refusing to send the password of [notify] user "
                  "in clear text to %s: use smtps:// or starttls = true", m->url, host);
        goto out;
    }
    rc = 0;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(user);
    curl_url_cleanup(u);
    return rc;
}

/* The password: one line of a file only its owner can read. */
static int read_password(nx_mail *m, nx_err *e)
{
    const char *path = m->password_file;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        nx_seterr(e, "[notify] password_file %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode) || (st.st_mode & (S_IRWXG | S_IRWXO))) {
        if (S_ISREG(st.st_mode))
            nx_seterr(e, "[notify] password_file %s can be read or written by group or "
                      "others (mode %04o); run chmod 600 %s", path,
                      (unsigned)(st.st_mode & 07777), path);
        else
            nx_seterr(e, "[notify] password_file %s is not a regular file", path);
        close(fd);
        return -1;
    }
    char *pw = nx_xcalloc(1, PASSWORD_MAX + 1);
    size_t n = 0;
    while (n < PASSWORD_MAX) {
        ssize_t r = read(fd, pw + n, PASSWORD_MAX - n);
        if (r == 0)
            break;
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            nx_seterr(e, "[notify] password_file %s: %s", path, strerror(errno));
            close(fd);
            free(pw);
            return -1;
        }
        n += (size_t)r;
    }
    close(fd);
    while (n > 0 && (pw[n - 1] == '\n' || pw[n - 1] == '\r'))
        pw[--n] = '\0';
    const char *problem = n >= PASSWORD_MAX ? "is too long"
                        : memchr(pw, '\0', n) ? "holds a NUL byte"
                        : !n ? "is empty"
                        : strpbrk(pw, "\r\n") ? "holds more than one line" : NULL;
    if (problem) {
        nx_seterr(e, "[notify] password_file %s %s", path, problem);
        explicit_bzero(pw, PASSWORD_MAX);
        free(pw);
        return -1;
    }
    m->password = pw;
    return 0;
}

static int bool_value(const char *v)
{
    return v && (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "1") == 0);
}

int nx_mail_init(nx_mail *m, nx_mail_get_fn get, void *arg, nx_err *e)
{
    memset(m, 0, sizeof *m);
    const char *email = get(arg, "email");
    if (!email || !email[strspn(email, ", \t")])
        return 1;
    const char *url = get(arg, "smtp_url");
    const char *from = get(arg, "from");
    const char *user = get(arg, "user");
    const char *pwf = get(arg, "password_file");
    m->url = nx_xstrdup(url && *url ? url : "smtp://127.0.0.1:25");
    m->from = nx_xstrdup(from && *from ? from : "nexo-update@localhost");
    m->user = user && *user ? nx_xstrdup(user) : NULL;
    m->password_file = pwf && *pwf ? nx_xstrdup(pwf) : NULL;
    m->starttls = bool_value(get(arg, "starttls"));
    m->timeout_s = NX_MAIL_TIMEOUT_S;
    if (split_to(m, email, e) != 0)
        return -1;
    if (!address_ok(m->from)) {
        nx_seterr(e, "[notify] from: '%s' is not an e-mail address (expected local@domain)",
                  m->from);
        return -1;
    }
    if (m->password_file && !m->user) {
        nx_seterr(e, "[notify] password_file is set but [notify] user is not");
        return -1;
    }
    if (m->password_file && read_password(m, e) != 0)
        return -1;
    return check_url(m, e);
}

void nx_mail_free(nx_mail *m)
{
    free(m->url);
    free(m->from);
    for (size_t i = 0; i < m->nto; i++)
        free(m->to[i]);
    free(m->user);
    free(m->password_file);
    if (m->password) {
        explicit_bzero(m->password, strlen(m->password));
        free(m->password);
    }
    memset(m, 0, sizeof *m);
}

const char *nx_mail_to_text(const nx_mail *m, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < m->nto; i++) {
        int n = snprintf(buf + off, len - off, "%s%s", i ? ", " : "", m->to[i]);
        if (n < 0 || (size_t)n >= len - off)
            break;
        off += (size_t)n;
    }
    return buf;
}

/* ---- the message ---------------------------------------------------------- */

static void add_date(struct buf *b, time_t now)
{
    static const char *const day[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
    static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    struct tm tm;
    char s[80];
    gmtime_r(&now, &tm);
    snprintf(s, sizeof s, "Date: %s, %d %s %04d %02d:%02d:%02d +0000\r\n", day[tm.tm_wday % 7],
             tm.tm_mday, mon[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
             tm.tm_sec);
    b_str(b, s);
}

static void add_message_id(struct buf *b, const nx_mail *m, time_t now)
{
    unsigned char rnd[8] = { 0 };
    if (getrandom(rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd) {
        long long t = nx_now_ms() ^ ((long long)getpid() << 20);
        memcpy(rnd, &t, sizeof rnd);
    }
    char s[600];
    struct tm tm;
    gmtime_r(&now, &tm);
    int n = snprintf(s, sizeof s, "Message-ID: <%04d%02d%02d%02d%02d%02d.%ld.", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (long)getpid());
    for (size_t i = 0; i < sizeof rnd && n > 0 && (size_t)n < sizeof s - 3; i++)
        n += snprintf(s + n, sizeof s - (size_t)n, "%02x", rnd[i]);
    b_str(b, s);
    b_str(b, "@");
    b_str(b, strchr(m->from, '@') + 1);
    b_str(b, ">\r\n");
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void b64(struct buf *b, const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0) |
                     (i + 2 < n ? s[i + 2] : 0);
        char q[4] = { B64[v >> 18 & 63], B64[v >> 12 & 63],
                      i + 1 < n ? B64[v >> 6 & 63] : '=', i + 2 < n ? B64[v & 63] : '=' };
        b_add(b, q, 4);
    }
}

/* Subject: one line; ASCII folded at blanks before 78 columns, anything
 * else as RFC 2047 encoded words of whole UTF-8 characters. */
static void add_subject(struct buf *b, const char *subject)
{
    char s[SUBJECT_MAX + 1];
    snprintf(s, sizeof s, "%s", subject);
    int ascii = 1;
    for (char *p = s; *p; p++) {
        if (*p == '\r' || *p == '\n' || *p == '\t')
            *p = ' ';
        if ((unsigned char)*p >= 0x80 || (unsigned char)*p < ' ' || *p == 0x7f)
            ascii = 0;
    }
    b_str(b, "Subject:");
    size_t col = 8, len = strlen(s);
    if (ascii) {
        const char *p = s;
        while (*p) {
            size_t sp = strspn(p, " ");
            size_t w = strcspn(p + sp, " ");
            if (col + 1 + w > 78 && col > 9) {
                b_str(b, "\r\n");
                col = 0;
            }
            b_str(b, " ");
            b_add(b, p + sp, w);
            col += 1 + w;
            p += sp + w;
        }
        b_str(b, "\r\n");
        return;
    }
    for (size_t i = 0; i < len;) {
        size_t n = len - i < 45 ? len - i : 45;
        while (i + n < len && n > 1 && ((unsigned char)s[i + n] & 0xC0) == 0x80)
            n--;
        b_str(b, i ? "\r\n =?UTF-8?B?" : " =?UTF-8?B?");
        b64(b, (const unsigned char *)s + i, n);
        b_str(b, "?=");
        i += n;
    }
    b_str(b, "\r\n");
}

/* Body: CRLF line ends (CR, LF and CRLF alike), lines broken before 998
 * octets at a UTF-8 character boundary, a final CRLF. */
static void add_body(struct buf *b, const char *body)
{
    const char *p = body;
    while (*p) {
        size_t n = strcspn(p, "\r\n");
        const char *line = p;
        p += n;
        if (*p == '\r' && p[1] == '\n')
            p += 2;
        else if (*p)
            p++;
        while (n > LINE_MAX_OCTETS) {
            size_t cut = LINE_MAX_OCTETS;
            while (cut > 1 && ((unsigned char)line[cut] & 0xC0) == 0x80)
                cut--;
            b_add(b, line, cut);
            b_str(b, "\r\n");
            line += cut;
            n -= cut;
        }
        b_add(b, line, n);
        b_str(b, "\r\n");
    }
}

char *nx_mail_format(const nx_mail *m, const char *subject, const char *body, time_t now)
{
    struct buf b = { 0 };
    add_date(&b, now);
    b_str(&b, "From: ");
    b_str(&b, m->from);
    b_str(&b, "\r\nTo:");
    size_t col = 3;
    for (size_t i = 0; i < m->nto; i++) { /* folded before 78 columns */
        size_t n = strlen(m->to[i]);
        if (i && col + n + 2 > 78) {
            b_str(&b, ",\r\n ");
            col = 1;
        } else {
            b_str(&b, i ? ", " : " ");
            col += i ? 2 : 1;
        }
        b_str(&b, m->to[i]);
        col += n;
    }
    b_str(&b, "\r\n");
    add_subject(&b, subject);
    add_message_id(&b, m, now);
    b_str(&b, "MIME-Version: 1.0\r\n"
              "Content-Type: text/plain; charset=UTF-8\r\n"
              "Content-Transfer-Encoding: 8bit\r\n"
              "Auto-Submitted: auto-generated\r\n"
              "X-Mailer: nexo-update " NX_VERSION "\r\n"
              "\r\n");
    add_body(&b, body);
    return b.p;
}

/* ---- sending -------------------------------------------------------------- */

struct upload {
    const char *p;
    size_t left;
};

static size_t read_cb(char *dst, size_t size, size_t nmemb, void *arg)
{
    struct upload *u = arg;
    size_t n = size * nmemb < u->left ? size * nmemb : u->left;
    memcpy(dst, u->p, n);
    u->p += n;
    u->left -= n;
    return n;
}

int nx_mail_send(const nx_mail *m, const char *subject, const char *body, nx_err *e)
{
    char to[4096];
    nx_mail_to_text(m, to, sizeof to);
    CURL *h = curl_easy_init();
    if (!h) {
        nx_seterr(e, "mail to %s through %s: cannot start libcurl", to, m->url);
        return -1;
    }
    char *msg = nx_mail_format(m, subject, body, time(NULL));
    struct upload up = { msg, strlen(msg) };
    struct curl_slist *rcpt = NULL;
    for (size_t i = 0; i < m->nto; i++) {
        char *a = nx_xasprintf("<%s>", m->to[i]);
        rcpt = curl_slist_append(rcpt, a);
        free(a);
    }
    char *from = nx_xasprintf("<%s>", m->from);
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, m->url);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
#else
    curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_SMTP | CURLPROTO_SMTPS));
#endif
    curl_easy_setopt(h, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(h, CURLOPT_READDATA, &up);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)up.left);
    curl_easy_setopt(h, CURLOPT_USE_SSL, m->starttls ? (long)CURLUSESSL_ALL : (long)CURLUSESSL_NONE);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, m->timeout_s);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, m->timeout_s);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    if (m->user)
        curl_easy_setopt(h, CURLOPT_USERNAME, m->user);
    if (m->password)
        curl_easy_setopt(h, CURLOPT_PASSWORD, m->password);
    CURLcode cc = curl_easy_perform(h);
    int rc = 0;
    if (cc != CURLE_OK) {
        long reply = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &reply);
        char code[48] = "";
        if (reply)
            snprintf(code, sizeof code, " (last SMTP reply %ld)", reply);
        nx_seterr(e, "mail to %s through %s failed: %s%s%s%s", to, m->url,
                  curl_easy_strerror(cc), errbuf[0] ? ": " : "", errbuf, code);
        rc = -1;
    }
    curl_easy_cleanup(h);
    curl_slist_free_all(rcpt);
    free(from);
    free(msg);
    return rc;
}
