"""User laws, fixed parameters, registration, display and the ``lawfit laws`` command."""
import math
import warnings

import numpy as np
import pytest

import lawfit
from lawfit.catalog import Citation, Law, laws, main_laws, register_law

X = np.geomspace(1e2, 1e6, 40)
Y = 30 * X**-0.4 + 1.2


def test_law_from_a_formula_string():
    law = Law("a*x**-b + c", inputs={"x": "samples"}, bounds={"b": (0, 5)},
              starts={"a": [1, 100], "b": [0.2, 0.8], "c": [0, 2]})
    assert law.params == ("a", "b", "c") and law.input_names == ("x",)
    fit = law.fit(X, Y)
    assert fit.converged and fit.n_starts == 8
    np.testing.assert_allclose(fit.popt, [30, 0.4, 1.2], rtol=1e-8)
    np.testing.assert_allclose(law.predict(fit.params, x=X), Y, rtol=1e-10)


def test_fit_agrees_with_curve_fit():
    rng = np.random.default_rng(0)
    y = Y * (1 + 0.01 * rng.standard_normal(X.size))
    sigma = 0.01 * Y
    law = Law("a*x**-b + c", inputs=["x"])
    fit = law.fit(X, y, sigma=sigma, starts=[[20, 0.5, 1.0]])
    popt, pcov = lawfit.curve_fit("a*x**-b + c", X, y, p0=[20, 0.5, 1.0], sigma=sigma)
    np.testing.assert_allclose(fit.popt, popt, rtol=1e-7)
    np.testing.assert_allclose(fit.pcov, pcov, rtol=1e-5)


def test_law_from_traced_functions():
    law = Law(lambda x, a, b, c: a * x**-b + c)
    assert law.input_names == ("x",) and law.params == ("a", "b", "c")
    np.testing.assert_allclose(law.predict([30, 0.4, 1.2], X), Y)

    def chinchilla(x, E, A, alpha, B, beta):
        return E + A / x[0] ** alpha + B / x[1] ** beta

    law2 = Law(chinchilla, inputs={"N": "parameters", "D": "tokens"})
    assert law2.input_names == ("N", "D") and law2.params == ("E", "A", "alpha", "B", "beta")
    p = [1.7, 400.0, 0.34, 410.0, 0.28]
    N, D = np.array([1e8, 1e9]), np.array([1e10, 2e10])
    np.testing.assert_allclose(law2.predict(p, N=N, D=D), chinchilla(np.vstack([N, D]), *p))


def test_untraceable_function_is_refused_with_advice():
    with pytest.raises(ValueError, match="formula string"):
        Law(lambda x, a: a * math.exp(x))


@pytest.mark.parametrize("kwargs, message", [
    ({"bounds": {"q": (0, 1)}}, "unknown parameter"),
    ({"bounds": {"a": (1, 0)}}, "below"),
    ({"fixed": {"c": 5.0}, "bounds": {"c": (0, 1)}}, "outside"),
    ({"residual": "sqrt"}, "residual"),
    ({"loss": "l7"}, "loss"),
    ({"derived": {"a": "b*2"}}, "shadows"),
])
def test_bad_law_specifications_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Law("a*x**-b + c", inputs=["x"], **kwargs)


def test_formula_needs_inputs_and_known_symbols():
    with pytest.raises(ValueError, match="inputs"):
        Law("a*x**-b + c")
    with pytest.raises(ValueError, match="unknown symbol"):
        Law("a*x**-b + c", inputs=["x"], params=["a", "b"])


def test_fixed_parameters_are_held():
    law = Law("a*x**-b + c", inputs=["x"], starts={"a": [10, 50], "b": [0.2, 0.6]})
    fit = law.fit(X, Y + 0.3, fixed={"c": 1.5})
    assert fit.params["c"] == 1.5 and fit.stderr["c"] == 0 and fit.fixed == ("c",)
    np.testing.assert_allclose([fit.params["a"], fit.params["b"]], [30, 0.4], rtol=1e-8)
    held = law.replace(fixed={"b": 0.4})
    assert held.fit(X, Y).params["b"] == 0.4
    assert "fixed = 0.4" in str(held)


