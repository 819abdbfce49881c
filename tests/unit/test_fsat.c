/* Trees others may write, worked on by descriptor (core/fsat.c) and the
 * helpers built on it (nx_rmtree, nx_write_file_atomic): no link followed,
 * no other file system entered, nothing planted opened. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsat.h"
#include "util.h"

static char base[64];     /* everything below it */
static char tree[128];    /* what is removed */
static char outside[128]; /* what must survive */
static char secret[160];  /* outside/secret, root's, 0600 */

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    fputs(text, f);
    fclose(f);
}

static char *text_of(const char *path)
{
    char *t = NULL;
    nx_err e;
    ck_assert_msg(nx_read_file(path, &t, NULL, 0, &e) == 0, "%s", e.msg);
    return t;
}

static char *at(const char *dir, const char *rel)
{
    return nx_path_join(dir, rel);
}

static void setup(void)
{
    nx_err e;
    snprintf(base, sizeof base, "/tmp/nx-fsat-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(base));
    ck_assert_int_eq(chmod(base, 0755), 0);
    snprintf(tree, sizeof tree, "%s/tree", base);
    snprintf(outside, sizeof outside, "%s/outside", base);
    snprintf(secret, sizeof secret, "%s/secret", outside);
    ck_assert_int_eq(nx_mkdirs(tree, 0755, &e), 0);
    ck_assert_int_eq(nx_mkdirs(outside, 0755, &e), 0);
    put(secret, "do not touch\n");
    ck_assert_int_eq(chmod(secret, 0600), 0);
}

static void teardown(void)
{
    nx_err e;
    char *mnt = at(tree, "mnt");
    umount2(mnt, MNT_DETACH); /* a test that failed half way */
    free(mnt);
    ck_assert_msg(nx_rmtree(base, &e) == 0, "%s", e.msg);
}

/* The outside folder and its file as setup made them. */
static void outside_intact(void)
{
    struct stat st;
    ck_assert_int_eq(lstat(outside, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    ck_assert_uint_eq(st.st_mode & 07777, 0755);
    ck_assert_int_eq(lstat(secret, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0600);
    ck_assert_uint_eq(st.st_uid, geteuid());
    char *t = text_of(secret);
    ck_assert_str_eq(t, "do not touch\n");
    free(t);
}

/* A tree holding links to a folder and a file outside it: the links go,
 * what they point to stays. */
START_TEST(rmtree_removes_links_not_targets)
{
    nx_err e;
    char *sub = at(tree, "a/b");
    ck_assert_int_eq(nx_mkdirs(sub, 0755, &e), 0);
    char *f = at(sub, "file.php");
    put(f, "x");
    char *l1 = at(tree, "to-outside"), *l2 = at(sub, "deep-link"), *l3 = at(tree, "a/secret");
    ck_assert_int_eq(symlink(outside, l1), 0);
    ck_assert_int_eq(symlink("../../../outside", l2), 0);
    ck_assert_int_eq(symlink(secret, l3), 0);
    char *ro = at(tree, "a/readonly");
    ck_assert_int_eq(mkdir(ro, 0555), 0);
    ck_assert_msg(nx_rmtree(tree, &e) == 0, "%s", e.msg);
    ck_assert_int_ne(access(tree, F_OK), 0);
    outside_intact();
    /* a link as the start is removed, not followed */
    ck_assert_int_eq(symlink(outside, tree), 0);
    ck_assert_msg(nx_rmtree(tree, &e) == 0, "%s", e.msg);
    struct stat st;
    ck_assert_int_ne(lstat(tree, &st), 0);
    outside_intact();
    /* missing: fine */
    ck_assert_int_eq(nx_rmtree(tree, &e), 0);
    free(sub);
    free(f);
    free(l1);
    free(l2);
    free(l3);
    free(ro);
}
END_TEST

/* The race: a subfolder listed, then swapped for a link to the outside
 * (or another folder) before it is opened. Opening the listed folder with
 * O_NOFOLLOW refuses both; removing the entry removes the link itself. */
START_TEST(swapped_subfolder_is_refused_then_unlinked)
{
    char *sub = at(tree, "sub"), *moved = at(base, "moved");
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    int dfd = open(tree, O_RDONLY | O_DIRECTORY);
    ck_assert_int_ge(dfd, 0);
    struct stat listed;
    ck_assert_int_eq(fstatat(dfd, "sub", &listed, AT_SYMLINK_NOFOLLOW), 0);

    ck_assert_int_eq(rename(sub, moved), 0);
    ck_assert_int_eq(symlink(outside, sub), 0);
    errno = 0;
    ck_assert_int_eq(nx_openat_dir(dfd, "sub", &listed), -1);
    ck_assert_msg(errno == ELOOP || errno == ENOTDIR, "errno %d", errno);
    ck_assert_int_eq(nx_openat_dir(dfd, "sub", NULL), -1); /* a link, whatever was listed */

    ck_assert_int_eq(unlink(sub), 0);
    ck_assert_int_eq(mkdir(sub, 0755), 0); /* another folder of the same name */
    errno = 0;
    ck_assert_int_eq(nx_openat_dir(dfd, "sub", &listed), -1);
    ck_assert_int_eq(errno, ESTALE);
    ck_assert_int_eq(rmdir(sub), 0);

    /* the step of the walker on the swapped entry: the link goes */
    ck_assert_int_eq(symlink(outside, sub), 0);
    nx_err e;
    ck_assert_msg(nx_rmtree_at(dfd, "sub", sub, &e) == 0, "%s", e.msg);
    struct stat st;
    ck_assert_int_ne(lstat(sub, &st), 0);
    outside_intact();
    close(dfd);
    free(sub);
    free(moved);
}
END_TEST

/* Folders of ours we may not read, search or write, removed as their
 * owner (uid 33): made 0700 through their descriptor, then removed. */
START_TEST(rmtree_as_owner_of_closed_folders)
{
    if (geteuid() != 0)
        return; /* needs to become uid 33 */
    nx_err e;
    char *deep = at(tree, "closed/ro/inner");
    ck_assert_int_eq(nx_mkdirs(deep, 0755, &e), 0);
    char *f = at(deep, "f");
    put(f, "x");
    char *link = at(tree, "closed/ro/out");
    ck_assert_int_eq(symlink(outside, link), 0);
    char *closed = at(tree, "closed"), *ro = at(tree, "closed/ro");
    ck_assert_int_eq(chmod(deep, 0000), 0);
    ck_assert_int_eq(chmod(ro, 0500), 0);
    ck_assert_int_eq(chmod(closed, 0300), 0);
    ck_assert_int_eq(chown(tree, 33, 33), 0);
    ck_assert_int_eq(lchown(closed, 33, 33), 0);
    ck_assert_int_eq(lchown(ro, 33, 33), 0);
    ck_assert_int_eq(lchown(deep, 33, 33), 0);
    ck_assert_int_eq(lchown(f, 33, 33), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (setresgid(33, 33, 33) != 0 || setresuid(33, 33, 33) != 0)
            _exit(3);
        /* as a process started as uid 33 is (/proc/self/fd is its own) */
        prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
        nx_err ce;
        _exit(nx_rmtree(closed, &ce) == 0 && access(closed, F_OK) != 0 ? 0 : 1);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    ck_assert_int_ne(access(closed, F_OK), 0);
    outside_intact();
    free(deep);
    free(f);
    free(link);
    free(closed);
    free(ro);
}
END_TEST

/* A mount point inside the tree is refused, naming it; what is mounted
 * there is untouched. */
START_TEST(rmtree_refuses_other_file_system)
{
    if (geteuid() != 0)
        return;
    char *mnt = at(tree, "mnt");
    ck_assert_int_eq(mkdir(mnt, 0755), 0);
    if (mount("none", mnt, "tmpfs", 0, "size=1m") != 0) {
        fprintf(stderr, "rmtree_refuses_other_file_system: cannot mount a tmpfs here (%s): "
                "not tested\n", strerror(errno));
        free(mnt);
        return;
    }
    char *inside = at(mnt, "keep");
    put(inside, "mounted");
    nx_err e;
    ck_assert_int_ne(nx_rmtree(tree, &e), 0);
    ck_assert_ptr_nonnull(strstr(e.msg, mnt));
    ck_assert_ptr_nonnull(strstr(e.msg, "another file system"));
    ck_assert_int_eq(errno, EXDEV);
    ck_assert_int_eq(access(inside, F_OK), 0);
    ck_assert_int_eq(umount(mnt), 0);
    free(inside);
    free(mnt);
}
END_TEST

/* Opening a folder by path follows a link only where nobody but root or
 * us could have put it. */
START_TEST(open_dir_path_trusts_only_safe_links)
{
    if (geteuid() != 0)
        return; /* the links and folders belong to uid 33 */
    nx_err e;
    char *safe = at(base, "safe-link"); /* in base: root's, 0755 */
    ck_assert_int_eq(symlink(outside, safe), 0);
    int fd = nx_open_dir_path(safe, &e);
    ck_assert_msg(fd >= 0, "%s", e.msg);
    ck_assert_int_eq(faccessat(fd, "secret", F_OK, 0), 0);
    close(fd);

    /* a folder another user owns: its links are not followed */
    char *site = at(base, "site"), *var = at(base, "site/var");
    ck_assert_int_eq(mkdir(site, 0755), 0);
    ck_assert_int_eq(chown(site, 33, 33), 0);
    ck_assert_int_eq(symlink(outside, var), 0);
    char *through = at(var, "x");
    ck_assert_int_eq(nx_open_dir_path(var, &e), -1);
    ck_assert_ptr_nonnull(strstr(e.msg, "refused"));
    ck_assert_ptr_nonnull(strstr(e.msg, var));
    ck_assert_int_eq(nx_open_dir_path(through, &e), -1);
    ck_assert_ptr_nonnull(strstr(e.msg, "symbolic link"));

    /* nx_rmtree through such a link: refused, the target stays */
    char *victim = at(var, "secret");
    ck_assert_int_ne(nx_rmtree(victim, &e), 0);
    outside_intact();

    /* a sticky, world-writable folder (as /tmp): a link of root's is
     * followed, one of uid 33 is not */
    char *sticky = at(base, "sticky"), *mine = at(base, "sticky/mine"),
         *theirs = at(base, "sticky/theirs");
    ck_assert_int_eq(mkdir(sticky, 0755), 0);
    ck_assert_int_eq(chmod(sticky, 01777), 0);
    ck_assert_int_eq(symlink(outside, mine), 0);
    ck_assert_int_eq(symlink(outside, theirs), 0);
    ck_assert_int_eq(lchown(theirs, 33, 33), 0);
    fd = nx_open_dir_path(mine, &e);
    ck_assert_msg(fd >= 0, "%s", e.msg);
    close(fd);
    ck_assert_int_eq(nx_open_dir_path(theirs, &e), -1);
    ck_assert_ptr_nonnull(strstr(e.msg, theirs));
    free(safe);
    free(site);
    free(var);
    free(through);
    free(victim);
    free(sticky);
    free(mine);
    free(theirs);
}
END_TEST

/* Below a folder, a link anywhere in a relative path is refused by name. */
START_TEST(open_below_refuses_link_component)
{
    nx_err e;
    char *ab = at(tree, "a/b");
    ck_assert_int_eq(nx_mkdirs(ab, 0755, &e), 0);
    char *l = at(tree, "a/link");
    ck_assert_int_eq(symlink(outside, l), 0);
    int dfd = open(tree, O_RDONLY | O_DIRECTORY);
    int fd = nx_open_below(dfd, "a/b", tree, &e);
    ck_assert_msg(fd >= 0, "%s", e.msg);
    close(fd);
    ck_assert_int_eq(nx_open_below(dfd, "a/link", tree, &e), -1);
    ck_assert_int_eq(errno, ELOOP);
    ck_assert_ptr_nonnull(strstr(e.msg, "a/link: refused: a symbolic link"));
    ck_assert_int_eq(nx_open_below(dfd, "a/link/deeper", tree, &e), -1);
    ck_assert_ptr_nonnull(strstr(e.msg, "a/link: refused"));
    ck_assert_int_eq(nx_open_below(dfd, "a/../..", tree, &e), -1);
    ck_assert_int_eq(nx_open_below(dfd, "a/none", tree, &e), -1);
    ck_assert_int_eq(errno, ENOENT);
    close(dfd);
    free(ab);
    free(l);
}
END_TEST

/* Giving a tree away: a link gets the owner itself, its target keeps
 * root's; a file hard-linked elsewhere is refused. */
START_TEST(chown_below_never_through_links)
{
    if (geteuid() != 0)
        return;
    nx_err e;
    char *sub = at(tree, "sub");
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    char *f = at(sub, "f"), *l = at(sub, "out"), *fl = at(tree, "secret-link");
    put(f, "x");
    ck_assert_int_eq(symlink(outside, l), 0);
    ck_assert_int_eq(symlink(secret, fl), 0);
    int dfd = open(tree, O_RDONLY | O_DIRECTORY);
    ck_assert_msg(nx_chown_below(dfd, 33, 33, tree, &e) == 0, "%s", e.msg);
    struct stat st;
    ck_assert_int_eq(lstat(f, &st), 0);
    ck_assert_uint_eq(st.st_uid, 33);
    ck_assert_int_eq(lstat(sub, &st), 0);
    ck_assert_uint_eq(st.st_uid, 33);
    ck_assert_int_eq(lstat(l, &st), 0);
    ck_assert_uint_eq(st.st_uid, 33);
    ck_assert_int_eq(lstat(fl, &st), 0);
    ck_assert_uint_eq(st.st_uid, 33);
    outside_intact();
    ck_assert_int_eq(lstat(tree, &st), 0);
    ck_assert_uint_eq(st.st_uid, 0); /* dfd itself stays */

    char *hard = at(tree, "hard");
    ck_assert_int_eq(link(secret, hard), 0);
    ck_assert_int_ne(nx_chown_below(dfd, 33, 33, tree, &e), 0);
    ck_assert_ptr_nonnull(strstr(e.msg, hard));
    ck_assert_ptr_nonnull(strstr(e.msg, "hard links"));
    outside_intact();
    close(dfd);
    free(sub);
    free(f);
    free(l);
    free(fl);
    free(hard);
}
END_TEST

/* An atomic write replaces a link at its path (never writes through it)
 * and leaves no temp file; its temp name is not the guessable PID one. */
START_TEST(atomic_write_never_through_links)
{
    nx_err e;
    char *p = at(tree, "state.json");
    char *guess = nx_xasprintf("%s.tmp.%ld", p, (long)getpid());
    ck_assert_int_eq(symlink(secret, guess), 0); /* the old temp name, planted */
    ck_assert_int_eq(symlink(secret, p), 0);
    ck_assert_msg(nx_write_file_atomic(p, "new\n", 4, 0640, &e) == 0, "%s", e.msg);
    struct stat st;
    ck_assert_int_eq(lstat(p, &st), 0);
    ck_assert(S_ISREG(st.st_mode));
    ck_assert_uint_eq(st.st_mode & 07777, 0640);
    char *t = text_of(p);
    ck_assert_str_eq(t, "new\n");
    free(t);
    ck_assert_int_eq(lstat(guess, &st), 0);
    ck_assert(S_ISLNK(st.st_mode));
    outside_intact();
    ck_assert_int_eq(unlink(guess), 0);
    /* nothing else left in the folder */
    int n = 0;
    int dfd = open(tree, O_RDONLY | O_DIRECTORY);
    DIR *d = fdopendir(dfd);
    for (struct dirent *de = readdir(d); de; de = readdir(d))
        n += de->d_name[0] != '.';
    closedir(d);
    ck_assert_int_eq(n, 1);
    free(p);
    free(guess);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fsat");
    TCase *tc = tcase_create("fsat");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, rmtree_removes_links_not_targets);
    tcase_add_test(tc, swapped_subfolder_is_refused_then_unlinked);
    tcase_add_test(tc, rmtree_as_owner_of_closed_folders);
    tcase_add_test(tc, rmtree_refuses_other_file_system);
    tcase_add_test(tc, open_dir_path_trusts_only_safe_links);
    tcase_add_test(tc, open_below_refuses_link_component);
    tcase_add_test(tc, chown_below_never_through_links);
    tcase_add_test(tc, atomic_write_never_through_links);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
