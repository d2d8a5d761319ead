// Schema declarations and key suggestions.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>
#include <sstream>

#include "xomni/core/config/config.h"
#include "xomni/core/tensor/error.h"

namespace xomni {

FieldSpec int_field(std::string key, int64_t def, std::string doc) {
  FieldSpec f{std::move(key), FieldType::integer, false, {}, std::move(doc)};
  f.default_value.i = def;
  return f;
}
FieldSpec float_field(std::string key, double def, std::string doc) {
  FieldSpec f{std::move(key), FieldType::floating, false, {}, std::move(doc)};
  f.default_value.f = def;
  return f;
}
FieldSpec bool_field(std::string key, bool def, std::string doc) {
  FieldSpec f{std::move(key), FieldType::boolean, false, {}, std::move(doc)};
  f.default_value.b = def;
  return f;
}
FieldSpec string_field(std::string key, std::string def, std::string doc) {
  FieldSpec f{std::move(key), FieldType::string, false, {}, std::move(doc)};
  f.default_value.text = std::move(def);
  return f;
}
FieldSpec strings_field(std::string key, std::vector<std::string> def, std::string doc) {
  FieldSpec f{std::move(key), FieldType::string_list, false, {}, std::move(doc)};
  f.default_value.list = std::move(def);
  return f;
}
FieldSpec table_field(std::string key, std::string doc) {
  return FieldSpec{std::move(key), FieldType::table, false, {}, std::move(doc)};
}
FieldSpec required_field(std::string key, FieldType type, std::string doc) {
  return FieldSpec{std::move(key), type, true, {}, std::move(doc)};
}

std::string FieldSpec::range_problem(double v) const {
  auto text = [](double x) {
    std::ostringstream os;
    os << x;
    return os.str();
  };
  if (std::isnan(v)) return "must be a number, got nan";
  if (min_exclusive ? !(v > min) : v < min)
    return (min_exclusive ? "must be greater than " : "must be at least ") + text(min) + ", got " +
           text(v);
  if (max_exclusive ? !(v < max) : v > max)
    return (max_exclusive ? "must be less than " : "must be at most ") + text(max) + ", got " +
           text(v);
  return "";
}

std::string resolve_path(const std::string& value, const std::string& base_dir, PathKind kind) {
  if (kind == PathKind::none || base_dir.empty() || value.empty() || value.front() == '/')
    return value;
  const bool so = value.size() > 3 && value.compare(value.size() - 3, 3, ".so") == 0;
  if (kind == PathKind::plugin && value.find('/') == std::string::npos && !so) return value;
  std::string resolved = (std::filesystem::path(base_dir) / value).lexically_normal().string();
  // A library named without a '/' would be searched for on the loader's path, not here.
  if (kind == PathKind::plugin && resolved.find('/') == std::string::npos)
    resolved = "./" + resolved;
  return resolved;
}

Schema::Schema(std::vector<FieldSpec> fields) : fields_(std::move(fields)) {
  std::set<std::string> keys;
  for (const FieldSpec& f : fields_) {
    XOMNI_CHECK(!f.key.empty() && f.key.front() != '.' && f.key.back() != '.' &&
                    f.key.find("..") == std::string::npos,
                "Schema: invalid key '", f.key, "'");
    XOMNI_CHECK(keys.insert(f.key).second, "Schema: duplicate key '", f.key, "'");
    XOMNI_CHECK(f.path_kind == PathKind::none || f.type == FieldType::string, "Schema: '", f.key,
                "' is a ", field_type_name(f.type), " field and cannot hold a path");
    const bool numeric = f.type == FieldType::integer || f.type == FieldType::floating;
    XOMNI_CHECK(numeric || (std::isinf(f.min) && std::isinf(f.max)), "Schema: '", f.key, "' is a ",
                field_type_name(f.type), " field and cannot have a range");
    if (numeric && !f.required) {
      const double def =
          f.type == FieldType::integer ? double(f.default_value.i) : f.default_value.f;
      const std::string why = f.range_problem(def);
      XOMNI_CHECK(why.empty(), "Schema: the default of '", f.key, "' ", why);
    }
  }
  for (const FieldSpec& f : fields_)
    XOMNI_CHECK(!is_section(f.key), "Schema: '", f.key,
                "' is both a field and a table of other fields");
}

const FieldSpec* Schema::find(std::string_view key) const {
  for (const FieldSpec& f : fields_)
    if (f.key == key) return &f;
  return nullptr;
}

bool Schema::is_section(std::string_view key) const {
  for (const FieldSpec& f : fields_)
    if (f.key.size() > key.size() && f.key.compare(0, key.size(), key) == 0 &&
        f.key[key.size()] == '.')
      return true;
  return false;
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string Schema::suggest(std::string_view key) const {
  // Candidates: every field key and every section name, in declaration order.
  std::vector<std::string> candidates;
  for (const FieldSpec& f : fields_) {
    for (size_t dot = f.key.find('.'); dot != std::string::npos; dot = f.key.find('.', dot + 1))
      candidates.push_back(f.key.substr(0, dot));
    candidates.push_back(f.key);
  }
  std::string best;
  size_t best_d = std::max<size_t>(2, key.size() / 3) + 1;  // farther is no suggestion
  for (const std::string& c : candidates) {
    const size_t d = edit_distance(key, c);
    if (d < best_d) best = c, best_d = d;
  }
  return best;
}

}  // namespace xomni
