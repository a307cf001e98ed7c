// solve_batch: every problem of a ragged batch on the CPU threads or the GPU.
// Its inputs and options are three bound structs (BatchArrays, SolverOptions,
// Reduction), each field named once here; the defaults are the core's.
#include <pybind11/stl.h>
#include <pybind11/typing.h>

#include <algorithm>
#include <chrono>
#include <initializer_list>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "common.hpp"
#include "cpu_backend.hpp"
#ifdef LAWFIT_WITH_CUDA
#include "cuda_backend.cuh"
#endif

namespace lawfit {
namespace bindings {

namespace {

// Per-problem arrays given either once (shape (P,), stride 0) or per problem.
template <class T>
std::int64_t per_problem_stride(const carray<T>& a, std::int64_t n_problems, int P, const char* name) {
    if (a.ndim() == 1 && a.shape(0) == P) return 0;
    require(a.ndim() == 2 && a.shape(0) == n_problems && a.shape(1) == P,
            std::string(name) + " must have shape (P,) or (n_problems, P)");
    return P;
}

// An array argument that may lie on the GPU: a numpy array (converted to a
// C-contiguous array of T, as py::array_t does), or any object exposing
// __cuda_array_interface__ (CuPy, PyTorch, Numba...), read where it lies with
// no copy.  Device arrays must already have the exact dtype and be
// C-contiguous; a copy would defeat their purpose, so none is made.
template <class T>
struct ArrayArg {
    std::optional<carray<T>> host;
    py::object owner;  // keeps a device array alive during the call
    const T* ptr = nullptr;
    std::vector<std::int64_t> shape;
    bool on_device = false;
    std::intptr_t stream = 0;  // the producer's stream to wait for (0: none)

    int ndim() const { return static_cast<int>(shape.size()); }
    std::int64_t dim(int k) const { return shape[k]; }
};

template <class T>
const char* typestr();
template <>
const char* typestr<double>() { return "<f8"; }

template <class T>
ArrayArg<T> array_arg(const py::object& obj, const char* name) {
    ArrayArg<T> a;
    if (!py::hasattr(obj, "__cuda_array_interface__")) {
        a.host.emplace(carray<T>::ensure(obj));
        require(a.host->ptr() != nullptr, std::string(name) + " must be an array of numbers");
        a.ptr = a.host->data();
        for (int k = 0; k < a.host->ndim(); ++k) a.shape.push_back(a.host->shape(k));
        return a;
    }
    const py::dict cai = obj.attr("__cuda_array_interface__");
    const std::string where = std::string(name) + " (a GPU array): ";
    require(cai.contains("shape") && cai.contains("typestr") && cai.contains("data"),
            where + "__cuda_array_interface__ lacks shape, typestr or data");
    const std::string ts = py::str(cai["typestr"]);
    require(ts == typestr<T>(), where + "dtype must be " + typestr<T>() + " (got " + ts + "); convert it on the GPU first");
    for (const auto& d : py::tuple(cai["shape"])) a.shape.push_back(d.cast<std::int64_t>());
    if (cai.contains("strides") && !cai["strides"].is_none()) {
        std::int64_t expect = sizeof(T);
        const py::tuple strides(cai["strides"]);
        require(static_cast<int>(strides.size()) == a.ndim(), where + "strides do not match its shape");
        for (int k = a.ndim() - 1; k >= 0; --k) {
            require(a.shape[k] <= 1 || strides[k].cast<std::int64_t>() == expect, where + "must be C-contiguous");
            expect *= a.shape[k];
        }
    }
    require(!cai.contains("mask") || cai["mask"].is_none(), where + "masked arrays are not supported");
    const py::tuple data(cai["data"]);
    a.ptr = reinterpret_cast<const T*>(data[0].cast<std::uintptr_t>());
    if (cai.contains("stream") && !cai["stream"].is_none()) a.stream = cai["stream"].cast<std::intptr_t>();
    a.on_device = true;
    a.owner = obj;
    return a;
}

template <class T>
std::optional<ArrayArg<T>> optional_array_arg(const py::object& obj, const char* name) {
    if (obj.is_none()) return std::nullopt;
    return array_arg<T>(obj, name);
}

// ArrayArg as Python sees it: the array held (None when absent).
template <class T>
py::object array_object(const std::optional<ArrayArg<T>>& a) {
    if (!a) return py::none();
    return a->on_device ? a->owner : py::object(*a->host);
}

// "name=value, ..." of an object's attributes, arrays shown by shape and dtype.
std::string fields_repr(const py::object& self, std::initializer_list<const char*> names) {
    std::string out = py::str(py::type::of(self).attr("__name__"));
    const char* sep = "(";
    for (const char* name : names) {
        const py::object value = self.attr(name);
        std::string text;
        if (py::isinstance<py::array>(value)) {
            text = "array(shape=" + std::string(py::str(value.attr("shape"))) + ", dtype=" +
                   std::string(py::str(value.attr("dtype"))) + ")";
        } else {
            text = py::repr(value);
        }
        out += sep + std::string(name) + "=" + text;
        sep = ", ";
    }
    return out + (names.size() ? ")" : "()");
}

// --------------------------------------------------------------------------
// The inputs of a batch: the law program, the ragged points, the problems.

struct BatchArrays {
    carray<std::int32_t> code;
    carray<double> consts;
    int n_params = 0;
    std::optional<ArrayArg<double>> columns, y, weight, p0;  // numpy or GPU arrays
    carray<std::int64_t> offsets;
    std::optional<carray<std::int64_t>> problem_law;
    std::optional<carray<std::uint8_t>> fixed;
    carray<double> lower, upper;
    std::optional<carray<std::int64_t>> problem_resample;
    std::optional<carray<std::int32_t>> group;
    std::optional<carray<std::int64_t>> law_key;
    std::optional<carray<double>> start_grid;
    std::optional<carray<std::int32_t>> grid_sizes;
};

// --------------------------------------------------------------------------
// The options: the core's own defaults (LmOptions, Objective) and the run's.

struct SolverOptions {
    LmOptions lm;             // ftol, xtol, gtol, max_nfev
    Objective objective;      // loss, delta, log_residual, irls_floor
    int n_threads = 0;        // <= 0: every core
    bool want_jtj = true;
    std::uint64_t seed = 0;   // bootstrap resamples
    bool evaluate_only = false;
    std::string device = "cpu";
    std::string layout = "auto";
    std::int64_t max_chunk = 0;  // GPU problems per chunk (0: sized to free memory)
};

void check_loss(int loss) {
    require(loss >= 0 && loss <= static_cast<int>(Loss::ARCTAN), "unknown loss");
}
void check_delta(double delta) { require(delta > 0.0, "delta (the loss scale) must be positive"); }
void check_layout(const std::string& layout) {
    require(layout == "auto" || layout == "thread" || layout == "group",
            "layout must be 'auto', 'thread' or 'group'");
}
void check_device(const std::string& device) {
    require(device == "cpu" || device == "cuda", "device must be 'cpu' or 'cuda'");
}

// --------------------------------------------------------------------------
// What to keep of the results (reduce.hpp), and the generated resamples.

struct Reduction {
    std::int64_t best_of = 1;
    std::int64_t summary_runs = 0;
    std::optional<carray<double>> quantiles;
    std::int64_t grid_resamples = 0;
};

// Watches a running batch from the calling thread: Ctrl-C, and the optional
// progress(finished, total) callable, called with the GIL held at most every
// kProgressEvery (or after every GPU chunk).  The first Python exception
// (KeyboardInterrupt, or whatever progress raised) stops the batch and is kept
// to be raised once the workers have joined.
class Monitor {
  public:
    static constexpr std::chrono::milliseconds kProgressEvery{200};

