// Deliberately wrong: the core may not depend on parallel/.
#include "xomni/parallel/comm.h"