def test_derived_quantities_chain_and_skip_missing_inputs():
    law = Law("a*x**-b + c", inputs=["x"],
              derived={"half_b": "b/2", "quarter_b": "half_b/2", "at": "a*z**-b + c"})
    d = law.derive({"a": 2.0, "b": 1.0, "c": 0.5})
    assert d == {"half_b": 0.5, "quarter_b": 0.25}  # "at" needs input z
    assert law.derive({"a": 2.0, "b": 1.0, "c": 0.5}, z=[4.0])["at"] == pytest.approx([1.0])


def test_log_residuals():
    law = Law("k*m**p", inputs=["m"], residual="log", starts={"k": [1.0], "p": [0.5]})
    m = np.geomspace(1e3, 1e8, 30)
    fit = law.fit(m, 3 * m**0.7)
    np.testing.assert_allclose(fit.popt, [3, 0.7], rtol=1e-8)
    with pytest.raises(ValueError, match="positive"):
        law.fit(m, -m)


def test_dataframe_inputs():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"x": X, "loss": Y, "other": 0.0})
    fit = laws["hestness"].fit(df, df["loss"])
    np.testing.assert_allclose(fit.popt, [30, 0.4, 1.2], rtol=1e-6)


def test_data_dependent_starts_need_data():
    with pytest.raises(ValueError, match="depends on the data"):
        laws["bnsl_1"].start_grid()


def test_register_law_and_remove():
    law = Law("k*x", inputs=["x"], citation=Citation("Doe, Roe", 2024, "A line", "2401.00001", "eq. 1"))
    try:
        registered = register_law("test_line", law)
        assert registered.name == "test_line" and laws["test_line"] is registered
        with pytest.raises(ValueError, match="exists"):
            register_law("test_line", law)
        register_law("test_line", law, replace=True)
        assert "test_line" in str(laws) and "Doe and Roe 2024, eq. 1" in str(laws)
    finally:
        laws.remove("test_line")
    assert "test_line" not in laws
    with pytest.raises(ValueError, match="names start"):
        register_law("1bad", law)
    with pytest.raises(TypeError):
        register_law("not_a_law", "k*x")


def test_unknown_name_suggests_close_matches():
    with pytest.raises(KeyError, match="chinchilla"):
        laws["chinchila"]


def test_catalog_and_law_display():
    table = str(laws)
    assert all(name in table for name in laws)
    assert f"{len(laws)} laws" in table
    text = str(laws["chinchilla"])
    for piece in ("E + A/N**alpha + B/D**beta", "arXiv:2203.15556", "N_opt = G*(C/6)**a",
                  "irreducible loss", "bounds [0, 20]"):
        assert piece in text
    assert repr(laws["chinchilla"]) == "Law('chinchilla': E + A/N**alpha + B/D**beta, inputs=['N', 'D'])"


def test_command_line(capsys):
    assert main_laws([]) == 0
    out = capsys.readouterr().out
    assert "chinchilla_lse" in out and "tissue_lr_annealing" in out
    assert main_laws(["kaplan_bcrit"]) == 0
    assert "B_star/L**(1/alpha_B)" in capsys.readouterr().out
    assert main_laws(["no_such_law"]) == 2
    assert "no law named" in capsys.readouterr().err


def test_failed_fit_is_reported_not_raised():
    law = Law("a*x**-b + c", inputs=["x"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = law.fit(X, Y, starts=[[1.0, 0.1, 0.0]], max_nfev=2)
    assert not fit.converged and fit.status == lawfit.Status.MAX_EVALUATIONS
    assert any(issubclass(w.category, lawfit.LawfitWarning) for w in caught)
    assert "MAX_EVALUATIONS" in str(fit)
