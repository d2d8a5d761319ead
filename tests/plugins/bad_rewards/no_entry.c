/* Test plugin: a shared library that does not export xomni_reward_plugin. */
#include "xomni/reward.h"

XOMNI_REWARD_EXPORT int not_a_reward(void) {
  return 1;
}
