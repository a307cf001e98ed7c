"""Shared machinery of the benchmark suite: rows, timing, references and the peers.

Every benchmark fits the same data with lawfit and with its peers in one run
and returns :class:`Row` objects.  A row always carries an accuracy: the
largest relative parameter difference to a *reference solution* (or, for NIST
StRD, the log relative error to the certified values), the number of problems
whose answer agrees with the reference, and ``check`` = ``"ok"`` or
``"FAIL"``.  Speed is only meaningful on rows whose check is ok.

The reference of a problem is the lowest-cost minimum that any method reached,
polished by ``scipy.optimize.least_squares`` (trf, tolerances 1e-14, x_scale
'jac') and scored with an independent numpy objective (:func:`rho`, least_squares'
conventions): a tool that stops early, in a worse local
minimum or not at all does not agree.  A problem agrees when the answer's
parameters are within ``PARAM_RTOL`` (relative, each parameter) of the
reference, or its cost exceeds the reference cost by at most ``COST_RTOL``
relative (flat valleys of scaling laws let equally good optima differ in the
parameters).  :func:`judge` turns agreement into the row's check.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np

#: A problem agrees with its reference when every parameter is this close (relative)...
PARAM_RTOL = 1e-3
#: ...or when its cost is at most this much (relative) above the reference cost.
COST_RTOL = 1e-6
#: A row passes its check when at most 1 - AGREE_SHARE of the compared problems count against it.
AGREE_SHARE = 0.99

LOSSES = ("linear", "huber", "soft_l1", "cauchy", "arctan")


@dataclass
class Row:
    """One line of the results table: one tool on one workload."""

    benchmark: str  # name in the registry, e.g. "chinchilla_laws"
    problem: str  # what is fitted, e.g. "Chinchilla 5p, L2"
    size: str  # human-readable batch shape, e.g. "10,000 laws x 40 pts"
    tool: str
    n_fits: int  # fits the time refers to (laws x starts x resamples)
    points: float  # points per law (median for ragged batches)
    fits_per_s: float
    seconds: float  # wall time for all n_fits (extrapolated when timed_fits < n_fits)
    timed_fits: int  # fits actually timed
    accuracy_metric: str
    accuracy: float
    agree: int  # problems that agree with the reference (NIST: fits that pass)
    compared: int  # problems compared
    check: str  # "ok" or "FAIL"
    status: str  # status counts, e.g. "9,998 conv, 2 MAX_EVALUATIONS"
    note: str = ""
    speedup: Optional[float] = None  # lawfit fits/s / this tool's fits/s, same run and size
    shape: dict = field(default_factory=dict)  # batch shape for the JSON record

    @property
    def extrapolated(self) -> bool:
        return self.timed_fits < self.n_fits

    def as_dict(self) -> dict:
        d = asdict(self)
        d["extrapolated"] = self.extrapolated
        return d


ROW_FIELDS = tuple(Row.__dataclass_fields__) + ("extrapolated",)


@dataclass
class Config:
    """What a benchmark may use: scale, sampling, seed, data, devices."""

    scale: str = "quick"  # "toy" (seconds, for tests), "quick" (< 2 min) or "full"
    seed: int = 0
    threads: Optional[int] = None  # lawfit CPU threads (None: all cores)
    data_dir: Optional[str] = None  # folder holding the released data sets (None: not found)
    repo_root: Optional[str] = None  # source checkout, for tests/nist_models.py
    peers: Sequence[str] = ("scipy", "lmfit")
    skipped: list = field(default_factory=list)  # (section, reason) noted by benchmarks
    extra: dict = field(default_factory=dict)  # free-form JSON details benchmarks add

    def pick(self, toy, quick, full):
        return {"toy": toy, "quick": quick, "full": full}[self.scale]

    def skip(self, section: str, reason: str) -> None:
        if (section, reason) not in self.skipped:
            self.skipped.append((section, reason))


# ----------------------------------------------------------------------------- timing


def compile_for(cfg: "Config", program, device: str, section: str) -> Optional[float]:
    """Compiles ``program`` for ``device`` ('cpu' or a GPU) with lawfit.engine.jit (cached after):
    the seconds it took, or None with the compiler's reason noted under ``section``."""
    from ..engine import jit as _jit

    t0 = time.perf_counter()
    built = _jit.compiled_solver(program) if device == "cpu" else _jit.compiled_cuda_solver(program)
    if built is None:
        cfg.skip(section, _jit.last_error())
        return None
    return time.perf_counter() - t0


