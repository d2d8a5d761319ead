// Interleaved 1F1B: runs interleaved_plan's steps over several model chunks per rank, with the
// ring of point-to-point messages between virtual stages. Only the chunks' own compute is timed.
#include <algorithm>
#include <chrono>
#include <deque>

#include "xomni/core/tensor/autograd.h"
#include "xomni/parallel/pipeline.h"

namespace xomni::parallel {

namespace {

using Clock = std::chrono::steady_clock;

// Tags name the receiving chunk; chunk 0's are run_1f1b's.
int activation_tag(int chunk) {
  return 1000 + 2 * chunk;
}
int gradient_tag(int chunk) {
  return 1001 + 2 * chunk;
}

class InterleavedRunner {
 public:
  InterleavedRunner(Communicator& pp, const std::vector<StageFunctions>& chunks,
                    std::vector<TimelineEvent>* timeline)
      : pp_(pp),
        chunks_(chunks),
        timeline_(timeline),
        s_(pp.rank()),
        p_(pp.size()),
        v_(int(chunks.size())),
        inputs_(chunks.size()),
        grads_(chunks.size()),
        in_flight_(chunks.size()) {
    for (int c = 0; c < v_; ++c) {
      const StageFunctions& f = chunks_[size_t(c)];
      XOMNI_CHECK(f.forward, "pipeline stage ", s_, " chunk ", c,
                  ": StageFunctions::forward is not set");
      XOMNI_CHECK(f.activation_shape == shape() && f.activation_dtype == dtype(), "pipeline stage ",
                  s_, ": chunk ", c, " passes ", dtype_name(f.activation_dtype), " ",
                  shape_str(f.activation_shape), " but chunk 0 passes ", dtype_name(dtype()), " ",
                  shape_str(shape()), "; every chunk must pass the same activation");
    }
    XOMNI_CHECK(shape_numel(shape()) > 0, "pipeline stage ", s_, ": the activation shape ",
                shape_str(shape()), " has no elements");
    pp_.barrier();  // a common time origin for the timeline
    t0_ = Clock::now();
  }

  const std::vector<double>& losses() const { return losses_; }

  void run(const PipelineStep& step) {
    Tensor activation, gradient;
    for (const PipelineOp& op : step.compute) {
      if (op.phase == 'F')
        activation = forward(op);
      else
        gradient = backward(op);
    }
    // The activation exchange, then the gradient exchange (interleaved_plan's order).
    exchange(step.send_activation ? activation : Tensor(), (s_ + 1) % p_,
             activation_tag(next_chunk(step)), step.recv_activation_chunk, (s_ + p_ - 1) % p_,
             activation_tag(step.recv_activation_chunk), inputs_, true);
    exchange(step.send_gradient ? gradient : Tensor(), (s_ + p_ - 1) % p_,
             gradient_tag(previous_chunk(step)), step.recv_gradient_chunk, (s_ + 1) % p_,
             gradient_tag(step.recv_gradient_chunk), grads_, false);
  }

 private:
  struct InFlight {
    int64_t micro;
    Tensor input, output;
  };

  const Shape& shape() const { return chunks_[0].activation_shape; }
  DType dtype() const { return chunks_[0].activation_dtype; }
  Tensor fresh() const { return Tensor::empty(shape(), dtype()); }
  bool first_virtual(int c) const { return s_ == 0 && c == 0; }
  bool last_virtual(int c) const { return s_ == p_ - 1 && c == v_ - 1; }

  // The chunk of the next rank that this step's forward output feeds (rank p-1 wraps to c+1).
  int next_chunk(const PipelineStep& step) const {
    for (const PipelineOp& op : step.compute)
      if (op.phase == 'F') return op.chunk + (s_ == p_ - 1 ? 1 : 0);
    return 0;
  }
  // The chunk of the previous rank that this step's backward input gradient goes to.
  int previous_chunk(const PipelineStep& step) const {
    for (const PipelineOp& op : step.compute)
      if (op.phase == 'B') return op.chunk - (s_ == 0 ? 1 : 0);
    return 0;
  }

  // Sends `out` (when defined) and receives into `queues[recv_chunk]` (when >= 0), both at once
  // where there are both.
  void exchange(const Tensor& out, int send_peer, int send_tag, int recv_chunk, int recv_peer,
                int recv_tag, std::vector<std::deque<Tensor>>& queues, bool activation) {
    Tensor in;
    if (recv_chunk >= 0) in = fresh();
    if (out.defined() && in.defined())
      pp_.send_recv(out, send_peer, send_tag, in, recv_peer, recv_tag);
    else if (out.defined())
      pp_.send(out, send_peer, send_tag);
    else if (in.defined())
      pp_.recv(in, recv_peer, recv_tag);
    if (!in.defined()) return;
    if (activation) in.set_requires_grad(true);
    queues[size_t(recv_chunk)].push_back(in);
  }

