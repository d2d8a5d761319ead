// The 1F1B pipeline schedule (as in Megatron-LM's non-interleaved schedule): stage s runs
// min(p-1-s, m) warm-up forwards, then alternates one forward and one backward, then drains the
// remaining backwards. Only the stage's own compute is timed for the timeline.
#include <algorithm>
#include <chrono>
#include <deque>

#include "xomni/core/tensor/autograd.h"
#include "xomni/parallel/pipeline.h"

namespace xomni::parallel {

namespace {

using Clock = std::chrono::steady_clock;

// Tags of the pipeline's messages, away from the small tags other code may use on the group.
constexpr int kActivationTag = 1000;
constexpr int kGradientTag = 1001;

// One stage's side of the schedule: its in-flight micro-batches and its messages.
class StageRunner {
 public:
  StageRunner(Communicator& pp, const StageFunctions& fns, std::vector<TimelineEvent>* timeline)
      : pp_(pp),
        fns_(fns),
        timeline_(timeline),
        s_(pp.rank()),
        p_(pp.size()),
        first_(s_ == 0),
        last_(s_ == p_ - 1) {
    XOMNI_CHECK(fns_.forward, "pipeline stage ", s_, ": StageFunctions::forward is not set");
    XOMNI_CHECK(last_ || shape_numel(fns_.activation_shape) > 0, "pipeline stage ", s_,
                ": StageFunctions::activation_shape ", shape_str(fns_.activation_shape),
                " has no elements");
    // A common time origin: every stage leaves the barrier within microseconds of the others.
    pp_.barrier();
    t0_ = Clock::now();
  }

  const std::vector<double>& losses() const { return losses_; }
  size_t peak_in_flight() const { return peak_; }

  // An activation from stage s-1 (undefined on the first stage).
  Tensor recv_forward() {
    if (first_) return Tensor();
    Tensor in = fresh_activation();
    pp_.recv(in, s_ - 1, kActivationTag);
    in.set_requires_grad(true);
    return in;
  }
  void send_forward(const Tensor& out) {
    if (!last_) pp_.send(out, s_ + 1, kActivationTag);
  }
  // The gradient of this stage's output, from stage s+1 (undefined on the last stage).
  Tensor recv_backward() {
    if (last_) return Tensor();
    Tensor g = fresh_activation();
    pp_.recv(g, s_ + 1, kGradientTag);
    return g;
  }
  void send_backward(const Tensor& grad) {
    if (!first_) pp_.send(grad, s_ - 1, kGradientTag);
  }
  // Steady state: the activation goes down while the gradient of an earlier one comes up.
  Tensor send_forward_recv_backward(const Tensor& out) {
    if (last_) return Tensor();
    Tensor g = fresh_activation();
    pp_.send_recv(out, s_ + 1, kActivationTag, g, s_ + 1, kGradientTag);
    return g;
  }
  Tensor send_backward_recv_forward(const Tensor& grad) {
    if (first_) return Tensor();
    Tensor in = fresh_activation();
    pp_.send_recv(grad, s_ - 1, kGradientTag, in, s_ - 1, kActivationTag);
    in.set_requires_grad(true);
    return in;
  }

  // Runs the forward of `micro`; returns what to send on (contiguous, no history).
  Tensor forward(int64_t micro, const Tensor& input) {
    const double start = now();
    Tensor out = fns_.forward(micro, input);
    XOMNI_CHECK(out.defined(), "pipeline stage ", s_, ": forward of micro-batch ", micro,
                " returned an undefined tensor");
    Tensor to_send;
    if (last_) {
      XOMNI_CHECK(out.numel() == 1, "pipeline stage ", s_, " (the last): forward of micro-batch ",
                  micro, " must return a one-element loss, got shape ", shape_str(out.shape()));
      losses_.push_back(out.item());
    } else {
      XOMNI_CHECK(out.shape() == fns_.activation_shape && out.dtype() == fns_.activation_dtype,
                  "pipeline stage ", s_, ": forward of micro-batch ", micro, " returned ",
                  dtype_name(out.dtype()), " ", shape_str(out.shape()), ", expected ",
                  dtype_name(fns_.activation_dtype), " ", shape_str(fns_.activation_shape));
      to_send = out.detach().contiguous();
    }
    in_flight_.push_back({micro, input, out});
    peak_ = std::max(peak_, in_flight_.size());
    record(micro, 'F', start);
    return to_send;
  }

