// Process-group topology: layout checks, rank <-> coordinate maps, and the MPI communicators of
// every group, all from one rule (a group = the ranks that agree outside its dimensions).
#include "xomni/parallel/topology.h"

#include <algorithm>

#include "xomni/parallel/mpi_comm.h"

namespace xomni::parallel {

namespace {

// Dimensions in rank order (tp fastest).
constexpr int kDims = 4;
constexpr const char* kDimNames[kDims] = {"tp", "cp", "dp", "pp"};

std::array<int, kDims> sizes(const Layout& l) {
  return {l.tp, l.cp, l.dp, l.pp};
}
std::array<int, kDims> coords(const Coord& c) {
  return {c.tp, c.cp, c.dp, c.pp};
}

std::string prefix(const std::string& where) {
  return where.empty() ? "" : where + ": ";
}

// "dp+cp" -> bit mask over kDimNames; throws on unknown or repeated names.
unsigned parse_dims(std::string_view dims) {
  unsigned mask = 0;
  size_t pos = 0;
  for (;;) {
    size_t plus = dims.find('+', pos);
    std::string_view name = dims.substr(pos, plus == std::string_view::npos ? plus : plus - pos);
    int d = 0;
    while (d < kDims && name != kDimNames[d]) ++d;
    XOMNI_CHECK(d < kDims, "process group '", dims, "': unknown dimension '", name,
                "' (use tp, cp, dp, pp joined by '+', e.g. \"dp+cp\")");
    XOMNI_CHECK(!(mask & (1u << d)), "process group '", dims, "': dimension ", name,
                " appears twice");
    mask |= 1u << d;
    if (plus == std::string_view::npos) return mask;
    pos = plus + 1;
  }
}

// The linearised coordinates outside `mask`: equal exactly for ranks of the same group.
int color_of(const Layout& l, const Coord& c, unsigned mask) {
  auto n = sizes(l);
  auto x = coords(c);
  int color = 0, stride = 1;
  for (int d = 0; d < kDims; ++d) {
    if (mask & (1u << d)) continue;
    color += x[size_t(d)] * stride;
    stride *= n[size_t(d)];
  }
  return color;
}

void check_layout(const Layout& l) {
  XOMNI_CHECK(l.tp >= 1 && l.cp >= 1 && l.dp >= 1 && l.pp >= 1, "layout ", l.str(),
              ": every size must be >= 1");
}

}  // namespace

std::string Layout::str() const {
  return "tp=" + std::to_string(tp) + " cp=" + std::to_string(cp) + " dp=" + std::to_string(dp) +
         " pp=" + std::to_string(pp);
}

Layout resolve_layout(Layout requested, int world_size, const std::string& where) {
  const std::string p = prefix(where);
  Layout l = requested;
  XOMNI_CHECK(l.tp >= 1, p, "tp=", l.tp, " must be at least 1");
  XOMNI_CHECK(l.cp >= 1, p, "cp=", l.cp, " must be at least 1");
  XOMNI_CHECK(l.pp >= 1, p, "pp=", l.pp, " must be at least 1");
  XOMNI_CHECK(l.dp >= 0, p, "dp=", l.dp, " must be at least 1 (or 0 to fill the world)");
  XOMNI_CHECK(world_size >= 1, p, "the world size must be at least 1, got ", world_size);
  const int64_t model = int64_t(l.tp) * l.cp * l.pp;
  XOMNI_CHECK(world_size % model == 0, p, "tp*cp*pp = ", l.tp, "*", l.cp, "*", l.pp, " = ", model,
              " does not divide the world size ", world_size, " (mpirun -np ", world_size, ")");
  if (l.dp == 0) l.dp = int(world_size / model);
  XOMNI_CHECK(model * l.dp == world_size, p, "tp*cp*dp*pp = ", l.tp, "*", l.cp, "*", l.dp, "*",
              l.pp, " = ", model * l.dp, " is not the world size ", world_size, " (mpirun -np ",
              world_size, "); set dp=", world_size / model, " or dp=0 to fill the world");
  return l;
}

void check_model_fits(const Layout& layout, const ModelDims& dims, const std::string& where,
                      int virtual_stages) {
  const std::string p = prefix(where);
  auto divides = [&](int64_t value, const char* name) {
    XOMNI_CHECK(value % layout.tp == 0, p, "tp=", layout.tp, " does not divide model.", name, "=",
                value);
  };
  divides(dims.num_attention_heads, "num_attention_heads");
  divides(dims.num_key_value_heads, "num_key_value_heads");
  divides(dims.vocab_size, "vocab_size");
  divides(dims.intermediate_size, "intermediate_size");
  // 0 layers means "not given" (callers that only know some sizes).
  XOMNI_CHECK(virtual_stages >= 1, p, "virtual_stages=", virtual_stages, " must be >= 1");
  XOMNI_CHECK(virtual_stages == 1 || layout.pp >= 2, p, "virtual_stages=", virtual_stages,
              " needs a pipeline (pp >= 2), got pp=", layout.pp);
  XOMNI_CHECK(dims.num_hidden_layers == 0 || layout.pp <= dims.num_hidden_layers, p,
              "pp=", layout.pp, " exceeds model.num_hidden_layers=", dims.num_hidden_layers,
              " (every pipeline stage needs at least one layer)");
  XOMNI_CHECK(
      dims.num_hidden_layers == 0 || int64_t(layout.pp) * virtual_stages <= dims.num_hidden_layers,
      p, "pp=", layout.pp, " x virtual_stages=", virtual_stages, " = ",
      int64_t(layout.pp) * virtual_stages,
      " virtual stages exceed model.num_hidden_layers=", dims.num_hidden_layers,
      " (every virtual stage needs at least one layer)");
}

Coord coord_of(const Layout& l, int rank) {
  check_layout(l);
  XOMNI_CHECK(rank >= 0 && rank < l.world(), "coord_of: rank ", rank, " is outside layout ",
              l.str(), " (", l.world(), " ranks)");
  Coord c;
  c.tp = rank % l.tp;
  rank /= l.tp;
  c.cp = rank % l.cp;
  rank /= l.cp;
  c.dp = rank % l.dp;
  c.pp = rank / l.dp;
  return c;
}

int rank_of(const Layout& l, const Coord& c) {
  check_layout(l);
  XOMNI_CHECK(c.tp >= 0 && c.tp < l.tp && c.cp >= 0 && c.cp < l.cp && c.dp >= 0 && c.dp < l.dp &&
                  c.pp >= 0 && c.pp < l.pp,
              "rank_of: coordinate tp=", c.tp, " cp=", c.cp, " dp=", c.dp, " pp=", c.pp,
              " is outside layout ", l.str());
  return c.tp + l.tp * (c.cp + l.cp * (c.dp + l.dp * c.pp));
}

std::vector<int> group_ranks(const Layout& l, int rank, std::string_view dims) {
  const unsigned mask = parse_dims(dims);
  const int color = color_of(l, coord_of(l, rank), mask);
  std::vector<int> out;
  for (int r = 0; r < l.world(); ++r)
    if (color_of(l, coord_of(l, r), mask) == color) out.push_back(r);
  return out;
}

// ---- ProcessGroups ----

namespace {
// The groups built eagerly, by canonical name.
constexpr const char* kGroups[] = {"tp", "cp", "dp", "pp", "dp+cp", "tp+cp", "tp+pp"};
}  // namespace

ProcessGroups::ProcessGroups(const MpiCommunicator& world, const Layout& layout)
    : layout_(layout), world_rank_(world.rank()) {
  check_layout(layout);
  XOMNI_CHECK(world.size() == layout.world(), "ProcessGroups: layout ", layout.str(), " needs ",
              layout.world(), " ranks but communicator '", world.name(), "' has ", world.size());
  coord_ = coord_of(layout, world_rank_);
  // Key = rank in `world`, so group ranks follow world order (as group_ranks() lists them).
  world_ = world.split(0, world_rank_, "world");
  for (const char* g : kGroups)
    groups_.emplace_back(g, world_->split(color_of(layout, coord_, parse_dims(g)), world_rank_, g));
}

ProcessGroups::~ProcessGroups() = default;

Communicator& ProcessGroups::world() const {
  return *world_;
}
MpiCommunicator& ProcessGroups::mpi_world() const {
  return *world_;
}
Communicator& ProcessGroups::tp() const {
  return group("tp");
}
Communicator& ProcessGroups::cp() const {
  return group("cp");
}
Communicator& ProcessGroups::dp() const {
  return group("dp");
}
Communicator& ProcessGroups::pp() const {
  return group("pp");
}
Communicator& ProcessGroups::dp_cp() const {
  return group("dp+cp");
}
Communicator& ProcessGroups::tp_cp() const {
  return group("tp+cp");
}
Communicator& ProcessGroups::model_parallel() const {
  return group("tp+pp");
}

Communicator& ProcessGroups::group(std::string_view dims) const {
  const unsigned mask = parse_dims(dims);
  if (mask == (1u << kDims) - 1) return *world_;
  for (const auto& [name, comm] : groups_)
    if (parse_dims(name) == mask) return *comm;
  std::string known = "world (tp+cp+dp+pp)";
  for (const char* g : kGroups) known += std::string(", ") + g;
  throw Error("ProcessGroups: no group '" + std::string(dims) + "'; the groups are " + known);
}

}  // namespace xomni::parallel