def timed(fn: Callable, repeat: int = 1):
    """(best wall time of ``repeat`` calls, result of the last call)."""
    best, out = np.inf, None
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def quiet():
    """Context that silences the warnings fitters raise on hard problems."""
    ctx = warnings.catch_warnings()

    class _Quiet:
        def __enter__(self):
            ctx.__enter__()
            warnings.simplefilter("ignore")
            self._err = np.seterr(all="ignore")
            return self

        def __exit__(self, *exc):
            np.seterr(**self._err)
            return ctx.__exit__(*exc)

    return _Quiet()


class single_threaded_blas:
    """Context: the BLAS libraries of this process run one thread; restored on exit.

    The peers call BLAS on tiny arrays (240 x 5 products, 5 x 5 solves).  On
    a busy machine OpenBLAS's worker threads make such calls 10 to 60 times
    slower and erratic, which would time a thread pool rather than a fitter.
    Uses threadpoolctl when installed, else every loaded OpenBLAS directly
    (numpy's and scipy's wheels each carry one); ``self.note`` says which.
    """

    _SET = ("openblas_set_num_threads", "openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
            "scipy_openblas_set_num_threads64_")

    def __enter__(self):
        self._restore = []
        self.note = "BLAS threads not limited (no threadpoolctl, no OpenBLAS found)"
        try:  # load scipy's BLAS too, so that it is limited as well
            import scipy.linalg  # noqa: F401
            import scipy.optimize  # noqa: F401
        except ImportError:
            pass
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            self._openblas()
        else:
            limiter = threadpool_limits(1, user_api="blas")
            self._restore.append(limiter.restore_original_limits)
            self.note = "BLAS limited to 1 thread (threadpoolctl)"
        return self

    def _openblas(self):
        import ctypes

        try:
            with open("/proc/self/maps") as f:
                maps = f.read().split()
        except OSError:
            return
        paths = sorted({p for p in maps if "openblas" in p.lower() and ".so" in p})
        done = []
        for path in paths:
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for name in self._SET:
                setter = getattr(lib, name, None)
                getter = getattr(lib, name.replace("_set_", "_get_"), None)
                if setter is None:
                    continue
                before = int(getter()) if getter is not None else None
                setter(ctypes.c_int(1))
                if before is not None:
                    self._restore.append(lambda s=setter, b=before: s(ctypes.c_int(b)))
                done.append(path.rsplit("/", 1)[-1])
                break
        if done:
            self.note = f"BLAS limited to 1 thread ({', '.join(done)})"

    def __exit__(self, *exc):
        for undo in reversed(self._restore):
            undo()
        return False


# ----------------------------------------------------------------------------- objective


def rho(r: np.ndarray, loss: str, delta: float) -> np.ndarray:
    """Per-point cost, scipy.optimize.least_squares' convention (cost = sum of these)."""
    if loss in ("linear", "l2"):
        return 0.5 * r * r
    z = (r / delta) ** 2
    if loss == "huber":
        a = np.abs(r)
        return np.where(a <= delta, 0.5 * r * r, delta * a - 0.5 * delta * delta)
    if loss == "soft_l1":
        return delta * delta * (np.sqrt(1.0 + z) - 1.0)
    if loss == "cauchy":
        return 0.5 * delta * delta * np.log1p(z)
    if loss == "arctan":
        return 0.5 * delta * delta * np.arctan(z)
    raise ValueError(f"unknown loss {loss!r}")


