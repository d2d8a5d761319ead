// Closing a checkpoint file being written without ever leaving HDF5 a file whose close failed
// (see WritableFile in hdf5.h).
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "io/hdf5.h"

namespace xomni::ckpt {

void redirect_descriptors_to_memory(uint64_t device, uint64_t inode) noexcept {
  DIR* fds = ::opendir("/proc/self/fd");
  if (!fds) return;
  int memory = ::memfd_create("xomni-discarded-checkpoint", MFD_CLOEXEC);
  if (memory < 0) memory = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  const int listing = ::dirfd(fds);
  while (const dirent* e = ::readdir(fds)) {
    const int fd = std::atoi(e->d_name);
    if (e->d_name[0] < '0' || e->d_name[0] > '9' || fd == listing || fd == memory) continue;
    struct stat st {};
    if (::fstat(fd, &st) == 0 && uint64_t(st.st_dev) == device && uint64_t(st.st_ino) == inode)
      ::dup2(memory, fd);  // keeps fd's number, which HDF5 (or MPI-IO) still holds
  }
  ::closedir(fds);
  if (memory >= 0) ::close(memory);
}

WritableFile::WritableFile(hid_t id, const std::string& path) : id_(id, H5Fclose), path_(path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) device_ = uint64_t(st.st_dev), inode_ = uint64_t(st.st_ino);
}

std::string WritableFile::reserve_space(uint64_t at_least) const {
  // The end of the space HDF5 has allocated: every later write of what exists lands below it. The
  // MPI-IO driver cannot tell (H5Fget_eoa fails there); the caller's bound stands in for it.
  haddr_t end = 0;
  if (!id_.valid() || H5Fget_eoa(id_.get(), &end) < 0) {
    H5Eclear2(H5E_DEFAULT);
    end = 0;
  }
  const uint64_t size = std::max<uint64_t>(end, at_least);
  const int fd = ::open(path_.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return system_error_text(errno);
  const int rc = size > 0 ? ::fallocate(fd, 0, 0, off_t(size)) : 0;
  const int err = errno;
  ::close(fd);
  if (rc == 0) return "";
  // A file system that cannot reserve space (NFS before 4.2, some parallel ones) gets none: the
  // write then goes on as it would have without this.
  if (err == EOPNOTSUPP || err == ENOSYS || err == ENODEV || err == EINVAL) return "";
  return system_error_text(err);
}

void WritableFile::close(const std::string& what) {
  if (!id_.valid()) return;
  // A failed flush may leave HDF5 unable to close the file at all; abandon() still can.
  if (H5Fflush(id_.get(), H5F_SCOPE_LOCAL) < 0) {
    const std::string why = h5_error_text();
    abandon();
    throw Error(what + (why.empty() ? "" : ": " + why));
  }
  if (id_.close() < 0) {
    const std::string why = h5_error_text();
    throw Error(what + (why.empty() ? "" : ": " + why));
  }
}

void WritableFile::abandon() noexcept {
  if (!id_.valid()) return;
  QuietErrors quiet;
  if (inode_ != 0) redirect_descriptors_to_memory(device_, inode_);
  id_.reset();
  H5Eclear2(H5E_DEFAULT);
}

}  // namespace xomni::ckpt
