/* A fake host for driving one step module in isolation (the collectd
 * plugin_mock idea): settings, site config, facts and journaled state are
 * in-memory JSON objects the test fills and inspects. */
#ifndef NX_FAKEHOST_H
#define NX_FAKEHOST_H

#include <jansson.h>
#include <nexo/step.h>

struct fakehost {
    struct nexo_host table;
    json_t *settings;  /* the step's settings: {"action": "on"} */
    json_t *info;      /* facts: {"root": "/tmp/x", "update_id": "..."} */
    json_t *config;    /* site config: {"site.root": "..."} */
    json_t *state;     /* journaled state (survives "processes": keep it) */
    json_t *shared;
    const struct nexo_step_module *step;
    char msg[2048];    /* last fail() message */
    char logbuf[16384];/* every log line */
    unsigned checkpoints;
    unsigned fail_at_checkpoint; /* 0: never */
};

/* Set up with the step's declared defaults applied to `settings`. step
 * may be NULL to drive a database driver (config only). */
void fh_init(struct fakehost *fh, const struct nexo_step_module *step);
void fh_free(struct fakehost *fh);
nexo_ctx *fh_ctx(struct fakehost *fh);
/* Call run/undo/commit/validate/plan; returns the step's result. */
int fh_call(struct fakehost *fh, const char *phase);

#endif