def drho(r: np.ndarray, loss: str, delta: float) -> np.ndarray:
    """d rho / d r (for the gradient of the L-BFGS-B objective)."""
    if loss in ("linear", "l2"):
        return r
    if loss == "huber":
        return np.clip(r, -delta, delta)
    z = (r / delta) ** 2
    if loss == "soft_l1":
        return r / np.sqrt(1.0 + z)
    if loss == "cauchy":
        return r / (1.0 + z)
    if loss == "arctan":
        return r / (1.0 + z * z)
    raise ValueError(f"unknown loss {loss!r}")


@dataclass
class Problem:
    """One fit for the peers and the reference: numpy model, data, start."""

    x: np.ndarray  # what model(x, *p) takes
    y: np.ndarray
    p0: np.ndarray
    weight: Optional[np.ndarray] = None  # integer multiplicities (bootstrap) or None
    alt_starts: tuple = ()  # extra starts for the reference (e.g. the true parameters)


@dataclass
class Model:
    """A law as numpy code, independent of lawfit: ``f(x, *p)`` and optionally its Jacobian."""

    f: Callable
    jac: Optional[Callable] = None  # jac(x, *p) -> (M, P)
    loss: str = "linear"
    delta: float = 1.0

    def residual(self, prob: Problem, p) -> np.ndarray:
        return np.asarray(self.f(prob.x, *p), dtype=float) - prob.y

    def cost(self, prob: Problem, p) -> float:
        p = np.asarray(p, dtype=float)
        if not np.all(np.isfinite(p)):
            return np.inf
        with np.errstate(all="ignore"):
            r = self.residual(prob, p)
            c = rho(r, self.loss, self.delta)
            s = float(np.sum(c if prob.weight is None else prob.weight * c))
        return s if np.isfinite(s) else np.inf


def repeated(prob: Problem) -> Problem:
    """The problem with multiplicity weights turned into repeated points (what a scipy user does)."""
    if prob.weight is None:
        return prob
    w = np.asarray(prob.weight, dtype=np.int64)
    x = np.asarray(prob.x)
    x = np.repeat(x, w, axis=-1)
    return Problem(x, np.repeat(prob.y, w), prob.p0, None, prob.alt_starts)


# ----------------------------------------------------------------------------- reference


def _polish(model: Model, prob: Problem, start) -> Optional[np.ndarray]:
    from scipy.optimize import least_squares

    rp = repeated(prob)
    jac = "3-point"
    if model.jac is not None:
        def jac(p):
            return np.asarray(model.jac(rp.x, *p), dtype=float)
    try:
        r = least_squares(lambda p: model.residual(rp, p), np.asarray(start, dtype=float), jac=jac,
                          method="trf", loss=model.loss if model.loss != "l2" else "linear",
                          f_scale=model.delta, x_scale="jac", ftol=1e-14, xtol=1e-14, gtol=1e-14,
                          max_nfev=2000)
    except (ValueError, np.linalg.LinAlgError):
        return None
    return r.x if np.all(np.isfinite(r.x)) else None


def reference(model: Model, problems: Sequence[Problem], candidates: Sequence[np.ndarray] = ()):
    """Reference parameters and costs of each problem (NaN / inf where none).

    ``candidates`` are (S, P) arrays of answers from the tools; the best of
    them (by the numpy objective) and each problem's own starts are polished
    with tight least_squares, and the lowest cost wins.
    """
    S = len(problems)
    P = len(problems[0].p0) if S else 0
    ref = np.full((S, P), np.nan)
    ref_cost = np.full(S, np.inf)
    with quiet():
        for i, prob in enumerate(problems):
            starts = [prob.p0, *prob.alt_starts]
            cand = [np.asarray(c[i], dtype=float) for c in candidates if np.all(np.isfinite(c[i]))]
            if cand:
                starts.append(min(cand, key=lambda p: model.cost(prob, p)))
            for s in starts:
                p = _polish(model, prob, s)
                if p is None:
                    continue
                c = model.cost(prob, p)
                if c < ref_cost[i]:
                    ref[i], ref_cost[i] = p, c
    return ref, ref_cost


