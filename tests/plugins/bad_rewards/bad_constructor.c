/* Test library whose constructor never lets dlopen() return, as a broken or hostile file on the
 * plugin path might: BAD_CONSTRUCTOR_CRASH dereferences NULL (with the default SIGSEGV action, so
 * the process dies by the signal even under a sanitizer's handler), BAD_CONSTRUCTOR_HANG sleeps
 * forever, BAD_CONSTRUCTOR_EXIT prints a line and calls exit(3). Each would take `xomni plugins`
 * down if it were loaded in-process. It also exports a valid reward entry point, so only the
 * constructor is wrong.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "xomni/reward.h"

/* Not instrumented: under UBSan with -fno-sanitize-recover the NULL store would exit(1) instead
 * of crashing, and the test is about a crash. */
__attribute__((constructor, no_sanitize("address", "undefined"))) static void bad_constructor(
    void) {
#if defined(BAD_CONSTRUCTOR_CRASH)
  signal(SIGSEGV, SIG_DFL);
  *(volatile int*)0 = 1;
#elif defined(BAD_CONSTRUCTOR_HANG)
  for (;;) sleep(60);
#elif defined(BAD_CONSTRUCTOR_EXIT)
  printf("bad_constructor: exiting\n");
  exit(3);
#endif
}

static const XomniRewardPlugin k_plugin = {
    .abi_version = XOMNI_REWARD_ABI_VERSION, .name = "bad_constructor", .version = "0.0.1"};

XOMNI_REWARD_EXPORT const XomniRewardPlugin* xomni_reward_plugin(void) {
  return &k_plugin;
}
