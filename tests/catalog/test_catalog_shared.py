"""Joint fits with parameters shared across groups (one problem over the stacked data)."""
import numpy as np
import pytest

from lawfit.catalog import Law, fit_shared, laws, shared_program

TRUE_B = 0.35
A = [20.0, 35.0, 50.0, 80.0, 120.0]
C = [0.5, 0.8, 1.0, 1.3, 1.6]


def five_groups(seed=1, n=25, noise=0.01):
    """Five groups sharing the exponent b of a x^-b + c; a and c differ per group."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for a, c in zip(A, C):
        x = 10 ** rng.uniform(3, 7, n)
        xs.append(x)
        ys.append((a * x**-TRUE_B + c) * (1 + noise * rng.standard_normal(n)))
    return xs, ys


def test_shared_exponent_is_recovered_more_precisely_than_by_separate_fits():
    xs, ys = five_groups()
    fit = fit_shared(laws["hestness"], xs, ys, shared=["b"])
    assert fit.status in (1, 2, 3, 4)
    b, se = fit.params["b"], fit.stderr["b"]
    assert abs(b - TRUE_B) <= 4 * se and abs(b - TRUE_B) < 0.02 * TRUE_B
    separate = fit.separate_stderr[:, laws["hestness"].params.index("b")]
    assert np.all(fit.separate_status <= 4)
    # pooling five groups' information about b: smaller than every separate fit's stderr
    assert se < separate.min()
    assert se < 0.7 * np.median(separate)
    np.testing.assert_allclose(fit.params["a"], A, rtol=0.1)
    np.testing.assert_allclose(fit.params["c"], C, rtol=0.05)


def test_joint_program_reproduces_each_group_law():
    law = laws["hestness"]
    program, names, indicators, index = shared_program(law, ["b"], 3)
    assert names == ["a_0", "a_1", "a_2", "b", "c_0", "c_1", "c_2"]
    assert index["b"] == 3 and list(index["a"]) == [0, 1, 2]
    p = np.array([2.0, 3.0, 4.0, 0.5, 0.1, 0.2, 0.3])
    x = np.array([1.0, 4.0, 9.0])
    onehot = np.eye(3)
    got = program.evaluate(p, {"x": x, **dict(zip(indicators, onehot))})[0]
    want = [law.predict([p[k], 0.5, p[4 + k]], x=[x[k]])[0] for k in range(3)]
    np.testing.assert_allclose(got, want, rtol=1e-14)


def test_stacked_data_with_group_labels_equals_lists():
    xs, ys = five_groups()
    labels = np.concatenate([[f"fam{k}"] * len(y) for k, y in enumerate(ys)])
    perm = np.random.default_rng(0).permutation(labels.size)  # order of rows must not matter
    x = np.concatenate(xs)[perm]
    y = np.concatenate(ys)[perm]
    stacked = fit_shared(laws["hestness"], {"x": x}, y, groups=labels[perm], shared=["b"])
    listed = fit_shared(laws["hestness"], xs, ys, shared=["b"])
    assert stacked.groups == [f"fam{k}" for k in range(5)]
    assert stacked.params["b"] == pytest.approx(listed.params["b"], rel=1e-8)
    np.testing.assert_allclose(stacked.params["a"], listed.params["a"], rtol=1e-6)
    assert stacked.group_params(2)["b"] == stacked.params["b"]


def test_default_shared_parameters_and_log_residuals():
    law = laws["fernandes_multilingual"]  # shares alpha by default
    rng = np.random.default_rng(2)
    N = [np.geomspace(1e7, 1e10, 12) for _ in range(3)]
    ys = [(b * n**-0.35 + 1.0) * (1 + 1e-3 * rng.standard_normal(n.size)) for b, n in zip([150, 200, 300], N)]
    fit = fit_shared(law, N, ys)
    assert fit.shared == ("alpha",) and fit.params["alpha"] == pytest.approx(0.35, rel=0.02)
    logfit = fit_shared(law, N, ys, residual="log")
    assert logfit.params["alpha"] == pytest.approx(0.35, rel=0.02)


def test_parameter_limit_is_explained():
    with pytest.raises(ValueError, match="16"):
        shared_program(laws["chinchilla"], ["alpha", "beta"], 5)  # 2 + 5 x 3 = 17
    with pytest.raises(ValueError, match="name the shared"):
        fit_shared(Law("k*x", inputs=["x"]), [np.ones(3)], [np.ones(3)])
    with pytest.raises(ValueError, match="unknown"):
        shared_program(laws["hestness"], ["zeta"], 2)


def test_fixed_parameters_in_joint_fits():
    xs, ys = five_groups(noise=0.0)
    ys = [y - c + 1.0 for y, c in zip(ys, C)]  # every group's floor is 1.0
    fit = fit_shared(laws["hestness"], xs, ys, shared=["b"], fixed={"c": 1.0})
    np.testing.assert_array_equal(fit.params["c"], 1.0)
    np.testing.assert_allclose(fit.params["a"], A, rtol=1e-6)
    assert fit.params["b"] == pytest.approx(TRUE_B, rel=1e-8)
