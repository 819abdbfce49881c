/* nexo-release: entry point, command table and option parsing. */
#include "release.h"
#include "buildconf.h"
#include "jsonout.h"

#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BIT(o) (1u << (o))

struct rel_cmd {
    const char *name;
    int (*fn)(const struct rel_ctx *c, const struct rel_args *a);
    unsigned opts;      /* BIT(OPT_...) allowed */
    unsigned required;  /* BIT(OPT_...) required */
    int npos;           /* exact number of operands */
    const char *usage;
    const char *help;
};

struct rel_optdef {
    const char *name;
    int has_arg;
};

static const struct rel_optdef OPTS[OPT_COUNT] = {
    [OPT_COMPONENT] = { "component", 1 }, [OPT_SRC] = { "src", 1 },
    [OPT_KEY] = { "key", 1 },             [OPT_REPO] = { "repo", 1 },
    [OPT_FORMAT] = { "format", 1 },       [OPT_CHANGELOG] = { "changelog", 1 },
    [OPT_SECURITY] = { "security", 0 },   [OPT_CRITICAL] = { "critical", 0 },
    [OPT_DATE] = { "date", 1 },           [OPT_FORCE] = { "force", 0 },
    [OPT_EXPIRES] = { "expires", 1 },     [OPT_SCOPE] = { "scope", 1 },
};

