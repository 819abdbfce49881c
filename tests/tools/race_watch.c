/*
 * race_watch — the attacker of tests/e2e/privilege.sh: an unprivileged
 * process (the site owner, run through setpriv) that watches with inotify
 * what nexo-update, running as root, does in folders the attacker can
 * write, and reacts at once.
 *
 * Why a C program and not inotifywait (inotify-tools): no extra package,
 * and the reaction must land between two system calls of the updater. An
 * inotifywait | shell loop forks a process per event (milliseconds); this
 * program reacts with a rename(2) in the same loop that reads the event
 * (microseconds), so a race the updater leaves open is won most of the
 * time, and the test shows the hole instead of hoping for it.
 *
 *   race_watch swap DIR NAME TAMPERED N
 *       Counts the opens of DIR/NAME (IN_OPEN on DIR, event name NAME);
 *       right after the N-th, renames TAMPERED over DIR/NAME (same folder,
 *       so atomic). inotify merges an event with the one before it while
 *       that one is unread, so two opens in quick succession may count
 *       once, and the swap may land after a later open than the N-th: the
 *       count is the reported opens, and a test loops over all of them. N = 0 swaps nothing: it only counts. Prints
 *       "open K" for every open and "swapped after open N" (or
 *       "swap after open N failed: ERROR").
 *
 *   race_watch dirs ROOT STOCK [late]
 *       Every new folder that appears at the top of ROOT (created or
 *       renamed in, by anyone but this program, under a name ROOT did not
 *       hold when the watch began) is renamed to ROOT/.attacker-<n>-<name>
 *       (a folder of another user can only be renamed within its parent:
 *       moving it elsewhere would rewrite its "..") and replaced by
 *       STOCK.<k> (k = 1, 2, ...: copies the test made of the attacker's
 *       tree, on the same file system). When a non-folder
 *       appears at the top of ROOT (e.g. MAINTENANCE, after the staging
 *       is complete), every folder seen before is swapped again with a
 *       fresh copy, in case the updater wrote into it by path. With
 *       `late`, new folders are only noted, and swapped when a non-folder
 *       appears (the updater has finished filling them). Prints "swapped
 *       NAME with STOCK.k" or "swap of NAME failed: ERROR".
 *
 *   race_watch links DIR PREFIX TARGET ASIDE
 *       Every entry that appears in DIR with a name starting with PREFIX
 *       (e.g. var/.nexo-cache-*, the cache folder renamed aside): each
 *       folder inside it is watched; on the first deletion anywhere in
 *       it (the recursive delete has begun), every folder still in it is
 *       renamed to ASIDE and replaced by a symbolic link to TARGET; then
 *       the entry itself is renamed to ASIDE and replaced by a link to
 *       TARGET. Prints "linked PATH".
 *
 * Every mode prints "ready" (stdout, flushed) once its watches are in place
 * and runs until SIGTERM or SIGINT, until the folder it watches is removed,
 * or for LIFETIME seconds at most (a test that dies leaves no attacker
 * behind). Exit 0 then; 2 on wrong arguments; 1 when a watch cannot be set.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_PLACED 256
#define MAX_WATCHES 4096
#define LIFETIME 900
#define EVBUF (64 * (sizeof(struct inotify_event) + NAME_MAX + 1))

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static int usage(void)
{
    fprintf(stderr, "usage: race_watch swap DIR NAME TAMPERED N\n"
                    "       race_watch dirs ROOT STOCK [late]\n"
                    "       race_watch links DIR PREFIX TARGET ASIDE\n");
    return 2;
}

/* DIR/NAME into out; -1 (and a message) when it does not fit. */
static int join(char *out, size_t size, const char *dir, const char *name)
{
    int n = snprintf(out, size, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= size) {
        fprintf(stderr, "race_watch: path too long: %s/%s\n", dir, name);
        return -1;
    }
    return 0;
}

