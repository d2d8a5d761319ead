// Deliberately wrong: the generic trainer may not depend on a stage or on plugins.
#include "xomni/plugins/components.h"
