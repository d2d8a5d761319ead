#pragma once
// Process-group topology. The world is TP x CP x DP x PP with ranks ordered tp fastest, then cp,
// dp, pp (Megatron-Core's order):  rank = tp + TP*(cp + CP*(dp + DP*pp)).
// Every group is built by one rule: the group of a set of dimensions holds the ranks that agree
// on every coordinate outside the set, in rank order.
#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "xomni/parallel/comm.h"

namespace xomni::parallel {

struct Layout {
  int tp = 1, cp = 1, dp = 1, pp = 1;
  int world() const { return tp * cp * dp * pp; }
  std::string str() const;  // "tp=2 cp=1 dp=2 pp=1"
  bool operator==(const Layout&) const = default;
};

// Fills dp when it is 0 (= world / (tp*cp*pp)). Throws naming the number that is wrong when a
// size is < 1, when tp*cp*pp does not divide the world, or when the product is not the world.
// `where` prefixes messages (e.g. "job.toml [parallel]").
Layout resolve_layout(Layout requested, int world_size, const std::string& where);

// The model sizes a layout must divide.
struct ModelDims {
  int64_t num_attention_heads = 0, num_key_value_heads = 0, vocab_size = 0, intermediate_size = 0,
          num_hidden_layers = 0;
};
// Throws naming both numbers when tp does not divide the heads, the KV heads, the vocabulary or
// the MLP width, or when pp x virtual_stages exceeds the number of layers (interleaved 1F1B:
// virtual_stages model chunks per pipeline rank, which needs pp >= 2).
void check_model_fits(const Layout& layout, const ModelDims& dims, const std::string& where,
                      int virtual_stages = 1);

struct Coord {
  int tp = 0, cp = 0, dp = 0, pp = 0;
  bool operator==(const Coord&) const = default;
};
Coord coord_of(const Layout& layout, int rank);
int rank_of(const Layout& layout, const Coord& c);

// Dimensions named "tp", "cp", "dp", "pp" joined by '+', e.g. "dp+cp". The world ranks of the
// group spanning `dims` that contains `rank`, in increasing order.
std::vector<int> group_ranks(const Layout& layout, int rank, std::string_view dims);

class MpiCommunicator;

// This rank's communicators for every group the engine uses. Callers see each group as a
// Communicator; the groups are MPI communicators split from the world given here.
class ProcessGroups {
 public:
  // Collective over `world`, which must have layout.world() ranks; world() is a duplicate of it.
  // Every group is built here, once.
  ProcessGroups(const MpiCommunicator& world, const Layout& layout);
  ~ProcessGroups();

  const Layout& layout() const { return layout_; }
  const Coord& coord() const { return coord_; }
  int world_rank() const { return world_rank_; }

  Communicator& world() const;
  // The world group as the MPI communicator it is (a duplicate of the one given), for callers
  // that need its MPI handle.
  MpiCommunicator& mpi_world() const;
  Communicator& tp() const;
  Communicator& cp() const;
  Communicator& dp() const;
  Communicator& pp() const;
  Communicator& dp_cp() const;  // gradient reduction when CP > 1
  Communicator& tp_cp() const;
  Communicator& model_parallel() const;  // tp+pp
  // One of the groups above by its dims string, in any order ("cp+dp" is dp_cp()).
  Communicator& group(std::string_view dims) const;

 private:
  Layout layout_;
  Coord coord_;
  int world_rank_ = 0;
  std::unique_ptr<MpiCommunicator> world_;
  std::vector<std::pair<std::string, std::unique_ptr<MpiCommunicator>>> groups_;
};

}  // namespace xomni::parallel
