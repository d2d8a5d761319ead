// CommCheckpointGroup: a checkpoint's collectives as raw-buffer Communicator operations.
#include "xomni/parallel/comm_checkpoint_group.h"

namespace xomni::parallel {

void CommCheckpointGroup::broadcast(void* data, int64_t bytes, int root) {
  comm_.broadcast_raw(data, bytes, DType::u8, root);
}

void CommCheckpointGroup::sum(int64_t* data, int64_t count) {
  comm_.all_reduce_raw(data, count, DType::i64, ReduceOp::sum);
}

}  // namespace xomni::parallel