static const struct rel_cmd CMDS[] = {
    { "keygen", rel_cmd_keygen, BIT(OPT_SCOPE), 0, 1, "keygen PREFIX [--scope PATTERN ...]",
      "Make an Ed25519 key pair: PREFIX.key, the private key (PEM, PKCS#8, mode\n"
      "0600; never overwritten), and PREFIX.pub, the public key (PEM). Prints the\n"
      "key id (the first 16 hex digits of the SHA-256 of the raw public key).\n"
      "\n"
      "--scope PATTERN  (repeatable) also write PREFIX.scope, what the key may\n"
      "             sign, one pattern a line: index (the repository's index.json),\n"
      "             core (core packages), plugin:SLUG (that plugin's packages),\n"
      "             plugin:* (every plugin's packages).\n"
      "\n"
      "Sites trust the key by having PREFIX.pub in [server] trusted_keys with\n"
      "PREFIX.scope beside it; a signature counts only where the scope covers\n"
      "what it signs, and a .pub without its .scope is refused." },
    { "pack", rel_cmd_pack,
      BIT(OPT_COMPONENT) | BIT(OPT_SRC) | BIT(OPT_KEY) | BIT(OPT_REPO) | BIT(OPT_FORMAT) |
          BIT(OPT_CHANGELOG) | BIT(OPT_SECURITY) | BIT(OPT_CRITICAL) | BIT(OPT_DATE) |
          BIT(OPT_FORCE) | BIT(OPT_EXPIRES),
      BIT(OPT_COMPONENT) | BIT(OPT_SRC) | BIT(OPT_KEY) | BIT(OPT_REPO), 0,
      "pack --component core|plugin:SLUG --src DIR --key KEY --repo DIR\n"
      "       [--format tar.zst|tar.gz|zip] [--changelog FILE] [--security] [--critical]\n"
      "       [--date YYYY-MM-DD] [--expires DAYS] [--force]",
      "Make a signed release package of a source tree and add it to the repository's\n"
      "index.\n"
      "\n"
      "--src DIR    core: the site tree (DIR/core/version.php, public_html/ ...);\n"
      "             plugin:SLUG: the plugin's folder (DIR/version.php ...).\n"
      "             version.php gives version (SemVer, required), version_code (if\n"
      "             present it must be MAJOR*1000000+MINOR*1000+PATCH), release_date,\n"
      "             branch (default stable), build (default the date as YYYYMMDD),\n"
      "             requires, compatibility and dependencies (objects).\n"
      "--date D     the release date when version.php has none (default: today,\n"
      "             UTC); if both are given they must agree.\n"
      "--format F   tar.zst (default), tar.gz or zip.\n"
      "--changelog FILE  release notes (UTF-8 text) for the index.\n"
      "--security, --critical  flag the release in the index.\n"
      "--expires DAYS  validity of the re-signed index (default 30).\n"
      "--force      replace the package and the index release of the same\n"
      "             component and version (without it that is refused).\n"
      "\n"
      "Every folder, file and symlink under DIR goes into the package with its\n"
      "permission bits, in path order; .git (folders or files, at any depth) is\n"
      "left out. Refused, naming the path: devices, fifos, sockets, setuid, setgid\n"
      "or sticky modes, symlinks that are absolute or leave the tree, names that\n"
      "are not UTF-8 or hold control characters, a nexo-release.json at the root of\n"
      "DIR (pack writes that file), and the repository folder inside DIR.\n"
      "\n"
      "The package holds nexo-release.json first (the manifest: component, version,\n"
      "requirements and every entry's type, mode, size and sha256), then the\n"
      "payload; every entry has the release date 00:00 UTC as its time and owner\n"
      "0:0, so the same tree and date give the same bytes. Files:\n"
      "  core         REPO/core/nexosupport-VERSION.EXT\n"
      "  plugin:SLUG  REPO/plugins/SLUG/SLUG-VERSION.EXT  (a folder named\n"
      "               \"plugin:SLUG\" would make relative URLs look like a scheme)\n"
      "beside PACKAGE.sig (base64 Ed25519 signature). The release is added to\n"
      "REPO/index.json (kept sorted by component, then SemVer precedence), and the\n"
      "index is checked and re-signed as by 'nexo-release index'. A release of the\n"
      "same component and version already in the index, or its package file, is\n"
      "refused unless --force is given (then both are replaced); nothing is\n"
      "written when it is refused." },
    { "index", rel_cmd_index, BIT(OPT_REPO) | BIT(OPT_KEY) | BIT(OPT_EXPIRES),
      BIT(OPT_REPO) | BIT(OPT_KEY), 0, "index --repo DIR --key KEY [--expires DAYS]",
      "Check and re-sign the repository's index: every release's package and .sig\n"
      "must exist and match its sha256, size_bytes and signature (releases with\n"
      "an absolute download_url are not checked). Writes DIR/index.json with\n"
      "\"format\": 1, \"generated_at\" (now) and \"expires\" (now + DAYS, default 30;\n"
      "0 makes an index that is already expired, for tests), ISO 8601 UTC, and\n"
      "the releases; then DIR/index.json.sig." },
    { "sign", rel_cmd_sign, BIT(OPT_KEY), BIT(OPT_KEY), 1, "sign --key KEY FILE",
      "Write FILE.sig: the base64 Ed25519 signature of FILE's bytes (one line)." },
};
#define NCMDS (sizeof CMDS / sizeof CMDS[0])

void rel_print_json(json_t *doc)
{
    char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
    json_decref(doc);
}

static void usage_all(FILE *f)
{
    fprintf(f,
            "Usage: nexo-release [--json] [-q] COMMAND [ARGS]\n"
            "\n"
            "Makes Ed25519 keys, signed release packages and the signed static index\n"
            "of an update repository (served as is by any web server).\n"
            "\n"
            "Options:\n"
            "      --json     one JSON document describing the result on stdout\n"
            "  -q, --quiet    errors only\n"
            "  -h, --help     this help;  COMMAND --help: help on a command\n"
            "      --version  print the version\n"
            "\nCommands:\n");
    for (size_t i = 0; i < NCMDS; i++)
        fprintf(f, "  %s\n", CMDS[i].usage);
    fprintf(f, "\nExit codes: 0 done, 1 failed (the message names the file), 2 usage.\n");
}

