// Deliberately wrong: a reward plugin may not reach into the CLI.
#include "lm/lm_stage.h"
