# Rank counts each MPI test executable runs at (see tests/CMakeLists.txt).
set(XOMNI_MPI_RANKS_test_comm 2 4 8)
set(XOMNI_MPI_RANKS_test_checkpoint_mpi 2 4)
set(XOMNI_MPI_RANKS_test_distributed_optimizer 2 4)
set(XOMNI_MPI_RANKS_test_process_groups 2 4 8)
set(XOMNI_MPI_RANKS_test_lm_parallel 2 4)
set(XOMNI_MPI_RANKS_test_tp_model 2 4 8)