@dataclass
class Agreement:
    """A tool's answers on the compared problems, judged against the reference."""

    max_rel_param_diff: float  # over the problems where the tool returned finite parameters
    agree_mask: np.ndarray  # answer agrees with the reference
    returned_mask: np.ndarray  # the tool returned finite parameters (claimed success)
    have_mask: np.ndarray  # a reference exists
    check: str = "ok"

    @property
    def agree(self) -> int:
        return int(self.agree_mask.sum())

    @property
    def compared(self) -> int:
        return int(self.have_mask.sum())


def judge(agreements: Sequence[Agreement]) -> None:
    """Set each tool's check on the same problems.

    A problem counts against a tool when its answer disagrees with the
    reference and either the tool returned that answer as a success (a wrong
    answer) or another tool did agree there (a failure where the problem was
    solvable).  A tool that reports failure on a problem nobody solves (an
    ill-posed law whose optimum runs off to infinity) is not penalised: the
    status column shows it.  ``FAIL`` when more than ``1 - AGREE_SHARE`` of
    the compared problems count against the tool, or none could be compared.
    """
    if not agreements:
        return
    solved = np.zeros_like(agreements[0].agree_mask)
    for a in agreements:
        solved |= a.agree_mask
    for a in agreements:
        bad = a.have_mask & ~a.agree_mask & (a.returned_mask | solved)
        allowed = np.floor((1.0 - AGREE_SHARE) * a.compared + 1e-9)
        a.check = "ok" if a.compared > 0 and bad.sum() <= allowed else "FAIL"