static int watch(int fd, const char *path, uint32_t mask)
{
    int wd = inotify_add_watch(fd, path, mask);
    if (wd < 0)
        fprintf(stderr, "race_watch: cannot watch %s: %s\n", path, strerror(errno));
    return wd;
}

/* Read one batch of events into buf; 0 on a signal (stop is set), -1 on
 * error, else the byte count. */
static ssize_t read_events(int fd, char *buf, size_t size)
{
    ssize_t n = read(fd, buf, size);
    if (n < 0 && errno == EINTR)
        return 0;
    if (n < 0)
        fprintf(stderr, "race_watch: read: %s\n", strerror(errno));
    /* the first watch (the folder given) is gone: nothing left to race */
    for (char *p = buf; n > 0 && p < buf + n;) {
        const struct inotify_event *ev = (const struct inotify_event *)p;
        p += sizeof *ev + ev->len;
        if ((ev->mask & IN_IGNORED) && ev->wd == 1)
            stop = 1;
    }
    return n;
}

/* ---- swap ---------------------------------------------------------------- */

static int mode_swap(int fd, char **av)
{
    const char *dir = av[0], *name = av[1], *tampered = av[2];
    char *end;
    long n = strtol(av[3], &end, 10);
    if (*end || n < 0)
        return usage();
    char target[PATH_MAX];
    if (join(target, sizeof target, dir, name) != 0)
        return 2;
    if (watch(fd, dir, IN_OPEN) < 0)
        return 1;
    say("ready");
    static char buf[EVBUF] __attribute__((aligned(__alignof__(struct inotify_event))));
    long opens = 0;
    while (!stop) {
        ssize_t len = read_events(fd, buf, sizeof buf);
        if (len < 0)
            return 1;
        for (char *p = buf; p < buf + len;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            p += sizeof *ev + ev->len;
            if (!ev->len || strcmp(ev->name, name) != 0)
                continue;
            opens++;
            int rc = opens == n ? rename(tampered, target) : 0;
            int err = errno;
            say("open %ld", opens);
            if (opens == n && rc == 0)
                say("swapped after open %ld", opens);
            else if (opens == n)
                say("swap after open %ld failed: %s", opens, strerror(err));
        }
    }
    return 0;
}

/* ---- dirs ---------------------------------------------------------------- */

struct placed {
    char name[NAME_MAX + 1];
    ino_t ino;
};

struct dirs {
    const char *root, *stock;
    char **existing;  /* names ROOT held when the watch began */
    int nexisting;
    struct placed placed[MAX_PLACED];
    int nplaced;
    int next_stock;   /* k of the next STOCK.k */
    int moved;        /* n of the next ASIDE/<n>-<name> */
    int late;         /* swap only when a non-folder appears */
};

static struct placed *find_placed(struct dirs *d, const char *name)
{
    for (int i = 0; i < d->nplaced; i++)
        if (strcmp(d->placed[i].name, name) == 0)
            return &d->placed[i];
    return NULL;
}

/* Rename ROOT/name aside and put the next stock copy in its place. */
static void swap_dir(struct dirs *d, const char *name)
{
    char from[PATH_MAX], to[PATH_MAX], stock[PATH_MAX];
    if (join(from, sizeof from, d->root, name) != 0)
        return;
    char num[32];
    snprintf(num, sizeof num, ".attacker-%d", ++d->moved);
    if (join(to, sizeof to, d->root, num) != 0 || strlen(to) + strlen(name) + 2 > sizeof to)
        return;
    strcat(strcat(to, "-"), name);
    snprintf(num, sizeof num, ".%d", d->next_stock);
    if (strlen(d->stock) + strlen(num) + 1 > sizeof stock)
        return;
    strcat(strcpy(stock, d->stock), num);
    struct stat st;
    if (lstat(stock, &st) != 0) {
        say("swap of %s failed: no more copies (%s: %s)", name, stock, strerror(errno));
        return;
    }
    if (rename(from, to) != 0) {
        say("swap of %s failed: rename to %s: %s", name, to, strerror(errno));
        return;
    }
    if (rename(stock, from) != 0) {
        say("swap of %s failed: rename %s in: %s", name, stock, strerror(errno));
        return;
    }
    d->next_stock++;
    struct placed *pl = find_placed(d, name);
    if (!pl && d->nplaced < MAX_PLACED)
        pl = &d->placed[d->nplaced++];
    if (pl) {
        if (pl->name != name)
            snprintf(pl->name, sizeof pl->name, "%s", name);
        pl->ino = st.st_ino;
    }
    say("swapped %s with %s", name, stock);
}