    Monitor(py::object progress, std::int64_t total)
        : progress_(std::move(progress)), total_(total), last_(std::chrono::steady_clock::now()) {}

    // Called without the GIL; true stops the batch.  Never throws.
    bool poll(std::int64_t finished, bool every_time) {
        py::gil_scoped_acquire gil;
        if (PyErr_CheckSignals() != 0) {
            error_.emplace();  // the KeyboardInterrupt (or what a signal handler raised)
            return true;
        }
        if (progress_.is_none()) return false;
        const auto now = std::chrono::steady_clock::now();
        if (!every_time && now - last_ < kProgressEvery) return false;
        last_ = now;
        try {
            progress_(finished, total_);
            return false;
        } catch (py::error_already_set& e) {
            error_.emplace(std::move(e));
        } catch (const std::exception& e) {
            PyErr_SetString(PyExc_RuntimeError, e.what());
            error_.emplace();
        } catch (...) {
            PyErr_SetString(PyExc_RuntimeError, "the progress callback failed");
            error_.emplace();
        }
        return true;
    }

    // For the GPU back end (cuda::ChunkReport): after every chunk.
    static int chunk_done(void* self, std::int64_t finished, std::int64_t) {
        return static_cast<Monitor*>(self)->poll(finished, true) ? 1 : 0;
    }

    bool stopped() const { return error_.has_value(); }

    // The batch's end (GIL held): progress(total, total), unless it was stopped.
    void finish() const {
        if (!progress_.is_none()) progress_(total_, total_);
    }

    // Raises what stopped the batch; `partial` (the per-problem results,
    // unsolved problems INTERRUPTED) rides along as its partial_results.
    [[noreturn]] void raise(const py::object& partial) {
        if (!partial.is_none()) {
            try {
                py::setattr(error_->value(), "partial_results", partial);
            } catch (py::error_already_set&) {  // an exception that takes no attributes: raised as it is
            }
        }
        throw *error_;
    }