def rel_param_diff(params: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Largest relative difference over the parameters, per problem (inf where not finite)."""
    params = np.atleast_2d(params)
    ref = np.atleast_2d(ref)
    with np.errstate(all="ignore"):
        scale = np.maximum(np.abs(ref), 1e-300)
        d = np.max(np.abs(params - ref) / scale, axis=1)
    return np.where(np.isfinite(d), d, np.inf)


def compare(model: Model, problems: Sequence[Problem], params: np.ndarray, ref: np.ndarray,
            ref_cost: np.ndarray) -> Agreement:
    """How a tool's answers (S, P) compare with the reference on the same problems."""
    params = np.atleast_2d(np.asarray(params, dtype=float))
    have = np.isfinite(ref_cost)
    returned = np.all(np.isfinite(params), axis=1)
    d = rel_param_diff(params, ref)
    cost = np.array([model.cost(p, q) for p, q in zip(problems, params)])
    with np.errstate(all="ignore"):
        excess = (cost - ref_cost) / np.maximum(np.abs(ref_cost), 1e-300)
    agree = have & returned & ((d <= PARAM_RTOL) | (excess <= COST_RTOL))
    finite = have & np.isfinite(d)
    worst = float(np.max(d[finite])) if finite.any() else float("inf")
    return Agreement(worst, agree, returned, have)


# ----------------------------------------------------------------------------- peers


def have_module(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True


def status_counts(ok: np.ndarray) -> str:
    ok = np.asarray(ok, dtype=bool)
    n_fail = int((~ok).sum())
    s = f"{int(ok.sum()):,} conv"
    return s + (f", {n_fail:,} fail" if n_fail else "")


def lawfit_status(status: np.ndarray) -> str:
    """Status counts of a lawfit batch, e.g. ``"9,998 conv, 2 MAX_EVALUATIONS"``."""
    from ..status import Status, is_converged

    status = np.asarray(status)
    ok = is_converged(status)
    parts = [f"{int(ok.sum()):,} conv"]
    codes, counts = np.unique(status[~ok], return_counts=True)
    parts += [f"{int(n):,} {Status(int(c)).name}" for c, n in zip(codes, counts)]
    return ", ".join(parts)


def _fit_curve_fit(method):
    def fit(model: Model, prob: Problem):
        from scipy.optimize import curve_fit

        rp = repeated(prob)
        try:
            popt, _ = curve_fit(model.f, rp.x, rp.y, p0=prob.p0, method=method)
        except (RuntimeError, ValueError, np.linalg.LinAlgError, FloatingPointError):
            return None
        return popt
    return fit


def _fit_least_squares(model: Model, prob: Problem):
    from scipy.optimize import least_squares

    rp = repeated(prob)
    try:
        r = least_squares(lambda p: model.residual(rp, p), prob.p0, loss=model.loss, f_scale=model.delta)
    except (ValueError, np.linalg.LinAlgError):
        return None
    return r.x if r.status > 0 else None


def _fit_lbfgsb(model: Model, prob: Problem):
    """Minimise sum(w * rho(r)) with L-BFGS-B and the exact gradient (Besiroglu et al.'s way)."""
    from scipy.optimize import minimize

    w = 1.0 if prob.weight is None else prob.weight

    def fun(p):
        r = model.residual(prob, p)
        J = np.asarray(model.jac(prob.x, *p), dtype=float)
        c = float(np.sum(w * rho(r, model.loss, model.delta)))
        g = J.T @ (w * drho(r, model.loss, model.delta))
        if not np.isfinite(c):
            return np.inf, np.zeros_like(p)
        return c, g

    try:
        r = minimize(fun, prob.p0, jac=True, method="L-BFGS-B")
    except (ValueError, np.linalg.LinAlgError):
        return None
    return r.x if r.success and np.all(np.isfinite(r.x)) else None


def _fit_lmfit(model: Model, prob: Problem):
    import lmfit

    rp = repeated(prob)
    params = lmfit.Parameters()
    names = [f"p{i}" for i in range(len(prob.p0))]
    for n, v in zip(names, prob.p0):
        params.add(n, value=float(v))

    def resid(pars):
        return model.residual(rp, [pars[n].value for n in names])

    try:
        out = lmfit.minimize(resid, params, method="leastsq")
    except (ValueError, TypeError, np.linalg.LinAlgError):
        return None
    if not out.success:
        return None
    return np.array([out.params[n].value for n in names])


#: Peer tools: name -> (python module it needs, fitter(model, problem) -> params or None).
PEERS = {
    "scipy curve_fit lm": ("scipy", _fit_curve_fit("lm")),
    "scipy curve_fit trf": ("scipy", _fit_curve_fit("trf")),
    "scipy least_squares": ("scipy", _fit_least_squares),
    "scipy L-BFGS-B": ("scipy", _fit_lbfgsb),
    "lmfit leastsq": ("lmfit", _fit_lmfit),
}


def available_peers(cfg: Config, names: Sequence[str]) -> list:
    """The peers among ``names`` that can run here; the others are noted as skipped."""
    out = []
    for name in names:
        module = PEERS[name][0]
        if module not in cfg.peers:
            continue
        if not have_module(module):
            cfg.skip(name, f"{module} is not installed (pip install {module})")
            continue
        out.append(name)
    return out


def run_peer(name: str, model: Model, problems: Sequence[Problem]):
    """Fit each problem with one peer: (params (S, P) NaN where it failed, ok mask, seconds)."""
    fit = PEERS[name][1]
    P = len(problems[0].p0)
    params = np.full((len(problems), P), np.nan)
    ok = np.zeros(len(problems), bool)
    with quiet():
        t0 = time.perf_counter()
        for i, prob in enumerate(problems):
            p = fit(model, prob)
            if p is not None:
                params[i], ok[i] = p, True
        seconds = time.perf_counter() - t0
    return params, ok, seconds


def fmt_size(n_laws: int, points, starts: int = 1, resamples: int = 1) -> str:
    s = f"{n_laws:,} law{'s' if n_laws != 1 else ''}"
    if starts > 1:
        s += f" x {starts:,} starts"
    if resamples > 1:
        s += f" x {resamples:,} resamples"
    if isinstance(points, str):
        return s + f" x {points}"
    return s + f" x {int(points):,} pts"


def lawfit_row(bench, problem, size, n_fits, points, seconds, agreement: Agreement, status: str,
               note: str = "", shape: Optional[dict] = None, tool: str = "lawfit",
               metric: str = "max rel param diff") -> Row:
    """The row of a tool that ran the whole workload (nothing extrapolated)."""
    return Row(bench, problem, size, tool, int(n_fits), float(points), n_fits / seconds, seconds,
               int(n_fits), metric, agreement.max_rel_param_diff, agreement.agree,
               agreement.compared, agreement.check, status, note, None, dict(shape or {}))


def sampled_row(bench, problem, size, tool, n_fits, points, timed_fits, seconds, agreement: Agreement,
                status: str, note: str = "", shape: Optional[dict] = None) -> Row:
    """The row of a tool timed on ``timed_fits`` of the ``n_fits``: per-fit time extrapolated."""
    rate = timed_fits / seconds
    extra = f"timed on {timed_fits:,} of {n_fits:,}" if timed_fits < n_fits else ""
    return Row(bench, problem, size, tool, int(n_fits), float(points), rate, n_fits / rate,
               int(timed_fits), "max rel param diff", agreement.max_rel_param_diff, agreement.agree,
               agreement.compared, agreement.check, status, "; ".join(s for s in (extra, note) if s),
               None, dict(shape or {}))


def compare_on_sample(bench, problem, size, n_fits, points, model: Model, problems, lawfit_params,
                      lawfit_seconds, lawfit_status, peer_names, shape=None, lawfit_note=""):
    """The usual benchmark ending: peers on the sampled problems, a reference, rows.

    lawfit has fitted all ``n_fits`` problems in ``lawfit_seconds``;
    ``lawfit_params`` are its answers to the sampled ``problems``.  Each peer
    fits the same sampled problems from the same starts; the reference is
    computed from everyone's answers; every tool is compared with it.
    """
    results = {name: run_peer(name, model, problems) for name in peer_names}
    ref, ref_cost = reference(model, problems, [lawfit_params] + [r[0] for r in results.values()])
    a = compare(model, problems, lawfit_params, ref, ref_cost)
    peer_a = {name: compare(model, problems, r[0], ref, ref_cost) for name, r in results.items()}
    judge([a, *peer_a.values()])
    note = f"accuracy on {len(problems):,} sampled problems" if len(problems) < n_fits else ""
    rows = [lawfit_row(bench, problem, size, n_fits, points, lawfit_seconds, a, lawfit_status,
                       "; ".join(s for s in (note, lawfit_note) if s), shape)]
    for name, (_params, ok, seconds) in results.items():
        rows.append(sampled_row(bench, problem, size, name, n_fits, points, len(problems), seconds,
                                peer_a[name], status_counts(ok), shape=shape))
    return rows


def sample_indices(n: int, k: int, seed: Optional[int] = None) -> np.ndarray:
    """k of range(n), sorted: evenly spread, or drawn at random when a seed is given.

    Evenly spread suits i.i.d. laws and collections sorted by family (a
    stratified sample); a structured grid of starts needs a random sample,
    since a stride can fall in step with the grid.
    """
    if k >= n:
        return np.arange(n)
    if seed is not None:
        return np.sort(np.random.default_rng(seed).choice(n, k, replace=False))
    return np.unique(np.linspace(0, n - 1, k).round().astype(np.int64))
