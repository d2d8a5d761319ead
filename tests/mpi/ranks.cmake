# Rank counts each MPI test executable runs at (see tests/CMakeLists.txt).
set(XOMNI_MPI_RANKS_test_comm 2 4)
