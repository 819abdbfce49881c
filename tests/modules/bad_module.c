/* Broken step modules, one per -D, for the loader's refusals. */
#include <nexo/step.h>

#if !defined(BAD_NOSYM)
static int noop(const struct nexo_host *h, nexo_ctx *c)
{
    (void)h;
    (void)c;
    return 0;
}
#endif

#if defined(BAD_NOSYM)
NEXO_EXPORT int not_a_step_module;
int not_a_step_module = 1;
#else
NEXO_STEP_MODULE = {
#if defined(BAD_ABI)
    .abi = 99, .size = sizeof(struct nexo_step_module), .name = "bad_abi",
#elif defined(BAD_SMALL)
    .abi = NEXO_ABI_VERSION, .size = 16, .name = "bad_small",
#elif defined(BAD_BIG)
    .abi = NEXO_ABI_VERSION, .size = sizeof(struct nexo_step_module) + 64, .name = "bad_big",
#elif defined(BAD_NAME)
    NEXO_STEP_HEADER, .name = "another_name",
#elif defined(BAD_NOUNDO)
    NEXO_STEP_HEADER, .name = "bad_noundo",
#elif defined(BAD_VERSION)
    NEXO_STEP_HEADER, .name = "bad_version",
#elif defined(BAD_UNVERSIONED)
    NEXO_STEP_HEADER, .name = "bad_unversioned",
#endif
#if defined(BAD_VERSION)
    .version = "1.0",
#else
    .version = "1.0.0",
#endif
    .run = noop,
#if !defined(BAD_NOUNDO)
    .undo = noop,
#endif
};
#endif