static void dirs_event(struct dirs *d, const struct inotify_event *ev)
{
    char path[PATH_MAX];
    struct stat st;
    if (strncmp(ev->name, ".attacker-", 10) == 0)
        return;   /* what we moved aside */
    for (int i = 0; i < d->nexisting; i++)
        if (strcmp(d->existing[i], ev->name) == 0)
            return;   /* not new (e.g. core/ renamed into place) */
    if (join(path, sizeof path, d->root, ev->name) != 0)
        return;
    if (lstat(path, &st) != 0)
        return;   /* gone already */
    if (S_ISDIR(st.st_mode)) {
        struct placed *pl = find_placed(d, ev->name);
        if (pl && pl->ino == st.st_ino)
            return;   /* our own rename */
        if (!d->late) {
            swap_dir(d, ev->name);
        } else if (!pl && d->nplaced < MAX_PLACED) {
            pl = &d->placed[d->nplaced++];   /* noted; ino 0: not ours yet */
            snprintf(pl->name, sizeof pl->name, "%s", ev->name);
            pl->ino = 0;
            say("noted %s", ev->name);
        }
        return;
    }
    /* a file appeared (MAINTENANCE ...): swap again what we placed */
    int n = d->nplaced;
    for (int i = 0; i < n; i++) {
        if (join(path, sizeof path, d->root, d->placed[i].name) != 0)
            continue;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            swap_dir(d, d->placed[i].name);
    }
}

static int mode_dirs(int fd, char **av)
{
    static struct dirs d;
    d.root = av[0];
    d.stock = av[1];
    d.next_stock = 1;
    d.late = av[2] != NULL;
    if (watch(fd, d.root, IN_CREATE | IN_MOVED_TO) < 0)
        return 1;
    DIR *dp = opendir(d.root);
    if (!dp) {
        fprintf(stderr, "race_watch: %s: %s\n", d.root, strerror(errno));
        return 1;
    }
    struct dirent *de;
    while ((de = readdir(dp))) {
        char **grown = realloc(d.existing, (size_t)(d.nexisting + 1) * sizeof *grown);
        if (!grown)
            break;
        d.existing = grown;
        d.existing[d.nexisting] = strdup(de->d_name);
        if (d.existing[d.nexisting])
            d.nexisting++;
    }
    closedir(dp);
    say("ready");
    static char buf[EVBUF] __attribute__((aligned(__alignof__(struct inotify_event))));
    while (!stop) {
        ssize_t len = read_events(fd, buf, sizeof buf);
        if (len < 0)
            return 1;
        for (char *p = buf; p < buf + len;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            p += sizeof *ev + ev->len;
            if (ev->len)
                dirs_event(&d, ev);
        }
    }
    for (int i = 0; i < d.nexisting; i++)
        free(d.existing[i]);
    free(d.existing);
    return 0;
}

/* ---- links --------------------------------------------------------------- */

struct links {
    const char *dir, *prefix, *target, *aside;
    int wd_dir;
    int wds[MAX_WATCHES];
    char *wpath[MAX_WATCHES];
    int nw;
    char active[PATH_MAX];   /* the entry being deleted, "" when none */
    int moved;
};

