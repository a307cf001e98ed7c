// What the registration files of lawfit._core share: the array alias, the
// argument checks, the program view, and one register_* function per concern
// (module.cpp calls them all).  Registration files only check arguments, take
// pointers, release the GIL and call the core or a back end; defaults,
// grouping and tables live in Python (python/lawfit/).
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lawfit/batch.hpp"

namespace lawfit {
namespace bindings {

namespace py = pybind11;

template <class T>
using carray = py::array_t<T, py::array::c_style>;

template <class T>
const T* ptr_or_null(const std::optional<carray<T>>& a) {
    return a ? a->data() : nullptr;
}

// Malformed arguments raise ValueError with `msg`.
inline void require(bool ok, const std::string& msg) {
    if (!ok) throw py::value_error(msg);
}

// A checked view of a law program (opcodes, constants, stack depth).
inline ProgramView make_program(const carray<std::int32_t>& code, const carray<double>& consts, int n_params,
                                int n_columns) {
    require(code.ndim() == 2 && code.shape(1) == 2, "code must have shape (n_instr, 2)");
    require(n_params >= 0 && n_params <= kMaxParams,
            "a law may have at most " + std::to_string(kMaxParams) + " parameters");
    const auto* c = code.data();
    for (py::ssize_t i = 0; i < code.shape(0); ++i) {
        const int op = c[2 * i], arg = c[2 * i + 1];
        require(op >= 0 && op < static_cast<int>(Op::N_OPS), "unknown opcode in program");
        if (op == static_cast<int>(Op::CONST)) require(arg >= 0 && arg < consts.size(), "constant index out of range");
        if (op == static_cast<int>(Op::POWI))
            require(arg >= -kMaxPowi && arg <= kMaxPowi, "POWI exponent out of range");
    }
    const ProgramView prog{c, static_cast<int>(code.shape(0)), consts.data(), static_cast<int>(consts.size()),
                           n_params, n_columns};
    const int depth = program_stack_depth(prog);
    require(depth >= 0, "the program pops more values than it pushes");
    require(depth <= kMaxStack, "the program needs a deeper stack than " + std::to_string(kMaxStack));
    return prog;
}

inline LmOptions make_options(double ftol, double xtol, double gtol, int max_nfev) {
    LmOptions o;
    o.ftol = ftol;
    o.xtol = xtol;
    o.gtol = gtol;
    o.max_nfev = max_nfev;
    return o;
}

// A law compiled to machine code at run time (lawfit.engine.jit), loaded by
// load_compiled (register_compiled.cpp) and held by a capsule named
// kCompiledCpu or kCompiledCuda that closes the library when it goes.
constexpr const char* kCompiledCpu = "lawfit.compiled_cpu";
constexpr const char* kCompiledCuda = "lawfit.compiled_cuda";

struct CompiledLaw {
    void* library = nullptr;  // the dlopen handle
    void* entry = nullptr;    // SolveRange (cpu) or cuda::CompiledSolve (cuda)
    // The program the library was generated for (its constants as bits).
    std::vector<std::int32_t> code;
    std::vector<std::uint64_t> const_bits;
    std::int64_t n_params = 0;
};

// The entry point of the compiled law `capsule` holds, after checking that it
// is one load_compiled made (TypeError / ValueError otherwise), for `device`
// ('cpu' or 'cuda'), and generated for exactly the program `prog`.
void* compiled_entry(const py::capsule& capsule, const std::string& device, const ProgramView& prog);

void register_enums(py::module_& m);       // Status, Op, Loss
void register_cuda(py::module_& m);        // WITH_CUDA, CUDA_ABI, the device queries
void register_solver(py::module_& m);      // solve_batch
void register_evaluate(py::module_& m);    // evaluate
void register_covariance(py::module_& m);  // covariance
void register_bootstrap(py::module_& m);   // bootstrap_counts
void register_callback(py::module_& m);    // solve_callback
void register_single(py::module_& m);      // solve_single
void register_compiled(py::module_& m);    // load_compiled

}  // namespace bindings
}  // namespace lawfit
