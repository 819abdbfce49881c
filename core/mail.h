/*
 * E-mail through libcurl's SMTP, for `check --notify` and the notify step
 * (contracts §3 [notify]; docs/operations.md "E-mail").
 *
 * [notify] smtp_url is smtp://HOST[:PORT] (plain, or STARTTLS required
 * when [notify] starttls is true) or smtps://HOST[:PORT] (TLS from the
 * first byte). TLS is always verified against the system's trust store.
 * [notify] user and password_file (a 0600 file, one line) log in; the
 * password goes to libcurl in memory, never on a command line, and never
 * in clear text to a host other than loopback. The message has RFC 5322
 * headers (Date, From, To, Subject, Message-ID, MIME), CRLF line ends
 * (libcurl dot-stuffs lines starting with '.' once they are CRLF-ended)
 * and no line longer than 998 octets.
 *
 * Every function that can fail returns -1 with e naming what and where:
 * the setting, the file, the SMTP URL, the address, curl's error.
 */
#ifndef NX_MAIL_H
#define NX_MAIL_H

#include <time.h>
#include "util.h"

#define NX_MAIL_TIMEOUT_S 30L  /* connect and whole-dialogue timeout */
#define NX_MAIL_MAX_RCPT 16    /* addresses in [notify] email */

typedef struct nx_mail {
    char *url;             /* [notify] smtp_url */
    char *from;            /* [notify] from: the envelope and From: address */
    char *to[NX_MAIL_MAX_RCPT]; /* [notify] email, split at commas and blanks */
    size_t nto;
    char *user;            /* [notify] user, or NULL: no login */
    char *password_file;   /* [notify] password_file, or NULL */
    char *password;        /* its content (cleared by nx_mail_free) */
    int starttls;          /* [notify] starttls */
    long timeout_s;
} nx_mail;

/* Reads one [notify] key ("email", "smtp_url", "from", "user",
 * "password_file", "starttls"); NULL when unset. */
typedef const char *(*nx_mail_get_fn)(void *arg, const char *key);

/* Fill m from the [notify] keys and check them (addresses, URL scheme,
 * no credentials in the URL, a password only with a user, not in clear
 * text beyond loopback). 1: no [notify] email (nothing to mail; m
 * empty), 0: ready, -1: e says which setting is wrong. Free with
 * nx_mail_free in every case. */
int nx_mail_init(nx_mail *m, nx_mail_get_fn get, void *arg, nx_err *e);
void nx_mail_free(nx_mail *m);

/* The recipients as one line ("a@x, b@y") into buf. */
const char *nx_mail_to_text(const nx_mail *m, char *buf, size_t len);

/* The whole message (headers and body, CRLF line ends, ending in CRLF),
 * malloc'ed. The subject is cut to one line (CR, LF and tabs become
 * spaces) and encoded (RFC 2047) when it is not ASCII; body lines are
 * broken before 998 octets. `now` dates it. */
char *nx_mail_format(const nx_mail *m, const char *subject, const char *body, time_t now);

/* Send one message to every recipient of m. */
int nx_mail_send(const nx_mail *m, const char *subject, const char *body, nx_err *e);

#endif
