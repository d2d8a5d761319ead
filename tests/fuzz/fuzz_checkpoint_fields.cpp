// HDF5 checkpoints, structure-aware: the input does not become the file's bytes (HDF5 would reject
// nearly every mutation in its own parser) but decides what a well-formed HDF5 file holds: the
// root attributes (format version, step, completion marker) present, absent or of another type;
// datasets under model/, optimizer/, config, rng/, data_position/, meta/ with any element type,
// rank and extent, their "dtype" and "crc32" attributes right, wrong, absent or mistyped. So it
// is xomni's own checks that are exercised: a file that verifies must read back completely.
#include <hdf5.h>

#include <cstring>
#include <vector>

#include "fuzz_target.h"
#include "xomni/core/io/checkpoint.h"

namespace {

// Draws small choices and payload bytes from the input; zeros once it is used up.
class Draw {
 public:
  Draw(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  int pick(int n) { return byte() % n; }
  uint32_t u32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = v << 8 | byte();
    return v;
  }
  std::vector<uint8_t> bytes(size_t n) {
    std::vector<uint8_t> out(n);
    for (auto& b : out) b = byte();
    return out;
  }

 private:
  const uint8_t* data_;
  size_t size_, pos_ = 0;
};

void attr(hid_t obj, const char* name, hid_t type, const void* value) {
  const hid_t space = H5Screate(H5S_SCALAR);
  const hid_t a = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  if (a >= 0) H5Awrite(a, type, value), H5Aclose(a);
  H5Sclose(space);
}

void string_attr(hid_t obj, const char* name, const char* value) {
  const hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  attr(obj, name, t, &value);
  H5Tclose(t);
}

// An integer attribute, a string, a uint32 or nothing.
void integer_attr(Draw& d, hid_t obj, const char* name, const int64_t* likely, int n_likely) {
  switch (d.pick(5)) {
    case 0:
      return;
    case 1:
      return string_attr(obj, name, "7");
    case 2: {
      const uint32_t v = d.u32();
      return attr(obj, name, H5T_NATIVE_UINT32, &v);
    }
    case 3: {
      const int64_t v = int64_t(uint64_t(d.u32()) << 32 | d.u32());
      return attr(obj, name, H5T_NATIVE_INT64, &v);
    }
    default: {
      const int64_t v = likely[d.pick(n_likely)];
      return attr(obj, name, H5T_NATIVE_INT64, &v);
    }
  }
}

struct NumericType {
  hid_t type;
  size_t size;
  const char* xomni_name;
};

void dataset(Draw& d, hid_t file) {
  static const char* const names[] = {
      "model/w",  "model/layers.0.b",    "optimizer/w.exp_avg", "config",
      "rng/init", "data_position/train", "meta/stage",          "stray"};
  const char* name = names[d.pick(8)];
  const hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  hid_t dset = -1;
  std::vector<uint8_t> payload;
  if (d.pick(4) == 0) {  // a scalar variable-length string (config, meta)
    const hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    const hid_t space = H5Screate(H5S_SCALAR);
    dset = H5Dcreate2(file, name, t, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    const auto text_bytes = d.bytes(d.pick(12));
    std::string text(text_bytes.begin(), text_bytes.end());
    text = text.substr(0, text.find('\0'));
    payload.assign(text.begin(), text.end());
    const char* p = text.c_str();
    if (dset >= 0) H5Dwrite(dset, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &p);
    H5Sclose(space), H5Tclose(t);
  } else {
    static const NumericType types[] = {
        {H5T_NATIVE_FLOAT, 4, "f32"},  {H5T_NATIVE_DOUBLE, 8, "f64"},
        {H5T_NATIVE_INT32, 4, "i32"},  {H5T_NATIVE_INT64, 8, "i64"},
        {H5T_NATIVE_UINT8, 1, "u8"},   {H5T_NATIVE_UINT16, 2, "bf16"},
        {H5T_NATIVE_UINT64, 8, "u64"}, {H5T_NATIVE_INT8, 1, "i8"}};
    const NumericType& t = types[d.pick(8)];
    const int rank = d.pick(4);
    hsize_t dims[3] = {1, 1, 1};
    size_t count = 1;
    for (int i = 0; i < rank; ++i) dims[i] = hsize_t(d.pick(4)), count *= size_t(dims[i]);
    const hid_t space = rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(rank, dims, nullptr);
    dset = H5Dcreate2(file, name, t.type, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    payload = d.bytes(count * t.size);
    if (dset >= 0 && count > 0)
      H5Dwrite(dset, t.type, H5S_ALL, H5S_ALL, H5P_DEFAULT, payload.data());
    H5Sclose(space);
    switch (d.pick(5)) {  // the "dtype" attribute
      case 0:
        break;
      case 1:
        if (dset >= 0) string_attr(dset, "dtype", "bogus");
        break;
      case 2:
        if (dset >= 0) string_attr(dset, "dtype", "f16");
        break;
      case 3: {
        const int64_t v = 1;
        if (dset >= 0) attr(dset, "dtype", H5T_NATIVE_INT64, &v);
      } break;
      default:
        if (dset >= 0) string_attr(dset, "dtype", t.xomni_name);
    }
  }
  H5Pclose(lcpl);
  if (dset < 0) return;
  switch (d.pick(4)) {  // the "crc32" attribute
    case 0:
      break;
    case 1: {
      const uint32_t v = d.u32();
      attr(dset, "crc32", H5T_NATIVE_UINT32, &v);
    } break;
    case 2:
      string_attr(dset, "crc32", "0");
      break;
    default: {
      const uint32_t v = xomni::crc32(payload.data(), payload.size());
      attr(dset, "crc32", H5T_NATIVE_UINT32, &v);
    }
  }
  H5Dclose(dset);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return xomni::fuzz::run_guarded("fuzz_checkpoint_fields", [&] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // HDF5's refusals here are the input's doing
    const std::string path = xomni::fuzz::scratch_dir() + "/ckpt-00000005.h5";
    Draw d(data, size);
    const hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file < 0) std::abort();
    const int64_t versions[] = {1, 0, 2, -1};
    const int64_t steps[] = {5, 4, 0, -5};
    const int64_t complete[] = {1, 0, 2};
    integer_attr(d, file, "xomni_format_version", versions, 4);
    integer_attr(d, file, "step", steps, 4);
    for (int n = d.pick(6); n > 0; --n) dataset(d, file);
    integer_attr(d, file, "xomni_complete", complete, 3);
    H5Fclose(file);

    if (!xomni::checkpoint_problem(path).empty()) return;
    const xomni::CheckpointReader reader(path);
    for (const std::string& name : reader.tensor_names()) reader.read_tensor(name);
    if (reader.has_config()) reader.config();
    for (const std::string& name : reader.rng_names()) reader.rng_state(name);
    for (const std::string& name : reader.data_position_names()) reader.data_position(name);
    for (const std::string& key : reader.metadata_keys()) reader.metadata(key);
  });
}