  private:
    py::object progress_;
    std::int64_t total_;
    std::chrono::steady_clock::time_point last_;
    std::optional<py::error_already_set> error_;
};

// Outputs of solve_batch, allocated for what the caller keeps.
struct BatchOutputs {
    std::optional<carray<double>> params, cost, jtj, mean, sd, quantiles;
    std::optional<carray<std::int32_t>> nit, nfev, status;
    std::optional<carray<std::int64_t>> best, n_converged, n_used;

    void allocate_problems(std::int64_t n, std::int64_t P, bool want_jtj) {
        params.emplace(std::vector<std::int64_t>{n, P});
        cost.emplace(n);
        nit.emplace(n);
        nfev.emplace(n);
        status.emplace(n);
        if (want_jtj) jtj.emplace(std::vector<std::int64_t>{n, P, P});
    }
    py::dict to_dict(int n_chunks) const {
        py::dict d;
        auto put = [&d](const char* key, const auto& a) { d[key] = a ? py::object(*a) : py::none(); };
        put("params", params); put("cost", cost); put("nit", nit); put("nfev", nfev); put("status", status);
        put("jtj", jtj); put("best", best); put("n_converged", n_converged); put("mean", mean); put("sd", sd);
        put("quantiles", quantiles); put("n_used", n_used);
        d["n_chunks"] = n_chunks;
        return d;
    }
};

template <class T>
T* data_or_null(std::optional<carray<T>>& a) {
    return a ? a->mutable_data() : nullptr;
}

// Per-problem outputs of a stopped batch: problems that were not solved
// (INTERRUPTED) get NaN parameters, cost and J^T J and no iterations.
py::object unsolved_cleared(BatchOutputs& out, int P, int n_chunks) {
    if (!out.status) return py::none();
    const std::int64_t n = out.status->shape(0);
    const std::int32_t* status = out.status->data();
    const double nan = std::numeric_limits<double>::quiet_NaN();
    for (std::int64_t k = 0; k < n; ++k) {
        if (status[k] != static_cast<std::int32_t>(Status::INTERRUPTED)) continue;
        std::fill_n(out.params->mutable_data() + k * P, P, nan);
        out.cost->mutable_data()[k] = nan;
        out.nit->mutable_data()[k] = 0;
        out.nfev->mutable_data()[k] = 0;
        if (out.jtj) std::fill_n(out.jtj->mutable_data() + k * P * P, P * P, nan);
    }
    return out.to_dict(n_chunks);
}

using ProgressCallback = py::typing::Callable<void(std::int64_t, std::int64_t)>;

py::dict solve_batch(const BatchArrays& arrays, const SolverOptions& options,
                     const std::optional<Reduction>& reduction, const std::optional<py::capsule>& compiled,
                     const std::optional<ProgressCallback>& progress) {
    // Copies (new references) taken with the GIL held: another thread that
    // reassigns a field while the batch runs cannot free what it reads.
    const BatchArrays a = arrays;
    const SolverOptions o = options;
    const Reduction red = reduction ? *reduction : Reduction();
    const auto& code = a.code;
    const auto& consts = a.consts;
    const auto& offsets = a.offsets;
    const auto& problem_law = a.problem_law;
    const auto& fixed = a.fixed;
    const auto& lower = a.lower;
    const auto& upper = a.upper;
    const auto& problem_resample = a.problem_resample;
    const auto& group = a.group;
    const auto& law_key = a.law_key;
    const auto& start_grid = a.start_grid;
    const auto& grid_sizes = a.grid_sizes;
    const auto& quantiles = red.quantiles;
    const std::int64_t best_of = red.best_of, summary_runs = red.summary_runs, grid_resamples = red.grid_resamples;
    require(a.columns && a.y, "columns and y are required");
    const ArrayArg<double>& columns = *a.columns;
    const ArrayArg<double>& y = *a.y;
    const std::optional<ArrayArg<double>>& weight = a.weight;
    const std::optional<ArrayArg<double>>& p0 = a.p0;
    const int n_params = a.n_params;
    const bool want_jtj = o.want_jtj;

    require(columns.ndim() == 2, "columns must be 2-D (n_columns, n_points)");
    const std::int64_t n_points = columns.dim(1);
    const ProgramView prog = make_program(code, consts, n_params, static_cast<int>(columns.dim(0)));
    const int P = n_params;
    require(y.ndim() == 1 && y.dim(0) == n_points, "y must have one value per point");
    require(!weight || (weight->ndim() == 1 && weight->dim(0) == n_points), "weight must have one value per point");
    require(offsets.ndim() == 1 && offsets.shape(0) >= 1, "offsets must be 1-D with n_laws + 1 entries");
    const std::int64_t n_laws = offsets.shape(0) - 1;
    for (std::int64_t k = 0; k < n_laws; ++k)
        require(offsets.data()[k] <= offsets.data()[k + 1], "offsets must be non-decreasing");
    require(p0.has_value() != (start_grid.has_value() || grid_sizes.has_value()),
            "give either p0 or a start grid (start_grid and grid_sizes), not both");
    std::int64_t n_problems = 0, n_grid = 0;
    require(grid_resamples >= 0 && (grid_resamples == 0 || start_grid), "grid_resamples needs a start grid");
    if (p0) {
        require(p0->ndim() == 2 && p0->dim(1) == P, "p0 must have shape (n_problems, P)");
        n_problems = p0->dim(0);
        if (problem_law) require(problem_law->ndim() == 1 && problem_law->shape(0) == n_problems, "problem_law must have one entry per problem");
        else require(n_problems == n_laws, "without problem_law there must be one problem per law");
    } else {
        require(start_grid && grid_sizes && grid_sizes->ndim() == 1 && grid_sizes->shape(0) == P && start_grid->ndim() == 1,
                "a start grid needs start_grid (1-D) and grid_sizes (one count per parameter)");
        n_grid = P > 0 ? 1 : 0;
        std::int64_t total = 0;
        for (int j = 0; j < P; ++j) {
            const std::int64_t size = grid_sizes->data()[j];
            require(size >= 1, "every grid axis needs at least one value");
            require(n_grid <= (std::int64_t{1} << 40) / size, "the start grid is too large");
            n_grid *= size;
            total += size;
        }
        require(n_grid >= 1 && start_grid->shape(0) == total, "start_grid must hold sum(grid_sizes) values");
        require(grid_resamples == 0 || (!problem_law && !problem_resample),
                "grid_resamples generates every (law, resample, start): give neither problem_law nor problem_resample");
        n_problems = problem_law ? problem_law->shape(0) : n_laws * n_grid * std::max<std::int64_t>(grid_resamples, 1);
        if (problem_law) require(problem_law->ndim() == 1, "problem_law must be 1-D");
    }
    const std::int64_t fixed_stride = fixed ? per_problem_stride(*fixed, n_problems, P, "fixed") : 0;
    const std::int64_t bstride = per_problem_stride(lower, n_problems, P, "lower");
    require(per_problem_stride(upper, n_problems, P, "upper") == bstride, "lower and upper must have the same shape");
    check_loss(static_cast<int>(o.objective.loss));
    check_delta(o.objective.delta);
    if (problem_resample)
        require(problem_resample->ndim() == 1 && problem_resample->shape(0) == n_problems,
                "problem_resample must have one entry per problem");
    if (group) require(group->ndim() == 1 && group->shape(0) == n_points, "group must have one id per point");
    if (law_key) require(law_key->ndim() == 1 && law_key->shape(0) == n_laws, "law_key must have one entry per law");
    require(best_of >= 1 && n_problems % best_of == 0, "best_of must be a positive divisor of the number of problems");
    const std::int64_t n_kept = n_problems / best_of;
    require(summary_runs >= 0 && (summary_runs == 0 || n_kept % summary_runs == 0),
            "summary_runs must divide the number of (best-of) results");
    require(summary_runs == 0 || quantiles, "replicate summaries need quantiles");
    if (quantiles) {
        require(quantiles->ndim() == 1, "quantiles must be 1-D");
        for (py::ssize_t k = 0; k < quantiles->shape(0); ++k)
            require(quantiles->data()[k] >= 0.0 && quantiles->data()[k] <= 1.0, "quantiles must lie in [0, 1]");
    }
    check_layout(o.layout);
    check_device(o.device);
    // A law compiled at run time: checked against the device and the program.
    void* const generated = compiled ? compiled_entry(*compiled, o.device, prog) : nullptr;
    // What comes back: per-problem results, the best of each run, or only the
    // summaries.  The GPU never copies back more than that.
    BatchOutputs kept, full;
    const bool summarise = summary_runs > 0, reduce_best = best_of > 1;
    if (!summarise) kept.allocate_problems(n_kept, P, want_jtj);
    if (reduce_best) {
        kept.best.emplace(n_kept);
        kept.n_converged.emplace(n_kept);
    }
    ReduceView r;
    r.best_of = best_of;
    r.summary_runs = summary_runs;
    if (summarise) {
        const std::int64_t runs = n_kept / summary_runs, nq = quantiles->shape(0);
        r.q = quantiles->data();
        r.n_q = static_cast<int>(nq);
        kept.mean.emplace(std::vector<std::int64_t>{runs, P});
        kept.sd.emplace(std::vector<std::int64_t>{runs, P});
        kept.quantiles.emplace(std::vector<std::int64_t>{runs, nq, P});
        kept.n_used.emplace(std::vector<std::int64_t>{runs, P});
        r.mean = data_or_null(kept.mean);
        r.sd = data_or_null(kept.sd);
        r.quantiles = data_or_null(kept.quantiles);
        r.n_used = data_or_null(kept.n_used);
    }
    // The CPU needs every problem's results before reducing (and the best of
    // each run before summarising); the GPU keeps those on the device and only
    // writes what `kept` holds.
    const bool cuda_device = o.device == "cuda";
    BatchOutputs middle;  // best-of results that are then summarised
    BatchOutputs& per_problem = (reduce_best || summarise) ? full : kept;
    BatchOutputs& best_rows = summarise ? middle : kept;
    if (!cuda_device && (reduce_best || summarise)) full.allocate_problems(n_problems, P, want_jtj && reduce_best && !summarise);
    if (!cuda_device && reduce_best && summarise) middle.allocate_problems(n_kept, P, false);
    r.params = data_or_null(best_rows.params);
    r.cost = data_or_null(best_rows.cost);
    r.nit = data_or_null(best_rows.nit);
    r.nfev = data_or_null(best_rows.nfev);
    r.status = data_or_null(best_rows.status);
    r.jtj = data_or_null(best_rows.jtj);
    r.best = data_or_null(kept.best);
    r.n_converged = data_or_null(kept.n_converged);

    BatchView b{prog, columns.ptr, n_points, y.ptr, weight ? weight->ptr : nullptr, offsets.data(), n_laws,
                ptr_or_null(problem_law), n_problems, p0 ? p0->ptr : nullptr, ptr_or_null(start_grid),
                ptr_or_null(grid_sizes), n_grid, grid_resamples, ptr_or_null(fixed), fixed_stride,
                lower.data(), upper.data(), bstride, o.lm,
                o.objective, o.seed, ptr_or_null(law_key), ptr_or_null(problem_resample), ptr_or_null(group), o.evaluate_only,
                data_or_null(per_problem.params), data_or_null(per_problem.cost), data_or_null(per_problem.nit),
                data_or_null(per_problem.nfev), data_or_null(per_problem.status), data_or_null(per_problem.jtj)};
    const bool any_on_device = columns.on_device || y.on_device || (weight && weight->on_device) || (p0 && p0->on_device);
    require(cuda_device || !any_on_device,
            "columns, y, weight and p0 lie on the GPU: run with device='cuda' (or 'auto'), or copy them to numpy");
    int n_chunks = 1;
    Monitor monitor(progress ? py::object(*progress) : py::none(), n_problems);
    if (cuda_device) {
#ifdef LAWFIT_WITH_CUDA
        // Problems of chunks never run keep this status when the batch is stopped.
        if (&per_problem == &kept && kept.status)
            std::fill_n(kept.status->mutable_data(), n_problems, static_cast<std::int32_t>(Status::INTERRUPTED));
        std::string err;
        {
            py::gil_scoped_release release;
            const cuda::Layout lay = o.layout == "thread" ? cuda::Layout::THREAD
                                     : o.layout == "group" ? cuda::Layout::GROUP : cuda::Layout::AUTO;
            cuda::Resident resident;
            resident.columns = columns.on_device;
            resident.y = y.on_device;
            resident.weight = weight && weight->on_device;
            resident.p0 = p0 && p0->on_device;
            resident.streams[0] = columns.stream;
            resident.streams[1] = y.stream;
            resident.streams[2] = weight ? weight->stream : 0;
            resident.streams[3] = p0 ? p0->stream : 0;
            cuda::ChunkReport report;
            report.done = &Monitor::chunk_done;
            report.context = &monitor;
            if (generated) {  // the law compiled for the GPU at run time
                char msg[512] = {0};
                const int code = reinterpret_cast<cuda::CompiledSolve>(generated)(
                    &b, &r, &resident, want_jtj, static_cast<int>(lay), o.max_chunk, &report, &n_chunks, msg,
                    sizeof(msg));
                if (code != 0) err = msg[0] ? msg : "compiled law failed";
            } else {
                err = cuda::solve_batch(b, r, resident, want_jtj, lay, o.max_chunk, &report, &n_chunks);
            }
        }
        if (!err.empty()) throw std::runtime_error("lawfit CUDA back end: " + err);
        if (monitor.stopped())  // per-problem results exist on the host only when nothing was reduced
            monitor.raise(&per_problem == &kept ? unsolved_cleared(kept, P, n_chunks) : py::object(py::none()));
#else
        throw std::runtime_error("lawfit was built without the CUDA back end (no CUDA compiler at build time)");
#endif
    } else {
        bool completed;
        {
            py::gil_scoped_release release;
            completed = solve_batch_cpu(
                b, o.n_threads, [&monitor](std::int64_t finished) { return monitor.poll(finished, false); },
                reinterpret_cast<SolveRange>(generated));
            if (completed) reduce_batch_cpu(b, r);
        }
        if (!completed) monitor.raise(unsolved_cleared(per_problem, P, n_chunks));
    }
    monitor.finish();
    return kept.to_dict(n_chunks);
}

}  // namespace

void register_solver(py::module_& m) {
    // ------------------------------------------------------------ BatchArrays
    py::class_<BatchArrays> arrays(m, "BatchArrays", R"doc(The inputs of a batch: one law program, the ragged points, the problems.

Law i owns points offsets[i] .. offsets[i+1] of `columns` (n_columns, n_points)
and `y`; problem k fits law problem_law[k] (default: k) from p0[k], or from a
start grid (start_grid: every parameter's values one after another,
grid_sizes: how many each).  columns, y, weight and p0 may be numpy arrays
(converted to C-contiguous float64 when assigned) or GPU arrays exposing
__cuda_array_interface__ (float64, C-contiguous; read where they lie).
fixed, lower and upper have shape (P,) or (n_problems, P).)doc");
    arrays.def(py::init([](const carray<std::int32_t>& code, const carray<double>& consts, int n_params,
                           const py::object& columns, const py::object& y, const carray<std::int64_t>& offsets,
                           const carray<double>& lower, const carray<double>& upper, const py::object& weight,
                           const std::optional<carray<std::int64_t>>& problem_law, const py::object& p0,
                           const std::optional<carray<std::uint8_t>>& fixed,
                           const std::optional<carray<std::int64_t>>& problem_resample,
                           const std::optional<carray<std::int32_t>>& group,
                           const std::optional<carray<std::int64_t>>& law_key,
                           const std::optional<carray<double>>& start_grid,
                           const std::optional<carray<std::int32_t>>& grid_sizes) {
                   BatchArrays a;
                   a.code = code;
                   a.consts = consts;
                   a.n_params = n_params;
                   a.columns = array_arg<double>(columns, "columns");
                   a.y = array_arg<double>(y, "y");
                   a.offsets = offsets;
                   a.lower = lower;
                   a.upper = upper;
                   a.weight = optional_array_arg<double>(weight, "weight");
                   a.problem_law = problem_law;
                   a.p0 = optional_array_arg<double>(p0, "p0");
                   a.fixed = fixed;
                   a.problem_resample = problem_resample;
                   a.group = group;
                   a.law_key = law_key;
                   a.start_grid = start_grid;
                   a.grid_sizes = grid_sizes;
                   return a;
               }),
               py::kw_only(), py::arg("code"), py::arg("consts"), py::arg("n_params"), py::arg("columns"),
               py::arg("y"), py::arg("offsets"), py::arg("lower"), py::arg("upper"), py::arg("weight") = py::none(),
               py::arg("problem_law") = py::none(), py::arg("p0") = py::none(), py::arg("fixed") = py::none(),
               py::arg("problem_resample") = py::none(), py::arg("group") = py::none(),
               py::arg("law_key") = py::none(), py::arg("start_grid") = py::none(),
               py::arg("grid_sizes") = py::none());
    arrays.def_readwrite("code", &BatchArrays::code, "Program opcodes and arguments, shape (n_instr, 2).")
        .def_readwrite("consts", &BatchArrays::consts, "The program's constant pool.")
        .def_readwrite("n_params", &BatchArrays::n_params, "Parameters of the law (P).");
    // The arrays that may lie on the GPU.
    auto device_array = [&arrays](const char* name, std::optional<ArrayArg<double>> BatchArrays::*field,
                                  bool optional, const char* doc) {
        arrays.def_property(
            name, [field](const BatchArrays& a) { return array_object(a.*field); },
            [field, name, optional](BatchArrays& a, const py::object& value) {
                if (optional && value.is_none()) a.*field = std::nullopt;
                else a.*field = array_arg<double>(value, name);
            },
            doc);
    };
    device_array("columns", &BatchArrays::columns, false, "Input columns (n_columns, n_points); numpy or GPU.");
    device_array("y", &BatchArrays::y, false, "Observations (n_points,); numpy or GPU.");
    device_array("weight", &BatchArrays::weight, true, "Weights 1/sigma^2 (n_points,) or None; numpy or GPU.");
    device_array("p0", &BatchArrays::p0, true, "Starts (n_problems, P), or None with a start grid; numpy or GPU.");
    arrays.def_readwrite("offsets", &BatchArrays::offsets, "Law i owns points offsets[i] .. offsets[i+1].")
        .def_readwrite("problem_law", &BatchArrays::problem_law, "The law of each problem (None: problem k fits law k).")
        .def_readwrite("fixed", &BatchArrays::fixed, "Nonzero where a parameter is held at its start.")
        .def_readwrite("lower", &BatchArrays::lower, "Lower bounds.")
        .def_readwrite("upper", &BatchArrays::upper, "Upper bounds.")
        .def_readwrite("problem_resample", &BatchArrays::problem_resample,
                       "The bootstrap resample each problem fits (< 0: the data as given).")
        .def_readwrite("group", &BatchArrays::group, "Law-local group id of each point (the resampling unit).")
        .def_readwrite("law_key", &BatchArrays::law_key, "Each law's id in the resampling RNG's key.")
        .def_readwrite("start_grid", &BatchArrays::start_grid, "Every parameter's grid values, one after another.")
        .def_readwrite("grid_sizes", &BatchArrays::grid_sizes, "Number of grid values of each parameter.")
        .def("__repr__", [](const py::object& self) {
            return fields_repr(self, {"n_params", "code", "columns", "y", "offsets", "p0", "start_grid"});
        });

    // ---------------------------------------------------------- SolverOptions
    const SolverOptions d;  // the defaults, stated once (SolverOptions, LmOptions, Objective)
    py::class_<SolverOptions> options(m, "SolverOptions", R"doc(How every problem of a batch is solved, and where.

ftol, xtol, gtol, max_nfev: MINPACK's stopping rules (max_nfev 0: 100 (n_free + 1)).
loss (a Loss), delta: the robust loss and its scale; log_residual fits log f - log y;
irls_floor: 1 weights robust losses by rho' (IRLS), 0 adds Triggs' correction.
seed keys the bootstrap resamples; evaluate_only returns the cost at the starts.
device 'cpu' (n_threads, <= 0: every core) or 'cuda' (layout 'auto', 'thread' or
'group'; max_chunk caps the problems per chunk, 0: sized to free memory).)doc");
    options.def(py::init([](double ftol, double xtol, double gtol, int max_nfev, int n_threads, bool want_jtj,
                            int loss, double delta, bool log_residual, double irls_floor, std::uint64_t seed,
                            bool evaluate_only, const std::string& device, const std::string& layout,
                            std::int64_t max_chunk) {
                    check_loss(loss);
                    check_delta(delta);
                    check_device(device);
                    check_layout(layout);
                    SolverOptions o;
                    o.lm.ftol = ftol;
                    o.lm.xtol = xtol;
                    o.lm.gtol = gtol;
                    o.lm.max_nfev = max_nfev;
                    o.n_threads = n_threads;
                    o.want_jtj = want_jtj;
                    o.objective.loss = static_cast<Loss>(loss);
                    o.objective.delta = delta;
                    o.objective.log_residual = log_residual;
                    o.objective.irls_floor = irls_floor;
                    o.seed = seed;
                    o.evaluate_only = evaluate_only;
                    o.device = device;
                    o.layout = layout;
                    o.max_chunk = max_chunk;
                    return o;
                }),
                py::kw_only(), py::arg("ftol") = d.lm.ftol, py::arg("xtol") = d.lm.xtol, py::arg("gtol") = d.lm.gtol,
                py::arg("max_nfev") = d.lm.max_nfev, py::arg("n_threads") = d.n_threads,
                py::arg("want_jtj") = d.want_jtj, py::arg("loss") = static_cast<int>(d.objective.loss),
                py::arg("delta") = d.objective.delta, py::arg("log_residual") = d.objective.log_residual,
                py::arg("irls_floor") = d.objective.irls_floor, py::arg("seed") = d.seed,
                py::arg("evaluate_only") = d.evaluate_only, py::arg("device") = d.device,
                py::arg("layout") = d.layout, py::arg("max_chunk") = d.max_chunk);
    options
        .def_property("ftol", [](const SolverOptions& o) { return o.lm.ftol; },
                      [](SolverOptions& o, double v) { o.lm.ftol = v; }, "Relative reduction of the cost that stops.")
        .def_property("xtol", [](const SolverOptions& o) { return o.lm.xtol; },
                      [](SolverOptions& o, double v) { o.lm.xtol = v; }, "Relative step size that stops.")
        .def_property("gtol", [](const SolverOptions& o) { return o.lm.gtol; },
                      [](SolverOptions& o, double v) { o.lm.gtol = v; }, "Gradient orthogonality that stops.")
        .def_property("max_nfev", [](const SolverOptions& o) { return o.lm.max_nfev; },
                      [](SolverOptions& o, int v) { o.lm.max_nfev = v; },
                      "Evaluations per problem (0: 100 (n_free + 1)).")
        .def_readwrite("n_threads", &SolverOptions::n_threads, "CPU threads (<= 0: every core).")
        .def_readwrite("want_jtj", &SolverOptions::want_jtj, "Return J^T W J of every result.")
        .def_property("loss", [](const SolverOptions& o) { return o.objective.loss; },
                      [](SolverOptions& o, int v) {
                          check_loss(v);
                          o.objective.loss = static_cast<Loss>(v);
                      },
                      "The robust loss (a Loss or its value).")
        .def_property("delta", [](const SolverOptions& o) { return o.objective.delta; },
                      [](SolverOptions& o, double v) {
                          check_delta(v);
                          o.objective.delta = v;
                      },
                      "Scale of the robust loss (scipy's f_scale).")
        .def_property("log_residual", [](const SolverOptions& o) { return o.objective.log_residual; },
                      [](SolverOptions& o, bool v) { o.objective.log_residual = v; }, "Fit log f - log y.")
        .def_property("irls_floor", [](const SolverOptions& o) { return o.objective.irls_floor; },
                      [](SolverOptions& o, double v) { o.objective.irls_floor = v; },
                      "Gauss-Newton weight floor of robust losses (1: IRLS, 0: Triggs).")
        .def_readwrite("seed", &SolverOptions::seed, "Key of the bootstrap resamples.")
        .def_readwrite("evaluate_only", &SolverOptions::evaluate_only, "Only the cost at the starts.")
        .def_property("device", [](const SolverOptions& o) { return o.device; },
                      [](SolverOptions& o, const std::string& v) {
                          check_device(v);
                          o.device = v;
                      },
                      "'cpu' or 'cuda'.")
        .def_property("layout", [](const SolverOptions& o) { return o.layout; },
                      [](SolverOptions& o, const std::string& v) {
                          check_layout(v);
                          o.layout = v;
                      },
                      "GPU layout: 'auto', 'thread' or 'group'.")
        .def_readwrite("max_chunk", &SolverOptions::max_chunk, "GPU problems per chunk (0: sized to free memory).")
        .def("__repr__", [](const py::object& self) {
            return fields_repr(self, {"ftol", "xtol", "gtol", "max_nfev", "n_threads", "want_jtj", "loss", "delta",
                                      "log_residual", "irls_floor", "seed", "evaluate_only", "device", "layout",
                                      "max_chunk"});
        });

    // -------------------------------------------------------------- Reduction
    const Reduction dr;
    py::class_<Reduction>(m, "Reduction", R"doc(What to keep of a batch's results, reduced where the batch runs.

best_of=S keeps the best of every run of S consecutive problems; summary_runs=R
then summarises every run of R results (mean, sd, `quantiles` of each
parameter over the converged ones) and keeps only those.  grid_resamples=R
with a start grid generates every (law, resample, start).)doc")
        .def(py::init([](std::int64_t best_of, std::int64_t summary_runs,
                         const std::optional<carray<double>>& quantiles, std::int64_t grid_resamples) {
                 Reduction r;
                 r.best_of = best_of;
                 r.summary_runs = summary_runs;
                 r.quantiles = quantiles;
                 r.grid_resamples = grid_resamples;
                 return r;
             }),
             py::kw_only(), py::arg("best_of") = dr.best_of, py::arg("summary_runs") = dr.summary_runs,
             py::arg("quantiles") = py::none(), py::arg("grid_resamples") = dr.grid_resamples)
        .def_readwrite("best_of", &Reduction::best_of, "Keep the best of every run of this many problems.")
        .def_readwrite("summary_runs", &Reduction::summary_runs,
                       "Summarise every run of this many results (0: no summaries).")
        .def_readwrite("quantiles", &Reduction::quantiles, "Quantiles (in [0, 1]) of the summaries.")
        .def_readwrite("grid_resamples", &Reduction::grid_resamples,
                       "Resamples generated for every law with a start grid (0: none).")
        .def("__repr__", [](const py::object& self) {
            return fields_repr(self, {"best_of", "summary_runs", "quantiles", "grid_resamples"});
        });

    m.def("solve_batch", &solve_batch, py::arg("arrays"), py::arg("options"), py::arg("reduction") = py::none(),
          py::arg("compiled") = py::none(), py::arg("progress") = py::none(),
          R"doc(Fits every problem of a ragged batch; returns a dict of result arrays.

Keys: params, cost, nit, nfev, status, jtj (per problem, or per run with
best_of > 1, then also best and n_converged), mean, sd, quantiles, n_used
(with summary_runs; the per-problem keys are then None), n_chunks.
compiled: a capsule from load_compiled for this program and device.
progress(finished, total) is called from this thread with the GIL held, at
most every 0.2 s on the CPU and after every chunk on the GPU, and once at the
end with (total, total).  Ctrl-C, or an exception raised by progress, stops
the batch: the exception is raised once the workers have stopped, with the
per-problem results as its partial_results (a dict; unsolved problems
INTERRUPTED; absent on the GPU when the results are reduced).)doc");
}

}  // namespace bindings
}  // namespace lawfit