/* Watch every folder of the tree at path for deletions. */
static void watch_tree(int fd, struct links *l, const char *path)
{
    if (l->nw >= MAX_WATCHES)
        return;
    int wd = inotify_add_watch(fd, path, IN_DELETE | IN_DONT_FOLLOW | IN_ONLYDIR);
    if (wd < 0)
        return;
    l->wds[l->nw] = wd;
    l->wpath[l->nw++] = strdup(path);
    DIR *dp = opendir(path);
    if (!dp)
        return;
    struct dirent *de;
    while ((de = readdir(dp))) {
        if (de->d_type != DT_DIR || !strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char sub[PATH_MAX];
        if (join(sub, sizeof sub, path, de->d_name) != 0)
            continue;
        watch_tree(fd, l, sub);
    }
    closedir(dp);
}

static void link_one(struct links *l, const char *path, const char *name)
{
    char to[PATH_MAX], num[32];
    snprintf(num, sizeof num, "%d", ++l->moved);
    if (join(to, sizeof to, l->aside, num) != 0 || strlen(to) + strlen(name) + 2 > sizeof to)
        return;
    strcat(strcat(to, "-"), name);
    if (rename(path, to) != 0)
        return;
    if (symlink(l->target, path) == 0)
        say("linked %s", path);
}

/* The delete has begun: every folder still in the active entry becomes a
 * link, then the entry itself. */
static void link_all(struct links *l)
{
    DIR *dp = opendir(l->active);
    if (dp) {
        struct dirent *de;
        while ((de = readdir(dp))) {
            if (de->d_type != DT_DIR || !strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            char sub[PATH_MAX];
            if (join(sub, sizeof sub, l->active, de->d_name) != 0)
                continue;
            link_one(l, sub, de->d_name);
        }
        closedir(dp);
    }
    const char *base = strrchr(l->active, '/');
    link_one(l, l->active, base ? base + 1 : l->active);
    l->active[0] = '\0';
}

static int mode_links(int fd, char **av)
{
    static struct links l;
    l.dir = av[0];
    l.prefix = av[1];
    l.target = av[2];
    l.aside = av[3];
    l.wd_dir = watch(fd, l.dir, IN_CREATE | IN_MOVED_TO);
    if (l.wd_dir < 0)
        return 1;
    say("ready");
    static char buf[EVBUF] __attribute__((aligned(__alignof__(struct inotify_event))));
    while (!stop) {
        ssize_t len = read_events(fd, buf, sizeof buf);
        if (len < 0)
            return 1;
        for (char *p = buf; p < buf + len;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            p += sizeof *ev + ev->len;
            if (!ev->len)
                continue;
            if (ev->wd == l.wd_dir) {
                if (strncmp(ev->name, l.prefix, strlen(l.prefix)) != 0 ||
                    (ev->mask & (IN_CREATE | IN_MOVED_TO)) == 0)
                    continue;
                snprintf(l.active, sizeof l.active, "%s/%s", l.dir, ev->name);
                struct stat st;
                if (lstat(l.active, &st) != 0 || !S_ISDIR(st.st_mode)) {
                    l.active[0] = '\0';
                    continue;
                }
                watch_tree(fd, &l, l.active);
                say("watching %s", l.active);
            } else if ((ev->mask & IN_DELETE) && l.active[0]) {
                link_all(&l);
            }
        }
    }
    for (int i = 0; i < l.nw; i++)
        free(l.wpath[i]);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;   /* no SA_RESTART: read() returns EINTR */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGALRM, &sa, NULL);
    alarm(LIFETIME);
    int fd = inotify_init1(IN_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "race_watch: inotify_init1: %s\n", strerror(errno));
        return 1;
    }
    int rc;
    if (strcmp(argv[1], "swap") == 0 && argc == 6)
        rc = mode_swap(fd, argv + 2);
    else if (strcmp(argv[1], "dirs") == 0 &&
             (argc == 4 || (argc == 5 && strcmp(argv[4], "late") == 0)))
        rc = mode_dirs(fd, argv + 2);
    else if (strcmp(argv[1], "links") == 0 && argc == 6)
        rc = mode_links(fd, argv + 2);
    else
        rc = usage();
    close(fd);
    return rc;
}
