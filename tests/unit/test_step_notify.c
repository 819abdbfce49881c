/* The notify step through the fake host, and the mail library it uses
 * (core/mail.c): the [notify] checks, the message format, and real SMTP
 * dialogues with a minimal server forked on loopback (one connection
 * each; it records the DATA as it arrives, dot-stuffed). */
#include <check.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fakehost.h"
#include "loader.h"
#include "mail.h"

static nx_module *mod;
static char dir[64];
static char root[128];
static char data_file[128];

static void setup(void)
{
    nx_err e;
    mod = nx_module_load(NX_TEST_BINDIR "/modules/steps/notify.so", NX_STEP, &e);
    ck_assert_msg(mod != NULL, "%s", e.msg);
    snprintf(dir, sizeof dir, "/tmp/nx-notify-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(root, sizeof root, "%s/site", dir);
    snprintf(data_file, sizeof data_file, "%s/data.txt", dir);
    ck_assert_int_eq(mkdir(root, 0755), 0);
    char core[160];
    snprintf(core, sizeof core, "%s/core", root);
    ck_assert_int_eq(mkdir(core, 0755), 0);
    strcat(core, "/version.php");
    FILE *f = fopen(core, "w");
    fputs("<?php\nreturn ['version' => '1.0.0'];\n", f);
    fclose(f);
}

static void teardown(void)
{
    nx_err e;
    nx_rmtree(dir, &e);
    nx_module_unload(mod);
}

/* ---- a minimal SMTP server -------------------------------------------------- */

static int listen_loopback(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(fd, 4), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* A port nobody listens on. */
static int closed_port(void)
{
    int port;
    close(listen_loopback(&port));
    return port;
}

static void say(int fd, const char *s)
{
    ssize_t n = write(fd, s, strlen(s));
    (void)n;
}

/* Read one CRLF-ended line (without it) into buf; 0 at the end. */
static int get_line(int fd, char *buf, size_t len)
{
    size_t n = 0;
    char ch;
    while (read(fd, &ch, 1) == 1) {
        if (ch == '\n') {
            if (n && buf[n - 1] == '\r')
                n--;
            buf[n] = '\0';
            return 1;
        }
        if (n + 1 < len)
            buf[n++] = ch;
    }
    return 0;
}

/* The child: one dialogue; the DATA lines, as sent, into data_file. */
static void serve_one(int lfd)
{
    int fd = accept(lfd, NULL, NULL);
    FILE *out = fopen(data_file, "w");
    char line[4096];
    if (fd < 0 || !out)
        _exit(1);
    say(fd, "220 tiny ESMTP\r\n");
    while (get_line(fd, line, sizeof line)) {
        if (strncmp(line, "EHLO", 4) == 0) {
            say(fd, "250 tiny\r\n");
        } else if (strncmp(line, "DATA", 4) == 0) {
            say(fd, "354 go on\r\n");
            while (get_line(fd, line, sizeof line) && strcmp(line, ".") != 0)
                fprintf(out, "%s\n", line);
            fclose(out);
            out = NULL;
            say(fd, "250 queued\r\n");
        } else if (strncmp(line, "QUIT", 4) == 0) {
            say(fd, "221 bye\r\n");
            break;
        } else {
            say(fd, "250 ok\r\n");
        }
    }
    if (out)
        fclose(out);
    close(fd);
    _exit(0);
}

static pid_t server(int *port)
{
    int lfd = listen_loopback(port);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        serve_one(lfd);
    close(lfd);
    return pid;
}

static void server_wait(pid_t pid)
{
    int st;
    alarm(30);
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    alarm(0);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static char *received(void)
{
    nx_err e;
    char *text = NULL;
    size_t len;
    ck_assert_msg(nx_read_file(data_file, &text, &len, 0, &e) == 0, "%s", e.msg);
    return text;
}

/* ---- the fake host ---------------------------------------------------------- */

static void host(struct fakehost *fh, const char *on, int port)
{
    fh_init(fh, mod->step);
    json_object_set_new(fh->settings, "on", json_string(on));
    json_object_set_new(fh->info, "root", json_string(root));
    json_object_set_new(fh->info, "component", json_string("core"));
    json_object_set_new(fh->info, "component_dir", json_string(""));
    json_object_set_new(fh->info, "from_version", json_string("1.0.0"));
    json_object_set_new(fh->info, "to_version", json_string("1.1.0"));
    json_object_set_new(fh->info, "pipeline", json_string("core"));
    json_object_set_new(fh->info, "state_dir", json_string("/var/lib/nexo-update"));
    if (port) {
        char url[64];
        snprintf(url, sizeof url, "smtp://127.0.0.1:%d", port);
        json_object_set_new(fh->config, "notify.email", json_string("admin@example.org"));
        json_object_set_new(fh->config, "notify.smtp_url", json_string(url));
        json_object_set_new(fh->config, "notify.from", json_string("nexo@example.org"));
    }
}

#define HAS(hay, needle) ck_assert_msg(strstr((hay), (needle)) != NULL, \
                                       "'%s' not in:\n%s", (needle), (hay))

START_TEST(failure_mail_from_undo)
{
    int port;
    pid_t pid = server(&port);
    struct fakehost fh;
    host(&fh, "failure", port);
    ck_assert_int_eq(fh_call(&fh, "validate"), 0);
    ck_assert_int_eq(fh_call(&fh, "run"), 0); /* nothing to do */
    json_object_set_new(fh.info, "error", json_string("[replace] disk full\n.\nsecond line"));
    json_object_set_new(fh.info, "undone", json_string("replace, migrate, backup"));
    ck_assert_int_eq(fh_call(&fh, "undo"), 0);
    server_wait(pid);
    char *d = received();
    HAS(d, "Subject: [nexo-update] FAILED: core 1.0.0 -> 1.1.0 on ");
    HAS(d, "\nUpdate id:         20260101-000000-00000000\n");
    HAS(d, "\nVersion:           1.0.0 -> 1.1.0\n");
    HAS(d, "\nError:             [replace] disk full\n..\nsecond line\n"); /* dot-stuffed */
    HAS(d, "\nRolled back:       replace, migrate, backup\n");
    HAS(d, "\nOld version back:  yes: ");
    HAS(d, "/site/core/version.php says 1.0.0\n");
    HAS(d, "\nMaintenance mode:  off\n");
    HAS(d, "/var/lib/nexo-update/journal/20260101-000000-00000000.jnl");
    free(d);
    ck_assert_str_eq(json_string_value(json_object_get(fh.state, "mailed")), "1");
    HAS(fh.logbuf, "mailed the failure of the update to admin@example.org");
    /* a repeated undo in a fresh process (recover): not mailed again */
    struct fakehost fresh;
    host(&fresh, "failure", closed_port());
    json_object_update(fresh.state, fh.state);
    ck_assert_int_eq(fh_call(&fresh, "undo"), 0);
    HAS(fresh.logbuf, "the failure was mailed before");
    ck_assert_ptr_null(strstr(fresh.logbuf, "1:"));
    fh_free(&fh);
    fh_free(&fresh);
}
END_TEST

START_TEST(failure_mail_site_not_back)
{
    int port;
    pid_t pid = server(&port);
    struct fakehost fh;
    host(&fh, "failure", port);
    json_object_set_new(fh.info, "from_version", json_string("0.9.0"));
    json_object_set_new(fh.info, "recovering", json_string("1"));
    json_object_set_new(fh.info, "error", json_string("interrupted"));
    char flag[200];
    snprintf(flag, sizeof flag, "%s/MAINTENANCE", root);
    FILE *f = fopen(flag, "w");
    fclose(f);
    ck_assert_int_eq(fh_call(&fh, "undo"), 0);
    server_wait(pid);
    char *d = received();
    HAS(d, "failed and was rolled back by 'nexo-update recover'");
    HAS(d, "\nError:             interrupted\n");
    HAS(d, "\nRolled back:       no step had to be undone\n");
    HAS(d, "/site/core/version.php says 1.0.0, not 0.9.0: run 'nexo-update status'");
    HAS(d, "\nMaintenance mode:  ON (");
    free(d);
    fh_free(&fh);
}
END_TEST

START_TEST(success_mail_from_run)
{
    int port;
    pid_t pid = server(&port);
    struct fakehost fh;
    host(&fh, "success", port);
    json_object_set_new(fh.shared, "maintenance_since", json_string("1700000000.250"));
    json_object_set_new(fh.shared, "maintenance_until", json_string("1700000001.750"));
    ck_assert_int_eq(fh_call(&fh, "run"), 0);
    server_wait(pid);
    char *d = received();
    HAS(d, "Subject: [nexo-update] core updated 1.0.0 -> 1.1.0 on ");
    HAS(d, "\nMaintenance mode:  1.50 s\n");
    HAS(d, "\nPipeline:          core\n");
    ck_assert_ptr_null(strstr(d, "\r")); /* CRLF on the wire, one line each here */
    free(d);
    ck_assert_int_eq(fh_call(&fh, "undo"), 0); /* nothing to undo, nothing mailed */
    fh_free(&fh);
}
END_TEST

START_TEST(unsent_mail_is_a_warning)
{
    int port = closed_port();
    char url[64];
    snprintf(url, sizeof url, "smtp://127.0.0.1:%d", port);
    struct fakehost fh;
    host(&fh, "success", port);
    ck_assert_int_eq(fh_call(&fh, "run"), 0);
    HAS(fh.logbuf, "1:the success of the update was not mailed: mail to admin@example.org "
                   "through ");
    HAS(fh.logbuf, url);
    HAS(fh.logbuf, "Couldn't connect to server");
    fh_free(&fh);
    host(&fh, "failure", port);
    ck_assert_int_eq(fh_call(&fh, "undo"), 0);
    HAS(fh.logbuf, "1:the failure of the update was not mailed: ");
    ck_assert_ptr_null(json_object_get(fh.state, "mailed")); /* recover tries again */
    fh_free(&fh);
}
END_TEST

START_TEST(nothing_configured)
{
    struct fakehost fh;
    host(&fh, "success", 0);
    ck_assert_int_eq(fh_call(&fh, "validate"), 0);
    ck_assert_int_eq(fh_call(&fh, "plan"), 0);
    ck_assert_int_eq(fh_call(&fh, "run"), 0);
    HAS(fh.logbuf, "no [notify] email");
    ck_assert_ptr_null(strstr(fh.logbuf, "1:"));
    fh_free(&fh);
    host(&fh, "failure", 0);
    json_object_set_new(fh.config, "notify.email", json_string(""));
    ck_assert_int_eq(fh_call(&fh, "undo"), 0);
    ck_assert_ptr_null(strstr(fh.logbuf, "1:"));
    fh_free(&fh);
}
END_TEST

START_TEST(validate_and_plan)
{
    struct fakehost fh;
    host(&fh, "sideways", 25);
    ck_assert_int_eq(fh_call(&fh, "validate"), NEXO_EINVAL);
    HAS(fh.msg, "on = sideways: expected success or failure");
    fh_free(&fh);
    /* a bad [notify] setting: a warning, never a refused update */
    host(&fh, "failure", 25);
    json_object_set_new(fh.config, "notify.email", json_string("root"));
    ck_assert_int_eq(fh_call(&fh, "validate"), 0);
    HAS(fh.logbuf, "1:a failure will not be mailed: [notify] email: 'root' is not an e-mail "
                   "address");
    fh_free(&fh);
    host(&fh, "failure", 25);
    ck_assert_int_eq(fh_call(&fh, "plan"), 0);
    HAS(fh.logbuf, "would mail a failure to admin@example.org through smtp://127.0.0.1:25");
    fh_free(&fh);
}
END_TEST

/* ---- the mail library ----------------------------------------------------------- */

static const char *kv_get(void *arg, const char *key)
{
    return json_string_value(json_object_get(arg, key));
}

/* nx_mail_init on {"key": value}; the result, e in msg. */
static int init_with(json_t *kv, nx_mail *m, char *msg, size_t len)
{
    nx_err e = { { 0 } };
    int rc = nx_mail_init(m, kv_get, kv, &e);
    snprintf(msg, len, "%s", e.msg);
    return rc;
}

static char *pw_file(const char *text, int mode)
{
    char *path = nx_xasprintf("%s/pw-%o", dir, (unsigned)mode);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    chmod(path, (mode_t)mode);
    return path;
}

START_TEST(mail_settings_checked)
{
    static const struct {
        const char *json;
        int rc;
        const char *msg;
    } cases[] = {
        { "{}", 1, "" },
        { "{\"email\": \" , \"}", 1, "" },
        { "{\"email\": \"a@example.org\"}", 0, "" },
        { "{\"email\": \"a@example.org, b@example.org c@example.org\"}", 0, "" },
        { "{\"email\": \"root\"}", -1, "[notify] email: 'root' is not an e-mail address" },
        { "{\"email\": \"a@b.org\", \"from\": \"x y@b.org\"}", -1,
          "[notify] from: 'x y@b.org' is not an e-mail address" },
        { "{\"email\": \"a@b.org\", \"smtp_url\": \"ftp://mail.example.org\"}", -1,
          "[notify] smtp_url: 'ftp://mail.example.org': expected smtp:// or smtps://" },
        { "{\"email\": \"a@b.org\", \"smtp_url\": \"smtp://u:p@mail.example.org\"}", -1,
          "holds a user name or password: give them as [notify] user and password_file" },
        { "{\"email\": \"a@b.org\", \"password_file\": \"/x\"}", -1,
          "[notify] password_file is set but [notify] user is not" },
        { "{\"email\": \"a@b.org\", \"user\": \"u\", \"password_file\": \"/nonexistent/pw\"}",
          -1, "[notify] password_file /nonexistent/pw: No such file or directory" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_error_t je;
        json_t *kv = json_loads(cases[i].json, 0, &je);
        nx_mail m;
        char msg[NX_ERRLEN];
        ck_assert_ptr_nonnull(kv);
        int rc = init_with(kv, &m, msg, sizeof msg);
        ck_assert_msg(rc == cases[i].rc, "%s: %d (%s)", cases[i].json, rc, msg);
        ck_assert_msg(strstr(msg, cases[i].msg), "%s: '%s' not in '%s'", cases[i].json,
                      cases[i].msg, msg);
        if (i == 3)
            ck_assert_uint_eq(m.nto, 3);
        nx_mail_free(&m);
        json_decref(kv);
    }
}
END_TEST

START_TEST(mail_password_rules)
{
    nx_mail m;
    char msg[NX_ERRLEN];
    char *loose = pw_file("s3cret\n", 0644), *tight = pw_file("s3cret\n", 0600);
    json_t *kv = json_pack("{s:s, s:s, s:s, s:s}", "email", "a@b.org", "user", "mailer",
                           "password_file", loose, "smtp_url", "smtp://127.0.0.1:2525");
    ck_assert_int_eq(init_with(kv, &m, msg, sizeof msg), -1);
    HAS(msg, "can be read or written by group or others (mode 0644); run chmod 600");
    HAS(msg, loose);
    nx_mail_free(&m);
    json_object_set_new(kv, "password_file", json_string(tight));
    ck_assert_int_eq(init_with(kv, &m, msg, sizeof msg), 0);
    ck_assert_str_eq(m.password, "s3cret");
    nx_mail_free(&m);
    /* never in clear text beyond loopback */
    json_object_set_new(kv, "smtp_url", json_string("smtp://mail.example.org:587"));
    ck_assert_int_eq(init_with(kv, &m, msg, sizeof msg), -1);
    HAS(msg, "refusing to send the password of [notify] user in clear text to "
             "mail.example.org: use smtps:// or starttls = true");
    nx_mail_free(&m);
    json_object_set_new(kv, "starttls", json_string("true"));
    ck_assert_int_eq(init_with(kv, &m, msg, sizeof msg), 0);
    nx_mail_free(&m);
    json_object_set_new(kv, "starttls", json_string("false"));
    json_object_set_new(kv, "smtp_url", json_string("smtps://mail.example.org"));
    ck_assert_int_eq(init_with(kv, &m, msg, sizeof msg), 0);
    nx_mail_free(&m);
    char *empty = pw_file("\n", 0600);
    json_object_set_new(kv, "password_file", json_string(empty));
    ck_assert_int_eq(init_with(kv, &m, msg, sizeof msg), -1);
    HAS(msg, "is empty");
    nx_mail_free(&m);
    json_decref(kv);
    free(loose);
    free(tight);
    free(empty);
}
END_TEST

START_TEST(mail_format)
{
    nx_mail m;
    char msg[NX_ERRLEN];
    json_t *kv = json_pack("{s:s, s:s}", "email", "a@example.org, b@example.org", "from",
                           "nexo@example.org");
    ck_assert_int_eq(init_with(kv, &m, msg, sizeof msg), 0);
    char *longline = nx_xcalloc(1, 3001);
    memset(longline, 'x', 3000);
    char *body = nx_xasprintf("first\n.dot\nbare\rcr\r\n%s\nlast", longline);
    char *text = nx_mail_format(&m, "core 1.0.0 -> 1.1.0\r\nBcc: evil@example.org", body,
                                (time_t)1795596344);
    ck_assert_str_eq(strstr(text, "Date: "), text);
    HAS(text, "Date: Wed, 25 Nov 2026 08:45:44 +0000\r\n");
    HAS(text, "\r\nFrom: nexo@example.org\r\nTo: a@example.org, b@example.org\r\n");
    HAS(text, "\r\nSubject: core 1.0.0 -> 1.1.0 Bcc: evil@example.org\r\n");
    ck_assert_ptr_null(strstr(text, "\r\nBcc:"));
    HAS(text, "\r\nMessage-ID: <20261125084544.");
    HAS(text, "@example.org>\r\nMIME-Version: 1.0\r\n");
    HAS(text, "Content-Type: text/plain; charset=UTF-8\r\n");
    HAS(text, "\r\n\r\nfirst\r\n.dot\r\nbare\r\ncr\r\n"); /* libcurl dot-stuffs on the wire */
    /* every line ends in CRLF and none is longer than 998 octets */
    size_t lines = 0;
    for (const char *p = text; *p; lines++) {
        const char *e = strstr(p, "\r\n");
        ck_assert_ptr_nonnull(e);
        ck_assert_uint_le((size_t)(e - p), 998);
        ck_assert_ptr_null(memchr(p, '\n', (size_t)(e - p)));
        p = e + 2;
    }
    ck_assert_uint_gt(lines, 14);
    HAS(text, "\r\nlast\r\n");
    free(text);
    /* many recipients: To: folded, every line short */
    json_object_set_new(kv, "email", json_string("a-rather-long-mailbox-name-1@example.org "
                                                 "a-rather-long-mailbox-name-2@example.org "
                                                 "a-rather-long-mailbox-name-3@example.org"));
    nx_mail_free(&m);
    ck_assert_int_eq(init_with(kv, &m, msg, sizeof msg), 0);
    text = nx_mail_format(&m, "s", "x", (time_t)0);
    HAS(text, "\r\nTo: a-rather-long-mailbox-name-1@example.org,\r\n "
              "a-rather-long-mailbox-name-2@example.org,\r\n "
              "a-rather-long-mailbox-name-3@example.org\r\nSubject: s\r\n");
    free(text);
    /* a subject that is not ASCII: RFC 2047 encoded words */
    text = nx_mail_format(&m, "Actualización de núcleo disponible en el sitio de pruebas "
                          "número uno", "x", (time_t)0);
    HAS(text, "\r\nSubject: =?UTF-8?B?");
    HAS(text, "?=\r\n =?UTF-8?B?");
    HAS(text, "Date: Thu, 1 Jan 1970 00:00:00 +0000\r\n");
    free(text);
    free(body);
    free(longline);
    nx_mail_free(&m);
    json_decref(kv);
}
END_TEST

START_TEST(mail_send_error_names_url)
{
    nx_mail m;
    char msg[NX_ERRLEN];
    int port = closed_port();
    char *url = nx_xasprintf("smtp://127.0.0.1:%d", port);
    json_t *kv = json_pack("{s:s, s:s}", "email", "a@example.org", "smtp_url", url);
    ck_assert_int_eq(init_with(kv, &m, msg, sizeof msg), 0);
    nx_err e;
    ck_assert_int_eq(nx_mail_send(&m, "s", "b", &e), -1);
    char *want = nx_xasprintf("mail to a@example.org through %s failed: Couldn't connect", url);
    HAS(e.msg, want);
    free(want);
    free(url);
    nx_mail_free(&m);
    json_decref(kv);
}
END_TEST

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    Suite *s = suite_create("notify");
    TCase *tc = tcase_create("notify");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, failure_mail_from_undo);
    tcase_add_test(tc, failure_mail_site_not_back);
    tcase_add_test(tc, success_mail_from_run);
    tcase_add_test(tc, unsent_mail_is_a_warning);
    tcase_add_test(tc, nothing_configured);
    tcase_add_test(tc, validate_and_plan);
    tcase_add_test(tc, mail_settings_checked);
    tcase_add_test(tc, mail_password_rules);
    tcase_add_test(tc, mail_format);
    tcase_add_test(tc, mail_send_error_names_url);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
