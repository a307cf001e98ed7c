#include "cpu_backend.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace lawfit {

namespace {
void mark_all(const BatchView& batch, Status status) {
    for (std::int64_t i = 0; i < batch.n_problems; ++i) batch.status[i] = static_cast<std::int32_t>(status);
}

void mark_all_bad(const BatchView& batch) {
    for (std::int64_t i = 0; i < batch.n_problems; ++i) write_bad_input(batch, i, batch.params + i * batch.prog.n_params);
}
}  // namespace

bool solve_batch_cpu(const BatchView& batch, int n_threads, const Poll& poll, SolveRange generated) {
    const std::int64_t n = batch.n_problems;
    if (!with_size_class(batch.prog, [](auto) {})) {  // a program no size class holds
        mark_all_bad(batch);
        return true;
    }
    mark_all(batch, Status::NOT_RUN);
    if (n_threads <= 0) n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    n_threads = static_cast<int>(std::min<std::int64_t>(n_threads, std::max<std::int64_t>(n, 1)));
    // Small chunks balance uneven problems; never so small that the counter dominates.
    const std::int64_t chunk = std::max<std::int64_t>(1, std::min<std::int64_t>(64, n / (8 * n_threads)));

    // Bootstrap problems draw their counts once into a per-thread buffer.
    const bool resampled = batch.problem_resample || (batch.start_grid && batch.grid_resamples > 0);
    std::int64_t max_law_points = 0;
    for (std::int64_t l = 0; resampled && l < batch.n_laws; ++l)
        max_law_points = std::max(max_law_points, batch.offsets[l + 1] - batch.offsets[l]);

    std::atomic<std::int64_t> next{0};
    std::atomic<std::int64_t> finished{0};  // problems of completed chunks (only polled: relaxed)
    std::atomic<bool> cancel{false};
    std::mutex mu;
    std::condition_variable cv;
    int running = n_threads;

    // Takes chunks of problems until none is left (or the batch is cancelled).
    auto claim = [&](auto&& solve_range) {
        while (!cancel.load(std::memory_order_relaxed)) {
            const std::int64_t start = next.fetch_add(chunk);
            if (start >= n) break;
            const std::int64_t last = std::min(n, start + chunk);
            solve_range(start, last);
            finished.fetch_add(last - start, std::memory_order_relaxed);
        }
    };
    auto worker = [&]() {
        if (generated) {
            std::vector<std::int32_t> counts(resampled ? max_law_points : 0);
            claim([&](std::int64_t first, std::int64_t last) {
                generated(&batch, first, last, counts.data(), static_cast<std::int64_t>(counts.size()));
            });
        } else {
            with_size_class(batch.prog, [&](auto size) {
                using Size = decltype(size);
                auto ws = std::make_unique<Workspace<kBlock, Size::kParams, Size::kStack>>();
                std::vector<std::int32_t> counts(resampled ? max_law_points : 0);
                claim([&](std::int64_t first, std::int64_t last) {
                    for (std::int64_t i = first; i < last; ++i)
                        solve_problem(batch, i, *ws, counts.data(), static_cast<std::int64_t>(counts.size()));
                });
            });
        }
        std::lock_guard<std::mutex> lock(mu);
        if (--running == 0) cv.notify_all();
    };
    if (n <= 1) {  // one problem: on the calling thread (a thread's start costs more than a small fit)
        worker();
        return true;
    }
    std::vector<std::thread> threads;
    threads.reserve(n_threads);
    for (int t = 0; t < n_threads; ++t) threads.emplace_back(worker);
    {
        std::unique_lock<std::mutex> lock(mu);
        while (running > 0) {
            if (cv.wait_for(lock, std::chrono::milliseconds(50), [&] { return running == 0; })) break;
            if (cancel) continue;  // asked to stop: wait for the workers' current chunks, poll no more
            lock.unlock();
            const bool stop = poll && poll(finished.load(std::memory_order_relaxed));
            lock.lock();
            if (stop) cancel = true;
        }
    }
    for (auto& t : threads) t.join();
    if (!cancel) return true;
    for (std::int64_t i = 0; i < n; ++i)
        if (batch.status[i] == static_cast<std::int32_t>(Status::NOT_RUN))
            batch.status[i] = static_cast<std::int32_t>(Status::INTERRUPTED);
    return false;
}

void reduce_batch_cpu(const BatchView& b, const ReduceView& r) {
    const int P = b.prog.n_params;
    const std::int64_t n_kept = b.n_problems / r.best_of;
    if (r.best_of > 1)
        for (std::int64_t run = 0; run < n_kept; ++run) keep_best_of_run(b, r, run);
    if (r.summary_runs <= 0) return;
    const bool reduced = r.best_of > 1;
    std::vector<double> values(r.summary_runs);
    std::unique_ptr<bool[]> use(new bool[r.summary_runs]);
    for (std::int64_t run = 0; run < n_kept / r.summary_runs; ++run)
        for (int j = 0; j < P; ++j)
            summarize_run(reduced ? r.params : b.params, reduced ? r.cost : b.cost, reduced ? r.status : b.status,
                          P, r, run, j, values.data(), use.get());
}

bool evaluate_program_cpu(const ProgramView& prog, const double* columns, std::int64_t n_points,
                          const std::int64_t* offsets, std::int64_t n_laws, const double* params,
                          double* value, double* grad) {
    auto s = std::make_unique<BlockScratch<kBlock>>();  // any law: the largest class
    const int P = prog.n_params;
    // Without grad, no parameter is differentiated (the values' bits are the same).
    const std::uint32_t all = !grad ? 0u : P >= 32 ? 0xffffffffu : ((1u << P) - 1u);
    for (std::int64_t law = 0; law < n_laws; ++law) {
        // Blocks never straddle two laws: each law's points use its own parameters.
        const std::int64_t first = offsets ? offsets[law] : 0, last = offsets ? offsets[law + 1] : n_points;
        for (std::int64_t p0 = first; p0 < last; p0 += kBlock) {
            const int nb = static_cast<int>(std::min<std::int64_t>(kBlock, last - p0));
            if (!run_block<kBlock>(prog, columns, n_points, p0, nb, params + law * P, all, *s)) return false;
            for (int i = 0; i < nb; ++i) value[p0 + i] = s->val[0][i];
            if (!grad) continue;
            for (int i = 0; i < nb; ++i) {
                for (int j = 0; j < P; ++j)
                    grad[(p0 + i) * P + j] = ((s->mask[0] >> j) & 1u) ? s->grad[0][j][i] : 0.0;
            }
        }
    }
    return true;
}

}  // namespace lawfit
