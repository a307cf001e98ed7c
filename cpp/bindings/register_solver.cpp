// solve_batch: every problem of a ragged batch on the CPU threads or the GPU.
#include <pybind11/stl.h>

#include <algorithm>
#include <string>
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

bool python_interrupted() {
    py::gil_scoped_acquire gil;
    return PyErr_CheckSignals() != 0;
}

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

py::dict solve_batch(const carray<std::int32_t>& code, const carray<double>& consts, int n_params,
                     const py::object& columns_arg, const py::object& y_arg, const py::object& weight_arg,
                     const carray<std::int64_t>& offsets, const std::optional<carray<std::int64_t>>& problem_law,
                     const py::object& p0_arg,
                     const std::optional<carray<std::uint8_t>>& fixed, const carray<double>& lower,
                     const carray<double>& upper, double ftol, double xtol, double gtol, int max_nfev,
                     int n_threads, bool want_jtj, int loss, double delta, bool log_residual,
                     std::uint64_t seed, const std::optional<carray<std::int64_t>>& problem_resample,
                     const std::optional<carray<std::int32_t>>& group, bool evaluate_only,
                     const std::string& device, std::int64_t max_chunk, double irls_floor,
                     const std::optional<carray<std::int64_t>>& law_key,
                     const std::optional<carray<double>>& start_grid,
                     const std::optional<carray<std::int32_t>>& grid_sizes, std::int64_t best_of,
                     std::int64_t summary_runs, const std::optional<carray<double>>& quantiles,
                     const std::string& layout, std::int64_t grid_resamples, std::uintptr_t jit_address,
                     std::uintptr_t cuda_jit_address) {
    const ArrayArg<double> columns = array_arg<double>(columns_arg, "columns"), y = array_arg<double>(y_arg, "y");
    const std::optional<ArrayArg<double>> weight = optional_array_arg<double>(weight_arg, "weight");
    const std::optional<ArrayArg<double>> p0 = optional_array_arg<double>(p0_arg, "p0");
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
    require(loss >= 0 && loss <= static_cast<int>(Loss::ARCTAN), "unknown loss");
    require(delta > 0.0, "delta (the loss scale) must be positive");
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
    require(layout == "auto" || layout == "thread" || layout == "group",
            "layout must be 'auto', 'thread' or 'group'");
    require(device == "cpu" || device == "cuda", "device must be 'cpu' or 'cuda'");
    Objective objective;
    objective.loss = static_cast<Loss>(loss);
    objective.delta = delta;
    objective.log_residual = log_residual;
    objective.irls_floor = irls_floor;

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
    const bool cuda_device = device == "cuda";
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
                lower.data(), upper.data(), bstride, make_options(ftol, xtol, gtol, max_nfev),
                objective, seed, ptr_or_null(law_key), ptr_or_null(problem_resample), ptr_or_null(group), evaluate_only,
                data_or_null(per_problem.params), data_or_null(per_problem.cost), data_or_null(per_problem.nit),
                data_or_null(per_problem.nfev), data_or_null(per_problem.status), data_or_null(per_problem.jtj)};
    const bool any_on_device = columns.on_device || y.on_device || (weight && weight->on_device) || (p0 && p0->on_device);
    require(cuda_device || !any_on_device,
            "columns, y, weight and p0 lie on the GPU: run with device='cuda' (or 'auto'), or copy them to numpy");
    int n_chunks = 1;
    if (cuda_device) {
#ifdef LAWFIT_WITH_CUDA
        std::string err;
        {
            py::gil_scoped_release release;
            const cuda::Layout lay = layout == "thread" ? cuda::Layout::THREAD
                                     : layout == "group" ? cuda::Layout::GROUP : cuda::Layout::AUTO;
            cuda::Resident resident;
            resident.columns = columns.on_device;
            resident.y = y.on_device;
            resident.weight = weight && weight->on_device;
            resident.p0 = p0 && p0->on_device;
            resident.streams[0] = columns.stream;
            resident.streams[1] = y.stream;
            resident.streams[2] = weight ? weight->stream : 0;
            resident.streams[3] = p0 ? p0->stream : 0;
            if (cuda_jit_address) {  // the law compiled for the GPU at run time
                char msg[512] = {0};
                const int code = reinterpret_cast<cuda::CompiledSolve>(cuda_jit_address)(
                    &b, &r, &resident, want_jtj, static_cast<int>(lay), max_chunk, &n_chunks, msg, sizeof(msg));
                if (code != 0) err = msg[0] ? msg : "compiled law failed";
            } else {
                err = cuda::solve_batch(b, r, resident, want_jtj, lay, max_chunk, &n_chunks);
            }
        }
        if (!err.empty()) throw std::runtime_error("lawfit CUDA back end: " + err);
#else
        throw std::runtime_error("lawfit was built without the CUDA back end (no CUDA compiler at build time)");
#endif
    } else {
        bool completed;
        {
            py::gil_scoped_release release;
            completed = solve_batch_cpu(b, n_threads, python_interrupted, reinterpret_cast<SolveRange>(jit_address));
            if (completed) reduce_batch_cpu(b, r);
        }
        if (!completed) throw py::error_already_set();  // the pending KeyboardInterrupt
    }
    return kept.to_dict(n_chunks);
}

}  // namespace

void register_solver(py::module_& m) {
    m.def("solve_batch", &solve_batch, py::arg("code"), py::arg("consts"), py::arg("n_params"),
          py::arg("columns"), py::arg("y"), py::arg("weight"), py::arg("offsets"), py::arg("problem_law"),
          py::arg("p0"), py::arg("fixed"), py::arg("lower"), py::arg("upper"), py::arg("ftol"),
          py::arg("xtol"), py::arg("gtol"), py::arg("max_nfev"), py::arg("n_threads"), py::arg("want_jtj"),
          py::arg("loss") = 0, py::arg("delta") = 1.0, py::arg("log_residual") = false, py::arg("seed") = 0,
          py::arg("problem_resample") = py::none(), py::arg("group") = py::none(),
          py::arg("evaluate_only") = false, py::arg("device") = "cpu", py::arg("max_chunk") = 0,
          py::arg("irls_floor") = 0.0, py::arg("law_key") = py::none(), py::arg("start_grid") = py::none(),
          py::arg("grid_sizes") = py::none(), py::arg("best_of") = 1, py::arg("summary_runs") = 0,
          py::arg("quantiles") = py::none(), py::arg("layout") = "auto", py::arg("grid_resamples") = 0,
          py::arg("jit_address") = 0, py::arg("cuda_jit_address") = 0,
          "Fit every problem of a ragged batch; returns a dict of result arrays (params, cost, nit, nfev, "
          "status, jtj; best and n_converged with best_of > 1; mean, sd, quantiles, n_used with summary_runs).");
}

}  // namespace bindings
}  // namespace lawfit