static void usage_cmd(const struct rel_cmd *c, FILE *f)
{
    fprintf(f, "Usage: nexo-release [--json] [-q] %s\n\n%s\n", c->usage, c->help);
}

static const struct rel_cmd *find_cmd(const char *name)
{
    for (size_t i = 0; i < NCMDS; i++)
        if (strcmp(CMDS[i].name, name) == 0)
            return &CMDS[i];
    return NULL;
}

/* Global flags, anywhere before "--". 1 taken, 0 not a global flag. */
static int take_global(struct rel_ctx *c, const char *a, int *help, int *version)
{
    if (strcmp(a, "--json") == 0)
        c->json = 1;
    else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0)
        c->quiet = 1;
    else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
        *help = 1;
    else if (strcmp(a, "--version") == 0)
        *version = 1;
    else
        return 0;
    return 1;
}

static int find_opt(const char *name, size_t len)
{
    for (int o = 0; o < OPT_COUNT; o++)
        if (strlen(OPTS[o].name) == len && strncmp(OPTS[o].name, name, len) == 0)
            return o;
    return -1;
}

/* One --scope PATTERN, checked here: a bad pattern is a usage error. */
static int take_scope(const struct rel_cmd *cmd, struct rel_args *a, const char *val)
{
    if (!nx_scope_pattern_ok(val)) {
        fprintf(stderr, "nexo-release: %s: --scope '%s': not a scope (index, core, "
                        "plugin:SLUG or plugin:*)\n", cmd->name, val);
        return -1;
    }
    for (int k = 0; k < a->nscope; k++)
        if (strcmp(a->scope[k], val) == 0)
            return 0;
    if (a->nscope >= REL_MAX_SCOPES) {
        fprintf(stderr, "nexo-release: %s: more than %d --scope\n", cmd->name, REL_MAX_SCOPES);
        return -1;
    }
    a->scope[a->nscope++] = val;
    return 0;
}

/* One "--name[=value]" of the command; returns how many argv items it
 * took, or -1 after printing the usage error. */
static int take_opt(const struct rel_cmd *cmd, struct rel_args *a, int argc, char **argv, int i)
{
    const char *s = argv[i] + 2;
    const char *eq = strchr(s, '=');
    size_t len = eq ? (size_t)(eq - s) : strlen(s);
    int o = find_opt(s, len);
    if (o < 0 || !(cmd->opts & BIT(o))) {
        fprintf(stderr, "nexo-release: %s: unknown option '%s' (see nexo-release %s --help)\n",
                cmd->name, argv[i], cmd->name);
        return -1;
    }
    if (a->opt[o] && o != OPT_SCOPE) {
        fprintf(stderr, "nexo-release: %s: --%s given twice\n", cmd->name, OPTS[o].name);
        return -1;
    }
    if (!OPTS[o].has_arg) {
        if (eq) {
            fprintf(stderr, "nexo-release: %s: --%s takes no value\n", cmd->name, OPTS[o].name);
            return -1;
        }
        a->opt[o] = "1";
        return 1;
    }
    if (!eq && i + 1 >= argc) {
        fprintf(stderr, "nexo-release: %s: --%s needs a value\n", cmd->name, OPTS[o].name);
        return -1;
    }
    const char *val = eq ? eq + 1 : argv[i + 1];
    if (o == OPT_SCOPE && take_scope(cmd, a, val) != 0)
        return -1;
    if (!a->opt[o])
        a->opt[o] = val;
    return eq ? 1 : 2;
}

static int check_args(const struct rel_cmd *cmd, const struct rel_args *a)
{
    for (int o = 0; o < OPT_COUNT; o++)
        if ((cmd->required & BIT(o)) && !a->opt[o]) {
            fprintf(stderr, "nexo-release: %s: --%s is required (see nexo-release %s --help)\n",
                    cmd->name, OPTS[o].name, cmd->name);
            return -1;
        }
    if (a->npos != cmd->npos) {
        fprintf(stderr, "nexo-release: %s: expected %s (see nexo-release %s --help)\n",
                cmd->name, cmd->npos ? "one operand" : "no operands", cmd->name);
        return -1;
    }
    return 0;
}

