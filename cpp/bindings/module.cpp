// The pybind11 module lawfit._core: its constants, then one register_* call
// per concern (register_*.cpp).  The stub python/lawfit/_core.pyi is generated
// from the built module: python -m lawfit.engine.stubgen.
#include "common.hpp"

PYBIND11_MODULE(_core, m) {
    namespace b = lawfit::bindings;
    m.doc() = "lawfit's compiled core: batched Levenberg-Marquardt over law programs";
    b::register_enums(m);
    m.attr("MAX_PARAMS") = lawfit::kMaxParams;
    m.attr("MAX_STACK") = lawfit::kMaxStack;
    // Code compiled at run time must agree on the batch's layout (lawfit.engine.jit checks).
    m.attr("BATCH_VIEW_SIZE") = sizeof(lawfit::BatchView);
    b::register_cuda(m);
    b::register_solver(m);
    b::register_evaluate(m);
    b::register_bootstrap(m);
    b::register_covariance(m);
    b::register_callback(m);
    b::register_single(m);
    b::register_compiled(m);
}
