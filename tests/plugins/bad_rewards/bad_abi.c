/* Test plugin: claims a future reward ABI version, as a plugin built against another xomni would.
 */
#include <stddef.h>

#include "xomni/reward.h"

static const XomniRewardPlugin k_plugin = {
    .abi_version = XOMNI_REWARD_ABI_VERSION + 998, .name = "bad_abi", .version = "0.0.1"};

XOMNI_REWARD_EXPORT const XomniRewardPlugin* xomni_reward_plugin(void) {
  return &k_plugin;
}
