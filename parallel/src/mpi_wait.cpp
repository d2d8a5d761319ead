// Waiting for an MPI request without hanging and without burning a core: MPI_Test in a loop that
// yields, then sleeps with a capped back-off (8 ranks may share 2 cores). While it waits a rank
// answers status queries, and when the timeout expires it asks every peer what it is doing and
// throws CommTimeout saying so.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <sstream>
#include <thread>
#include <vector>

#include "mpi_comm_impl.h"

namespace xomni::parallel {

namespace {

using Clock = std::chrono::steady_clock;

// Control-channel tags (on the private duplicate, so they cannot meet user tags).
constexpr int kQueryTag = 1;
constexpr int kReplyTag = 2;

enum : int32_t { kIdle = 0, kActive = 1, kBroken = 2 };

// What a queried rank says about itself, sent as plain bytes.
struct StatusReply {
  int64_t query_id = 0;
  int32_t state = kIdle;
  int32_t op = 0;
  int64_t seq = 0;
  char text[240] = {};  // a phrase that follows "rank N (world M) "
};

// Every live communicator of this process (MPI_THREAD_FUNNELED: one thread touches them) and
// the one whose operation this process is in, if any.
std::vector<CommState*>& registry() {
  static std::vector<CommState*> r;
  return r;
}
CommState* g_active = nullptr;

// Back-off: poll without pause for the first kSpinFor (a small collective between two free cores
// takes about a microsecond; a yield is a system call of similar cost), yield until kYieldFor,
// then sleep, doubling up to kMaxSleep.
constexpr auto kSpinFor = std::chrono::microseconds(5);
constexpr auto kYieldFor = std::chrono::microseconds(50);
constexpr auto kFirstSleep = std::chrono::microseconds(10);
// The kernel's default 50 us timer slack makes each sleep ~80 us longer than asked, so these
// give ~90 us to ~140 us per pause.
constexpr auto kMaxSleep = std::chrono::microseconds(60);
// Queries are answered only once a wait has lasted this long, and then this often.
constexpr auto kAnswerEvery = std::chrono::milliseconds(1);

double seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

struct CommState::Reply {
  StatusReply body;
  MPI_Request req = MPI_REQUEST_NULL;
};

CommState::CommState(MpiCommunicator* s) : self(s) {
  mpi_check(MPI_Comm_dup(s->handle(), &control), s->name() + ": MPI_Comm_dup (control channel)");
  MPI_Comm_set_errhandler(control, MPI_ERRORS_RETURN);
  registry().push_back(this);
}

CommState::~CommState() {
  auto& r = registry();
  r.erase(std::remove(r.begin(), r.end(), this), r.end());
  if (g_active == this) g_active = nullptr;
  if (!mpi_usable()) return;
  // Small eager sends: freeing the request lets them finish on their own.
  for (Reply& rep : replies)
    if (rep.req != MPI_REQUEST_NULL) MPI_Request_free(&rep.req);
  // Local in Open MPI; messages still in flight (late replies) complete or are dropped by MPI.
  if (control != MPI_COMM_NULL) MPI_Comm_free(&control);
}

void CommState::check_usable(const char* op) const {
  XOMNI_CHECK(!broken, "communicator '", self->name(), "' cannot be used for ", op,
              " any more: rank ", self->rank(), " timed out in ", describe(cur),
              " and the group's collectives are out of step");
}

void CommState::start(const OpDesc& d) {
  cur = d;
  active = true;
  g_active = this;
}

void CommState::finish() {
  active = false;
  if (g_active == this) g_active = nullptr;
}

void CommState::wait(MPI_Request& req, MPI_Status* status) {
  // Clears the "in an operation" mark when an MPI error throws out of the loop.
  struct Guard {
    CommState* impl;
    ~Guard() { impl->finish(); }
  } guard{this};
  auto check = [&](int rc) {
    if (rc != MPI_SUCCESS)
      mpi_check(rc, self->name() + " rank " + std::to_string(self->rank()) + ": " + describe(cur));
  };
  int done = 0;
  check(MPI_Test(&req, &done, status));
  if (done) return;
  const Clock::time_point t0 = Clock::now();
  const double timeout = self->options().timeout_s;
  Clock::time_point next_answer = t0 + kAnswerEvery;
  Clock::duration sleep_for = Clock::duration::zero();
  for (;;) {
    check(MPI_Test(&req, &done, status));
    if (done) return;
    const Clock::time_point now = Clock::now();
    if (now >= next_answer) {
      answer_all_queries();
      next_answer = now + kAnswerEvery;
    }
    if (timeout > 0 && seconds(now - t0) >= timeout) fail_timeout(seconds(now - t0));
    if (now - t0 < kSpinFor) {
      continue;
    } else if (now - t0 < kYieldFor) {
      std::this_thread::yield();
    } else {
      sleep_for = sleep_for == Clock::duration::zero()
                      ? Clock::duration(kFirstSleep)
                      : std::min<Clock::duration>(sleep_for * 2, kMaxSleep);
      std::this_thread::sleep_for(sleep_for);
    }
  }
}

void CommState::answer_queries() {
  // Finished replies first.
  for (auto it = replies.begin(); it != replies.end();) {
    int done = 0;
    MPI_Test(&it->req, &done, MPI_STATUS_IGNORE);
    it = done ? replies.erase(it) : std::next(it);
  }
  for (;;) {
    int flag = 0;
    MPI_Status st;
    if (MPI_Iprobe(MPI_ANY_SOURCE, kQueryTag, control, &flag, &st) != MPI_SUCCESS || !flag) return;
    int64_t query_id = 0;
    if (MPI_Recv(&query_id, 1, MPI_INT64_T, st.MPI_SOURCE, kQueryTag, control, MPI_STATUS_IGNORE) !=
        MPI_SUCCESS)
      return;
    Reply& rep = replies.emplace_back();
    rep.body.query_id = query_id;
    std::string text;
    if (broken) {
      // Its request stays posted, so the collective can still complete if the others join.
      rep.body.state = kBroken;
      text = active ? "is in " + describe(cur) + " (and timed out there)"
                    : "timed out earlier in " + describe(cur) + " (its request is still posted)";
    } else if (active) {
      rep.body.state = kActive;
      text = "is in " + describe(cur);
    } else {
      rep.body.state = kIdle;
      text = "is in no operation of '" + self->name() + "' (it has issued " +
             std::to_string(self->sequence()) + " collectives there)";
    }
    rep.body.op = int32_t(cur.op);
    rep.body.seq = cur.seq;
    if (g_active != nullptr && g_active != this)
      text += "; it is waiting in '" + g_active->self->name() + "' " +
              g_active->describe(g_active->cur);
    std::strncpy(rep.body.text, text.c_str(), sizeof rep.body.text - 1);
    MPI_Isend(&rep.body, int(sizeof rep.body), MPI_BYTE, st.MPI_SOURCE, kReplyTag, control,
              &rep.req);
  }
}

void answer_all_queries() {
  // Copy: answering never adds or removes communicators, but stay safe against it.
  std::vector<CommState*> all = registry();
  for (CommState* impl : all) impl->answer_queries();
}

void CommState::fail_timeout(double waited_s) {
  const double timeout = self->options().timeout_s;
  broken = true;  // from here on the communicator is out of step with its peers
  // Whom to ask: every peer for a collective, the partner for send/recv.
  std::vector<int> peers;
  if (is_collective(cur.op)) {
    for (int r = 0; r < self->size(); ++r)
      if (r != self->rank()) peers.push_back(r);
  } else if (cur.peer != self->rank()) {
    peers.push_back(cur.peer);
  }
  // The query's buffer must outlive the sends, which are released unfinished below; a timeout
  // happens once per communicator, so keeping these 8 bytes for the process's life is cheap.
  static std::deque<int64_t> query_bufs;
  const int64_t query_id = next_query_id++;
  const int64_t* query_buf = &query_bufs.emplace_back(query_id);
  std::vector<MPI_Request> sends(peers.size(), MPI_REQUEST_NULL),
      recvs(peers.size(), MPI_REQUEST_NULL);
  std::vector<StatusReply> answers(peers.size());
  std::vector<bool> answered(peers.size(), false);
  for (size_t i = 0; i < peers.size(); ++i) {
    MPI_Irecv(&answers[i], int(sizeof(StatusReply)), MPI_BYTE, peers[i], kReplyTag, control,
              &recvs[i]);
    MPI_Isend(query_buf, 1, MPI_INT64_T, peers[i], kQueryTag, control, &sends[i]);
  }
  // Peers stuck in a poll loop answer within about a millisecond; give them up to a second.
  const Clock::time_point deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(std::min(1.0, timeout)));
  size_t pending = peers.size();
  while (pending > 0 && Clock::now() < deadline) {
    for (size_t i = 0; i < peers.size(); ++i) {
      if (answered[i]) continue;
      int done = 0;
      MPI_Test(&recvs[i], &done, MPI_STATUS_IGNORE);
      if (!done) continue;
      if (answers[i].query_id != query_id) {  // a stale reply: listen again
        MPI_Irecv(&answers[i], int(sizeof(StatusReply)), MPI_BYTE, peers[i], kReplyTag, control,
                  &recvs[i]);
        continue;
      }
      answered[i] = true;
      --pending;
    }
    answer_all_queries();  // peers that timed out too are asking us at the same time
    std::this_thread::sleep_for(kMaxSleep);
  }
  for (size_t i = 0; i < peers.size(); ++i) {
    if (!answered[i] && recvs[i] != MPI_REQUEST_NULL) {
      MPI_Cancel(&recvs[i]);
      MPI_Wait(&recvs[i], MPI_STATUS_IGNORE);  // a cancelled receive completes locally
    }
    if (sends[i] != MPI_REQUEST_NULL) MPI_Request_free(&sends[i]);
  }