  // Backward of the oldest in-flight micro-batch with the gradient of its output (ignored on the
  // last stage, whose loss gets gradient 1); returns the gradient of its input (undefined on the
  // first stage).
  Tensor backward(const Tensor& grad_out) {
    XOMNI_CHECK(!in_flight_.empty(), "pipeline stage ", s_, ": backward with nothing in flight");
    InFlight mb = std::move(in_flight_.front());
    in_flight_.pop_front();
    const double start = now();
    if (mb.output.requires_grad()) {
      const Tensor g = last_ ? Tensor::ones(mb.output.shape(), mb.output.dtype()) : grad_out;
      run_backward({mb.output}, {g});
    }
    Tensor grad_in;
    if (!first_) {
      grad_in = mb.input.grad();
      // An input the stage did not use has no gradient: send zeros so the peer still gets one.
      grad_in = grad_in.defined() ? grad_in.contiguous() : fresh_activation().fill_(0.0);
    }
    record(mb.micro, 'B', start);
    return grad_in;
  }

 private:
  struct InFlight {
    int64_t micro;
    Tensor input, output;
  };

  Tensor fresh_activation() const {
    return Tensor::empty(fns_.activation_shape, fns_.activation_dtype);
  }
  double now() const { return std::chrono::duration<double>(Clock::now() - t0_).count(); }
  void record(int64_t micro, char phase, double start) {
    if (timeline_) timeline_->push_back({s_, s_, micro, phase, start, now(), 0});
  }

  Communicator& pp_;
  const StageFunctions& fns_;
  std::vector<TimelineEvent>* timeline_;
  const int s_, p_;
  const bool first_, last_;
  Clock::time_point t0_;
  std::deque<InFlight> in_flight_;
  size_t peak_ = 0;
  std::vector<double> losses_;
};

}  // namespace

std::vector<std::pair<char, int64_t>> one_f_one_b_order(int stage, int stages,
                                                        int64_t micro_batches) {
  XOMNI_CHECK(stages >= 1 && stage >= 0 && stage < stages, "one_f_one_b_order: stage ", stage,
              " is not one of ", stages, " stages");
  XOMNI_CHECK(micro_batches >= 1, "one_f_one_b_order: micro_batches must be >= 1, got ",
              micro_batches);
  const int64_t warmup = std::min<int64_t>(stages - 1 - stage, micro_batches);
  std::vector<std::pair<char, int64_t>> order;
  int64_t f = 0, b = 0;
  for (; f < warmup; ++f) order.emplace_back('F', f);
  for (; f < micro_batches; ++f, ++b) {
    order.emplace_back('F', f);
    order.emplace_back('B', b);
  }
  for (; b < micro_batches; ++b) order.emplace_back('B', b);
  return order;
}

std::vector<double> run_1f1b(Communicator& pp, const StageFunctions& stage, int64_t micro_batches,
                             std::vector<TimelineEvent>* timeline) {
  XOMNI_CHECK(micro_batches >= 1, "run_1f1b: micro_batches must be >= 1, got ", micro_batches);
  const int p = pp.size(), s = pp.rank();
  StageRunner r(pp, stage, timeline);
  const int64_t warmup = std::min<int64_t>(p - 1 - s, micro_batches);
  const int64_t steady = micro_batches - warmup;

  for (int64_t i = 0; i < warmup; ++i) r.send_forward(r.forward(i, r.recv_forward()));
  Tensor input = steady > 0 ? r.recv_forward() : Tensor();
  for (int64_t i = 0; i < steady; ++i) {
    const Tensor grad_out = r.send_forward_recv_backward(r.forward(warmup + i, input));
    const Tensor grad_in = r.backward(grad_out);
    if (i + 1 == steady) {
      r.send_backward(grad_in);
      input = Tensor();
    } else {
      input = r.send_backward_recv_forward(grad_in);
    }
  }
  for (int64_t i = 0; i < warmup; ++i) r.send_backward(r.backward(r.recv_backward()));

  // Every stage reports the last stage's losses.
  Tensor losses = Tensor::zeros({micro_batches}, DType::f64);
  if (s == p - 1) {
    double* d = losses.data<double>();
    for (int64_t i = 0; i < micro_batches; ++i) d[i] = r.losses()[size_t(i)];
  }
  pp.broadcast(losses, p - 1);
  return losses.to_vector<double>();
}

}  // namespace xomni::parallel