  Tensor take(std::vector<std::deque<Tensor>>& queues, const PipelineOp& op, const char* what) {
    auto& q = queues[size_t(op.chunk)];
    XOMNI_CHECK(!q.empty(), "pipeline stage ", s_, " chunk ", op.chunk, ": no ", what,
                " received for micro-batch ", op.micro);
    Tensor t = q.front();
    q.pop_front();
    return t;
  }

  Tensor forward(const PipelineOp& op) {
    const Tensor input = first_virtual(op.chunk) ? Tensor() : take(inputs_, op, "activation");
    const double start = now();
    Tensor out = chunks_[size_t(op.chunk)].forward(op.micro, input);
    XOMNI_CHECK(out.defined(), "pipeline stage ", s_, " chunk ", op.chunk,
                ": forward of micro-batch ", op.micro, " returned an undefined tensor");
    Tensor to_send;
    if (last_virtual(op.chunk)) {
      XOMNI_CHECK(out.numel() == 1, "pipeline stage ", s_, " chunk ", op.chunk,
                  " (the last virtual stage): forward of micro-batch ", op.micro,
                  " must return a one-element loss, got shape ", shape_str(out.shape()));
      losses_.push_back(out.item());
    } else {
      XOMNI_CHECK(out.shape() == shape() && out.dtype() == dtype(), "pipeline stage ", s_,
                  " chunk ", op.chunk, ": forward of micro-batch ", op.micro, " returned ",
                  dtype_name(out.dtype()), " ", shape_str(out.shape()), ", expected ",
                  dtype_name(dtype()), " ", shape_str(shape()));
      to_send = out.detach().contiguous();
    }
    in_flight_[size_t(op.chunk)].push_back({op.micro, input, out});
    record(op, start);
    return to_send;
  }

  Tensor backward(const PipelineOp& op) {
    const Tensor grad_out = last_virtual(op.chunk) ? Tensor() : take(grads_, op, "gradient");
    auto& flight = in_flight_[size_t(op.chunk)];
    XOMNI_CHECK(!flight.empty() && flight.front().micro == op.micro, "pipeline stage ", s_,
                " chunk ", op.chunk, ": backward of micro-batch ", op.micro,
                " is not the oldest forward in flight");
    InFlight mb = std::move(flight.front());
    flight.pop_front();
    const double start = now();
    if (mb.output.requires_grad()) {
      const Tensor g =
          last_virtual(op.chunk) ? Tensor::ones(mb.output.shape(), mb.output.dtype()) : grad_out;
      run_backward({mb.output}, {g});
    }
    Tensor grad_in;
    if (!first_virtual(op.chunk)) {
      grad_in = mb.input.grad();
      // An input the chunk did not use has no gradient: send zeros so the peer still gets one.
      grad_in = grad_in.defined() ? grad_in.contiguous() : fresh().fill_(0.0);
    }
    record(op, start);
    return grad_in;
  }

  double now() const { return std::chrono::duration<double>(Clock::now() - t0_).count(); }
  void record(const PipelineOp& op, double start) {
    if (timeline_) timeline_->push_back({s_, s_, op.micro, op.phase, start, now(), 0, op.chunk});
  }

  Communicator& pp_;
  const std::vector<StageFunctions>& chunks_;
  std::vector<TimelineEvent>* timeline_;
  const int s_, p_, v_;
  Clock::time_point t0_;
  std::vector<std::deque<Tensor>> inputs_, grads_;
  std::vector<std::deque<InFlight>> in_flight_;
  std::vector<double> losses_;
};

}  // namespace

std::vector<double> run_interleaved_1f1b(Communicator& pp,
                                         const std::vector<StageFunctions>& chunks,
                                         int64_t micro_batches,
                                         std::vector<TimelineEvent>* timeline) {
  XOMNI_CHECK(!chunks.empty(), "run_interleaved_1f1b: no model chunks");
  if (chunks.size() == 1) return run_1f1b(pp, chunks[0], micro_batches, timeline);
  const int p = pp.size(), v = int(chunks.size());
  XOMNI_CHECK(p >= 2, "run_interleaved_1f1b: ", v,
              " model chunks per rank need a pipeline of at least 2 ranks, got ", p);
  // Every rank checks m before any message, so a bad m fails everywhere the same way.
  const std::vector<PipelineStep> plan = interleaved_plan(pp.rank(), p, v, micro_batches);
  InterleavedRunner r(pp, chunks, timeline);
  for (const PipelineStep& step : plan) r.run(step);

  Tensor losses = Tensor::zeros({micro_batches}, DType::f64);
  if (pp.rank() == p - 1) {
    XOMNI_CHECK(int64_t(r.losses().size()) == micro_batches, "run_interleaved_1f1b: the last ",
                "virtual stage produced ", r.losses().size(), " losses for ", micro_batches,
                " micro-batches");
    double* d = losses.data<double>();
    for (int64_t i = 0; i < micro_batches; ++i) d[i] = r.losses()[size_t(i)];
  }
  pp.broadcast(losses, p - 1);
  return losses.to_vector<double>();
}

}  // namespace xomni::parallel
