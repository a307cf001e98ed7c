// load_compiled: a law compiled at run time, loaded and checked here (not by
// ctypes in Python), handed to Python as a named capsule.  solve_batch takes
// only such capsules, so no integer from Python ever becomes a function
// pointer.
#include <dlfcn.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

#include "aot_laws.hpp"
#include "common.hpp"
#include "cpu_backend.hpp"
#ifdef LAWFIT_WITH_CUDA
#include "cuda_backend.cuh"
#endif

namespace lawfit {
namespace bindings {

namespace {

// What every compiled law exports besides its entry point: the program it
// was generated for (lawfit.engine.jit writes it from the same program).
using ProgramExport = void (*)(const std::int32_t** code, std::int64_t* n_instr, const std::uint64_t** const_bits,
                               std::int64_t* n_consts, std::int64_t* n_params);
using AbiExport = std::uint64_t (*)();

struct LibraryCloser {
    void operator()(void* library) const {
        if (library) dlclose(library);
    }
};
using Library = std::unique_ptr<void, LibraryCloser>;

void destroy_compiled(PyObject* capsule) {
    auto* law = static_cast<CompiledLaw*>(PyCapsule_GetPointer(capsule, PyCapsule_GetName(capsule)));
    if (!law) {
        PyErr_Clear();
        return;
    }
    if (law->library) dlclose(law->library);
    delete law;
}

void* find_symbol(void* library, const std::string& path, const char* name) {
    dlerror();  // clear any earlier error
    void* s = dlsym(library, name);
    if (!s) {
        PyErr_SetString(PyExc_OSError, (path + " is not a lawfit compiled law: it lacks " + name).c_str());
        throw py::error_already_set();
    }
    return s;
}

py::capsule load_compiled(const std::string& path, const std::string& kind) {
    require(kind == "cpu" || kind == "cuda", "kind must be 'cpu' or 'cuda'");
#ifndef LAWFIT_WITH_CUDA
    if (kind == "cuda")
        throw std::runtime_error("lawfit was built without the CUDA back end (no CUDA compiler at build time)");
#endif
    Library library(dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL));
    if (!library) {
        const char* why = dlerror();
        PyErr_SetString(PyExc_OSError, (std::string("cannot load ") + path + ": " + (why ? why : "dlopen failed")).c_str());
        throw py::error_already_set();
    }
    const bool cpu = kind == "cpu";
    const char* abi_name = cpu ? "lawfit_jit_batch_view_size" : "lawfit_cuda_jit_abi";
    const auto abi = reinterpret_cast<AbiExport>(find_symbol(library.get(), path, abi_name));
    std::uint64_t expected = sizeof(BatchView);
#ifdef LAWFIT_WITH_CUDA
    if (!cpu) expected = cuda::abi_signature();
#endif
    const std::uint64_t found = abi();
    require(found == expected, path + " was compiled against a different lawfit core (" + abi_name + " " +
                                   std::to_string(found) + ", this core " + std::to_string(expected) +
                                   "): compiled code disagrees with the core on the batch layout");
    auto law = std::make_unique<CompiledLaw>();
    law->entry = find_symbol(library.get(), path, cpu ? "lawfit_jit_solve" : "lawfit_cuda_jit_solve");
    const auto program = reinterpret_cast<ProgramExport>(find_symbol(library.get(), path, "lawfit_jit_program"));
    const std::int32_t* code = nullptr;
    const std::uint64_t* bits = nullptr;
    std::int64_t n_instr = 0, n_consts = 0;
    program(&code, &n_instr, &bits, &n_consts, &law->n_params);
    require(n_instr >= 0 && n_consts >= 0 && (code || n_instr == 0) && (bits || n_consts == 0),
            path + " exports a malformed program");
    law->code.assign(code, code + 2 * n_instr);
    law->const_bits.assign(bits, bits + n_consts);
    law->library = library.release();
    return py::capsule(law.release(), cpu ? kCompiledCpu : kCompiledCuda, &destroy_compiled);
}

// The catalog law compiled into this module whose program is exactly
// (code, consts, n_params), as a capsule like load_compiled's, or None.
py::object builtin_compiled(const py::array_t<std::int32_t, py::array::c_style | py::array::forcecast>& code,
                            const py::array_t<double, py::array::c_style | py::array::forcecast>& consts,
                            std::int64_t n_params) {
    std::int64_t n = 0;
    const aot::Entry* entries = aot_laws(&n);
    const std::int64_t n_code = static_cast<std::int64_t>(code.size()), n_consts = static_cast<std::int64_t>(consts.size());
    for (std::int64_t e = 0; e < n; ++e) {
        const aot::Entry& law = entries[e];
        bool same = law.n_params == n_params && 2 * law.n_instr == n_code && law.n_consts == n_consts &&
                    std::equal(law.code, law.code + n_code, code.data());
        for (std::int64_t k = 0; same && k < n_consts; ++k) {
            std::uint64_t bits;
            std::memcpy(&bits, consts.data() + k, sizeof bits);
            same = bits == law.consts[k];
        }
        if (!same) continue;
        auto compiled = std::make_unique<CompiledLaw>();
        compiled->entry = reinterpret_cast<void*>(law.solve);
        compiled->code.assign(law.code, law.code + n_code);
        compiled->const_bits.assign(law.consts, law.consts + n_consts);
        compiled->n_params = n_params;
        return py::capsule(compiled.release(), kCompiledCpu, &destroy_compiled);
    }
    return py::none();
}

}  // namespace

void* compiled_entry(const py::capsule& capsule, const std::string& device, const ProgramView& prog) {
    const char* name = capsule.name();
    const bool cpu = name && std::strcmp(name, kCompiledCpu) == 0;
    const bool gpu = name && std::strcmp(name, kCompiledCuda) == 0;
    if (!cpu && !gpu)
        throw py::value_error(std::string("compiled must be a capsule from load_compiled, not one named '") +
                              (name ? name : "") + "'");
    require(cpu == (device == "cpu"), std::string("the law was compiled for ") + (cpu ? "the CPU" : "the GPU") +
                                          " but the batch runs with device='" + device + "'");
    const auto* law = capsule.get_pointer<CompiledLaw>();
    bool same = law->n_params == prog.n_params && static_cast<std::int64_t>(law->code.size()) == 2 * prog.n_instr &&
                static_cast<std::int64_t>(law->const_bits.size()) == prog.n_consts;
    same = same && std::equal(law->code.begin(), law->code.end(), prog.code);
    for (int k = 0; same && k < prog.n_consts; ++k) {
        std::uint64_t bits;
        std::memcpy(&bits, prog.consts + k, sizeof bits);
        same = bits == law->const_bits[k];
    }
    require(same, "the compiled law was generated for a different program");
    return law->entry;
}

void register_compiled(py::module_& m) {
    m.def("load_compiled", &load_compiled, py::arg("path"), py::arg("kind"),
          R"doc(Loads a law compiled at run time (lawfit.engine.jit) for kind 'cpu' or 'cuda'.

Checks that the library was built against this core's batch layout and
returns a capsule (named 'lawfit.compiled_cpu' or 'lawfit.compiled_cuda')
that keeps it loaded, for solve_batch(..., compiled=capsule).  Raises
OSError when the library cannot be loaded or is not a compiled law, and
ValueError when it disagrees with this core.)doc");
    m.def("builtin_compiled", &builtin_compiled, py::arg("code"), py::arg("consts"), py::arg("n_params"),
          R"doc(The catalog law compiled into this module for exactly this program.

code (n_instr x 2 int32), consts (float64, compared bit for bit) and
n_params identify the program; returns a capsule named
'lawfit.compiled_cpu' for solve_batch(..., compiled=capsule), or None when
no built-in law has this program.)doc");
}

}  // namespace bindings
}  // namespace lawfit