  std::vector<std::string> waiting_on, also_waiting;
  for (size_t i = 0; i < peers.size(); ++i) {
    const StatusReply& a = answers[i];
    std::string who = rank_str(peers[i]);
    if (!answered[i]) {
      waiting_on.push_back(who + " did not answer (computing outside communication, or gone)");
    } else if (is_collective(cur.op) && a.state != kIdle && a.op == int32_t(cur.op) &&
               a.seq == cur.seq) {
      also_waiting.push_back(who);
    } else {
      a.text[sizeof a.text - 1] == '\0' ? waiting_on.push_back(who + " " + a.text)
                                        : waiting_on.push_back(who + " (unreadable answer)");
    }
  }
  std::ostringstream os;
  os.setf(std::ios::fixed);
  os.precision(2);
  os << "communication timeout in group '" << self->name() << "': rank " << self->rank()
     << " (world " << self->world_ranks()[size_t(self->rank())] << ") waited " << waited_s
     << " s (timeout " << timeout << " s) in " << describe(cur) << ". Waiting on: ";
  if (waiting_on.empty()) {
    os << "no peer identified (every peer said it is in the same operation)";
  } else {
    for (size_t i = 0; i < waiting_on.size(); ++i) os << (i ? "; " : "") << waiting_on[i];
  }
  os << ".";
  if (!also_waiting.empty()) {
    os << " Also waiting in it: ";
    for (size_t i = 0; i < also_waiting.size(); ++i) os << (i ? ", " : "") << also_waiting[i];
    os << ".";
  }
  os << " The communicator '" << self->name() << "' cannot be used any more.";
  throw CommTimeout(os.str());
}

}  // namespace xomni::parallel
