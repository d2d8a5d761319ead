#pragma once
// Job configuration: a TOML file checked against a schema declared in C++, with --set overrides,
// defaults filled in, typed getters, and a TOML rendering that parses back to the same config.
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace xomni {

enum class FieldType { integer, floating, boolean, string, string_list, table };
const char* field_type_name(FieldType t);  // "int", "float", "bool", "string", ...

// The value of one field. `table` fields hold free-form TOML (e.g. a plugin's own settings), kept
// as TOML text in `text` and not checked further.
struct FieldValue {
  int64_t i = 0;
  double f = 0.0;
  bool b = false;
  std::string text;  // string value, or the table's TOML text
  std::vector<std::string> list;
};

// How a string field's relative value in a job file is read: not a path, a path (resolved against
// the job file's folder), or a plugin (a bare name without '/' and without ".so" is a name looked
// up on the plugin search path; anything else is a path, resolved as one).
enum class PathKind { none, path, plugin };

// `value` resolved against `base_dir` as `kind` says ("" base_dir, an empty or absolute value, or
// a plugin name: unchanged).
std::string resolve_path(const std::string& value, const std::string& base_dir, PathKind kind);

struct FieldSpec {
  std::string key;  // dotted path, e.g. "optimizer.learning_rate"
  FieldType type = FieldType::integer;
  bool required = false;
  FieldValue default_value;  // unused when required
  std::string doc;
  // The values an int or float field accepts: [min, max], with either end open when min_exclusive
  // or max_exclusive (e.g. (0, 1] or [0, 1)). Checked
  // where a value is read (the file or --set), so no value outside reaches the code that uses it.
  // A float field never accepts NaN.
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  bool min_exclusive = false;
  bool max_exclusive = false;
  // A string field that holds a path (see PathKind).
  PathKind path_kind = PathKind::none;

  // Range declarations, chained on a builder: int_field("train.seq_len", 128, "...").at_least(1).
  FieldSpec at_least(double v) && {
    min = v;
    min_exclusive = false;
    return std::move(*this);
  }
  FieldSpec greater_than(double v) && {
    min = v;
    min_exclusive = true;
    return std::move(*this);
  }
  FieldSpec at_most(double v) && {
    max = v;
    max_exclusive = false;
    return std::move(*this);
  }
  FieldSpec less_than(double v) && {
    max = v;
    max_exclusive = true;
    return std::move(*this);
  }
  FieldSpec path() && {
    path_kind = PathKind::path;
    return std::move(*this);
  }
  FieldSpec plugin() && {
    path_kind = PathKind::plugin;
    return std::move(*this);
  }
  // "" when `v` is in range, else why not ("must be at least 1, got 0").
  std::string range_problem(double v) const;
};

// Builders for schema declarations. An int value is accepted for a float field.
FieldSpec int_field(std::string key, int64_t def, std::string doc);
FieldSpec float_field(std::string key, double def, std::string doc);
FieldSpec bool_field(std::string key, bool def, std::string doc);
FieldSpec string_field(std::string key, std::string def, std::string doc);
FieldSpec strings_field(std::string key, std::vector<std::string> def, std::string doc);
FieldSpec table_field(std::string key, std::string doc);  // default: empty table
FieldSpec required_field(std::string key, FieldType type, std::string doc);

class Schema {
 public:
  Schema() = default;
  explicit Schema(std::vector<FieldSpec> fields);  // checks keys are unique and non-overlapping
  const std::vector<FieldSpec>& fields() const { return fields_; }
  const FieldSpec* find(std::string_view key) const;  // nullptr when absent
  // True when `key` is a table that holds declared fields ("optimizer" for
  // "optimizer.learning_rate").
  bool is_section(std::string_view key) const;
  // The declared key or section nearest to `key` by edit distance, or "" when none is close.
  std::string suggest(std::string_view key) const;

 private:
  std::vector<FieldSpec> fields_;
};

// Edit (Levenshtein) distance.
size_t edit_distance(std::string_view a, std::string_view b);

// A checked configuration. Errors (xomni::Error) name the source and position:
//   jobs/tiny.toml:12:1: unknown key 'optimizer.learning_rat'; did you mean
//   'optimizer.learning_rate'?
//   jobs/tiny.toml:4:9: 'train.steps' has the wrong type: expected int, found string
//   jobs/tiny.toml:3:1: missing required key 'model.vocab_size' (<doc>)
//   --set optimizer.lr=3: unknown key 'optimizer.lr'; did you mean 'optimizer.learning_rate'?
//   --set train.steps=abc: cannot parse 'abc' as a TOML value (...)
class Config {
 public:
  // Overrides are "key=value" strings; the value is a TOML value (a string field also takes
  // unquoted text), checked against the field's type, and applied after the file. Relative values
  // of path fields in the file are resolved against the file's folder; those of overrides stay as
  // given (relative to the working directory, like any command-line path).
  static Config load(const std::string& path, const Schema& schema,
                     const std::vector<std::string>& overrides = {});
  // Same from text; `source` names it in errors (a path, or e.g. "<config>"). Relative paths in
  // the text are resolved against `base_dir` (none when empty).
  static Config parse(std::string_view text, const std::string& source, const Schema& schema,
                      const std::vector<std::string>& overrides = {},
                      const std::string& base_dir = "");
  // The folder a job file's relative paths are resolved against: the file's own ("." for a bare
  // file name).
  static std::string folder_of(const std::string& path);

  // A file's text ("config: cannot open ..." when it cannot be read).
  static std::string read_text(const std::string& path);
  // One string field read before the whole file is checked, for a schema that depends on it (a
  // stage's [model] fields are declared by the plugin that `model.backbone` names): the last
  // --set override of `key`, else the file's value, else `fallback`.
  static std::string peek_string(std::string_view text, const std::string& source,
                                 const std::string& key, const std::vector<std::string>& overrides,
                                 const std::string& fallback);

  // An int field of a configuration saved earlier (a checkpoint's): its value, or nullopt when the
  // text does not parse or holds no such int.
  static std::optional<int64_t> peek_saved_int(std::string_view text, const std::string& key);

  int64_t get_int(std::string_view key) const;
  double get_float(std::string_view key) const;
  bool get_bool(std::string_view key) const;
  std::string get_string(std::string_view key) const;
  std::vector<std::string> get_strings(std::string_view key) const;
  std::string get_table(std::string_view key) const;  // the table's TOML text
  // Whether the file or an override set the key (false: the default is in force).
  bool is_set(std::string_view key) const;

  // The effective configuration (every field, defaults filled, overrides applied) as TOML;
  // Config::parse of this text gives the same values and the same text.
  std::string to_toml() const;
  const Schema& schema() const;
  const std::string& source() const;

  struct Impl;

 private:
  explicit Config(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

}  // namespace xomni
