# Picks the OpenMP build of OpenBLAS when Debian's libopenblas0-openmp is installed: the default
# pthread build spins its own threads beside ours and oversubscribes small machines.
set(_openblas_omp_dir /usr/lib/x86_64-linux-gnu/openblas-openmp)
find_library(XOMNI_BLAS_LIBRARY NAMES openblas
  HINTS ${_openblas_omp_dir} NO_DEFAULT_PATH)
if(NOT XOMNI_BLAS_LIBRARY)
  find_library(XOMNI_BLAS_LIBRARY NAMES openblas REQUIRED)
endif()
find_path(XOMNI_CBLAS_INCLUDE_DIR NAMES cblas.h
  PATHS /usr/include/x86_64-linux-gnu/openblas-openmp NO_DEFAULT_PATH)
if(NOT XOMNI_CBLAS_INCLUDE_DIR)
  find_path(XOMNI_CBLAS_INCLUDE_DIR NAMES cblas.h REQUIRED)
endif()
add_library(xomni::blas INTERFACE IMPORTED)
target_link_libraries(xomni::blas INTERFACE ${XOMNI_BLAS_LIBRARY})
target_include_directories(xomni::blas INTERFACE ${XOMNI_CBLAS_INCLUDE_DIR})
message(STATUS "xomni: BLAS ${XOMNI_BLAS_LIBRARY} (cblas.h in ${XOMNI_CBLAS_INCLUDE_DIR})")