/* The command's own arguments, with global flags anywhere. */
static int parse_cmd_args(struct rel_ctx *c, const struct rel_cmd *cmd, int argc, char **argv,
                          int first, struct rel_args *a, int *help, int *version)
{
    int dashdash = 0;
    for (int i = first; i < argc;) {
        const char *s = argv[i];
        int took = 1;
        if (!dashdash && strcmp(s, "--") == 0) {
            dashdash = 1;
        } else if (!dashdash && take_global(c, s, help, version)) {
            /* taken */
        } else if (!dashdash && strncmp(s, "--", 2) == 0) {
            took = take_opt(cmd, a, argc, argv, i);
        } else if (!dashdash && s[0] == '-' && s[1]) {
            fprintf(stderr, "nexo-release: %s: unknown option '%s'\n", cmd->name, s);
            took = -1;
        } else if (a->npos >= REL_MAX_POS) {
            fprintf(stderr, "nexo-release: %s: too many operands\n", cmd->name);
            took = -1;
        } else {
            a->pos[a->npos++] = s;
        }
        if (took < 0)
            return -1;
        i += took;
    }
    return 0;
}

int rel_expires_arg(const struct rel_args *a)
{
    const char *s = a->opt[OPT_EXPIRES];
    if (!s)
        return REL_DEFAULT_EXPIRES;
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < 0 || v > REL_MAX_EXPIRES) {
        fprintf(stderr, "nexo-release: --expires '%s': not a number of days (0 to %d)\n", s,
                REL_MAX_EXPIRES);
        return -1;
    }
    return (int)v;
}

static int run(int argc, char **argv)
{
    struct rel_ctx c = { 0 };
    int help = 0, version = 0, i = 1;
    while (i < argc && take_global(&c, argv[i], &help, &version))
        i++;
    const struct rel_cmd *cmd = NULL;
    if (i < argc && strcmp(argv[i], "help") == 0) {
        help = 1;
        i++;
    }
    if (i < argc && argv[i][0] != '-') {
        cmd = find_cmd(argv[i]);
        if (!cmd) {
            fprintf(stderr, "nexo-release: unknown command '%s' (see nexo-release --help)\n",
                    argv[i]);
            return REL_EXIT_USAGE;
        }
        i++;
    } else if (i < argc && !help && !version) {
        fprintf(stderr, "nexo-release: unknown option '%s' (see nexo-release --help)\n", argv[i]);
        return REL_EXIT_USAGE;
    }
    struct rel_args a = { 0 };
    if (cmd && parse_cmd_args(&c, cmd, argc, argv, i, &a, &help, &version) != 0)
        return REL_EXIT_USAGE;
    if (version) {
        printf("nexo-release %s\n", NX_VERSION);
        return REL_EXIT_OK;
    }
    if (help || !cmd) {
        if (cmd)
            usage_cmd(cmd, stdout);
        else
            usage_all(help ? stdout : stderr);
        return help ? REL_EXIT_OK : REL_EXIT_USAGE;
    }
    if (check_args(cmd, &a) != 0)
        return REL_EXIT_USAGE;
    return cmd->fn(&c, &a);
}

int main(int argc, char **argv)
{
    /* Package paths are UTF-8: libarchive converts names through the
     * locale's character set. */
    if (!setlocale(LC_CTYPE, "C.UTF-8"))
        setlocale(LC_CTYPE, "");
    if (!nx_jsonout_wanted(argc, argv))
        return run(argc, argv);
    /* --json: one document on stdout, also for a usage error */
    nx_jsonout j;
    nx_jsonout_begin(&j, "nexo-release");
    int code = run(argc, argv);
    return nx_jsonout_end(&j, code, code != REL_EXIT_OK);
}
